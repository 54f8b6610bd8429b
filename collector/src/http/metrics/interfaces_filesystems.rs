//! Per-filesystem and per-interface families: one sample per mount point or interface of
//! every host (each once per report), and the network uptime the link engine tracks per
//! interface.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use zerofault_protocol::{Filesystem, Interface};

use super::encode::{Labels, counter, gauge};
use super::view::HostView;
use crate::live::links::InterfaceView;

/// A per-host item with series of its own: a filesystem or an interface.
trait Item<'a>: 'a {
    /// The host's items, each once, report order.
    fn of<'h>(host: &'h HostView<'a>) -> &'h [&'a Self];
    /// The labels of the item's series: the host's, then the item's own.
    fn labels(host: &HostView<'a>, item: &'a Self) -> Labels<'a>;
}

impl<'a> Item<'a> for Filesystem {
    fn of<'h>(host: &'h HostView<'a>) -> &'h [&'a Self] {
        &host.host.filesystems
    }

    fn labels(host: &HostView<'a>, fs: &'a Self) -> Labels<'a> {
        let mut l = host.labels();
        l.extend([
            ("mountpoint", fs.mount_point.as_str()),
            ("device", fs.device.as_str()),
            ("fstype", fs.fs_type.as_str()),
        ]);
        l
    }
}

impl<'a> Item<'a> for Interface {
    fn of<'h>(host: &'h HostView<'a>) -> &'h [&'a Self] {
        &host.interfaces
    }

    fn labels(host: &HostView<'a>, i: &'a Self) -> Labels<'a> {
        let mut l = host.labels();
        l.push(("interface", i.name.as_str()));
        l
    }
}

