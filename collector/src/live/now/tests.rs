use std::path::Path;
use std::sync::Arc;

use zerofault_protocol::{AgentStats, Labels, Report};

use super::*;
use crate::live::links::Fault;

const INVENTORY: &str = r#"
departments:
  - {code: d1, name_zh: 一部, name_en: One}
  - {code: d2, name_zh: 二部, name_en: Two}
data_centers:
  - {code: dc1, name_zh: 一中心, name_en: DC one, status: in-use}
sites:
  - {code: p, name_zh: 省, name_en: P, level: province, domain: administrative}
  - {code: c, name_zh: 市, name_en: C, level: city, domain: administrative, parent: p}
  - {code: k, name_zh: 县, name_en: K, level: county, domain: administrative, parent: c}
  - {code: t, name_zh: 镇, name_en: T, level: township, domain: administrative, parent: k}
links:
  - {id: p-c, from: p, to: c, level: province-city, domain: administrative}
  - {id: c-k, from: c, to: k, level: city-county, domain: administrative}
  - {id: k-t, from: k, to: t, level: county-township, domain: administrative}
"#;

const NOW: i64 = 1_000_000_000;
const SILENT_AFTER: i64 = 3_600_000;

fn inventory() -> Inventory {
    Inventory::parse(INVENTORY, Path::new("inv.yaml")).unwrap()
}

/// A host whose newest report arrived `age_ms` ago (15 s interval, down after 3).
fn host(agent: &str, dept: &str, site: &str, age_ms: i64) -> HostEntry {
    HostEntry {
        report: Arc::new(Report {
            agent_id: agent.into(),
            hostname: format!("{agent}.example"),
            interval_ms: 15_000,
            labels: Some(Labels {
                department: dept.into(),
                datacenter: "dc1".into(),
                site: site.into(),
                ..Default::default()
            }),
            agent_stats: Some(AgentStats {
                spool_reports: if agent == "late" { 40 } else { 0 },
                ..Default::default()
            }),
            ..Default::default()
        }),
        received_unix_ms: NOW - age_ms,
        delivery: None,
    }
}

fn link(id: &str, state: LinkState) -> LinkView {
    LinkView {
        link_id: id.into(),
        level: String::new(),
        domain: String::new(),
        state,
        down_ms_total: 0,
        faults_total: 0,
        vantages: Vec::new(),
    }
}

fn open_fault(id: &str, start: i64) -> Fault {
    Fault {
        link_id: id.into(),
        level: String::new(),
        domain: String::new(),
        start_unix_ms: start,
        end_unix_ms: None,
        duration_ms: NOW - start,
        agents: vec!["a".into()],
        settled: false,
    }
}

fn build_with(
    hosts: &[HostEntry],
    links: &[LinkView],
    faults: &[Fault],
    maintenance: &[MaintenanceInterval],
) -> Now {
    let inv = inventory();
    build(Inputs {
        hosts,
        links,
        open_faults: faults,
        inventory: &inv,
        maintenance,
        now_ms: NOW,
        down_after_intervals: 3,
        silent_after_ms: SILENT_AFTER,
    })
}

