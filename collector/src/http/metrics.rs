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

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, NoLabelSet, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use zerofault_protocol::{Filesystem, Interface, Report};

use crate::inventory::{Inventory, UnknownLabel};
use crate::live::delivery::Delivery;
use crate::live::hosts::{HostEntry, IngestCounters, RejectReason};
use crate::live::ingest::connections::Refusal;
use crate::live::links::{InterfaceView, LinkState, LinkView, LinksSnapshot, VantageView};

/// Label value used for an organisation label the agent left empty. Prometheus treats an
/// empty label value as an absent label, which would silently merge such hosts into a
/// label-less group in `sum by (department)`; a visible value is easier to spot and fix.
pub const UNLABELLED: &str = "unlabelled";

/// A label set: static names, values borrowed from the snapshot.
type Labels<'a> = Vec<(&'static str, &'a str)>;

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

use zerofault_common::now_unix_ms;

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

/// The ingest counters read once per scrape, so the exposition is one consistent reading.
#[derive(Debug, Clone)]
struct CounterValues {
    accepted: u64,
    duplicates: u64,
    rejected: Vec<(RejectReason, u64)>,
    started_unix_ms: i64,
    runs_total: u64,
    connections: (u64, u64),
    connections_refused: Vec<(Refusal, u64)>,
}

impl CounterValues {
    fn read(c: &IngestCounters) -> Self {
        Self {
            accepted: c.accepted_total(),
            duplicates: c.duplicates_total(),
            rejected: c.rejected_totals(),
            started_unix_ms: c.started_unix_ms(),
            runs_total: c.runs_total(),
            connections: c.connections(),
            connections_refused: c.connections_refused_totals(),
        }
    }
}

/// One host as the exposition shows it.
struct HostView<'a> {
    report: &'a Report,
    received_unix_ms: i64,
    /// Collector clock at scrape time.
    now_unix_ms: i64,
    delivery: Option<Delivery>,
    up: bool,
    department: &'a str,
    business_system: &'a str,
    datacenter: &'a str,
    site: &'a str,
    /// Deduplicated by mount point, report order.
    filesystems: Vec<&'a Filesystem>,
    /// Deduplicated by name, report order.
    interfaces: Vec<&'a Interface>,
    /// Label values of the newest report the inventory does not declare.
    unknown_labels: Vec<UnknownLabel>,
}

impl<'a> HostView<'a> {
    fn new(
        entry: &'a HostEntry,
        inventory: Option<&Inventory>,
        now_unix_ms: i64,
        down_after_intervals: u32,
    ) -> Self {
        let report = &entry.report;
        let labels = report.labels.as_ref();
        let unknown_labels = match (inventory, labels) {
            (Some(inventory), Some(labels)) => inventory.unknown_labels(labels),
            _ => Vec::new(),
        };
        let org = |f: fn(&'a zerofault_protocol::Labels) -> &'a str| {
            labels
                .map(f)
                .filter(|v| !v.is_empty())
                .unwrap_or(UNLABELLED)
        };
        let mut seen = HashSet::new();
        let filesystems = report
            .filesystems
            .iter()
            .filter(|f| seen.insert(f.mount_point.as_str()))
            .collect();
        let mut seen = HashSet::new();
        let interfaces = report
            .interfaces
            .iter()
            .filter(|i| seen.insert(i.name.as_str()))
            .collect();
        Self {
            report,
            received_unix_ms: entry.received_unix_ms,
            now_unix_ms,
            delivery: entry.delivery,
            up: entry.is_up(now_unix_ms, down_after_intervals),
            department: org(|l| l.department.as_str()),
            business_system: org(|l| l.business_system.as_str()),
            datacenter: org(|l| l.datacenter.as_str()),
            site: org(|l| l.site.as_str()),
            filesystems,
            interfaces,
            unknown_labels,
        }
    }

    /// The identifying labels every per-host series carries.
    fn labels(&self) -> Labels<'a> {
        vec![
            ("agent", self.report.agent_id.as_str()),
            ("host", self.report.hostname.as_str()),
            ("department", self.department),
            ("datacenter", self.datacenter),
        ]
    }

