//! The spool's settings: the `spool:` section (where reports wait on disk, how much of it
//! they may take, how fast a backlog drains), its defaults and checks.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::checks::Checks;

/// Default bound of the spool: 512 MiB (docs/agent.md shows the sizing: 7 days at 15 s with
/// 50 probe targets is about 40 320 reports of at most ~6 KiB).
pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;
/// Smallest accepted bound.
pub const MIN_MAX_BYTES: u64 = 256 << 10;
/// Default segment size; a smaller spool uses an eighth of its bound per segment, so that
/// dropping the oldest segment frees at most an eighth of it.
pub const DEFAULT_SEGMENT_BYTES: u64 = 4 << 20;
/// Largest accepted `spool.max_bytes` (1 TiB): beyond it a typo is likelier than intent.
pub const MAX_SPOOL_BYTES: u64 = 1 << 40;
/// Default backlog drain rate (reports per second): a day at 15 s (5760 reports) drains in
/// about two minutes.
pub const DEFAULT_BACKFILL_RATE: u32 = 50;
/// Largest accepted `spool.backfill_rate`.
pub const MAX_BACKFILL_RATE: u32 = 10_000;

/// `spool:` section: where reports wait on disk until the collector acknowledged them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolSection {
    /// Spool directory; default `<agent.state_dir>/spool`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Bound of the spool on disk in bytes; when full the oldest reports are dropped.
    #[serde(default)]
    pub max_bytes: Option<u64>,
    /// Backlog reports sent per second behind the live report.
    #[serde(default)]
    pub backfill_rate: Option<u32>,
}

/// Checked spool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Spool directory, resolved.
    pub dir: PathBuf,
    /// Bound in bytes.
    pub max_bytes: u64,
    /// Backlog reports per second.
    pub backfill_rate: u32,
}

impl SpoolSection {
    /// Checks the section; the directory defaults to `state_dir/spool`.
    pub fn check(&self, checks: &mut Checks, state_dir: &Path) -> SpoolConfig {
        let dir = match &self.dir {
            Some(d) if d.as_os_str().is_empty() => {
                checks.push(
                    "spool.dir",
                    "is empty; remove the key for the default <agent.state_dir>/spool or name a directory",
                );
                state_dir.join("spool")
            }
            Some(d) => checks.resolve(d),
            None => state_dir.join("spool"),
        };
        let max_bytes = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        if !(MIN_MAX_BYTES..=MAX_SPOOL_BYTES).contains(&max_bytes) {
            checks.push(
                "spool.max_bytes",
                format!(
                    "{max_bytes} is out of range; use {MIN_MAX_BYTES} (256 KiB) to {MAX_SPOOL_BYTES} (1 TiB) bytes, default {DEFAULT_MAX_BYTES} (512 MiB, 7 days of reports with 50 probe targets)"
                ),
            );
        }
        let backfill_rate = self.backfill_rate.unwrap_or(DEFAULT_BACKFILL_RATE);
        if !(1..=MAX_BACKFILL_RATE).contains(&backfill_rate) {
            checks.push(
                "spool.backfill_rate",
                format!(
                    "{backfill_rate} is out of range; use 1 to {MAX_BACKFILL_RATE} reports per second, default {DEFAULT_BACKFILL_RATE}"
                ),
            );
        }
        SpoolConfig {
            dir,
            max_bytes,
            backfill_rate,
        }
    }
}

/// Sizes of a spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolOptions {
    /// The spool directory.
    pub dir: PathBuf,
    /// Bound of all segments together, bytes.
    pub max_bytes: u64,
    /// A new segment is started when the current one would grow past this.
    pub segment_bytes: u64,
}

impl SpoolOptions {
    /// Options for a directory and bound, with the segment size derived from the bound.
    pub fn new(dir: impl Into<PathBuf>, max_bytes: u64) -> Self {
        Self {
            dir: dir.into(),
            max_bytes,
            segment_bytes: DEFAULT_SEGMENT_BYTES.min(max_bytes / 8).max(4096),
        }
    }
}
