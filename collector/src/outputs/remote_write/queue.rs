//! The durable queue of one remote-write URL: what was stored and not yet delivered, on
//! disk, so that a receiver outage or a collector restart loses nothing, and bounded, so that
//! a receiver that never comes back cannot fill the disk.
//!
//! # On-disk format
//!
//! `<queue dir>/<sink name>/` holds **segment files** `00000000000000000001.seg`, ...: 20
//! zero-padded decimal digits that only increase, so name order is append order. A segment
//! is a sequence of records, no file header:
//!
//! ```text
//! +---------------+----------------+-------------------+---------------+-----------+
//! | length u32 LE | samples u32 LE | enqueued i64 LE ms | crc32 u32 LE | payload   |
//! +---------------+----------------+-------------------+---------------+-----------+
//! ```
//!
//! `payload` is a zstd-compressed protobuf `WriteRequest` (the series of one stored report,
//! or of one state push); `crc32` (IEEE) covers the first 16 header bytes and the payload.
//! A sealed segment (one that a newer segment follows) has a sidecar `<n>.idx` with its
//! record and sample counts, so that opening a large queue does not read every record.
//! **`cursor`** (replaced atomically: write `cursor.tmp`, rename) holds
//! `segment offset samples_before`: every record before that place was delivered (or
//! dropped for a counted reason); `samples_before` counts the samples of that segment
//! before it. **`progress`** (replaced atomically, removed when the round is acknowledged)
//! holds the round in flight: its start and end and how many of each shard's requests are
//! done, so that a collector stopped in the middle of a round sends only the rest of it.
//!
//! # Invariants
//!
//! 1. Records are appended whole, at the end of the newest segment, by this process only
//!    (each open starts a new segment). Old segments are never rewritten, only deleted
//!    whole, so a torn write can only be the tail of the newest segment before a crash; it
//!    is cut off at the next open.
//! 2. A segment is deleted when the cursor is past it, or, oldest first, when the queue
//!    would hold more than `max_bytes`: then its undelivered samples are counted as dropped
//!    (`queue_full`) and logged. The newest segment is never dropped for room.
//! 3. Appends go to the page cache at once and are flushed to disk (`fdatasync`) every
//!    [`SYNC_EVERY`] and when the queue closes: a process crash loses nothing, a power
//!    failure at most the last second (a report is acknowledged to its agent after it is in
//!    the store; the queue is a copy of what the store holds).
//! 4. The cursor moves only after a round was delivered or dropped for a counted reason.
//!    Within a round, each request done is recorded in `progress` before the next (not
//!    flushed to disk: after a power failure the round is sent whole again); a collector
//!    stopped or killed in the middle of a round reads the same round again and sends only
//!    the requests not yet done. A failed append (disk full) is cut back to the last whole
//!    record, so the records after it stay readable. A sample is sent twice only when a receiver took
//!    a request whose answer never arrived (a timeout, a crash between the answer and the
//!    progress write): at least once, as every remote-write sender (Prometheus ignores an
//!    identical sample; VictoriaMetrics drops exact duplicates with
//!    `-dedup.minScrapeInterval`).
//! 5. Reading never trusts the disk: a short header, a length above [`MAX_RECORD_BYTES`],
//!    or a checksum mismatch ends that segment (counted as `corrupt`); nothing in a segment
//!    can make the collector panic or refuse to start.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Bytes of a record header.
pub const HEADER_BYTES: u64 = 20;
/// Longest payload read back: a state push of a province is a few MB compressed.
pub const MAX_RECORD_BYTES: u32 = 64 << 20;
/// How often appended records are flushed to disk.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Where reading stands: a record boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in it.
    pub offset: u64,
    /// Samples of the segment before `offset`.
    pub samples_before: u64,
}

/// One record read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Samples in it.
    pub samples: u32,
    /// When it was appended (collector clock), Unix ms.
    pub enqueued_ms: i64,
    /// The compressed payload.
    pub payload: Vec<u8>,
}

/// How far a round got: from `start` (the cursor) to `end`, the requests delivered (or
/// dropped for a counted reason) of each shard, in the layout `layout` (a fingerprint of the
/// shard count, request size and extra labels: another layout splits the round otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The round's start.
    pub start: Cursor,
    /// The round's end.
    pub end: Cursor,
    /// Fingerprint of how the round is split into requests.
    pub layout: u64,
    /// Requests done per shard.
    pub delivered: Vec<u32>,
}

