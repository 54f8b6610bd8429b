//! `GET /api/v1/report` on the plain-HTTP listener (`zerofault_collector::http::sla_report`).
//!
//! A temporary SQLite store holds February 2026 (Asia/Shanghai) of two hosts reporting
//! hourly and a collector run over the month; a small inline inventory declares their
//! department, business system and data center. The router is called with `oneshot`: every
//! format, the parameter refusals, a closed month (frozen figures plus the late-corrections
//! header, which counts a report received after closing) and a store that fails. Last, a
//! whole in-process collector (`Server`) answers the route on its plain-HTTP listener.

mod ingest_support;
mod month_support;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use month_support::{DAY, END, HOUR, INVENTORY, MIN, START, store_hourly};
use tower::ServiceExt;
use zerofault_collector::config::Config;
use zerofault_collector::http::sla_report::{
    LATE_CORRECTIONS_HEADER, REPORT_PATH, SlaReportState, router,
};
use zerofault_collector::inventory::Inventory;
use zerofault_collector::month::sla::model::MonthReport;
use zerofault_collector::store::{ClosedMonth, SqliteStore, Store};

struct World {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    app: Router,
}

/// February 2026 of `web-01` and `web-02` (`web-02` stops on the 20th), the collector
/// running all month.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    let run = store.start_run("c1".into(), START - 2 * DAY).await.unwrap();
    store.stop_run(run, END + DAY).await.unwrap();
    store_hourly(&store, "web-01", START - DAY, END + HOUR).await;
    store_hourly(&store, "web-02", START - DAY, START + 19 * DAY).await;
    let inventory = Inventory::parse(INVENTORY, &dir.path().join("inventory.yaml")).unwrap();
    let config = Config::parse(
        "tls: {ca: ca.pem, cert: c.pem, key: c.key}\ninventory: inventory.yaml\n",
        &dir.path().join("collector.yaml"),
    )
    .unwrap();
    let app = router(SlaReportState::new(
        store.clone(),
        Arc::new(inventory),
        config.links.clone(),
    ));
    World {
        _dir: dir,
        store,
        app,
    }
}

