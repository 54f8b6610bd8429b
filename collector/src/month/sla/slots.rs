//! Per-slot states of hosts and links.
//!
//! # Slots
//!
//! The period is cut into slots of `slot_ms`: slot `i` is
//! `[start + i * slot_ms, start + (i + 1) * slot_ms)`. The grid of a month in progress ends
//! at "now" rounded down to a slot (`period::covered_end`), so it has no slot after now; a
//! slot starting at or after now would be `unknown` (not yet happened). Where an interval (maintenance, down period, reboot gap,
//! evidence) meets a slot, one rule is used everywhere: **the interval claims the slot when it
//! overlaps at least half of it**. So with one-minute slots a 90 s outage starting on a slot
//! boundary is 2 slots (60 s + 30 s), one of 89 s is 1 slot (60 s + 29 s), and one of 90 s
//! starting at :20 is 2 slots (40 s + 50 s).
//! Down time is placed to within half a slot, never counted twice.
//!
//! # Host slots, in order of precedence
//!
//! 1. `unknown` if the slot starts at or after now.
//! 2. `maintenance` if maintenance windows cover at least half the slot.
//! 3. `down` if **reboot gaps** cover at least half of it. A reboot gap runs from the last
//!    report of a boot to the boot time of the next boot (both corrected by the reports'
//!    clock offsets): the host was not running. Except where the collector could not hear
//!    agents (it was not running throughout the slot, or heard no agent at all): there the
//!    gap is `unknown`, since the host's last reports may simply not have arrived, so when
//!    it stopped is not known (a host that rebooted during a collector outage without
//!    backfill is not charged with the whole outage).
//! 4. `up` if **up evidence** covers at least half of it. A report at (corrected) time `t`
//!    with interval `I` covers `[max(t - I, boot start), t]`, live or backfilled alike; and the host is up
//!    from the start of the first report of a boot to the last report of the same boot (the
//!    same boot id seen before and after: it did not stop in between). Evidence within a
//!    boot is thus continuous whatever the timestamps between its first and last report say,
//!    so a clock step cannot open a gap.
//! 5. Otherwise (less than half of the slot has evidence; "touches" below means overlaps
//!    by at least [`TOUCH_MS`], beyond placement noise):
//!    * before the host's first evidence (its first report, when none precedes the period),
//!      and in the last `2 * interval` before now (the next report may be in flight): `up`
//!      if any up evidence touches the slot, else `unknown`;
//!    * `down` if any reboot gap touches it;
//!    * **silence**: `down` when the collector ran throughout the slot and some agent's
//!      report covers part of it (so the collector could hear agents and this one said
//!      nothing, and nothing was backfilled); otherwise `up` if some up evidence touches
//!      the slot, else `unknown`. The collector's own outage, or a cut of its network (no
//!      agent heard at all), is never turned into down.
//!
//! # Link slots, in order of precedence
//!
//! 1. `unknown` after now; 2. `maintenance` (at least half); 3. `down` if link-level down
//!    periods (every reporting vantage point down, after the link engine's hysteresis) cover
//!    at least half the slot; 4. `degraded` if a down period (less than half) or a probe
//!    window whose state was not up touches it, i.e. overlaps it by at least [`TOUCH_MS`]
//!    (shorter overlaps are placement noise); 5. `up` if a probe window of any vantage point
//!    touches it; 6. `unknown` otherwise.

use super::input::{HostInput, Interval, LinkInput};
#[cfg(test)]
use super::model::SlotState;

/// Slot state codes: one byte per slot while a timeline is built.
pub(crate) mod code {
    /// Up.
    pub const UP: u8 = 0;
    /// Degraded.
    pub const DEGRADED: u8 = 1;
    /// Down.
    pub const DOWN: u8 = 2;
    /// Maintenance.
    pub const MAINTENANCE: u8 = 3;
    /// Unknown.
    pub const UNKNOWN: u8 = 4;
    /// Host, provisional: silent, no evidence at all in the slot.
    pub const SILENT: u8 = 5;
    /// Host, provisional: silent, but some up evidence touches the slot.
    pub const SILENT_SOME_UP: u8 = 6;
    /// Host, provisional: in a reboot gap; down where the collector could hear agents.
    pub const GAP: u8 = 7;
    /// Number of codes.
    pub const COUNT: usize = 8;
}

