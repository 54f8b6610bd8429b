//! An hour of the series as stored: one row per agent and hour (`series_1h`: the host
//! figures of its 12 slots and which reports are in them) and one per link, hour and
//! vantage point (`link_series_1h`). Pure: grouped, merged, packed, unpacked; no store.
//!
//! # Why hour rows, and how they are packed
//!
//! One row per 5-minute slot cost 164 KB per agent per day on SQLite, mostly per-row
//! overhead (keys, indexes, a protobuf per slot naming every figure again). An hour row pays
//! that once for 12 slots, and is packed by column: each figure (kind, mount) once per row,
//! a bitmap of the slots that have it, and its counts, sums, minima and maxima as packed
//! varints, each the difference from the figure's previous slot (zigzag), so a figure that
//! changes little costs a few bytes a slot. A day row would pack a little better but be
//! rewritten (read-merge-write) at every flush of the day, up to 24 times larger.
//!
//! The body is then zstd-compressed (level 1, as the host rollups) when that is smaller: a
//! row repeats the same varint patterns slot after slot, and an hour row is large enough
//! for that to pay (docs/series.md has both sizes); a first byte says which.
//!
//! # Counted once, per row
//!
//! A host row keeps one coverage (report sequences per boot) for the whole hour, not one per
//! slot: a report has one place ([`super::slot::placement`] of its own time and receipt,
//! both stored), so "this row holds the report" is "its slot holds it", and an hour of
//! consecutive reports is one range instead of 12. A piece whose reports the row holds is
//! found overlapping, as before; the crash rebuild asks the row of the piece's hour.
//!
//! # Bounds
//!
//! A row holds at most [`SLOTS_PER_HOUR`] slots, [`super::slot::MAX_FILESYSTEMS`] distinct mount points
//! (for bytes, and again for inodes) and [`super::slot::MAX_DISKS`] block devices over the
//! hour (the smallest names, so capping stays order-free), two boots' report times a slot
//! and [`MAX_ROW_COVERAGE`] ranges; a slot that would pass the coverage cap is left out whole
//! and counted ([`Merged::capped`]), never stored half.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use super::slot::{
    Covered, Figure, HostRow, Kind, LinkRow, MAX_COVERAGE, Merged, SLOT_MS, SeriesKey, SeriesSlot,
    merged_figures, overlaps, union,
};

/// Length of a stored row: an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Slots in a row.
pub const SLOTS_PER_HOUR: usize = (HOUR_MS / SLOT_MS) as usize;
/// Most coverage ranges in a host row: as many as its slots may hold in memory together.
pub const MAX_ROW_COVERAGE: usize = SLOTS_PER_HOUR * MAX_COVERAGE;

/// Largest unpacked body read: above the fullest row (64 mounts of 255 bytes for bytes and
/// for inodes, 32 devices of 255 bytes, 24 boots, 768 coverage ranges, values that do not
/// pack: measured by `the_fullest_hour_row_packs_within_the_read_bound`), so a damaged frame
/// cannot make a reader allocate more.
pub const MAX_HOUR_BYTES: usize = 256 << 10;
/// First byte of a body: the packed protobuf follows as it is.
const PLAIN: u8 = 0;
/// First byte of a body: a zstd frame of the packed protobuf follows.
const ZSTD: u8 = 1;
/// zstd level: the fastest; a row is rewritten at every flush of its hour.
const LEVEL: i32 = 1;

/// A slot start and its figures, as a read gives them.
pub type SlotFigures = (i64, Vec<Figure>);
/// A slot and the coverage of its stored hour row, as the crash rebuild reads them.
pub type KeyCoverage = (SeriesKey, Vec<Covered>);
/// A link row's key in a flush: link, hour start, agent.
pub type LinkHourKey<'a> = (&'a str, i64, &'a str);

/// The hour start of a time: the hour boundary (UTC) at or before it.
pub fn hour_of(t_ms: i64) -> i64 {
    t_ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// An hour row, unpacked: the figures of each slot that has any, by slot start, and (host
/// rows) which reports are in the hour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hour {
    /// Reports in any slot of the hour, sorted, coalesced; empty in a link row.
    pub coverage: Vec<Covered>,
    /// Figures of each slot, sorted by (kind, name); no slot without figures.
    pub slots: BTreeMap<i64, Vec<Figure>>,
}

