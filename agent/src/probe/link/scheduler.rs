//! Runs the probes of every configured target and turns their outcomes into one
//! [`LinkResult`] per target and report window.
//!
//! * One light tokio task per target ticks with `tokio::time::interval` at the packet
//!   interval on a fixed grid. Targets start staggered across their interval (target i of n
//!   at `i/n` of it) so hundreds of targets do not send in one burst.
//! * Each tick spawns the probe as its own task, so a slow probe never delays the next tick.
//!   At most `ceil(timeout / interval) + 1` probes of a target are in flight; a tick that
//!   finds that many still running is not sent and counts as missed.
//! * Ticks the runtime could not take on time (host overloaded or suspended) are skipped
//!   (`MissedTickBehavior::Skip`) and counted exactly, from the gap between two consecutive
//!   scheduled ticks, into `missed_ticks`: never silently lost.
//! * A finished probe pushes `(send time, outcome)` into its target's accumulator. At each
//!   report [`LinkSet::drain`] empties every accumulator into a [`LinkResult`] for the window
//!   from the previous report to now. A probe still in flight at the report lands in the next
//!   window (a probe belongs to the window in which its outcome became known).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{error, info, warn};
use zerofault_common::now_unix_ms;
use zerofault_protocol::LinkResult;

use super::contract::{LinkProbe, ProbeContext, ProbeSpec};
use super::make_probe;
use crate::probe::link_stats::{Outcome, compute};
use crate::ticks::missed_ticks;

/// Most outcomes kept per target and window. The config keeps `interval / probe interval`
/// well below this; the cap only bounds memory if reports stall.
pub const MAX_OUTCOMES_PER_WINDOW: usize = 200_000;

#[derive(Debug, Default)]
struct Accumulator {
    outcomes: Vec<Outcome>,
    missed_ticks: u64,
    dropped: u64,
}

/// One running target: its config and what its probes measured since the last report.
#[derive(Debug)]
struct TargetState {
    spec: ProbeSpec,
    acc: Mutex<Accumulator>,
}

impl TargetState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Accumulator> {
        // A panic while holding this lock cannot leave the Vec inconsistent; keep going.
        self.acc.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, outcome: Outcome) {
        let mut acc = self.lock();
        if acc.outcomes.len() < MAX_OUTCOMES_PER_WINDOW {
            acc.outcomes.push(outcome);
        } else {
            acc.dropped += 1;
        }
    }

    fn add_missed(&self, n: u64) {
        let mut acc = self.lock();
        acc.missed_ticks = acc.missed_ticks.saturating_add(n);
    }
}

/// The running probes of one agent. Dropping it stops every probe.
#[derive(Debug)]
pub struct LinkSet {
    targets: Vec<Arc<TargetState>>,
    /// Held only so that dropping the set aborts every target task.
    _tasks: JoinSet<()>,
    window_start_unix_ms: i64,
}

impl LinkSet {
    /// Starts a task per target; a target whose probe cannot be built (no ICMP socket, bad
    /// CA file) is logged and left out, so the collector sees no data for it (unknown)
    /// rather than false loss. Must be called inside a tokio runtime.
    pub fn start(specs: &[ProbeSpec], ctx: &ProbeContext) -> Self {
        let mut targets = Vec::with_capacity(specs.len());
        let mut tasks = JoinSet::new();
        let n = specs.len().max(1);
        let now = Instant::now();
        for (i, spec) in specs.iter().enumerate() {
            let probe = match make_probe(spec, ctx) {
                Ok(p) => p,
                Err(e) => {
                    error!(link = %spec.link, kind = %spec.kind, target = %spec.target_text, "link probe disabled: {e}");
                    continue;
                }
            };
            let state = Arc::new(TargetState {
                spec: spec.clone(),
                acc: Mutex::new(Accumulator::default()),
            });
            let start = now + spec.interval.mul_f64(i as f64 / n as f64);
            tasks.spawn(run_target(state.clone(), probe, start));
            targets.push(state);
        }
        if !specs.is_empty() {
            info!(
                running = targets.len(),
                configured = specs.len(),
                "link probes started"
            );
        }
        Self {
            targets,
            _tasks: tasks,
            window_start_unix_ms: now_unix_ms(),
        }
    }

