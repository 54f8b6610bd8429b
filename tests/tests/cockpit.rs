//! The cockpit in headless Chromium against a real collector (issue 14): a test world with
//! a down link and two hosts behind it, a host down on its own, a host in a maintenance
//! window and a silent agent, all sent as real reports over mTLS.
//!
//! Every page must render with no console error and no failed or external request; the
//! overview must fit 1920x1080, name the down link as the root cause and not list the hosts
//! behind it as incidents of their own; the zh-CN and en pages carry their own texts; a
//! wall screen refreshes its content without reloading. A screenshot of each page is kept
//! (`artifacts_dir("cockpit")`, printed) for a human to look at.
//!
//! Timing: the silent agent reports once at the start; the hosts that go down report once
//! 21 s later (after `cockpit.silent_after` = 20 s, so the first is silent by then and the
//! others are down, not silent, for the next 20 s, when the overview is read).

use std::time::{Duration, Instant};

use zerofault_protocol::{LinkResult, LossRun};
use zerofault_tests::browser::{Browser, artifacts_dir};
use zerofault_tests::report::{labels, now_unix_ms, post_report, synthetic_report};
use zerofault_tests::{Collector, LinksConfig, TestCa};

const AGENTS: [&str; 6] = [
    "core",
    "county-01",
    "town-01",
    "lone",
    "maint-01",
    "silent-01",
];
/// `cockpit.silent_after` of the test collector.
const SILENT_AFTER: Duration = Duration::from_secs(20);
/// Longest the core agent keeps reporting: the test's own bound (it takes about 50 s).
const CORE_REPORTS: u64 = 240;

fn inventory(maintenance_start: &str) -> String {
    format!(
        r#"time_zone: UTC
slot: 10s
fault_min: 10s
organisation: {{name_zh: 测试市大数据发展管理局, name_en: Test City Big Data Bureau}}
departments:
  - {{code: d1, name_zh: 大数据局, name_en: Data Bureau}}
  - {{code: d2, name_zh: 卫健委, name_en: Health Commission}}
data_centers:
  - {{code: dc1, name_zh: 政务云数据中心, name_en: Gov Cloud Data Center, status: in-use}}
sites:
  - {{code: p, name_zh: 省节点, name_en: Province node, level: province, domain: administrative}}
  - {{code: c, name_zh: 市节点, name_en: City node, level: city, domain: administrative, parent: p}}
  - {{code: k, name_zh: 县节点, name_en: County node, level: county, domain: administrative, parent: c}}
  - {{code: t, name_zh: 镇节点, name_en: Town node, level: township, domain: administrative, parent: k}}
links:
  - {{id: p-c, from: p, to: c, level: province-city, domain: administrative, name_zh: 省市主干, name_en: Province-city trunk}}
  - {{id: c-k, from: c, to: k, level: city-county, domain: administrative, name_zh: 市县链路, name_en: City-county link}}
  - {{id: k-t, from: k, to: t, level: county-township, domain: administrative, name_zh: 县镇链路, name_en: County-town link}}
maintenance:
  - scope: {{host: maint-01}}
    once: {{start: "{maintenance_start}", duration: 2h}}
    note: 核心交换机割接 / core switch cut-over
"#
    )
}

/// One 1-second window of one probe of `link` ending at `end_ms`.
fn window(link: &str, level: &str, end_ms: i64, answered: bool) -> LinkResult {
    let start = end_ms - 1_000;
    LinkResult {
        link_id: link.into(),
        kind: "tcp".into(),
        target: "127.0.0.1:9".into(),
        level: level.into(),
        domain: "administrative".into(),
        window_start_unix_ms: start,
        window_end_unix_ms: end_ms,
        probe_interval_ms: 1_000,
        sent: 1,
        received: u32::from(answered),
        loss_ratio: if answered { 0.0 } else { 1.0 },
        rtt_min_seconds: if answered { 0.002 } else { 0.0 },
        rtt_avg_seconds: if answered { 0.002 } else { 0.0 },
        rtt_max_seconds: if answered { 0.002 } else { 0.0 },
        loss_runs: if answered {
            Vec::new()
        } else {
            vec![LossRun {
                first_lost_unix_ms: start,
                last_lost_unix_ms: start,
                count: 1,
                open_start: true,
                open_end: true,
            }]
        },
        first_probe_unix_ms: start,
        last_probe_unix_ms: start,
        ..Default::default()
    }
}

