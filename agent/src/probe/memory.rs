//! Memory and swap from `/proc/meminfo`.
//!
//! Parsed here rather than taken from sysinfo because the collector promises
//! `zerofault_host_memory_total_bytes == MemTotal * 1024` exactly, and sysinfo's memory
//! figures have changed meaning between releases (cgroup limits, container views). Reading
//! one small file ourselves makes the contract independent of the library version.

use zerofault_protocol::{Memory, Report};

use super::source::{Probe, ProbeError, parse_error, read};

const MEMINFO: &str = "/proc/meminfo";

/// The `/proc/meminfo` fields the report uses, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total: u64,
    /// `MemFree`.
    pub free: u64,
    /// `MemAvailable`; absent on kernels before 3.14.
    pub available: Option<u64>,
    /// `Buffers`.
    pub buffers: u64,
    /// `Cached`.
    pub cached: u64,
    /// `SReclaimable`.
    pub sreclaimable: u64,
    /// `Shmem`.
    pub shmem: u64,
    /// `SwapTotal`.
    pub swap_total: u64,
    /// `SwapFree`.
    pub swap_free: u64,
}

/// Parses `/proc/meminfo`. Values are in KiB (the kernel writes `kB`); lines without a unit
/// (`HugePages_Total: 0`) are counts and are not used. `None` when `MemTotal` is missing.
pub fn parse_meminfo(text: &str) -> Option<MemInfo> {
    let mut m = MemInfo::default();
    let mut total = None;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(Ok(value)) = parts.next().map(str::parse::<u64>) else {
            continue;
        };
        let bytes = match parts.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => continue,
        };
        match key.trim() {
            "MemTotal" => total = Some(bytes),
            "MemFree" => m.free = bytes,
            "MemAvailable" => m.available = Some(bytes),
            "Buffers" => m.buffers = bytes,
            "Cached" => m.cached = bytes,
            "SReclaimable" => m.sreclaimable = bytes,
            "Shmem" => m.shmem = bytes,
            "SwapTotal" => m.swap_total = bytes,
            "SwapFree" => m.swap_free = bytes,
            _ => {}
        }
    }
    m.total = total?;
    Some(m)
}

/// Builds the report's memory section: `used = total - available`. Without `MemAvailable`
/// (old kernels) available is estimated the way `free(1)` did: free + buffers + cache +
/// reclaimable slab - shmem.
pub fn memory_from(m: &MemInfo) -> Memory {
    let available = m
        .available
        .unwrap_or_else(|| {
            m.free
                .saturating_add(m.buffers)
                .saturating_add(m.cached)
                .saturating_add(m.sreclaimable)
                .saturating_sub(m.shmem)
        })
        .min(m.total);
    Memory {
        total_bytes: m.total,
        used_bytes: m.total - available,
        available_bytes: available,
        swap_total_bytes: m.swap_total,
        swap_used_bytes: m.swap_total.saturating_sub(m.swap_free),
    }
}

/// Fills `memory`.
#[derive(Debug, Default)]
pub struct MemoryProbe;

impl MemoryProbe {
    /// Creates the probe.
    pub fn new() -> Self {
        Self
    }
}

impl Probe for MemoryProbe {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        let m =
            parse_meminfo(&read(MEMINFO)?).ok_or_else(|| parse_error(MEMINFO, "no MemTotal"))?;
        report.memory = Some(memory_from(&m));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO_TEXT: &str = "\
MemTotal:       24684084 kB
MemFree:        24112280 kB
MemAvailable:   24299324 kB
Buffers:            1828 kB
Cached:           343644 kB
SwapCached:            0 kB
Shmem:              1024 kB
SReclaimable:      20000 kB
SwapTotal:       2097148 kB
SwapFree:        2000000 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn parses_meminfo_in_bytes() {
        let m = parse_meminfo(MEMINFO_TEXT).unwrap();
        assert_eq!(m.total, 24_684_084 * 1024);
        assert_eq!(m.available, Some(24_299_324 * 1024));
        assert_eq!(m.swap_total, 2_097_148 * 1024);
        let mem = memory_from(&m);
        assert_eq!(mem.total_bytes, 24_684_084 * 1024);
        assert_eq!(mem.available_bytes, 24_299_324 * 1024);
        assert_eq!(mem.used_bytes, (24_684_084 - 24_299_324) * 1024);
        assert_eq!(mem.swap_used_bytes, (2_097_148 - 2_000_000) * 1024);
    }

    #[test]
    fn old_kernel_without_memavailable() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 300 kB\nSReclaimable: 20 kB\nShmem: 70 kB\n";
        let mem = memory_from(&parse_meminfo(text).unwrap());
        assert_eq!(mem.available_bytes, 400 * 1024);
        assert_eq!(mem.used_bytes, 600 * 1024);
        assert_eq!(mem.swap_total_bytes, 0);
    }

    #[test]
    fn available_never_exceeds_total() {
        let mem = memory_from(&parse_meminfo("MemTotal: 10 kB\nMemAvailable: 20 kB\n").unwrap());
        assert_eq!(mem.available_bytes, 10 * 1024);
        assert_eq!(mem.used_bytes, 0);
    }

    #[test]
    fn missing_total_or_garbage() {
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo(""), None);
        assert_eq!(parse_meminfo("MemTotal: x kB\n"), None);
    }

    #[test]
    fn matches_proc_meminfo_exactly() {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        let kib: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        let mut r = Report::default();
        MemoryProbe::new().collect(&mut r).unwrap();
        assert_eq!(r.memory.unwrap().total_bytes, kib * 1024);
    }
}
