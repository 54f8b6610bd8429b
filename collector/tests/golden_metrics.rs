//! Golden test of the `/metrics` exposition.
//!
//! The fixture reports in `tests/fixtures/*.json` (serde form of
//! `zerofault_protocol::Report`: 3 hosts, 2 departments, 2 data centers, one host down, one
//! interface that went down and up) and the link windows in
//! `tests/fixtures/links/arrivals.json` (in arrival order: a 90 s outage of a province-city
//! link seen by two vantage points, a degraded city-county link, an unlabelled access link
//! down since 100 s before the scrape) are rendered at a fixed time, with the inventory
//! [`INVENTORY`] (which lacks one fixture host's data center and another's business system),
//! and compared byte for byte with `tests/golden/metrics.txt`.
//! A change of the exposition is a change of the product's interface to every dashboard
//! and alert built on it, so it must be deliberate: regenerate with
//! `ZEROFAULT_UPDATE_GOLDEN=1 cargo test -p zerofault-collector --test golden_metrics`,
//! review the diff, and update `docs/metrics.md` with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zerofault_collector::config::Links;
use zerofault_collector::http::{Detail, render_with_inventory};
use zerofault_collector::inventory::Inventory;
use zerofault_collector::live::delivery::{BootSpan, StoredSpan};
use zerofault_collector::live::hosts::{HostTable, IngestCounters, RejectReason};
use zerofault_collector::live::links::LinkHub;
use zerofault_protocol::{Limits, Report};

/// The scrape time of the golden output: 2026-01-01T00:00:00Z.
const NOW_UNIX_MS: i64 = 1_767_225_600_000;
const DOWN_AFTER_INTERVALS: u32 = 3;
const PROMTOOL: &str = "/usr/bin/promtool";

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The inventory of the golden output: everything the fixtures use except data center
/// `dc-south` (db-01) and business system `gis` (gis-01), which are therefore flagged.
const INVENTORY: &str = "\
departments:
  - {code: fgw, name_zh: 发改委, name_en: Development and Reform Commission}
  - {code: zrzy, name_zh: 自然资源局, name_en: Natural Resources Bureau}
business_systems:
  - {code: oa, department: fgw, name_zh: 办公自动化, name_en: Office automation}
data_centers:
  - {code: dc-north, name_zh: 北区机房, name_en: North data center, status: in-use}
sites:
  - {code: city-gz, name_zh: 城区, name_en: City, level: city, domain: administrative}
  - {code: county-hd, name_zh: 海东县, name_en: Haidong county, level: county, domain: administrative, parent: city-gz}
";

fn inventory() -> Inventory {
    let inventory = Inventory::parse(INVENTORY, Path::new("inventory.yaml")).unwrap();
    inventory.validate().unwrap();
    inventory
}

fn golden_path() -> PathBuf {
    manifest_dir().join("tests/golden/metrics.txt")
}

/// The same input at essential detail (what a province's collector serves by default).
fn essential_golden_path() -> PathBuf {
    manifest_dir().join("tests/golden/metrics-essential.txt")
}

/// The fixture reports, by file name. Each fixture's `timestamp_unix_ms` doubles as its
/// receive time (the collector clock): the fixtures are written with an exact clock.
fn fixture_reports() -> Vec<Report> {
    let dir = manifest_dir().join("tests/fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let report: Report = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not a Report: {e}", p.display()));
            // Fixtures must be reports the collector would accept.
            report
                .validate(&Limits::default())
                .unwrap_or_else(|e| panic!("{}: invalid fixture: {e}", p.display()));
            report
        })
        .collect()
}

