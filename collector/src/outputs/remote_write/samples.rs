//! The series one stored report adds, as remote write series: pure (report, receive time and
//! clock offset in; series out), with the names and labels `/metrics` gives the same figures
//! (`docs/metrics.md`; a test encodes both and compares).
//!
//! **Time.** A sample is stamped with the time the agent took the figure, placed on the
//! collector's clock: `min(agent time - clock offset, receive time)`, where the offset is the
//! agent's estimated clock offset (`live::delivery`) when it says the agent runs ahead, else
//! 0 ([`place`] says why). So a backfilled report lands in the TSDB at the time it
//! describes, not as a burst of "now", and an agent whose clock runs ahead never writes into
//! the future. Link figures are
//! stamped with the end of their probe window, placed the same way.
//!
//! **What a report carries, and what it does not.** Every figure that is in the report is
//! pushed with it: host facts, CPU, load, memory, swap, filesystems, interfaces, the agent's
//! spool and send errors, and each link window's loss, RTT and jitter. Figures that the
//! collector derives over time (up, link states with hysteresis, down-time and fault
//! counters, department and data-center sums) are not in any one report: the state push
//! (`state.rs`) sends them at collector time.

use std::collections::HashSet;
use std::sync::Arc;

use zerofault_protocol::Report;

use super::wire::{Label, Sample, TimeSeries};
use crate::aggregate::{Host, or_unlabelled};
use crate::figures::{CLOCK, DISK, Figure, TCP};
use crate::live::hosts::HostEntry;

/// Series under construction: one sample each, at one timestamp.
#[derive(Debug, Default)]
pub struct SeriesOut {
    /// The series so far.
    pub series: Vec<TimeSeries>,
}

impl SeriesOut {
    /// Adds series `name{labels}` with one sample; a non-finite value (NaN, inf) is left out,
    /// since in remote write a NaN is a staleness marker. A label with an empty value is
    /// left out (in Prometheus it is no label; remote write forbids it).
    pub fn push(&mut self, name: &str, labels: &[(&str, &str)], timestamp: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut all: Vec<Label> = Vec::with_capacity(labels.len() + 1);
        all.push(Label {
            name: "__name__".into(),
            value: name.into(),
        });
        all.extend(
            labels
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| Label {
                    name: (*n).into(),
                    value: (*v).into(),
                }),
        );
        all.sort_by(|a, b| a.name.cmp(&b.name));
        self.series.push(TimeSeries {
            labels: all,
            samples: vec![Sample { value, timestamp }],
        });
    }
}

/// `agent_ms` (agent clock) on the collector's clock: moved back by the agent's clock offset
/// when the agent runs ahead, and never later than the report's receipt.
///
/// Only a positive offset is applied. The estimate is the largest `agent time - receive
/// time` seen; delay only lowers it, so a positive estimate is a sure lower bound of how far
/// ahead the clock runs. A negative one cannot be told apart from delivery delay: the first
/// report of a backlog that reaches a collector which has none of that boot counts as live
/// and makes the clock look hours behind, and correcting by that would stamp the whole
/// backlog "now".
pub fn place(agent_ms: i64, clock_offset_ms: Option<i64>, received_ms: i64) -> i64 {
    agent_ms
        .saturating_sub(clock_offset_ms.unwrap_or(0).max(0))
        .min(received_ms)
}

