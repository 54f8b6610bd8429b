//! Host rollups: what the monthly report needs of a host's reports, kept as they arrive, so
//! that a month is computed from a few hundred bytes per host and hour instead of every
//! stored report body.
//!
//! # Buckets
//!
//! A host's reports are summarised per **boot and day of that boot**: the bucket of a report
//! is `uptime / 1 day`, with one capacity sample per hour of uptime inside it. A day, not an
//! hour: a month of 10 000 hosts is then 300 000 rows to read, not 7 million, and a row
//! (about 1.5 KiB with its 24 samples) still fits a page, so that adding a report rewrites
//! one page as an hourly row would. Uptime (`/proc/uptime`, CLOCK_BOOTTIME) never steps, so a report's
//! bucket never changes, whatever its agent clock says and however late it arrives. A
//! report without an uptime (an older agent, or its first second) goes to a bucket of its
//! agent-clock day instead, stored as a negative number ([`agent_clock_bucket`]).
//!
//! Times inside a bucket are kept in the bucket's own coordinate, uptime (or agent time for
//! negative buckets): where the boot lies on the collector's clock (`month::placement`)
//! depends on all of its reports and may still move as late ones arrive, so it is worked
//! out when a month is computed (`month::host_source`), not here.
//!
//! # Merging
//!
//! Every field is merged by a commutative, associative rule (sums, minimums, maximums, the
//! union of intervals, the report with the lowest sequence or the latest time), so a bucket
//! is the same whatever order its reports arrive in: live, backfilled or imported. Adding a
//! report twice would count it twice; the store only adds a report that it newly stored, in
//! the same transaction (a duplicate changes nothing, as for the report itself).

use zerofault_protocol::Report;

pub use span::{Span, merge_spans};

pub mod links;
mod span;
#[cfg(test)]
mod tests;

/// Length of a bucket, ms: a day.
pub const BUCKET_MS: i64 = 86_400_000;
/// One capacity sample is kept per this much of a bucket's time: an hour.
pub const SAMPLE_MS: i64 = 3_600_000;

/// The bucket of reports without an uptime made in agent-clock day `day` (`agent_ms /
/// BUCKET_MS`): negative, so that it never meets an uptime bucket.
pub fn agent_clock_bucket(day: i64) -> i64 {
    -1 - day
}

/// Where a bucket lies in its own coordinate: `(uptime, false)` or `(agent clock, true)`.
pub fn bucket_origin(bucket: i64) -> (i64, bool) {
    if bucket >= 0 {
        (bucket * BUCKET_MS, false)
    } else {
        ((-1 - bucket) * BUCKET_MS, true)
    }
}

/// A bucket's identity: agent, boot, bucket number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    /// Agent id.
    pub agent_id: String,
    /// Boot id.
    pub boot_id: String,
    /// `uptime / BUCKET_MS`, or [`agent_clock_bucket`] for reports without an uptime.
    pub bucket: i64,
}

/// How many reports of the bucket estimated the boot's start on the agent's clock at one
/// second (`(agent_ms - uptime_ms)` rounded down to a second). Uptime has a resolution of a
/// second, so a boot without clock steps has one or two of these; the median of them is the
/// boot's start by the agent clock (`month::placement`).
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ClockBin {
    /// The second, Unix seconds of the agent clock.
    #[prost(int64, tag = "1")]
    pub second: i64,
    /// Reports.
    #[prost(uint64, tag = "2")]
    pub count: u64,
}

/// One report named in a bucket: the one with the lowest sequence, or the latest one.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Mark {
    /// Sequence.
    #[prost(uint64, tag = "1")]
    pub sequence: u64,
    /// Its time in the bucket's coordinate, ms.
    #[prost(int64, tag = "2")]
    pub at: i64,
    /// Its collection interval, ms.
    #[prost(int64, tag = "3")]
    pub interval_ms: i64,
    /// The boot time it states, agent clock, Unix ms.
    #[prost(int64, tag = "4")]
    pub boot_time_ms: i64,
}

/// The host's name and labels as the latest report of the bucket states them.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Identity {
    /// Hostname.
    #[prost(string, tag = "1")]
    pub hostname: String,
    /// Labels: department, business system, data center, site ("" when unset); absent when
    /// the report had none.
    #[prost(message, optional, tag = "2")]
    pub labels: Option<zerofault_protocol::Labels>,
}

