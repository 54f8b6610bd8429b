//! Link families: per (link, vantage agent) from the link engine, per link, and per
//! backbone level and domain.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use super::encode::{Labels, counter, gauge};
use crate::aggregate::or_unlabelled;
use crate::live::links::{LinkState, LinkView, VantageView};

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
pub(super) fn encode_links(enc: &mut DescriptorEncoder<'_>, links: &[LinkView]) -> fmt::Result {
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