/// The link arrivals: partial reports (agent id and link windows), in arrival order.
fn link_arrivals() -> Vec<Report> {
    let path = manifest_dir().join("tests/fixtures/links/arrivals.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The link hub after every fixture report and link arrival.
fn hub() -> LinkHub {
    let hub = LinkHub::new(Links::default());
    for report in fixture_reports().iter().chain(&link_arrivals()) {
        hub.observe_report(report);
    }
    hub
}

fn rendered() -> String {
    rendered_at(Detail::Full)
}

/// The host table after every fixture report, with web-01's earlier reports as the store
/// summarises them at start-up: 10 sequence numbers between 178000 and 178560 are missing.
fn fixture_table() -> HostTable {
    let table = HostTable::default();
    table.ledger().load(vec![StoredSpan {
        agent_id: "web-01".into(),
        boot_id: "5b6f0c1e-2d3a-4c4b-9e8f-0a1b2c3d4e5f".into(),
        span: BootSpan {
            min: 178_000,
            max: 178_559,
            count: 550,
        },
    }]);
    for report in fixture_reports() {
        let received = report.timestamp_unix_ms;
        table.record_stored(report, received);
    }
    table
}

fn rendered_at(detail: Detail) -> String {
    let table = fixture_table();
    let links = hub().snapshot();
    let counters = IngestCounters::default();
    for _ in 0..1234 {
        counters.accepted();
    }
    for _ in 0..5 {
        counters.duplicate();
    }
    counters.rejected(RejectReason::AgentIdMismatch);
    counters.rejected(RejectReason::AgentIdMismatch);
    counters.rejected(RejectReason::TooLarge);
    // Started a day before the scrape; two earlier runs are recorded.
    counters.set_run(NOW_UNIX_MS - 86_400_000, 3);
    render_with_inventory(
        &table.snapshot(),
        Some(&inventory()),
        &counters,
        &links,
        NOW_UNIX_MS,
        DOWN_AFTER_INTERVALS,
        detail,
    )
}

#[test]
fn fixtures_cover_the_cases_the_golden_file_is_meant_to_show() {
    let reports = fixture_reports();
    assert_eq!(reports.len(), 3);
    let departments: std::collections::BTreeSet<_> = reports
        .iter()
        .map(|r| r.labels.as_ref().unwrap().department.clone())
        .collect();
    let datacenters: std::collections::BTreeSet<_> = reports
        .iter()
        .map(|r| r.labels.as_ref().unwrap().datacenter.clone())
        .collect();
    assert_eq!(departments.len(), 2);
    assert_eq!(datacenters.len(), 2);
    let text = rendered();
    assert_eq!(text.matches("zerofault_host_up{").count(), 3);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("zerofault_host_up{") && l.ends_with(" 0"))
            .count(),
        1,
        "exactly one fixture host must be down at the golden time"
    );
}

#[test]
fn link_fixtures_show_a_fault_an_ongoing_outage_and_a_degraded_link() {
    for arrival in link_arrivals() {
        for w in &arrival.links {
            // Windows the agent could have sent: check them as a report would be checked.
            let report = Report {
                protocol_version: 1,
                agent_id: arrival.agent_id.clone(),
                hostname: "h".into(),
                boot_id: "b".into(),
                timestamp_unix_ms: w.window_end_unix_ms,
                interval_ms: 15_000,
                links: vec![w.clone()],
                ..Default::default()
            };
            report
                .validate(&Limits::default())
                .unwrap_or_else(|e| panic!("invalid link fixture {}: {e}", w.link_id));
        }
    }
    let hub = hub();
    let faults = hub.faults(None);
    let summary: Vec<_> = faults
        .iter()
        .map(|f| {
            (
                f.link_id.as_str(),
                f.start_unix_ms,
                f.end_unix_ms,
                f.settled,
            )
        })
        .collect();
    let base = NOW_UNIX_MS - 300_000;
    assert_eq!(
        summary,
        [
            ("pc-gz-01", base + 30_000, Some(base + 120_000), true),
            ("acc-fgw-01", base + 200_000, None, false),
        ]
    );
    assert_eq!(faults[0].agents, ["db-01", "web-01"]);
    let text = rendered();
    for line in [
        "zerofault_link_faults_total{link=\"pc-gz-01\",level=\"province-city\",domain=\"administrative\"} 1",
        "zerofault_link_outage_seconds_total{link=\"pc-gz-01\",level=\"province-city\",domain=\"administrative\"} 90.0",
        "zerofault_link_up{link=\"acc-fgw-01\",level=\"unlabelled\",domain=\"unlabelled\",agent=\"db-01\"} 0",
        "zerofault_link_state{link=\"cc-gz-hd\",level=\"city-county\",domain=\"public\",agent=\"web-01\",state=\"degraded\"} 1",
        "zerofault_backbone_links{level=\"province-city\",domain=\"administrative\",state=\"up\"} 1",
        "zerofault_host_network_down_seconds_total{agent=\"web-01\",host=\"web-01.fgw.gov.example\",department=\"fgw\",datacenter=\"dc-north\",interface=\"eth0\"} 12.0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing: {line}");
    }
    // The backbone fault counts are the sums of the per-link ones.
    let samples = parse(&text);
    let sum = |name: &str, level: &str| -> f64 {
        samples
            .iter()
            .filter(|(n, l, _)| n == name && l["level"] == level)
            .map(|s| s.2)
            .sum()
    };
    for level in ["province-city", "city-county", "unlabelled"] {
        assert_eq!(
            sum("zerofault_backbone_faults_total", level),
            sum("zerofault_link_faults_total", level),
            "{level}"
        );
    }
}