/// One figure over the slots of an hour, as stored.
#[derive(Clone, PartialEq, Eq, prost::Message)]
struct Column {
    /// [`Kind`] as a number.
    #[prost(uint32, tag = "1")]
    kind: u32,
    /// Mount point of a filesystem figure; empty otherwise.
    #[prost(string, tag = "2")]
    name: String,
    /// Bit `i` set: slot `i` of the hour has the figure. One value below per bit, in order.
    #[prost(uint32, tag = "3")]
    slots: u32,
    #[prost(uint64, repeated, tag = "4")]
    count: Vec<u64>,
    /// Sum, minus the previous slot's (zigzag; the first from 0).
    #[prost(sint64, repeated, tag = "5")]
    sum: Vec<i64>,
    /// Minimum, minus the previous slot's.
    #[prost(sint64, repeated, tag = "6")]
    min: Vec<i64>,
    /// Maximum, minus the previous slot's.
    #[prost(sint64, repeated, tag = "7")]
    max: Vec<i64>,
}

/// A stored row's body.
#[derive(Clone, PartialEq, Eq, prost::Message)]
struct Packed {
    #[prost(message, repeated, tag = "1")]
    coverage: Vec<Covered>,
    /// Sorted by (kind, name).
    #[prost(message, repeated, tag = "2")]
    columns: Vec<Column>,
}

fn delta(v: u64, prev: &mut u64) -> i64 {
    let d = (v as i64).wrapping_sub(*prev as i64);
    *prev = v;
    d
}

fn undelta(d: i64, prev: &mut u64) -> u64 {
    *prev = (*prev as i64).wrapping_add(d) as u64;
    *prev
}

impl Hour {
    /// The stored body of this row, whose hour starts at `hour_start_ms`.
    pub fn pack(&self, hour_start_ms: i64) -> Vec<u8> {
        let mut columns: BTreeMap<(u32, &str), (Column, [u64; 3])> = BTreeMap::new();
        for (slot, figures) in &self.slots {
            let index = (slot - hour_start_ms).div_euclid(SLOT_MS);
            if !(0..SLOTS_PER_HOUR as i64).contains(&index) {
                continue;
            }
            for f in figures {
                let (c, prev) = columns.entry((f.kind, &f.name)).or_insert_with(|| {
                    let column = Column {
                        kind: f.kind,
                        name: f.name.clone(),
                        ..Column::default()
                    };
                    (column, [0; 3])
                });
                c.slots |= 1 << index;
                c.count.push(f.count);
                c.sum.push(delta(f.sum, &mut prev[0]));
                c.min.push(delta(f.min, &mut prev[1]));
                c.max.push(delta(f.max, &mut prev[2]));
            }
        }
        let raw = Packed {
            coverage: self.coverage.clone(),
            columns: columns.into_values().map(|(c, _)| c).collect(),
        }
        .encode_to_vec();
        let mut out = Vec::with_capacity(raw.len() + 1);
        match zstd::bulk::compress(&raw, LEVEL) {
            Ok(z) if z.len() < raw.len() => {
                out.push(ZSTD);
                out.extend_from_slice(&z);
            }
            _ => {
                out.push(PLAIN);
                out.extend_from_slice(&raw);
            }
        }
        out
    }

    /// The row stored as `body` for the hour starting at `hour_start_ms`; why not, if it
    /// does not decode.
    pub fn unpack(hour_start_ms: i64, body: &[u8]) -> Result<Hour, String> {
        let raw = match body.split_first() {
            Some((&PLAIN, raw)) => std::borrow::Cow::Borrowed(raw),
            Some((&ZSTD, frame)) => {
                let size = match zstd::zstd_safe::get_frame_content_size(frame) {
                    Ok(Some(n)) if n <= MAX_HOUR_BYTES as u64 => n as usize,
                    _ => {
                        return Err(format!(
                            "not a zstd frame of at most {MAX_HOUR_BYTES} bytes"
                        ));
                    }
                };
                let raw = zstd::bulk::decompress(frame, size).map_err(|e| e.to_string())?;
                std::borrow::Cow::Owned(raw)
            }
            _ => return Err("unknown body format".into()),
        };
        let packed = Packed::decode(raw.as_ref()).map_err(|e| e.to_string())?;
        let mut out = Hour {
            coverage: packed.coverage,
            slots: BTreeMap::new(),
        };
        for c in packed.columns {
            let n = c.slots.count_ones() as usize;
            if [c.count.len(), c.sum.len(), c.min.len(), c.max.len()] != [n; 4] {
                return Err(format!("column {} {:?}: {n} slots", c.kind, c.name));
            }
            let mut prev = [0u64; 3];
            let indexes = (0..32).filter(|i| c.slots & (1 << i) != 0);
            for (i, index) in indexes.enumerate() {
                let f = Figure {
                    kind: c.kind,
                    name: c.name.clone(),
                    count: c.count[i],
                    sum: undelta(c.sum[i], &mut prev[0]),
                    min: undelta(c.min[i], &mut prev[1]),
                    max: undelta(c.max[i], &mut prev[2]),
                };
                if index < SLOTS_PER_HOUR as i64 {
                    let slot = hour_start_ms + index * SLOT_MS;
                    out.slots.entry(slot).or_default().push(f);
                }
            }
        }
        for figures in out.slots.values_mut() {
            figures.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        }
        Ok(out)
    }