/// One sample per item (filesystem or interface) of every host for which `value` returns
/// `Some`: hosts in order, a host's items in report order. One helper for every
/// per-filesystem and per-interface family, gauge or counter.
fn per_item<'h, 'a: 'h, T: Item<'a>, V>(
    hosts: &'h [HostView<'a>],
    value: impl Fn(&T) -> Option<V> + Copy + 'h,
) -> impl Iterator<Item = (Labels<'a>, V)> + 'h {
    hosts.iter().flat_map(move |h| {
        T::of(h)
            .iter()
            .filter_map(move |item| value(item).map(|v| (T::labels(h, item), v)))
    })
}

/// Size and use of every filesystem.
pub(super) fn encode_filesystems(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    full: bool,
) -> fmt::Result {
    gauge(
        enc,
        "zerofault_host_filesystem_size_bytes",
        "Filesystem size.",
        per_item(hosts, |f: &Filesystem| Some(f.size_bytes)),
    )?;
    gauge(
        enc,
        "zerofault_host_filesystem_used_bytes",
        "Filesystem space used (size - free, including root-reserved blocks).",
        per_item(hosts, |f: &Filesystem| Some(f.used_bytes)),
    )?;
    gauge(
        enc,
        "zerofault_host_filesystem_available_bytes",
        "Filesystem space available to unprivileged users.",
        per_item(hosts, |f: &Filesystem| Some(f.available_bytes)),
    )?;
    // Inodes: kept at essential detail, since inode exhaustion is alerted on like bytes
    // (ZerofaultFilesystemInodesFillingUp). Absent where the filesystem has no fixed inode
    // count or the agent predates them, never 0.
    gauge(
        enc,
        "zerofault_host_filesystem_inodes",
        "Inodes of the filesystem (absent where it has no fixed number, e.g. btrfs).",
        per_item(hosts, |f: &Filesystem| f.inodes_total),
    )?;
    gauge(
        enc,
        "zerofault_host_filesystem_inodes_free",
        "Free inodes of the filesystem.",
        per_item(hosts, |f: &Filesystem| f.inodes_free),
    )?;
    if !full {
        return Ok(());
    }
    gauge(
        enc,
        "zerofault_host_filesystem_readonly",
        "1 if the filesystem is mounted read-only (also after the kernel remounted it so on an error), else 0.",
        per_item(hosts, |f: &Filesystem| f.read_only.map(u64::from)),
    )
}

/// Traffic, errors, drops, state, carrier and speed of every interface, as reported.
pub(super) fn encode_interfaces(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
) -> fmt::Result {
    counter(
        enc,
        "zerofault_host_network_receive_bytes_total",
        "Bytes received by the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.receive_bytes)),
    )?;
    counter(
        enc,
        "zerofault_host_network_transmit_bytes_total",
        "Bytes transmitted by the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.transmit_bytes)),
    )?;
    counter(
        enc,
        "zerofault_host_network_receive_packets_total",
        "Packets received by the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.receive_packets)),
    )?;
    counter(
        enc,
        "zerofault_host_network_transmit_packets_total",
        "Packets transmitted by the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.transmit_packets)),
    )?;
    counter(
        enc,
        "zerofault_host_network_receive_errors_total",
        "Receive errors on the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.receive_errors)),
    )?;
    counter(
        enc,
        "zerofault_host_network_transmit_errors_total",
        "Transmit errors on the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.transmit_errors)),
    )?;
    counter(
        enc,
        "zerofault_host_network_receive_drops_total",
        "Received packets dropped on the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.receive_drops)),
    )?;
    counter(
        enc,
        "zerofault_host_network_transmit_drops_total",
        "Transmitted packets dropped on the interface since boot.",
        per_item(hosts, |i: &Interface| Some(i.transmit_drops)),
    )?;
    gauge(
        enc,
        "zerofault_host_network_up",
        "1 if the interface's operational state is up, else 0.",
        per_item(hosts, |i: &Interface| Some(u64::from(i.oper_state == "up"))),
    )?;
    gauge(
        enc,
        "zerofault_host_network_carrier",
        "1 if the interface has carrier (link detected), 0 if not; absent when unknown.",
        per_item(hosts, |i: &Interface| i.carrier.map(u64::from)),
    )?;
    gauge(
        enc,
        "zerofault_host_network_speed_bytes",
        "Link speed in bytes per second; absent when unknown (virtual interfaces).",
        per_item(hosts, |i: &Interface| {
            (i.speed_bits_per_second > 0).then_some(i.speed_bits_per_second / 8)
        }),
    )?;
    gauge(
        enc,
        "zerofault_host_network_full_duplex",
        "1 if the interface runs full duplex, 0 if half; absent when unknown.",
        per_item(hosts, |i: &Interface| i.full_duplex.map(u64::from)),
    )
}

/// Network uptime per interface, with the host's labels (interfaces of agents missing from
/// the host table are skipped: they cannot be labelled like the other host series).
pub(super) fn encode_uptime(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    interfaces: &[InterfaceView],
) -> fmt::Result {
    let by_agent: BTreeMap<&str, &HostView<'_>> = hosts
        .iter()
        .map(|h| (h.report.agent_id.as_str(), h))
        .collect();
    let by_agent = &by_agent;
    fn series<'a, V>(
        by_agent: &BTreeMap<&str, &HostView<'a>>,
        interfaces: &'a [InterfaceView],
        value: fn(&InterfaceView) -> V,
    ) -> Vec<(Labels<'a>, V)> {
        interfaces
            .iter()
            .filter_map(|i| {
                by_agent.get(i.agent.as_str()).map(|h| {
                    let mut l = h.labels();
                    l.push(("interface", i.interface.as_str()));
                    (l, value(i))
                })
            })
            .collect()
    }
    counter(
        enc,
        "zerofault_host_network_transitions_total",
        "Operational state or carrier changes of the interface seen by the collector.",
        series(by_agent, interfaces, |i| i.transitions_total),
    )?;
    counter(
        enc,
        "zerofault_host_network_down_seconds_total",
        "Time the interface was down (no carrier, or operstate other than up/unknown), by the agent's clock.",
        series(by_agent, interfaces, |i| i.down_ms_total as f64 / 1000.0),
    )
}