/// Records read from a cursor, and the cursor after them.
#[derive(Debug, Default)]
pub struct Batch {
    /// In append order.
    pub records: Vec<Record>,
    /// Acknowledge this once the records are delivered.
    pub next: Cursor,
    /// Damaged places met (each ends its segment for reading).
    pub corrupt: u64,
}

#[derive(Debug, Clone)]
struct Segment {
    id: u64,
    bytes: u64,
    samples: u64,
    /// Enqueue time of its first record, for the lag.
    first_enqueued_ms: i64,
}

#[derive(Debug)]
struct Inner {
    segments: VecDeque<Segment>,
    /// The newest segment, open for appending.
    tail: File,
    cursor: Cursor,
    /// Appended since the last flush.
    dirty: bool,
}

/// What opening found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Undelivered samples waiting.
    pub samples: u64,
    /// Bytes on disk.
    pub bytes: u64,
    /// Bytes cut off the end of the newest segment (a torn write).
    pub truncated_bytes: u64,
}

/// What an append did besides appending.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Undelivered samples of the oldest segments deleted for room.
    pub dropped_samples: u64,
    /// Segments deleted for room.
    pub dropped_segments: u64,
}

/// The queue of one URL; appends come from ingest, reads and acknowledgements from the
/// sender.
#[derive(Debug)]
pub struct Queue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    inner: Mutex<Inner>,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn index_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.idx"))
}

fn checksum(header16: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(header16);
    h.update(payload);
    h.finalize()
}

/// Encodes one record.
pub fn encode_record(samples: u32, enqueued_ms: i64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_BYTES as usize + payload.len());
    out.extend_from_slice(
        &u32::try_from(payload.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    out.extend_from_slice(&samples.to_le_bytes());
    out.extend_from_slice(&enqueued_ms.to_le_bytes());
    let crc = checksum(&out, payload);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads the record at the start of `r`: `Ok(None)` at a clean end, `Err(())` for a damaged
/// or torn record.
fn read_record(r: &mut impl Read) -> Result<Option<Record>, ()> {
    let mut header = [0u8; HEADER_BYTES as usize];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    if got == 0 {
        return Ok(None);
    }
    if got < header.len() {
        return Err(());
    }
    let len = u32::from_le_bytes(header[0..4].try_into().unwrap());
    let samples = u32::from_le_bytes(header[4..8].try_into().unwrap());
    let enqueued_ms = i64::from_le_bytes(header[8..16].try_into().unwrap());
    let crc = u32::from_le_bytes(header[16..20].try_into().unwrap());
    if len > MAX_RECORD_BYTES {
        return Err(());
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).map_err(|_| ())?;
    if checksum(&header[..16], &payload) != crc {
        return Err(());
    }
    Ok(Some(Record {
        samples,
        enqueued_ms,
        payload,
    }))
}

/// Scans a whole segment: (bytes of whole records, samples, first enqueue time, damaged).
fn scan(path: &Path) -> io::Result<(u64, u64, i64, bool)> {
    let mut r = io::BufReader::new(File::open(path)?);
    let (mut bytes, mut samples, mut first) = (0u64, 0u64, 0i64);
    loop {
        match read_record(&mut r) {
            Ok(Some(rec)) => {
                if bytes == 0 {
                    first = rec.enqueued_ms;
                }
                bytes += HEADER_BYTES + rec.payload.len() as u64;
                samples += u64::from(rec.samples);
            }
            Ok(None) => return Ok((bytes, samples, first, false)),
            Err(()) => return Ok((bytes, samples, first, true)),
        }
    }
}

fn read_index(path: &Path) -> Option<(u64, u64, i64)> {
    let text = fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace().map(str::parse::<i64>);
    let bytes = it.next()?.ok()?;
    let samples = it.next()?.ok()?;
    let first = it.next()?.ok()?;
    Some((
        u64::try_from(bytes).ok()?,
        u64::try_from(samples).ok()?,
        first,
    ))
}

fn write_atomic(dir: &Path, name: &str, text: &str) -> io::Result<()> {
    write_replacing(dir, name, text, true)
}

/// Replaces `dir/name` with `text` through a temporary file; flushed to disk first when
/// `durable` (the progress file is not: after a power failure a round is sent again).
fn write_replacing(dir: &Path, name: &str, text: &str, durable: bool) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if durable {
            f.sync_data()?;
        }
    }
    fs::rename(tmp, dir.join(name))
}