/// A filesystem in a capacity sample.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SampleFs {
    /// Mount point.
    #[prost(string, tag = "1")]
    pub mount: String,
    /// Size, bytes.
    #[prost(uint64, tag = "2")]
    pub size_bytes: u64,
    /// Used, bytes.
    #[prost(uint64, tag = "3")]
    pub used_bytes: u64,
    /// Inodes; absent where the filesystem has no fixed number, from agents before issue
    /// 17, and in buckets made before [`Rebuild::Samples`] whose reports were gone.
    #[prost(uint64, optional, tag = "4")]
    pub inodes_total: Option<u64>,
    /// Free inodes.
    #[prost(uint64, optional, tag = "5")]
    pub inodes_free: Option<u64>,
}

/// A block device's busy time in a capacity sample: between two samples of one boot, its
/// growth over the time between them is the device's mean utilisation.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SampleDisk {
    /// Kernel name, e.g. `vda`.
    #[prost(string, tag = "1")]
    pub device: String,
    /// Time with I/O in progress since boot, ms (`io_time_ms_total`).
    #[prost(uint64, tag = "2")]
    pub io_time_ms: u64,
}

/// Most block devices a sample keeps (the first in report order: whole disks come before
/// the device-mapper devices stacked on them), so that a storage server with hundreds of
/// multipath devices cannot fill its bucket with them.
pub const MAX_SAMPLE_DISKS: usize = 32;

/// The capacity figures of one report (the lowest-sequence one of its hour): the month's
/// capacity section takes one sample per host and hour.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The hour it stands for: its time in the bucket's coordinate / [`SAMPLE_MS`].
    #[prost(int64, tag = "8")]
    pub hour: i64,
    /// Sequence of the report.
    #[prost(uint64, tag = "1")]
    pub sequence: u64,
    /// Its time in the bucket's coordinate, ms.
    #[prost(int64, tag = "2")]
    pub at: i64,
    /// Logical cores.
    #[prost(uint32, tag = "3")]
    pub cpu_cores: u32,
    /// CPU usage 0..=1; absent when the report had none (no cores known).
    #[prost(double, optional, tag = "4")]
    pub cpu_usage: Option<f64>,
    /// Memory total, bytes.
    #[prost(uint64, tag = "5")]
    pub memory_total_bytes: u64,
    /// Memory used, bytes.
    #[prost(uint64, tag = "6")]
    pub memory_used_bytes: u64,
    /// Filesystems.
    #[prost(message, repeated, tag = "7")]
    pub filesystems: Vec<SampleFs>,
    /// CPU steal share of the report's interval, 0..=1; absent without CPU modes.
    #[prost(double, optional, tag = "9")]
    pub cpu_steal: Option<f64>,
    /// Block devices (at most [`MAX_SAMPLE_DISKS`]).
    #[prost(message, repeated, tag = "10")]
    pub disks: Vec<SampleDisk>,
    /// Whether the host's clock was synchronised; absent when the agent did not say.
    #[prost(bool, optional, tag = "11")]
    pub clock_synchronised: Option<bool>,
}

impl Sample {
    /// Whether the sample lacks what issue 17 added (made from an older agent's report, or
    /// by an older collector): a bucket rebuilt from its stored report may fill it in.
    fn lacks_capacity_figures(&self) -> bool {
        self.cpu_steal.is_none()
            && self.disks.is_empty()
            && self.clock_synchronised.is_none()
            && self.filesystems.iter().all(|f| f.inodes_total.is_none())
    }
}