#[test]
fn label_values_the_inventory_lacks_are_flagged_per_agent() {
    let text = rendered();
    let unknown: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("zerofault_agent_unknown_label{"))
        .collect();
    assert_eq!(
        unknown,
        [
            "zerofault_agent_unknown_label{agent=\"db-01\",label=\"data_center\",value=\"dc-south\"} 1",
            "zerofault_agent_unknown_label{agent=\"gis-01\",label=\"business_system\",value=\"gis\"} 1",
        ]
    );
    assert!(text.lines().any(|l| l == "zerofault_inventory_loaded 1"));
    // Flagged, never dropped: the hosts are still exposed and counted under their values.
    assert!(text.contains("zerofault_datacenter_hosts{datacenter=\"dc-south\",state=\"up\"}"));
}

#[test]
fn exposition_matches_golden_file() {
    let got = rendered();
    let path = golden_path();
    if let Err(e) = zerofault_tests::golden::compare(&path, got.as_bytes()) {
        panic!(
            "/metrics output: {e}\n  ZEROFAULT_UPDATE_GOLDEN=1 cargo test -p zerofault-collector \
             --test golden_metrics\nthen update docs/metrics.md to match."
        );
    }
}

#[test]
fn essential_exposition_matches_golden_file() {
    let got = rendered_at(Detail::Essential);
    if let Err(e) = zerofault_tests::golden::compare(&essential_golden_path(), got.as_bytes()) {
        panic!(
            "/metrics?detail=essential output: {e}\n  ZEROFAULT_UPDATE_GOLDEN=1 cargo test -p \
             zerofault-collector --test golden_metrics\nthen update docs/metrics.md to match."
        );
    }
}

/// One sample line: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses sample lines. The fixtures' label values have no escapes, which this relies on
/// (`render`'s unit tests cover escaping).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            match series.split_once('{') {
                None => (series.to_owned(), BTreeMap::new(), value),
                Some((name, labels)) => {
                    let labels = labels
                        .strip_suffix('}')
                        .unwrap()
                        .split("\",")
                        .map(|kv| {
                            let (k, v) = kv.split_once("=\"").unwrap();
                            (k.to_owned(), v.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels, value)
                }
            }
        })
        .collect()
}