/// The public state of a final code.
#[cfg(test)]
pub(crate) fn state_of(c: u8) -> SlotState {
    match c {
        code::UP => SlotState::Up,
        code::DEGRADED => SlotState::Degraded,
        code::DOWN => SlotState::Down,
        code::MAINTENANCE => SlotState::Maintenance,
        _ => SlotState::Unknown,
    }
}

/// The slot grid of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grid {
    pub start: i64,
    pub end: i64,
    pub slot: i64,
    pub n: u32,
    /// Now, clamped to the period.
    pub now: i64,
    /// Now as given: a report may still be in flight shortly after the period's end.
    pub now_raw: i64,
}

impl Grid {
    pub fn slot_start(&self, i: u32) -> i64 {
        self.start + i64::from(i) * self.slot
    }

    pub fn slot_end(&self, i: u32) -> i64 {
        self.slot_start(i) + self.slot
    }

    /// Slots `[first, last)` that `[a, b)` touches, after clipping to the period.
    pub fn touched(&self, a: i64, b: i64) -> Option<(u32, u32)> {
        let a = a.max(self.start);
        let b = b.min(self.end);
        if a >= b {
            return None;
        }
        let first = ((a - self.start) / self.slot) as u32;
        let last = ((b - 1 - self.start) / self.slot) as u32;
        Some((first, last + 1))
    }

    /// Adds the overlap (ms) of `[a, b)` with every slot to `buf`.
    pub fn add_overlap(&self, a: i64, b: i64, buf: &mut [u32]) {
        let Some((first, last)) = self.touched(a, b) else {
            return;
        };
        let a = a.max(self.start);
        let b = b.min(self.end);
        if last - first == 1 {
            buf[first as usize] += (b - a) as u32;
            return;
        }
        buf[first as usize] += (self.slot_end(first) - a) as u32;
        buf[first as usize + 1..last as usize - 1]
            .iter_mut()
            .for_each(|x| *x += self.slot as u32);
        buf[last as usize - 1] += (b - self.slot_start(last - 1)) as u32;
    }

    /// Adds the overlaps of intervals (merged first, so none counts twice) to `buf`.
    pub fn add_intervals(&self, iv: &mut Vec<(i64, i64)>, buf: &mut [u32]) {
        merge(iv);
        for &(a, b) in iv.iter() {
            self.add_overlap(a, b, buf);
        }
    }

    /// At least half of the slot.
    pub fn half(&self, ms: u32) -> bool {
        i64::from(ms) * 2 >= self.slot
    }

    /// Enough of the slot to count as touching it: [`TOUCH_MS`] (or half a slot, when
    /// slots are that short).
    pub fn touches(&self, ms: u32) -> bool {
        i64::from(ms) >= TOUCH_MS.min(self.slot / 2).max(1)
    }
}

/// An interval touches a slot (for the "less than half" rules) only when it overlaps it by
/// at least this much. Times are placed to about a second (uptime has 1 s resolution, plus
/// the delivery delay of the fastest report), so an overlap of a few hundred milliseconds
/// at a slot edge is placement noise, not evidence.
pub const TOUCH_MS: i64 = 2_000;

// The engine's one interval merge lives with the input types (a leaf), so that the
// evidence built there is merged by the same rule; the engine's modules name it here.
pub(crate) use super::input::merge;

/// A run of slots `[start, end)` in one state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: u32,
    pub end: u32,
    pub state: u8,
}

impl Run {
    pub fn len(&self) -> u32 {
        self.end - self.start
    }
}

/// The states of one item over the period, as maximal runs covering every slot: a host up
/// all month is one run, so 10 000 hosts cost kilobytes, not a byte per slot each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub runs: Vec<Run>,
}

