//! One host of a month from its rollup buckets (`crate::rollup`): where its boots lie on
//! the collector's clock ([`placement`]), what its reports cover near the month, its
//! capacity samples and its name and labels. Pure: the caller reads the buckets (from the
//! store, or made from raw reports), this only computes.
//!
//! The rules are those of `month::source` for reports, applied to buckets:
//!
//! - a boot's live anchor is the least of its buckets', its clock anchor the median of all
//!   its buckets' clock bins; the agent's offset and each boot's placement follow
//!   ([`placement::place_boots`]);
//! - a bucket of uptime is moved to the collector's clock by its boot's anchor, a bucket of
//!   agent-clock time (reports without an uptime) by the agent's offset;
//! - a boot's evidence is made of its buckets whose coverage meets `[lo, hi)` (the month
//!   with a day on either side); a boot without such a bucket is not given to the engine;
//! - a capacity sample is the lowest-sequence report of each hour of a bucket, kept when it
//!   lies between
//!   `sample_from` (the previous month's start) and the month's end;
//! - the host's name and labels are those of the latest report placed in the month, else of
//!   the bucket received last.

use std::collections::BTreeMap;

use super::placement::{self, BootStats, Placed};
use crate::month::sla::input::{BootEvidence, CapacitySample, FsSample, Interval};
use crate::rollup::{self, ClockBin, Identity, Mark, StoredBucket};

/// The times that matter to one month, collector clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Evidence is taken from buckets meeting `[lo, hi)`.
    pub lo: i64,
    /// See `lo`.
    pub hi: i64,
    /// The month, `[start, end)`: the name and labels are taken from reports in it.
    pub start: i64,
    /// See `start`.
    pub end: i64,
    /// Capacity samples are kept in `[sample_from, end)`.
    pub sample_from: i64,
}

/// Where an agent's boots lie: enough to place any of its reports (the link windows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentPlacement {
    /// The agent's clock offset, ms (collector minus agent).
    pub offset_ms: i64,
    /// Each boot's placement; `None` for a boot without uptime.
    pub boots: BTreeMap<String, Option<Placed>>,
}

impl AgentPlacement {
    /// Collector-clock time of a report of `boot_id` made at `agent_ms` with `uptime_ms`:
    /// its boot's anchor plus its uptime, or its agent time plus the offset.
    pub fn time(&self, boot_id: &str, uptime_ms: Option<i64>, agent_ms: i64) -> i64 {
        let boot = self.boots.get(boot_id).copied().flatten();
        match (boot, uptime_ms) {
            (Some(p), Some(up)) => p.anchor_ms.saturating_add(up),
            _ => agent_ms.saturating_add(self.offset_ms),
        }
    }
}

/// What one agent's buckets make of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentMonth {
    /// Where its boots lie.
    pub placement: AgentPlacement,
    /// Evidence of its boots near the month; empty when it reported nothing near it.
    pub boots: Vec<BootEvidence>,
    /// Mount points named by `capacity`.
    pub mounts: Vec<String>,
    /// Capacity samples of the previous month and this one.
    pub capacity: Vec<CapacitySample>,
    /// Name and labels (see the module docs).
    pub identity: Option<Identity>,
}

