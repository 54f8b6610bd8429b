//! What the collector derives rather than receives, as remote write series at collector
//! time: host up and delivery, department and data-center sums, link states and counters,
//! backbone links by state. Pure: the host-table snapshot, the link views and the time in;
//! series out, with `/metrics`' names and labels.
//!
//! With several collectors on one database only the holder of the deployment lease pushes
//! these (as only it exposes them on `/metrics`), so no host or link is counted twice.

use std::collections::BTreeMap;

use super::samples::SeriesOut;
use crate::aggregate::{self, Sums, or_unlabelled};
use crate::inventory::Inventory;
use crate::live::hosts::HostEntry;
use crate::live::links::{LinkState, LinkView};
use crate::live::slots::{HOST_STATUSES, LINK_STATUSES, Seconds, SlotState, Slots};

/// The derived series as of `now_ms`; `slots` and `inventory` give the live states, slot
/// counters and targets (empty before the first tick).
pub fn of_state(
    snapshot: &[HostEntry],
    links: &[LinkView],
    slots: &Slots,
    inventory: &Inventory,
    now_ms: i64,
    down_after_intervals: u32,
) -> SeriesOut {
    let mut out = SeriesOut::default();
    let hosts = aggregate::hosts(snapshot, now_ms, down_after_intervals);
    for h in &hosts {
        let r = h.report();
        let base = [
            ("agent", r.agent_id.as_str()),
            ("host", r.hostname.as_str()),
            ("department", h.department),
            ("datacenter", h.datacenter),
        ];
        out.push(
            "zerofault_host_up",
            &base,
            now_ms,
            f64::from(u8::from(h.up)),
        );
        out.push(
            "zerofault_host_last_report_timestamp_seconds",
            &base,
            now_ms,
            h.entry.received_unix_ms as f64 / 1000.0,
        );
        if let Some(d) = h.entry.delivery {
            out.push(
                "zerofault_agent_reports_stored",
                &base,
                now_ms,
                d.reports_stored as f64,
            );
            out.push(
                "zerofault_agent_sequence_gaps",
                &base,
                now_ms,
                d.sequence_gaps as f64,
            );
            if let Some(offset) = d.clock_offset_ms {
                out.push(
                    "zerofault_agent_clock_offset_seconds",
                    &base,
                    now_ms,
                    offset as f64 / 1000.0,
                );
            }
            out.push(
                "zerofault_agent_clock_skewed",
                &base,
                now_ms,
                f64::from(u8::from(d.clock_skewed)),
            );
        }
    }
    let sums = aggregate::aggregate(&hosts);
    groups(&mut out, "department", &sums.departments, now_ms);
    groups(&mut out, "datacenter", &sums.datacenters, now_ms);
    link_state(&mut out, links, now_ms);
    slot_series(&mut out, slots, inventory, now_ms);
    out
}

fn per_state(
    out: &mut SeriesOut,
    name: &str,
    labels: &[(&str, &str)],
    seconds: &Seconds,
    now_ms: i64,
) {
    for s in SlotState::ALL {
        let mut l = labels.to_vec();
        l.push(("state", s.as_str()));
        out.push(name, &l, now_ms, seconds[s as usize]);
    }
}

/// The live states, slot counters and targets, as `/metrics` shows them
/// (`http/metrics/slots.rs`).
fn slot_series(out: &mut SeriesOut, slots: &Slots, inventory: &Inventory, now_ms: i64) {
    if slots.last_ms.is_none() {
        return;
    }
    for (agent, h) in &slots.hosts {
        let labels = [
            ("agent", agent.as_str()),
            ("host", h.host.as_str()),
            ("department", h.department.as_str()),
            ("datacenter", h.datacenter.as_str()),
        ];
        for s in HOST_STATUSES {
            let mut l = labels.to_vec();
            l.push(("state", s.as_str()));
            out.push(
                "zerofault_host_status",
                &l,
                now_ms,
                f64::from(u8::from(h.state == s)),
            );
        }
        per_state(
            out,
            "zerofault_host_slot_seconds_total",
            &labels,
            &h.seconds,
            now_ms,
        );
    }
    for (id, l) in &slots.links {
        let labels = [
            ("link", id.as_str()),
            ("level", l.level.as_str()),
            ("domain", l.domain.as_str()),
        ];
        for s in LINK_STATUSES {
            let mut with = labels.to_vec();
            with.push(("state", s));
            out.push(
                "zerofault_link_status",
                &with,
                now_ms,
                f64::from(u8::from(l.status == s)),
            );
        }
        per_state(
            out,
            "zerofault_link_slot_seconds_total",
            &labels,
            &l.seconds,
            now_ms,
        );
    }
    let host_default = inventory.targets.host;
    for (d, s) in &slots.departments {
        per_state(
            out,
            "zerofault_department_slot_seconds_total",
            &[("department", d)],
            s,
            now_ms,
        );
        let t = inventory
            .department(d)
            .and_then(|x| x.target)
            .unwrap_or(host_default);
        out.push(
            "zerofault_department_availability_target",
            &[("department", d)],
            now_ms,
            t,
        );
    }
    for (d, s) in &slots.datacenters {
        per_state(
            out,
            "zerofault_datacenter_slot_seconds_total",
            &[("datacenter", d)],
            s,
            now_ms,
        );
        out.push(
            "zerofault_datacenter_availability_target",
            &[("datacenter", d)],
            now_ms,
            host_default,
        );
    }
    for ((level, domain), s) in &slots.backbone {
        let labels = [("level", level.as_str()), ("domain", domain.as_str())];
        per_state(
            out,
            "zerofault_backbone_slot_seconds_total",
            &labels,
            s,
            now_ms,
        );
        out.push(
            "zerofault_backbone_availability_target",
            &labels,
            now_ms,
            crate::inventory::link_level_target(inventory, level),
        );
    }
}

