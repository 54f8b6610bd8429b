//! Plain-HTTP listener: `/metrics` (Prometheus text format 0.0.4, gzip when accepted,
//! streamed, see `scrape.rs`), `/healthz`, and the
//! read-only link API (`/api/v1/links`, `/api/v1/faults`, see [`api`]), the downsampled
//! series (`/api/v1/hosts/{agent}/series`, `/api/v1/links/{link}/series`, see [`series`]);
//! the server adds the
//! monthly SLA report (`/api/v1/report`, see [`sla_report`]), which needs the inventory and the
//! configuration besides, and the month to date (`/api/v1/month-to-date`, see
//! [`month_to_date`]).
//!
//! The text format 0.0.4 rather than OpenMetrics: every Prometheus version, promtool and
//! the other scrapers platform teams run (Telegraf, VictoriaMetrics, the Grafana agent)
//! read it, and nothing on `/metrics` needs an OpenMetrics-only feature (no exemplars,
//! no `_created` series). Every metric is documented in `docs/metrics.md`.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::live::hosts::{HostTable, IngestCounters};
use crate::live::links::LinkHub;
use crate::store::Store;

mod accept_encoding;
pub mod access;
pub mod api;
pub mod audit_log;
pub mod cockpit;
pub mod https;
mod metrics;
pub mod month_to_date;
mod scrape;
pub mod series;
pub mod sla_report;

pub use metrics::settings::{
    DEFAULT_FULL_DETAIL_MAX_HOSTS, DEFAULT_MAX_CONCURRENT_SCRAPES, DEFAULT_SCRAPE_TIMEOUT, Detail,
    DetailSetting, MAX_CONCURRENT_SCRAPES, Metrics,
};
pub use metrics::{UNLABELLED, render, render_live, render_with_inventory};
pub use scrape::CONTENT_TYPE;

/// Everything the plain-HTTP listener reads.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// Newest report per agent.
    pub hosts: Arc<HostTable>,
    /// Ingest self-metrics.
    pub counters: Arc<IngestCounters>,
    /// Link engine and interface tracker.
    pub links: Arc<LinkHub>,
    /// Live states and slot counters (`live::slots`), advanced by `serve`.
    pub slots: Arc<crate::live::slots::SlotCounters>,
    /// Stored (closed) faults for `/api/v1/faults`.
    pub store: Arc<dyn Store>,
    /// A host is up while its newest report is at most this many of its intervals old.
    pub down_after_intervals: u32,
    /// Detail and bounds of `/metrics` (`metrics.*`).
    pub metrics: Metrics,
}

/// Builds the router of the plain-HTTP listener.
///
/// `/metrics` reads the host table, the counters and the link engine on every scrape
/// (`scrape.rs`); a host is shown as up while its newest report is at most
/// `down_after_intervals` of its own intervals old.
pub fn router(state: HttpState) -> Router {
    let scrapes = Arc::new(scrape::ScrapeState::new(
        state.hosts,
        state.counters,
        state.links.clone(),
        state.slots.clone(),
        state.down_after_intervals,
        state.metrics,
    ));
    Router::new()
        .route("/metrics", get(scrape::metrics))
        .with_state(scrapes)
        .route("/healthz", get(healthz))
        .merge(series::router(state.store.clone()))
        .merge(api::router(state.links, state.store))
}

/// The peer of a request (from `ConnectInfo`), an IPv4-mapped address (`::ffff:a.b.c.d`, an
/// IPv4 client on a dual-stack listener) as the IPv4 address it is, so that audit records
/// and access checks name IPv4 clients alike whichever socket they reached.
pub fn peer_addr(extensions: &axum::http::Extensions) -> Option<std::net::SocketAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| std::net::SocketAddr::new(c.0.ip().to_canonical(), c.0.port()))
}

