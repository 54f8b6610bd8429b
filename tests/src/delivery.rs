//! Shared pieces of the delivery tests (`tests/tests/delivery.rs`, `tests/tests/clock.rs`):
//! what each agent generated, waiting until it is stored, stopping agents, random moments.
//!
//! An agent persists the sequence number of every report before it makes the report
//! (`<state_dir>/sequence`), so the first number it persisted and the last one bound what it
//! made, and numbers are consecutive in between.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::stored::{self, Stored, missing, ranges};
use crate::{Agent, wait_until};

/// How long a stopped agent or collector may take to exit after SIGTERM.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The agent retries an unreachable collector with jittered exponential backoff capped at
/// 60 s (`agent/src/transport/retry.rs`), so after a long outage it may take up to a minute
/// to try again; waits for delivery after an outage allow that plus the drain.
pub const RECONNECT_TIMEOUT: Duration = Duration::from_secs(90);

/// A small xorshift generator: the kill moments must be random, and reproducible from the
/// seed the test prints when it fails.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded from the clock (printed), or from `ZF_SEED` to repeat a run.
    pub fn from_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos() as u64;
        let seed = nanos | 1;
        eprintln!("random seed: {seed} (set ZF_SEED to repeat)");
        Self(
            std::env::var("ZF_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(seed),
        )
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `lo..=hi` (the bias of `%` is irrelevant at these ranges).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// The first sequence number each agent persists: polled from its state directory right
/// after the start, before its second report (an interval later). This is the first report
/// it generated, whatever reaches the collector.
pub async fn first_sequences(agents: &[&Agent]) -> anyhow::Result<Vec<u64>> {
    wait_until(
        "every agent's first sequence number",
        Duration::from_secs(15),
        Duration::from_millis(20),
        || async {
            let seqs: Vec<Option<u64>> = agents.iter().map(|a| a.sequence()).collect();
            if seqs.iter().all(Option::is_some) {
                Ok(seqs.into_iter().map(|s| s.expect("checked")).collect())
            } else {
                Err(format!("sequence files so far: {seqs:?}"))
            }
        },
    )
    .await
}

/// Waits until `agent`'s reports `first..=last` are all stored; returns what is stored then.
pub async fn wait_stored(
    db: &Path,
    agent: &str,
    first: u64,
    last: u64,
    timeout: Duration,
) -> anyhow::Result<Stored> {
    let what = format!("{agent}'s reports {first}..={last} stored");
    wait_until(&what, timeout, Duration::from_millis(250), || async {
        let s = Stored::read(db).map_err(|e| e.to_string())?;
        let absent = match s.agents.get(agent) {
            None => return Err("nothing stored yet".into()),
            Some(boots) => {
                let all: stored::Boot = boots
                    .values()
                    .flat_map(|b| b.iter().map(|(k, v)| (*k, *v)))
                    .collect();
                missing(&all, first, last)
            }
        };
        if absent.is_empty() {
            Ok(s)
        } else {
            Err(format!("{} missing: {}", absent.len(), ranges(&absent)))
        }
    })
    .await
}

/// Stops every agent with SIGTERM; returns each one's last persisted sequence number.
pub fn stop_all(agents: &mut [Agent]) -> anyhow::Result<Vec<u64>> {
    let mut last = Vec::with_capacity(agents.len());
    for a in agents.iter_mut() {
        a.stop(STOP_TIMEOUT)?;
        last.push(
            a.sequence()
                .ok_or_else(|| anyhow::anyhow!("{} persisted no sequence", a.id()))?,
        );
    }
    Ok(last)
}

/// The collector's completeness figures of one agent, from `/metrics`:
/// `zerofault_agent_reports_stored` and `zerofault_agent_sequence_gaps`.
pub async fn completeness(collector: &crate::Collector, agent: &str) -> anyhow::Result<(f64, f64)> {
    let m = collector.metrics().await?;
    Ok((
        m.get("zerofault_agent_reports_stored", &[("agent", agent)])?,
        m.get("zerofault_agent_sequence_gaps", &[("agent", agent)])?,
    ))
}

/// Waits until the collector's completeness figures of `agent` are `(stored, gaps)`; they are
/// computed from storage, and may be refreshed a moment after the last insert.
pub async fn wait_completeness(
    collector: &crate::Collector,
    agent: &str,
    stored: u64,
    gaps: u64,
) -> anyhow::Result<()> {
    let what = format!("{agent}: zerofault_agent_reports_stored {stored}, sequence_gaps {gaps}");
    wait_until(
        &what,
        Duration::from_secs(20),
        Duration::from_millis(250),
        || async {
            let got = completeness(collector, agent)
                .await
                .map_err(|e| e.to_string())?;
            if got == (stored as f64, gaps as f64) {
                Ok(())
            } else {
                Err(format!("(stored, gaps) = {got:?}"))
            }
        },
    )
    .await
}

/// One run of the collector process from `GET /api/v1/collector/runs`.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectorRun {
    /// Run id, increasing.
    pub id: i64,
    /// Start, ms since the Unix epoch.
    pub started_unix_ms: i64,
    /// End: the graceful stop, or for a crashed run its last heartbeat; `None` while running.
    pub stopped_unix_ms: Option<i64>,
    /// Ended with a graceful stop.
    pub clean: bool,
}

/// The collector's record of its own runs, oldest first.
pub async fn collector_runs(collector: &crate::Collector) -> anyhow::Result<Vec<CollectorRun>> {
    let v = collector.get_json("/api/v1/collector/runs").await?;
    let mut runs = v["runs"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no \"runs\" list: {v}"))?
        .iter()
        .map(|r| {
            Ok(CollectorRun {
                id: r["id"]
                    .as_i64()
                    .ok_or_else(|| anyhow::anyhow!("run id: {r}"))?,
                started_unix_ms: r["started_unix_ms"]
                    .as_i64()
                    .ok_or_else(|| anyhow::anyhow!("run started_unix_ms: {r}"))?,
                stopped_unix_ms: r["stopped_unix_ms"].as_i64(),
                clean: r["clean"]
                    .as_bool()
                    .ok_or_else(|| anyhow::anyhow!("run clean: {r}"))?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    runs.sort_by_key(|r| r.id);
    Ok(runs)
}
