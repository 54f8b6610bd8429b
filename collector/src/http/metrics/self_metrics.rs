//! The collector's own families: ingest counters, connections, known hosts, runs and
//! whether an inventory is loaded.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{Labels, counter, gauge};
use super::settings::Detail;
use crate::live::hosts::{IngestCounters, RejectReason};
use crate::live::ingest::connections::Refusal;

/// The ingest counters read once per scrape, so the exposition is one consistent reading.
#[derive(Debug, Clone)]
pub(super) struct CounterValues {
    accepted: u64,
    duplicates: u64,
    rejected: Vec<(RejectReason, u64)>,
    started_unix_ms: i64,
    runs_total: u64,
    connections: (u64, u64),
    connections_refused: Vec<(Refusal, u64)>,
    standby: bool,
    remote_write: Vec<crate::outputs::remote_write::stats::SinkReading>,
    read_unix_ms: i64,
}

impl CounterValues {
    pub(super) fn read(c: &IngestCounters) -> Self {
        Self {
            accepted: c.accepted_total(),
            duplicates: c.duplicates_total(),
            rejected: c.rejected_totals(),
            started_unix_ms: c.started_unix_ms(),
            runs_total: c.runs_total(),
            connections: c.connections(),
            connections_refused: c.connections_refused_totals(),
            standby: c.standby(),
            remote_write: c.remote_write(),
            read_unix_ms: zerofault_common::now_unix_ms(),
        }
    }
}

/// The collector's own families, from the counters of this scrape.
pub(super) fn encode_self(
    enc: &mut DescriptorEncoder<'_>,
    counters: &CounterValues,
    known_hosts: usize,
    inventory_loaded: bool,
    detail: Detail,
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
        "zerofault_collector_deployment_lease",
        "1 if this collector holds the deployment lease and exposes the deployment-wide series (hosts, department and data-center aggregates, links), else 0: another collector on the same database does, and this one exposes its own process metrics only (docs/scale-out.md). A collector alone on its store always holds it.",
        [(Labels::new(), i64::from(!counters.standby))],
    )?;
    encode_remote_write(enc, counters)?;
    gauge(
        enc,
        "zerofault_inventory_loaded",
        "1 if the collector runs with an inventory (configuration key inventory), else 0; without one no label value is flagged as unknown.",
        [(Labels::new(), i64::from(inventory_loaded))],
    )?;
    gauge(
        enc,
        "zerofault_collector_metrics_detail",
        "Per-host detail of this scrape (metrics.detail, metrics.full_detail_max_hosts, ?detail=): 1 for the current one, 0 for the other.",
        [Detail::Full, Detail::Essential]
            .map(|d| (vec![("detail", d.as_str())], i64::from(d == detail))),
    )
}

/// The remote_write sink's families, one series (per reason) per target; none without
/// targets.
fn encode_remote_write(enc: &mut DescriptorEncoder<'_>, counters: &CounterValues) -> fmt::Result {
    let targets = &counters.remote_write;
    if targets.is_empty() {
        return Ok(());
    }
    let one = |f: fn(&crate::outputs::remote_write::stats::SinkReading) -> u64| {
        targets
            .iter()
            .map(move |t| (vec![("target", t.name.as_str())], f(t)))
    };
    counter(
        enc,
        "zerofault_remote_write_samples_sent_total",
        "Samples the remote_write target accepted (2xx) since the collector started.",
        one(|t| t.samples_sent),
    )?;
    counter(
        enc,
        "zerofault_remote_write_requests_sent_total",
        "Requests the remote_write target accepted since the collector started.",
        one(|t| t.requests_sent),
    )?;
    counter(
        enc,
        "zerofault_remote_write_requests_retried_total",
        "Requests to the remote_write target that failed (5xx, 429, network, timeout) and were retried.",
        one(|t| t.requests_retried),
    )?;
    counter(
        enc,
        "zerofault_remote_write_samples_dropped_total",
        "Samples dropped instead of delivered, by reason: queue_full (max_queue_bytes reached, oldest first), too_old (max_sample_age), refused (a 4xx other than 429), corrupt (a damaged queue record).",
        targets.iter().flat_map(|t| {
            t.dropped.iter().map(|(reason, n)| {
                (
                    vec![("target", t.name.as_str()), ("reason", reason.as_str())],
                    *n,
                )
            })
        }),
    )?;
    gauge(
        enc,
        "zerofault_remote_write_samples_queued",
        "Samples in the remote_write target's durable queue, not yet delivered.",
        one(|t| t.samples_queued),
    )?;
    gauge(
        enc,
        "zerofault_remote_write_queue_bytes",
        "Bytes of the remote_write target's durable queue on disk.",
        one(|t| t.queue_bytes),
    )?;
    let now = counters.read_unix_ms;
    gauge(
        enc,
        "zerofault_remote_write_lag_seconds",
        "Time since the oldest sample not yet delivered to the remote_write target was queued; 0 when none waits.",
        targets.iter().map(|t| {
            let lag = if t.oldest_enqueued_ms == 0 || t.samples_queued == 0 {
                0.0
            } else {
                (now - t.oldest_enqueued_ms).max(0) as f64 / 1000.0
            };
            (vec![("target", t.name.as_str())], lag)
        }),
    )?;
    gauge(
        enc,
        "zerofault_remote_write_last_success_timestamp_seconds",
        "When the remote_write target last accepted a request (collector clock), Unix seconds; 0 before the first.",
        targets.iter().map(|t| {
            (
                vec![("target", t.name.as_str())],
                t.last_success_ms as f64 / 1000.0,
            )
        }),
    )
}
