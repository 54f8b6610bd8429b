//! The read-only link API on the plain-HTTP listener (JSON; documented in `docs/links.md`).
//!
//! * `GET /api/v1/links`: every link with its state and vantage points.
//! * `GET /api/v1/faults[?link=ID]`: every fault, closed (from the store, plus those the
//!   engine settled a moment ago) and not yet final (ongoing ones have `end_unix_ms: null`).
//!
//! * `GET /api/v1/collector/runs`: every run of the collector itself (start, last heartbeat,
//!   stop, clean or crashed), so that a period without data can be told apart as "the
//!   collector was down" (collector clock; documented in `docs/delivery.md`); beside them,
//!   `imported_listening`: the listening periods `zerofault-collector import` inferred for
//!   imported history (docs/sla-operations.md).
//!
//! Times are agent-clock milliseconds since the Unix epoch (the probe send times), durations
//! seconds; level and domain are as the agents configured them (empty when unset).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::live::links::{Fault, LinkHub, LinkView, VantageView};
use crate::store::Store;

/// Path of the links listing.
pub const LINKS_PATH: &str = "/api/v1/links";
/// Path of the faults listing.
pub const FAULTS_PATH: &str = "/api/v1/faults";
/// Path of the collector runs listing.
pub const RUNS_PATH: &str = "/api/v1/collector/runs";

#[derive(Debug, Clone)]
struct ApiState {
    links: Arc<LinkHub>,
    store: Arc<dyn Store>,
}

/// The API routes.
pub fn router(links: Arc<LinkHub>, store: Arc<dyn Store>) -> Router {
    Router::new()
        .route(LINKS_PATH, get(list_links))
        .route(FAULTS_PATH, get(list_faults))
        .route(RUNS_PATH, get(list_runs))
        .with_state(ApiState { links, store })
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn vantage_json(v: &VantageView) -> Value {
    let last = v.last.as_ref();
    // RTT figures of a window that received nothing are not measurements: null, not 0.
    let rtt =
        |f: fn(&crate::live::links::WindowSummary) -> f64| last.filter(|l| l.received > 0).map(f);
    json!({
        "agent": v.agent,
        "state": v.state,
        "stale": v.stale,
        "window_start_unix_ms": last.map(|l| l.window_start_unix_ms),
        "window_end_unix_ms": last.map(|l| l.window_end_unix_ms),
        "sent": last.map(|l| l.sent),
        "received": last.map(|l| l.received),
        "loss_ratio": last.map(|l| l.loss_ratio),
        "rtt_min_seconds": rtt(|l| l.rtt_min_seconds),
        "rtt_avg_seconds": rtt(|l| l.rtt_avg_seconds),
        "rtt_max_seconds": rtt(|l| l.rtt_max_seconds),
        "rtt_p95_seconds": rtt(|l| l.rtt_p95_seconds),
        "jitter_seconds": rtt(|l| l.jitter_seconds),
        "probes_sent_total": v.probes_sent_total,
        "probes_received_total": v.probes_received_total,
        "down_seconds_total": seconds(v.down_ms_total),
    })
}

fn link_json(l: &LinkView) -> Value {
    json!({
        "link": l.link_id,
        "level": l.level,
        "domain": l.domain,
        "state": l.state,
        "down_seconds_total": seconds(l.down_ms_total),
        "faults_total": l.faults_total,
        "vantages": l.vantages.iter().map(vantage_json).collect::<Vec<_>>(),
    })
}

fn fault_json(f: &Fault) -> Value {
    json!({
        "link": f.link_id,
        "level": f.level,
        "domain": f.domain,
        "start_unix_ms": f.start_unix_ms,
        "end_unix_ms": f.end_unix_ms,
        "duration_seconds": seconds(f.duration_ms),
        "agents": f.agents,
        "ongoing": f.end_unix_ms.is_none(),
        "settled": f.settled,
    })
}

async fn list_links(State(state): State<ApiState>) -> Json<Value> {
    let links = state.links.links();
    Json(json!({ "links": links.iter().map(link_json).collect::<Vec<_>>() }))
}

/// Query of `/api/v1/faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultQuery {
    /// Only this link's faults.
    link: Option<String>,
}

