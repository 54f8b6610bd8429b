//! CPU: logical and physical cores, time shares per mode and the busy ratio since the
//! previous collection, load averages.
//!
//! Times come from the first line of `/proc/stat` (aggregate jiffies per mode since boot),
//! diffed between two collections; the logical CPUs are its `cpuN` lines. The load
//! averages come from `/proc/loadavg`. Physical cores are read once from `/proc/cpuinfo`
//! (through sysinfo). Steal and iowait are the reason to read the modes ourselves: sysinfo
//! gives one busy figure only.

use zerofault_protocol::{Cpu, CpuModes, Report};

use super::source::{Probe, ProbeError, parse_error, read};

const LOADAVG: &str = "/proc/loadavg";
const STAT: &str = "/proc/stat";
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

/// The aggregate CPU times of `/proc/stat`, jiffies since boot, and the logical CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    /// user, nice, system, idle, iowait, irq, softirq, steal (guest time is inside user
    /// and nice, so it is not counted again); `None` when the `cpu` line has fewer than
    /// these eight fields (before Linux 2.6.11) or does not parse.
    pub modes: Option<[u64; 8]>,
    /// `cpuN` lines: logical CPUs online.
    pub cpus: u32,
}

/// Parses `/proc/stat`: the `cpu` line's first eight fields and the count of `cpuN` lines;
/// `None` when there is no `cpu` line at all.
pub fn parse_stat(text: &str) -> Option<CpuTimes> {
    let mut times = None;
    let mut cpus = 0u32;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else {
            // The cpu lines come first; nothing after them is needed.
            if times.is_some() {
                break;
            }
            continue;
        };
        if rest.starts_with(' ') {
            let mut fields = rest.split_whitespace().map(str::parse::<u64>);
            let mut modes = [0u64; 8];
            let whole = modes
                .iter_mut()
                .all(|m| fields.next().and_then(Result::ok).map(|v| *m = v).is_some());
            times = Some(whole.then_some(modes));
        } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
            cpus += 1;
        }
    }
    Some(CpuTimes {
        modes: times?,
        cpus,
    })
}

/// The shares of each mode between two samples; `None` when no time passed or either
/// sample has no modes. A field that went back counts 0: the kernel's iowait may decrease
/// (proc(5)), and idle jumps when a CPU goes offline; one such field must not cost the
/// interval's other figures (as top and sysinfo do it).
pub fn shares(before: &CpuTimes, after: &CpuTimes) -> Option<CpuModes> {
    let (b, a) = (before.modes?, after.modes?);
    let mut d = [0u64; 8];
    for (i, slot) in d.iter_mut().enumerate() {
        *slot = a[i].saturating_sub(b[i]);
    }
    let total: u64 = d.iter().sum();
    if total == 0 {
        return None;
    }
    let r = |v: u64| v as f64 / total as f64;
    Some(CpuModes {
        user: r(d[0]),
        nice: r(d[1]),
        system: r(d[2]),
        idle: r(d[3]),
        iowait: r(d[4]),
        irq: r(d[5]),
        softirq: r(d[6]),
        steal: r(d[7]),
    })
}

/// The busy share of the modes: all but idle and iowait (the CPU was free to run then).
pub fn busy_ratio(m: &CpuModes) -> f64 {
    (1.0 - m.idle - m.iowait).clamp(0.0, 1.0)
}

/// Fills `cpu`.
#[derive(Debug)]
pub struct CpuProbe {
    previous: Option<CpuTimes>,
    physical_cores: u32,
}

impl CpuProbe {
    /// Takes the first CPU time sample, so the first collection's shares cover the time
    /// since the agent started.
    pub fn new() -> Result<Self, ProbeError> {
        // A failed first read only costs the first interval's modes: `collect` reads again.
        let previous = read(STAT).ok().as_deref().and_then(parse_stat);
        // Reads /proc/cpuinfo, which is large on big machines: once, at start.
        let physical_cores = sysinfo::System::physical_core_count()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        Ok(Self {
            previous,
            physical_cores,
        })
    }
}

