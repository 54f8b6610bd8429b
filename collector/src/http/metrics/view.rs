//! One host as the exposition shows it, and the per-host gauge every host family uses.

use std::collections::HashSet;
use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue};
use zerofault_protocol::{BlockDevice, Interface, Report};

use super::encode::{Labels, gauge};
use crate::aggregate::Host;
use crate::inventory::{Inventory, UnknownLabel};

/// One host as the exposition shows it: the host as counted ([`Host`]: up, organisation
/// labels, filesystems) and what only the per-host series need.
pub(super) struct HostView<'a> {
    /// Up, organisation labels, filesystems, as the aggregates count them.
    pub(super) host: Host<'a>,
    /// The newest report.
    pub(super) report: &'a Report,
    /// Collector clock at scrape time.
    pub(super) now_unix_ms: i64,
    /// Deduplicated by name, report order.
    pub(super) interfaces: Vec<&'a Interface>,
    /// Deduplicated by name, report order.
    pub(super) block_devices: Vec<&'a BlockDevice>,
    /// Label values of the newest report the inventory does not declare.
    pub(super) unknown_labels: Vec<UnknownLabel>,
}

impl<'a> HostView<'a> {
    pub(super) fn new(host: Host<'a>, inventory: Option<&Inventory>, now_unix_ms: i64) -> Self {
        let report = host.report();
        let unknown_labels = match (inventory, report.labels.as_ref()) {
            (Some(inventory), Some(labels)) => inventory.unknown_labels(labels),
            _ => Vec::new(),
        };
        let mut seen = HashSet::new();
        let interfaces = report
            .interfaces
            .iter()
            .filter(|i| seen.insert(i.name.as_str()))
            .collect();
        let mut seen = HashSet::new();
        let block_devices = report
            .block_devices
            .iter()
            .filter(|d| seen.insert(d.name.as_str()))
            .collect();
        Self {
            host,
            report,
            now_unix_ms,
            interfaces,
            block_devices,
            unknown_labels,
        }
    }

    /// The identifying labels every per-host series carries.
    pub(super) fn labels(&self) -> Labels<'a> {
        vec![
            ("agent", self.report.agent_id.as_str()),
            ("host", self.report.hostname.as_str()),
            ("department", self.host.department),
            ("datacenter", self.host.datacenter),
        ]
    }
}

/// Per-host gauge: one sample per host for which `value` returns `Some`.
pub(super) fn host_gauge<'a, V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'a>],
    name: &str,
    help: &str,
    value: impl Fn(&HostView<'a>) -> Option<V>,
) -> fmt::Result {
    gauge(
        enc,
        name,
        help,
        hosts
            .iter()
            .filter_map(|h| value(h).map(|v| (h.labels(), v))),
    )
}
