//! What the spool finds on disk at start: every segment left by earlier runs is scanned, the
//! records after the ack cursor become the backlog, and damage is counted once (invariants
//! 3 and 5 of [`super`]).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use tracing::{error, warn};

use super::segment::{Entry, RecordId, Segment, remove_file, scan, segment_name, segment_number};
use super::state::State;

/// Why the spool could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool directory could not be created.
    #[error("cannot create the spool directory {}: {source}; create it writable by the agent or set spool.dir", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The spool directory could not be listed.
    #[error("cannot list the spool directory {}: {source}; make it readable by the agent or set spool.dir", dir.display())]
    ListDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The numbers of the segment files in the spool directory `dir`, ascending.
pub(super) fn segment_numbers(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let mut numbers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|source| SpoolError::ListDir {
        dir: dir.to_owned(),
        source,
    })? {
        let Ok(entry) = entry else { continue };
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// The index rebuilt from the segments on disk.
#[derive(Debug, Default)]
pub(super) struct Recovered {
    /// The segments kept, ascending.
    pub(super) segments: VecDeque<Segment>,
    /// Every readable record at or after the cursor, in append order.
    pub(super) entries: VecDeque<Entry>,
    /// How many of them (all unacknowledged).
    pub(super) pending: u64,
}

/// Scans the segments `numbers` (ascending) of the spool directory `dir` against the ack
/// cursor of `state`: segments wholly before the cursor are deleted (their deletion did not
/// happen before the last stop), damage not counted before is added to `corrupt_total`.
pub(super) fn recover(dir: &Path, numbers: &[u64], state: &mut State) -> Recovered {
    let mut out = Recovered::default();
    let cursor = RecordId {
        segment: state.ack_segment,
        offset: state.ack_offset,
    };
    // Damage already counted is remembered only while its segment exists.
    state
        .counted_damage
        .retain(|(seg, _)| *seg >= cursor.segment && numbers.binary_search(seg).is_ok());
    let mut newly_corrupt = 0;
    for &n in numbers {
        let path = dir.join(segment_name(n));
        if n < cursor.segment {
            // Fully acknowledged before the last stop; its deletion did not happen.
            remove_file(dir, &path);
            continue;
        }
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                // Unreadable (EIO): its reports cannot be sent; counted once, kept for
                // the next start (the error may pass) until the cursor passes it.
                error!(path = %path.display(), "cannot read a spool segment ({e}); skipping it");
                newly_corrupt += state.count_damage_once(n, u64::MAX);
                continue;
            }
        };
        let (good, damage) = scan(&bytes);
        let mut new_here = 0;
        for d in &damage {
            // A bad checksum among acknowledged records hides nothing unsent; a break
            // there may hide unsent records after it, so it counts.
            let id = RecordId {
                segment: n,
                offset: d.offset,
            };
            if id < cursor && !d.ends_segment {
                continue;
            }
            new_here += state.count_damage_once(n, d.offset);
        }
        if new_here > 0 {
            warn!(
                path = %path.display(),
                damaged = new_here,
                readable = good.len(),
                "spool segment has torn or corrupt records (power loss or disk damage); skipping them"
            );
            newly_corrupt += new_here;
        }
        out.segments.push_back(Segment {
            number: n,
            bytes: bytes.len() as u64,
        });
        for s in good {
            let id = RecordId {
                segment: n,
                offset: s.offset,
            };
            if id < cursor {
                continue;
            }
            out.entries.push_back(Entry {
                id,
                len: s.len,
                timestamp_ms: 0,
                acked: false,
            });
            out.pending += 1;
        }
    }
    state.corrupt_total = state.corrupt_total.saturating_add(newly_corrupt);
    out
}