/// Every series `report` (received at `received_ms`, from an agent whose clock is
/// `clock_offset_ms` ahead) adds, in `/metrics` order.
pub fn of_report(report: &Report, received_ms: i64, clock_offset_ms: Option<i64>) -> SeriesOut {
    let mut out = SeriesOut::default();
    let entry = HostEntry {
        report: Arc::new(report.clone()),
        received_unix_ms: received_ms,
        delivery: None,
    };
    // The same organisation labels (`unlabelled` for empty) and filesystem de-duplication
    // as /metrics and the aggregates.
    let host = Host::new(&entry, received_ms, u32::MAX);
    let ts = place(report.timestamp_unix_ms, clock_offset_ms, received_ms);
    let base = [
        ("agent", report.agent_id.as_str()),
        ("host", report.hostname.as_str()),
        ("department", host.department),
        ("datacenter", host.datacenter),
    ];
    host_series(&mut out, report, &host, &base, ts);
    filesystem_series(&mut out, &host, &base, ts);
    interface_series(&mut out, report, &base, ts);
    kernel_series(&mut out, report, &base, ts);
    agent_series(&mut out, report, &base, ts, clock_offset_ms);
    link_series(&mut out, report, received_ms, clock_offset_ms);
    out
}

fn host_series(
    out: &mut SeriesOut,
    report: &Report,
    host: &Host<'_>,
    base: &[(&str, &str)],
    ts: i64,
) {
    let system = report.system.as_ref();
    let os = system
        .map(|s| format!("{} {}", s.os_name, s.os_version).trim().to_owned())
        .unwrap_or_default();
    let kernel = system.map(|s| s.kernel_version.as_str()).unwrap_or("");
    let info = [
        ("agent", report.agent_id.as_str()),
        ("host", report.hostname.as_str()),
        ("department", host.department),
        ("business_system", host.business_system),
        ("datacenter", host.datacenter),
        ("site", host.site),
        ("os", os.as_str()),
        ("kernel", kernel),
        ("agent_version", report.agent_version.as_str()),
    ];
    out.push("zerofault_host_info", &info, ts, 1.0);
    out.push(
        "zerofault_host_report_interval_seconds",
        base,
        ts,
        f64::from(report.interval_ms) / 1000.0,
    );
    out.push(
        "zerofault_host_boot_time_seconds",
        base,
        ts,
        report.boot_time_unix_seconds as f64,
    );
    if let Some(cpu) = &report.cpu {
        out.push(
            "zerofault_host_cpu_cores",
            base,
            ts,
            f64::from(cpu.logical_cores),
        );
        out.push("zerofault_host_cpu_usage_ratio", base, ts, cpu.usage_ratio);
        out.push("zerofault_host_load1", base, ts, cpu.load1);
        out.push("zerofault_host_load5", base, ts, cpu.load5);
        out.push("zerofault_host_load15", base, ts, cpu.load15);
        for (mode, v) in cpu.modes.iter().flat_map(|m| m.named()) {
            let mut labels = base.to_vec();
            labels.push(("mode", mode));
            out.push("zerofault_host_cpu_mode_ratio", &labels, ts, v);
        }
    }
    for (resource, kind, line) in report.pressure.iter().flat_map(|p| p.lines()) {
        let mut labels = base.to_vec();
        labels.push(("resource", resource));
        labels.push(("kind", kind));
        out.push(
            "zerofault_host_pressure_stalled_seconds_total",
            &labels,
            ts,
            line.total_us as f64 / 1e6,
        );
    }
    if let Some(m) = &report.memory {
        out.push(
            "zerofault_host_memory_total_bytes",
            base,
            ts,
            m.total_bytes as f64,
        );
        out.push(
            "zerofault_host_memory_used_bytes",
            base,
            ts,
            m.used_bytes as f64,
        );
        out.push(
            "zerofault_host_memory_available_bytes",
            base,
            ts,
            m.available_bytes as f64,
        );
        out.push(
            "zerofault_host_swap_total_bytes",
            base,
            ts,
            m.swap_total_bytes as f64,
        );
        out.push(
            "zerofault_host_swap_used_bytes",
            base,
            ts,
            m.swap_used_bytes as f64,
        );
    }
}

