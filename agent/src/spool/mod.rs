//! The durable report spool: every report is on disk before it is sent, and leaves the disk
//! only after the collector acknowledged it.
//!
//! # On-disk format
//!
//! `spool.dir` (default `<agent.state_dir>/spool`) holds:
//!
//! - **Segment files** `00000000000000000001.seg`, `...002.seg`: the number is 20 zero-padded
//!   decimal digits and only increases, so name order is append order. A segment is a plain
//!   sequence of records, no file header:
//!
//!   ```text
//!   +----------------+----------------+--------------------------+
//!   | length: u32 LE | crc32c: u32 LE | payload: `length` bytes  |  ... next record
//!   +----------------+----------------+--------------------------+
//!   ```
//!
//!   `payload` is the wire body, `zerofault_protocol::encode_report` (zstd protobuf), sent
//!   as is; `crc32c` is CRC-32C (Castagnoli) of the payload. A record is identified by
//!   (segment number, byte offset of its length field).
//! - **`state.json`**, replaced atomically (write `state.json.tmp`, fsync, rename, fsync the
//!   directory): the **ack cursor** (`ack_segment`, `ack_offset`: every record before it is
//!   acknowledged) and the persisted counters (`dropped_total`, `corrupt_total`,
//!   `acknowledged_total`, `send_errors`), plus `counted_damage` (segment and offset of each
//!   damaged place already counted, so a restart does not count it again; entries go with
//!   their segment).
//!
//! # Invariants
//!
//! 1. A report is appended and fsynced (`fdatasync`, one per record) before it is handed to
//!    the sender; a report the collector acknowledged was therefore on disk first.
//! 2. Only the process that created a segment appends to it, and only at its end; every
//!    start opens a new segment. Old segments are never rewritten, only deleted whole, so a
//!    torn write can only be the tail of a segment.
//! 3. A record is deleted only with its whole segment, and only when every record in it is
//!    acknowledged (the cursor is past it) or when the spool is full (oldest segment first,
//!    its unacknowledged records counted in `dropped_total`). Nothing else removes data,
//!    except a record that fails its checksum (counted in `corrupt_total`) and a report the
//!    collector refuses for good (4xx other than 429, logged).
//! 4. The cursor on disk may lag behind the acknowledgements (it is saved every
//!    [`SAVE_EVERY_ACKS`] acknowledgements, every [`SAVE_EVERY`] and at shutdown;
//!    acknowledgements beyond a gap are kept in memory only). After a crash the lagging part
//!    is sent again; the collector is idempotent on `(agent_id, boot_id, sequence)`, so a
//!    resend is acknowledged as a duplicate and counted once. Loss is never traded for this.
//! 5. Reading never trusts the disk: a short header, a length of 0 or above
//!    [`MAX_RECORD_BYTES`], or a length past the end of the file ends that segment; a
//!    checksum mismatch skips that one record. Each damaged place is counted once
//!    (`counted_damage` remembers it across restarts). Nothing in a segment can make the
//!    agent panic or refuse to start.
//! 6. The spool never stops collection: when a write fails (ENOSPC, EIO, ...) it seals the
//!    segment being written (so that even the only segment can go), drops the oldest
//!    segment and retries once; if that fails too the report is counted as dropped.
//! 7. The disk bounds the spool as well as `max_bytes`: before each new segment the free
//!    space of the filesystem is read (statvfs), and the spool holds at most what is there
//!    minus [`DISK_RESERVE_BYTES`] (kept free for `state.json`); after ENOSPC it holds at most
//!    what fitted. Segments are an eighth of the smaller bound, so a spool whose
//!    `max_bytes` is larger than its filesystem still drops the oldest eighth at a time,
//!    never the newest report.
//!
//! # fsync policy
//!
//! One `fdatasync` per record: the agent makes one report per interval (15 s by default),
//! so batching would save nothing and would widen the window of reports lost at power
//! failure. The directory is fsynced when a segment is created or deleted and when the
//! state file is renamed. Measured on the development machine: see docs/agent.md.