#[test]
fn aggregates_equal_the_sum_over_hosts_of_the_per_host_series() {
    let samples = parse(&rendered());
    let value = |name: &str, scope: &str, key: &str| -> Vec<f64> {
        samples
            .iter()
            .filter(|(n, l, _)| n == name && l.get(scope).map(String::as_str) == Some(key))
            .map(|s| s.2)
            .collect()
    };
    let pairs = [
        ("cpu_cores", "zerofault_host_cpu_cores"),
        ("memory_total_bytes", "zerofault_host_memory_total_bytes"),
        ("memory_used_bytes", "zerofault_host_memory_used_bytes"),
        (
            "filesystem_size_bytes",
            "zerofault_host_filesystem_size_bytes",
        ),
        (
            "filesystem_used_bytes",
            "zerofault_host_filesystem_used_bytes",
        ),
        ("filesystem_inodes", "zerofault_host_filesystem_inodes"),
        (
            "filesystem_inodes_free",
            "zerofault_host_filesystem_inodes_free",
        ),
    ];
    for (scope, keys) in [
        ("department", ["fgw", "zrzy"]),
        ("datacenter", ["dc-north", "dc-south"]),
    ] {
        for key in keys {
            for (agg, per_host) in pairs {
                let got = value(&format!("zerofault_{scope}_{agg}"), scope, key);
                let sum: f64 = value(per_host, scope, key).iter().sum();
                assert_eq!(got, [sum], "zerofault_{scope}_{agg}{{{scope}=\"{key}\"}}");
            }
            let up: f64 = value("zerofault_host_up", scope, key).iter().sum();
            let known = value("zerofault_host_up", scope, key).len() as f64;
            let hosts = |state: &str| -> f64 {
                samples
                    .iter()
                    .filter(|(n, l, _)| {
                        *n == format!("zerofault_{scope}_hosts")
                            && l[scope] == key
                            && l["state"] == state
                    })
                    .map(|s| s.2)
                    .sum()
            };
            assert_eq!(hosts("up"), up, "{scope}={key} up");
            assert_eq!(hosts("down"), known - up, "{scope}={key} down");
            // Steal in cores: each host's steal share times its cores; unsynchronised
            // clocks: the hosts whose clock series is 0.
            let agents_with = |name: &str, want: Option<(&str, &str)>| -> Vec<(String, f64)> {
                samples
                    .iter()
                    .filter(|(n, l, _)| {
                        n == name
                            && l.get(scope).map(String::as_str) == Some(key)
                            && want.is_none_or(|(k, v)| l.get(k).map(String::as_str) == Some(v))
                    })
                    .map(|(_, l, v)| (l["agent"].clone(), *v))
                    .collect()
            };
            let cores = agents_with("zerofault_host_cpu_cores", None);
            let steal: f64 = agents_with("zerofault_host_cpu_mode_ratio", Some(("mode", "steal")))
                .iter()
                .map(|(agent, share)| {
                    share * cores.iter().find(|(a, _)| a == agent).map_or(0.0, |c| c.1)
                })
                .sum();
            let got = value(&format!("zerofault_{scope}_cpu_steal_cores"), scope, key);
            assert!(
                got.len() == 1 && (got[0] - steal).abs() < 1e-9,
                "{scope}={key}: steal cores {got:?}, hosts say {steal}"
            );
            let unsynchronised = agents_with("zerofault_host_clock_synchronised", None)
                .iter()
                .filter(|(_, v)| *v == 0.0)
                .count() as f64;
            assert_eq!(
                value(
                    &format!("zerofault_{scope}_hosts_clock_unsynchronised"),
                    scope,
                    key
                ),
                [unsynchronised],
                "{scope}={key}"
            );
        }
    }
}

#[test]
fn every_metric_is_documented() {
    let doc_path = manifest_dir().join("../docs/metrics.md");
    let doc = std::fs::read_to_string(&doc_path).unwrap();
    for line in rendered().lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} is not documented in {}",
                doc_path.display()
            );
        }
    }
}

