//! The link engine: from the probe windows of every vantage point to link states, down
//! periods and faults. Pure: no I/O and no clock, every time comes from the windows.
//!
//! # Model (operator's version: `docs/links.md`)
//!
//! * **Probe stream.** Per vantage point (link, agent) the windows are read in order as one
//!   stream of probe outcomes. Loss runs place the lost probes to the probe; the successes
//!   between runs are counted from send times and the probe interval. A run with `open_end`
//!   simply continues into the next window's `open_start` run: nothing succeeded in between,
//!   so the stream has no success there. That is the whole of the stitching.
//! * **Hysteresis.** A vantage point goes down after `down_confirm_probes` consecutive lost
//!   probes; the down period starts at the send time of the first of them. It comes back up
//!   after `up_confirm_probes` consecutive successes; the period ends at the send time of the
//!   first of those. Shorter runs change nothing.
//! * **Evidence.** A vantage point covers the time from its first probe to its last probe
//!   plus one interval. A pause between two windows of more than [`EVIDENCE_GAP_PROBES`]
//!   intervals (agent stopped, host rebooted) is time without evidence: a down period open
//!   at the pause ends where the evidence ends, and pending runs are forgotten.
//! * **Link level.** The link is down at a time when at least one vantage point covers it and
//!   every vantage point covering it is down ("probe loss at the down threshold from every
//!   vantage point that reported"). A link-level down period lasting `fault_min` or more is a
//!   **fault**; a shorter one is down-time only.
//! * **Settling.** Evidence arrives late and out of step across vantage points, and a pending
//!   run can move a start back in time. So each vantage point has a *settled horizon* (before
//!   it nothing it reports later can change: the start of a pending run, else the end of its
//!   evidence), and the link's settled horizon is the smallest of those of its live vantage
//!   points (a vantage point silent for more than [`STALE_WINDOWS`] of its windows behind the
//!   newest one is stale and does not hold the link back), and at least one report window
//!   behind the newest evidence, so that the first window of a vantage point the engine has
//!   not seen yet still counts. Down periods that end before the
//!   link's settled horizon are final: their faults are returned once, to be stored, and
//!   counted. Everything after it is recomputed on each window and shown as tentative.
//! * **Counters** only ever grow: down time is counted up to the settled horizon, a fault is
//!   counted once its settled part reaches `fault_min` (so an ongoing fault counts before it
//!   ends), and probe counters add every accepted window.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use zerofault_protocol::LinkResult;

use super::settings::Links;

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
const FALLBACK_INTERVAL_MS: i64 = 1_000;
/// Settled faults kept in memory for the API (older ones are in the store).
const RECENT_FAULTS: usize = 4096;

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

