//! Link rollups: what the monthly report needs of a vantage point's probe windows, kept in
//! its host's bucket (agent, boot, day of uptime) as reports arrive, so that a month of a
//! link is a few hundred bytes per vantage point and day instead of every window.
//!
//! # Pieces
//!
//! A link's windows from one agent are joined into **pieces**: windows that follow each other
//! exactly on the agent's clock (the agent starts a window where the last one ended), with the
//! same probe interval, no pause in the probes longer than the engine's evidence gap, and the
//! same clock (`agent time - uptime` within [`CLOCK_JOIN_MS`], so that a stepped clock starts
//! a new piece). A piece keeps, in the agent's clock:
//!
//! - the probe stream the link engine replays ([`ProbeStream`]): the run of lost and
//!   answered probes, which joining leaves exactly as the engine would read it window by
//!   window (see `live::links::engine::stream`);
//! - the time of its degraded windows (loss or RTT past the level's thresholds when the
//!   report was stored: the thresholds the live views used for it too);
//! - per hour of window start, a [`Cell`]: windows, summed loss, RTT and jitter (integers, so
//!   that any order of adding gives the same bits), and the windows' RTTs to three
//!   significant digits above 1 ms (exact below), for the month's 95th percentile.
//!
//! Joining and every sum are order-free, so a day's pieces are the same whatever order its
//! reports arrive in (live, backfilled, imported). The month places each piece on the
//! collector's clock by its boot's anchor (`month::link_windows`).
//!
//! # Bounds
//!
//! Notable windows (with a loss, or degraded) and probe-stream steps are counted window by
//! window; past [`MAX_NOTABLE_WINDOWS`] or [`MAX_STEPS`] in a link's day the stream and
//! degraded times of that day are dropped (an outage in such a day is then read as a window
//! without loss runs is: answered if anything was answered, and the whole piece degraded if
//! any window was): about 40 KiB per link and day at most by estimate (the flapping test
//! checks under 48 KiB on the way). A bucket that still does not fit
//! its bound (several such links) drops the streams of all its link days before it would
//! drop a report ([`super::HostBucket::fit`]), so lossy links never cost their vantage
//! host's own figures.

use zerofault_protocol::{LinkResult, Report};

use super::span::{Span, merge_spans};
use crate::live::links::engine::EVIDENCE_GAP_PROBES;
use crate::live::links::{ProbeStream, Step, Thresholds};

/// Largest difference of `agent time - uptime` between two joined windows, ms: uptime is read
/// by whole seconds, so one clock gives values within a second of each other.
pub const CLOCK_JOIN_MS: i64 = 1_500;
/// Notable windows (loss or degraded) of one link and day past which its stream is dropped:
/// their degraded times stay under about 12 KiB.
pub const MAX_NOTABLE_WINDOWS: u64 = 1_000;
/// Probe-stream steps of one link and day past which its stream is dropped: about 24 KiB.
pub const MAX_STEPS: u64 = 1_000;
/// Length of a [`Cell`], ms: an hour.
pub const CELL_MS: i64 = 3_600_000;

/// A run of probes with one outcome ([`Step`]).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct StepRec {
    /// Send time of its first probe, agent clock, Unix ms.
    #[prost(int64, tag = "1")]
    pub first_ms: i64,
    /// Probes.
    #[prost(uint32, tag = "2")]
    pub count: u32,
    /// Lost (else answered).
    #[prost(bool, tag = "3")]
    pub lost: bool,
}

/// Windows whose mean RTT falls in one bin ([`rtt_bin`]).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct RttBin {
    /// The bin.
    #[prost(uint32, tag = "1")]
    pub bin: u32,
    /// Windows.
    #[prost(uint64, tag = "2")]
    pub count: u64,
}

/// The probe figures of the windows of a piece that start in one hour.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Cell {
    /// `window start / CELL_MS`, agent clock.
    #[prost(int64, tag = "1")]
    pub hour: i64,
    /// Earliest window start, agent clock, ms.
    #[prost(int64, tag = "2")]
    pub start_ms: i64,
    /// Latest window end, agent clock, ms.
    #[prost(int64, tag = "3")]
    pub end_ms: i64,
    /// Windows.
    #[prost(uint64, tag = "4")]
    pub windows: u64,
    /// Loss ratios summed, parts per million.
    #[prost(uint64, tag = "5")]
    pub loss_ppm: u64,
    /// Mean RTTs summed, µs, of the windows with an answer.
    #[prost(uint64, tag = "6")]
    pub rtt_us: u64,
    /// Windows with an answer.
    #[prost(uint64, tag = "7")]
    pub rtt_n: u64,
    /// Jitters summed, µs, of the windows with two answers or more.
    #[prost(uint64, tag = "8")]
    pub jitter_us: u64,
    /// Windows with two answers or more.
    #[prost(uint64, tag = "9")]
    pub jitter_n: u64,
    /// Mean RTTs of the windows with an answer, binned, by bin.
    #[prost(message, repeated, tag = "10")]
    pub rtts: Vec<RttBin>,
}

