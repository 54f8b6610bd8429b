use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::inventory::{Inventory, Scope};

fn inventory() -> Inventory {
    let inv = Inventory::parse(INVENTORY, Path::new("/demo/inventory.yaml"))
        .expect("the demo's inventory parses");
    inv.validate().expect("the demo's inventory is valid");
    inv
}

fn endpoints() -> Endpoints {
    Endpoints {
        ingest: "127.0.0.1:7443".parse().unwrap(),
        http: "127.0.0.1:9464".parse().unwrap(),
        cut: "127.0.0.1:40001".parse().unwrap(),
    }
}

#[test]
fn the_inventory_validates_and_holds_what_the_cockpit_shows() {
    let inv = inventory();
    assert_eq!(inv.organisation_name("zh-CN"), "浙江省大数据发展管理局");
    assert_eq!(inv.organisation_name("en"), "Zhejiang Big Data Bureau");
    assert_eq!(inv.departments.len(), 3);
    assert_eq!(inv.business_systems.len(), 3);
    assert_eq!(inv.data_centers.len(), 2);
    assert_eq!(inv.time_zone_name(), "Asia/Shanghai");
    // Every backbone level has a link, and one link is in the public domain.
    let levels: BTreeSet<&str> = inv.links.iter().map(|l| l.level.as_str()).collect();
    assert_eq!(
        levels,
        BTreeSet::from(["city-county", "county-township", "province-city"])
    );
    assert!(inv.links.iter().any(|l| l.domain.as_str() == "public"));
    // Two cities under the province, a county under one of them, a township under it.
    assert_eq!(
        inv.site_ancestors("adm-dq-qy"),
        ["adm-dq", "adm-hz", "adm-zj"]
    );
    assert_eq!(inv.site_ancestors("adm-jx"), ["adm-zj"]);
    // Names in both languages for everything the cockpit lists.
    for d in &inv.departments {
        assert!(!d.name_zh.is_empty() && !d.name_en.is_empty(), "{}", d.code);
    }
    for l in &inv.links {
        assert!(!l.name_zh.is_empty() && !l.name_en.is_empty(), "{}", l.id);
    }
}

#[test]
fn a_maintenance_window_is_always_coming_up_within_a_week() {
    let inv = inventory();
    let now = zerofault_common::now_unix_ms();
    let week = 7 * 86_400_000;
    let coming: Vec<_> = inv
        .maintenance_intervals(now, now + week)
        .into_iter()
        .filter(|m| m.scope == Scope::BusinessSystem("zwfw".into()))
        .collect();
    assert!(
        !coming.is_empty(),
        "no window of zwfw within a week of {now}"
    );
}

#[test]
fn the_fault_minimum_is_the_same_in_the_inventory_and_the_collector() {
    let inv = inventory();
    let ms = zerofault_common::duration::parse_duration(FAULT_MIN).unwrap();
    assert_eq!(inv.fault_min, ms);
    assert_eq!(inv.slot, Duration::from_secs(30));
}

/// A site's place without its domain: `adm-zj` and `pub-zj` are the same province.
fn node(code: &str) -> &str {
    code.strip_prefix("adm-")
        .or_else(|| code.strip_prefix("pub-"))
        .unwrap_or(code)
}

#[test]
fn every_agent_label_and_probe_is_declared_by_the_inventory() {
    let inv = inventory();
    let mut ids = BTreeSet::new();
    let mut probed = BTreeSet::new();
    for a in AGENTS {
        assert!(zerofault_protocol::is_valid_agent_id(a.id), "{}", a.id);
        assert!(ids.insert(a.id), "{} twice", a.id);
        let labels = zerofault_protocol::Labels {
            department: a.department.into(),
            business_system: a.business_system.into(),
            datacenter: a.datacenter.into(),
            site: a.site.into(),
        };
        assert_eq!(inv.unknown_labels(&labels), [], "{}", a.id);
        assert_eq!(
            inv.business_system(a.business_system).unwrap().department,
            a.department,
            "{}",
            a.id
        );
        for p in a.probes {
            let link = inv
                .link(p.link)
                .unwrap_or_else(|| panic!("link {}", p.link));
            assert_eq!(link.level.as_str(), p.level, "{}", p.link);
            assert_eq!(link.domain.as_str(), p.domain, "{}", p.link);
            // Agents probe from the near end (the public link's near end is the public
            // node of the same province, where the provincial host is homed too).
            assert_eq!(
                node(&link.from),
                node(a.site),
                "{} probes {} from {}",
                a.id,
                p.link,
                a.site
            );
            assert!(probed.insert(p.link), "{} probed twice", p.link);
        }
    }
    // Every link of the inventory is probed by one agent.
    let declared: BTreeSet<&str> = inv.links.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(probed, declared);
}

#[test]
fn one_link_is_cut_and_a_host_stands_behind_it() {
    let inv = inventory();
    let cut: Vec<&DemoProbe> = AGENTS
        .iter()
        .flat_map(|a| a.probes)
        .filter(|p| p.aim == Aim::Cut)
        .collect();
    assert_eq!(cut.len(), 1);
    assert_eq!(cut[0].link, CUT_LINK);
    let behind = inv.links_behind(CUT_LINK);
    let hosts: Vec<&str> = AGENTS
        .iter()
        .filter(|a| behind.sites.contains(a.site))
        .map(|a| a.id)
        .collect();
    assert_eq!(hosts, ["zj-wjw-clinic-01"]);
}

