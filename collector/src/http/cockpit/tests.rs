//! The cockpit's routes over a small world, through the router (`oneshot`): a down link
//! with hosts behind it, a host down on its own, a healthy link.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zerofault_protocol::{
    BlockDevice, ClockSync, Cpu, CpuModes, Filesystem, Labels, LinkResult, LossRun, Report,
};

use super::*;
use crate::inventory::Inventory;
use crate::live::hosts::HostTable;
use crate::live::links::{LinkHub, Links};
use crate::month::to_date::Latest;
use crate::store::SqliteStore;

const INVENTORY: &str = r#"
organisation: {name_zh: 测试市大数据局, name_en: Test City Data Bureau}
departments:
  - {code: d1, name_zh: 大数据局, name_en: Data Bureau}
  - {code: d2, name_zh: 卫健委, name_en: Health Commission}
data_centers:
  - {code: dc1, name_zh: 政务云中心, name_en: Gov Cloud DC, status: in-use}
sites:
  - {code: p, name_zh: 省节点, name_en: Province node, level: province, domain: administrative}
  - {code: c, name_zh: 市节点, name_en: City node, level: city, domain: administrative, parent: p}
  - {code: k, name_zh: 县节点, name_en: County node, level: county, domain: administrative, parent: c}
links:
  - {id: p-c, from: p, to: c, level: province-city, domain: administrative, name_zh: 省市主干, name_en: Province-city trunk}
  - {id: c-k, from: c, to: k, level: city-county, domain: administrative, name_zh: 市县链路, name_en: City-county link}
maintenance:
  - scope: {department: d2}
    weekly: {weekday: sun, at: "02:00", duration: 1h}
    note: 例行维护 / routine
"#;

/// A report window of `n` one-second probes of `link` ending at `end_ms`, all answered or
/// all lost.
fn window(link: &str, end_ms: i64, n: i64, answered: bool) -> LinkResult {
    let start = end_ms - n * 1_000;
    LinkResult {
        link_id: link.into(),
        kind: "tcp".into(),
        target: "127.0.0.1:9".into(),
        window_start_unix_ms: start,
        window_end_unix_ms: end_ms,
        probe_interval_ms: 1_000,
        sent: n as u32,
        received: if answered { n as u32 } else { 0 },
        loss_ratio: if answered { 0.0 } else { 1.0 },
        rtt_avg_seconds: if answered { 0.002 } else { 0.0 },
        loss_runs: if answered {
            Vec::new()
        } else {
            vec![LossRun {
                first_lost_unix_ms: start,
                last_lost_unix_ms: end_ms - 1_000,
                count: n as u32,
                open_start: true,
                open_end: true,
            }]
        },
        first_probe_unix_ms: start,
        last_probe_unix_ms: end_ms - 1_000,
        ..Default::default()
    }
}