async fn list_faults(State(state): State<ApiState>, Query(q): Query<FaultQuery>) -> Response {
    let stored = match state.store.faults(q.link.clone()).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot read link faults");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "cannot read faults from the store; retry later" })),
            )
                .into_response();
        }
    };
    let live = state.links.faults(q.link.as_deref());
    Json(json!({ "faults": merge(stored, live).iter().map(fault_json).collect::<Vec<_>>() }))
        .into_response()
}

async fn list_runs(State(state): State<ApiState>) -> Response {
    // Beside the runs: the listening periods inferred by imports, the same evidence for
    // imported history (docs/sla-operations.md), so that an operator can audit both.
    let listed = match state.store.collector_runs().await {
        Ok(runs) => state
            .store
            .listening_periods()
            .await
            .map(|listening| (runs, listening)),
        Err(e) => Err(e),
    };
    match listed {
        Ok((runs, listening)) => {
            Json(json!({ "runs": runs, "imported_listening": listening })).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read collector runs");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "error": "cannot read collector runs from the store; retry later" })),
            )
                .into_response()
        }
    }
}

/// Stored faults plus the engine's, without listing one fault twice: an engine fault that
/// overlaps a stored fault of the same link is that fault (settled a moment ago, or seen
/// again with a start cut at the replay horizon), and the stored one wins.
fn merge(stored: Vec<Fault>, live: Vec<Fault>) -> Vec<Fault> {
    let overlaps = |a: &Fault, b: &Fault| {
        let end = |f: &Fault| f.end_unix_ms.unwrap_or(i64::MAX);
        a.link_id == b.link_id && a.start_unix_ms < end(b) && b.start_unix_ms < end(a)
    };
    let mut out = stored;
    let extra: Vec<Fault> = live
        .into_iter()
        .filter(|l| !out.iter().any(|s| overlaps(s, l)))
        .collect();
    out.extend(extra);
    out.sort_by(|a, b| (a.start_unix_ms, &a.link_id).cmp(&(b.start_unix_ms, &b.link_id)));
    out
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use zerofault_protocol::{LinkResult, LossRun, Report};

    use super::*;
    use crate::live::links::Links;
    use crate::store::SqliteStore;

    const T0: i64 = 1_767_225_600_000;

    /// A 30 s window of 30 probes: `lost` of them lost from probe `from` on.
    fn window(link: &str, start_s: i64, from: i64, lost: u32) -> LinkResult {
        let start = T0 + start_s * 1000;
        let runs = if lost == 0 {
            vec![]
        } else {
            vec![LossRun {
                first_lost_unix_ms: start + from * 1000,
                last_lost_unix_ms: start + (from + i64::from(lost) - 1) * 1000,
                count: lost,
                open_start: from == 0,
                open_end: from + i64::from(lost) == 30,
            }]
        };
        LinkResult {
            link_id: link.into(),
            kind: "icmp".into(),
            target: "198.18.0.2".into(),
            level: "county-township".into(),
            domain: "public".into(),
            window_start_unix_ms: start,
            window_end_unix_ms: start + 30_000,
            probe_interval_ms: 1000,
            sent: 30,
            received: 30 - lost,
            loss_ratio: f64::from(lost) / 30.0,
            rtt_avg_seconds: if lost == 30 { 0.0 } else { 0.004 },
            loss_runs: runs,
            first_probe_unix_ms: start,
            last_probe_unix_ms: start + 29_000,
            ..Default::default()
        }
    }

    fn report(agent: &str, links: Vec<LinkResult>) -> Report {
        Report {
            agent_id: agent.into(),
            links,
            ..Default::default()
        }
    }

    async fn get(app: Router, path: &str) -> (StatusCode, Value) {
        let resp = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn links_and_faults_closed_and_ongoing() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
        let hub = Arc::new(LinkHub::new(Links::default()));
        // Link "ct-1": a 70 s outage [20 s, 90 s), then up. Link "ct-2": down since 10 s.
        let windows = [
            (window("ct-1", 0, 20, 10), window("ct-2", 0, 10, 20)),
            (window("ct-1", 30, 0, 30), window("ct-2", 30, 0, 30)),
            (window("ct-1", 60, 0, 30), window("ct-2", 60, 0, 30)),
            (window("ct-1", 90, 0, 0), window("ct-2", 90, 0, 30)),
            (window("ct-1", 120, 0, 0), window("ct-2", 120, 0, 30)),
        ];
        for (a, b) in windows {
            let faults = hub.observe_report(&report("web-01", vec![a, b]));
            if !faults.is_empty() {
                store.insert_faults(faults).await.unwrap();
            }
        }
        let app = router(hub, store.clone());

        let (status, body) = get(app.clone(), LINKS_PATH).await;
        assert_eq!(status, StatusCode::OK);
        let links = body["links"].as_array().unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0]["link"], "ct-1");
        assert_eq!(links[0]["state"], "up");
        assert_eq!(links[0]["level"], "county-township");
        assert_eq!(links[0]["faults_total"], 1);
        assert_eq!(links[0]["down_seconds_total"], 70.0);
        let v = &links[0]["vantages"][0];
        assert_eq!(v["agent"], "web-01");
        assert_eq!(v["loss_ratio"], 0.0);
        assert_eq!(v["rtt_avg_seconds"], 0.004);
        assert_eq!(v["probes_sent_total"], 150);
        assert_eq!(v["probes_received_total"], 80);
        assert_eq!(links[1]["state"], "down");
        assert_eq!(links[1]["vantages"][0]["rtt_avg_seconds"], Value::Null);

        let (_, body) = get(app.clone(), FAULTS_PATH).await;
        let faults = body["faults"].as_array().unwrap();
        assert_eq!(faults.len(), 2, "{body}");
        assert_eq!(faults[0]["link"], "ct-2");
        assert_eq!(faults[0]["start_unix_ms"], T0 + 10_000);
        assert_eq!(faults[0]["end_unix_ms"], Value::Null);
        assert_eq!(faults[0]["ongoing"], true);
        assert_eq!(faults[0]["duration_seconds"], 140.0);
        assert_eq!(faults[1]["link"], "ct-1");
        assert_eq!(faults[1]["start_unix_ms"], T0 + 20_000);
        assert_eq!(faults[1]["end_unix_ms"], T0 + 90_000);
        assert_eq!(faults[1]["duration_seconds"], 70.0);
        assert_eq!(faults[1]["agents"], json!(["web-01"]));
        assert_eq!(faults[1]["settled"], true);
        // The closed one is in the store, listed once.
        assert_eq!(store.faults(None).await.unwrap().len(), 1);

        let (_, body) = get(app.clone(), &format!("{FAULTS_PATH}?link=ct-1")).await;
        assert_eq!(body["faults"].as_array().unwrap().len(), 1);
        let (_, body) = get(app.clone(), &format!("{FAULTS_PATH}?link=nope")).await;
        assert_eq!(body["faults"], json!([]));
        let (status, _) = app
            .oneshot(
                Request::get(format!("{FAULTS_PATH}?lnk=x"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .map(|r| (r.status(), ()))
            .unwrap();
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_fault_cut_at_the_replay_horizon_is_listed_once() {
        let f = |start, end| Fault {
            link_id: "l".into(),
            level: String::new(),
            domain: String::new(),
            start_unix_ms: start,
            end_unix_ms: end,
            duration_ms: end.unwrap_or(500) - start,
            agents: vec![],
            settled: end.is_some(),
        };
        let merged = merge(
            vec![f(100, Some(300))],
            vec![f(200, Some(300)), f(400, None)],
        );
        assert_eq!(merged, [f(100, Some(300)), f(400, None)]);
    }
}