/// Windows of one link from one agent that follow each other (see the module docs).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Piece {
    /// Start of the first window, agent clock, ms.
    #[prost(int64, tag = "1")]
    pub start_ms: i64,
    /// End of the last window, agent clock, ms.
    #[prost(int64, tag = "2")]
    pub end_ms: i64,
    /// Send time of the first probe, agent clock, ms.
    #[prost(int64, tag = "3")]
    pub first_probe_ms: i64,
    /// Send time of the last probe, agent clock, ms.
    #[prost(int64, tag = "4")]
    pub last_probe_ms: i64,
    /// Probe interval, ms.
    #[prost(int64, tag = "5")]
    pub interval_ms: i64,
    /// Probes finished.
    #[prost(uint64, tag = "6")]
    pub sent: u64,
    /// Probes answered.
    #[prost(uint64, tag = "7")]
    pub received: u64,
    /// `agent time - uptime` of the report of the first window, ms (absent without uptime).
    #[prost(int64, optional, tag = "8")]
    pub clock_first_ms: Option<i64>,
    /// The same of the last window.
    #[prost(int64, optional, tag = "9")]
    pub clock_last_ms: Option<i64>,
    /// The smallest of its windows': where the month places the piece.
    #[prost(int64, optional, tag = "10")]
    pub clock_min_ms: Option<i64>,
    /// The probe stream (empty once its day overflowed, [`LinkDay::overflow`]).
    #[prost(message, repeated, tag = "11")]
    pub steps: Vec<StepRec>,
    /// Degraded windows, merged (empty once overflowed).
    #[prost(message, repeated, tag = "12")]
    pub degraded: Vec<Span>,
    /// At least one window was degraded.
    #[prost(bool, tag = "13")]
    pub degraded_any: bool,
    /// Probe figures per hour, by hour.
    #[prost(message, repeated, tag = "14")]
    pub cells: Vec<Cell>,
}

/// One link's windows in a bucket: the bucket's agent is the vantage point.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LinkDay {
    /// Link id.
    #[prost(string, tag = "1")]
    pub link_id: String,
    /// Level of the newest window (latest end; the greatest level and domain among equal
    /// ends), for a link the inventory does not know.
    #[prost(string, tag = "2")]
    pub level: String,
    /// Domain of that window.
    #[prost(string, tag = "3")]
    pub domain: String,
    /// End of that window, agent clock, ms.
    #[prost(int64, tag = "4")]
    pub newest_end_ms: i64,
    /// Windows with a loss or degraded.
    #[prost(uint64, tag = "5")]
    pub notable: u64,
    /// `notable` passed [`MAX_NOTABLE_WINDOWS`]: streams and degraded times dropped.
    #[prost(bool, tag = "6")]
    pub overflow: bool,
    /// Pieces, by start.
    #[prost(message, repeated, tag = "7")]
    pub pieces: Vec<Piece>,
    /// Steps of the windows' probe streams, summed window by window (so that the sum does
    /// not depend on how they were joined).
    #[prost(uint64, tag = "8")]
    pub steps: u64,
}

/// The bin of a mean RTT of `us` µs: exact below 1 ms, then three significant digits (at
/// most 0.5% from the value), so that a round figure such as 5.00 ms stays exact.
pub fn rtt_bin(us: u64) -> u32 {
    if us < 1_000 {
        return us as u32;
    }
    // `scale` = 10^digits with `us / scale` in 100..1000.
    let mut digits = 0u32;
    let mut scale = 1u64;
    while us / scale >= 1_000 {
        scale *= 10;
        digits += 1;
    }
    let mut mantissa = us.saturating_add(scale / 2) / scale;
    if mantissa == 1_000 {
        mantissa = 100;
        digits += 1;
    }
    1_000 + (digits - 1) * 900 + (mantissa as u32 - 100)
}

/// The value a bin stands for, µs.
pub fn rtt_of_bin(bin: u32) -> f64 {
    if bin < 1_000 {
        return f64::from(bin);
    }
    let digits = (bin - 1_000) / 900 + 1;
    let mantissa = (bin - 1_000) % 900 + 100;
    f64::from(mantissa) * 10f64.powi(digits.min(300) as i32)
}

fn micros(seconds: f64) -> u64 {
    let us = (seconds * 1e6).round();
    if us.is_finite() && us > 0.0 {
        us.min(u64::MAX as f64) as u64
    } else {
        0
    }
}

