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
    let listed = match state.store.instance_runs().await {
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
mod tests;