/// The summary of the reports of one bucket (see the module docs). Stored as this protobuf,
/// so that a newer collector can add fields and still read an older bucket.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HostBucket {
    /// Reports summarised.
    #[prost(uint64, tag = "1")]
    pub reports: u64,
    /// Earliest receive time, collector clock, Unix ms.
    #[prost(int64, tag = "2")]
    pub received_min_ms: i64,
    /// Latest receive time: a month reads the buckets received since shortly before it.
    #[prost(int64, tag = "3")]
    pub received_max_ms: i64,
    /// `min(received - uptime)`: the boot's start by the report that arrived fastest
    /// (uptime buckets only).
    #[prost(int64, optional, tag = "4")]
    pub live_anchor_ms: Option<i64>,
    /// The boot's start by the agent clock, per report (uptime buckets only), by second.
    #[prost(message, repeated, tag = "5")]
    pub clock: Vec<ClockBin>,
    /// Longest collection interval, ms.
    #[prost(int64, tag = "6")]
    pub max_interval_ms: i64,
    /// The report with the lowest sequence.
    #[prost(message, optional, tag = "7")]
    pub first: Option<Mark>,
    /// The latest report (highest time, then highest sequence).
    #[prost(message, optional, tag = "8")]
    pub last: Option<Mark>,
    /// What the reports cover, merged: a report at `t` with interval `I` covers
    /// `[max(t - I, min(boot, t)), max(t, from + 1))`, `boot` being 0 in uptime buckets and
    /// the report's stated boot time in agent-clock ones.
    #[prost(message, repeated, tag = "9")]
    pub coverage: Vec<Span>,
    /// Name and labels of [`Self::last`].
    #[prost(message, optional, tag = "10")]
    pub identity: Option<Identity>,
    /// Capacity figures, one per hour (its lowest-sequence report), by hour.
    #[prost(message, repeated, tag = "12")]
    pub samples: Vec<Sample>,
    /// The link windows of the reports, per link, by link id: this agent is their vantage
    /// point ([`links`]).
    #[prost(message, repeated, tag = "13")]
    pub links: Vec<links::LinkDay>,
}

/// The uptime of `report` in ms, when it has one: `None` for 0 (no uptime) and for one
/// longer than the Unix epoch (ingest refuses those, `Report::validate`; a report stored
/// before that check is placed by its agent clock instead). One rule for the buckets and
/// for placing the link windows of a report, so that both place it alike.
pub fn uptime_ms(report: &Report) -> Option<i64> {
    let s = report.system.as_ref()?.uptime_seconds;
    (s > 0 && s <= (zerofault_protocol::MAX_TIMESTAMP_UNIX_MS / 1000) as u64)
        .then(|| s as i64 * 1000)
}

/// The bucket of `report` and the summary of it alone; `thresholds` judge which of its link
/// windows are degraded.
pub fn of_report(
    report: &Report,
    received_ms: i64,
    thresholds: &crate::live::links::Thresholds,
) -> (i64, HostBucket) {
    let interval_ms = i64::from(report.interval_ms);
    let uptime_ms = uptime_ms(report);
    let boot_time_ms = report.boot_time_unix_seconds.saturating_mul(1000);
    let (bucket, at, clip) = match uptime_ms {
        Some(up) => (up.div_euclid(BUCKET_MS), up, 0),
        None => {
            let a = report.timestamp_unix_ms;
            (agent_clock_bucket(a.div_euclid(BUCKET_MS)), a, boot_time_ms)
        }
    };
    let from = at.saturating_sub(interval_ms.max(0)).max(clip.min(at));
    let mark = Mark {
        sequence: report.sequence,
        at,
        interval_ms,
        boot_time_ms,
    };
    let cpu = report.cpu.as_ref();
    let memory = report.memory.as_ref();
    let summary = HostBucket {
        reports: 1,
        received_min_ms: received_ms,
        received_max_ms: received_ms,
        live_anchor_ms: uptime_ms.map(|up| received_ms - up),
        clock: uptime_ms
            .map(|up| ClockBin {
                second: (report.timestamp_unix_ms - up).div_euclid(1000),
                count: 1,
            })
            .into_iter()
            .collect(),
        max_interval_ms: interval_ms,
        first: Some(mark),
        last: Some(mark),
        coverage: vec![Span {
            from,
            to: at.max(from + 1),
        }],
        identity: Some(Identity {
            hostname: report.hostname.clone(),
            labels: report.labels.clone(),
        }),
        samples: vec![Sample {
            hour: at.div_euclid(SAMPLE_MS),
            sequence: report.sequence,
            at,
            cpu_cores: cpu.map_or(0, |c| c.logical_cores),
            // The first report after an agent start has no usage yet (0 with no cores known).
            cpu_usage: cpu.filter(|c| c.logical_cores > 0).map(|c| c.usage_ratio),
            memory_total_bytes: memory.map_or(0, |m| m.total_bytes),
            memory_used_bytes: memory.map_or(0, |m| m.used_bytes),
            filesystems: report
                .filesystems
                .iter()
                .map(|f| SampleFs {
                    mount: f.mount_point.clone(),
                    size_bytes: f.size_bytes,
                    used_bytes: f.used_bytes,
                    inodes_total: f.inodes_total,
                    inodes_free: f.inodes_free,
                })
                .collect(),
            cpu_steal: cpu.and_then(|c| c.modes.as_ref()).map(|m| m.steal),
            disks: report
                .block_devices
                .iter()
                .take(MAX_SAMPLE_DISKS)
                .map(|d| SampleDisk {
                    device: d.name.clone(),
                    io_time_ms: d.io_time_ms_total,
                })
                .collect(),
            clock_synchronised: report.clock.as_ref().map(|c| c.synchronised),
        }],
        links: links::of_report(
            report,
            uptime_ms.map(|up| report.timestamp_unix_ms.saturating_sub(up)),
            thresholds,
        ),
    };
    (bucket, summary)
}

