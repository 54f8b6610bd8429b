//! `/metrics` over the router: gzip, detail, the scrape cap.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zerofault_protocol::{Filesystem, Interface, Memory, Report};

use crate::http::{DetailSetting, HttpState, Metrics, router};
use crate::live::hosts::{HostTable, IngestCounters};
use crate::live::links::{LinkHub, Links};
use crate::store::SqliteStore;

/// A host with 2 filesystems and 3 interfaces, received now (so up in every scrape of a
/// test, and nothing in its series depends on the scrape time).
fn report(i: usize) -> Report {
    Report {
        protocol_version: 1,
        agent_id: format!("host-{i:05}"),
        hostname: format!("host-{i:05}.example"),
        boot_id: "b".into(),
        sequence: 1,
        interval_ms: 15_000,
        memory: Some(Memory {
            total_bytes: 8 << 30,
            used_bytes: (i as u64) << 20,
            ..Default::default()
        }),
        filesystems: ["/", "/var"]
            .map(|m| Filesystem {
                mount_point: m.into(),
                device: "/dev/vda1".into(),
                fs_type: "ext4".into(),
                size_bytes: 100 << 30,
                used_bytes: (i as u64) << 30,
                available_bytes: 1 << 30,
                ..Default::default()
            })
            .to_vec(),
        interfaces: ["lo", "eth0", "eth1"]
            .map(|n| Interface {
                name: n.into(),
                oper_state: "up".into(),
                receive_bytes: i as u64,
                ..Default::default()
            })
            .to_vec(),
        ..Default::default()
    }
}

async fn app(dir: &tempfile::TempDir, hosts: usize, settings: Metrics) -> Router {
    let table = Arc::new(HostTable::default());
    let now = zerofault_common::now_unix_ms();
    for i in 0..hosts {
        table.update(report(i), now);
    }
    let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
    router(HttpState {
        hosts: table,
        counters: Arc::new(IngestCounters::default()),
        links: Arc::new(LinkHub::new(Links::default())),
        slots: Default::default(),
        store: Arc::new(store),
        down_after_intervals: 3,
        metrics: settings,
    })
}

async fn send(app: &Router, path: &str, accept_encoding: Option<&str>) -> Response<Body> {
    let mut req = Request::get(path);
    if let Some(a) = accept_encoding {
        req = req.header(header::ACCEPT_ENCODING, a);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn header_of(resp: &Response<Body>, name: header::HeaderName) -> Option<&str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn body_bytes(resp: Response<Body>) -> Vec<u8> {
    resp.into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

async fn text(app: &Router, path: &str) -> String {
    let resp = send(app, path, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    String::from_utf8(body_bytes(resp).await).unwrap()
}

/// The family names of an exposition (from its `# TYPE` lines).
fn families(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gzip_scrape_decodes_to_exactly_the_plain_scrape() {
    let dir = tempfile::tempdir().unwrap();
    // Several hundred KiB: many chunks, compressed across chunk boundaries.
    let app = app(&dir, 600, Metrics::default()).await;

    let plain = send(&app, "/metrics", None).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(header_of(&plain, header::CONTENT_ENCODING), None);
    assert_eq!(header_of(&plain, header::VARY), Some("Accept-Encoding"));
    assert_eq!(
        header_of(&plain, header::CONTENT_TYPE),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let plain = body_bytes(plain).await;
    assert!(
        plain.len() > 8 * super::stream::CHUNK_BYTES,
        "{}",
        plain.len()
    );

    let gz = send(&app, "/metrics", Some("gzip")).await;
    assert_eq!(gz.status(), StatusCode::OK);
    assert_eq!(header_of(&gz, header::CONTENT_ENCODING), Some("gzip"));
    assert_eq!(header_of(&gz, header::VARY), Some("Accept-Encoding"));
    let gz = body_bytes(gz).await;
    assert!(
        gz.len() * 5 < plain.len(),
        "{} -> {}",
        plain.len(),
        gz.len()
    );
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut decoded)
        .unwrap();
    assert!(decoded == plain, "the gzip body decodes to other text");

    // Refused explicitly: plain text, still varying on the header.
    let refused = send(&app, "/metrics", Some("gzip;q=0, identity")).await;
    assert_eq!(header_of(&refused, header::CONTENT_ENCODING), None);
    assert_eq!(header_of(&refused, header::VARY), Some("Accept-Encoding"));
    assert_eq!(body_bytes(refused).await, plain);
}

#[tokio::test]
async fn detail_follows_the_setting_the_host_count_and_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Metrics {
        full_detail_max_hosts: 3,
        ..Metrics::default()
    };
    let app3 = app(&dir, 3, settings).await;
    let full = text(&app3, "/metrics").await;
    assert!(full.contains("\nzerofault_collector_metrics_detail{detail=\"full\"} 1\n"));
    assert!(families(&full).contains(&"zerofault_host_network_receive_bytes_total"));

    let dir4 = tempfile::tempdir().unwrap();
    let app4 = app(&dir4, 4, settings).await;
    let essential = text(&app4, "/metrics").await;
    assert!(essential.contains("\nzerofault_collector_metrics_detail{detail=\"essential\"} 1\n"));
    let names = families(&essential);
    assert!(!names.contains(&"zerofault_host_network_receive_bytes_total"));
    assert!(names.contains(&"zerofault_host_filesystem_used_bytes"));
    assert_eq!(
        essential
            .matches("zerofault_host_filesystem_used_bytes{")
            .count(),
        8
    );

    // One scrape may ask for either.
    assert!(text(&app4, "/metrics?detail=full").await.len() > essential.len());
    let asked = text(&app3, "/metrics?detail=essential").await;
    assert!(asked.contains("zerofault_collector_metrics_detail{detail=\"essential\"} 1"));
    let auto = text(&app4, "/metrics?detail=auto&other=ignored").await;
    assert!(auto.contains("zerofault_collector_metrics_detail{detail=\"essential\"} 1"));

    // The configured detail, without a query.
    let dir5 = tempfile::tempdir().unwrap();
    let pinned = Metrics {
        detail: DetailSetting::Full,
        full_detail_max_hosts: 1,
        ..Metrics::default()
    };
    let app5 = app(&dir5, 4, pinned).await;
    assert!(
        text(&app5, "/metrics")
            .await
            .contains("zerofault_collector_metrics_detail{detail=\"full\"} 1")
    );

    for bad in [
        "/metrics?detail=",
        "/metrics?detail=FULL",
        "/metrics?detail=all",
    ] {
        let resp = send(&app3, bad, None).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body = String::from_utf8(body_bytes(resp).await).unwrap();
        assert!(body.contains("auto, full, essential"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_beyond_the_cap_is_503_with_retry_after_until_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Metrics {
        max_concurrent_scrapes: 1,
        ..Metrics::default()
    };
    let app = app(&dir, 600, settings).await;
    // Started and never read: its encoder waits with the only permit.
    let first = send(&app, "/metrics", None).await;
    assert_eq!(first.status(), StatusCode::OK);

    let second = send(&app, "/metrics", Some("gzip")).await;
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header_of(&second, header::RETRY_AFTER), Some("1"));
    let body = String::from_utf8(body_bytes(second).await).unwrap();
    assert!(body.contains("metrics.max_concurrent_scrapes"), "{body}");

    // The first scraper hangs up: its encoder stops and the permit is free again.
    drop(first);
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        let resp = send(&app, "/metrics", None).await;
        status = resp.status();
        if status == StatusCode::OK {
            assert!(!body_bytes(resp).await.is_empty());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, StatusCode::OK);
}
