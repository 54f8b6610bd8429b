//! The `/metrics` exposition, computed from a host-table snapshot.
//!
//! Every series is derived from the snapshot at scrape time through a
//! [`prometheus_client::collector::Collector`]: the set of hosts, mount points and interfaces
//! changes all the time and can be large (tens of thousands of hosts), so keeping a
//! long-lived metric family per series would only duplicate the host table and leak series
//! of hosts that are gone. [`render`] is the same code as a pure function, so the exact
//! output is golden-tested.
//!
//! Rules (documented for operators in `docs/metrics.md`; keep the two in step):
//! * Every known host is exposed with its last reported values, down or not;
//!   `zerofault_host_up` says whether those values are current.
//! * Aggregates are plain sums over the per-host series of the same scrape, over all known
//!   hosts (up and down): capacity does not vanish while a host is silent.
//! * An empty organisation label (department, business system, data center, site) is
//!   exposed as [`UNLABELLED`], the same in per-host series and aggregates.
//! * A mount point or interface name repeated within one report is exposed once (the first
//!   one), since duplicate series would make Prometheus reject the whole scrape.
//! * Links: one series per (link, vantage agent) from the link engine; an empty level or
//!   domain is exposed as [`UNLABELLED`] like organisation labels. RTT and jitter gauges are
//!   absent while the last window received nothing (0 would read as a perfect link).
//! * Unknown labels: one `zerofault_agent_unknown_label` series per label value of a host's
//!   newest report that the inventory does not declare, so a fixed agent's series goes away
//!   with its next report; none without an inventory (nothing is declared, so nothing is
//!   unknown).
//!
//! One file per family group ([`hosts`], [`interfaces_filesystems`], [`agents`],
//! [`aggregates`], [`links`], [`self_metrics`]); they write with the helpers of [`encode`]
//! and see hosts through [`view`]. The department and data-center sums are
//! [`crate::aggregate`]'s, shared with any other sink.

mod agents;
mod aggregates;
mod encode;
mod hosts;
mod interfaces_filesystems;
mod links;
mod self_metrics;
mod view;

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, prometheus_text};
use prometheus_client::registry::Registry;
use zerofault_common::now_unix_ms;

use crate::aggregate;
pub use crate::aggregate::UNLABELLED;
use crate::inventory::Inventory;
use crate::live::hosts::{HostEntry, IngestCounters};
use crate::live::links::LinksSnapshot;
use self_metrics::CounterValues;
use view::HostView;

/// Renders the exposition (Prometheus text format 0.0.4) of `snapshot` and `counters` as of
/// `now_unix_ms` (collector clock), for a collector without an inventory. Pure: the same
/// inputs give the same bytes.
pub fn render(
    snapshot: &[HostEntry],
    counters: &IngestCounters,
    links: &LinksSnapshot,
    now_unix_ms: i64,
    down_after_intervals: u32,
) -> String {
    render_with_inventory(
        snapshot,
        None,
        counters,
        links,
        now_unix_ms,
        down_after_intervals,
    )
}

/// [`render`] for a collector with `inventory` (if any): label values it does not declare
/// are flagged.
pub fn render_with_inventory(
    snapshot: &[HostEntry],
    inventory: Option<&Inventory>,
    counters: &IngestCounters,
    links: &LinksSnapshot,
    now_unix_ms: i64,
    down_after_intervals: u32,
) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Frozen {
        hosts: snapshot.to_vec(),
        inventory: inventory.cloned(),
        counters: CounterValues::read(counters),
        links: links.clone(),
        now_unix_ms,
        down_after_intervals,
    }));
    encode_registry(&registry).expect("encoding into a String cannot fail")
}

/// Encodes a registry in the Prometheus text format.
pub(crate) fn encode_registry(registry: &Registry) -> Result<String, fmt::Error> {
    let mut out = String::new();
    prometheus_text::encode(&mut out, registry)?;
    Ok(out)
}

/// The collector behind `/metrics`: reads the live host table on every scrape.
#[derive(Debug)]
pub(crate) struct LiveCollector {
    pub(crate) hosts: std::sync::Arc<crate::live::hosts::HostTable>,
    pub(crate) counters: std::sync::Arc<IngestCounters>,
    pub(crate) links: std::sync::Arc<crate::live::links::LinkHub>,
    pub(crate) down_after_intervals: u32,
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let snapshot = self.hosts.snapshot();
        encode_all(
            &mut encoder,
            &snapshot,
            self.hosts.inventory(),
            &CounterValues::read(&self.counters),
            &self.links.snapshot(),
            now_unix_ms(),
            self.down_after_intervals,
        )
    }
}

/// A fixed input for [`render`].
#[derive(Debug)]
struct Frozen {
    hosts: Vec<HostEntry>,
    inventory: Option<Inventory>,
    counters: CounterValues,
    links: LinksSnapshot,
    now_unix_ms: i64,
    down_after_intervals: u32,
}

impl Collector for Frozen {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        encode_all(
            &mut encoder,
            &self.hosts,
            self.inventory.as_ref(),
            &self.counters,
            &self.links,
            self.now_unix_ms,
            self.down_after_intervals,
        )
    }
}

/// Writes the whole exposition. Families come in a fixed order; within a family, hosts
/// are ordered by agent id and a host's filesystems and interfaces in report order.
fn encode_all(
    enc: &mut DescriptorEncoder<'_>,
    snapshot: &[HostEntry],
    inventory: Option<&Inventory>,
    counters: &CounterValues,
    links: &LinksSnapshot,
    now_unix_ms: i64,
    down_after_intervals: u32,
) -> fmt::Result {
    let hosts: Vec<HostView<'_>> = aggregate::hosts(snapshot, now_unix_ms, down_after_intervals)
        .into_iter()
        .map(|h| HostView::new(h, inventory, now_unix_ms))
        .collect();
    let sums = aggregate::aggregate(hosts.iter().map(|h| &h.host));

    self_metrics::encode_self(enc, counters, hosts.len(), inventory.is_some())?;
    hosts::encode_hosts(enc, &hosts)?;
    interfaces_filesystems::encode_filesystems(enc, &hosts)?;
    interfaces_filesystems::encode_interfaces(enc, &hosts)?;
    agents::encode_agents(enc, &hosts)?;
    agents::encode_unknown_labels(enc, &hosts)?;
    interfaces_filesystems::encode_uptime(enc, &hosts, &links.interfaces)?;
    aggregates::encode_aggregates(enc, "department", "department", &sums.departments)?;
    aggregates::encode_aggregates(enc, "datacenter", "data center", &sums.datacenters)?;
    links::encode_links(enc, &links.links)?;
    Ok(())
}

#[cfg(test)]
mod tests;
