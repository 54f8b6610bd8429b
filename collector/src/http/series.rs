//! The downsampled series API on the plain-HTTP listener (JSON; documented in
//! `docs/series.md`), what the cockpit's 24 h / 7 d / 30 d charts draw:
//!
//! * `GET /api/v1/hosts/{agent}/series?from=MS&to=MS`: the host's capacity figures;
//! * `GET /api/v1/links/{link}/series?from=MS&to=MS`: the link's loss, RTT and jitter, per
//!   vantage point.
//!
//! One point per 5-minute slot that has data: `{t, min, avg, max, count}`, `t` the slot
//! start (ms since the Unix epoch), values in the figure's unit (ratio 0-1, seconds, load);
//! a counter (disk busy time, pressure stall time) as its rate over the slot in all three.
//! `from` and `to` default to the last 24 hours; a request spans at most 31 days, so an
//! answer holds at most 8,928 slots of a host.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::series::slot::{self, Figure, Kind, MAX_LINK_ID_BYTES, SLOT_MS};
use crate::store::Store;

#[cfg(test)]
mod tests;

/// Path of a host's series.
pub const HOST_SERIES_PATH: &str = "/api/v1/hosts/{agent}/series";
/// Path of a link's series.
pub const LINK_SERIES_PATH: &str = "/api/v1/links/{link}/series";
/// Longest span of one request: a 30-day chart with a day of margin.
pub const MAX_SPAN_MS: i64 = 31 * 86_400_000;
/// Span when `from` is not given.
pub const DEFAULT_SPAN_MS: i64 = 86_400_000;
/// Most hour rows of a link read for one answer (its vantage points together; 12 slots
/// each): 13 vantage points over 31 days. Past it the answer says `truncated`, and a shorter
/// span gets the rest.
pub const MAX_LINK_ROWS: usize = 10_000;

/// Query of both paths.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Span {
    /// Start, ms since the Unix epoch (inclusive); default `to` minus 24 hours.
    from: Option<i64>,
    /// End, ms (exclusive); default now.
    to: Option<i64>,
}

/// The series routes.
pub fn router(store: Arc<dyn Store>) -> Router {
    Router::new()
        .route(HOST_SERIES_PATH, get(host_series))
        .route(LINK_SERIES_PATH, get(link_series))
        .with_state(store)
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn unavailable(e: crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "cannot read series");
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "cannot read the series from the store; retry later".into(),
    )
}

/// Points of one figure, by (kind, name): what one host or vantage point answers.
type ByFigure = BTreeMap<(u32, String), (Kind, Vec<Value>)>;

/// `[from, to)` of a request, bounded before anything is read; the refusal's message.
fn bounds(span: &Span, now_ms: i64) -> Result<(i64, i64), String> {
    let to = span.to.unwrap_or(now_ms);
    let from = span.from.unwrap_or(to.saturating_sub(DEFAULT_SPAN_MS));
    if from >= to {
        return Err(format!("from ({from}) must be before to ({to})"));
    }
    if to.saturating_sub(from) > MAX_SPAN_MS {
        return Err(format!(
            "from..to spans more than 31 days ({MAX_SPAN_MS} ms); ask for a shorter span"
        ));
    }
    // A slot that started before `from` but is still running at it belongs to the chart.
    Ok((from.saturating_sub(SLOT_MS - 1), to))
}

/// Figures of one slot into per-(kind, name) point lists. What [`slot::shown`] does not
/// show (report times, a counter without a rate, a kind written by a newer collector) has
/// no point.
fn collect(t: i64, figures: &[Figure], into: &mut BTreeMap<(u32, String), (Kind, Vec<Value>)>) {
    for f in figures {
        let (Some(kind), Some((min, avg, max))) = (Kind::from_u32(f.kind), slot::shown(f, figures))
        else {
            continue;
        };
        into.entry((f.kind, f.name.clone()))
            .or_insert_with(|| (kind, Vec::new()))
            .1
            .push(json!({ "t": t, "min": min, "avg": avg, "max": max, "count": f.count }));
    }
}

fn series_json(by_figure: ByFigure) -> Vec<Value> {
    by_figure
        .into_iter()
        .map(|((_, name), (kind, points))| {
            let mut s = json!({ "figure": kind.api_name(), "points": points });
            if let Some(field) = kind.name_field() {
                s[field] = Value::String(name);
            }
            s
        })
        .collect()
}

async fn host_series(
    State(store): State<Arc<dyn Store>>,
    Path(agent): Path<String>,
    Query(span): Query<Span>,
) -> Response {
    if !zerofault_protocol::is_valid_agent_id(&agent) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the agent id must be 1 to 128 ASCII letters, digits, '.', '_' or '-'".into(),
        );
    }
    let (from, to) = match bounds(&span, zerofault_common::now_unix_ms()) {
        Ok(b) => b,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let limit = (MAX_SPAN_MS / SLOT_MS) as usize + 2;
    let rows = match store.host_series(agent.clone(), from, to, limit).await {
        Ok(rows) => rows,
        Err(e) => return unavailable(e),
    };
    let mut by_figure = BTreeMap::new();
    for (t, figures) in &rows {
        collect(*t, figures, &mut by_figure);
    }
    Json(json!({
        "agent": agent,
        "from_unix_ms": span.from.unwrap_or(to - DEFAULT_SPAN_MS),
        "to_unix_ms": to,
        "slot_seconds": SLOT_MS / 1000,
        "series": series_json(by_figure),
    }))
    .into_response()
}

async fn link_series(
    State(store): State<Arc<dyn Store>>,
    Path(link): Path<String>,
    Query(span): Query<Span>,
) -> Response {
    if link.is_empty() || link.len() > MAX_LINK_ID_BYTES {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("the link id must be 1 to {MAX_LINK_ID_BYTES} bytes"),
        );
    }
    let (from, to) = match bounds(&span, zerofault_common::now_unix_ms()) {
        Ok(b) => b,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let read = match store
        .link_series(link.clone(), from, to, MAX_LINK_ROWS)
        .await
    {
        Ok(read) => read,
        Err(e) => return unavailable(e),
    };
    let mut by_agent: BTreeMap<String, ByFigure> = BTreeMap::new();
    for r in &read.slots {
        collect(
            r.slot_start_ms,
            &r.row.figures,
            by_agent.entry(r.agent_id.clone()).or_default(),
        );
    }
    let vantages: Vec<Value> = by_agent
        .into_iter()
        .map(|(agent, figures)| json!({ "agent": agent, "series": series_json(figures) }))
        .collect();
    Json(json!({
        "link": link,
        "from_unix_ms": span.from.unwrap_or(to - DEFAULT_SPAN_MS),
        "to_unix_ms": to,
        "slot_seconds": SLOT_MS / 1000,
        "vantages": vantages,
        "truncated": read.truncated,
    }))
    .into_response()
}
