//! What the link engine shows and its constants: link and vantage states, faults, windows.

/// A pause of more than this many probe intervals between the last probe of one window and
/// the first probe of the next is a gap in the evidence. Five tolerates a few missed ticks of
/// an overloaded agent and the scheduling slack at window boundaries.
pub const EVIDENCE_GAP_PROBES: i64 = 5;
/// A vantage point whose evidence ends more than this many of its own windows before the
/// newest evidence of the link is stale: it no longer holds back settling nor counts for the
/// link-level state (its agent is probably down; its host's `zerofault_host_up` says so).
pub const STALE_WINDOWS: i64 = 3;
/// Floor of the staleness allowance, so short report windows still tolerate some lag.
pub const MIN_STALE_MS: i64 = 30_000;
/// Probe interval assumed when a window does not say (an agent older than link probes).
pub(super) const FALLBACK_INTERVAL_MS: i64 = 1_000;
/// Settled faults kept in memory for the API (older ones are in the store).
pub(super) const RECENT_FAULTS: usize = 4096;

/// State of a vantage point or a link in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Probes within thresholds.
    Up,
    /// Loss or RTT past the level's degraded thresholds; counts as available.
    Degraded,
    /// Down (see the module documentation).
    Down,
}

impl LinkState {
    /// Every state, in label order.
    pub const ALL: [LinkState; 3] = [LinkState::Up, LinkState::Degraded, LinkState::Down];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Up => "up",
            LinkState::Degraded => "degraded",
            LinkState::Down => "down",
        }
    }
}

/// Why a window was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// The window does not end after the newest window already taken from this vantage
    /// point: a duplicate, or a late (backfilled, reordered) window. The stream of a vantage
    /// point only moves forward, so that a window is never counted twice; the report itself
    /// is in the store.
    #[error(
        "window ending at {window_end_unix_ms} is not newer than the last one taken ({last_end_unix_ms}); ignored"
    )]
    NotNewer {
        /// End of the refused window.
        window_end_unix_ms: i64,
        /// End of the newest window taken from the vantage point.
        last_end_unix_ms: i64,
    },
}

/// A fault: a link-level down period of at least `fault_min`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    /// Link id.
    pub link_id: String,
    /// Backbone level of the link (may be empty).
    pub level: String,
    /// Domain of the link (may be empty).
    pub domain: String,
    /// Send time of the first lost probe (agent clock), ms since the Unix epoch.
    pub start_unix_ms: i64,
    /// Send time of the first probe of the confirming success run; `None` while ongoing.
    pub end_unix_ms: Option<i64>,
    /// `end - start`, or up to the newest evidence while ongoing.
    pub duration_ms: i64,
    /// Vantage points (agent ids) that reported during the fault, all of them down.
    pub agents: Vec<String>,
    /// Final: no later window can change it; settled faults are stored.
    pub settled: bool,
}

/// The numbers of a vantage point's newest window with probes.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSummary {
    /// Window start (agent clock), ms.
    pub window_start_unix_ms: i64,
    /// Window end (agent clock), ms.
    pub window_end_unix_ms: i64,
    /// Probes with a known outcome.
    pub sent: u32,
    /// Probes answered.
    pub received: u32,
    /// `1 - received / sent`.
    pub loss_ratio: f64,
    /// RTT statistics in seconds; meaningful only when `received > 0`.
    pub rtt_min_seconds: f64,
    /// Mean RTT.
    pub rtt_avg_seconds: f64,
    /// Largest RTT.
    pub rtt_max_seconds: f64,
    /// 95th percentile RTT.
    pub rtt_p95_seconds: f64,
    /// Mean absolute difference of consecutive RTTs.
    pub jitter_seconds: f64,
    /// State of the vantage point in this window.
    pub state: LinkState,
}

/// One vantage point as the API and `/metrics` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct VantageView {
    /// Agent id.
    pub agent: String,
    /// State in the newest window (`up` before any window with probes).
    pub state: LinkState,
    /// Silent for more than [`STALE_WINDOWS`] windows behind the link's newest evidence.
    pub stale: bool,
    /// The newest window with probes.
    pub last: Option<WindowSummary>,
    /// Probes sent, over every accepted window.
    pub probes_sent_total: u64,
    /// Probes answered, over every accepted window.
    pub probes_received_total: u64,
    /// Time this vantage point was down (closed periods plus the open one up to its settled
    /// evidence), ms.
    pub down_ms_total: i64,
}

/// One link as the API and `/metrics` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkView {
    /// Link id.
    pub link_id: String,
    /// Level from the newest window.
    pub level: String,
    /// Domain from the newest window.
    pub domain: String,
    /// Link-level state: down if every live vantage point is down, degraded if any is
    /// degraded or down, else up.
    pub state: LinkState,
    /// Link-level down time (settled periods plus the settled part of the open one), ms.
    pub down_ms_total: i64,
    /// Faults counted so far.
    pub faults_total: u64,
    /// Vantage points, by agent id.
    pub vantages: Vec<VantageView>,
}