fn report(agent: &str, dept: &str, site: &str, seq: u64) -> Report {
    Report {
        agent_id: agent.into(),
        hostname: format!("{agent}.example"),
        boot_id: "boot-1".into(),
        sequence: seq,
        interval_ms: 15_000,
        labels: Some(Labels {
            department: dept.into(),
            datacenter: "dc1".into(),
            site: site.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn app(dir: &tempfile::TempDir, enabled: bool) -> Router {
    let now = zerofault_common::now_unix_ms();
    let inventory = Arc::new(Inventory::parse(INVENTORY, Path::new("inv.yaml")).unwrap());
    let hosts = Arc::new(HostTable::default());
    // Up, at the city: it probes both links.
    hosts.update(report("core", "d1", "c", 1), now - 1_000);
    // Behind the down link (county site), silent for 10 minutes.
    hosts.update(report("county-01", "d2", "k", 1), now - 600_000);
    // Down on its own, at the city.
    hosts.update(report("lone", "d1", "c", 1), now - 600_000);
    let links = Arc::new(LinkHub::new(Links::default()));
    for i in 0..3 {
        let end = now - 10_000 - (2 - i) * 60_000;
        let mut r = report("core", "d1", "c", 2 + i as u64);
        r.links = vec![window("p-c", end, 60, true), window("c-k", end, 60, false)];
        links.observe_report(&r);
    }
    let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
    // Half an hour of core's capacity series, with the figures of issue 17.
    let series = crate::series::Accumulator::default();
    for i in 0..120 {
        let at = now - 1_800_000 + i * 15_000;
        let mut r = report("core", "d1", "c", 100 + i as u64);
        r.timestamp_unix_ms = at;
        r.cpu = Some(Cpu {
            usage_ratio: 0.3,
            modes: Some(CpuModes {
                steal: 0.12,
                iowait: 0.03,
                ..Default::default()
            }),
            ..Default::default()
        });
        r.filesystems = vec![Filesystem {
            mount_point: "/srv".into(),
            size_bytes: 100,
            used_bytes: 50,
            inodes_total: Some(100),
            inodes_free: Some(10),
            ..Default::default()
        }];
        r.block_devices = vec![BlockDevice {
            name: "vdb".into(),
            io_time_ms_total: i as u64 * 7_500,
            ..Default::default()
        }];
        r.clock = Some(ClockSync::default());
        series.observe(&r, at);
    }
    crate::series::flush::flush_all(&store, &series)
        .await
        .unwrap();
    router(CockpitState {
        hosts,
        links,
        store: Arc::new(store),
        inventory,
        month: Latest::default(),
        down_after_intervals: 3,
        settings: Cockpit {
            enabled,
            ..Cockpit::default()
        },
        closed: ClosedMonths::default(),
    })
}

async fn get(app: &Router, path: &str) -> (StatusCode, String, String) {
    let resp = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

/// The part of `html` inside the element carrying `data-test="{name}"`.
fn part<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("data-test=\"{name}\""))
        .unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[start..];
    let end = ["</ol>", "</ul>", "</table>"]
        .iter()
        .filter_map(|e| rest.find(e))
        .min()
        .unwrap();
    &rest[..end]
}

#[tokio::test]
async fn the_overview_names_the_down_link_as_the_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, true).await;
    let (status, ct, zh) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ct, "text/html; charset=utf-8");
    assert!(
        zh.contains("<html lang=\"zh-CN\">") && zh.contains("运行监测驾驶舱"),
        "{zh}"
    );
    assert!(zh.contains("测试市大数据局"));

    let open = part(&zh, "open-incidents");
    assert!(open.contains("市县链路") && open.contains("根因"), "{open}");
    assert!(
        open.contains("county-01.example"),
        "the hidden host is named: {open}"
    );
    assert!(
        open.contains("lone.example"),
        "a host down on its own is an incident: {open}"
    );
    assert_eq!(
        open.matches("<li").count(),
        2,
        "the host behind the link is not an incident of its own: {open}"
    );
    let chips = part(&zh, "hosts-not-up");
    assert!(
        chips.contains("data-agent=\"lone\"") && !chips.contains("county-01"),
        "{chips}"
    );
    assert!(part(&zh, "links-not-up").contains("市县链路"));
    // The topology draws the down link crossed.
    assert!(
        zh.contains(r#"<g class="edge down" data-link="c-k">"#),
        "{zh}"
    );

    let (_, _, en) = get(&app, "/?lang=en").await;
    assert!(en.contains("<html lang=\"en\">") && en.contains("Operations cockpit"));
    let open = part(&en, "open-incidents");
    assert!(
        open.contains("City-county link") && open.contains("root cause"),
        "{open}"
    );
    assert!(!en.contains("市县链路"), "names follow the page's language");
    assert!(
        en.contains("href=\"/?lang=zh-CN\""),
        "the switch back to Chinese"
    );

    let (_, _, kiosk) = get(&app, "/?kiosk=1").await;
    assert!(kiosk.contains("<body class=\"kiosk\""));
    assert!(!kiosk.contains("<nav>"), "no navigation on a wall screen");
}

#[tokio::test]
async fn every_page_renders_and_references_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, true).await;
    for path in [
        "/",
        "/?lang=en&kiosk=1",
        "/host/core",
        "/host/county-01?range=7d",
        "/host/core?range=month&lang=en",
        "/link/c-k",
        "/link/p-c?range=30d",
        "/department/d1",
        "/department/d2?lang=en",
        "/datacenter/dc1",
        "/month",
        "/maintenance?lang=en",
    ] {
        let (status, ct, body) = get(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(ct.starts_with("text/html"), "{path}");
        for external in [
            "src=\"http",
            "href=\"http",
            "src=\"//",
            "href=\"//",
            "url(",
            "@import",
        ] {
            assert!(
                !body.contains(external),
                "{path} references {external}: {body}"
            );
        }
        assert!(body.contains("/assets/cockpit.css?v="), "{path}");
    }
    let (_, _, host) = get(&app, "/host/county-01").await;
    assert!(host.contains("受链路故障影响"), "{host}");
    let (_, _, link) = get(&app, "/link/c-k?lang=en").await;
    assert!(link.contains("County node"), "what is behind it: {link}");
    let (_, _, maint) = get(&app, "/maintenance").await;
    assert!(maint.contains("例行维护"), "{maint}");
    let (_, _, month) = get(&app, "/month").await;
    assert!(month.contains("format=xlsx"), "{month}");

    // No host lacks its department label here, so its page is not found either.
    for path in [
        "/host/nobody",
        "/host/bad%20id",
        "/link/none",
        "/department/zz",
        "/department/-",
    ] {
        assert_eq!(get(&app, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, ct, css) = get(&app, "/assets/cockpit.css").await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::OK, "text/css; charset=utf-8")
    );
    assert!(!css.contains("url(") && !css.contains("@import") && !css.contains("@font-face"));
    let (status, ct, js) = get(&app, "/assets/cockpit.js").await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::OK, "text/javascript; charset=utf-8")
    );
    assert!(js.contains("DOMParser") && !js.contains("http"));
}

#[tokio::test]
async fn a_hosts_page_charts_the_capacity_signals_it_reports() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, true).await;
    let (_, _, core) = get(&app, "/host/core?lang=en").await;
    for chart in [
        "CPU steal and iowait",
        "Inodes used (/srv)",
        "Disk busy (vdb)",
        "Clock unsynchronised",
    ] {
        assert!(core.contains(chart), "{chart} in {core}");
    }
    // A host without those figures (an older agent) has the basic charts only.
    let (_, _, county) = get(&app, "/host/county-01?lang=en").await;
    assert!(county.contains("Load (1 min)"));
    for chart in ["CPU steal", "Disk busy", "Inodes used"] {
        assert!(!county.contains(chart), "{chart} in {county}");
    }
}

#[tokio::test]
async fn a_disabled_cockpit_serves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir, false).await;
    assert_eq!(get(&app, "/").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&app, "/assets/cockpit.js").await.0,
        StatusCode::NOT_FOUND
    );
}
