//! The live slot counters on literal states.

use super::*;
use crate::live::now::{HostNow, LinkNow};

fn host(agent: &str, dept: &str, state: HostState) -> HostNow {
    HostNow {
        agent: agent.into(),
        hostname: format!("{agent}.example"),
        department: dept.into(),
        data_center: "dc1".into(),
        site: String::new(),
        state,
        last_seen_ms: 0,
        behind: None,
        backlog: 0,
    }
}

fn link(id: &str, state: Option<LinkState>, maintenance: bool, behind: Option<&str>) -> LinkNow {
    LinkNow {
        id: id.into(),
        level: "city-county".into(),
        domain: "administrative".into(),
        state,
        maintenance,
        behind: behind.map(Into::into),
    }
}

fn now(hosts: Vec<HostNow>, links: Vec<LinkNow>) -> Now {
    Now {
        hosts,
        links,
        ..Now::default()
    }
}

fn secs(s: &Seconds, state: SlotState) -> f64 {
    s[state as usize]
}

#[test]
fn time_goes_to_each_hosts_state_and_groups_are_the_sums() {
    let mut slots = Slots::default();
    let present = now(
        vec![
            host("a", "d1", HostState::Up),
            host("b", "d1", HostState::Down),
            host("c", "d1", HostState::Unreachable),
            host("d", "", HostState::Silent),
            host("e", "d2", HostState::Maintenance),
        ],
        Vec::new(),
    );
    // The first advance only starts the clock.
    slots.advance(&present, 1_000_000);
    assert!(
        slots
            .hosts
            .values()
            .all(|h| h.seconds == Seconds::default())
    );
    slots.advance(&present, 1_010_000);
    let h = |a: &str| slots.hosts[a].seconds;
    assert_eq!(secs(&h("a"), SlotState::Up), 10.0);
    // Behind a down link and silent are down for availability (root cause only decides
    // which incident it is).
    for a in ["b", "c", "d"] {
        assert_eq!(secs(&h(a), SlotState::Down), 10.0, "{a}");
    }
    assert_eq!(secs(&h("e"), SlotState::Maintenance), 10.0);
    assert_eq!(slots.hosts["d"].department, "unlabelled");
    let d1 = slots.departments["d1"];
    assert_eq!(
        (secs(&d1, SlotState::Up), secs(&d1, SlotState::Down)),
        (10.0, 20.0)
    );
    assert_eq!(secs(&slots.departments["d2"], SlotState::Maintenance), 10.0);
    let dc: f64 = slots.datacenters["dc1"].iter().sum();
    assert_eq!(dc, 50.0);
}

#[test]
fn silence_without_any_host_reporting_is_unknown_and_a_stall_is_not_counted() {
    let mut slots = Slots::default();
    let all_quiet = now(
        vec![
            host("a", "d1", HostState::Down),
            host("b", "d1", HostState::Down),
        ],
        Vec::new(),
    );
    slots.advance(&all_quiet, 0);
    slots.advance(&all_quiet, 10_000);
    assert_eq!(secs(&slots.hosts["a"].seconds, SlotState::Unknown), 10.0);
    assert_eq!(secs(&slots.hosts["a"].seconds, SlotState::Down), 0.0);
    // One host reporting is evidence that the other's silence is real.
    let one_up = now(
        vec![
            host("a", "d1", HostState::Up),
            host("b", "d1", HostState::Down),
        ],
        Vec::new(),
    );
    slots.advance(&one_up, 20_000);
    assert_eq!(secs(&slots.hosts["b"].seconds, SlotState::Down), 10.0);
    // A single host that is up is not evidence for itself being down.
    assert_eq!(host_slot(HostState::Down, false), SlotState::Unknown);
    // The collector stalled for 10 minutes: only MAX_STEP_MS is counted.
    slots.advance(&one_up, 620_000);
    assert_eq!(secs(&slots.hosts["a"].seconds, SlotState::Up), 10.0 + 30.0);
    // A clock stepped back counts nothing.
    slots.advance(&one_up, 600_000);
    assert_eq!(secs(&slots.hosts["a"].seconds, SlotState::Up), 40.0);
}

#[test]
fn links_count_degraded_as_up_and_say_which_down_is_a_root_cause() {
    let mut slots = Slots::default();
    let present = now(
        Vec::new(),
        vec![
            link("l-up", Some(LinkState::Up), false, None),
            link("l-deg", Some(LinkState::Degraded), false, None),
            link("l-root", Some(LinkState::Down), false, None),
            link("l-behind", Some(LinkState::Down), false, Some("l-root")),
            link("l-maint", Some(LinkState::Down), true, None),
            link("l-new", None, false, None),
        ],
    );
    slots.advance(&present, 0);
    slots.advance(&present, 5_000);
    let status: Vec<(&str, &str)> = slots
        .links
        .iter()
        .map(|(id, l)| (id.as_str(), l.status))
        .collect();
    assert_eq!(
        status,
        [
            ("l-behind", "unreachable"),
            ("l-deg", "degraded"),
            ("l-maint", "maintenance"),
            ("l-new", "unknown"),
            ("l-root", "down"),
            ("l-up", "up"),
        ]
    );
    assert_eq!(secs(&slots.links["l-deg"].seconds, SlotState::Up), 5.0);
    assert_eq!(secs(&slots.links["l-behind"].seconds, SlotState::Down), 5.0);
    let group = slots.backbone[&("city-county".to_string(), "administrative".to_string())];
    assert_eq!(group, [10.0, 10.0, 5.0, 5.0]);
}
