//! Per-agent families: delivery completeness, the agent's spool and clock, and the label
//! values the inventory does not declare. At [`Detail::Essential`] only the families that
//! say data is missing or lost are kept (sequence gaps, the age of the oldest undelivered
//! report, reports dropped from a full spool): they tell whether the SLA figures lack
//! evidence, which no other series does; and whether the agent's clock is skewed, which a
//! shipped alert reads.

use std::collections::HashSet;
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{counter, gauge};
use super::settings::Detail;
use super::view::{HostView, host_gauge};

/// The agents' current label values that the inventory does not declare: one series each,
/// by agent id, then department, business system, data center, site.
pub(super) fn encode_unknown_labels(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
) -> fmt::Result {
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

/// Delivery completeness (from what is stored) and the agent's own spool and clock figures;
/// the families of full detail only when `detail` is full.
pub(super) fn encode_agents(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
    detail: Detail,
) -> fmt::Result {
    let full = detail == Detail::Full;
    if full {
        host_gauge(
            enc,
            hosts,
            "zerofault_agent_reports_stored",
            "Distinct reports of the agent stored by the collector (all boots).",
            |h| h.host.entry.delivery.map(|d| d.reports_stored),
        )?;
    }
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_sequence_gaps",
        "Sequence numbers missing from storage between the lowest and highest stored, within each boot, summed over boots.",
        |h| h.host.entry.delivery.map(|d| d.sequence_gaps),
    )?;
    if full {
        encode_clock_offset(enc, hosts)?;
    }
    // In essential detail too: a shipped alert (ZerofaultAgentClockSkewed) reads it.
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_clock_skewed",
        "1 if the agent clock offset is beyond clock.max_skew, else 0.",
        |h| h.host.entry.delivery.map(|d| i64::from(d.clock_skewed)),
    )?;
    if full {
        encode_spool(enc, hosts)?;
    }
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
                let offset = h
                    .host
                    .entry
                    .delivery
                    .and_then(|d| d.clock_offset_ms)
                    .unwrap_or(0);
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
    if full {
        encode_corrupt_and_send_errors(enc, hosts)?;
    }
    Ok(())
}

/// The agent's clock offset (full detail only).
fn encode_clock_offset(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
    host_gauge(
        enc,
        hosts,
        "zerofault_agent_clock_offset_seconds",
        "Estimated agent clock minus collector clock: the maximum of (agent timestamp - receive time) over the agent's last 20 live reports.",
        |h| {
            h.host
                .entry
                .delivery
                .and_then(|d| d.clock_offset_ms)
                .map(|ms| ms as f64 / 1000.0)
        },
    )
}

/// The agent's spool bytes and reports (full detail only).
fn encode_spool(enc: &mut DescriptorEncoder<'_>, hosts: &[HostView<'_>]) -> fmt::Result {
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
    )
}

/// Corrupt spool records and failed sends by kind (full detail only).
fn encode_corrupt_and_send_errors(
    enc: &mut DescriptorEncoder<'_>,
    hosts: &[HostView<'_>],
) -> fmt::Result {
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