/// Computes [`AgentMonth`] from all the buckets of one agent that the month reads, in key
/// order (boot, bucket).
pub fn agent_month(buckets: &[StoredBucket], w: &Window) -> AgentMonth {
    // Boots in key order, as slices of `buckets`.
    let mut boots: Vec<&[StoredBucket]> = Vec::new();
    let mut i = 0;
    while i < buckets.len() {
        let j = i + buckets[i..]
            .iter()
            .take_while(|b| b.key.boot_id == buckets[i].key.boot_id)
            .count();
        boots.push(&buckets[i..j]);
        i = j;
    }
    let stats: Vec<BootStats> = boots.iter().map(|b| boot_stats(b)).collect();
    let (offset, placed) = placement::place_boots(&stats);

    let mut out = AgentMonth {
        placement: AgentPlacement {
            offset_ms: offset,
            boots: boots
                .iter()
                .zip(&placed)
                .map(|(b, p)| (b[0].key.boot_id.clone(), *p))
                .collect(),
        },
        ..AgentMonth::default()
    };
    let mut mount_index: BTreeMap<String, u32> = BTreeMap::new();
    // (placed time, sequence) of the latest report in the month, and the identity there.
    let mut newest: Option<((i64, u64), &Identity)> = None;
    let mut received_last: Option<(i64, &Identity)> = None;
    for (boot, place) in boots.iter().zip(&placed) {
        let shift = |bucket: i64| match (rollup::bucket_origin(bucket), place) {
            ((_, false), Some(p)) => p.anchor_ms,
            _ => offset,
        };
        let first_stated = boot
            .iter()
            .filter_map(|b| b.bucket.first)
            .min_by_key(|m| m.sequence)
            .map(|m| m.boot_time_ms);
        let start = match (place, first_stated) {
            (Some(p), _) => p.anchor_ms,
            (None, Some(t)) => t.saturating_add(offset),
            (None, None) => continue,
        };
        let mut coverage: Vec<Interval> = Vec::new();
        let mut last: Option<(i64, u64, i64)> = None;
        for b in boot.iter() {
            let s = shift(b.key.bucket);
            let bucket = &b.bucket;
            if let Some(id) = &bucket.identity
                && received_last.is_none_or(|(r, _)| bucket.received_max_ms > r)
            {
                received_last = Some((bucket.received_max_ms, id));
            }
            for sample in &bucket.samples {
                let at = s.saturating_add(sample.at);
                if (w.sample_from..w.end).contains(&at) {
                    out.capacity.push(capacity_sample(
                        sample,
                        at,
                        &mut mount_index,
                        &mut out.mounts,
                    ));
                }
            }
            let near = bucket
                .coverage
                .iter()
                .any(|c| c.from.saturating_add(s) < w.hi && c.to.saturating_add(s) > w.lo);
            if !near {
                continue;
            }
            coverage.extend(
                bucket
                    .coverage
                    .iter()
                    .map(|c| Interval::new(c.from.saturating_add(s), c.to.saturating_add(s))),
            );
            if let Some(Mark {
                sequence,
                at,
                interval_ms,
                ..
            }) = bucket.last
            {
                let t = at.saturating_add(s);
                if last.is_none_or(|(lt, ls, _)| (t, sequence) > (lt, ls)) {
                    last = Some((t, sequence, interval_ms));
                }
                if (w.start..w.end).contains(&t)
                    && let Some(id) = &bucket.identity
                    && newest.is_none_or(|(n, _)| (t, sequence) > n)
                {
                    newest = Some(((t, sequence), id));
                }
            }
        }
        let Some((last_ms, _, last_interval_ms)) = last else {
            continue;
        };
        out.boots.push(BootEvidence {
            start_ms: start,
            coverage: crate::month::sla::input::merge_intervals(coverage),
            last_ms,
            last_interval_ms,
        });
    }
    out.identity = newest
        .map(|(_, id)| id)
        .or(received_last.map(|(_, id)| id))
        .cloned();
    out
}

/// What placement needs of one boot, from its buckets.
fn boot_stats(boot: &[StoredBucket]) -> BootStats {
    let mut clock: Vec<ClockBin> = Vec::new();
    let mut live: Option<i64> = None;
    let mut max_interval = 0;
    for b in boot {
        max_interval = max_interval.max(b.bucket.max_interval_ms);
        if let Some(l) = b.bucket.live_anchor_ms {
            live = Some(live.map_or(l, |x: i64| x.min(l)));
        }
        clock.extend_from_slice(&b.bucket.clock);
    }
    BootStats {
        live_ms: live,
        clock_ms: placement::median_second(&mut clock),
        max_interval_ms: max_interval,
    }
}

fn capacity_sample(
    s: &rollup::Sample,
    at_ms: i64,
    index: &mut BTreeMap<String, u32>,
    mounts: &mut Vec<String>,
) -> CapacitySample {
    CapacitySample {
        at_ms,
        cpu_cores: s.cpu_cores,
        cpu_usage: s.cpu_usage,
        memory_total_bytes: s.memory_total_bytes,
        memory_used_bytes: s.memory_used_bytes,
        filesystems: s
            .filesystems
            .iter()
            .map(|f| {
                let next = mounts.len() as u32;
                let mount = *index.entry(f.mount.clone()).or_insert_with(|| {
                    mounts.push(f.mount.clone());
                    next
                });
                FsSample {
                    mount,
                    size_bytes: f.size_bytes,
                    used_bytes: f.used_bytes,
                    inodes: f.inodes_total.zip(f.inodes_free),
                }
            })
            .collect(),
        cpu_steal: s.cpu_steal,
        disks: s
            .disks
            .iter()
            .map(|d| (d.device.clone(), d.io_time_ms))
            .collect(),
        clock_synchronised: s.clock_synchronised,
    }
}