async fn healthz() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use zerofault_protocol::Report;

    use crate::live::links::Links;
    use crate::store::SqliteStore;

    /// A router over fresh state; the store lives in `dir`.
    async fn app(
        dir: &tempfile::TempDir,
        hosts: Arc<HostTable>,
        counters: Arc<IngestCounters>,
    ) -> Router {
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        router(HttpState {
            hosts,
            counters,
            links: Arc::new(LinkHub::new(Links::default())),
            slots: Default::default(),
            store: Arc::new(store),
            down_after_intervals: 3,
            metrics: Metrics::default(),
        })
    }

    async fn get(app: Router, path: &str) -> (StatusCode, Option<String>, String) {
        let resp = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn healthz_says_ok() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, Default::default(), Default::default()).await;
        let (status, _, body) = get(app, "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ok");
    }

    #[tokio::test]
    async fn metrics_reads_the_live_table() {
        let hosts = Arc::new(HostTable::default());
        let counters = Arc::new(IngestCounters::default());
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, hosts.clone(), counters.clone()).await;

        let (status, ct, body) = get(app.clone(), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            ct.as_deref(),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        assert!(body.contains("\nzerofault_collector_hosts 0\n"), "{body}");
        assert!(body.contains("zerofault_collector_reports_rejected_total{reason=\"storage\"} 0"));

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        hosts.update(
            Report {
                agent_id: "web-01".into(),
                hostname: "web-01.example".into(),
                boot_id: "b".into(),
                sequence: 1,
                interval_ms: 15_000,
                ..Default::default()
            },
            now,
        );
        counters.accepted();
        let (_, _, body) = get(app.clone(), "/metrics").await;
        assert!(body.contains("\nzerofault_collector_hosts 1\n"), "{body}");
        assert!(body.contains("\nzerofault_collector_reports_accepted_total 1\n"));
        assert!(body.contains(
            "zerofault_host_up{agent=\"web-01\",host=\"web-01.example\",department=\"unlabelled\",datacenter=\"unlabelled\"} 1"
        ));
        assert!(
            body.contains("\nzerofault_collector_deployment_lease 1\n"),
            "{body}"
        );

        // Another collector of the deployment holds the lease: its own process metrics
        // only, no host, aggregate or link series that the holder shows already.
        counters.set_standby(true);
        let (_, _, body) = get(app, "/metrics").await;
        assert!(
            body.contains("\nzerofault_collector_deployment_lease 0\n"),
            "{body}"
        );
        assert!(body.contains("\nzerofault_collector_reports_accepted_total 1\n"));
        assert!(body.contains("\nzerofault_collector_hosts 0\n"), "{body}");
        for family in [
            "zerofault_host_",
            "zerofault_department_",
            "zerofault_datacenter_",
        ] {
            assert!(
                !body.lines().any(|l| l.starts_with(family)),
                "{family} on standby: {body}"
            );
        }
    }

    #[tokio::test]
    async fn collector_runs_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        let id = store.start_run("c1".into(), 1_000).await.unwrap();
        store.heartbeat_run(id, 11_000).await.unwrap();
        // What an import inferred is listed beside the runs.
        let period = crate::store::ListeningPeriod {
            start_unix_ms: 500,
            end_unix_ms: 900,
            source: "old.jsonl".into(),
            imported_unix_ms: 20_000,
        };
        assert_eq!(
            store.insert_listening(vec![period.clone()]).await.unwrap(),
            1
        );
        assert_eq!(
            store.insert_listening(vec![period]).await.unwrap(),
            0,
            "the same period again is not stored twice"
        );
        let app = router(HttpState {
            hosts: Default::default(),
            counters: Default::default(),
            links: Arc::new(LinkHub::new(Links::default())),
            slots: Default::default(),
            store: Arc::new(store),
            down_after_intervals: 3,
            metrics: Metrics::default(),
        });
        let (status, _, body) = get(app, api::RUNS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "runs": [{
                "instance": "c1",
                "id": id,
                "started_unix_ms": 1_000,
                "last_heartbeat_unix_ms": 11_000,
                "stopped_unix_ms": null,
                "clean": false
            }], "imported_listening": [{
                "start_unix_ms": 500,
                "end_unix_ms": 900,
                "source": "old.jsonl",
                "imported_unix_ms": 20_000
            }] })
        );
    }

    #[tokio::test]
    async fn unknown_path_is_404() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(&dir, Default::default(), Default::default()).await;
        assert_eq!(get(app, "/nope").await.0, StatusCode::NOT_FOUND);
    }
}
