//! Per-host families: the host's facts (`zerofault_host_info`), up, report timing, CPU
//! (busy ratio and time per mode), memory, swap and pressure. At [`Detail::Essential`] the
//! report interval, load averages, CPU modes but iowait and steal, swap and pressure are
//! left out: alerting on availability and capacity reads up, the report and boot times,
//! CPU use, steal and iowait, and memory.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::encode::{Labels, counter, gauge};
use super::settings::Detail;
use super::view::{HostView, host_gauge};

/// Host facts, up, report timing, CPU, memory and swap, one sample per host; the families
/// of full detail only when `detail` is full.
pub(super) fn encode_hosts(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    detail: Detail,
) -> fmt::Result {
    let full = detail == Detail::Full;
    // The encoder appends `_info`: this is `zerofault_host_info`.
    let mut info = enc.encode_descriptor(
        "zerofault_host",
        "Host facts as labels; the value is always 1.",
        None,
        MetricType::Info,
    )?;
    for h in hosts {
        let system = h.report.system.as_ref();
        let os = system
            .map(|s| format!("{} {}", s.os_name, s.os_version).trim().to_owned())
            .unwrap_or_default();
        let kernel = system.map(|s| s.kernel_version.as_str()).unwrap_or("");
        let labels: Labels<'_> = vec![
            ("agent", h.report.agent_id.as_str()),
            ("host", h.report.hostname.as_str()),
            ("department", h.host.department),
            ("business_system", h.host.business_system),
            ("datacenter", h.host.datacenter),
            ("site", h.host.site),
            ("os", os.as_str()),
            ("kernel", kernel),
            ("agent_version", h.report.agent_version.as_str()),
        ];
        info.encode_info(&labels)?;
    }

    host_gauge(
        enc,
        hosts,
        "zerofault_host_up",
        "1 if the host's newest report arrived within down_after_intervals of its interval, else 0.",
        |h| Some(i64::from(h.host.up)),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_last_report_timestamp_seconds",
        "When the collector received the host's newest report (collector clock), Unix seconds.",
        |h| Some(h.host.entry.received_unix_ms as f64 / 1000.0),
    )?;
    if full {
        host_gauge(
            enc,
            hosts,
            "zerofault_host_report_interval_seconds",
            "The agent's collection interval.",
            |h| Some(f64::from(h.report.interval_ms) / 1000.0),
        )?;
    }
    host_gauge(
        enc,
        hosts,
        "zerofault_host_boot_time_seconds",
        "Host boot time by the agent's clock, Unix seconds.",
        |h| Some(h.report.boot_time_unix_seconds),
    )?;

    host_gauge(
        enc,
        hosts,
        "zerofault_host_cpu_cores",
        "Logical CPUs (hardware threads) online.",
        |h| h.report.cpu.as_ref().map(|c| c.logical_cores),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_cpu_usage_ratio",
        "Busy share of all logical CPUs over the agent's last interval, 0 to 1.",
        |h| h.report.cpu.as_ref().map(|c| c.usage_ratio),
    )?;
    encode_cpu_modes(enc, hosts, full)?;
    if full {
        encode_load(enc, hosts)?;
    }

    host_gauge(
        enc,
        hosts,
        "zerofault_host_memory_total_bytes",
        "Physical memory (MemTotal).",
        |h| h.report.memory.as_ref().map(|m| m.total_bytes),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_memory_used_bytes",
        "Memory in use: MemTotal - MemAvailable.",
        |h| h.report.memory.as_ref().map(|m| m.used_bytes),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_memory_available_bytes",
        "Memory available for new work without swapping (MemAvailable).",
        |h| h.report.memory.as_ref().map(|m| m.available_bytes),
    )?;
    if full {
        encode_swap(enc, hosts)?;
        encode_pressure(enc, hosts)?;
    }
    Ok(())
}

/// Modes kept at essential detail: the two that say a host waits on others (its
/// hypervisor, its storage), which the busy ratio alone hides.
const ESSENTIAL_MODES: [&str; 2] = ["iowait", "steal"];

/// The CPU time shares per mode: every mode at full detail, iowait and steal at essential.
/// Hosts whose report has no modes (old agents, kernels before 2.6.11) have none.
fn encode_cpu_modes(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    full: bool,
) -> fmt::Result {
    gauge(
        enc,
        "zerofault_host_cpu_mode_ratio",
        "Share of all logical CPUs' time spent in each mode over the agent's last interval, 0 to 1 (steal: taken by the hypervisor; iowait: idle with I/O outstanding).",
        hosts.iter().flat_map(|h| {
            let modes = h.report.cpu.as_ref().and_then(|c| c.modes.as_ref());
            modes
                .map(|m| m.named())
                .into_iter()
                .flatten()
                .filter(move |(mode, _)| full || ESSENTIAL_MODES.contains(mode))
                .map(move |(mode, v)| {
                    let mut labels = h.labels();
                    labels.push(("mode", mode));
                    (labels, v)
                })
        }),
    )
}

/// Pressure stall time per resource and kind (full detail only), for `rate()`.
fn encode_pressure(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
    counter(
        enc,
        "zerofault_host_pressure_stalled_seconds_total",
        "Time tasks waited for the resource since boot (PSI `total`): kind some = at least one task, full = all non-idle tasks at once.",
        hosts.iter().flat_map(|h| {
            h.report
                .pressure
                .iter()
                .flat_map(|p| p.lines())
                .map(move |(resource, kind, line)| {
                    let mut labels = h.labels();
                    labels.push(("resource", resource));
                    labels.push(("kind", kind));
                    (labels, line.total_us as f64 / 1e6)
                })
        }),
    )
}

/// The load averages (full detail only).
fn encode_load(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
    host_gauge(
        enc,
        hosts,
        "zerofault_host_load1",
        "1-minute load average.",
        |h| h.report.cpu.as_ref().map(|c| c.load1),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_load5",
        "5-minute load average.",
        |h| h.report.cpu.as_ref().map(|c| c.load5),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_load15",
        "15-minute load average.",
        |h| h.report.cpu.as_ref().map(|c| c.load15),
    )
}

/// Swap size and use (full detail only).
fn encode_swap(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
    host_gauge(
        enc,
        hosts,
        "zerofault_host_swap_total_bytes",
        "Swap space (SwapTotal).",
        |h| h.report.memory.as_ref().map(|m| m.swap_total_bytes),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_swap_used_bytes",
        "Swap in use: SwapTotal - SwapFree.",
        |h| h.report.memory.as_ref().map(|m| m.swap_used_bytes),
    )
}
