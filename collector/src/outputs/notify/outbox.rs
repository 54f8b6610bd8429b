//! The outbox: every event and every delivery attempt, appended as JSON lines to
//! `<dir>/outbox.jsonl` and flushed to disk, so that what was sent, when, and what failed is
//! on record, and events not yet delivered are sent after a restart.
//!
//! Bounded: past [`MAX_BYTES`] the file is rotated to `outbox.jsonl.1` (the one before is
//! deleted) and the new file starts with the events still pending, so at most twice that
//! is kept.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::message::Event;

/// Size past which the outbox is rotated.
pub const MAX_BYTES: u64 = 8 << 20;
/// Longest line read back (an event names at most a few thousand hosts).
const MAX_LINE: usize = 1 << 20;

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The channel took it.
    Delivered,
    /// It failed; it is tried again later.
    Failed,
    /// It failed for good, or for longer than `give_up_after`; no more attempts.
    GivenUp,
}

/// One line of the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Line {
    /// An event, with the channels it is for.
    Event {
        /// The event.
        event: Box<Event>,
        /// Channel names (`webhook:NAME`, `email`).
        channels: Vec<String>,
    },
    /// A delivery attempt.
    Delivery {
        /// Event sequence number.
        seq: u64,
        /// Channel name.
        channel: String,
        /// Attempt number, from 1.
        attempt: u32,
        /// When it ended (collector clock), Unix ms.
        at_ms: i64,
        /// How.
        outcome: Outcome,
        /// The failure, for the operator.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        error: String,
    },
}

/// An event and a channel it still has to reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The event.
    pub event: Event,
    /// The channel.
    pub channel: String,
    /// Attempts made so far.
    pub attempts: u32,
}

/// The open outbox.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    file: File,
    bytes: u64,
    next_seq: u64,
    /// Size past which the file is rotated.
    rotate_at: u64,
    /// Every event not yet delivered everywhere, for rotation.
    open: BTreeMap<u64, (Event, Vec<String>)>,
}

fn read_lines(path: &Path) -> io::Result<Vec<Line>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    let mut r = io::BufReader::new(file);
    loop {
        let mut buf = Vec::new();
        let n = (&mut r).take(MAX_LINE as u64).read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        // A torn last line (a crash while appending) or a damaged one is skipped.
        if let Ok(line) = serde_json::from_slice::<Line>(&buf) {
            out.push(line);
        }
    }
    Ok(out)
}

/// Cuts a last line without its newline (a crash while appending), so that the next append
/// starts a line of its own.
fn cut_torn_tail(path: &Path) -> io::Result<()> {
    let Ok(bytes) = fs::read(path) else {
        return Ok(());
    };
    if bytes.last().is_some_and(|b| *b != b'\n') {
        let keep = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(keep as u64)?;
    }
    Ok(())
}

impl Outbox {
    /// Opens (or creates) the outbox in `dir`; returns it and what is still to be delivered.
    pub fn open(dir: &Path) -> io::Result<(Outbox, Vec<Pending>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join("outbox.jsonl");
        let mut open: BTreeMap<u64, (Event, Vec<String>)> = BTreeMap::new();
        let mut attempts: BTreeMap<(u64, String), u32> = BTreeMap::new();
        let mut next_seq = 1;
        let rotated = dir.join("outbox.jsonl.1");
        for line in read_lines(&rotated)?.into_iter().chain(read_lines(&path)?) {
            match line {
                Line::Event { event, channels } => {
                    next_seq = next_seq.max(event.seq + 1);
                    open.insert(event.seq, (*event, channels));
                }
                Line::Delivery {
                    seq,
                    channel,
                    attempt,
                    outcome,
                    ..
                } => {
                    attempts.insert((seq, channel.clone()), attempt);
                    if outcome != Outcome::Failed
                        && let Some((_, channels)) = open.get_mut(&seq)
                    {
                        channels.retain(|c| *c != channel);
                    }
                }
            }
        }
        open.retain(|_, (_, channels)| !channels.is_empty());
        let pending = open
            .values()
            .flat_map(|(event, channels)| {
                channels.iter().map(|c| Pending {
                    event: event.clone(),
                    channel: c.clone(),
                    attempts: attempts.get(&(event.seq, c.clone())).copied().unwrap_or(0),
                })
            })
            .collect();
        cut_torn_tail(&path)?;
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let bytes = file.metadata()?.len();
        Ok((
            Outbox {
                path,
                file,
                bytes,
                next_seq,
                rotate_at: MAX_BYTES,
                open,
            },
            pending,
        ))
    }