    /// Number of running targets.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether no target runs.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Empties every accumulator into one result per target for the window from the previous
    /// drain (or the start) to `now_unix_ms`.
    pub fn drain(&mut self, now_unix_ms: i64) -> Vec<LinkResult> {
        let start = self.window_start_unix_ms;
        // A wall clock stepped backwards must not produce an end before the start.
        let end = now_unix_ms.max(start);
        self.window_start_unix_ms = end;
        self.targets
            .iter()
            .map(|t| {
                let (mut outcomes, missed, dropped) = {
                    let mut acc = t.lock();
                    (
                        std::mem::take(&mut acc.outcomes),
                        std::mem::take(&mut acc.missed_ticks),
                        std::mem::take(&mut acc.dropped),
                    )
                };
                if dropped > 0 {
                    warn!(link = %t.spec.link, dropped, "probe outcomes dropped: more than {MAX_OUTCOMES_PER_WINDOW} in one window");
                }
                let mut r = compute(&mut outcomes);
                r.link_id = t.spec.link.clone();
                r.kind = t.spec.kind.as_str().to_owned();
                r.target = t.spec.target_text.clone();
                r.level = t.spec.level.clone();
                r.domain = t.spec.domain.clone();
                r.window_start_unix_ms = start;
                r.window_end_unix_ms = end;
                r.probe_interval_ms = u32::try_from(t.spec.interval.as_millis()).unwrap_or(u32::MAX);
                r.missed_ticks = u32::try_from(missed).unwrap_or(u32::MAX);
                r
            })
            .collect()
    }
}

/// Most probes of one target in flight at once.
pub fn max_in_flight(interval: Duration, timeout: Duration) -> usize {
    let i = interval.as_nanos().max(1);
    usize::try_from(timeout.as_nanos().div_ceil(i))
        .unwrap_or(usize::MAX)
        .saturating_add(1)
}