pub mod crc32c;
mod recover;
mod segment;
pub mod settings;
mod state;

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};
use zerofault_protocol::AgentStats;

pub use recover::SpoolError;
use recover::{recover, segment_numbers};
pub use segment::{
    Damage, HEADER_BYTES, MAX_RECORD_BYTES, RecordId, SEGMENT_SUFFIX, Scanned, scan, segment_name,
    segment_number,
};
use segment::{Entry, Segment, check_record, encode_record, remove_file, sync_dir};
pub use settings::{
    DEFAULT_BACKFILL_RATE, DEFAULT_MAX_BYTES, DEFAULT_SEGMENT_BYTES, MIN_MAX_BYTES, SpoolOptions,
};
use state::State;
pub use state::{SEND_ERROR_KINDS, STATE_FILE};

/// Free space left on the spool's filesystem for `state.json` and block rounding when the
/// disk, not `max_bytes`, bounds the spool.
pub const DISK_RESERVE_BYTES: u64 = 64 << 10;
/// Save the cursor after this many acknowledgements ...
pub const SAVE_EVERY_ACKS: u64 = 100;
/// ... or when the last save is older than this (monotonic clock). A save is a write, an
/// fsync, a rename and a directory fsync: at 5 s it followed every report at the default
/// 15 s interval. A crash resends at most this much (the collector counts a resend once).
pub const SAVE_EVERY: Duration = Duration::from_secs(60);

/// What the sender should send next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The newest report, appended since the last one was acknowledged: sent first, unpaced.
    Live(RecordId),
    /// The oldest unacknowledged report: sent behind live data at the backfill rate.
    Backlog(RecordId),
}

/// The spool. Synchronous (plain file I/O); the run loop calls it from blocking threads.
#[derive(Debug)]
pub struct Spool {
    options: SpoolOptions,
    /// Ascending; when `writer` is set, the last one is the segment being written.
    segments: VecDeque<Segment>,
    writer: Option<File>,
    next_segment: u64,
    /// Records not known to be acknowledged, in append order; the front is never acked.
    entries: VecDeque<Entry>,
    pending: u64,
    live: Option<RecordId>,
    state: State,
    reader: Option<(u64, File)>,
    last_save: Instant,
    acks_since_save: u64,
    /// Reports dropped in the current "spool full" episode, `None` outside one.
    full_episode: Option<u64>,
    /// A failed state save was logged; not again until one succeeds.
    save_failing: bool,
    /// Bytes the filesystem can hold for the spool, when that is less than `max_bytes`
    /// (read before each new segment, lowered to what fitted after ENOSPC).
    disk_room: Option<u64>,
    /// Test fault injection: the next this-many writes fail with ENOSPC.
    fail_writes: u32,
}

impl Spool {
    /// Opens the spool, creating the directory, and indexes every unacknowledged record.
    /// Damage in segments is counted and skipped; only an unusable directory fails.
    pub fn open(options: SpoolOptions) -> Result<Self, SpoolError> {
        let dir = options.dir.clone();
        std::fs::create_dir_all(&dir).map_err(|source| SpoolError::CreateDir {
            dir: dir.clone(),
            source,
        })?;
        let mut state = State::load(&dir);
        let numbers = segment_numbers(&dir)?;
        let next_segment = numbers
            .last()
            .copied()
            .unwrap_or(0)
            .max(state.ack_segment)
            .saturating_add(1);
        let recovered = recover(&dir, &numbers, &mut state);
        let mut spool = Self {
            next_segment,
            options,
            segments: recovered.segments,
            writer: None,
            entries: recovered.entries,
            pending: recovered.pending,
            live: None,
            state,
            reader: None,
            last_save: Instant::now(),
            acks_since_save: 0,
            full_episode: None,
            save_failing: false,
            disk_room: None,
            fail_writes: 0,
        };
        spool.advance_cursor();
        spool.save();
        spool.refresh_disk_room();
        if let Some(room) = spool.disk_room {
            warn!(
                dir = %dir.display(),
                max_bytes = spool.options.max_bytes,
                room_bytes = room,
                "spool.max_bytes is larger than the free space of the filesystem holding spool.dir; \
                 the disk bounds the spool (the oldest reports are dropped when it is full): \
                 lower spool.max_bytes or give spool.dir more space"
            );
        }
        if spool.pending > 0 {
            info!(
                reports = spool.pending,
                bytes = spool.bytes(),
                dir = %dir.display(),
                "spool holds unacknowledged reports from before; sending them as backlog"
            );
        }
        Ok(spool)
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.options.dir
    }