/// The engine: every link, every vantage point.
#[derive(Debug)]
pub struct LinkEngine {
    config: Links,
    links: BTreeMap<String, LinkTrack>,
    /// Recently settled faults, oldest first.
    recent: VecDeque<Fault>,
    /// Keep every link-level down period (for [`down_periods`]; off in the live collector,
    /// where the list would grow without bound).
    record_downs: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Streak {
    /// Send time of the first probe of the run.
    first: i64,
    count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Machine {
    /// Up, possibly with a run of lost probes not yet long enough to confirm a down.
    Up { losing: Option<Streak> },
    /// Down since `start`, possibly with a run of successes not yet long enough to end it.
    Down {
        start: i64,
        recovering: Option<Streak>,
    },
}

#[derive(Debug, Default)]
struct Vantage {
    last_window_end: Option<i64>,
    last: Option<WindowSummary>,
    sent_total: u64,
    received_total: u64,
    window_ms: i64,
    machine: Option<Machine>,
    last_probe: Option<i64>,
    /// Last probe + one interval: how far this vantage point's evidence reaches.
    horizon: i64,
    /// Time covered by evidence, sorted, disjoint; pruned before the link's settled horizon.
    coverage: Vec<(i64, i64)>,
    /// Closed down periods, sorted; pruned before the link's settled horizon.
    downs: Vec<(i64, i64)>,
    down_ms_closed: i64,
}

/// A link-level down period crossing the settled horizon.
#[derive(Debug, Clone)]
struct Carried {
    start: i64,
    agents: BTreeSet<String>,
    /// Already counted in `faults_total`.
    counted: bool,
}

#[derive(Debug, Default)]
struct LinkTrack {
    level: String,
    domain: String,
    vantages: BTreeMap<String, Vantage>,
    /// Before this, the link-level timeline is final.
    settled: Option<i64>,
    down_since: Option<Carried>,
    down_ms_settled: i64,
    faults_total: u64,
    /// Tentative faults of the last recomputation (ongoing, or not yet settled).
    pending: Vec<Fault>,
    /// With `record_downs`: every settled link-level down period, however short.
    settled_downs: Vec<(i64, i64)>,
    /// With `record_downs`: the down periods after the settled horizon at the last
    /// recomputation (an open one ends at the newest evidence).
    tentative_downs: Vec<(i64, i64)>,
}

/// One step of a probe stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Lost { first: i64, count: u32 },
    Ok { first: i64, count: u32 },
}

/// Saturating conversion of an interval estimate to a probe count.
fn probes(span_ms: i64, interval_ms: i64) -> u32 {
    let n = (span_ms as f64 / interval_ms as f64).round();
    if n <= 0.0 {
        0
    } else {
        n.min(u32::MAX as f64) as u32
    }
}

/// The probe outcomes of one window, in send order.
fn segments(w: &LinkResult, first_probe: i64, last_probe: i64, interval: i64) -> Vec<Segment> {
    let mut runs: Vec<_> = w.loss_runs.iter().collect();
    if runs.is_empty() {
        if w.received == 0 {
            // Everything lost but no runs (an agent that does not send them): one run over
            // the whole window.
            return vec![Segment::Lost {
                first: first_probe,
                count: w.sent,
            }];
        }
        // Some losses that cannot be placed: count the window as answered for the stream;
        // its loss ratio still decides the window's state.
        return vec![Segment::Ok {
            first: first_probe,
            count: w.received,
        }];
    }
    runs.sort_by_key(|r| r.first_lost_unix_ms);
    let mut out = Vec::with_capacity(runs.len() * 2 + 1);
    // Send time of the probe after the previous run (the window's first probe at first).
    let mut next = first_probe;
    for (i, run) in runs.iter().enumerate() {
        let ok = if i == 0 {
            if run.open_start {
                0
            } else {
                probes(run.first_lost_unix_ms - next, interval)
            }
        } else {
            // Runs are maximal, so at least one probe succeeded between two of them.
            probes(run.first_lost_unix_ms - next, interval).max(1)
        };
        if ok > 0 {
            out.push(Segment::Ok {
                first: next,
                count: ok,
            });
        }
        out.push(Segment::Lost {
            first: run.first_lost_unix_ms,
            count: run.count.max(1),
        });
        next = run.last_lost_unix_ms.max(run.first_lost_unix_ms) + interval;
    }
    let last_run = runs[runs.len() - 1];
    if !last_run.open_end {
        let ok = probes(last_probe + interval - next, interval).max(1);
        out.push(Segment::Ok {
            first: next,
            count: ok,
        });
    }
    out
}

impl Vantage {
    fn close_down(&mut self, start: i64, end: i64) {
        if end > start {
            self.downs.push((start, end));
            self.down_ms_closed += end - start;
        }
    }

    fn step(&mut self, seg: Segment, cfg: &Links) {
        let machine = self.machine.unwrap_or(Machine::Up { losing: None });
        let mut closed = None;
        self.machine = Some(match (seg, machine) {
            (Segment::Lost { first, count }, Machine::Up { losing }) => {
                let mut s = losing.unwrap_or(Streak { first, count: 0 });
                s.count = s.count.saturating_add(count);
                if s.count >= cfg.down_confirm_probes {
                    Machine::Down {
                        start: s.first,
                        recovering: None,
                    }
                } else {
                    Machine::Up { losing: Some(s) }
                }
            }
            // A loss breaks the recovery run: the outage goes on.
            (Segment::Lost { .. }, Machine::Down { start, .. }) => Machine::Down {
                start,
                recovering: None,
            },
            (Segment::Ok { .. }, Machine::Up { .. }) => Machine::Up { losing: None },
            (Segment::Ok { first, count }, Machine::Down { start, recovering }) => {
                let mut r = recovering.unwrap_or(Streak { first, count: 0 });
                r.count = r.count.saturating_add(count);
                if r.count >= cfg.up_confirm_probes {
                    closed = Some((start, r.first));
                    Machine::Up { losing: None }
                } else {
                    Machine::Down {
                        start,
                        recovering: Some(r),
                    }
                }
            }
        });
        if let Some((start, end)) = closed {
            self.close_down(start, end);
        }
    }

    /// No evidence from the current horizon on: close what is open where evidence ends.
    fn break_evidence(&mut self) {
        if let Some(Machine::Down { start, recovering }) = self.machine {
            let end = recovering.map_or(self.horizon, |r| r.first);
            self.close_down(start, end);
        }
        self.machine = Some(Machine::Up { losing: None });
    }