/// What a migration adds to the buckets from the stored reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Everything but the link windows, into an empty table (SQLite migration 6,
    /// PostgreSQL 2).
    Host,
    /// The link windows of the reports that have them (SQLite 10, PostgreSQL 6).
    Links,
    /// Issue 17's capacity figures, into the samples that lack them (SQLite 14,
    /// PostgreSQL 10).
    Samples,
}

/// How far back [`Rebuild::Samples`] reads stored reports: a month's capacity reads the
/// samples of that month and the one before (storage growth), so older reports cannot
/// change a figure that is not frozen already, and reading them would only make the
/// upgrade's start-up longer (every report of the retention, decoded in one transaction).
pub const SAMPLES_REBUILD_MS: i64 = 62 * 86_400_000;

impl Rebuild {
    /// Only reports with link data are read.
    pub fn link_reports_only(self) -> bool {
        self == Rebuild::Links
    }

    /// Only reports received at or after this (collector clock, Unix ms) are read.
    pub fn received_since(self, now_ms: i64) -> i64 {
        match self {
            Rebuild::Samples => now_ms.saturating_sub(SAMPLES_REBUILD_MS),
            Rebuild::Host | Rebuild::Links => i64::MIN,
        }
    }

    /// The part of a report's summary this rebuild merges.
    pub fn project(self, summary: HostBucket) -> HostBucket {
        match self {
            Rebuild::Host => summary.without_links(),
            Rebuild::Links => summary.links_only(),
            Rebuild::Samples => summary.samples_only(),
        }
    }
}

fn later(a: &Mark, b: &Mark) -> bool {
    (b.at, b.sequence) > (a.at, a.sequence)
}

impl HostBucket {
    /// Only the link windows of this summary: merged into a bucket, it adds them and
    /// changes nothing else.
    pub fn links_only(self) -> HostBucket {
        HostBucket {
            links: self.links,
            ..HostBucket::default()
        }
    }

    /// Only the capacity samples of this summary: merged into a bucket that has the same
    /// report's sample without issue 17's figures (made by an older collector), it fills
    /// them in and changes nothing else ([`Rebuild::Samples`]).
    pub fn samples_only(self) -> HostBucket {
        HostBucket {
            samples: self.samples,
            ..HostBucket::default()
        }
    }

    /// This summary without its link windows.
    pub fn without_links(mut self) -> HostBucket {
        self.links = Vec::new();
        self
    }