impl Probe for CpuProbe {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        let now =
            parse_stat(&read(STAT)?).ok_or_else(|| parse_error(STAT, "expected a `cpu` line"))?;
        let modes = self.previous.and_then(|before| shares(&before, &now));
        self.previous = Some(now);
        let load = parse_loadavg(&read(LOADAVG)?)
            .ok_or_else(|| parse_error(LOADAVG, "expected three non-negative numbers"))?;
        report.cpu = Some(Cpu {
            logical_cores: now.cpus,
            physical_cores: self.physical_cores,
            usage_ratio: modes.as_ref().map_or(0.0, busy_ratio),
            load1: load.load1,
            load5: load.load5,
            load15: load.load15,
            modes,
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

    /// A 2-CPU guest (Linux 6.1, shortened intr line).
    const STAT_1: &str = "cpu  100 10 50 800 20 5 5 10 0 0
cpu0 50 5 25 400 10 3 2 5 0 0
cpu1 50 5 25 400 10 2 3 5 0 0
intr 12345 0 9 0 0
ctxt 999
";
    const STAT_2: &str = "cpu  160 10 70 1680 60 5 5 10 40 0
cpu0 80 5 35 840 30 3 2 5 20 0
cpu1 80 5 35 840 30 2 3 5 20 0
intr 12399 0 9 0 0
";

    #[test]
    fn stat_times_and_cpus() {
        let t = parse_stat(STAT_1).unwrap();
        assert_eq!(t.modes, Some([100, 10, 50, 800, 20, 5, 5, 10]));
        assert_eq!(t.cpus, 2);
        // Before Linux 2.6.11 (no steal): the CPUs, but no modes rather than zeros.
        let old = parse_stat("cpu  1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\n").unwrap();
        assert_eq!((old.modes, old.cpus), (None, 1));
        assert_eq!(parse_stat("cpu  1 2 3 x 5 6 7 8\n").unwrap().modes, None);
        assert_eq!(parse_stat("intr 1 2\n"), None);
    }

    #[test]
    fn shares_over_an_interval() {
        let (a, b) = (parse_stat(STAT_1).unwrap(), parse_stat(STAT_2).unwrap());
        // Deltas: user 60, system 20, idle 880, iowait 40; total 1000 (guest 40 is in user).
        let m = shares(&a, &b).unwrap();
        assert_eq!(
            (m.user, m.system, m.idle, m.iowait, m.steal),
            (0.06, 0.02, 0.88, 0.04, 0.0)
        );
        assert!((busy_ratio(&m) - 0.08).abs() < 1e-12);
        let sum: f64 = m.named().iter().map(|(_, v)| v).sum();
        assert!((sum - 1.0).abs() < 1e-12);
        // No time passed: no figures, not zeros.
        assert_eq!(shares(&a, &a), None);
        // iowait went back by 5 (the kernel allows it): that field counts 0, the rest stand.
        let mut back = b;
        back.modes.as_mut().unwrap()[4] = 15;
        let m = shares(&a, &back).unwrap();
        assert_eq!((m.iowait, m.idle), (0.0, 880.0 / 960.0));
        let old = CpuTimes {
            modes: None,
            cpus: 1,
        };
        assert_eq!(shares(&old, &b), None);
    }

    #[test]
    fn collects_the_modes_of_this_machine() {
        let mut p = CpuProbe::new().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut r = Report::default();
        p.collect(&mut r).unwrap();
        let cpu = r.cpu.unwrap();
        assert!(cpu.logical_cores >= 1);
        assert!((0.0..=1.0).contains(&cpu.usage_ratio));
        // 50 ms on an idle core may be no jiffy at all; a second interval of 200 ms has some.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut r = Report::default();
        p.collect(&mut r).unwrap();
        let modes = r.cpu.unwrap().modes.expect("200 ms of CPU time");
        let sum: f64 = modes.named().iter().map(|(_, v)| v).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{modes:?}");
    }
}
