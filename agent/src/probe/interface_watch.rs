//! Interface uptime: watches every interface's operstate and carrier once a second and keeps
//! the changes, with their times, for the next report (`Report.interface_transitions`), so
//! the collector can count network uptime per interface between reports.
//!
//! * The first observation of the agent is a baseline, not a transition (the report's
//!   `interfaces` already carries the current state).
//! * An interface that appears later is a transition to its state; one that disappears is a
//!   transition to `notpresent` with unknown carrier.
//! * At most [`MAX_TRANSITIONS_PER_WINDOW`] are kept between two reports (the protocol's
//!   limit); beyond that the oldest are dropped and the drop is logged with its count.
//! * A poll reads `/sys/class/net` and two small files per interface (no `/proc` walk), parsed
//!   by the pure parsers of [`super::network`].

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::warn;
use zerofault_common::now_unix_ms;
use zerofault_protocol::InterfaceTransition;

use super::network::{parse_carrier, parse_operstate};
use super::source::{forget_kept_under, read_kernel_file_of};

/// Poll period: a transition's time is within this of the real change.
pub const POLL_PERIOD: Duration = Duration::from_secs(1);
/// Most transitions kept per report window (`Limits::max_interface_transitions`).
pub const MAX_TRANSITIONS_PER_WINDOW: usize = 4096;

const SYS_CLASS_NET: &str = "/sys/class/net";

/// The state of one interface: operstate and carrier.
pub type LinkState = (&'static str, Option<bool>);

/// The transitions from `prev` to `cur`, seen at `at_unix_ms`, in interface name order.
pub fn diff(
    prev: &BTreeMap<String, LinkState>,
    cur: &BTreeMap<String, LinkState>,
    at_unix_ms: i64,
) -> Vec<InterfaceTransition> {
    let mut out = Vec::new();
    for (name, state) in cur {
        if prev.get(name) != Some(state) {
            out.push(InterfaceTransition {
                interface: name.clone(),
                at_unix_ms,
                oper_state: state.0.to_owned(),
                carrier: state.1,
            });
        }
    }
    for name in prev.keys() {
        if !cur.contains_key(name) {
            out.push(InterfaceTransition {
                interface: name.clone(),
                at_unix_ms,
                oper_state: "notpresent".to_owned(),
                carrier: None,
            });
        }
    }
    out.sort_by(|a, b| a.interface.cmp(&b.interface));
    out
}

/// Reads every interface's state under `root` (normally `/sys/class/net`).
pub fn read_states(root: &Path) -> BTreeMap<String, LinkState> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(root) else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let path = entry.path();
        // The entry's inode names this interface: another one given the name has another
        // entry, so files kept open for the old one are not read for it.
        let identity = std::os::unix::fs::DirEntryExt::ino(&entry);
        let oper = read_kernel_file_of(&path.join("operstate"), identity)
            .map_or("unknown", |t| parse_operstate(&t));
        let carrier = read_kernel_file_of(&path.join("carrier"), identity)
            .ok()
            .and_then(|t| parse_carrier(&t));
        out.insert(name, (oper, carrier));
    }
    forget_kept_under(root, |name| out.contains_key(name));
    out
}

#[derive(Debug, Default)]
struct Pending {
    transitions: VecDeque<InterfaceTransition>,
    dropped: u64,
}

impl Pending {
    fn push(&mut self, t: InterfaceTransition) {
        if self.transitions.len() >= MAX_TRANSITIONS_PER_WINDOW {
            self.transitions.pop_front();
            self.dropped += 1;
        }
        self.transitions.push_back(t);
    }
}

/// The running watcher; dropping it stops the task.
#[derive(Debug)]
pub struct InterfaceWatch {
    pending: Arc<Mutex<Pending>>,
    task: JoinHandle<()>,
}

impl InterfaceWatch {
    /// Takes the baseline now and polls every [`POLL_PERIOD`]. Must run inside a tokio
    /// runtime.
    pub fn start() -> Self {
        Self::start_at(Path::new(SYS_CLASS_NET).to_owned(), POLL_PERIOD)
    }