    /// Adds `other` (the summary of other reports of the same bucket) to this one.
    pub fn merge(&mut self, other: &HostBucket) {
        links::merge_days(&mut self.links, &other.links);
        if other.reports == 0 {
            // A projection ([`Self::links_only`], [`Self::samples_only`]): into a bucket of
            // reports, its samples only fill in figures of the same reports' samples.
            if self.reports == 0 {
                self.insert_samples(&other.samples);
            } else {
                self.fill_samples(&other.samples);
            }
            return;
        }
        if self.reports == 0 {
            let links = std::mem::take(&mut self.links);
            let samples = std::mem::take(&mut self.samples);
            *self = other.clone();
            self.links = links;
            self.fill_samples(&samples);
            return;
        }
        self.reports += other.reports;
        self.received_min_ms = self.received_min_ms.min(other.received_min_ms);
        self.received_max_ms = self.received_max_ms.max(other.received_max_ms);
        self.live_anchor_ms = match (self.live_anchor_ms, other.live_anchor_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for bin in &other.clock {
            match self.clock.binary_search_by_key(&bin.second, |b| b.second) {
                Ok(i) => self.clock[i].count += bin.count,
                Err(i) => self.clock.insert(i, *bin),
            }
        }
        self.max_interval_ms = self.max_interval_ms.max(other.max_interval_ms);
        if let Some(o) = other.first
            && self.first.is_none_or(|f| o.sequence < f.sequence)
        {
            self.first = Some(o);
        }
        if let Some(o) = other.last
            && self.last.is_none_or(|l| later(&l, &o))
        {
            self.last = Some(o);
            self.identity = other.identity.clone();
        }
        self.insert_samples(&other.samples);
        self.coverage.extend_from_slice(&other.coverage);
        self.coverage = merge_spans(std::mem::take(&mut self.coverage));
    }

    /// One sample per hour, the lowest-sequence report's; the same report's sample fills in
    /// what the kept one lacks ([`Self::fill_samples`]).
    fn insert_samples(&mut self, samples: &[Sample]) {
        for o in samples {
            match self.samples.binary_search_by_key(&o.hour, |s| s.hour) {
                Ok(i) if o.sequence < self.samples[i].sequence => self.samples[i] = o.clone(),
                Ok(_) => {}
                Err(i) => self.samples.insert(i, o.clone()),
            }
        }
        self.fill_samples(samples);
    }

    /// The sample of the same hour and report (sequence) that lacks issue 17's figures
    /// takes them from `samples`; nothing else changes. So a report merged twice, or a
    /// bucket refilled from its stored reports, gives the same bucket in either order of
    /// the two. (A projection merged into an empty bucket and then into reports keeps only
    /// what those reports' samples lack; the store never does that: a projection is only
    /// merged into a stored bucket and never creates one.)
    fn fill_samples(&mut self, samples: &[Sample]) {
        for o in samples {
            if let Ok(i) = self.samples.binary_search_by_key(&o.hour, |s| s.hour) {
                let s = &mut self.samples[i];
                if s.sequence == o.sequence && s.lacks_capacity_figures() {
                    *s = o.clone();
                }
            }
        }
    }
}

/// Largest bucket, encoded (before compression): a day of a host with a hundred filesystems
/// and a report every second with a gap after each is below it (about 150 KiB by estimate:
/// 24 samples of 100 filesystems at ~60 bytes, ~58 KiB of coverage spans; not measured). The store
/// never writes a larger one ([`HostBucket::fits`]), and a reader refuses one, so that one
/// agent's odd or hostile reports cannot make every later report of its day cost more
/// and more to merge, nor a damaged row make a reader allocate more.
pub const MAX_BUCKET_BYTES: usize = 256 << 10;

/// zstd level of stored buckets: the fastest; a bucket is rewritten with every report.
const STORED_LEVEL: i32 = 1;

thread_local! {
    /// Contexts reused by [`HostBucket::to_stored`] and [`HostBucket::from_stored`] on each
    /// thread (`None` if one could not be made: then a context per call, slower, same bytes).
    static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(STORED_LEVEL).ok());
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new().ok());
}

/// Why a stored bucket could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StoredBucketError {
    /// Not a zstd frame that declares its size, or declaring more than [`MAX_BUCKET_BYTES`].
    #[error("the stored bucket is not a zstd frame of at most {MAX_BUCKET_BYTES} bytes")]
    Size,
    /// The frame does not decompress to what it declared.
    #[error("cannot decompress the stored bucket: {0}")]
    Decompress(std::io::Error),
    /// Not a `HostBucket`.
    #[error("cannot decode the stored bucket: {0}")]
    Decode(#[from] prost::DecodeError),
}

impl HostBucket {
    /// Whether the bucket may be stored: at most [`MAX_BUCKET_BYTES`] encoded. A store that
    /// merged a summary into a bucket that then does not fit keeps the bucket as it was and
    /// warns (the report itself is stored; only its rollup misses it, so `report --from-raw`
    /// can differ for that host and day).
    pub fn fits(&self) -> bool {
        prost::Message::encoded_len(self) <= MAX_BUCKET_BYTES
    }