#[test]
fn a_down_link_is_the_root_cause_of_what_is_behind_it() {
    let hosts = [
        host("core", "d1", "c", 1_000),
        host("county", "d1", "k", 120_000),
        host("town", "d2", "t", 90_000),
        host("lone", "d2", "c", 300_000),
        host("gone", "d2", "c", 2 * SILENT_AFTER),
        host("late", "d1", "c", 2_000),
    ];
    // c-k down, and k-t behind it down as well: one incident, on c-k.
    let links = [
        link("p-c", LinkState::Up),
        link("c-k", LinkState::Down),
        link("k-t", LinkState::Down),
    ];
    let faults = [
        open_fault("c-k", NOW - 600_000),
        open_fault("k-t", NOW - 500_000),
    ];
    let now = build_with(&hosts, &links, &faults, &[]);

    let states: Vec<(&str, HostState)> = now
        .hosts
        .iter()
        .map(|h| (h.agent.as_str(), h.state))
        .collect();
    assert_eq!(
        states,
        [
            ("lone", HostState::Down),
            ("county", HostState::Unreachable),
            ("town", HostState::Unreachable),
            ("gone", HostState::Silent),
            ("late", HostState::Up),
            ("core", HostState::Up),
        ],
        "worst first, the longest silent first within a state"
    );
    assert_eq!(now.hosts[1].behind.as_deref(), Some("c-k"));

    assert_eq!(now.incidents.len(), 2, "{:?}", now.incidents);
    let link_incident = &now.incidents[0];
    assert!(link_incident.is_link);
    assert_eq!(link_incident.id, "c-k");
    assert_eq!(link_incident.since_ms, Some(NOW - 600_000));
    assert_eq!(link_incident.hidden_hosts, ["county", "town"]);
    assert_eq!(link_incident.hidden_links, ["k-t"]);
    let host_incident = &now.incidents[1];
    assert!(!host_incident.is_link);
    assert_eq!(host_incident.id, "lone");
    assert!(
        !now.incidents
            .iter()
            .any(|i| i.id == "county" || i.id == "town" || i.id == "k-t"),
        "nothing behind the root cause is an incident of its own"
    );

    assert_eq!(
        now.totals,
        Counts {
            code: String::new(),
            up: 2,
            down: 3,
            unreachable: 2,
            silent: 1,
            maintenance: 0
        }
    );
    assert_eq!(now.departments[0].code, "d2", "most hosts not up first");
    assert_eq!(now.departments[0].not_up(), 3);
    assert_eq!(
        now.hosts
            .iter()
            .find(|h| h.agent == "late")
            .unwrap()
            .backlog,
        40
    );
    let kt = now.links.iter().find(|l| l.id == "k-t").unwrap();
    assert_eq!(kt.behind.as_deref(), Some("c-k"));
}

#[test]
fn maintenance_explains_silence_and_a_link_in_maintenance_hides_nothing() {
    let hosts = [
        host("town", "d2", "t", 90_000),
        host("lone", "d1", "c", 90_000),
    ];
    let links = [link("k-t", LinkState::Down)];
    let windows = [
        MaintenanceInterval {
            start_unix_ms: NOW - 1_000,
            end_unix_ms: NOW + 1_000,
            scope: Scope::Link("k-t".into()),
            note: String::new(),
        },
        MaintenanceInterval {
            start_unix_ms: NOW - 1_000,
            end_unix_ms: NOW + 1_000,
            scope: Scope::Department("d1".into()),
            note: String::new(),
        },
    ];
    let now = build_with(&hosts, &links, &[], &windows);
    let state = |a: &str| now.hosts.iter().find(|h| h.agent == a).unwrap().state;
    assert_eq!(state("lone"), HostState::Maintenance);
    // The link is in maintenance: planned work, not a root cause, and the host behind it is
    // in maintenance too, not an incident of its own.
    assert_eq!(state("town"), HostState::Maintenance);
    assert!(
        now.links
            .iter()
            .find(|l| l.id == "k-t")
            .unwrap()
            .maintenance
    );
    assert!(now.incidents.is_empty(), "{:?}", now.incidents);
}

#[test]
fn links_only_probes_name_are_listed_and_unprobed_ones_have_no_state() {
    let now = build_with(&[], &[link("extra", LinkState::Degraded)], &[], &[]);
    let ids: Vec<(&str, Option<LinkState>)> =
        now.links.iter().map(|l| (l.id.as_str(), l.state)).collect();
    assert_eq!(
        ids,
        [
            ("p-c", None),
            ("c-k", None),
            ("k-t", None),
            ("extra", Some(LinkState::Degraded))
        ]
    );
    assert!(now.incidents.is_empty());
    assert_eq!(now.totals.total(), 0);
}

#[test]
fn a_link_down_behind_a_planned_outage_is_in_maintenance_too_not_a_root_cause() {
    // c-k is being worked on (maintenance); k-t behind it goes down with it.
    let links = [link("c-k", LinkState::Down), link("k-t", LinkState::Down)];
    let windows = [MaintenanceInterval {
        start_unix_ms: NOW - 1_000,
        end_unix_ms: NOW + 1_000,
        scope: Scope::Link("c-k".into()),
        note: String::new(),
    }];
    let now = build_with(&[host("town", "d2", "t", 90_000)], &links, &[], &windows);
    let kt = now.links.iter().find(|l| l.id == "k-t").unwrap();
    assert!(kt.maintenance, "{kt:?}");
    assert!(now.incidents.is_empty(), "{:?}", now.incidents);
}