fn host_labels(agent: &str) -> zerofault_protocol::Labels {
    let (dept, site) = match agent {
        "core" | "lone" | "maint-01" => ("d1", "c"),
        "county-01" => ("d2", "k"),
        "town-01" => ("d2", "t"),
        _ => ("d2", "p"),
    };
    labels(dept, "", "dc1", site)
}

async fn send_once(ca: &TestCa, c: &Collector, agent: &str) -> anyhow::Result<()> {
    let client = ca.ingest_client(Some(agent))?;
    let r = synthetic_report(agent, host_labels(agent), 1, 1_000);
    let (status, body) = post_report(&client, &c.report_url(), &r).await?;
    anyhow::ensure!(status.is_success(), "{agent}: {status} {body}");
    Ok(())
}

/// Checks a visit: no console error, no failed request, nothing outside the collector.
fn clean(visit: &zerofault_tests::browser::Visit, origin: &str, what: &str) {
    assert!(visit.errors().is_empty(), "{what}: {:?}", visit.errors());
    assert!(
        visit.external_requests(origin).is_empty(),
        "{what}: {:?}",
        visit.external_requests(origin)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cockpit_in_a_real_browser() -> anyhow::Result<()> {
    if let Some(why) = Browser::why_unavailable() {
        eprintln!("SKIPPED: {why}");
        return Ok(());
    }
    let ca = TestCa::new(&AGENTS)?;
    let maintenance_start = jiff::Timestamp::from_millisecond(now_unix_ms() - 1_800_000)?
        .strftime("%Y-%m-%d %H:%M")
        .to_string();
    let dir = tempfile::tempdir()?;
    let inventory_path = dir.path().join("inventory.yaml");
    std::fs::write(&inventory_path, inventory(&maintenance_start))?;
    let collector = Collector::builder(&ca)
        .links(LinksConfig {
            fault_min: Some("10s".into()),
            ..Default::default()
        })
        .extra_config(&format!(
            "inventory: {}\ncockpit:\n  silent_after: {}s\n  refresh: 5s\n",
            serde_json::to_string(&inventory_path)?,
            SILENT_AFTER.as_secs()
        ))
        .spawn()
        .await?;
    let origin = collector.http_url();

    send_once(&ca, &collector, "silent-01").await?;
    // From the silent agent's only report: it is silent SILENT_AFTER later.
    let started = Instant::now();
    // The vantage point: up itself, probing p-c (answered) and c-k (lost) every second.
    let core_client = ca.ingest_client(Some("core"))?;
    let url = collector.report_url();
    let core = tokio::spawn(async move {
        for seq in 1..=CORE_REPORTS {
            let now = now_unix_ms();
            let mut r = synthetic_report("core", host_labels("core"), seq, 1_000);
            r.links = vec![
                window("p-c", "province-city", now, true),
                window("c-k", "city-county", now, false),
            ];
            let _ = post_report(&core_client, &url, &r).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });

    let browser = Browser::launch().await?;
    let shots = artifacts_dir("cockpit");
    eprintln!("cockpit screenshots: {}", shots.display());

    tokio::time::sleep((SILENT_AFTER + Duration::from_secs(1)).saturating_sub(started.elapsed()))
        .await;
    for agent in ["county-01", "town-01", "lone", "maint-01"] {
        send_once(&ca, &collector, agent).await?;
    }
    // Down after 3 intervals of 1 s; the link has been down for about 20 s by now.
    tokio::time::sleep(Duration::from_millis(4_500)).await;

    let zh = browser.visit(&format!("{origin}/")).await?;
    clean(&zh, &origin, "overview zh");
    assert!(
        zh.fits(1920, 1080),
        "the overview scrolls: {}x{}",
        zh.scroll_width,
        zh.scroll_height
    );
    assert!(zh.title.contains("运行监测驾驶舱"), "{}", zh.title);
    let open: Vec<String> = serde_json::from_value(
        browser
            .eval("return [...document.querySelectorAll('[data-test=open-incidents] > li')].map(li => li.innerText)")
            .await?,
    )?;
    assert_eq!(open.len(), 2, "the down link and the lone host: {open:?}");
    assert!(
        open[0].contains("市县链路") && open[0].contains("根因"),
        "{open:?}"
    );
    assert!(
        open[0].contains("synthetic-county-01") && open[0].contains("synthetic-town-01"),
        "the root cause names what it hides: {open:?}"
    );
    assert!(open[1].contains("synthetic-lone"), "{open:?}");
    let chips: Vec<String> = serde_json::from_value(
        browser
            .eval("return [...document.querySelectorAll('[data-test=hosts-not-up] > li[data-agent]')].map(li => li.dataset.agent + ':' + li.className)")
            .await?,
    )?;
    for expected in [
        "lone:chip state down",
        "maint-01:chip state maintenance",
        "silent-01:chip state silent",
    ] {
        assert!(
            chips.iter().any(|c| c == expected),
            "{expected} in {chips:?}"
        );
    }
    assert!(
        !chips
            .iter()
            .any(|c| c.starts_with("county-01") || c.starts_with("town-01")),
        "hosts behind the down link are not listed on their own: {chips:?}"
    );
    assert!(
        zh.html.contains(r#"data-link="c-k""#) && zh.text.contains("✕"),
        "the topology draws the cut"
    );
    browser.screenshot(&shots.join("overview-zh.png")).await?;

    let en = browser.visit(&format!("{origin}/?lang=en")).await?;
    clean(&en, &origin, "overview en");
    assert!(en.fits(1920, 1080));
    for text in [
        "Operations cockpit",
        "City-county link",
        "root cause",
        "Test City Big Data Bureau",
        "Hosts now",
    ] {
        assert!(en.text.contains(text), "en: {text}");
    }
    assert!(
        !en.text.contains("市县链路"),
        "names in the page's language"
    );
    browser.screenshot(&shots.join("overview-en.png")).await?;

    for (name, path, expect) in [
        ("host", "/host/core", "synthetic-core"),
        ("host-behind", "/host/county-01", "受链路故障影响"),
        ("link", "/link/c-k", "市县链路"),
        ("link-en", "/link/c-k?lang=en&range=7d", "County node"),
        ("department", "/department/d2", "卫健委"),
        (
            "datacenter",
            "/datacenter/dc1?lang=en",
            "Gov Cloud Data Center",
        ),
        ("month", "/month", "format=xlsx"),
        ("maintenance", "/maintenance", "核心交换机割接"),
    ] {
        let v = browser.visit(&format!("{origin}{path}")).await?;
        clean(&v, &origin, path);
        assert!(v.html.contains(expect), "{path}: {expect}");
        browser
            .screenshot(&shots.join(format!("{name}.png")))
            .await?;
    }

    // A wall screen refreshes its content in place: the page's own variable survives (no
    // reload) while <main> is replaced by a fresh one.
    let kiosk = browser.visit(&format!("{origin}/?kiosk=1")).await?;
    clean(&kiosk, &origin, "kiosk");
    assert!(
        kiosk.fits(1920, 1080),
        "kiosk scrolls: {}x{}",
        kiosk.scroll_width,
        kiosk.scroll_height
    );
    browser
        .eval("window.zfMarker = 1; document.getElementById('main').dataset.old = '1'; return 0")
        .await?;
    browser
        .wait_for(
            "window.zfMarker === 1 && !document.getElementById('main').dataset.old",
            Duration::from_secs(20),
        )
        .await?;
    let errors: Vec<_> = browser
        .console()
        .await?
        .into_iter()
        .filter(|e| e.level == "SEVERE")
        .collect();
    assert!(
        errors.is_empty(),
        "console errors after a refresh: {errors:?}"
    );
    browser
        .screenshot(&shots.join("overview-kiosk.png"))
        .await?;

    core.abort();
    drop(browser);
    Ok(())
}

/// `access.*` on a real collector: HTTPS with the collector's certificate, two users made
/// with `zerofault-collector hash-password`, `/metrics` public.
#[tokio::test]
async fn access_needs_a_user_over_https_except_public_paths() -> anyhow::Result<()> {
    use std::io::Write as _;
    let ca = TestCa::new(&["core"])?;
    let hash = |password: &str| -> anyhow::Result<String> {
        let mut child =
            std::process::Command::new(zerofault_tests::bin_path(zerofault_tests::COLLECTOR_BIN))
                .args(["hash-password", "--iterations", "100000"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()?;
        writeln!(child.stdin.take().expect("piped"), "{password}")?;
        let out = child.wait_with_output()?;
        anyhow::ensure!(out.status.success(), "hash-password failed");
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    };
    let collector = Collector::builder(&ca)
        .extra_config(&format!(
            "access:\n  tls:\n    cert: {}\n    key: {}\n  users:\n    - {{name: ops, password_hash: \"{}\"}}\n    - {{name: prom, password_hash: \"{}\", role: metrics}}\n  public: [/healthz, /metrics]\n",
            serde_json::to_string(&ca.collector_cert())?,
            serde_json::to_string(&ca.collector_key())?,
            hash("s3cret")?,
            hash("pr0m")?,
        ))
        .https()
        .spawn()
        .await?;
    let base = collector.http_url();
    assert!(base.starts_with("https://"), "{base}");
    let client = ca.ingest_client(None)?;
    let get = |path: &str, user: Option<(&str, &str)>| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some((u, p)) = user {
            req = req.basic_auth(u, Some(p));
        }
        req.send()
    };
    let r = get("/", None).await?;
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()[reqwest::header::WWW_AUTHENTICATE]
            .to_str()?
            .starts_with("Basic realm=\"zerofault\"")
    );
    assert_eq!(get("/", Some(("ops", "wrong"))).await?.status(), 401);
    let page = get("/?lang=en", Some(("ops", "s3cret"))).await?;
    assert_eq!(page.status(), 200);
    assert!(page.text().await?.contains("Operations cockpit"));
    assert_eq!(
        get("/api/v1/links", Some(("prom", "pr0m"))).await?.status(),
        403
    );
    assert_eq!(get("/metrics", Some(("prom", "pr0m"))).await?.status(), 200);
    assert_eq!(get("/metrics", None).await?.status(), 200, "public");
    // A public path is matched exactly: dot segments and encodings reach no other route
    // without a login.
    for trick in [
        "/healthz/../api/v1/links",
        "/metrics/../",
        "/%2E%2E/api/v1/links",
        "//api/v1/links",
    ] {
        let status = get(trick, None).await?.status();
        assert!(status == 401 || status == 404, "{trick}: {status}");
    }
    // Plain HTTP on the TLS port is refused.
    let plain = zerofault_tests::http_client()
        .get(base.replacen("https://", "http://", 1) + "/healthz")
        .send()
        .await;
    assert!(plain.map(|r| r.status() != 200).unwrap_or(true));

    // The audit log has the logins (each password verified), the refused one counted per
    // source, and the report handed out with who and from where.
    let report = get(
        "/api/v1/report?format=csv&table=hosts",
        Some(("ops", "s3cret")),
    )
    .await?;
    assert_eq!(report.status(), 200);
    let mut collector = collector;
    collector.stop(std::time::Duration::from_secs(10))?;
    let out = std::process::Command::new(zerofault_tests::bin_path(zerofault_tests::COLLECTOR_BIN))
        .args(["audit", "export", "--config"])
        .arg(collector.config_path())
        .output()?;
    anyhow::ensure!(out.status.success(), "audit export failed");
    let records: Vec<serde_json::Value> = String::from_utf8(out.stdout)?
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let of = |event: &str| -> Vec<&serde_json::Value> {
        records.iter().filter(|r| r["event"] == event).collect()
    };
    assert!(
        of("http.login")
            .iter()
            .any(|r| r["actor"] == "user:ops" && r["source"] == "127.0.0.1")
    );
    let downloads = of("report.download");
    assert_eq!(downloads.len(), 1, "{records:?}");
    assert_eq!(downloads[0]["actor"], "user:ops");
    assert!(
        downloads[0]["details"]
            .as_str()
            .unwrap_or("")
            .contains("csv")
    );
    assert!(of("auth.failure").iter().any(|r| r["source"] == "127.0.0.1"
        && r["details"].as_str().unwrap_or("").contains("http_login")));
    Ok(())
}
