//! The `/metrics` exposition, computed from a host-table snapshot.
//!
//! Every series is derived from the snapshot at scrape time through a
//! [`prometheus_client::collector::Collector`]: the set of hosts, mount points and interfaces
//! changes all the time and can be large (tens of thousands of hosts), so keeping a
//! long-lived metric family per series would only duplicate the host table and leak series
//! of hosts that are gone. A scrape copies what it shows into a [`Scrape`] first (each
//! lock held only while copying) and writes the text as it is encoded ([`stream`] sends it
//! a chunk at a time). [`render`] is the same code as a pure function, so the exact output
//! is golden-tested.
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
//! * Detail ([`settings`]): essential detail leaves out whole families (per interface,
//!   load, swap, most agent figures) and changes nothing in the ones it keeps.
//! * Unknown labels: one `zerofault_agent_unknown_label` series per label value of a host's
//!   newest report that the inventory does not declare, so a fixed agent's series goes away
//!   with its next report; none without an inventory (nothing is declared, so nothing is
//!   unknown).
//!
//! One file per family group ([`hosts`], [`interfaces_filesystems`], [`kernel_figures`], [`agents`],
//! [`aggregates`], [`links`], [`self_metrics`]); they write with the helpers of [`encode`]
//! and see hosts through [`view`]. The department and data-center sums are
//! [`crate::aggregate`]'s, shared with any other sink.

mod agents;
mod aggregates;
mod encode;
mod gzip;
mod hosts;
mod interfaces_filesystems;
mod kernel_figures;
mod links;
mod self_metrics;
pub mod settings;
mod slots;
pub(crate) mod stream;
mod view;

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, prometheus_text};
use prometheus_client::registry::Registry;

use crate::aggregate;
pub use crate::aggregate::UNLABELLED;
use crate::inventory::Inventory;
use crate::live::hosts::{HostEntry, HostTable, IngestCounters};
use crate::live::links::{LinkHub, LinksSnapshot};
use self_metrics::CounterValues;
use settings::{Detail, DetailSetting};
use view::HostView;

/// Renders the exposition (Prometheus text format 0.0.4) of `snapshot` and `counters` as of
/// `now_unix_ms` (collector clock), with full detail, for a collector without an inventory.
/// Pure: the same inputs give the same bytes.
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
        Detail::Full,
    )
}

/// [`render`] for a collector with `inventory` (if any), label values it does not declare
/// flagged, at `detail`.
pub fn render_with_inventory(
    snapshot: &[HostEntry],
    inventory: Option<&Inventory>,
    counters: &IngestCounters,
    links: &LinksSnapshot,
    now_unix_ms: i64,
    down_after_intervals: u32,
    detail: Detail,
) -> String {
    render_live(
        snapshot,
        inventory,
        counters,
        links,
        &crate::live::slots::Slots::default(),
        now_unix_ms,
        down_after_intervals,
        detail,
    )
}

/// [`render_with_inventory`] with the live states and slot counters `slots`.
#[allow(clippy::too_many_arguments)]
pub fn render_live(
    snapshot: &[HostEntry],
    inventory: Option<&Inventory>,
    counters: &IngestCounters,
    links: &LinksSnapshot,
    slots: &crate::live::slots::Slots,
    now_unix_ms: i64,
    down_after_intervals: u32,
    detail: Detail,
) -> String {
    let scrape = Scrape {
        hosts: snapshot.to_vec(),
        inventory: inventory.cloned().map(Arc::new),
        counters: CounterValues::read(counters),
        links: links.clone(),
        slots: slots.clone(),
        now_unix_ms,
        down_after_intervals,
        detail,
    };
    let mut out = String::new();
    scrape
        .write(&mut out)
        .expect("encoding into a String cannot fail");
    out
}

/// Where a scrape reads what is live.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live<'a> {
    /// Newest report per agent.
    pub(crate) hosts: &'a HostTable,
    /// Ingest self-metrics (and whether this collector is on standby).
    pub(crate) counters: &'a IngestCounters,
    /// Link engine.
    pub(crate) links: &'a LinkHub,
    /// Live states and slot counters.
    pub(crate) slots: &'a crate::live::slots::SlotCounters,
}