fn filesystem_series(out: &mut SeriesOut, host: &Host<'_>, base: &[(&str, &str)], ts: i64) {
    for fs in &host.filesystems {
        let mut labels = base.to_vec();
        labels.push(("mountpoint", fs.mount_point.as_str()));
        labels.push(("device", fs.device.as_str()));
        labels.push(("fstype", fs.fs_type.as_str()));
        out.push(
            "zerofault_host_filesystem_size_bytes",
            &labels,
            ts,
            fs.size_bytes as f64,
        );
        out.push(
            "zerofault_host_filesystem_used_bytes",
            &labels,
            ts,
            fs.used_bytes as f64,
        );
        out.push(
            "zerofault_host_filesystem_available_bytes",
            &labels,
            ts,
            fs.available_bytes as f64,
        );
        let optional = [
            ("zerofault_host_filesystem_inodes", fs.inodes_total),
            ("zerofault_host_filesystem_inodes_free", fs.inodes_free),
            (
                "zerofault_host_filesystem_readonly",
                fs.read_only.map(u64::from),
            ),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                out.push(name, &labels, ts, v as f64);
            }
        }
    }
}

fn interface_series(out: &mut SeriesOut, report: &Report, base: &[(&str, &str)], ts: i64) {
    let mut seen = HashSet::new();
    for i in report
        .interfaces
        .iter()
        .filter(|i| seen.insert(i.name.as_str()))
    {
        if i.name.is_empty() {
            continue;
        }
        let mut labels = base.to_vec();
        labels.push(("interface", i.name.as_str()));
        for (name, value) in [
            (
                "zerofault_host_network_receive_bytes_total",
                i.receive_bytes,
            ),
            (
                "zerofault_host_network_transmit_bytes_total",
                i.transmit_bytes,
            ),
            (
                "zerofault_host_network_receive_packets_total",
                i.receive_packets,
            ),
            (
                "zerofault_host_network_transmit_packets_total",
                i.transmit_packets,
            ),
            (
                "zerofault_host_network_receive_errors_total",
                i.receive_errors,
            ),
            (
                "zerofault_host_network_transmit_errors_total",
                i.transmit_errors,
            ),
            (
                "zerofault_host_network_receive_drops_total",
                i.receive_drops,
            ),
            (
                "zerofault_host_network_transmit_drops_total",
                i.transmit_drops,
            ),
        ] {
            out.push(name, &labels, ts, value as f64);
        }
        let up = i.oper_state == "up";
        out.push(
            "zerofault_host_network_up",
            &labels,
            ts,
            f64::from(u8::from(up)),
        );
        if let Some(carrier) = i.carrier {
            out.push(
                "zerofault_host_network_carrier",
                &labels,
                ts,
                f64::from(u8::from(carrier)),
            );
        }
        if i.speed_bits_per_second > 0 {
            out.push(
                "zerofault_host_network_speed_bytes",
                &labels,
                ts,
                (i.speed_bits_per_second / 8) as f64,
            );
        }
        if let Some(full) = i.full_duplex {
            out.push(
                "zerofault_host_network_full_duplex",
                &labels,
                ts,
                f64::from(u8::from(full)),
            );
        }
    }
}

/// Block devices, TCP and clock: every row of [`crate::figures`]' tables.
fn kernel_series(out: &mut SeriesOut, report: &Report, base: &[(&str, &str)], ts: i64) {
    fn push_table<T>(
        out: &mut SeriesOut,
        table: &[Figure<T>],
        item: &T,
        labels: &[(&str, &str)],
        ts: i64,
    ) {
        for figure in table {
            if let Some(v) = (figure.value)(item) {
                out.push(figure.name, labels, ts, v.as_f64());
            }
        }
    }
    let mut seen = HashSet::new();
    for d in report
        .block_devices
        .iter()
        .filter(|d| seen.insert(d.name.as_str()))
    {
        let mut labels = base.to_vec();
        labels.push(("device", d.name.as_str()));
        push_table(out, &DISK, d, &labels, ts);
    }
    if let Some(t) = &report.tcp {
        push_table(out, &TCP, t, base, ts);
    }
    if let Some(c) = &report.clock {
        push_table(out, &CLOCK, c, base, ts);
    }
}