    fn append(&mut self, line: &Line) -> io::Result<()> {
        let mut text = serde_json::to_vec(line).map_err(io::Error::other)?;
        text.push(b'\n');
        self.file.write_all(&text)?;
        self.file.sync_data()?;
        self.bytes += text.len() as u64;
        if self.bytes > self.rotate_at {
            self.rotate()?;
            // Counted from what the new file starts with, so that pending events larger
            // than the limit do not rotate at every append.
            self.rotate_at = self.bytes + MAX_BYTES;
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let rotated = self.path.with_extension("jsonl.1");
        fs::rename(&self.path, &rotated)?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.bytes = 0;
        let open: Vec<(Event, Vec<String>)> = self.open.values().cloned().collect();
        for (event, channels) in open {
            let mut text = serde_json::to_vec(&Line::Event {
                event: Box::new(event),
                channels,
            })
            .map_err(io::Error::other)?;
            text.push(b'\n');
            self.file.write_all(&text)?;
            self.bytes += text.len() as u64;
        }
        self.file.sync_data()
    }

    /// Records a new event for `channels`; returns it with its sequence number.
    pub fn record_event(&mut self, mut event: Event, channels: Vec<String>) -> io::Result<Event> {
        event.seq = self.next_seq;
        self.next_seq += 1;
        self.append(&Line::Event {
            event: Box::new(event.clone()),
            channels: channels.clone(),
        })?;
        self.open.insert(event.seq, (event.clone(), channels));
        Ok(event)
    }

    /// Records one attempt.
    pub fn record_delivery(
        &mut self,
        seq: u64,
        channel: &str,
        attempt: u32,
        at_ms: i64,
        outcome: Outcome,
        error: String,
    ) -> io::Result<()> {
        if outcome != Outcome::Failed
            && let Some((_, channels)) = self.open.get_mut(&seq)
        {
            channels.retain(|c| c != channel);
            if channels.is_empty() {
                self.open.remove(&seq);
            }
        }
        self.append(&Line::Delivery {
            seq,
            channel: channel.to_owned(),
            attempt,
            at_ms,
            outcome,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::notify::incidents::{Change, Incident};

    fn event() -> Event {
        Event {
            seq: 0,
            at_ms: 1000,
            change: Change::Opened {
                incident: Incident {
                    kind: "host".into(),
                    id: "a1".into(),
                    name: String::new(),
                    host: "h1".into(),
                    department: "d1".into(),
                    datacenter: "dc1".into(),
                    level: String::new(),
                    domain: String::new(),
                    since_ms: Some(0),
                    hidden_hosts: Vec::new(),
                    hidden_links: Vec::new(),
                },
            },
        }
    }

    #[test]
    fn what_is_not_delivered_everywhere_is_pending_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (mut o, pending) = Outbox::open(dir.path()).unwrap();
            assert!(pending.is_empty());
            let channels = vec!["webhook:a".to_string(), "email".to_string()];
            let e1 = o.record_event(event(), channels.clone()).unwrap();
            let e2 = o.record_event(event(), channels).unwrap();
            assert_eq!((e1.seq, e2.seq), (1, 2));
            o.record_delivery(1, "webhook:a", 1, 2000, Outcome::Delivered, String::new())
                .unwrap();
            o.record_delivery(1, "email", 1, 2000, Outcome::Failed, "451 try later".into())
                .unwrap();
            o.record_delivery(1, "email", 2, 3000, Outcome::Delivered, String::new())
                .unwrap();
            o.record_delivery(
                2,
                "email",
                1,
                3000,
                Outcome::GivenUp,
                "550 no such user".into(),
            )
            .unwrap();
            o.record_delivery(2, "webhook:a", 1, 3000, Outcome::Failed, "503".into())
                .unwrap();
        }
        // A torn line at the end (a crash while appending) is skipped.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("outbox.jsonl"))
            .unwrap();
        f.write_all(b"{\"record\":\"deliv").unwrap();
        drop(f);
        let (mut o, pending) = Outbox::open(dir.path()).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (
                pending[0].event.seq,
                pending[0].channel.as_str(),
                pending[0].attempts
            ),
            (2, "webhook:a", 1)
        );
        // Numbering goes on, and what is appended after the torn line is read back.
        assert_eq!(
            o.record_event(event(), vec!["email".into()]).unwrap().seq,
            3
        );
        drop(o);
        let (_, pending) = Outbox::open(dir.path()).unwrap();
        assert_eq!(pending.len(), 2);
    }
}