    fn fs_labels(&self, fs: &'a Filesystem) -> Labels<'a> {
        let mut l = self.labels();
        l.extend([
            ("mountpoint", fs.mount_point.as_str()),
            ("device", fs.device.as_str()),
            ("fstype", fs.fs_type.as_str()),
        ]);
        l
    }

    fn if_labels(&self, i: &'a Interface) -> Labels<'a> {
        let mut l = self.labels();
        l.push(("interface", i.name.as_str()));
        l
    }
}

/// Sums for one department or data center.
#[derive(Debug, Default)]
struct Aggregate {
    up: u64,
    down: u64,
    cpu_cores: u64,
    memory_total_bytes: u64,
    memory_used_bytes: u64,
    filesystem_size_bytes: u64,
    filesystem_used_bytes: u64,
}

impl Aggregate {
    /// Adds one host exactly as its per-host series show it (missing sections add nothing).
    fn add(&mut self, h: &HostView<'_>) {
        if h.up {
            self.up += 1;
        } else {
            self.down += 1;
        }
        if let Some(cpu) = &h.report.cpu {
            self.cpu_cores = self.cpu_cores.saturating_add(u64::from(cpu.logical_cores));
        }
        if let Some(m) = &h.report.memory {
            self.memory_total_bytes = self.memory_total_bytes.saturating_add(m.total_bytes);
            self.memory_used_bytes = self.memory_used_bytes.saturating_add(m.used_bytes);
        }
        for fs in &h.filesystems {
            self.filesystem_size_bytes = self.filesystem_size_bytes.saturating_add(fs.size_bytes);
            self.filesystem_used_bytes = self.filesystem_used_bytes.saturating_add(fs.used_bytes);
        }
    }
}

fn aggregate<'a>(
    hosts: &[HostView<'a>],
    key: impl Fn(&HostView<'a>) -> &'a str,
) -> BTreeMap<&'a str, Aggregate> {
    let mut out: BTreeMap<&'a str, Aggregate> = BTreeMap::new();
    for h in hosts {
        out.entry(key(h)).or_default().add(h);
    }
    out
}

/// Writes one gauge family (HELP, TYPE, samples).
fn gauge<'a, V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels<'a>, V)>,
) -> fmt::Result {
    let mut metric = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// Writes one counter family. `name` is the full sample name; the encoder appends the
/// `_total` suffix itself, so it is stripped here to keep the names greppable in this file.
fn counter<'a, V: EncodeCounterValue>(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels<'a>, V)>,
) -> fmt::Result {
    let base = name
        .strip_suffix("_total")
        .expect("counter names end in _total");
    let mut metric = enc.encode_descriptor(base, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

/// Per-host gauge: one sample per host for which `value` returns `Some`.
fn host_gauge<'a, V: EncodeGaugeValue>(
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

/// Per-filesystem gauge.
fn fs_gauge(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    name: &str,
    help: &str,
    value: fn(&Filesystem) -> u64,
) -> fmt::Result {
    gauge(
        enc,
        name,
        help,
        hosts
            .iter()
            .flat_map(|h| h.filesystems.iter().map(|fs| (h.fs_labels(fs), value(fs)))),
    )
}

/// Per-interface counter.
fn if_counter(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    name: &str,
    help: &str,
    value: fn(&Interface) -> u64,
) -> fmt::Result {
    counter(
        enc,
        name,
        help,
        hosts
            .iter()
            .flat_map(|h| h.interfaces.iter().map(|i| (h.if_labels(i), value(i)))),
    )
}

/// Per-interface gauge, only for interfaces where `value` returns `Some`.
fn if_gauge(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    name: &str,
    help: &str,
    value: fn(&Interface) -> Option<u64>,
) -> fmt::Result {
    gauge(
        enc,
        name,
        help,
        hosts.iter().flat_map(|h| {
            h.interfaces
                .iter()
                .filter_map(|i| value(i).map(|v| (h.if_labels(i), v)))
        }),
    )
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
    let mut entries: Vec<&HostEntry> = snapshot.iter().collect();
    entries.sort_by(|a, b| a.report.agent_id.cmp(&b.report.agent_id));
    // One host per agent id: a second entry would produce duplicate series.
    entries.dedup_by(|a, b| a.report.agent_id == b.report.agent_id);
    let hosts: Vec<HostView<'_>> = entries
        .into_iter()
        .map(|e| HostView::new(e, inventory, now_unix_ms, down_after_intervals))
        .collect();

    encode_self(enc, counters, hosts.len(), inventory.is_some())?;
    encode_hosts(enc, &hosts)?;
    encode_agents(enc, &hosts)?;
    encode_unknown_labels(enc, &hosts)?;
    encode_interfaces(enc, &hosts, &links.interfaces)?;
    encode_aggregates(
        enc,
        "department",
        "department",
        &aggregate(&hosts, |h| h.department),
    )?;
    encode_aggregates(
        enc,
        "datacenter",
        "data center",
        &aggregate(&hosts, |h| h.datacenter),
    )?;
    encode_links(enc, &links.links)?;
    Ok(())
}

/// Network uptime per interface, with the host's labels (interfaces of agents missing from
/// the host table are skipped: they cannot be labelled like the other host series).
fn encode_interfaces(
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

/// An empty level or domain as a label value.
fn or_unlabelled(v: &str) -> &str {
    if v.is_empty() { UNLABELLED } else { v }
}

/// One sample per vantage point of every link for which `value` returns `Some`.
fn vantage_series<'a, V>(
    links: &[&'a LinkView],
    value: &dyn Fn(&VantageView) -> Option<V>,
) -> Vec<(Labels<'a>, V)> {
    links
        .iter()
        .flat_map(|l| {
            l.vantages.iter().filter_map(move |v| {
                value(v).map(|x| {
                    (
                        vec![
                            ("link", l.link_id.as_str()),
                            ("level", or_unlabelled(&l.level)),
                            ("domain", or_unlabelled(&l.domain)),
                            ("agent", v.agent.as_str()),
                        ],
                        x,
                    )
                })
            })
        })
        .collect()
}

/// One sample per link.
fn link_series<'a, V>(links: &[&'a LinkView], value: fn(&LinkView) -> V) -> Vec<(Labels<'a>, V)> {
    links
        .iter()
        .map(|l| {
            (
                vec![
                    ("link", l.link_id.as_str()),
                    ("level", or_unlabelled(&l.level)),
                    ("domain", or_unlabelled(&l.domain)),
                ],
                value(l),
            )
        })
        .collect()
}

/// Per (link, agent), per link and per level and domain series.
fn encode_links(enc: &mut DescriptorEncoder<'_>, links: &[LinkView]) -> fmt::Result {
    // One link id once: a second entry would produce duplicate series.
    let mut seen = HashSet::new();
    let links: Vec<&LinkView> = links
        .iter()
        .filter(|l| seen.insert(l.link_id.as_str()))
        .collect();
    let per_vantage = |value: &dyn Fn(&VantageView) -> Option<f64>| vantage_series(&links, value);
    let per_vantage_n = |value: &dyn Fn(&VantageView) -> Option<u64>| vantage_series(&links, value);
    let measured = |f: fn(&crate::live::links::WindowSummary) -> f64| {
        move |v: &VantageView| v.last.as_ref().filter(|w| w.received > 0).map(f)
    };

    gauge(
        enc,
        "zerofault_link_up",
        "1 unless the vantage point's newest window is down, else 0.",
        per_vantage_n(&|v| Some(u64::from(v.state != LinkState::Down))),
    )?;
    {
        let mut metric = enc.encode_descriptor(
            "zerofault_link_state",
            "State of the vantage point's newest window: 1 for the current state, 0 for the others.",
            None,
            MetricType::Gauge,
        )?;
        for l in &links {
            for v in &l.vantages {
                for state in LinkState::ALL {
                    let labels: Labels<'_> = vec![
                        ("link", l.link_id.as_str()),
                        ("level", or_unlabelled(&l.level)),
                        ("domain", or_unlabelled(&l.domain)),
                        ("agent", v.agent.as_str()),
                        ("state", state.as_str()),
                    ];
                    metric
                        .encode_family(&labels)?
                        .encode_gauge(&i64::from(v.state == state))?;
                }
            }
        }
    }
    gauge(
        enc,
        "zerofault_link_loss_ratio",
        "Share of the probes of the newest window that were lost, 0 to 1.",
        per_vantage(&|v| v.last.as_ref().map(|w| w.loss_ratio)),
    )?;
    gauge(
        enc,
        "zerofault_link_rtt_seconds",
        "Mean round-trip time of the newest window; absent when nothing was received.",
        per_vantage(&measured(|w| w.rtt_avg_seconds)),
    )?;
    gauge(
        enc,
        "zerofault_link_rtt_min_seconds",
        "Smallest round-trip time of the newest window; absent when nothing was received.",
        per_vantage(&measured(|w| w.rtt_min_seconds)),
    )?;
    gauge(
        enc,
        "zerofault_link_rtt_max_seconds",
        "Largest round-trip time of the newest window; absent when nothing was received.",
        per_vantage(&measured(|w| w.rtt_max_seconds)),
    )?;
    gauge(
        enc,
        "zerofault_link_rtt_p95_seconds",
        "95th percentile round-trip time of the newest window; absent when nothing was received.",
        per_vantage(&measured(|w| w.rtt_p95_seconds)),
    )?;
    gauge(
        enc,
        "zerofault_link_jitter_seconds",
        "Mean absolute difference of consecutive RTTs in the newest window (RFC 3550 style); absent when nothing was received.",
        per_vantage(&measured(|w| w.jitter_seconds)),
    )?;
    counter(
        enc,
        "zerofault_link_probes_sent_total",
        "Probes sent by the vantage point whose outcome is known.",
        per_vantage_n(&|v| Some(v.probes_sent_total)),
    )?;
    counter(
        enc,
        "zerofault_link_probes_received_total",
        "Probes answered.",
        per_vantage_n(&|v| Some(v.probes_received_total)),
    )?;
    counter(
        enc,
        "zerofault_link_down_seconds_total",
        "Time the vantage point was down (hysteresis applied), by the agent's clock.",
        per_vantage(&|v| Some(v.down_ms_total as f64 / 1000.0)),
    )?;

    let per_link = |value: fn(&LinkView) -> f64| link_series(&links, value);
    let per_link_n = |value: fn(&LinkView) -> u64| link_series(&links, value);
    counter(
        enc,
        "zerofault_link_outage_seconds_total",
        "Time the link was down from every vantage point that reported (link-level down time).",
        per_link(|l| l.down_ms_total as f64 / 1000.0),
    )?;
    counter(
        enc,
        "zerofault_link_faults_total",
        "Faults of the link: link-level down periods of at least links.fault_min.",
        per_link_n(|l| l.faults_total),
    )?;

    // Per level and domain: every state present for every group, so a missing series never
    // has to be read as zero.
    let mut groups: BTreeMap<(&str, &str), ([u64; 3], u64)> = BTreeMap::new();
    for l in &links {
        let g = groups
            .entry((or_unlabelled(&l.level), or_unlabelled(&l.domain)))
            .or_default();
        g.0[LinkState::ALL
            .iter()
            .position(|s| *s == l.state)
            .unwrap_or(0)] += 1;
        g.1 += l.faults_total;
    }
    gauge(
        enc,
        "zerofault_backbone_links",
        "Links per backbone level and domain, by link-level state.",
        groups.iter().flat_map(|((level, domain), (states, _))| {
            LinkState::ALL.iter().zip(states).map(|(s, n)| {
                (
                    vec![
                        ("level", *level),
                        ("domain", *domain),
                        ("state", s.as_str()),
                    ],
                    *n,
                )
            })
        }),
    )?;
    counter(
        enc,
        "zerofault_backbone_faults_total",
        "Faults of the links of a backbone level and domain (sum of zerofault_link_faults_total).",
        groups.iter().map(|((level, domain), (_, faults))| {
            (vec![("level", *level), ("domain", *domain)], *faults)
        }),
    )
}

