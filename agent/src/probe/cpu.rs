//! CPU: logical and physical cores, busy ratio since the previous collection, load averages.
//!
//! The busy ratio comes from sysinfo (a diff of `/proc/stat` CPU times between two
//! refreshes), refreshing CPU usage only. The load averages come from `/proc/loadavg`.

use sysinfo::{CpuRefreshKind, RefreshKind, System};
use zerofault_protocol::{Cpu, Report};

use super::source::{Probe, ProbeError, parse_error, read};

const LOADAVG: &str = "/proc/loadavg";

/// Load averages over 1, 5 and 15 minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    /// 1-minute load.
    pub load1: f64,
    /// 5-minute load.
    pub load5: f64,
    /// 15-minute load.
    pub load15: f64,
}

/// Parses `/proc/loadavg` (`"0.20 0.36 0.39 3/100 14070"`).
pub fn parse_loadavg(text: &str) -> Option<LoadAvg> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let mut next = || match fields.next() {
        Some(Ok(v)) if v.is_finite() && v >= 0.0 => Some(v),
        _ => None,
    };
    Some(LoadAvg {
        load1: next()?,
        load5: next()?,
        load15: next()?,
    })
}

/// Converts sysinfo's busy percentage (0..=100, summed over CPUs then averaged) to a ratio
/// clamped to 0..=1; a NaN (no sample yet) becomes 0.
pub fn usage_ratio(percent: f32) -> f64 {
    let r = f64::from(percent) / 100.0;
    if r.is_nan() { 0.0 } else { r.clamp(0.0, 1.0) }
}

/// Fills `cpu`.
pub struct CpuProbe {
    system: System,
    physical_cores: u32,
}

impl std::fmt::Debug for CpuProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuProbe")
            .field("physical_cores", &self.physical_cores)
            .finish_non_exhaustive()
    }
}

impl CpuProbe {
    /// Takes the first CPU time sample, so the first collection's ratio covers the time
    /// since the agent started.
    pub fn new() -> Result<Self, ProbeError> {
        let system = System::new_with_specifics(
            RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing().with_usage()),
        )
        .map_err(|e| ProbeError::Sysinfo(e.to_string()))?;
        // Reads /proc/cpuinfo, which is large on big machines: once, at start.
        let physical_cores = System::physical_core_count()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        Ok(Self {
            system,
            physical_cores,
        })
    }
}

impl Probe for CpuProbe {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        self.system.refresh_cpu_usage();
        let load = parse_loadavg(&read(LOADAVG)?)
            .ok_or_else(|| parse_error(LOADAVG, "expected three non-negative numbers"))?;
        report.cpu = Some(Cpu {
            logical_cores: u32::try_from(self.system.cpus().len()).unwrap_or(u32::MAX),
            physical_cores: self.physical_cores,
            usage_ratio: usage_ratio(self.system.global_cpu_usage()),
            load1: load.load1,
            load5: load.load5,
            load15: load.load15,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadavg() {
        assert_eq!(
            parse_loadavg("0.20 0.36 0.39 3/100 14070\n"),
            Some(LoadAvg {
                load1: 0.20,
                load5: 0.36,
                load15: 0.39
            })
        );
        assert_eq!(
            parse_loadavg("12.00 8.50 4.25 1/1 1"),
            Some(LoadAvg {
                load1: 12.0,
                load5: 8.5,
                load15: 4.25
            })
        );
        assert_eq!(parse_loadavg("0.20 0.36"), None);
        assert_eq!(parse_loadavg("x 0.36 0.39"), None);
        assert_eq!(parse_loadavg("NaN 0.36 0.39"), None);
        assert_eq!(parse_loadavg(""), None);
    }

    #[test]
    fn usage_ratio_is_clamped() {
        assert_eq!(usage_ratio(0.0), 0.0);
        assert_eq!(usage_ratio(50.0), 0.5);
        assert_eq!(usage_ratio(100.0), 1.0);
        assert_eq!(usage_ratio(100.4), 1.0);
        assert_eq!(usage_ratio(-1.0), 0.0);
        assert_eq!(usage_ratio(f32::NAN), 0.0);
    }

    #[test]
    fn collects_after_two_samples() {
        let mut p = CpuProbe::new().unwrap();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let mut r = Report::default();
        p.collect(&mut r).unwrap();
        let cpu = r.cpu.unwrap();
        assert!(cpu.logical_cores >= 1);
        assert!((0.0..=1.0).contains(&cpu.usage_ratio));
    }
}
