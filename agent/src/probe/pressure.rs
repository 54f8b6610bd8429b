//! Pressure stall information: `/proc/pressure/{cpu,memory,io}` (Linux 4.20 and later, with
//! PSI enabled; off by default on some distribution kernels: `psi=1` on the command line).
//! A file that is missing or unreadable leaves its resource out of the report: absent,
//! never zero. In a container the files describe the container's cgroup only when the
//! runtime mounts them so; the agent reports what the host's `/proc` says.

use zerofault_protocol::{Pressure, PressureLine, PressureStat, Report};

use super::source::{Probe, ProbeError, read_kernel_file};

const FILES: [&str; 3] = [
    "/proc/pressure/cpu",
    "/proc/pressure/memory",
    "/proc/pressure/io",
];

/// Parses one pressure file:
/// `some avg10=0.12 avg60=0.05 avg300=0.01 total=123456` and the same for `full`. The
/// averages are percent in the file and ratios here. A line that does not parse is left
/// out; a file with neither line is `None`.
pub fn parse_pressure(text: &str) -> Option<PressureStat> {
    let mut stat = PressureStat::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let slot = match fields.next() {
            Some("some") => &mut stat.some,
            Some("full") => &mut stat.full,
            _ => continue,
        };
        *slot = parse_line(fields);
    }
    (stat.some.is_some() || stat.full.is_some()).then_some(stat)
}

fn parse_line<'a>(fields: impl Iterator<Item = &'a str>) -> Option<PressureLine> {
    let (mut avg10, mut avg60, mut avg300, mut total) = (None, None, None, None);
    for f in fields {
        let (key, value) = f.split_once('=')?;
        let percent = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && (0.0..=100.0).contains(v))
                .map(|v| v / 100.0)
        };
        match key {
            "avg10" => avg10 = percent(),
            "avg60" => avg60 = percent(),
            "avg300" => avg300 = percent(),
            "total" => total = value.parse::<u64>().ok(),
            _ => {}
        }
    }
    Some(PressureLine {
        avg10: avg10?,
        avg60: avg60?,
        avg300: avg300?,
        total_us: total?,
    })
}

/// Fills `pressure`. A kernel without PSI costs three failed opens a collection (a PSI
/// enabled later, or a file failing once, shows at the next).
#[derive(Debug, Default)]
pub struct PressureProbe;

impl PressureProbe {
    /// A probe that tries every file.
    pub fn new() -> Self {
        Self
    }
}

impl Probe for PressureProbe {
    fn name(&self) -> &'static str {
        "pressure"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        let [cpu, memory, io] = FILES.map(|f| {
            read_kernel_file(std::path::Path::new(f))
                .ok()
                .as_deref()
                .and_then(parse_pressure)
        });
        // The system-wide `full` line of cpu is always zero (Documentation/accounting/psi.rst
        // keeps it for the format only): left out, not reported as a permanent 0.
        let cpu = cpu.map(|c| PressureStat { full: None, ..c });
        if cpu.is_none() && memory.is_none() && io.is_none() {
            return Ok(());
        }
        report.pressure = Some(Pressure { cpu, memory, io });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_lines_as_ratios() {
        let s = parse_pressure(
            "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\n\
             full avg10=0.00 avg60=0.00 avg300=0.00 total=42\n",
        )
        .unwrap();
        let some = s.some.unwrap();
        assert_eq!(
            (some.avg10, some.avg60, some.total_us),
            (0.015, 0.0025, 123_456)
        );
        assert_eq!(s.full.unwrap().total_us, 42);
    }

    #[test]
    fn cpu_before_linux_5_13_has_no_full_line() {
        let s = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n").unwrap();
        assert!(s.some.is_some() && s.full.is_none());
    }

    #[test]
    fn broken_lines_are_absent_not_zero() {
        assert_eq!(parse_pressure(""), None);
        assert_eq!(
            parse_pressure("some avg10=x avg60=0 avg300=0 total=1\n"),
            None
        );
        assert_eq!(
            parse_pressure("some avg10=101 avg60=0 avg300=0 total=1\n"),
            None
        );
        assert_eq!(parse_pressure("some avg10=0 avg60=0 total=1\n"), None);
        let half = parse_pressure(
            "some avg10=0 avg60=0 avg300=0 total=1\nfull avg10=0 avg60=0 avg300=0 total=-1\n",
        )
        .unwrap();
        assert!(half.some.is_some() && half.full.is_none());
    }
}