fn encode_self(
    enc: &mut DescriptorEncoder<'_>,
    counters: &CounterValues,
    known_hosts: usize,
    inventory_loaded: bool,
) -> fmt::Result {
    counter(
        enc,
        "zerofault_collector_reports_accepted_total",
        "Reports stored by this collector process since it started.",
        [(Labels::new(), counters.accepted)],
    )?;
    counter(
        enc,
        "zerofault_collector_reports_duplicate_total",
        "Reports acknowledged as already stored (agent replays) since the collector started.",
        [(Labels::new(), counters.duplicates)],
    )?;
    counter(
        enc,
        "zerofault_collector_reports_rejected_total",
        "Reports refused since the collector started, by reason.",
        counters
            .rejected
            .iter()
            .map(|(reason, n)| (vec![("reason", reason.as_str())], *n)),
    )?;
    gauge(
        enc,
        "zerofault_ingest_connections",
        "Open agent connections on the ingest listener, in their TLS handshake or not.",
        [(Labels::new(), counters.connections.0)],
    )?;
    gauge(
        enc,
        "zerofault_ingest_connections_limit",
        "Most open agent connections: limits.max_connections, lowered at start to what the open-file limit allows.",
        [(Labels::new(), counters.connections.1)],
    )?;
    counter(
        enc,
        "zerofault_ingest_connections_refused_total",
        "Agent connections closed by the collector's connection caps since it started, by reason (full: max_connections of finished connections; handshake_evicted: an unfinished handshake dropped for a newer one; per_agent: max_connections_per_agent).",
        counters
            .connections_refused
            .iter()
            .map(|(reason, n)| (vec![("reason", reason.as_str())], *n)),
    )?;
    gauge(
        enc,
        "zerofault_collector_hosts",
        "Hosts (agents) known to the collector, up or down.",
        [(Labels::new(), known_hosts as u64)],
    )?;
    gauge(
        enc,
        "zerofault_collector_start_time_seconds",
        "Start of this collector run (collector clock), Unix seconds.",
        [(Labels::new(), counters.started_unix_ms as f64 / 1000.0)],
    )?;
    counter(
        enc,
        "zerofault_collector_runs_total",
        "Collector runs recorded in the store, this one included (GET /api/v1/collector/runs lists them).",
        [(Labels::new(), counters.runs_total)],
    )?;
    gauge(
        enc,
        "zerofault_inventory_loaded",
        "1 if the collector runs with an inventory (configuration key inventory), else 0; without one no label value is flagged as unknown.",
        [(Labels::new(), i64::from(inventory_loaded))],
    )
}

