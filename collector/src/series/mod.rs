//! The downsampled series for history (issue 13): per agent and 5-minute slot, count, sum,
//! min and max of its capacity figures (CPU busy, steal and iowait ratios, memory used ratio,
//! 1-minute load, each filesystem's used ratio of bytes and of inodes by mount, clock
//! unsynchronised; and counters since boot, each disk's busy time and the pressure stall
//! times, drawn as their growth over the slot, `slot::rate`), and per link it probes (as a
//! vantage point) of the windows' loss ratio, mean RTT and jitter. Kept `retention.series` (default 40 days):
//! the cockpit's 24 h / 7 d / 30 d charts read them (`GET /api/v1/hosts/{agent}/series`,
//! `GET /api/v1/links/{link}/series`, docs/series.md).
//!
//! # Design, and why
//!
//! - **In memory, written once.** Ingest adds each newly stored report to an
//!   [`accumulator::Accumulator`] keyed by (agent, slot); every 15 s the flush writes the
//!   slots that are complete (end + 1 minute of grace passed), merged into their hour rows
//!   ([`hour`]): `series_1h` (one row per agent and hour: coverage and the host figures of
//!   its 12 slots, packed by column) and `link_series_1h` (one row per link, hour and
//!   vantage point, so that a link's series is one key range). Writing per report instead
//!   would be a read-merge-write per report, as the host rollups cost; once per slot is 20
//!   times fewer writes at a 15 s interval (167 a second for 50,000 agents). One row per
//!   hour rather than per slot: a twelfth of the keys and index entries, each figure named
//!   once an hour, values as differences from the previous slot; about 8 times less disk
//!   (docs/series.md has the measurement).
//! - **Which slot.** A report's own time (agent clock), so that a backfilled report lands
//!   where it was made, and live and backfilled reports of one moment share a slot; but
//!   never later than its receipt ([`slot::placement`]), so that no slot is in the future
//!   of the collector's clock. An agent whose clock lags shifts its points by its offset
//!   (docs/delivery.md shows the offset); its reports still count once.
//! - **Late reports.** A report of a slot already written is a new piece of it, written
//!   at the next flush by merging into the stored row (read-merge-write). Merging is exact
//!   and order-free: figures are integers in fixed units (count and sum add, min and max
//!   take the extreme), so a slot is the same whatever order its pieces came in.
//! - **Counted once: coverage.** Every slot in memory and every stored hour row says which
//!   reports it holds (per boot, ranges of sequences; normally one range). A piece whose
//!   reports a row already holds is not added again. This is what makes the crash rebuild exact whatever the
//!   timing of flushes and commits.
//! - **Crash.** A crash loses what memory held: reports received in the last
//!   [`flush::HELD_MS`] (about 7.5 minutes) before it. At the next start the collector reads
//!   the reports its crashed run may have held (those received around its last heartbeat,
//!   `collector_runs`) and adds those that no stored row covers. It waits until that window
//!   is [`flush::HELD_MS`] old first, so that another collector of the same database that
//!   received some of them has written them: what is then still uncovered was lost by the
//!   crash and no one else holds it. A clean stop writes every open slot, so a clean
//!   restart rebuilds nothing.
//! - **Bounded.** At most [`accumulator::MAX_ENTRIES`] open slots (a report of a new slot
//!   past it is left out and counted); a slot holds at most 64 filesystems, 256 links and 64
//!   coverage ranges, an hour row 12 slots, 64 mount points and 768 ranges, names are
//!   bounded ([`slot`], [`hour`]); a read returns at most 31 days.
//! - **Several collectors.** Each keeps its own accumulator; rows merge. An agent that moves
//!   between collectors mid-slot has pieces in two of them, merged on write. Two collectors
//!   holding the same report at once is only possible around a crash rebuild, which waits
//!   for the others (above); if one could not write for longer than that wait, the merge
//!   finds the overlap, logs it, and those reports count twice in that slot.

pub mod accumulator;
pub mod flush;
pub mod hour;
pub mod slot;

#[cfg(test)]
mod hour_tests;
#[cfg(test)]
mod tests;

pub use accumulator::Accumulator;
pub use slot::{SLOT_MS, SeriesKey, SeriesSlot};