#[test]
fn promtool_accepts_the_exposition_at_both_details() {
    if !Path::new(PROMTOOL).exists() {
        panic!(
            "{PROMTOOL} not found: this test checks /metrics with Prometheus' own linter.\n\
             Install Debian's Prometheus (`apt-get install prometheus`); ./scripts/test does that."
        );
    }
    let dir = tempfile::tempdir().unwrap();
    for detail in [Detail::Full, Detail::Essential] {
        let file = dir.path().join(format!("metrics-{}.txt", detail.as_str()));
        std::fs::write(&file, rendered_at(detail)).unwrap();
        let out = std::process::Command::new(PROMTOOL)
            .args(["check", "metrics"])
            .stdin(std::fs::File::open(&file).unwrap())
            .output()
            .expect("running promtool");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stdout.trim().is_empty() && stderr.trim().is_empty(),
            "promtool check metrics ({}) failed ({}):\n{stdout}\n{stderr}",
            detail.as_str(),
            out.status
        );
    }
}

/// remote_write pushes the same series as `/metrics`: every series pushed for the fixture
/// reports and link windows (the newest sample of each) and every series of the state push
/// at the golden time exists in the exposition, with the same labels and value. Only the age
/// of the oldest unsent report differs by design: pushed, it is the age when the report was
/// made; scraped, the age at scrape time.
#[test]
fn remote_write_series_are_the_exposition_series_with_the_same_values() {
    use zerofault_collector::outputs::remote_write::{samples, state};
    let key = |s: &zerofault_collector::outputs::remote_write::wire::TimeSeries| {
        let mut name = String::new();
        let mut labels = BTreeMap::new();
        for l in &s.labels {
            if l.name == "__name__" {
                name = l.value.clone();
            } else {
                labels.insert(l.name.clone(), l.value.clone());
            }
        }
        (name, labels)
    };
    // The newest pushed value of each series, in arrival order as the hub saw them.
    let mut pushed = BTreeMap::new();
    let mut windows = BTreeMap::new();
    let arrivals = link_arrivals();
    let reports = fixture_reports();
    for (partial, report) in reports
        .iter()
        .map(|r| (false, r))
        .chain(arrivals.iter().map(|r| (true, r)))
    {
        let received = report.timestamp_unix_ms.max(
            report
                .links
                .iter()
                .map(|w| w.window_end_unix_ms)
                .max()
                .unwrap_or(0),
        );
        for s in samples::of_report(report, received, None).series {
            assert_eq!(s.samples.len(), 1);
            let (name, labels) = key(&s);
            match (labels.get("link"), labels.get("agent")) {
                // A vantage point's figures: /metrics shows its newest window's.
                (Some(link), Some(agent)) => {
                    let newest = windows
                        .entry((link.clone(), agent.clone()))
                        .or_insert_with(|| (i64::MIN, Vec::new()));
                    if s.samples[0].timestamp > newest.0 {
                        *newest = (s.samples[0].timestamp, Vec::new());
                    }
                    if s.samples[0].timestamp == newest.0 {
                        newest.1.push(((name, labels), s.samples[0].value));
                    }
                }
                // A link arrival is a partial report (agent id and windows): its links only.
                _ if partial => {}
                _ => {
                    pushed.insert((name, labels), s.samples[0].value);
                }
            }
        }
    }
    pushed.extend(windows.into_values().flat_map(|(_, series)| series));
    let table = fixture_table();
    // The live states and slot counters as two ticks 10 s apart make them.
    let inventory = inventory();
    let hub = hub();
    let snapshot = table.snapshot();
    let mut slots = zerofault_collector::live::slots::Slots::default();
    for at in [NOW_UNIX_MS - 10_000, NOW_UNIX_MS] {
        let (present, _) = zerofault_collector::live::now::live(
            &snapshot,
            &hub,
            &inventory,
            at,
            DOWN_AFTER_INTERVALS,
            86_400_000,
        );
        slots.advance(&present, at);
    }
    assert!(!slots.hosts.is_empty() && !slots.links.is_empty());
    let exposed: BTreeMap<(String, BTreeMap<String, String>), f64> =
        parse(&zerofault_collector::http::render_live(
            &snapshot,
            Some(&inventory),
            &IngestCounters::default(),
            &hub.snapshot(),
            &slots,
            NOW_UNIX_MS,
            DOWN_AFTER_INTERVALS,
            Detail::Full,
        ))
        .into_iter()
        .map(|(n, l, v)| ((n, l), v))
        .collect();
    for s in state::of_state(
        &snapshot,
        &hub.links(),
        &slots,
        &inventory,
        NOW_UNIX_MS,
        DOWN_AFTER_INTERVALS,
    )
    .series
    {
        assert!(s.samples.iter().all(|x| x.timestamp == NOW_UNIX_MS));
        pushed.insert(key(&s), s.samples[0].value);
    }
    for family in [
        "zerofault_host_status",
        "zerofault_department_slot_seconds_total",
        "zerofault_backbone_availability_target",
    ] {
        assert!(
            pushed.keys().any(|(n, _)| n == family),
            "{family} not pushed"
        );
    }
    let families: std::collections::BTreeSet<&str> =
        pushed.keys().map(|(n, _)| n.as_str()).collect();
    assert!(families.len() >= 50, "pushed families: {families:?}");
    for ((name, labels), value) in &pushed {
        let Some(scraped) = exposed.get(&(name.clone(), labels.clone())) else {
            panic!("pushed but not exposed: {name}{labels:?}");
        };
        if name != "zerofault_agent_oldest_unsent_age_seconds" {
            assert_eq!(scraped, value, "{name}{labels:?}");
        }
    }
    // And nothing exposed per host, link or group is missing from the push, but the
    // collector's own families, the unknown-label flags and interface uptime (counted at
    // the collector from transitions; not pushed yet).
    for (name, labels) in exposed.keys() {
        let own = name.starts_with("zerofault_collector_")
            || name.starts_with("zerofault_ingest_")
            || name.starts_with("zerofault_inventory_")
            || name == "zerofault_agent_unknown_label"
            || name == "zerofault_host_network_transitions_total"
            || name == "zerofault_host_network_down_seconds_total";
        if !own {
            assert!(
                pushed.contains_key(&(name.clone(), labels.clone())),
                "exposed but not pushed: {name}{labels:?}"
            );
        }
    }
}