fn read_cursor(dir: &Path) -> Option<Cursor> {
    let text = fs::read_to_string(dir.join("cursor")).ok()?;
    let mut it = text.split_whitespace().map(str::parse::<u64>);
    Some(Cursor {
        segment: it.next()?.ok()?,
        offset: it.next()?.ok()?,
        samples_before: it.next()?.ok()?,
    })
}

impl Queue {
    /// Opens (or creates) the queue in `dir`, holding at most about `max_bytes`. Cuts a torn
    /// tail, starts a new segment.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(Queue, Opened)> {
        fs::create_dir_all(dir)?;
        let mut ids: Vec<u64> = fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let mut opened = Opened::default();
        let mut segments = VecDeque::new();
        let newest = ids.last().copied();
        for id in ids {
            let path = segment_path(dir, id);
            let indexed = if Some(id) == newest {
                None
            } else {
                read_index(&index_path(dir, id))
            };
            let (bytes, samples, first) = match indexed {
                Some(v) => v,
                None => {
                    let (bytes, samples, first, _damaged) = scan(&path)?;
                    let on_disk = fs::metadata(&path)?.len();
                    if on_disk > bytes {
                        // A torn or damaged end: cut it, so appends and reads agree.
                        OpenOptions::new().write(true).open(&path)?.set_len(bytes)?;
                        opened.truncated_bytes += on_disk - bytes;
                    }
                    if Some(id) != newest || bytes > 0 {
                        write_atomic(
                            dir,
                            &format!("{id:020}.idx"),
                            &format!("{bytes} {samples} {first}\n"),
                        )?;
                    }
                    (bytes, samples, first)
                }
            };
            if bytes == 0 {
                let _ = fs::remove_file(&path);
                let _ = fs::remove_file(index_path(dir, id));
                continue;
            }
            segments.push_back(Segment {
                id,
                bytes,
                samples,
                first_enqueued_ms: first,
            });
        }
        let mut cursor = read_cursor(dir).unwrap_or_default();
        let next_id = segments
            .back()
            .map_or(1, |s| s.id + 1)
            .max(cursor.segment + 1);
        let tail = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(dir, next_id))?;
        segments.push_back(Segment {
            id: next_id,
            bytes: 0,
            samples: 0,
            first_enqueued_ms: 0,
        });
        // A cursor before the oldest segment (a new queue, or segments dropped for room)
        // starts at the oldest one, so that the cursor of a queue is the same in every run.
        let oldest = segments.front().expect("the tail at least").id;
        if cursor.segment < oldest {
            cursor = Cursor {
                segment: oldest,
                ..Cursor::default()
            };
        }
        let queue = Queue {
            dir: dir.to_owned(),
            max_bytes,
            segment_bytes: (max_bytes / 8).clamp(64 << 10, 64 << 20),
            inner: Mutex::new(Inner {
                segments,
                tail,
                cursor,
                dirty: false,
            }),
        };
        {
            let inner = queue.lock();
            opened.samples = Self::undelivered(&inner);
            opened.bytes = inner.segments.iter().map(|s| s.bytes).sum();
        }
        Ok((queue, opened))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn undelivered(inner: &Inner) -> u64 {
        inner
            .segments
            .iter()
            .filter(|s| s.id >= inner.cursor.segment)
            .map(|s| {
                if s.id == inner.cursor.segment {
                    s.samples.saturating_sub(inner.cursor.samples_before)
                } else {
                    s.samples
                }
            })
            .sum()
    }

    /// Undelivered samples, bytes on disk, and the enqueue time of the oldest undelivered
    /// record's segment (0 when empty).
    pub fn stats(&self) -> (u64, u64, i64) {
        let inner = self.lock();
        let oldest = inner
            .segments
            .iter()
            .find(|s| s.id >= inner.cursor.segment && s.samples > 0)
            .map_or(0, |s| s.first_enqueued_ms);
        (
            Self::undelivered(&inner),
            inner.segments.iter().map(|s| s.bytes).sum(),
            oldest,
        )
    }

    /// Appends one record of `samples` samples. When the queue would hold more than
    /// `max_bytes`, the oldest segments go first (their undelivered samples are returned as
    /// dropped).
    pub fn append(&self, samples: u32, enqueued_ms: i64, payload: &[u8]) -> io::Result<Appended> {
        let record = encode_record(samples, enqueued_ms, payload);
        let mut inner = self.lock();
        let mut appended = Appended::default();
        let tail_bytes = inner.segments.back().map_or(0, |s| s.bytes);
        if tail_bytes > 0 && tail_bytes + record.len() as u64 > self.segment_bytes {
            self.roll(&mut inner)?;
        }
        let total: u64 = inner.segments.iter().map(|s| s.bytes).sum();
        let mut excess = (total + record.len() as u64).saturating_sub(self.max_bytes);
        while excess > 0 && inner.segments.len() > 1 {
            let oldest = inner.segments.pop_front().expect("more than one");
            let undelivered = if oldest.id > inner.cursor.segment {
                oldest.samples
            } else if oldest.id == inner.cursor.segment {
                oldest.samples.saturating_sub(inner.cursor.samples_before)
            } else {
                0
            };
            appended.dropped_samples += undelivered;
            appended.dropped_segments += 1;
            excess = excess.saturating_sub(oldest.bytes);
            let _ = fs::remove_file(segment_path(&self.dir, oldest.id));
            let _ = fs::remove_file(index_path(&self.dir, oldest.id));
            if inner.cursor.segment <= oldest.id {
                let next = inner.segments.front().map_or(oldest.id + 1, |s| s.id);
                inner.cursor = Cursor {
                    segment: next,
                    ..Cursor::default()
                };
            }
        }
        if let Err(e) = inner.tail.write_all(&record) {
            // Part of the record may be in the file (disk full): cut it, so that the next
            // record starts where the segment's whole records end.
            let whole = inner.segments.back().map_or(0, |s| s.bytes);
            let _ = inner.tail.set_len(whole);
            return Err(e);
        }
        inner.dirty = true;
        let tail = inner.segments.back_mut().expect("a tail segment");
        if tail.bytes == 0 {
            tail.first_enqueued_ms = enqueued_ms;
        }
        tail.bytes += record.len() as u64;
        tail.samples += u64::from(samples);
        Ok(appended)
    }

    /// Seals the tail (flushes it, writes its index) and opens the next segment.
    fn roll(&self, inner: &mut Inner) -> io::Result<()> {
        inner.tail.sync_data()?;
        let sealed = inner.segments.back().expect("a tail segment").clone();
        write_atomic(
            &self.dir,
            &format!("{:020}.idx", sealed.id),
            &format!(
                "{} {} {}\n",
                sealed.bytes, sealed.samples, sealed.first_enqueued_ms
            ),
        )?;
        let id = sealed.id + 1;
        inner.tail = OpenOptions::new()
            .create(true)
            .append(true)
            .open(segment_path(&self.dir, id))?;
        inner.segments.push_back(Segment {
            id,
            bytes: 0,
            samples: 0,
            first_enqueued_ms: 0,
        });
        Ok(())
    }

    /// Flushes appended records to disk (every [`SYNC_EVERY`] and at close).
    pub fn sync(&self) -> io::Result<()> {
        // The flush on a clone of the handle, outside the lock: appends from ingest go on
        // meanwhile.
        let file = {
            let mut inner = self.lock();
            if !inner.dirty {
                return Ok(());
            }
            inner.dirty = false;
            inner.tail.try_clone()?
        };
        file.sync_data()
    }

    /// The cursor: where the next read starts.
    pub fn cursor(&self) -> Cursor {
        self.lock().cursor
    }

    /// Reads whole records from `from` (or the cursor, if the queue dropped past `from`)
    /// until at least `min_samples` samples, the end of what was appended, or `stop_at`.
    pub fn read(
        &self,
        from: Cursor,
        min_samples: u64,
        stop_at: Option<Cursor>,
    ) -> io::Result<Batch> {
        let mut batch = Batch {
            next: from,
            ..Batch::default()
        };
        // What is readable, taken under the lock; read outside it, so ingest never waits
        // for the sender's disk reads.
        let readable: Vec<(u64, u64)> = {
            let inner = self.lock();
            if from.segment < inner.cursor.segment {
                batch.next = inner.cursor;
            }
            inner
                .segments
                .iter()
                .filter(|s| s.id >= batch.next.segment)
                .map(|s| (s.id, s.bytes))
                .collect()
        };
        let mut samples = 0u64;
        for (id, end) in readable {
            // Where the round in flight ended, before moving on: a round that ended at a
            // segment's end ends there, not at the start of the next one.
            if stop_at
                .is_some_and(|s| (batch.next.segment, batch.next.offset) >= (s.segment, s.offset))
            {
                return Ok(batch);
            }
            // Segments come in order and each is read to its end before the next (a read
            // that reached `min_samples` returned above), so moving on loses nothing.
            if id > batch.next.segment {
                batch.next = Cursor {
                    segment: id,
                    ..Cursor::default()
                };
            }
            if batch.next.offset >= end {
                continue;
            }
            let mut f = match File::open(segment_path(&self.dir, id)) {
                Ok(f) => f,
                // Dropped for room meanwhile: the next read starts after it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            f.seek(SeekFrom::Start(batch.next.offset))?;
            let mut r = io::BufReader::new(f.take(end - batch.next.offset));
            while batch.next.offset < end {
                if stop_at.is_some_and(|s| {
                    (batch.next.segment, batch.next.offset) >= (s.segment, s.offset)
                }) {
                    return Ok(batch);
                }
                match read_record(&mut r) {
                    Ok(Some(rec)) => {
                        batch.next.offset += HEADER_BYTES + rec.payload.len() as u64;
                        batch.next.samples_before += u64::from(rec.samples);
                        samples += u64::from(rec.samples);
                        batch.records.push(rec);
                        if samples >= min_samples {
                            return Ok(batch);
                        }
                    }
                    Ok(None) => break,
                    Err(()) => {
                        // Damaged: the rest of this segment cannot be framed.
                        batch.corrupt += 1;
                        batch.next.offset = end;
                        break;
                    }
                }
            }
        }
        Ok(batch)
    }

    /// Records how far the round from the cursor to `progress.end` got (requests delivered
    /// per shard), so that a restart in the middle of it does not send them again.
    pub fn save_progress(&self, progress: &Progress) -> io::Result<()> {
        let mut text = format!(
            "{} {} {} {} {} {} {}",
            progress.start.segment,
            progress.start.offset,
            progress.start.samples_before,
            progress.end.segment,
            progress.end.offset,
            progress.end.samples_before,
            progress.layout
        );
        for d in &progress.delivered {
            text.push_str(&format!(" {d}"));
        }
        text.push('\n');
        write_replacing(&self.dir, "progress", &text, false)
    }

    /// The progress of the round in flight when the queue was last used, if it starts at
    /// the cursor.
    pub fn progress(&self) -> Option<Progress> {
        let text = fs::read_to_string(self.dir.join("progress")).ok()?;
        let n: Vec<u64> = text
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if n.len() < 8 {
            return None;
        }
        let cursor = |i: usize| Cursor {
            segment: n[i],
            offset: n[i + 1],
            samples_before: n[i + 2],
        };
        let p = Progress {
            start: cursor(0),
            end: cursor(3),
            layout: n[6],
            delivered: n[7..]
                .iter()
                .map(|&d| u32::try_from(d).unwrap_or(u32::MAX))
                .collect(),
        };
        (p.start == self.cursor()).then_some(p)
    }

    /// Records that everything before `next` is delivered: persists the cursor and deletes
    /// the segments it passed.
    pub fn ack(&self, next: Cursor) -> io::Result<()> {
        let mut inner = self.lock();
        if next <= inner.cursor {
            return Ok(());
        }
        inner.cursor = next;
        write_atomic(
            &self.dir,
            "cursor",
            &format!("{} {} {}\n", next.segment, next.offset, next.samples_before),
        )?;
        // After the cursor: a crash in between leaves a progress that no longer starts at
        // the cursor, which is ignored.
        let _ = fs::remove_file(self.dir.join("progress"));
        while inner.segments.len() > 1
            && inner.segments.front().is_some_and(|s| s.id < next.segment)
        {
            let gone = inner.segments.pop_front().expect("checked");
            let _ = fs::remove_file(segment_path(&self.dir, gone.id));
            let _ = fs::remove_file(index_path(&self.dir, gone.id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
