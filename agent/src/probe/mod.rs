//! Probes: each fills its part of a [`Report`] from the kernel.
//!
//! Link probes (ICMP, TCP, HTTP against configured targets) are a second family with their
//! own table, [`link::LINK_PROBES`]: they run continuously between reports rather than once
//! per report. Interface transitions are watched continuously by [`interface_watch`].
//!
//! Every value read from `/proc` or `/sys` goes through a pure `parse_*` function in the
//! probe's file, unit-tested with literal kernel output (as node_exporter does), so the
//! parsing is checked on any machine. The I/O around it is a single small read per file.
//!
//! Cost matters more than breadth here: the agent runs on every host for years. Probes keep
//! their state between collections, sysinfo is asked only for the physical cores, once, and nothing ever
//! walks the process table.

pub mod block;
pub mod clock;
pub mod cpu;
pub mod disk;
pub mod http;
pub mod icmp;
pub mod icmp_socket;
pub mod interface_watch;
pub mod link;
pub mod link_stats;
pub mod memory;
pub mod network;
pub mod pressure;
mod source;
pub mod system;
pub mod tcp;
pub mod tcp_counters;

use tracing::warn;
use zerofault_protocol::Report;

pub use source::{Probe, ProbeError};

/// The probe table: every probe the agent runs, in collection order. Adding a probe is one
/// file and one line here.
/// Starts a probe.
type MakeProbe = fn() -> Result<Box<dyn Probe>, ProbeError>;

const PROBES: &[(&str, MakeProbe)] = &[
    ("system", || Ok(Box::new(system::SystemProbe::new()))),
    ("cpu", || Ok(Box::new(cpu::CpuProbe::new()?))),
    ("memory", || Ok(Box::new(memory::MemoryProbe::new()))),
    ("disk", || Ok(Box::new(disk::DiskProbe::new()))),
    ("network", || Ok(Box::new(network::NetworkProbe::new()))),
    ("pressure", || Ok(Box::new(pressure::PressureProbe::new()))),
    ("block", || Ok(Box::new(block::BlockProbe::new()))),
    ("tcp_counters", || {
        Ok(Box::new(tcp_counters::TcpCountersProbe::new()))
    }),
    ("clock", || Ok(Box::new(clock::ClockProbe::new()?))),
];

/// All probes of [`PROBES`] that could start (a probe that cannot start is logged and left
/// out, so one broken source never stops the others).
pub struct Probes {
    probes: Vec<Box<dyn Probe>>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.probes.iter().map(|p| p.name()))
            .finish()
    }
}

impl Probes {
    /// Starts every probe of the table.
    pub fn new() -> Self {
        let probes = PROBES
            .iter()
            .filter_map(|(name, make)| match make() {
                Ok(p) => Some(p),
                Err(e) => {
                    warn!(probe = name, "probe disabled: {e}");
                    None
                }
            })
            .collect();
        Self { probes }
    }

    /// Names of the running probes.
    pub fn names(&self) -> Vec<&'static str> {
        self.probes.iter().map(|p| p.name()).collect()
    }

    /// Runs every probe; a failing probe is logged and its fields stay empty.
    pub fn collect(&mut self, report: &mut Report) {
        for probe in &mut self.probes {
            if let Err(e) = probe.collect(report) {
                warn!(probe = probe.name(), "probe failed: {e}");
            }
        }
    }
}

impl Default for Probes {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_match_probe_names() {
        for (name, make) in PROBES {
            let probe = make().unwrap();
            assert_eq!(probe.name(), *name);
        }
    }

    #[test]
    fn all_probes_fill_a_report_on_linux() {
        let mut probes = Probes::new();
        assert_eq!(
            probes.names(),
            [
                "system",
                "cpu",
                "memory",
                "disk",
                "network",
                "pressure",
                "block",
                "tcp_counters",
                "clock"
            ]
        );
        let mut report = Report::default();
        probes.collect(&mut report);
        assert!(!report.hostname.is_empty());
        assert!(!report.boot_id.is_empty());
        assert!(report.cpu.as_ref().unwrap().logical_cores > 0);
        assert!(report.memory.as_ref().unwrap().total_bytes > 0);
        assert!(!report.interfaces.is_empty());
        assert!(report.tcp.is_some());
        assert!(report.clock.is_some());
    }
}