/// The link days of one report's windows, sorted by link id; `clock_ms` is the report's
/// `agent time - uptime` (`None` without an uptime).
pub fn of_report(report: &Report, clock_ms: Option<i64>, thresholds: &Thresholds) -> Vec<LinkDay> {
    let mut days: Vec<LinkDay> = Vec::new();
    for w in &report.links {
        let day = of_window(w, clock_ms, thresholds);
        match days.binary_search_by(|d| d.link_id.as_str().cmp(&w.link_id)) {
            Ok(i) => days[i].merge(&day),
            Err(i) => days.insert(i, day),
        }
    }
    days
}

fn of_window(w: &LinkResult, clock_ms: Option<i64>, thresholds: &Thresholds) -> LinkDay {
    let mut day = LinkDay {
        link_id: w.link_id.clone(),
        level: w.level.clone(),
        domain: w.domain.clone(),
        newest_end_ms: w.window_end_unix_ms,
        ..Default::default()
    };
    // A window without a finished probe is no evidence (as for the live engine).
    let Some(stream) = ProbeStream::of_window(w) else {
        return day;
    };
    let received = w.received.min(w.sent);
    let loss = f64::from(w.sent - received) / f64::from(w.sent);
    let th = thresholds.for_level(&w.level);
    let degraded = loss >= th.degraded_loss_ratio
        || (received > 0 && w.rtt_avg_seconds >= th.degraded_rtt.as_secs_f64());
    day.notable = u64::from(received < w.sent || degraded);
    day.steps = stream.steps.len() as u64;
    let rtt = (received > 0).then(|| micros(w.rtt_avg_seconds));
    let jitter = (received > 1).then(|| micros(w.jitter_seconds));
    // A window that does not move forward on the agent's clock (its clock stepped back
    // inside it, or a hostile one) is no evidence: an empty piece could join either of its
    // neighbours, and which one would depend on the order reports arrive in.
    if stream.end_ms <= stream.start_ms {
        return day;
    }
    let start_ms = stream.start_ms;
    day.pieces.push(Piece {
        start_ms,
        end_ms: stream.end_ms,
        first_probe_ms: stream.first_probe_ms,
        last_probe_ms: stream.last_probe_ms,
        interval_ms: stream.interval_ms,
        sent: stream.sent,
        received: stream.received,
        clock_first_ms: clock_ms,
        clock_last_ms: clock_ms,
        clock_min_ms: clock_ms,
        steps: stream
            .steps
            .iter()
            .map(|s| StepRec {
                first_ms: s.first_ms,
                count: s.count,
                lost: s.lost,
            })
            .collect(),
        degraded: if degraded && start_ms < stream.end_ms {
            vec![Span {
                from: start_ms,
                to: stream.end_ms,
            }]
        } else {
            Vec::new()
        },
        degraded_any: degraded,
        cells: vec![Cell {
            hour: start_ms.div_euclid(CELL_MS),
            start_ms,
            end_ms: stream.end_ms,
            windows: 1,
            loss_ppm: (loss * 1e6).round() as u64,
            rtt_us: rtt.unwrap_or(0),
            rtt_n: u64::from(rtt.is_some()),
            jitter_us: jitter.unwrap_or(0),
            jitter_n: u64::from(jitter.is_some()),
            rtts: rtt
                .map(|us| RttBin {
                    bin: rtt_bin(us),
                    count: 1,
                })
                .into_iter()
                .collect(),
        }],
    });
    day
}

impl Cell {
    fn merge(&mut self, o: &Cell) {
        self.start_ms = self.start_ms.min(o.start_ms);
        self.end_ms = self.end_ms.max(o.end_ms);
        self.windows += o.windows;
        self.loss_ppm += o.loss_ppm;
        self.rtt_us = self.rtt_us.saturating_add(o.rtt_us);
        self.rtt_n += o.rtt_n;
        self.jitter_us = self.jitter_us.saturating_add(o.jitter_us);
        self.jitter_n += o.jitter_n;
        for b in &o.rtts {
            match self.rtts.binary_search_by_key(&b.bin, |x| x.bin) {
                Ok(i) => self.rtts[i].count += b.count,
                Err(i) => self.rtts.insert(i, *b),
            }
        }
    }
}

fn opt(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    }
}

impl Piece {
    /// Whether `next` continues this piece (see the module docs).
    fn joins(&self, next: &Piece) -> bool {
        self.end_ms == next.start_ms
            && self.interval_ms == next.interval_ms
            && next.first_probe_ms.saturating_sub(self.last_probe_ms)
                <= EVIDENCE_GAP_PROBES.saturating_mul(self.interval_ms)
            && match (self.clock_last_ms, next.clock_first_ms) {
                (Some(a), Some(b)) => (a - b).abs() <= CLOCK_JOIN_MS,
                (None, None) => true,
                _ => false,
            }
    }

