//! The spool's persisted state, `state.json` (its fields are described in the module
//! documentation of [`super`]): read at start, replaced atomically on save.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;
use zerofault_protocol::ErrorCount;

use super::segment::sync_dir;

/// Name of the persisted state file.
pub const STATE_FILE: &str = "state.json";

/// Send error kinds, in the order they are reported.
pub const SEND_ERROR_KINDS: [&str; 7] = [
    "connect", "timeout", "tls", "http_5xx", "http_429", "http_4xx", "other",
];

/// The persisted part of the spool (`state.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(super) struct State {
    /// Segment of the first unacknowledged record (or of the next write).
    pub(super) ack_segment: u64,
    /// Offset of the first unacknowledged record in `ack_segment`.
    pub(super) ack_offset: u64,
    pub(super) dropped_total: u64,
    pub(super) corrupt_total: u64,
    pub(super) acknowledged_total: u64,
    /// (segment, offset) of every damaged place already counted in `corrupt_total`;
    /// offset `u64::MAX` stands for a whole unreadable segment.
    pub(super) counted_damage: Vec<(u64, u64)>,
    pub(super) send_errors: BTreeMap<String, u64>,
}

impl State {
    /// Reads `state.json` of the spool directory `dir`; an unreadable one starts afresh
    /// (everything in the spool is sent again, which the collector tolerates).
    pub(super) fn load(dir: &Path) -> State {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    warn!(path = %path.display(), "spool state is unreadable ({e}); resending everything in the spool (the collector drops duplicates) and counters restart at 0");
                    State::default()
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                warn!(path = %path.display(), "cannot read the spool state ({e}); resending everything in the spool (the collector drops duplicates)");
                State::default()
            }
        }
    }

    /// Remembers a damaged place; returns 1 if it was not counted before, else 0.
    pub(super) fn count_damage_once(&mut self, segment: u64, offset: u64) -> u64 {
        if self.counted_damage.contains(&(segment, offset)) {
            0
        } else {
            self.counted_damage.push((segment, offset));
            1
        }
    }

    /// Replaces `state.json` of the spool directory `dir` atomically: write a temporary
    /// file, fsync it, rename it over the old one, fsync the directory.
    pub(super) fn write(&self, dir: &Path) -> std::io::Result<()> {
        let path = dir.join(STATE_FILE);
        let tmp = dir.join(format!("{STATE_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut f = File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_dir(dir)
    }

    /// The failed delivery attempts by kind, in the order of [`SEND_ERROR_KINDS`], for the
    /// report's statistics (kinds never seen left out).
    pub(super) fn send_errors_total(&self) -> Vec<ErrorCount> {
        SEND_ERROR_KINDS
            .iter()
            .filter_map(|k| {
                let n = *self.send_errors.get(*k)?;
                (n > 0).then(|| ErrorCount {
                    kind: (*k).to_owned(),
                    count: u32::try_from(n).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }
}