/// The agents' current label values that the inventory does not declare: one series each,
/// by agent id, then department, business system, data center, site.
fn encode_unknown_labels(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
    gauge(
        enc,
        "zerofault_agent_unknown_label",
        "1 for each label value of the agent's newest report that the inventory does not declare (label: department, business_system, data_center or site).",
        hosts.iter().flat_map(|h| {
            h.unknown_labels.iter().map(move |u| {
                (
                    vec![
                        ("agent", h.report.agent_id.as_str()),
                        ("label", u.label),
                        ("value", u.value.as_str()),
                    ],
                    1i64,
                )
            })
        }),
    )
}

/// Delivery completeness (from what is stored) and the agent's own spool and clock figures.
fn encode_agents(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_reports_stored",
        "Distinct reports of the agent stored by the collector (all boots).",
        |h| h.delivery.map(|d| d.reports_stored),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_sequence_gaps",
        "Sequence numbers missing from storage between the lowest and highest stored, within each boot, summed over boots.",
        |h| h.delivery.map(|d| d.sequence_gaps),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_clock_offset_seconds",
        "Estimated agent clock minus collector clock: the maximum of (agent timestamp - receive time) over the agent's last 20 live reports.",
        |h| {
            h.delivery
                .and_then(|d| d.clock_offset_ms)
                .map(|ms| ms as f64 / 1000.0)
        },
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_clock_skewed",
        "1 if the agent clock offset is beyond clock.max_skew, else 0.",
        |h| h.delivery.map(|d| i64::from(d.clock_skewed)),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_spool_bytes",
        "Bytes in the agent's spool, from its newest report.",
        |h| h.report.agent_stats.as_ref().map(|s| s.spool_bytes),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_spool_reports",
        "Reports in the agent's spool not yet acknowledged, from its newest report.",
        |h| h.report.agent_stats.as_ref().map(|s| s.spool_reports),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_oldest_unsent_age_seconds",
        "Age of the agent's oldest unacknowledged report at scrape time (its timestamp corrected by the clock offset); 0 when none.",
        |h| {
            h.report.agent_stats.as_ref().map(|s| {
                if s.oldest_unsent_unix_ms == 0 {
                    return 0.0;
                }
                let offset = h.delivery.and_then(|d| d.clock_offset_ms).unwrap_or(0);
                let made = s.oldest_unsent_unix_ms.saturating_sub(offset);
                (h.now_unix_ms.saturating_sub(made).max(0)) as f64 / 1000.0
            })
        },
    )?;
    counter(
        enc,
        "zerofault_agent_spool_dropped_total",
        "Reports the agent dropped because its spool was full (oldest first), from its newest report.",
        hosts.iter().filter_map(|h| {
            h.report
                .agent_stats
                .as_ref()
                .map(|s| (h.labels(), s.spool_dropped_total))
        }),
    )?;
    counter(
        enc,
        "zerofault_agent_spool_corrupt_total",
        "Damaged spool records the agent detected and skipped, from its newest report.",
        hosts.iter().filter_map(|h| {
            h.report
                .agent_stats
                .as_ref()
                .map(|s| (h.labels(), s.spool_corrupt_total))
        }),
    )?;
    counter(
        enc,
        "zerofault_agent_send_errors_total",
        "Failed delivery attempts of the agent by kind, from its newest report.",
        hosts.iter().flat_map(|h| {
            let mut seen = HashSet::new();
            h.report
                .agent_stats
                .iter()
                .flat_map(|s| s.send_errors_total.iter())
                // A kind repeated in one report would be a duplicate series: keep the first.
                .filter(move |e| seen.insert(e.kind.as_str()))
                .map(move |e| {
                    let mut l = h.labels();
                    l.push(("kind", e.kind.as_str()));
                    (l, e.count)
                })
        }),
    )
}

