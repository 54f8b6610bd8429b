//! Where a host's reports lie on the collector's clock.
//!
//! Agent wall clocks cannot be trusted (an agent 1 hour ahead, a clock stepped back 10
//! minutes), and receive times cannot either (a backfilled report arrives long after it was
//! made). Each report also carries the host's uptime (`/proc/uptime`, CLOCK_BOOTTIME): a
//! clock that never steps and runs through agent restarts within one boot. So within a boot
//! every report is placed at `anchor + uptime`, with one anchor per boot:
//!
//! - the **live anchor** `min(received - uptime)` over the boot's reports: the report that
//!   reached the collector fastest bounds the boot's start from above, to within its
//!   delivery delay (milliseconds on a LAN);
//! - when the boot was never seen live (all of it backfilled, e.g. it happened while the
//!   collector was down), that bound is late by the backlog delay. The boot is then placed
//!   by the agent's own clock instead, corrected by the agent's clock offset measured on its
//!   other boots: `median(agent_time - uptime) + agent_offset` (the median, so that a clock
//!   step inside the boot does not move it; taken by whole seconds, the resolution of
//!   uptime, so that the rollups keep a few counts per boot instead of every value).
//!
//! A boot counts as seen live when its live anchor is within [`LIVE_TOLERANCE_MS`] plus two
//! report intervals of its clock anchor; an agent with no live boot at all has offset 0.
//! Reports without an uptime (older agents) fall back to their agent time plus the offset.

/// How far (beyond two report intervals) the live anchor of a boot may be from its clock
/// anchor and still count as live: delivery delay plus the clock's drift within a month.
pub const LIVE_TOLERANCE_MS: i64 = 120_000;

/// What placement needs of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// Agent clock when made, Unix ms.
    pub agent_ms: i64,
    /// Collector clock at receipt, Unix ms.
    pub received_ms: i64,
    /// Host uptime when made, ms; `None` when the report has none.
    pub uptime_ms: Option<i64>,
    /// Collection interval, ms.
    pub interval_ms: i64,
}

/// Where one boot lies: `anchor_ms` is the boot's start on the collector's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    /// Boot start on the collector's clock, Unix ms.
    pub anchor_ms: i64,
    /// The boot was seen live (anchored by receive times), not placed by the agent clock.
    pub live: bool,
}

/// What placement needs of one boot's reports, summed up: the rollups keep these per
/// bucket, so a boot is placed without its reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootStats {
    /// Live anchor, `min(received - uptime)`; `None` without uptimes.
    pub live_ms: Option<i64>,
    /// Clock anchor, the median of `agent_time - uptime` by second ([`median_second`]);
    /// `None` without uptimes.
    pub clock_ms: Option<i64>,
    /// Longest collection interval.
    pub max_interval_ms: i64,
}

impl BootStats {
    /// The stats of a list of reports (any order).
    pub fn of(reports: &[Observed]) -> BootStats {
        let mut clock: Vec<crate::rollup::ClockBin> = reports
            .iter()
            .filter_map(|r| {
                Some(crate::rollup::ClockBin {
                    second: (r.agent_ms - r.uptime_ms?).div_euclid(1000),
                    count: 1,
                })
            })
            .collect();
        BootStats {
            live_ms: reports
                .iter()
                .filter_map(|r| Some(r.received_ms - r.uptime_ms?))
                .min(),
            clock_ms: median_second(&mut clock),
            max_interval_ms: reports.iter().map(|r| r.interval_ms).max().unwrap_or(0),
        }
    }

    fn seen_live(&self) -> Option<i64> {
        // live - clock = clock offset + delivery delay of the fastest report; a boot seen
        // live has a small delay, so the difference is the agent's offset. Whether it is
        // small cannot be told for one boot alone: the caller compares boots of the same
        // agent.
        Some(self.live_ms?.saturating_sub(self.clock_ms?))
    }
}

/// The median second of clock bins (any order, merged or not), in ms: the upper median of
/// the reports' seconds, each bin counting its reports. Uptime has a resolution of a
/// second, so the second is as precise as the estimate is; keeping seconds lets a boot's
/// estimates be counted in a few bins instead of kept one per report.
pub fn median_second(bins: &mut [crate::rollup::ClockBin]) -> Option<i64> {
    bins.sort_unstable_by_key(|b| b.second);
    let n: u64 = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return None;
    }
    let mut seen = 0;
    for b in bins.iter() {
        seen += b.count;
        if seen > n / 2 {
            return Some(b.second * 1000);
        }
    }
    None
}

/// Places the boots of one agent. `boots[i]` are the reports of boot `i` (any order).
/// Returns one [`Placed`] per boot, or `None` for a boot without any uptime.
pub fn place_agent(boots: &[Vec<Observed>]) -> Vec<Option<Placed>> {
    let stats: Vec<BootStats> = boots.iter().map(|b| BootStats::of(b)).collect();
    place_boots(&stats).1
}