    /// Makes the bucket fit [`MAX_BUCKET_BYTES`] if it can: when it does not, its link days
    /// first give up their probe streams and degraded times (as an overflowed day does,
    /// [`links::LinkDay::shed`]), so that a vantage point's lossy links never cost its
    /// host's own figures. False, with a warning, when even that does not fit: the store then
    /// keeps the bucket as it was (its reports are stored, only left out of the rollups).
    pub fn fit(&mut self, key: &BucketKey) -> bool {
        if self.fits() {
            return true;
        }
        // Every link day sheds (no short circuit).
        let mut shed = false;
        for d in &mut self.links {
            shed |= d.shed();
        }
        if shed && self.fits() {
            tracing::warn!(agent = %key.agent_id, boot = %key.boot_id, bucket = key.bucket, "host rollup bucket full: its link days keep only their evidence (no probe stream, degraded time per piece)");
            return true;
        }
        tracing::warn!(agent = %key.agent_id, boot = %key.boot_id, bucket = key.bucket, "host rollup bucket full: its reports are stored, but left out of the rollups");
        false
    }

    /// The bucket as stored: its protobuf, zstd-compressed. A day's 24 capacity samples
    /// repeat mount points and figures, so it shrinks to about 40% (2 KiB to 0.8 KiB with
    /// two filesystems), and a row then fits within SQLite's in-page payload of a
    /// WITHOUT ROWID table instead of taking an overflow page of its own.
    pub fn to_stored(&self) -> Vec<u8> {
        let raw = prost::Message::encode_to_vec(self);
        COMPRESSOR
            .with(|c| match c.borrow_mut().as_mut() {
                Some(c) => c.compress(&raw),
                None => zstd::bulk::compress(&raw, STORED_LEVEL),
            })
            .expect("zstd compression of an in-memory buffer")
    }

    /// A bucket from its stored form ([`Self::to_stored`]).
    pub fn from_stored(stored: &[u8]) -> Result<HostBucket, StoredBucketError> {
        // One buffer of the frame's declared size (every stored bucket declares it), after
        // checking it against the bound; a context kept per thread, since creating one per
        // bucket cost more than the month's decoding.
        let size = match zstd::zstd_safe::get_frame_content_size(stored) {
            Ok(Some(n)) if n <= MAX_BUCKET_BYTES as u64 => n as usize,
            _ => return Err(StoredBucketError::Size),
        };
        let raw = DECOMPRESSOR
            .with(|d| match d.borrow_mut().as_mut() {
                Some(d) => d.decompress(stored, size),
                None => zstd::bulk::decompress(stored, size),
            })
            .map_err(StoredBucketError::Decompress)?;
        Ok(<HostBucket as prost::Message>::decode(raw.as_slice())?)
    }
}

/// A stored bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBucket {
    /// Its identity.
    pub key: BucketKey,
    /// Its summary.
    pub bucket: HostBucket,
}

impl StoredBucket {
    /// `buckets` merged per key: what `Store::merge_buckets` adds, one summary per bucket.
    pub fn by_key(buckets: Vec<StoredBucket>) -> std::collections::BTreeMap<BucketKey, HostBucket> {
        let mut out: std::collections::BTreeMap<BucketKey, HostBucket> =
            std::collections::BTreeMap::new();
        for b in buckets {
            out.entry(b.key).or_default().merge(&b.bucket);
        }
        out
    }

    /// A stored row as read by a scan, or `None`, with a warning, when its body cannot be
    /// read: only collectors write these rows, so that is damage, and one damaged row must
    /// not keep a month from being reported (the reports are intact while retained, so
    /// `report --from-raw` still has the right figures). Every backend reads rows this way.
    pub fn from_row(key: BucketKey, body: &[u8]) -> Option<StoredBucket> {
        match HostBucket::from_stored(body) {
            Ok(bucket) => Some(StoredBucket { key, bucket }),
            Err(e) => {
                tracing::warn!(agent = %key.agent_id, boot = %key.boot_id, bucket = key.bucket, error = %e, "skipping an undecodable host rollup bucket");
                None
            }
        }
    }
}

impl HostBucket {
    /// The stored body of `key` that a summary is about to be merged into, or an empty
    /// bucket, with a warning, when it cannot be read (see [`StoredBucket::from_row`]): the
    /// damaged row is replaced rather than failing every report of its bucket.
    pub fn stored_or_empty(key: &BucketKey, body: &[u8]) -> HostBucket {
        HostBucket::from_stored(body).unwrap_or_else(|e| {
            tracing::warn!(agent = %key.agent_id, boot = %key.boot_id, bucket = key.bucket, error = %e, "replacing an undecodable host rollup bucket");
            HostBucket::default()
        })
    }
}