impl Timeline {
    pub fn from_codes(codes: &[u8]) -> Timeline {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < codes.len() {
            let s = codes[i];
            let mut j = i + 1;
            while j < codes.len() && codes[j] == s {
                j += 1;
            }
            runs.push(Run {
                start: i as u32,
                end: j as u32,
                state: s,
            });
            i = j;
        }
        Timeline { runs }
    }

    /// Slots per state code.
    pub fn counts(&self) -> [u32; code::COUNT] {
        let mut c = [0; code::COUNT];
        for r in &self.runs {
            c[r.state as usize] += r.len();
        }
        c
    }

    /// State of slot `s`.
    #[cfg(test)]
    pub fn at(&self, s: u32) -> u8 {
        let i = self.runs.partition_point(|r| r.end <= s);
        self.runs.get(i).map_or(code::UNKNOWN, |r| r.state)
    }

    /// Runs of down slots `[start, end)`.
    pub fn down_runs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.runs
            .iter()
            .filter(|r| r.state == code::DOWN)
            .map(|r| (r.start, r.end))
    }

    /// Every slot's public state.
    #[cfg(test)]
    pub fn states(&self) -> Vec<SlotState> {
        self.runs
            .iter()
            .flat_map(|r| std::iter::repeat_n(state_of(r.state), r.len() as usize))
            .collect()
    }
}

/// Buffers reused from item to item, so building a timeline allocates nothing per slot.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    up: Vec<u32>,
    down: Vec<u32>,
    maint: Vec<u32>,
    /// Overlap of not-up probe windows (links).
    degraded: Vec<u32>,
    codes: Vec<u8>,
    iv: Vec<(i64, i64)>,
}

impl Scratch {
    fn reset(&mut self, n: u32) {
        let n = n as usize;
        for v in [
            &mut self.up,
            &mut self.down,
            &mut self.maint,
            &mut self.degraded,
        ] {
            v.clear();
            v.resize(n, 0);
        }
        self.codes.clear();
        self.codes.resize(n, code::UNKNOWN);
    }

    fn maintenance(&mut self, grid: &Grid, m: &[Interval]) {
        self.iv.clear();
        self.iv.extend(m.iter().map(|i| (i.start_ms, i.end_ms)));
        grid.add_intervals(&mut self.iv, &mut self.maint);
    }
}

/// Per boot, what its reports say.
#[derive(Debug, Clone, Copy)]
struct BootSpan {
    /// Start of the first report's coverage.
    first: i64,
    /// Time of the last report.
    last: i64,
    /// Boot start.
    boot_time: i64,
    /// Interval of the newest report.
    last_interval: i64,
}

/// The provisional timeline of a host (silence not yet resolved: see [`resolve_silence`]),
/// marking in `heard` every slot that one of its reports covers in part.
pub(crate) fn host_provisional(
    grid: &Grid,
    host: &HostInput,
    scratch: &mut Scratch,
    heard: &mut [bool],
) -> Timeline {
    scratch.reset(grid.n);
    scratch.maintenance(grid, &host.maintenance);

    let mut spans: Vec<BootSpan> = Vec::with_capacity(host.boots.len());
    for boot in &host.boots {
        for c in &boot.coverage {
            if let Some((a, b)) = grid.touched(c.start_ms, c.end_ms) {
                heard[a as usize..b as usize]
                    .iter_mut()
                    .for_each(|h| *h = true);
            }
        }
        let Some(first) = boot.coverage.iter().map(|c| c.start_ms).min() else {
            continue;
        };
        spans.push(BootSpan {
            first,
            last: boot.last_ms,
            boot_time: boot.start_ms,
            last_interval: boot.last_interval_ms,
        });
    }
    spans.sort_unstable_by_key(|s| (s.first, s.last));

    let (first_evidence, grace_from) = match (spans.first(), spans.iter().max_by_key(|s| s.last)) {
        (Some(f), Some(l)) => (
            f.first,
            grid.now_raw.saturating_sub(2 * l.last_interval.max(0)),
        ),
        _ => (i64::MAX, grid.now_raw),
    };

    scratch.iv.clear();
    scratch.iv.extend(spans.iter().map(|s| (s.first, s.last)));
    grid.add_intervals(&mut scratch.iv, &mut scratch.up);
    scratch.iv.clear();
    for w in spans.windows(2) {
        let end = w[1].boot_time.min(w[1].first);
        scratch.iv.push((w[0].last, end));
    }
    grid.add_intervals(&mut scratch.iv, &mut scratch.down);

    for i in 0..grid.n {
        let s = i as usize;
        let start = grid.slot_start(i);
        let (up, down) = (scratch.up[s], scratch.down[s]);
        scratch.codes[s] = if start >= grid.now {
            code::UNKNOWN
        } else if grid.half(scratch.maint[s]) {
            code::MAINTENANCE
        } else if grid.half(down) {
            code::GAP
        } else if grid.half(up) {
            code::UP
        } else if start < first_evidence || grid.slot_end(i) > grace_from {
            if grid.touches(up) {
                code::UP
            } else {
                code::UNKNOWN
            }
        } else if grid.touches(down) {
            code::GAP
        } else if grid.touches(up) {
            code::SILENT_SOME_UP
        } else {
            code::SILENT
        };
    }
    Timeline::from_codes(&scratch.codes)
}

