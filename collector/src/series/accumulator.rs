//! The open slots in memory: ingest adds every newly stored report, the flush takes the
//! complete ones (`super::flush`). Bounded in entries; a slot row is bounded by the caps of
//! [`super::slot`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;
use zerofault_protocol::Report;

use super::slot::{SLOT_MS, SeriesKey, SeriesSlot};

/// How long after its end a slot stays open for reports still on their way (an agent's
/// report made at 12:04:59 arrives a moment later; one delayed by a retry a little later).
/// What comes later still is merged into the stored row.
pub const GRACE_MS: i64 = 60_000;
/// Most open slots held: a province's 50,000 agents hold about two each (the current slot
/// and, during the grace, the previous one), a backfill burst a few more until the next
/// flush. Past it a report of a new slot is left out of the series (and counted), so no
/// agent can make the collector's memory grow.
pub const MAX_ENTRIES: usize = 400_000;
/// Open slots past which the flush is woken early instead of at its next tick: a backlog
/// drained by many agents at once fills complete (old) slots fast.
pub const FLUSH_EARLY_ENTRIES: usize = 150_000;

/// The open slots, by agent and slot start.
#[derive(Debug, Default)]
pub struct Accumulator {
    entries: Mutex<HashMap<SeriesKey, SeriesSlot>>,
    /// Reports left out of the series since the last [`Accumulator::take_dropped`].
    dropped: AtomicU64,
    /// Woken when the entries pass [`FLUSH_EARLY_ENTRIES`].
    crowded: Notify,
}

/// True when the slot starting at `slot_start_ms` can take no more live reports at
/// `now_ms`: its end and the grace have passed.
pub fn complete(slot_start_ms: i64, now_ms: i64) -> bool {
    slot_start_ms.saturating_add(SLOT_MS + GRACE_MS) <= now_ms
}

impl Accumulator {
    /// Adds a newly stored report, received at `received_ms`.
    pub fn observe(&self, report: &Report, received_ms: i64) {
        let (key, slot) = SeriesSlot::of_report(report, received_ms);
        self.add(key, slot);
    }

    /// Adds one report's slot piece (or any piece whose reports this accumulator does not
    /// hold yet). A piece whose reports are all held already adds nothing. Returns false when
    /// it was left out (too many open slots, or its slot's coverage full).
    pub fn add(&self, key: SeriesKey, piece: SeriesSlot) -> bool {
        let crowded;
        {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get_mut(&key) {
                Some(open) => {
                    if open.covers(&piece) {
                        return true;
                    }
                    if !open.has_room_for(&piece) {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        return false;
                    }
                    open.merge(&piece);
                }
                None => {
                    if entries.len() >= MAX_ENTRIES {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                        return false;
                    }
                    entries.insert(key, piece);
                }
            }
            crowded = entries.len() >= FLUSH_EARLY_ENTRIES;
        }
        if crowded {
            self.crowded.notify_one();
        }
        true
    }

    /// Removes and returns the slots complete at `now_ms`, in key order.
    pub fn take_complete(&self, now_ms: i64) -> Vec<(SeriesKey, SeriesSlot)> {
        self.take(|key| complete(key.slot_start_ms, now_ms))
    }

    /// Removes and returns every open slot, in key order: the last flush at shutdown.
    pub fn take_all(&self) -> Vec<(SeriesKey, SeriesSlot)> {
        self.take(|_| true)
    }

    fn take(&self, pick: impl Fn(&SeriesKey) -> bool) -> Vec<(SeriesKey, SeriesSlot)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<SeriesKey> = entries.keys().filter(|k| pick(k)).cloned().collect();
        let mut out: Vec<(SeriesKey, SeriesSlot)> = keys
            .into_iter()
            .filter_map(|k| entries.remove_entry(&k))
            .collect();
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Puts back slots whose write failed, merged with what arrived meanwhile, so that the
    /// next flush writes them. Not bounded by [`MAX_ENTRIES`]: they were held before.
    pub fn restore(&self, slots: Vec<(SeriesKey, SeriesSlot)>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for (key, slot) in slots {
            match entries.get_mut(&key) {
                Some(open) => {
                    open.merge(&slot);
                }
                None => {
                    entries.insert(key, slot);
                }
            }
        }
    }

    /// Open slots held.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no slot is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reports left out since the last call, and resets the count.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }

    /// Resolves when the open slots passed [`FLUSH_EARLY_ENTRIES`] (since the last wait).
    pub async fn crowded(&self) {
        self.crowded.notified().await
    }
}
