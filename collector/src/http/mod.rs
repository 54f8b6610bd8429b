//! Plain-HTTP listener: `/metrics` (Prometheus text format 0.0.4), `/healthz`, and the
//! read-only link API (`/api/v1/links`, `/api/v1/faults`, see [`api`]); the server adds the
//! monthly SLA report (`/api/v1/report`, see [`sla_report`]), which needs the inventory and the
//! configuration besides.
//!
//! The text format 0.0.4 rather than OpenMetrics: every Prometheus version, promtool and
//! the other scrapers platform teams run (Telegraf, VictoriaMetrics, the Grafana agent)
//! read it, and nothing on `/metrics` needs an OpenMetrics-only feature (no exemplars,
//! no `_created` series). Every metric is documented in `docs/metrics.md`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::live::hosts::{HostTable, IngestCounters};
use crate::live::links::LinkHub;
use crate::store::Store;

pub mod api;
mod metrics;
pub mod sla_report;

pub use metrics::{UNLABELLED, render, render_with_inventory};

/// `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Everything the plain-HTTP listener reads.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// Newest report per agent.
    pub hosts: Arc<HostTable>,
    /// Ingest self-metrics.
    pub counters: Arc<IngestCounters>,
    /// Link engine and interface tracker.
    pub links: Arc<LinkHub>,
    /// Stored (closed) faults for `/api/v1/faults`.
    pub store: Arc<dyn Store>,
    /// A host is up while its newest report is at most this many of its intervals old.
    pub down_after_intervals: u32,
}

/// Builds the router of the plain-HTTP listener.
///
/// `/metrics` reads the host table, the counters and the link engine on every scrape; a host
/// is shown as up while its newest report is at most `down_after_intervals` of its own
/// intervals old.
pub fn router(state: HttpState) -> Router {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics::LiveCollector {
        hosts: state.hosts,
        counters: state.counters,
        links: state.links.clone(),
        down_after_intervals: state.down_after_intervals,
    }));
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(Arc::new(registry))
        .merge(api::router(state.links, state.store))
}

async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    // With tens of thousands of hosts an exposition takes a noticeable amount of CPU;
    // encoding on the blocking pool keeps ingest and other requests responsive meanwhile.
    let encoded = tokio::task::spawn_blocking(move || metrics::encode_registry(&registry)).await;
    match encoded {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "encoding /metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "the /metrics encoding task failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok"
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
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
            store: Arc::new(store),
            down_after_intervals: 3,
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
        let (_, _, body) = get(app, "/metrics").await;
        assert!(body.contains("\nzerofault_collector_hosts 1\n"), "{body}");
        assert!(body.contains("\nzerofault_collector_reports_accepted_total 1\n"));
        assert!(body.contains(
            "zerofault_host_up{agent=\"web-01\",host=\"web-01.example\",department=\"unlabelled\",datacenter=\"unlabelled\"} 1"
        ));
    }

    #[tokio::test]
    async fn collector_runs_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        let id = store.start_run(1_000).await.unwrap();
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
            store: Arc::new(store),
            down_after_intervals: 3,
        });
        let (status, _, body) = get(app, api::RUNS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({ "runs": [{
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
