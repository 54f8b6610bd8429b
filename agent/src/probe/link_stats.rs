//! The statistics of one probe target over one report window: pure functions of the probes'
//! outcomes, unit-tested with literal RTT series.
//!
//! Definitions (docs/protocol.md, `LinkResult`):
//!
//! * outcomes are taken in **send order** (they complete in any order);
//! * `sent` = outcomes known in the window, `received` = answered ones,
//!   `loss_ratio = 1 - received / sent` (0 when nothing was sent);
//! * RTT min / avg / max over the replies; **p50 / p95 by nearest rank**: the value at rank
//!   `ceil(p/100 * n)` of the n sorted RTTs (always one that was measured, never
//!   interpolated; with one reply every percentile is that reply);
//! * **jitter** = mean of `|RTT[i] - RTT[i-1]|` over consecutive replies in send order (a
//!   lost probe between two replies does not break the pair), 0 with fewer than two replies;
//!   RFC 3550's interarrival jitter without its 1/16 smoothing, so it does not depend on
//!   history outside the window;
//! * `errors` counts failures by kind, in [`ErrorKind::ALL`] order, kinds with 0 left out;
//! * `loss_runs` are the maximal runs of consecutive lost probes in send order;
//!   `open_start` when a run begins with the window's first probe, `open_end` when it ends
//!   with the window's last probe (the collector stitches those across windows);
//! * `first_probe_unix_ms` / `last_probe_unix_ms` are the send times of the first and last
//!   probe (0 when none); `http_status` the status of the last probe (in send order) that got
//!   one.
//!
//! All RTT fields are 0 when nothing was received.

use std::time::Duration;

use zerofault_protocol::{ErrorCount, LinkResult, LossRun};

use super::link::kind::ErrorKind;

/// One finished probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// When the probe was sent (agent wall clock, ms since the Unix epoch).
    pub sent_unix_ms: i64,
    /// Round-trip time, or why the probe counts as lost.
    pub rtt: Result<Duration, ErrorKind>,
    /// HTTP status of the answer, 0 when none.
    pub http_status: u16,
}

/// Fills the statistics fields of a [`LinkResult`] (sent ... http_status; not the ids, the
/// window or `missed_ticks`) from the outcomes of one window. Sorts `outcomes` by send time.
pub fn compute(outcomes: &mut [Outcome]) -> LinkResult {
    // Stable sort: two probes in the same millisecond keep their completion order.
    outcomes.sort_by_key(|o| o.sent_unix_ms);
    let mut r = LinkResult::default();
    let sent = outcomes.len();
    r.sent = u32::try_from(sent).unwrap_or(u32::MAX);
    if sent == 0 {
        return r;
    }
    r.first_probe_unix_ms = outcomes[0].sent_unix_ms;
    r.last_probe_unix_ms = outcomes[sent - 1].sent_unix_ms;
    r.http_status = outcomes
        .iter()
        .rev()
        .find(|o| o.http_status != 0)
        .map_or(0, |o| u32::from(o.http_status));

    let rtts: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.rtt.ok())
        .map(|d| d.as_secs_f64())
        .collect();
    let received = rtts.len();
    r.received = u32::try_from(received).unwrap_or(u32::MAX);
    r.loss_ratio = 1.0 - received as f64 / sent as f64;

    if received > 0 {
        r.rtt_avg_seconds = rtts.iter().sum::<f64>() / received as f64;
        r.jitter_seconds = jitter(&rtts);
        let mut sorted = rtts;
        sorted.sort_by(f64::total_cmp);
        r.rtt_min_seconds = sorted[0];
        r.rtt_max_seconds = sorted[received - 1];
        r.rtt_p50_seconds = nearest_rank(&sorted, 50);
        r.rtt_p95_seconds = nearest_rank(&sorted, 95);
    }

    let mut counts = [0u32; ErrorKind::ALL.len()];
    for o in outcomes.iter() {
        if let Err(k) = o.rtt {
            let i = ErrorKind::ALL.iter().position(|x| *x == k).unwrap_or(0);
            counts[i] = counts[i].saturating_add(1);
        }
    }
    r.errors = ErrorKind::ALL
        .iter()
        .zip(counts)
        .filter(|(_, c)| *c > 0)
        .map(|(k, count)| ErrorCount {
            kind: k.as_str().to_owned(),
            count,
        })
        .collect();
    r.loss_runs = loss_runs(outcomes);
    r
}

/// Mean absolute difference of consecutive values; 0 with fewer than two.
pub fn jitter(rtts: &[f64]) -> f64 {
    if rtts.len() < 2 {
        return 0.0;
    }
    let sum: f64 = rtts.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
    sum / (rtts.len() - 1) as f64
}

/// Nearest-rank percentile of sorted, non-empty values: the value at 1-based rank
/// `ceil(p/100 * n)` (at least 1).
pub fn nearest_rank(sorted: &[f64], p: u32) -> f64 {
    let n = sorted.len();
    let rank = (n * p as usize).div_ceil(100).max(1);
    sorted[rank.min(n) - 1]
}

/// Runs of consecutive lost probes of outcomes sorted by send time.
fn loss_runs(sorted: &[Outcome]) -> Vec<LossRun> {
    let mut runs: Vec<LossRun> = Vec::new();
    let mut in_run = false;
    for (i, o) in sorted.iter().enumerate() {
        if o.rtt.is_ok() {
            in_run = false;
            continue;
        }
        if in_run {
            let run = runs.last_mut().expect("in a run");
            run.last_lost_unix_ms = o.sent_unix_ms;
            run.count += 1;
        } else {
            runs.push(LossRun {
                first_lost_unix_ms: o.sent_unix_ms,
                last_lost_unix_ms: o.sent_unix_ms,
                count: 1,
                open_start: i == 0,
                open_end: false,
            });
            in_run = true;
        }
    }
    if in_run {
        runs.last_mut().expect("in a run").open_end = true;
    }
    runs
}

#[cfg(test)]
mod tests;
