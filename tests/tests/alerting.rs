//! The shipped Prometheus side (`packaging/prometheus/`, `packaging/grafana/`;
//! docs/alerting.md): the rules pass `promtool check` and their unit tests, the examples pass
//! their checkers, and every metric name the rules and the dashboard use exists in a real
//! scrape of a running collector, every expression running in a real Prometheus.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use zerofault_tests::prometheus::{PROMETHEUS_BIN, PROMTOOL_BIN, Prometheus, require_tool};
use zerofault_tests::remote_write::{StubReceiver, StubRules};
use zerofault_tests::{Collector, LinkProbe, TestCa, http_client, percent_encode, wait_until};

const AMTOOL: &str = "/usr/bin/amtool";

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

fn run_ok(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

/// Every `zerofault_...` identifier in `text` (metric names and recording-rule names, the
/// latter with `:`).
fn names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("zerofault_") {
        let start = i + at;
        // Part of a longer identifier (e.g. a runbook anchor) is not a name.
        let inside = start > 0
            && (bytes[start - 1].is_ascii_alphanumeric()
                || matches!(bytes[start - 1], b'_' | b'#' | b'/'));
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(text.len(), |n| start + n);
        if !inside {
            out.insert(text[start..end].to_owned());
        }
        i = end;
    }
    out
}

/// Every `expr` of the rules file, with recording-rule names and alert names.
fn rule_exprs() -> (Vec<String>, BTreeSet<String>) {
    let text = std::fs::read_to_string(packaging().join("prometheus/zerofault-rules.yml")).unwrap();
    let mut exprs = Vec::new();
    let mut records = BTreeSet::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if let Some(r) = t.strip_prefix("- record: ") {
            records.insert(r.trim().to_owned());
        }
        if let Some(rest) = t.strip_prefix("expr: ") {
            if rest.trim() == "|" {
                let indent = line.len() - t.len();
                let mut e = String::new();
                while let Some(next) = lines.peek() {
                    let n = next.len() - next.trim_start().len();
                    if next.trim().is_empty() || n <= indent {
                        break;
                    }
                    e.push_str(next.trim());
                    e.push('\n');
                    lines.next();
                }
                exprs.push(e);
            } else {
                exprs.push(rest.trim().to_owned());
            }
        }
    }
    (exprs, records)
}

