//! Live states and slot counters (`live::slots`), and the availability targets they are
//! measured against: what the shipped burn-rate and host/link alerts read. Families appear
//! once the collector has advanced the counters (every 10 s, on the lease holder).

use std::collections::BTreeSet;
use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::encode::{Labels, counter, gauge};
use super::settings::Detail;
use crate::inventory::Inventory;
use crate::live::slots::{HOST_STATUSES, LINK_STATUSES, Seconds, SlotState, Slots};

fn per_state<'a>(labels: Labels<'a>, seconds: &Seconds) -> impl Iterator<Item = (Labels<'a>, f64)> {
    SlotState::ALL.into_iter().map(move |s| {
        let mut l = labels.clone();
        l.push(("state", s.as_str()));
        (l, seconds[s as usize])
    })
}

/// Writes the live states, the slot counters and the targets; per-host slot counters at
/// full detail only (the group counters carry what alerts need).
pub(super) fn encode_slots(
    enc: &mut DescriptorEncoder<'_>,
    slots: &Slots,
    inventory: &Inventory,
    detail: Detail,
) -> fmt::Result {
    if slots.last_ms.is_none() {
        return Ok(());
    }
    gauge(
        enc,
        "zerofault_host_status",
        "The host's live state, one-hot: up, down (an outage of its own), unreachable (behind a down link: the link's incident), silent (not reporting for longer than cockpit.silent_after), maintenance.",
        slots.hosts.iter().flat_map(|(agent, h)| {
            HOST_STATUSES.iter().map(move |s| {
                (
                    vec![
                        ("agent", agent.as_str()),
                        ("host", h.host.as_str()),
                        ("department", h.department.as_str()),
                        ("datacenter", h.datacenter.as_str()),
                        ("state", s.as_str()),
                    ],
                    i64::from(h.state == *s),
                )
            })
        }),
    )?;
    if detail == Detail::Full {
        counter(
            enc,
            "zerofault_host_slot_seconds_total",
            "Seconds the host spent in each live state (up, down, maintenance, unknown) while this collector ran.",
            slots.hosts.iter().flat_map(|(agent, h)| {
                per_state(
                    vec![
                        ("agent", agent.as_str()),
                        ("host", h.host.as_str()),
                        ("department", h.department.as_str()),
                        ("datacenter", h.datacenter.as_str()),
                    ],
                    &h.seconds,
                )
            }),
        )?;
    }
    gauge(
        enc,
        "zerofault_link_status",
        "The link's live state, one-hot: up, degraded, down (a root cause), unreachable (down behind another down link), maintenance, unknown (no probe reported it).",
        slots.links.iter().flat_map(|(id, l)| {
            LINK_STATUSES.iter().map(move |s| {
                (
                    vec![
                        ("link", id.as_str()),
                        ("level", l.level.as_str()),
                        ("domain", l.domain.as_str()),
                        ("state", *s),
                    ],
                    i64::from(l.status == *s),
                )
            })
        }),
    )?;
    counter(
        enc,
        "zerofault_link_slot_seconds_total",
        "Seconds the link spent in each live state (up: up or degraded; down; maintenance; unknown) while this collector ran.",
        slots.links.iter().flat_map(|(id, l)| {
            per_state(
                vec![
                    ("link", id.as_str()),
                    ("level", l.level.as_str()),
                    ("domain", l.domain.as_str()),
                ],
                &l.seconds,
            )
        }),
    )?;
    counter(
        enc,
        "zerofault_department_slot_seconds_total",
        "Host-seconds of the department's hosts in each live state (sum over its hosts).",
        slots
            .departments
            .iter()
            .flat_map(|(d, s)| per_state(vec![("department", d.as_str())], s)),
    )?;
    counter(
        enc,
        "zerofault_datacenter_slot_seconds_total",
        "Host-seconds of the data center's hosts in each live state (sum over its hosts).",
        slots
            .datacenters
            .iter()
            .flat_map(|(d, s)| per_state(vec![("datacenter", d.as_str())], s)),
    )?;
    counter(
        enc,
        "zerofault_backbone_slot_seconds_total",
        "Link-seconds of the backbone level and domain's links in each live state (sum over its links).",
        slots.backbone.iter().flat_map(|((level, domain), s)| {
            per_state(
                vec![("level", level.as_str()), ("domain", domain.as_str())],
                s,
            )
        }),
    )?;
    encode_targets(enc, slots, inventory)
}

/// The monthly availability targets of the groups the counters hold, from the inventory
/// (its defaults without one), as the monthly report applies them.
fn encode_targets(
    enc: &mut DescriptorEncoder<'_>,
    slots: &Slots,
    inventory: &Inventory,
) -> fmt::Result {
    let host_default = inventory.targets.host;
    gauge(
        enc,
        "zerofault_department_availability_target",
        "The department's monthly availability target (inventory: departments[].target, else targets.host).",
        slots.departments.keys().map(|d| {
            let t = inventory
                .department(d)
                .and_then(|x| x.target)
                .unwrap_or(host_default);
            (vec![("department", d.as_str())], t)
        }),
    )?;
    gauge(
        enc,
        "zerofault_datacenter_availability_target",
        "The availability target the burn-rate alerts apply to the data center's hosts: the inventory's targets.host (data centers have no target of their own).",
        slots.datacenters.keys().map(|d| {
            // Data centers have no target of their own: the hosts' default, as the
            // burn-rate alerts need one (the monthly report shows none for them).
            (vec![("datacenter", d.as_str())], host_default)
        }),
    )?;
    let groups: BTreeSet<&(String, String)> = slots.backbone.keys().collect();
    gauge(
        enc,
        "zerofault_backbone_availability_target",
        "The backbone level's monthly availability target for its links (inventory: targets.link.<level>); unlabelled levels get targets.host.",
        groups.into_iter().map(|(level, domain)| {
            let t = crate::inventory::link_level_target(inventory, level);
            (
                vec![("level", level.as_str()), ("domain", domain.as_str())],
                t,
            )
        }),
    )
}