fn encode_hosts(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
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
            ("department", h.department),
            ("business_system", h.business_system),
            ("datacenter", h.datacenter),
            ("site", h.site),
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
        |h| Some(i64::from(h.up)),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_last_report_timestamp_seconds",
        "When the collector received the host's newest report (collector clock), Unix seconds.",
        |h| Some(h.received_unix_ms as f64 / 1000.0),
    )?;
    host_gauge(
        enc,
        hosts,
        "zerofault_host_report_interval_seconds",
        "The agent's collection interval.",
        |h| Some(f64::from(h.report.interval_ms) / 1000.0),
    )?;
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
    )?;

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
    )?;

    fs_gauge(
        enc,
        hosts,
        "zerofault_host_filesystem_size_bytes",
        "Filesystem size.",
        |f| f.size_bytes,
    )?;
    fs_gauge(
        enc,
        hosts,
        "zerofault_host_filesystem_used_bytes",
        "Filesystem space used (size - free, including root-reserved blocks).",
        |f| f.used_bytes,
    )?;
    fs_gauge(
        enc,
        hosts,
        "zerofault_host_filesystem_available_bytes",
        "Filesystem space available to unprivileged users.",
        |f| f.available_bytes,
    )?;

    if_counter(
        enc,
        hosts,
        "zerofault_host_network_receive_bytes_total",
        "Bytes received by the interface since boot.",
        |i| i.receive_bytes,
    )?;
    if_counter(
        enc,
        hosts,
        "zerofault_host_network_transmit_bytes_total",
        "Bytes transmitted by the interface since boot.",
        |i| i.transmit_bytes,
    )?;
    if_counter(
        enc,
        hosts,
        "zerofault_host_network_receive_packets_total",
        "Packets received by the interface since boot.",
        |i| i.receive_packets,
    )?;
    if_counter(
        enc,
        hosts,
        "zerofault_host_network_transmit_packets_total",
        "Packets transmitted by the interface since boot.",
        |i| i.transmit_packets,
    )?;
    if_counter(
        enc,
        hosts,
        "zerofault_host_network_receive_errors_total",
        "Receive errors on the interface since boot.",
        |i| i.receive_errors,
    )?;
    if_counter(
        enc,
        hosts,
        "zerofault_host_network_transmit_errors_total",
        "Transmit errors on the interface since boot.",
        |i| i.transmit_errors,
    )?;
    if_counter(
        enc,
        hosts,
        "zerofault_host_network_receive_drops_total",
        "Received packets dropped on the interface since boot.",
        |i| i.receive_drops,
    )?;
    if_counter(
        enc,
        hosts,
        "zerofault_host_network_transmit_drops_total",
        "Transmitted packets dropped on the interface since boot.",
        |i| i.transmit_drops,
    )?;
    if_gauge(
        enc,
        hosts,
        "zerofault_host_network_up",
        "1 if the interface's operational state is up, else 0.",
        |i| Some(u64::from(i.oper_state == "up")),
    )?;
    if_gauge(
        enc,
        hosts,
        "zerofault_host_network_carrier",
        "1 if the interface has carrier (link detected), 0 if not; absent when unknown.",
        |i| i.carrier.map(u64::from),
    )?;
    if_gauge(
        enc,
        hosts,
        "zerofault_host_network_speed_bytes",
        "Link speed in bytes per second; absent when unknown (virtual interfaces).",
        |i| (i.speed_bits_per_second > 0).then_some(i.speed_bits_per_second / 8),
    )
}