    /// Adds one agent's host piece of the slot starting at `slot_start_ms` (in this hour).
    /// Order-free, as [`SeriesSlot::merge`]; a piece whose reports would pass
    /// [`MAX_ROW_COVERAGE`] is left out whole.
    pub fn merge_host(&mut self, slot_start_ms: i64, piece: &HostRow) -> Merged {
        let coverage = union(&self.coverage, &piece.coverage);
        if coverage.len() > MAX_ROW_COVERAGE {
            return Merged {
                overlapped: 0,
                capped: 1,
            };
        }
        let overlapped = piece.coverage.iter().any(|c| overlaps(&self.coverage, c));
        self.coverage = coverage;
        let capped = self.add(slot_start_ms, &piece.figures, true) + self.cap_names();
        Merged {
            overlapped: u64::from(overlapped),
            capped,
        }
    }

    /// Adds one vantage point's link piece of the slot starting at `slot_start_ms`.
    pub fn merge_link(&mut self, slot_start_ms: i64, piece: &LinkRow) -> Merged {
        self.add(slot_start_ms, &piece.figures, false);
        Merged::default()
    }

    fn add(&mut self, slot: i64, figures: &[Figure], capped: bool) -> u64 {
        if figures.is_empty() {
            return 0;
        }
        let mine = self.slots.remove(&slot).unwrap_or_default();
        let (merged, capped) = merged_figures(mine, figures.to_vec(), capped);
        if !merged.is_empty() {
            self.slots.insert(slot, merged);
        }
        capped
    }

    /// Keeps of each named kind the [`Kind::name_cap`] smallest names of the hour (mount
    /// points, devices): a name kept in the end is among the smallest of every part, so
    /// whatever the order of the pieces, none of its values was left out on the way. Report
    /// times are capped per slot only (two boots a slot, so at most 24 an hour).
    fn cap_names(&mut self) -> u64 {
        let mut capped = 0;
        for kind in [Kind::Filesystem, Kind::Inodes, Kind::DiskBusyMs] {
            let Some(cap) = kind.name_cap() else {
                continue;
            };
            let k = kind as u32;
            let names: BTreeSet<&str> = self
                .slots
                .values()
                .flatten()
                .filter(|f| f.kind == k)
                .map(|f| f.name.as_str())
                .collect();
            let Some(last) = names.iter().nth(cap).map(|n| n.to_string()) else {
                continue;
            };
            for figures in self.slots.values_mut() {
                let before = figures.len();
                figures.retain(|f| f.kind != k || f.name < last);
                capped += (before - figures.len()) as u64;
            }
        }
        self.slots.retain(|_, figures| !figures.is_empty());
        capped
    }
}

/// A flush's slots by the rows they go to: host pieces by (agent, hour), link pieces by
/// (link, hour, agent), each with its slot start; in key order.
#[derive(Debug, Default)]
pub struct ByHour<'a> {
    /// Host pieces of each (agent, hour start).
    pub hosts: BTreeMap<(&'a str, i64), Vec<(i64, &'a HostRow)>>,
    /// Link pieces of each (link, hour start, agent).
    pub links: BTreeMap<LinkHourKey<'a>, Vec<(i64, &'a LinkRow)>>,
}

/// Groups `slots` by the hour rows they merge into.
pub fn by_hour(slots: &[(SeriesKey, SeriesSlot)]) -> ByHour<'_> {
    let mut out = ByHour::default();
    for (key, slot) in slots {
        let hour = hour_of(key.slot_start_ms);
        out.hosts
            .entry((key.agent_id.as_str(), hour))
            .or_default()
            .push((key.slot_start_ms, &slot.host));
        for (link, row) in &slot.links {
            out.links
                .entry((link.as_str(), hour, key.agent_id.as_str()))
                .or_default()
                .push((key.slot_start_ms, row));
        }
    }
    out
}

/// `row` with the host `pieces` merged in, and what the merges left out.
pub fn merge_hosts(mut row: Hour, pieces: &[(i64, &HostRow)]) -> (Hour, Merged) {
    let mut out = Merged::default();
    for (slot, piece) in pieces {
        out.add(row.merge_host(*slot, piece));
    }
    (row, out)
}

/// `row` with the link `pieces` merged in.
pub fn merge_links(mut row: Hour, pieces: &[(i64, &LinkRow)]) -> Hour {
    for (slot, piece) in pieces {
        row.merge_link(*slot, piece);
    }
    row
}