fn agent_series(
    out: &mut SeriesOut,
    report: &Report,
    base: &[(&str, &str)],
    ts: i64,
    clock_offset_ms: Option<i64>,
) {
    let Some(s) = &report.agent_stats else {
        return;
    };
    out.push(
        "zerofault_agent_spool_bytes",
        base,
        ts,
        s.spool_bytes as f64,
    );
    out.push(
        "zerofault_agent_spool_reports",
        base,
        ts,
        s.spool_reports as f64,
    );
    // The age at the moment the report was made, on the collector's clock (as /metrics
    // gives it at scrape time).
    let age_ms = if s.oldest_unsent_unix_ms == 0 {
        0
    } else {
        let made = s
            .oldest_unsent_unix_ms
            .saturating_sub(clock_offset_ms.unwrap_or(0));
        ts.saturating_sub(made).max(0)
    };
    out.push(
        "zerofault_agent_oldest_unsent_age_seconds",
        base,
        ts,
        age_ms as f64 / 1000.0,
    );
    out.push(
        "zerofault_agent_spool_dropped_total",
        base,
        ts,
        s.spool_dropped_total as f64,
    );
    out.push(
        "zerofault_agent_spool_corrupt_total",
        base,
        ts,
        s.spool_corrupt_total as f64,
    );
    let mut seen = HashSet::new();
    for e in s
        .send_errors_total
        .iter()
        .filter(|e| !e.kind.is_empty() && seen.insert(e.kind.as_str()))
    {
        let mut labels = base.to_vec();
        labels.push(("kind", e.kind.as_str()));
        out.push(
            "zerofault_agent_send_errors_total",
            &labels,
            ts,
            f64::from(e.count),
        );
    }
}

fn link_series(
    out: &mut SeriesOut,
    report: &Report,
    received_ms: i64,
    clock_offset_ms: Option<i64>,
) {
    // Every window is a sample at its own time (a report can carry several windows of a
    // link after a backlog).
    for w in report.links.iter().filter(|w| !w.link_id.is_empty()) {
        let ts = place(w.window_end_unix_ms, clock_offset_ms, received_ms);
        let labels = [
            ("link", w.link_id.as_str()),
            ("level", or_unlabelled(&w.level)),
            ("domain", or_unlabelled(&w.domain)),
            ("agent", report.agent_id.as_str()),
        ];
        if w.sent == 0 {
            continue;
        }
        // As the link engine counts a window (`live::links::engine`): loss from the probe
        // counts, and no RTT while nothing was answered (a 0 would read as perfect).
        let received = w.received.min(w.sent);
        let loss = f64::from(w.sent - received) / f64::from(w.sent);
        out.push("zerofault_link_loss_ratio", &labels, ts, loss);
        if received > 0 {
            out.push("zerofault_link_rtt_seconds", &labels, ts, w.rtt_avg_seconds);
            out.push(
                "zerofault_link_rtt_min_seconds",
                &labels,
                ts,
                w.rtt_min_seconds,
            );
            out.push(
                "zerofault_link_rtt_max_seconds",
                &labels,
                ts,
                w.rtt_max_seconds,
            );
            out.push(
                "zerofault_link_rtt_p95_seconds",
                &labels,
                ts,
                w.rtt_p95_seconds,
            );
            out.push(
                "zerofault_link_jitter_seconds",
                &labels,
                ts,
                w.jitter_seconds,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::place;

    #[test]
    fn samples_are_placed_at_agent_time_moved_back_only_for_a_clock_that_runs_ahead() {
        let received = 1_000_000;
        // Backfill with no estimate, or an estimate that only reflects the backlog's delay.
        assert_eq!(place(400_000, None, received), 400_000);
        assert_eq!(place(400_000, Some(-600_000), received), 400_000);
        // A clock 5 s ahead: moved back by 5 s.
        assert_eq!(place(995_000, Some(5_000), received), 990_000);
        // Never in the collector's future.
        assert_eq!(place(1_200_000, Some(1_000), received), received);
    }
}