/// Turns a host's silent slots into their final state: `down` where `silence_is_down` (the
/// collector ran throughout the slot and heard some agent), else `up` when some up evidence
/// touches the slot, else `unknown`. Reboot-gap slots likewise: `down`, else `unknown`.
pub(crate) fn resolve_silence(tl: &Timeline, silence_is_down: &[bool]) -> Timeline {
    if !tl
        .runs
        .iter()
        .any(|r| matches!(r.state, code::SILENT | code::SILENT_SOME_UP | code::GAP))
    {
        return tl.clone();
    }
    let mut runs: Vec<Run> = Vec::with_capacity(tl.runs.len());
    let push = |runs: &mut Vec<Run>, start: u32, end: u32, state: u8| match runs.last_mut() {
        Some(r) if r.state == state && r.end == start => r.end = end,
        _ => runs.push(Run { start, end, state }),
    };
    for r in &tl.runs {
        let quiet = match r.state {
            code::SILENT | code::GAP => code::UNKNOWN,
            code::SILENT_SOME_UP => code::UP,
            other => {
                push(&mut runs, r.start, r.end, other);
                continue;
            }
        };
        for s in r.start..r.end {
            let state = if silence_is_down[s as usize] {
                code::DOWN
            } else {
                quiet
            };
            push(&mut runs, s, s + 1, state);
        }
    }
    Timeline { runs }
}

/// The timeline of a link.
pub(crate) fn link_timeline(grid: &Grid, link: &LinkInput, scratch: &mut Scratch) -> Timeline {
    scratch.reset(grid.n);
    scratch.maintenance(grid, &link.maintenance);
    scratch.iv.clear();
    scratch
        .iv
        .extend(link.down.iter().map(|i| (i.start_ms, i.end_ms)));
    grid.add_intervals(&mut scratch.iv, &mut scratch.down);
    // Probe coverage of all vantage points, and of their not-up windows (merged, so that
    // vantage points probing the same time do not count twice).
    scratch.iv.clear();
    scratch
        .iv
        .extend(link.coverage.iter().map(|w| (w.start_ms, w.end_ms)));
    grid.add_intervals(&mut scratch.iv, &mut scratch.up);
    scratch.iv.clear();
    scratch
        .iv
        .extend(link.degraded.iter().map(|w| (w.start_ms, w.end_ms)));
    grid.add_intervals(&mut scratch.iv, &mut scratch.degraded);
    for i in 0..grid.n {
        let s = i as usize;
        let down = scratch.down[s];
        scratch.codes[s] = if grid.slot_start(i) >= grid.now {
            code::UNKNOWN
        } else if grid.half(scratch.maint[s]) {
            code::MAINTENANCE
        } else if grid.half(down) {
            code::DOWN
        } else if grid.touches(down) || grid.touches(scratch.degraded[s]) {
            code::DEGRADED
        } else if grid.touches(scratch.up[s]) {
            code::UP
        } else {
            code::UNKNOWN
        };
    }
    Timeline::from_codes(&scratch.codes)
}

#[cfg(test)]
mod tests;
