//! Link health at the collector: per-window states, hysteresis, link-level down periods,
//! faults (see `docs/links.md` for the model in an operator's words), and network uptime of
//! host interfaces.
//!
//! [`engine::LinkEngine`] and [`interfaces::InterfaceTracker`] are pure (no I/O, no clock):
//! every time they use comes from the reports, so replaying the same reports gives the same
//! answer, which is what lets the collector rebuild them from the store at start-up.
//! [`LinkHub`] holds both behind mutexes for the ingest path, the HTTP API and `/metrics`.

use std::sync::Mutex;

use zerofault_protocol::Report;

pub mod engine;
pub mod interfaces;
pub mod settings;

pub use engine::{
    Fault, Ignored, LinkEngine, LinkState, LinkView, ProbeStream, Step, VantageView, WindowSummary,
    down_periods, stream_down_periods,
};
pub use interfaces::{InterfaceTracker, InterfaceView};
pub use settings::{
    DEFAULT_DEGRADED_LOSS_RATIO, DEFAULT_DEGRADED_RTT, DEFAULT_DOWN_CONFIRM_PROBES,
    DEFAULT_DOWN_LOSS_RATIO, DEFAULT_FAULT_MIN, DEFAULT_REPLAY, DEFAULT_UP_CONFIRM_PROBES,
    LevelOverride, LevelThresholds, Links, MAX_CONFIRM_PROBES, Thresholds,
};

/// The link engine and the interface tracker, shared by ingest, the API and `/metrics`.
///
/// Each is behind its own mutex; every operation under a lock is a small in-memory update
/// or copy, never I/O.
#[derive(Debug)]
pub struct LinkHub {
    engine: Mutex<LinkEngine>,
    interfaces: Mutex<InterfaceTracker>,
}

/// A copy of what `/metrics` shows about links and interfaces, taken once per scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LinksSnapshot {
    /// Every known link, by link id.
    pub links: Vec<LinkView>,
    /// Every known interface, by agent and interface name.
    pub interfaces: Vec<InterfaceView>,
}

impl LinkHub {
    /// An empty hub with the `links` configuration.
    pub fn new(config: Links) -> LinkHub {
        LinkHub {
            engine: Mutex::new(LinkEngine::new(config)),
            interfaces: Mutex::new(InterfaceTracker::default()),
        }
    }

    /// Feeds one stored report (its link windows and interface transitions); returns the
    /// faults that became final with it, to be stored.
    pub fn observe_report(&self, report: &Report) -> Vec<Fault> {
        self.interfaces
            .lock()
            .expect("interface tracker lock poisoned")
            .observe(report);
        let mut engine = self.engine.lock().expect("link engine lock poisoned");
        let mut settled = Vec::new();
        for window in &report.links {
            match engine.observe(&report.agent_id, window) {
                Ok(mut faults) => settled.append(&mut faults),
                // Normal for a replayed or backfilled window; the store still has it.
                Err(e) => tracing::debug!(agent = %report.agent_id, link = %window.link_id, "{e}"),
            }
        }
        settled
    }

    /// Every link with its vantage points.
    pub fn links(&self) -> Vec<LinkView> {
        self.engine
            .lock()
            .expect("link engine lock poisoned")
            .links()
    }

    /// Faults the engine holds: recently settled ones and the not yet final ones (ongoing or
    /// waiting for another vantage point), optionally of one link.
    pub fn faults(&self, link: Option<&str>) -> Vec<Fault> {
        self.engine
            .lock()
            .expect("link engine lock poisoned")
            .faults(link)
    }

    /// What `/metrics` shows.
    pub fn snapshot(&self) -> LinksSnapshot {
        LinksSnapshot {
            links: self.links(),
            interfaces: self
                .interfaces
                .lock()
                .expect("interface tracker lock poisoned")
                .views(),
        }
    }
}