/// The agent's clock offset (collector minus agent) and the placement of each boot.
///
/// The offset is the smallest of the boots' `live - clock` differences: each is the offset
/// plus the delivery delay of that boot's fastest report, so the smallest is the offset plus
/// the shortest delay seen; a boot never seen live only adds a larger candidate. An agent
/// with no boot seen live has offset 0.
pub fn place_boots(boots: &[BootStats]) -> (i64, Vec<Option<Placed>>) {
    let offset = boots
        .iter()
        .filter_map(BootStats::seen_live)
        .min()
        .unwrap_or(0);
    let placed = boots
        .iter()
        .map(|b| {
            let live = b.live_ms?;
            let clock = b.clock_ms?.saturating_add(offset);
            let tolerance = LIVE_TOLERANCE_MS + 2 * b.max_interval_ms;
            Some(if live.saturating_sub(clock) <= tolerance {
                Placed {
                    anchor_ms: live,
                    live: true,
                }
            } else {
                Placed {
                    anchor_ms: clock,
                    live: false,
                }
            })
        })
        .collect();
    (offset, placed)
}

/// The agent's clock offset of [`place_boots`], from reports.
pub fn agent_offset(boots: &[Vec<Observed>]) -> i64 {
    let stats: Vec<BootStats> = boots.iter().map(|b| BootStats::of(b)).collect();
    place_boots(&stats).0
}

/// Collector-clock time of a report: `anchor + uptime`, or its agent time plus the agent's
/// offset when it carries no uptime or its boot could not be placed.
pub fn place(r: &Observed, boot: Option<Placed>, agent_offset_ms: i64) -> i64 {
    match (boot, r.uptime_ms) {
        (Some(p), Some(up)) => p.anchor_ms + up,
        _ => r.agent_ms + agent_offset_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const T0: i64 = 1_800_000_000_000;

    /// Reports every 5 minutes of a boot starting at `boot` (true time), the agent clock
    /// `skew` ahead, each received `delay(i)` after it was made.
    fn boot(boot: i64, n: i64, skew: i64, delay: impl Fn(i64) -> i64) -> Vec<Observed> {
        (1..=n)
            .map(|i| {
                let uptime = i * 5 * MIN;
                let t = boot + uptime;
                Observed {
                    agent_ms: t + skew,
                    received_ms: t + delay(i),
                    uptime_ms: Some(uptime),
                    interval_ms: 5 * MIN,
                }
            })
            .collect()
    }

    #[test]
    fn live_boot_is_anchored_by_receive_times_whatever_the_agent_clock() {
        let b = boot(T0, 12, 3_600_000, |_| 40);
        let p = place_agent(std::slice::from_ref(&b));
        let p = p[0].unwrap();
        assert!(p.live);
        assert_eq!(p.anchor_ms, T0 + 40);
        assert_eq!(place(&b[2], Some(p), 0), T0 + 15 * MIN + 40);
    }

    #[test]
    fn a_clock_step_inside_a_boot_moves_nothing() {
        let mut b = boot(T0, 12, 0, |_| 10);
        for r in &mut b[6..] {
            r.agent_ms -= 10 * MIN; // stepped back 10 minutes
        }
        let p = place_agent(std::slice::from_ref(&b))[0].unwrap();
        let times: Vec<i64> = b.iter().map(|r| place(r, Some(p), 0)).collect();
        let expected: Vec<i64> = (1..=12).map(|i| T0 + i * 5 * MIN + 10).collect();
        assert_eq!(times, expected);
    }

    #[test]
    fn backfill_does_not_move_a_live_boot() {
        // Reports 4..8 were held in the spool for 2 hours and arrived together.
        let b = boot(T0, 12, 0, |i| {
            if (4..=8).contains(&i) {
                2 * 60 * MIN
            } else {
                25
            }
        });
        let p = place_agent(std::slice::from_ref(&b))[0].unwrap();
        assert_eq!(p.anchor_ms, T0 + 25);
        assert_eq!(place(&b[4], Some(p), 0), T0 + 25 * MIN + 25);
    }

    #[test]
    fn a_boot_never_seen_live_is_placed_by_the_agent_clock_and_its_offset() {
        let skew = -90_000; // agent 90 s behind
        let live = boot(T0, 12, skew, |_| 30);
        // Boot 2 happened entirely while the collector was down: received hours later.
        let late = boot(T0 + 10 * 60 * MIN, 6, skew, |_| 5 * 60 * MIN);
        let placed = place_agent(&[live, late.clone()]);
        assert!(placed[0].unwrap().live);
        let p = placed[1].unwrap();
        assert!(!p.live);
        // The offset is the live boot's 90 s + 30 ms delay.
        assert_eq!(agent_offset(&[boot(T0, 12, skew, |_| 30)]), 90_030);
        assert_eq!(p.anchor_ms, T0 + 10 * 60 * MIN + 30);
    }

    #[test]
    fn reports_without_uptime_use_the_agent_clock_and_offset() {
        let r = Observed {
            agent_ms: T0,
            received_ms: T0 + 5,
            uptime_ms: None,
            interval_ms: MIN,
        };
        assert_eq!(place_agent(&[vec![r]]), vec![None]);
        assert_eq!(place(&r, None, 1_000), T0 + 1_000);
    }
}