    fn start_at(root: std::path::PathBuf, period: Duration) -> Self {
        let pending = Arc::new(Mutex::new(Pending::default()));
        let shared = pending.clone();
        let task = tokio::spawn(async move {
            let mut prev = read_states(&root);
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let cur = read_states(&root);
                let changes = diff(&prev, &cur, now_unix_ms());
                if !changes.is_empty() {
                    let mut p = shared.lock().unwrap_or_else(|e| e.into_inner());
                    for t in changes {
                        p.push(t);
                    }
                }
                prev = cur;
            }
        });
        Self { pending, task }
    }

    /// The transitions since the previous call, in time order.
    pub fn drain(&self) -> Vec<InterfaceTransition> {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.dropped > 0 {
            warn!(
                dropped = p.dropped,
                "interface transitions dropped: more than {MAX_TRANSITIONS_PER_WINDOW} since the previous report (a flapping interface?); the oldest were dropped"
            );
            p.dropped = 0;
        }
        p.transitions.drain(..).collect()
    }
}

impl Drop for InterfaceWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(items: &[(&str, &'static str, Option<bool>)]) -> BTreeMap<String, LinkState> {
        items
            .iter()
            .map(|(n, o, c)| ((*n).to_owned(), (*o, *c)))
            .collect()
    }

    #[test]
    fn diff_reports_changes_appearances_and_disappearances() {
        let a = states(&[
            ("eth0", "up", Some(true)),
            ("eth1", "up", Some(true)),
            ("veth9", "up", Some(true)),
        ]);
        let b = states(&[
            ("eth0", "up", Some(true)),
            ("eth1", "down", None),
            ("eth2", "lowerlayerdown", Some(false)),
        ]);
        let t = diff(&a, &b, 42);
        let got: Vec<_> = t
            .iter()
            .map(|t| {
                (
                    t.interface.as_str(),
                    t.oper_state.as_str(),
                    t.carrier,
                    t.at_unix_ms,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("eth1", "down", None, 42),
                ("eth2", "lowerlayerdown", Some(false), 42),
                ("veth9", "notpresent", None, 42),
            ]
        );
        assert!(diff(&b, &b, 1).is_empty());
        // Carrier alone changing is a transition.
        let c = states(&[("eth0", "up", Some(false))]);
        let d = states(&[("eth0", "up", Some(true))]);
        assert_eq!(diff(&c, &d, 1).len(), 1);
    }

    #[test]
    fn pending_is_bounded_and_drops_the_oldest() {
        let mut p = Pending::default();
        for i in 0..(MAX_TRANSITIONS_PER_WINDOW as i64 + 10) {
            p.push(InterfaceTransition {
                interface: "eth0".into(),
                at_unix_ms: i,
                oper_state: "up".into(),
                carrier: Some(true),
            });
        }
        assert_eq!(p.transitions.len(), MAX_TRANSITIONS_PER_WINDOW);
        assert_eq!(p.dropped, 10);
        assert_eq!(p.transitions[0].at_unix_ms, 10);
    }

    #[test]
    fn reads_this_hosts_interfaces() {
        let s = read_states(Path::new(SYS_CLASS_NET));
        assert!(s.contains_key("lo"), "{s:?}");
    }

    #[tokio::test]
    async fn watcher_sees_a_fake_interface_change_and_baseline_is_not_a_transition() {
        let dir = tempfile::tempdir().unwrap();
        let eth = dir.path().join("eth0");
        std::fs::create_dir(&eth).unwrap();
        std::fs::write(eth.join("operstate"), "up\n").unwrap();
        std::fs::write(eth.join("carrier"), "1\n").unwrap();
        let w = InterfaceWatch::start_at(dir.path().to_owned(), Duration::from_millis(20));
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(w.drain().is_empty());
        std::fs::write(eth.join("operstate"), "down\n").unwrap();
        std::fs::write(eth.join("carrier"), "0\n").unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        let t = w.drain();
        // The two files are not written atomically: a poll in between may see a half state.
        assert!((1..=2).contains(&t.len()), "{t:?}");
        let last = t.last().unwrap();
        assert_eq!(last.interface, "eth0");
        assert_eq!(last.oper_state, "down");
        assert_eq!(last.carrier, Some(false));
        assert!(w.drain().is_empty());
    }
}