/// Every panel query of the dashboard, its template variables replaced by values a query
/// accepts.
fn dashboard_exprs() -> Vec<String> {
    let path = packaging().join("grafana/zerofault-dashboard.json");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(d["uid"], "zerofault-overview");
    assert!(d["schemaVersion"].as_u64().unwrap() >= 36);
    let vars: BTreeSet<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    for v in ["datasource", "department", "datacenter", "level"] {
        assert!(vars.contains(v), "template variable {v} missing: {vars:?}");
    }
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "panel ids are unique"
        );
        if p["type"] == "row" {
            continue;
        }
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{} has no targets", p["title"]));
        assert!(!targets.is_empty(), "{} has no queries", p["title"]);
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            let e = t["expr"].as_str().unwrap();
            out.push(
                e.replace("$department", ".*")
                    .replace("$datacenter", ".*")
                    .replace("$level", ".*")
                    .replace("$__range", "1h")
                    .replace("$__rate_interval", "1m"),
            );
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if let Some(q) = v["query"]["query"].as_str() {
            // label_values(METRIC, LABEL): the metric is checked like the panels' names.
            out.push(
                q.trim_start_matches("label_values(")
                    .split(',')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    out
}

#[test]
fn promtool_checks_the_rules_and_their_unit_tests_pass() {
    require_tool(PROMTOOL_BIN);
    let dir = packaging().join("prometheus");
    let check = run_ok(
        PROMTOOL_BIN,
        &[
            "check",
            "rules",
            dir.join("zerofault-rules.yml").to_str().unwrap(),
        ],
    );
    assert!(check.contains("SUCCESS"), "{check}");
    let test = run_ok(
        PROMTOOL_BIN,
        &[
            "test",
            "rules",
            dir.join("zerofault-rules.test.yml").to_str().unwrap(),
        ],
    );
    assert!(test.contains("SUCCESS"), "{test}");

    // The scrape example, with its rule_files path pointing at the file in the repository.
    let tmp = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(dir.join("prometheus.example.yml"))
        .unwrap()
        .replace(
            "/usr/share/zerofault/prometheus/zerofault-rules.yml",
            dir.join("zerofault-rules.yml").to_str().unwrap(),
        );
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(&config, example).unwrap();
    run_ok(PROMTOOL_BIN, &["check", "config", config.to_str().unwrap()]);

    assert!(
        Path::new(AMTOOL).is_file(),
        "{AMTOOL} is missing: run ./scripts/test (as root it installs Debian's prometheus-alertmanager)"
    );
    run_ok(
        AMTOOL,
        &[
            "check-config",
            dir.join("alertmanager.example.yml").to_str().unwrap(),
        ],
    );
}

#[test]
fn every_alert_has_the_mixin_annotations_and_a_runbook_section() {
    let text = std::fs::read_to_string(packaging().join("prometheus/zerofault-rules.yml")).unwrap();
    let runbook = std::fs::read_to_string(packaging().join("../docs/runbook.md")).unwrap();
    let alerts: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert: "))
        .collect();
    assert!(alerts.len() >= 15, "{alerts:?}");
    for a in &alerts {
        assert!(
            a.starts_with("Zerofault") && !a.contains('_'),
            "{a}: CamelCase with the prefix"
        );
        assert!(
            runbook.contains(&format!("\n## {a}\n")),
            "docs/runbook.md has no section {a}"
        );
        let anchor = format!("runbook.md#{}", a.to_lowercase());
        assert!(text.contains(&anchor), "{a} has no runbook_url {anchor}");
    }
    // Each alert rule block has severity, summary, description and runbook_url.
    for block in text.split("      - alert: ").skip(1) {
        let block = block.split("      - record: ").next().unwrap();
        let name = block.lines().next().unwrap();
        for key in ["severity: ", "summary: ", "description: ", "runbook_url: "] {
            assert!(block.contains(key), "{name}: no {key}");
        }
        let severity = block
            .split("severity: ")
            .nth(1)
            .unwrap()
            .lines()
            .next()
            .unwrap();
        assert!(
            ["critical", "warning", "info"].contains(&severity),
            "{name}: {severity}"
        );
    }
}

#[tokio::test]
async fn every_name_in_the_rules_and_the_dashboard_is_in_a_real_scrape_and_every_query_runs()
-> anyhow::Result<()> {
    require_tool(PROMETHEUS_BIN);
    let (rule_exprs, records) = rule_exprs();
    let dashboard = dashboard_exprs();
    let mut used = BTreeSet::new();
    for e in rule_exprs.iter().chain(&dashboard) {
        used.extend(names(e));
    }
    let (recorded, metrics): (BTreeSet<String>, BTreeSet<String>) =
        used.into_iter().partition(|n| n.contains(':'));
    for r in &recorded {
        assert!(records.contains(r), "{r} is used but no rule records it");
    }

    // A collector with two agents (one probing a link), a remote_write target (its own
    // families) and an inventory with targets and a department.
    let stub = StubReceiver::spawn(StubRules::default()).await?;
    let ca = TestCa::new(&["al-a", "al-b"])?;
    let dir = tempfile::tempdir()?;
    let inventory = dir.path().join("inventory.yaml");
    std::fs::write(
        &inventory,
        "departments:\n  - {code: d1, name_zh: 一部, name_en: One, target: 0.995}\n\
         data_centers:\n  - {code: dc1, name_zh: 一中心, name_en: DC one, status: in-use}\n",
    )?;
    let c = Collector::builder(&ca)
        .extra_config(&format!(
            "inventory: {}\nremote_write:\n  queue_dir: rw\n  targets:\n    - {{name: t, url: {}}}\n",
            inventory.display(),
            stub.write_url()
        ))
        .spawn()
        .await?;
    let _a = c
        .agent("al-a")
        .department("d1")
        .datacenter("dc1")
        .interval("1s")
        .probe(
            LinkProbe::new(
                "lnk-1",
                "tcp",
                &c.ingest_addr().to_string(),
                "200ms",
                "500ms",
            )
            .placed("city-county", "administrative"),
        )
        .spawn()?;
    let _b = c
        .agent("al-b")
        .department("d1")
        .datacenter("dc1")
        .interval("1s")
        .spawn()?;
    let client = http_client();
    let url = format!("{}/metrics?detail=full", c.http_url());
    let scraped = wait_until(
        "every used name in a full scrape",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let text = client
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            let exposed: BTreeSet<String> = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
                .collect();
            let missing: Vec<&String> = metrics.iter().filter(|m| !exposed.contains(*m)).collect();
            if missing.is_empty() {
                Ok(exposed)
            } else {
                Err(format!("not in the scrape: {missing:?}"))
            }
        },
    )
    .await?;
    assert!(scraped.len() > 60);

    // A real Prometheus scraping it with the rules loaded: every rule and dashboard query
    // parses and runs.
    let rules = packaging().join("prometheus/zerofault-rules.yml");
    let prometheus = Prometheus::spawn_with(
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: zerofault\n    static_configs:\n      - targets: ['{}']\n",
            rules.display(),
            c.http_addr()
        ),
        &[],
    )
    .await?;
    wait_until(
        "a recorded burn rate",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            match prometheus
                .query("zerofault_department:slot_error_ratio:rate5m")
                .await
            {
                Ok(s) if !s.is_empty() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    for e in rule_exprs.iter().chain(&dashboard) {
        let body = client
            .get(format!(
                "{}/api/v1/query?query={}",
                prometheus.url(),
                percent_encode(e)
            ))
            .send()
            .await?
            .text()
            .await?;
        let v: serde_json::Value = serde_json::from_str(&body)?;
        assert_eq!(v["status"], "success", "{e}\n{body}");
    }
    // The department's target is the inventory's, and its hosts are up.
    let target = prometheus
        .query(r#"zerofault_department_availability_target{department="d1"}"#)
        .await?;
    assert_eq!(target.len(), 1);
    assert_eq!(target[0].1, 0.995);
    Ok(())
}
