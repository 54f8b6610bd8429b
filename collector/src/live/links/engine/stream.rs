//! A vantage point's probe stream as the engine takes it: one window of a report, or several
//! contiguous windows joined (the link rollups keep a day of windows as a few of these).
//!
//! Joining is exact for the engine: the hysteresis machine reads only the order of lost and
//! answered probes and the send time of the first probe of each run, and two adjacent steps of
//! the same kind act on it as one step with their counts added (a run keeps its first send
//! time), which is what [`ProbeStream::push_step`] makes of them.

use zerofault_protocol::LinkResult;

use super::views::FALLBACK_INTERVAL_MS;

/// A run of probes with the same outcome, in send order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Send time of the first probe of the run, ms.
    pub first_ms: i64,
    /// Probes in the run.
    pub count: u32,
    /// Lost (else answered).
    pub lost: bool,
}

/// One vantage point's evidence about a link over `[start_ms, end_ms)`: windows with at least
/// one finished probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStream {
    /// Start of the first window, ms.
    pub start_ms: i64,
    /// End of the last window, ms: the engine takes a vantage point's streams in this order.
    pub end_ms: i64,
    /// Send time of the first probe, ms.
    pub first_probe_ms: i64,
    /// Send time of the last probe, ms.
    pub last_probe_ms: i64,
    /// Probe interval, ms (never 0).
    pub interval_ms: i64,
    /// Probes finished.
    pub sent: u64,
    /// Probes answered (at most `sent`).
    pub received: u64,
    /// The outcomes, in send order, adjacent steps of one kind joined.
    pub steps: Vec<Step>,
}

impl ProbeStream {
    /// The stream of one window; `None` when no probe finished in it (no evidence).
    pub fn of_window(w: &LinkResult) -> Option<ProbeStream> {
        if w.sent == 0 {
            return None;
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
            w.window_end_unix_ms
                .saturating_sub(interval)
                .max(first_probe)
        };
        let mut s = ProbeStream {
            start_ms: w.window_start_unix_ms,
            end_ms: w.window_end_unix_ms,
            first_probe_ms: first_probe,
            last_probe_ms: last_probe,
            interval_ms: interval,
            sent: u64::from(w.sent),
            received: u64::from(w.received.min(w.sent)),
            steps: Vec::new(),
        };
        for step in window_steps(w, first_probe, last_probe, interval) {
            s.push_step(step);
        }
        Some(s)
    }

    /// Appends a step, joining it to the last one when of the same kind.
    pub fn push_step(&mut self, step: Step) {
        if step.count == 0 {
            return;
        }
        match self.steps.last_mut() {
            Some(last) if last.lost == step.lost => {
                last.count = last.count.saturating_add(step.count);
            }
            _ => self.steps.push(step),
        }
    }

    /// The stream moved by `offset_ms` (to another clock).
    pub fn shifted(mut self, offset_ms: i64) -> ProbeStream {
        let mv = |t: &mut i64| *t = t.saturating_add(offset_ms);
        mv(&mut self.start_ms);
        mv(&mut self.end_ms);
        mv(&mut self.first_probe_ms);
        mv(&mut self.last_probe_ms);
        for s in &mut self.steps {
            mv(&mut s.first_ms);
        }
        self
    }
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

/// The probe outcomes of one window, in send order. Loss runs place the lost probes; the
/// successes between runs are counted from send times and the probe interval. A run with
/// `open_end` continues into the next window's `open_start` run: nothing succeeded between.
fn window_steps(w: &LinkResult, first_probe: i64, last_probe: i64, interval: i64) -> Vec<Step> {
    let mut runs: Vec<_> = w.loss_runs.iter().collect();
    if runs.is_empty() {
        return vec![if w.received == 0 {
            // Everything lost but no runs (an agent that does not send them): one run over
            // the whole window.
            Step {
                first_ms: first_probe,
                count: w.sent,
                lost: true,
            }
        } else {
            // Some losses that cannot be placed: count the window as answered for the
            // stream; its loss ratio still decides the window's state.
            Step {
                first_ms: first_probe,
                count: w.received,
                lost: false,
            }
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
            out.push(Step {
                first_ms: next,
                count: ok,
                lost: false,
            });
        }
        out.push(Step {
            first_ms: run.first_lost_unix_ms,
            count: run.count.max(1),
            lost: true,
        });
        next = run.last_lost_unix_ms.max(run.first_lost_unix_ms) + interval;
    }
    let last_run = runs[runs.len() - 1];
    if !last_run.open_end {
        let ok = probes(last_probe + interval - next, interval).max(1);
        out.push(Step {
            first_ms: next,
            count: ok,
            lost: false,
        });
    }
    out
}