    /// Bytes of all segments.
    pub fn bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.bytes).sum()
    }

    /// Reports not yet acknowledged.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Reports dropped because the spool was full or a write failed, ever.
    pub fn dropped_total(&self) -> u64 {
        self.state.dropped_total
    }

    /// Damaged records skipped, ever.
    pub fn corrupt_total(&self) -> u64 {
        self.state.corrupt_total
    }

    /// Reports acknowledged by the collector, ever.
    pub fn acknowledged_total(&self) -> u64 {
        self.state.acknowledged_total
    }

    /// Ids of the unacknowledged records, oldest first.
    pub fn pending_ids(&self) -> Vec<RecordId> {
        self.entries
            .iter()
            .filter(|e| !e.acked)
            .map(|e| e.id)
            .collect()
    }

    /// Appends a report (`payload` = wire body, `timestamp_ms` its agent time) and fsyncs it.
    /// Never fails the caller: when it cannot be stored the report is counted as dropped
    /// and `None` is returned.
    pub fn append(&mut self, payload: &[u8], timestamp_ms: i64) -> Option<RecordId> {
        let record_bytes = HEADER_BYTES + payload.len() as u64;
        if payload.is_empty() || payload.len() > MAX_RECORD_BYTES as usize {
            error!(
                bytes = payload.len(),
                "bug: a report of this size cannot be spooled; dropping it"
            );
            self.count_dropped(1, "report size out of bounds");
            return None;
        }
        if let Some(current) = self.segments.back()
            && self.writer.is_some()
            && current.bytes > 0
            && current.bytes + record_bytes > self.segment_limit()
        {
            self.writer = None; // seal it; the next write starts a new segment
        }
        if self.writer.is_none() {
            // Once a segment, not per record: a statvfs is cheap, but free space moves
            // slowly compared with the report interval.
            self.refresh_disk_room();
        }
        while self.bytes() + record_bytes > self.bound() {
            if !self.drop_oldest_segment("spool full") {
                break;
            }
        }
        let mut last_error = None;
        for attempt in 0..2 {
            match self.write_record(payload) {
                Ok(id) => {
                    self.entries.push_back(Entry {
                        id,
                        len: payload.len() as u32,
                        timestamp_ms,
                        acked: false,
                    });
                    self.pending += 1;
                    self.live = Some(id);
                    return Some(id);
                }
                Err(e) if attempt == 0 => {
                    warn!(
                        dir = %self.options.dir.display(),
                        "cannot write a report to the spool ({e}); dropping the oldest segment to make room and retrying once"
                    );
                    // Sealed, so that a disk filled by the one segment being written can
                    // still be freed (the retry starts a new segment).
                    self.writer = None;
                    if e.kind() == std::io::ErrorKind::StorageFull {
                        // ENOSPC: what is held now is what fits; keep below it until the
                        // next segment reads the free space again.
                        self.set_disk_room(self.bytes());
                    }
                    // Full disk or a failing device: free the oldest data, as when full.
                    let mut freed = self.drop_oldest_segment("spool write failed");
                    while freed && self.bytes() + record_bytes > self.bound() {
                        freed = self.drop_oldest_segment("spool write failed");
                    }
                }
                Err(e) => last_error = Some(e),
            }
        }
        let e = last_error.map(|e| e.to_string()).unwrap_or_default();
        self.count_dropped(1, &format!("spool write failed twice: {e}"));
        None
    }

    /// The bound in force: `max_bytes`, or less when the disk holds less.
    fn bound(&self) -> u64 {
        self.disk_room.map_or(self.options.max_bytes, |room| {
            room.min(self.options.max_bytes)
        })
    }

    /// Reads the free space of the spool's filesystem and sets the bound from it. An error
    /// (statvfs unsupported) keeps what was known: ENOSPC is handled on its own.
    fn refresh_disk_room(&mut self) {
        match rustix::fs::statvfs(&self.options.dir) {
            Ok(st) => {
                let free = st.f_bavail.saturating_mul(st.f_frsize);
                let room = self
                    .bytes()
                    .saturating_add(free)
                    .saturating_sub(DISK_RESERVE_BYTES);
                self.set_disk_room(room);
            }
            Err(e) => {
                tracing::debug!(dir = %self.options.dir.display(), "statvfs of the spool directory failed: {e}")
            }
        }
    }

    fn set_disk_room(&mut self, room: u64) {
        self.disk_room = (room < self.options.max_bytes).then_some(room);
    }

    /// Size at which the current segment is sealed: `options.segment_bytes`, or an eighth of
    /// the room (at least 4 KiB) when the disk bounds the spool.
    fn segment_limit(&self) -> u64 {
        self.disk_room.map_or(self.options.segment_bytes, |room| {
            self.options.segment_bytes.min((room / 8).max(4096))
        })
    }

    /// Writes one record at the end of the current segment (creating one if needed).
    fn write_record(&mut self, payload: &[u8]) -> std::io::Result<RecordId> {
        if self.fail_writes > 0 {
            self.fail_writes -= 1;
            return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
        }
        if self.writer.is_none() {
            let number = self.next_segment;
            let path = self.options.dir.join(segment_name(number));
            let file = match File::options().create_new(true).append(true).open(&path) {
                Ok(f) => f,
                Err(e) => {
                    // A file of that name (left by someone else) must not block every
                    // later write: the next attempt takes the next number.
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        self.next_segment = number + 1;
                    }
                    return Err(e);
                }
            };
            // The new name must survive a power loss, or its fsynced records are lost.
            if let Err(e) = sync_dir(&self.options.dir) {
                drop(file);
                self.remove_file(&path);
                return Err(e);
            }
            self.next_segment = number + 1;
            self.segments.push_back(Segment { number, bytes: 0 });
            self.writer = Some(file);
        }
        let segment = self.segments.back_mut().expect("writer implies a segment");
        let file = self.writer.as_mut().expect("writer set above");
        let offset = segment.bytes;
        let record = encode_record(payload);
        let result = file.write_all(&record).and_then(|()| file.sync_data());
        match result {
            Ok(()) => {
                segment.bytes += record.len() as u64;
                Ok(RecordId {
                    segment: segment.number,
                    offset,
                })
            }
            Err(e) => {
                // Cut off what part of the record reached the file; if even that fails,
                // seal the segment so nothing is appended behind a torn record (the next
                // start counts that tail as damage).
                if file
                    .set_len(offset)
                    .and_then(|()| file.sync_data())
                    .is_err()
                {
                    self.writer = None;
                    if let Ok(meta) =
                        std::fs::metadata(self.options.dir.join(segment_name(segment.number)))
                    {
                        segment.bytes = meta.len();
                    }
                }
                Err(e)
            }
        }
    }

    /// Deletes the oldest segment that is not being written; its unacknowledged records are
    /// counted as dropped. Returns false when there is none.
    fn drop_oldest_segment(&mut self, why: &str) -> bool {
        let writing = self.writer.is_some();
        let droppable = if writing {
            self.segments.len().saturating_sub(1)
        } else {
            self.segments.len()
        };
        if droppable == 0 {
            return false;
        }
        let Some(segment) = self.segments.pop_front() else {
            return false;
        };
        let mut lost = 0;
        while self
            .entries
            .front()
            .is_some_and(|e| e.id.segment == segment.number)
        {
            let e = self.entries.pop_front().expect("front checked");
            if !e.acked {
                lost += 1;
                self.pending -= 1;
            }
            if self.live == Some(e.id) {
                self.live = None;
            }
        }
        if self
            .reader
            .as_ref()
            .is_some_and(|(n, _)| *n == segment.number)
        {
            self.reader = None;
        }
        self.remove_file(&self.options.dir.join(segment_name(segment.number)));
        self.count_dropped(lost, why);
        self.advance_cursor();
        true
    }

    fn count_dropped(&mut self, lost: u64, why: &str) {
        if lost == 0 {
            return;
        }
        self.state.dropped_total = self.state.dropped_total.saturating_add(lost);
        match &mut self.full_episode {
            Some(n) => *n += lost,
            None => {
                // Once per episode: a long outage would otherwise log every interval.
                warn!(
                    dropped = lost,
                    dropped_total = self.state.dropped_total,
                    max_bytes = self.options.max_bytes,
                    dir = %self.options.dir.display(),
                    "{why}: dropping the oldest unsent reports (collection continues); raise spool.max_bytes or restore the collector"
                );
                self.full_episode = Some(lost);
            }
        }
        self.save();
    }

    fn remove_file(&self, path: &Path) {
        remove_file(&self.options.dir, path);
    }

    /// What to send next: the newest report if it is not acknowledged yet, else the oldest
    /// unacknowledged one.
    pub fn next_to_send(&self) -> Option<Next> {
        if let Some(id) = self.live {
            return Some(Next::Live(id));
        }
        self.entries
            .iter()
            .find(|e| !e.acked)
            .map(|e| Next::Backlog(e.id))
    }

    fn position(&self, id: RecordId) -> Option<usize> {
        self.entries.binary_search_by(|e| e.id.cmp(&id)).ok()
    }

    /// Reads and checks one record. A record that fails its checksum or cannot be read is
    /// counted as corrupt and removed (it can never be sent); `None` then.
    pub fn read(&mut self, id: RecordId) -> Option<Vec<u8>> {
        let i = self.position(id)?;
        let len = self.entries[i].len;
        match self.read_at(id, len) {
            Ok(payload) => Some(payload),
            Err(why) => {
                error!(
                    segment = id.segment,
                    offset = id.offset,
                    "spool record unreadable ({why}); skipping it"
                );
                self.state.corrupt_total += self.state.count_damage_once(id.segment, id.offset);
                self.settle(id, false);
                self.save();
                None
            }
        }
    }

    fn read_at(&mut self, id: RecordId, len: u32) -> Result<Vec<u8>, String> {
        if self.reader.as_ref().is_none_or(|(n, _)| *n != id.segment) {
            let path = self.options.dir.join(segment_name(id.segment));
            let file = File::open(&path).map_err(|e| e.to_string())?;
            self.reader = Some((id.segment, file));
        }
        let (_, file) = self.reader.as_ref().expect("opened above");
        let mut buf = vec![0u8; HEADER_BYTES as usize + len as usize];
        file.read_exact_at(&mut buf, id.offset)
            .map_err(|e| e.to_string())?;
        check_record(buf, len)
    }

    /// Marks a record acknowledged by the collector.
    pub fn ack(&mut self, id: RecordId) {
        if self.settle(id, true) {
            self.acks_since_save += 1;
            if self.acks_since_save >= SAVE_EVERY_ACKS || self.last_save.elapsed() >= SAVE_EVERY {
                self.save();
            }
        }
    }

    /// Removes a report the collector refused for good (4xx other than 429): resending the
    /// same bytes would be refused forever and block everything behind it.
    pub fn discard(&mut self, id: RecordId) {
        if self.settle(id, false) {
            self.save();
        }
    }

    /// Marks `id` done; returns false when it was not pending.
    fn settle(&mut self, id: RecordId, acknowledged: bool) -> bool {
        let Some(i) = self.position(id) else {
            return false;
        };
        if self.entries[i].acked {
            return false;
        }
        self.entries[i].acked = true;
        self.pending -= 1;
        if acknowledged {
            self.state.acknowledged_total = self.state.acknowledged_total.saturating_add(1);
        }
        if self.live == Some(id) {
            self.live = None;
        }
        while self.entries.front().is_some_and(|e| e.acked) {
            self.entries.pop_front();
        }
        self.advance_cursor();
        if self.pending == 0
            && let Some(n) = self.full_episode.take()
        {
            info!(
                dropped_in_episode = n,
                "spool drained; no longer dropping reports"
            );
        }
        true
    }

    /// Moves the cursor to the first unacknowledged record (or the next write position) and
    /// deletes sealed segments wholly before it.
    fn advance_cursor(&mut self) {
        let cursor = match self.entries.front() {
            Some(e) => e.id,
            None => match (self.writer.is_some(), self.segments.back()) {
                (true, Some(s)) => RecordId {
                    segment: s.number,
                    offset: s.bytes,
                },
                _ => RecordId {
                    segment: self.next_segment,
                    offset: 0,
                },
            },
        };
        self.state.ack_segment = cursor.segment;
        self.state.ack_offset = cursor.offset;
        let writing = self
            .writer
            .as_ref()
            .and(self.segments.back().map(|s| s.number));
        while let Some(front) = self.segments.front() {
            if front.number >= cursor.segment || Some(front.number) == writing {
                break;
            }
            let n = front.number;
            self.segments.pop_front();
            if self.reader.as_ref().is_some_and(|(r, _)| *r == n) {
                self.reader = None;
            }
            self.remove_file(&self.options.dir.join(segment_name(n)));
        }
    }

    /// Makes the next `n` writes fail with ENOSPC (tests of the full-disk path).
    #[cfg(test)]
    pub(crate) fn inject_write_failures(&mut self, n: u32) {
        self.fail_writes = n;
    }

    /// Counts one failed delivery attempt of `kind` (one of [`SEND_ERROR_KINDS`]).
    pub fn count_send_error(&mut self, kind: &str) {
        let n = self.state.send_errors.entry(kind.to_owned()).or_default();
        *n = n.saturating_add(1);
    }

    /// The agent's delivery statistics for the next report.
    pub fn stats(&mut self) -> AgentStats {
        let oldest = self.oldest_unsent_unix_ms();
        AgentStats {
            spool_bytes: self.bytes(),
            spool_reports: self.pending,
            oldest_unsent_unix_ms: oldest,
            spool_dropped_total: self.state.dropped_total,
            spool_corrupt_total: self.state.corrupt_total,
            send_errors_total: self.state.send_errors_total(),
            reports_acknowledged_total: self.state.acknowledged_total,
        }
    }

    /// Agent timestamp of the oldest unacknowledged report (0 when none). Records found at
    /// start-up carry no timestamp in the index; the oldest one is decoded once, on demand.
    fn oldest_unsent_unix_ms(&mut self) -> i64 {
        let Some(front) = self.entries.front() else {
            return 0;
        };
        if front.timestamp_ms != 0 {
            return front.timestamp_ms;
        }
        let (id, len) = (front.id, front.len);
        let ts = self
            .read_at(id, len)
            .ok()
            .and_then(|p| zerofault_protocol::decode_report(&p, 64 << 20).ok())
            .map_or(0, |r| r.timestamp_unix_ms);
        if let Some(front) = self.entries.front_mut() {
            front.timestamp_ms = ts;
        }
        ts
    }

    /// Persists the cursor and counters now (also done from time to time by [`Spool::ack`]).
    pub fn save(&mut self) {
        self.last_save = Instant::now();
        self.acks_since_save = 0;
        let path = self.options.dir.join(STATE_FILE);
        match self.state.write(&self.options.dir) {
            Ok(()) => self.save_failing = false,
            Err(e) => {
                if !self.save_failing {
                    warn!(path = %path.display(), "cannot save the spool state ({e}); acknowledged reports may be sent again after a restart (the collector drops duplicates)");
                }
                self.save_failing = true;
            }
        }
    }
}

#[cfg(test)]
mod tests;