    /// Before this time nothing this vantage point reports later can change its timeline.
    fn settled_horizon(&self) -> i64 {
        match self.machine {
            Some(Machine::Up {
                losing: Some(s), ..
            }) => s.first,
            Some(Machine::Down {
                recovering: Some(r),
                ..
            }) => r.first,
            _ => self.horizon,
        }
    }

    fn covers(&self, t: i64) -> bool {
        self.coverage.iter().any(|&(a, b)| a <= t && t < b)
    }

    /// Down at `t` as far as is known now (an unconfirmed recovery still counts as down,
    /// an unconfirmed loss run as up).
    fn down_at(&self, t: i64) -> bool {
        self.downs.iter().any(|&(a, b)| a <= t && t < b)
            || matches!(self.machine, Some(Machine::Down { start, .. }) if start <= t && t < self.horizon)
    }

    fn is_down(&self) -> bool {
        matches!(self.machine, Some(Machine::Down { .. }))
    }

    fn stale(&self, newest: i64) -> bool {
        let allowance = (STALE_WINDOWS * self.window_ms).max(MIN_STALE_MS);
        self.horizon < newest - allowance
    }

    fn down_ms_total(&self) -> i64 {
        let open = match self.machine {
            Some(Machine::Down { start, .. }) => (self.settled_horizon() - start).max(0),
            _ => 0,
        };
        self.down_ms_closed + open
    }
}

impl LinkEngine {
    /// An empty engine.
    pub fn new(config: Links) -> LinkEngine {
        LinkEngine {
            config,
            links: BTreeMap::new(),
            recent: VecDeque::new(),
            record_downs: false,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Links {
        &self.config
    }

    /// Takes one window of `agent` (windows of one vantage point in arrival order). Returns
    /// the faults that became final with it, each exactly once.
    pub fn observe(&mut self, agent: &str, w: &LinkResult) -> Result<Vec<Fault>, Ignored> {
        let cfg = &self.config;
        let link = self.links.entry(w.link_id.clone()).or_default();
        let v = link.vantages.entry(agent.to_owned()).or_default();
        if let Some(last) = v.last_window_end
            && w.window_end_unix_ms <= last
        {
            return Err(Ignored::NotNewer {
                window_end_unix_ms: w.window_end_unix_ms,
                last_end_unix_ms: last,
            });
        }
        v.last_window_end = Some(w.window_end_unix_ms);
        link.level.clone_from(&w.level);
        link.domain.clone_from(&w.domain);
        v.window_ms = (w.window_end_unix_ms - w.window_start_unix_ms).max(0);
        v.sent_total += u64::from(w.sent);
        v.received_total += u64::from(w.received.min(w.sent));
        if w.sent == 0 {
            // No probe finished in this window: no evidence about the link.
            return Ok(Vec::new());
        }

        let interval = match i64::from(w.probe_interval_ms) {
            0 => FALLBACK_INTERVAL_MS,
            i => i,
        };
        let first_probe = if w.first_probe_unix_ms > 0 {
            w.first_probe_unix_ms
        } else {
            w.window_start_unix_ms
        };
        let last_probe = if w.last_probe_unix_ms > 0 {
            w.last_probe_unix_ms.max(first_probe)
        } else {
            (w.window_end_unix_ms - interval).max(first_probe)
        };

        // Continuity with the previous window of this vantage point.
        let contiguous = v
            .last_probe
            .is_some_and(|p| first_probe - p <= EVIDENCE_GAP_PROBES * interval);
        if v.last_probe.is_some() && !contiguous {
            v.break_evidence();
        }
        let end = last_probe + interval;
        match v.coverage.last_mut() {
            Some(c) if contiguous => c.1 = c.1.max(end),
            _ => v.coverage.push((first_probe, end)),
        }
        for seg in segments(w, first_probe, last_probe, interval) {
            v.step(seg, cfg);
        }
        v.last_probe = Some(last_probe);
        v.horizon = v.horizon.max(end);

        let loss_ratio = f64::from(w.sent - w.received.min(w.sent)) / f64::from(w.sent);
        let th = cfg.thresholds.for_level(&w.level);
        let state = if v.is_down()
            || (w.sent >= cfg.down_confirm_probes && loss_ratio >= cfg.down_loss_ratio)
        {
            LinkState::Down
        } else if loss_ratio >= th.degraded_loss_ratio
            || (w.received > 0 && w.rtt_avg_seconds >= th.degraded_rtt.as_secs_f64())
        {
            LinkState::Degraded
        } else {
            LinkState::Up
        };
        v.last = Some(WindowSummary {
            window_start_unix_ms: w.window_start_unix_ms,
            window_end_unix_ms: w.window_end_unix_ms,
            sent: w.sent,
            received: w.received.min(w.sent),
            loss_ratio,
            rtt_min_seconds: w.rtt_min_seconds,
            rtt_avg_seconds: w.rtt_avg_seconds,
            rtt_max_seconds: w.rtt_max_seconds,
            rtt_p95_seconds: w.rtt_p95_seconds,
            jitter_seconds: w.jitter_seconds,
            state,
        });

        let settled = link.recompute(&w.link_id, cfg, self.record_downs);
        for f in &settled {
            if self.recent.len() == RECENT_FAULTS {
                self.recent.pop_front();
            }
            self.recent.push_back(f.clone());
        }
        Ok(settled)
    }

    /// Every link, by link id.
    pub fn links(&self) -> Vec<LinkView> {
        self.links.iter().map(|(id, l)| l.view(id)).collect()
    }

    /// Recently settled faults and the tentative ones (ongoing, or waiting for another
    /// vantage point), optionally of one link, by start time.
    pub fn faults(&self, link: Option<&str>) -> Vec<Fault> {
        let wanted = |f: &&Fault| link.is_none_or(|l| f.link_id == l);
        let mut out: Vec<Fault> = self
            .recent
            .iter()
            .filter(wanted)
            .cloned()
            .chain(
                self.links
                    .values()
                    .flat_map(|l| l.pending.iter())
                    .filter(wanted)
                    .cloned(),
            )
            .collect();
        out.sort_by(|a, b| (a.start_unix_ms, &a.link_id).cmp(&(b.start_unix_ms, &b.link_id)));
        out
    }
}

/// Every link-level down period `[start, end)` (agent clock ms) of each link, **including
/// those shorter than `fault_min`**, from windows given as `(agent, window)` in arrival
/// order: the same hysteresis, vantage-point and evidence rules as the live engine (this
/// replays them through one). A period still open at the newest evidence ends there. Used by
/// the SLA engine, which places down time on its slots itself.
pub fn down_periods<'a, W: std::borrow::Borrow<LinkResult>>(
    config: Links,
    windows: impl IntoIterator<Item = (&'a str, W)>,
) -> BTreeMap<String, Vec<(i64, i64)>> {
    let mut e = LinkEngine::new(config);
    e.record_downs = true;
    for (agent, w) in windows {
        // A window the engine ignores (not newer) changes nothing, as live.
        let _ = e.observe(agent, w.borrow());
    }
    e.links
        .into_iter()
        .map(|(id, l)| {
            let mut d = l.settled_downs;
            d.extend(l.tentative_downs);
            (id, d)
        })
        .collect()
}

/// A link-level down period found by the sweep.
#[derive(Debug)]
struct Period {
    start: i64,
    /// `None`: down up to the newest evidence.
    end: Option<i64>,
    agents: BTreeSet<String>,
    counted: bool,
}

impl LinkTrack {
    fn newest(&self) -> Option<i64> {
        self.vantages
            .values()
            .filter(|v| v.last_probe.is_some())
            .map(|v| v.horizon)
            .max()
    }

    /// Recomputes the link-level timeline after the settled horizon, settles what can no
    /// longer change and returns the faults that became final.
    fn recompute(&mut self, link_id: &str, cfg: &Links, record: bool) -> Vec<Fault> {
        let Some(newest) = self.newest() else {
            return Vec::new();
        };
        let with_evidence = || self.vantages.values().filter(|v| v.last_probe.is_some());
        let from = self.settled.unwrap_or_else(|| {
            with_evidence()
                .filter_map(|v| v.coverage.first().map(|c| c.0))
                .min()
                .unwrap_or(newest)
        });
        let live_horizon = with_evidence()
            .filter(|v| !v.stale(newest))
            .map(Vantage::settled_horizon)
            .min()
            .unwrap_or(newest);
        // One report window of slack behind the newest evidence: a vantage point that has
        // never reported is unknown here, and this gives its first window time to arrive.
        let grace = with_evidence().map(|v| v.window_ms).max().unwrap_or(0);
        let settle_at = from.max(live_horizon.min(newest - grace));

        // Elementary intervals between every boundary of every vantage point's timeline.
        let mut points = vec![from, newest];
        for v in with_evidence() {
            let open = match v.machine {
                Some(Machine::Down { start, .. }) => Some(start),
                _ => None,
            };
            points.extend(
                v.coverage
                    .iter()
                    .chain(&v.downs)
                    .flat_map(|&(a, b)| [a, b])
                    .chain(open)
                    .filter(|&t| from < t && t < newest),
            );
        }
        points.sort_unstable();
        points.dedup();

        let mut periods = Vec::new();
        let mut current = self.down_since.take().map(|c| Period {
            start: c.start,
            end: None,
            agents: c.agents,
            counted: c.counted,
        });
        for pair in points.windows(2) {
            let t = pair[0];
            let reporting: Vec<(&String, &Vantage)> =
                self.vantages.iter().filter(|(_, v)| v.covers(t)).collect();
            let down = !reporting.is_empty() && reporting.iter().all(|(_, v)| v.down_at(t));
            if down {
                let p = current.get_or_insert_with(|| Period {
                    start: t,
                    end: None,
                    agents: BTreeSet::new(),
                    counted: false,
                });
                p.agents.extend(reporting.iter().map(|(a, _)| (*a).clone()));
            } else if let Some(mut p) = current.take() {
                p.end = Some(t);
                periods.push(p);
            }
        }
        periods.extend(current);

        let fault_min = i64::try_from(cfg.fault_min.as_millis()).unwrap_or(i64::MAX);
        let fault = |p: &Period, settled: bool| Fault {
            link_id: link_id.to_owned(),
            level: self.level.clone(),
            domain: self.domain.clone(),
            start_unix_ms: p.start,
            end_unix_ms: p.end,
            duration_ms: p.end.unwrap_or(newest) - p.start,
            agents: p.agents.iter().cloned().collect(),
            settled,
        };
        let mut settled = Vec::new();
        let mut pending = Vec::new();
        let mut carried = None;
        self.tentative_downs.clear();
        for p in periods {
            let end = p.end.unwrap_or(newest);
            let long = end - p.start >= fault_min;
            let settles = p.end.is_some() && end < settle_at;
            if record {
                if settles {
                    self.settled_downs.push((p.start, end));
                } else {
                    self.tentative_downs.push((p.start, end));
                }
            }
            if settles {
                self.down_ms_settled += end - p.start;
                if long {
                    if !p.counted {
                        self.faults_total += 1;
                    }
                    settled.push(fault(&p, true));
                }
            } else if p.start < settle_at {
                // Crosses the settled horizon: its start is final, its end is not.
                let mut p = p;
                if !p.counted && settle_at - p.start >= fault_min {
                    self.faults_total += 1;
                    p.counted = true;
                }
                if long {
                    pending.push(fault(&p, false));
                }
                carried = Some(Carried {
                    start: p.start,
                    agents: p.agents,
                    counted: p.counted,
                });
            } else if long {
                pending.push(fault(&p, false));
            }
        }
        self.down_since = carried;
        self.pending = pending;
        self.settled = Some(settle_at);
        for v in self.vantages.values_mut() {
            v.coverage.retain(|&(_, b)| b > settle_at);
            v.downs.retain(|&(_, b)| b > settle_at);
        }
        settled
    }

    fn view(&self, link_id: &str) -> LinkView {
        let newest = self.newest().unwrap_or(i64::MIN);
        let vantages: Vec<VantageView> = self
            .vantages
            .iter()
            .map(|(agent, v)| VantageView {
                agent: agent.clone(),
                state: v.last.as_ref().map_or(LinkState::Up, |l| l.state),
                stale: v.last_probe.is_some() && v.stale(newest),
                last: v.last.clone(),
                probes_sent_total: v.sent_total,
                probes_received_total: v.received_total,
                down_ms_total: v.down_ms_total(),
            })
            .collect();
        let live: Vec<LinkState> = vantages
            .iter()
            .filter(|v| v.last.is_some() && !v.stale)
            .map(|v| v.state)
            .collect();
        let state = if !live.is_empty() && live.iter().all(|s| *s == LinkState::Down) {
            LinkState::Down
        } else if live.iter().any(|s| *s != LinkState::Up) {
            LinkState::Degraded
        } else {
            LinkState::Up
        };
        let settled = self.settled.unwrap_or(i64::MIN);
        LinkView {
            link_id: link_id.to_owned(),
            level: self.level.clone(),
            domain: self.domain.clone(),
            state,
            down_ms_total: self.down_ms_settled
                + self
                    .down_since
                    .as_ref()
                    .map_or(0, |c| (settled - c.start).max(0)),
            faults_total: self.faults_total,
            vantages,
        }
    }
}

#[cfg(test)]
mod tests;