/// What one scrape shows: a snapshot of the shared state taken at its start (the reports
/// shared with the host table, the rest copied; each lock held only while copying), so the
/// exposition is one consistent reading and no lock is held while it is written to a slow
/// scraper.
#[derive(Debug)]
pub(crate) struct Scrape {
    hosts: Vec<HostEntry>,
    inventory: Option<Arc<Inventory>>,
    counters: CounterValues,
    links: LinksSnapshot,
    /// Live states and slot counters (empty on standby, and before the first tick).
    slots: crate::live::slots::Slots,
    now_unix_ms: i64,
    down_after_intervals: u32,
    detail: Detail,
}

impl Scrape {
    /// Copies what a scrape at `now_unix_ms` shows; `detail` is resolved against the number
    /// of hosts copied.
    pub(crate) fn take(
        live: Live<'_>,
        down_after_intervals: u32,
        detail: DetailSetting,
        full_detail_max_hosts: u32,
        now_unix_ms: i64,
    ) -> Scrape {
        // On standby another collector of the deployment exposes every host, aggregate and
        // link (docs/scale-out.md): showing this one's share too would count hosts twice in
        // every sum over the scraped instances.
        let Live {
            hosts,
            counters,
            links,
            slots,
        } = live;
        let standby = counters.standby();
        let snapshot = if standby {
            Vec::new()
        } else {
            hosts.snapshot()
        };
        let links = if standby {
            LinksSnapshot::default()
        } else {
            links.snapshot()
        };
        let slots = if standby {
            crate::live::slots::Slots::default()
        } else {
            slots.read()
        };
        Scrape {
            detail: detail.resolve(snapshot.len(), full_detail_max_hosts),
            hosts: snapshot,
            inventory: hosts.inventory_shared(),
            counters: CounterValues::read(counters),
            links,
            slots,
            now_unix_ms,
            down_after_intervals,
        }
    }

    /// The detail this scrape is written at.
    pub(crate) fn detail(&self) -> Detail {
        self.detail
    }

    /// Writes the exposition into `out` as it is encoded (a few KiB at a time), so a
    /// streaming `out` never holds the whole text.
    pub(crate) fn write(self, out: &mut impl fmt::Write) -> fmt::Result {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        prometheus_text::encode(out, &registry)
    }
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        encode_all(&mut encoder, self)
    }
}

/// Writes the whole exposition. Families come in a fixed order; within a family, hosts
/// are ordered by agent id and a host's filesystems and interfaces in report order.
fn encode_all(enc: &mut DescriptorEncoder<'_>, scrape: &Scrape) -> fmt::Result {
    let inventory = scrape.inventory.as_deref();
    let now_unix_ms = scrape.now_unix_ms;
    let hosts: Vec<HostView<'_>> =
        aggregate::hosts(&scrape.hosts, now_unix_ms, scrape.down_after_intervals)
            .into_iter()
            .map(|h| HostView::new(h, inventory, now_unix_ms))
            .collect();
    let sums = aggregate::aggregate(hosts.iter().map(|h| &h.host));
    let detail = scrape.detail;

    self_metrics::encode_self(
        enc,
        &scrape.counters,
        hosts.len(),
        inventory.is_some(),
        detail,
    )?;
    hosts::encode_hosts(enc, &hosts, detail)?;
    interfaces_filesystems::encode_filesystems(enc, &hosts, detail == Detail::Full)?;
    kernel_figures::encode_kernel_figures(enc, &hosts, detail == Detail::Full)?;
    // Per interface: the largest share of a host's series, and none of it is needed to
    // alert on availability or capacity (docs/metrics.md, "Series budget").
    if detail == Detail::Full {
        interfaces_filesystems::encode_interfaces(enc, &hosts)?;
    }
    agents::encode_agents(enc, &hosts, detail)?;
    agents::encode_unknown_labels(enc, &hosts)?;
    if detail == Detail::Full {
        interfaces_filesystems::encode_uptime(enc, &hosts, &scrape.links.interfaces)?;
    }
    aggregates::encode_aggregates(enc, "department", "department", &sums.departments)?;
    aggregates::encode_aggregates(enc, "datacenter", "data center", &sums.datacenters)?;
    links::encode_links(enc, &scrape.links.links)?;
    let defaults = Inventory::default();
    slots::encode_slots(enc, &scrape.slots, inventory.unwrap_or(&defaults), detail)?;
    Ok(())
}

#[cfg(test)]
mod tests;