#[test]
fn aims_become_probe_kinds_and_targets() {
    let e = endpoints();
    assert_eq!(Aim::HttpListener.kind(), "tcp");
    assert_eq!(Aim::HttpListener.target(&e), "127.0.0.1:9464");
    assert_eq!(Aim::Healthz.kind(), "http");
    assert_eq!(Aim::Healthz.target(&e), "http://127.0.0.1:9464/healthz");
    assert_eq!(Aim::Cut.kind(), "tcp");
    assert_eq!(Aim::Cut.target(&e), "127.0.0.1:40001");
    let v6 = Endpoints {
        http: "[::1]:9464".parse().unwrap(),
        ..e
    };
    assert_eq!(Aim::Healthz.target(&v6), "http://[::1]:9464/healthz");
}

#[test]
fn the_collector_config_names_the_inventory_and_the_short_intervals() {
    let layout = Layout::new("/d");
    let text = collector_yaml(&CollectorPaths {
        ingest_listen: "0.0.0.0:7443".parse().unwrap(),
        http_listen: "127.0.0.1:9464".parse().unwrap(),
        layout: &layout,
        database: Path::new("/d/zerofault.db"),
        inventory: Path::new("/d/inventory.yaml"),
    });
    assert_eq!(
        text,
        "# Written by `zerofault-collector demo`; rewritten on every demo start.
listen:
  ingest: \"0.0.0.0:7443\"
  http: \"127.0.0.1:9464\"
tls:
  ca: \"/d/ca.pem\"
  cert: \"/d/collector.pem\"
  key: \"/d/collector.key\"
storage:
  sqlite:
    path: \"/d/zerofault.db\"
limits:
  max_body_bytes: 1048576
  max_decompressed_bytes: 8388608
hosts:
  down_after_intervals: 3
# The same as the inventory's fault_min.
links:
  fault_min: 30s
# The shortest interval, so that the month's figures show within a minute.
month_to_date:
  interval: 1m
inventory: \"/d/inventory.yaml\"
"
    );
    let config = crate::config::Config::parse(&text, Path::new("/d/collector.yaml")).unwrap();
    config.validate_structure().unwrap();
    assert_eq!(config.inventory, Some(PathBuf::from("/d/inventory.yaml")));
    assert_eq!(config.links.fault_min, inventory().fault_min);
    assert_eq!(
        config.month_to_date.interval,
        crate::month::to_date::MIN_INTERVAL
    );
}

#[test]
fn the_agent_configs_carry_labels_probes_and_the_cut() {
    let layout = Layout::new("/d");
    let e = endpoints();
    let portal = agent_yaml(
        &AGENTS[0],
        Path::new("/d/agent-state/zj-dsj-portal-01"),
        &layout,
        &e,
        "5s",
    );
    assert_eq!(
        portal,
        "# Written by `zerofault-collector demo`; rewritten on every demo start.
agent:
  id: \"zj-dsj-portal-01\"
  state_dir: \"/d/agent-state/zj-dsj-portal-01\"
labels:
  department: \"zj-dsj\"
  business_system: \"zwfw\"
  datacenter: \"zj-dc1\"
  site: \"adm-zj\"
collector:
  url: \"https://127.0.0.1:7443\"
  timeout: 10s
tls:
  ca: \"/d/ca.pem\"
  cert: \"/d/agents/zj-dsj-portal-01.pem\"
  key: \"/d/agents/zj-dsj-portal-01.key\"
interval: \"5s\"
probes:
  - link: \"adm-zj-hz\"
    kind: tcp
    target: \"127.0.0.1:9464\"
    level: province-city
    domain: administrative
  - link: \"adm-zj-jx\"
    kind: tcp
    target: \"127.0.0.1:9464\"
    level: province-city
    domain: administrative
  - link: \"pub-zj-hz\"
    kind: http
    target: \"http://127.0.0.1:9464/healthz\"
    level: province-city
    domain: public
"
    );
    let health = agent_yaml(&AGENTS[2], Path::new("/s"), &layout, &e, "1s");
    assert!(
        health.ends_with(
            "interval: \"1s\"
probes:
  # The demo's simulated cut: the demo holds this port bound and never listens
  # on it, so every connect is refused and the link stays down.
  - link: \"adm-dq-qy\"
    kind: tcp
    target: \"127.0.0.1:40001\"
    level: county-township
    domain: administrative
"
        ),
        "{health}"
    );
    // The host behind the cut probes nothing: no `probes:` key at all.
    let clinic = agent_yaml(&AGENTS[3], Path::new("/s"), &layout, &e, "1s");
    assert!(clinic.ends_with("interval: \"1s\"\n"), "{clinic}");
    assert!(clinic.contains("site: \"adm-dq-qy\"\n"), "{clinic}");
}