async fn run_target(state: Arc<TargetState>, probe: Arc<dyn LinkProbe>, start: Instant) {
    let period = state.spec.interval;
    let bound = max_in_flight(period, state.spec.timeout);
    let mut ticker = tokio::time::interval_at(start, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut in_flight = JoinSet::new();
    let mut previous: Option<Instant> = None;
    let mut seq: u16 = 0;
    loop {
        let scheduled = ticker.tick().await;
        while in_flight.try_join_next().is_some() {}
        if let Some(p) = previous {
            let missed = missed_ticks(p, scheduled, period);
            if missed > 0 {
                state.add_missed(missed);
            }
        }
        previous = Some(scheduled);
        if in_flight.len() >= bound {
            state.add_missed(1);
            continue;
        }
        seq = seq.wrapping_add(1);
        let (state, probe) = (state.clone(), probe.clone());
        in_flight.spawn(async move {
            let sent_unix_ms = now_unix_ms();
            let r = probe.probe(seq).await;
            state.push(Outcome {
                sent_unix_ms,
                rtt: r.rtt,
                http_status: r.http_status,
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::probe::link::target::Host;
    use crate::probe::link::{ErrorKind, LinkKind, ProbeFuture, ProbeResult, Target};

    #[test]
    fn in_flight_bound() {
        let ms = Duration::from_millis;
        assert_eq!(max_in_flight(ms(1000), ms(1000)), 2);
        assert_eq!(max_in_flight(ms(1000), ms(500)), 2);
        assert_eq!(max_in_flight(ms(100), ms(1000)), 11);
    }

    fn spec(interval_ms: u64, timeout_ms: u64) -> ProbeSpec {
        ProbeSpec {
            link: "l1".into(),
            kind: LinkKind::Tcp,
            target_text: "127.0.0.1:9".into(),
            target: Target::Tcp(Host::Ip("127.0.0.1".parse().unwrap()), 9),
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(timeout_ms),
            level: "access".into(),
            domain: String::new(),
            trusted_cas: vec![],
        }
    }

    /// A probe that answers after a fixed delay, every third one lost.
    struct Fake {
        delay: Duration,
        calls: AtomicU32,
    }

    impl LinkProbe for Fake {
        fn probe(&self, _seq: u16) -> ProbeFuture<'_> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(self.delay).await;
                if n % 3 == 2 {
                    ProbeResult::lost(ErrorKind::Timeout, "fake")
                } else {
                    ProbeResult::ok(self.delay)
                }
            })
        }
    }

    fn set_with(spec: ProbeSpec, probe: Arc<dyn LinkProbe>) -> LinkSet {
        let state = Arc::new(TargetState {
            spec,
            acc: Mutex::new(Accumulator::default()),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(run_target(state.clone(), probe, Instant::now()));
        LinkSet {
            targets: vec![state],
            _tasks: tasks,
            window_start_unix_ms: now_unix_ms(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_probes_do_not_delay_ticks() {
        // 100 ms interval, each probe takes 250 ms: ticks keep their schedule (3 in flight).
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(250),
            calls: AtomicU32::new(0),
        });
        let mut set = set_with(spec(100, 300), fake.clone());
        tokio::time::sleep(Duration::from_millis(1_075)).await;
        // Ticks at 0, 100, ..., 1000 ms: 11 sent; those sent by 800 ms have finished (250 ms).
        assert_eq!(fake.calls.load(Ordering::Relaxed), 11);
        let r = set.drain(now_unix_ms());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].sent, 9, "{r:?}");
        assert_eq!(r[0].received, 6);
        assert_eq!(r[0].missed_ticks, 0);
        assert_eq!(r[0].link_id, "l1");
        assert_eq!(r[0].kind, "tcp");
        assert_eq!(r[0].level, "access");
        assert_eq!(r[0].probe_interval_ms, 100);
        // In-flight probes land in the next window.
        tokio::time::sleep(Duration::from_millis(260)).await;
        let r = set.drain(now_unix_ms());
        assert!(r[0].sent >= 2, "{r:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_bound_counts_missed_ticks() {
        // Probes take 1 s, interval 100 ms, timeout 100 ms: at most 2 in flight.
        let fake = Arc::new(Fake {
            delay: Duration::from_secs(1),
            calls: AtomicU32::new(0),
        });
        let mut set = set_with(spec(100, 100), fake.clone());
        tokio::time::sleep(Duration::from_millis(950)).await;
        let r = set.drain(now_unix_ms());
        // 10 ticks: 2 sent, 8 missed.
        assert_eq!(fake.calls.load(Ordering::Relaxed), 2);
        assert_eq!(r[0].missed_ticks, 8, "{r:?}");
        assert_eq!(r[0].sent, 0);
    }

    #[test]
    fn blocked_runtime_counts_missed_ticks() {
        // A real clock and a runtime thread blocked for 10 intervals: the ticks it could not
        // take are counted, not silently skipped.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let fake = Arc::new(Fake {
                delay: Duration::ZERO,
                calls: AtomicU32::new(0),
            });
            let mut set = set_with(spec(10, 10), fake.clone());
            tokio::time::sleep(Duration::from_millis(25)).await;
            std::thread::sleep(Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(25)).await;
            let r = set.drain(now_unix_ms());
            let calls = fake.calls.load(Ordering::Relaxed);
            let ticks = u64::from(calls) + u64::from(r[0].missed_ticks);
            assert!(r[0].missed_ticks >= 8, "{r:?}");
            // ~150 ms at 10 ms: about 15 ticks, sent or missed.
            assert!((12..=18).contains(&ticks), "calls {calls}, {r:?}");
        });
    }
}