/// Name suffix, help prefix and value of one aggregate family.
type AggregateFamily = (&'static str, &'static str, fn(&Aggregate) -> u64);

/// Writes the aggregate families of one scope (`department` or `datacenter`).
fn encode_aggregates(
    enc: &mut DescriptorEncoder<'_>,
    scope: &'static str,
    noun: &str,
    groups: &BTreeMap<&str, Aggregate>,
) -> fmt::Result {
    let name = |what: &str| format!("zerofault_{scope}_{what}");
    gauge(
        enc,
        &name("hosts"),
        &format!("Known hosts per {noun}, by state (up or down)."),
        groups.iter().flat_map(|(key, a)| {
            [
                (vec![(scope, *key), ("state", "up")], a.up),
                (vec![(scope, *key), ("state", "down")], a.down),
            ]
        }),
    )?;
    let families: [AggregateFamily; 5] = [
        ("cpu_cores", "Logical CPUs", |a| a.cpu_cores),
        ("memory_total_bytes", "Physical memory", |a| {
            a.memory_total_bytes
        }),
        ("memory_used_bytes", "Memory in use", |a| {
            a.memory_used_bytes
        }),
        ("filesystem_size_bytes", "Filesystem size", |a| {
            a.filesystem_size_bytes
        }),
        ("filesystem_used_bytes", "Filesystem space used", |a| {
            a.filesystem_used_bytes
        }),
    ];
    for (what, help, value) in families {
        gauge(
            enc,
            &name(what),
            &format!(
                "{help}, summed over the {noun}'s known hosts (up and down, last reported values)."
            ),
            groups
                .iter()
                .map(|(key, a)| (vec![(scope, *key)], value(a))),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