fn groups(out: &mut SeriesOut, scope: &str, groups: &BTreeMap<&str, Sums>, now_ms: i64) {
    let name = |what: &str| format!("zerofault_{scope}_{what}");
    for (key, s) in groups {
        let labels = [(scope, *key)];
        out.push(
            &name("hosts"),
            &[(scope, key), ("state", "up")],
            now_ms,
            s.up as f64,
        );
        out.push(
            &name("hosts"),
            &[(scope, key), ("state", "down")],
            now_ms,
            s.down as f64,
        );
        for (what, _, value) in &aggregate::GROUP_FAMILIES {
            out.push(&name(what), &labels, now_ms, value(s).as_f64());
        }
    }
}

fn link_state(out: &mut SeriesOut, links: &[LinkView], now_ms: i64) {
    let mut seen = std::collections::HashSet::new();
    let mut backbone: BTreeMap<(&str, &str), ([u64; 3], u64)> = BTreeMap::new();
    for l in links.iter().filter(|l| seen.insert(l.link_id.as_str())) {
        let (level, domain) = (or_unlabelled(&l.level), or_unlabelled(&l.domain));
        for v in &l.vantages {
            let labels = [
                ("link", l.link_id.as_str()),
                ("level", level),
                ("domain", domain),
                ("agent", v.agent.as_str()),
            ];
            let up = v.state != LinkState::Down;
            out.push(
                "zerofault_link_up",
                &labels,
                now_ms,
                f64::from(u8::from(up)),
            );
            for s in LinkState::ALL {
                let mut with_state = labels.to_vec();
                with_state.push(("state", s.as_str()));
                out.push(
                    "zerofault_link_state",
                    &with_state,
                    now_ms,
                    f64::from(u8::from(v.state == s)),
                );
            }
            out.push(
                "zerofault_link_probes_sent_total",
                &labels,
                now_ms,
                v.probes_sent_total as f64,
            );
            out.push(
                "zerofault_link_probes_received_total",
                &labels,
                now_ms,
                v.probes_received_total as f64,
            );
            out.push(
                "zerofault_link_down_seconds_total",
                &labels,
                now_ms,
                v.down_ms_total as f64 / 1000.0,
            );
        }
        let labels = [
            ("link", l.link_id.as_str()),
            ("level", level),
            ("domain", domain),
        ];
        out.push(
            "zerofault_link_outage_seconds_total",
            &labels,
            now_ms,
            l.down_ms_total as f64 / 1000.0,
        );
        out.push(
            "zerofault_link_faults_total",
            &labels,
            now_ms,
            l.faults_total as f64,
        );
        let g = backbone.entry((level, domain)).or_default();
        g.0[LinkState::ALL
            .iter()
            .position(|s| *s == l.state)
            .unwrap_or(0)] += 1;
        g.1 += l.faults_total;
    }
    for ((level, domain), (states, faults)) in &backbone {
        for (s, n) in LinkState::ALL.iter().zip(states) {
            out.push(
                "zerofault_backbone_links",
                &[("level", level), ("domain", domain), ("state", s.as_str())],
                now_ms,
                *n as f64,
            );
        }
        out.push(
            "zerofault_backbone_faults_total",
            &[("level", level), ("domain", domain)],
            now_ms,
            *faults as f64,
        );
    }
}