async fn get(app: &Router, query: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = app
        .clone()
        .oneshot(
            Request::get(format!("{REPORT_PATH}{query}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body.to_vec())
}

fn header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> &str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

/// The `error` of a 400 answer.
async fn refused(app: &Router, query: &str) -> String {
    let (status, headers, body) = get(app, query).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    assert_eq!(header(&headers, header::CONTENT_TYPE), "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    json["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_format_of_an_open_month() {
    let w = world().await;

    let (status, headers, body) = get(&w.app, "?month=2026-02&format=json&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, header::CONTENT_TYPE), "application/json");
    assert_eq!(
        header(&headers, header::CONTENT_DISPOSITION),
        "inline; filename=\"zerofault-2026-02-en.json\""
    );
    assert_eq!(header(&headers, header::CACHE_CONTROL), "no-store");
    assert!(headers.get(LATE_CORRECTIONS_HEADER).is_none());
    let report: MonthReport = serde_json::from_slice(&body).unwrap();
    assert_eq!(report.month, "2026-02");
    assert_eq!(report.lang, "en");
    assert!(!report.closed);
    let agents: Vec<&str> = report.hosts.iter().map(|h| h.agent_id.as_str()).collect();
    assert_eq!(agents, ["web-01", "web-02"]);
    assert_eq!(report.departments[0].name, "Big Data Bureau");

    // Defaults: json, zh-CN (the month defaults to the previous one: not fixed here).
    let (status, _, body) = get(&w.app, "?month=2026-02").await;
    assert_eq!(status, StatusCode::OK);
    let zh: MonthReport = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (zh.lang.as_str(), zh.departments[0].name.as_str()),
        ("zh-CN", "大数据局")
    );

    let (status, headers, body) = get(&w.app, "?month=2026-02&format=xlsx").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, header::CONTENT_TYPE),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        header(&headers, header::CONTENT_DISPOSITION),
        "attachment; filename=\"zerofault-2026-02-zh-CN.xlsx\""
    );
    assert!(body.starts_with(b"PK"), "an XLSX is a ZIP");

    let (status, headers, body) = get(&w.app, "?month=2026-02&format=html&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, header::CONTENT_TYPE),
        "text/html; charset=utf-8"
    );
    assert!(header(&headers, header::CONTENT_DISPOSITION).starts_with("inline; "));
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("<html"), "{html}");
    assert!(html.contains("web-02"));

    // The PDF, made on the collector with the packaged CJK font (scripts/test installs
    // fonts-wqy-microhei), shown inline like HTML.
    let (status, headers, body) = get(&w.app, "?month=2026-02&format=pdf&lang=zh-CN").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&headers, header::CONTENT_TYPE), "application/pdf");
    assert_eq!(
        header(&headers, header::CONTENT_DISPOSITION),
        "inline; filename=\"zerofault-2026-02-zh-CN.pdf\""
    );
    assert!(body.starts_with(b"%PDF-"), "not a PDF");

    let (status, headers, body) =
        get(&w.app, "?month=2026-02&format=csv&table=hosts&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, header::CONTENT_TYPE),
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        header(&headers, header::CONTENT_DISPOSITION),
        "attachment; filename=\"zerofault-2026-02-en-hosts.csv\""
    );
    let csv = String::from_utf8(body).unwrap();
    let csv = csv.trim_start_matches('\u{feff}');
    assert!(csv.starts_with("Agent ID,"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "header and two hosts: {csv}");
    assert!(
        csv.lines()
            .nth(1)
            .unwrap()
            .starts_with("web-01,web-01.example,")
    );
}

#[tokio::test]
async fn bad_parameters_are_400_naming_them() {
    let w = world().await;
    let e = refused(&w.app, "?month=2026-02&format=csv").await;
    assert!(e.contains("table") && e.contains("hosts"), "{e}");
    let e = refused(&w.app, "?month=2026-02&format=csv&table=nope").await;
    assert!(e.contains("table \"nope\"") && e.contains("links"), "{e}");
    let e = refused(&w.app, "?month=2026-13").await;
    assert!(e.starts_with("month: ") && e.contains("YYYY-MM"), "{e}");
    let e = refused(&w.app, "?month=Feb").await;
    assert!(e.starts_with("month: "), "{e}");
    let e = refused(&w.app, "?format=docx").await;
    assert!(
        e.contains("format \"docx\"") && e.contains("json, csv, xlsx, html or pdf"),
        "{e}"
    );
    let e = refused(&w.app, "?lang=fr").await;
    assert!(
        e.contains("lang \"fr\"") && e.contains("en or zh-CN"),
        "{e}"
    );
    // A month that has not begun: 400 naming it.
    let e = refused(&w.app, "?month=2999-01").await;
    assert!(
        e.starts_with("month: ") && e.contains("2999-01") && e.contains("future"),
        "{e}"
    );
    let e = refused(&w.app, "?mnth=2026-02").await;
    assert!(
        e.contains("\"mnth\"") && e.contains("month, format, lang, table"),
        "{e}"
    );
}

/// The month in progress is answered up to now, marked month to date, with no slot after
/// now (the world's hosts are in February 2026: none this month).
#[tokio::test]
async fn the_current_month_is_answered_to_date() {
    let w = world().await;
    let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
    let now = jiff::Timestamp::now();
    let month = now.to_zoned_datetime(tz).strftime("%Y-%m").to_string();
    let (status, _, body) = get(&w.app, &format!("?month={month}&lang=en")).await;
    let after = jiff::Timestamp::now().as_millisecond();
    if status == StatusCode::BAD_REQUEST {
        // The first slot of the month has not ended yet.
        let e: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(e["error"].as_str().unwrap().contains(&month), "{e}");
        return;
    }
    assert_eq!(status, StatusCode::OK);
    let r: MonthReport = serde_json::from_slice(&body).unwrap();
    assert!(r.month_to_date && !r.closed);
    let as_of = r.as_of_unix_ms.unwrap();
    assert!(
        as_of <= after && as_of > now.as_millisecond() - 2 * MIN,
        "{as_of}"
    );
    assert!(r.collector_gaps.iter().all(|g| g.end_unix_ms <= as_of));
    let (status, _, body) = get(&w.app, &format!("?month={month}&format=html&lang=zh-CN")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(body)
            .unwrap()
            .contains("本月截至（非最终）")
    );
}

#[tokio::test]
async fn a_closed_month_is_served_frozen_with_its_late_corrections() {
    let w = world().await;
    let (_, _, body) = get(&w.app, "?month=2026-02&lang=en").await;
    let mut frozen: MonthReport = serde_json::from_slice(&body).unwrap();
    frozen.closed = true;
    frozen.generated_unix_ms = END + DAY;
    assert!(
        w.store
            .close_month(ClosedMonth {
                month: "2026-02".into(),
                closed_unix_ms: END + DAY,
                report_json: serde_json::to_vec(&frozen).unwrap(),
                manifest: String::new(),
            })
            .await
            .unwrap()
    );

    // Nothing arrived since closing: the frozen report, no corrections.
    let (status, headers, body) = get(&w.app, "?month=2026-02&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, LATE_CORRECTIONS_HEADER), "0");
    let mut served: MonthReport = serde_json::from_slice(&body).unwrap();
    // The served report cites the stored manifest: SHA-256 of the empty text here.
    let seal = served
        .seal
        .take()
        .expect("a closed month cites its manifest");
    assert_eq!(seal.closed_unix_ms, END + DAY);
    assert_eq!(seal.manifest, "MANIFEST.sha256");
    assert_eq!(
        seal.manifest_sha256.as_deref(),
        Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(served, frozen);

    // web-02's backlog of the 20th to the 22nd arrives late: the frozen figures are still
    // served, and the corrections they would make are counted.
    store_hourly(
        &w.store,
        "web-02",
        START + 19 * DAY + HOUR,
        START + 22 * DAY,
    )
    .await;
    let (status, headers, body) = get(&w.app, "?month=2026-02&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    let late: usize = header(&headers, LATE_CORRECTIONS_HEADER).parse().unwrap();
    assert!(late > 0, "web-02's late reports change its figures");
    let mut served: MonthReport = serde_json::from_slice(&body).unwrap();
    served.seal = None;
    assert_eq!(served, frozen);

    // Every format of a closed month carries the header.
    let (status, headers, body) = get(&w.app, "?month=2026-02&format=xlsx").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, LATE_CORRECTIONS_HEADER), late.to_string());
    assert!(body.starts_with(b"PK"));
}

#[tokio::test]
async fn a_failing_store_is_503() {
    let w = world().await;
    w.store.close().await;
    let (status, headers, body) = get(&w.app, "?month=2026-02").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&headers, header::CONTENT_TYPE), "application/json");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(json["error"].as_str().unwrap().contains("store"), "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_collector_serves_it_on_its_http_listener() {
    let pki = zerofault_tests::pki::Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = zerofault_collector::cmd::serve::Server::bind(ingest_support::config(
        dir.path(),
        &pki,
        64 * 1024,
    ))
    .await
    .unwrap();
    let base = format!("http://{}{REPORT_PATH}", server.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));
    // Any client; this one comes with a crypto provider (plain HTTP needs none).
    let client = pki.client(None);
    // No inventory configured: the defaults (Asia/Shanghai), nothing declared.
    let resp = client
        .get(format!("{base}?month=2026-02&lang=en"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let report: MonthReport = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(
        (report.month.as_str(), report.time_zone.as_str()),
        ("2026-02", "Asia/Shanghai")
    );
    assert!(report.hosts.is_empty());
    let resp = client
        .get(format!("{base}?format=csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::BAD_REQUEST);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// An online backup (`Store::backup`, what `zerofault-collector backup` runs) taken while
/// reports keep arriving is the store as of one moment, and a collector restored from it
/// answers the same month as the original.
#[tokio::test]
async fn a_backup_taken_during_ingest_restores_to_the_same_month() {
    let w = world().await;
    let before = w.store.count_reports().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    std::fs::File::create(&copy).unwrap();

    // A third host's March goes on being stored while the copy is made (days after the
    // month, beyond the day around its edges that February's report reads, so the month is
    // the same whichever moment the copy holds).
    let writer = {
        let store = w.store.clone();
        tokio::spawn(
            async move { store_hourly(&store, "web-03", END + 5 * DAY, END + 7 * DAY).await },
        )
    };
    let bytes = w.store.backup(copy.clone()).await.unwrap();
    writer.await.unwrap();
    let after = w.store.count_reports().await.unwrap();
    assert!(bytes > 0);
    assert_eq!(after, before + 49, "every concurrent insert stored");

    let restored = Arc::new(SqliteStore::open(&copy).await.unwrap());
    let copied = restored.count_reports().await.unwrap();
    assert!(
        (before..=after).contains(&copied),
        "the copy is one moment of the store: {before} <= {copied} <= {after}"
    );
    let inventory = Inventory::parse(INVENTORY, &dir.path().join("inventory.yaml")).unwrap();
    let app = router(SlaReportState::new(
        restored.clone(),
        Arc::new(inventory),
        Default::default(),
    ));
    let month = |body: Vec<u8>| {
        let mut v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        // The only figure that is not the data's: when the report was made.
        v.as_object_mut().unwrap().remove("generated_unix_ms");
        v
    };
    let (status, _, original) = get(&w.app, "?month=2026-02&format=json&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, from_copy) = get(&app, "?month=2026-02&format=json&lang=en").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(month(from_copy), month(original));

    // A backup never overwrites: the store refuses a file that is not empty.
    assert!(matches!(
        w.store.backup(copy.clone()).await,
        Err(zerofault_collector::store::StoreError::Backup { .. })
    ));
}