/// The remote_write sink's families (present only with targets): documented, and valid for
/// promtool.
#[test]
fn remote_write_families_are_documented_and_pass_promtool() {
    use zerofault_collector::outputs::remote_write::{DropReason, SinkStats};
    let counters = IngestCounters::default();
    let stats = std::sync::Arc::new(SinkStats::new("victoria-metrics"));
    stats.sent(2000, NOW_UNIX_MS - 1000);
    stats.retried();
    stats.dropped(DropReason::Refused, 17);
    stats.set_queue(4000, 1 << 20);
    stats.set_oldest(NOW_UNIX_MS - 5000);
    counters.set_remote_write(vec![stats]);
    let text = render_with_inventory(
        &[],
        None,
        &counters,
        &LinkHub::new(Links::default()).snapshot(),
        NOW_UNIX_MS,
        DOWN_AFTER_INTERVALS,
        Detail::Full,
    );
    let doc = std::fs::read_to_string(manifest_dir().join("../docs/metrics.md")).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP zerofault_remote_write_"))
        .map(|rest| rest.split(' ').next().unwrap())
        .collect();
    assert_eq!(names.len(), 8, "{text}");
    for name in names {
        assert!(
            doc.contains(&format!("`zerofault_remote_write_{name}`")),
            "{name} undocumented"
        );
    }
    assert!(text.contains(
        "zerofault_remote_write_samples_dropped_total{target=\"victoria-metrics\",reason=\"refused\"} 17"
    ));
    assert!(text.contains(
        "zerofault_remote_write_samples_dropped_total{target=\"victoria-metrics\",reason=\"queue_full\"} 0"
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