    /// Appends `next`, which [`Self::joins`] this piece.
    fn append(&mut self, next: Piece) {
        self.end_ms = next.end_ms;
        self.last_probe_ms = next.last_probe_ms;
        self.sent += next.sent;
        self.received += next.received;
        self.clock_last_ms = next.clock_last_ms;
        self.clock_min_ms = opt(self.clock_min_ms, next.clock_min_ms, i64::min);
        for s in next.steps {
            match self.steps.last_mut() {
                Some(last) if last.lost == s.lost => {
                    last.count = last.count.saturating_add(s.count)
                }
                _ => self.steps.push(s),
            }
        }
        self.degraded.extend(next.degraded);
        self.degraded = merge_spans(std::mem::take(&mut self.degraded));
        self.degraded_any |= next.degraded_any;
        for c in next.cells {
            match self.cells.binary_search_by_key(&c.hour, |x| x.hour) {
                Ok(i) => self.cells[i].merge(&c),
                Err(i) => self.cells.insert(i, c),
            }
        }
    }

    /// The probe stream the engine replays: the kept steps, or after an overflow the rule
    /// for windows without loss runs (answered if anything was answered).
    pub fn stream(&self) -> ProbeStream {
        let mut s = ProbeStream {
            start_ms: self.start_ms,
            end_ms: self.end_ms,
            first_probe_ms: self.first_probe_ms,
            last_probe_ms: self.last_probe_ms,
            interval_ms: self.interval_ms.max(1),
            sent: self.sent,
            received: self.received,
            steps: Vec::with_capacity(self.steps.len().max(1)),
        };
        if self.steps.is_empty() {
            let all_lost = self.received == 0;
            s.push_step(Step {
                first_ms: self.first_probe_ms,
                count: u32::try_from(if all_lost { self.sent } else { self.received })
                    .unwrap_or(u32::MAX),
                lost: all_lost,
            });
        } else {
            for r in &self.steps {
                s.push_step(Step {
                    first_ms: r.first_ms,
                    count: r.count,
                    lost: r.lost,
                });
            }
        }
        s
    }

    /// Degraded time: the kept spans, or after an overflow the whole piece if any window was.
    pub fn degraded_spans(&self, overflow: bool) -> Vec<Span> {
        if overflow {
            if self.degraded_any {
                vec![Span {
                    from: self.start_ms,
                    to: self.end_ms,
                }]
            } else {
                Vec::new()
            }
        } else {
            self.degraded.clone()
        }
    }
}

/// Sorts pieces and joins those that continue each other.
pub fn join_pieces(mut pieces: Vec<Piece>) -> Vec<Piece> {
    pieces.sort_by(|a, b| {
        (a.start_ms, a.end_ms, a.first_probe_ms, a.clock_first_ms).cmp(&(
            b.start_ms,
            b.end_ms,
            b.first_probe_ms,
            b.clock_first_ms,
        ))
    });
    let mut out: Vec<Piece> = Vec::with_capacity(pieces.len());
    for p in pieces {
        match out.last_mut() {
            Some(last) if last.joins(&p) => last.append(p),
            _ => out.push(p),
        }
    }
    out
}

impl LinkDay {
    /// Adds `other` (the same link's windows of other reports of the bucket).
    pub fn merge(&mut self, other: &LinkDay) {
        if (other.newest_end_ms, &other.level, &other.domain)
            > (self.newest_end_ms, &self.level, &self.domain)
        {
            self.newest_end_ms = other.newest_end_ms;
            self.level.clone_from(&other.level);
            self.domain.clone_from(&other.domain);
        }
        self.notable += other.notable;
        self.steps = self.steps.saturating_add(other.steps);
        self.overflow |=
            other.overflow || self.notable > MAX_NOTABLE_WINDOWS || self.steps > MAX_STEPS;
        let mut pieces = std::mem::take(&mut self.pieces);
        pieces.extend(other.pieces.iter().cloned());
        self.pieces = join_pieces(pieces);
        if self.overflow {
            self.shed();
        }
    }

    /// Drops the probe streams and degraded times of this day and marks it overflowed;
    /// true when that dropped something.
    pub fn shed(&mut self) -> bool {
        self.overflow = true;
        let mut any = false;
        for p in &mut self.pieces {
            any |= !p.steps.is_empty() || !p.degraded.is_empty();
            p.steps = Vec::new();
            p.degraded = Vec::new();
        }
        any
    }
}

/// Adds the link days `other` to `days` (both sorted by link id).
pub fn merge_days(days: &mut Vec<LinkDay>, other: &[LinkDay]) {
    for o in other {
        match days.binary_search_by(|d| d.link_id.cmp(&o.link_id)) {
            Ok(i) => days[i].merge(o),
            Err(i) => days.insert(i, o.clone()),
        }
    }
}

#[cfg(test)]
mod tests;
