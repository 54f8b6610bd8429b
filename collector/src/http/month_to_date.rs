//! `GET /api/v1/month-to-date`: the figures of the month in progress as the background
//! computation last made them (`month::to_date`), read from memory: answering costs the
//! serialisation of what is asked, never a month's computation.
//!
//! Always answered: the month, when it was computed and up to when (`as_of_unix_ms`), its age,
//! the collector gaps and the group rows (business systems, departments, data centers,
//! backbone levels), which are small. `rows=hosts,links,incidents,capacity` (any of them,
//! comma-separated) adds those sections; host and link rows are paged by `offset` and `limit`
//! (default 1,000, at most [`MAX_LIMIT`]), so that one request's answer is bounded at
//! province size. `503` with `Retry-After` until the first computation ends.

use std::collections::BTreeSet;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::month::to_date::Latest;

/// Path of the month-to-date figures.
pub const MONTH_TO_DATE_PATH: &str = "/api/v1/month-to-date";
/// Default page of host and link rows.
pub const DEFAULT_LIMIT: usize = 1_000;
/// Largest page of host and link rows.
pub const MAX_LIMIT: usize = 10_000;
/// Sections that `rows` may add.
const SECTIONS: [&str; 4] = ["hosts", "links", "incidents", "capacity"];

/// The route.
pub fn router(latest: Latest) -> Router {
    Router::new()
        .route(MONTH_TO_DATE_PATH, get(month_to_date))
        .with_state(latest)
}

/// A request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    rows: BTreeSet<&'static str>,
    offset: usize,
    limit: usize,
}

fn parse(pairs: &[(String, String)]) -> Result<Params, String> {
    let mut p = Params {
        rows: BTreeSet::new(),
        offset: 0,
        limit: DEFAULT_LIMIT,
    };
    let mut seen = BTreeSet::new();
    for (key, value) in pairs {
        if !seen.insert(key.as_str()) {
            return Err(format!("parameter {key} is given twice"));
        }
        match key.as_str() {
            "rows" => {
                for r in value.split(',').filter(|r| !r.is_empty()) {
                    let Some(s) = SECTIONS.iter().find(|s| **s == r) else {
                        return Err(format!(
                            "rows: {r:?} is not a section; use any of {}",
                            SECTIONS.join(", ")
                        ));
                    };
                    p.rows.insert(s);
                }
            }
            "offset" => {
                p.offset = value
                    .parse()
                    .map_err(|_| format!("offset: {value:?} is not a row number"))?;
            }
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => p.limit = n,
                _ => return Err(format!("limit: {value:?} is not 1 to {MAX_LIMIT}")),
            },
            _ => {
                return Err(format!(
                    "unknown parameter {key:?}; accepted: rows, offset, limit"
                ));
            }
        }
    }
    Ok(p)
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn month_to_date(
    State(latest): State<Latest>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let pairs = match query {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("cannot read the query string: {e}"),
            );
        }
    };
    let p = match parse(&pairs) {
        Ok(p) => p,
        Err(message) => return refuse(StatusCode::BAD_REQUEST, message),
    };
    let Some(snap) = latest.get() else {
        let mut resp = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the month to date is being computed for the first time (month_to_date.enabled must be true); retry shortly".into(),
        );
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(30));
        return resp;
    };
    let r = &snap.report;
    let page = |n: usize| p.offset.min(n)..p.offset.saturating_add(p.limit).min(n);
    let now = zerofault_common::now_unix_ms();
    let mut body = json!({
        "month": r.month,
        "time_zone": r.time_zone,
        "lang": r.lang,
        "start_unix_ms": r.start_unix_ms,
        "as_of_unix_ms": r.covered_end_unix_ms(),
        "computed_unix_ms": snap.computed_unix_ms,
        "age_seconds": (now - snap.computed_unix_ms).max(0) / 1000,
        "took_ms": snap.took_ms,
        "host_count": r.hosts.len(),
        "link_count": r.links.len(),
        "collector_gaps": r.collector_gaps,
        "business_systems": r.business_systems,
        "departments": r.departments,
        "data_centers": r.data_centers,
        "backbone": r.backbone,
    });
    let add = |body: &mut Value, key: &str, v: Value| {
        body.as_object_mut()
            .expect("an object")
            .insert(key.to_owned(), v);
    };
    if p.rows.contains("hosts") {
        add(&mut body, "hosts", json!(r.hosts[page(r.hosts.len())]));
    }
    if p.rows.contains("links") {
        add(&mut body, "links", json!(r.links[page(r.links.len())]));
    }
    if p.rows.contains("incidents") {
        add(&mut body, "incidents", json!(r.incidents));
    }
    if p.rows.contains("capacity") {
        add(&mut body, "capacity", json!(r.capacity));
    }
    (
        // Figures change with each computation.
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Result<Params, String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse(&owned)
    }

    #[test]
    fn parameters_are_checked_and_bounded() {
        let p = q(&[]).unwrap();
        assert!(p.rows.is_empty());
        assert_eq!((p.offset, p.limit), (0, DEFAULT_LIMIT));
        let p = q(&[("rows", "hosts,links"), ("offset", "10"), ("limit", "5")]).unwrap();
        assert_eq!(p.rows.into_iter().collect::<Vec<_>>(), ["hosts", "links"]);
        assert_eq!((p.offset, p.limit), (10, 5));
        for (bad, says) in [
            (vec![("rows", "hosts,secrets")], "not a section"),
            (vec![("limit", "0")], "1 to 10000"),
            (vec![("limit", "10001")], "1 to 10000"),
            (vec![("offset", "-1")], "not a row number"),
            (vec![("month", "2026-01")], "unknown parameter"),
            (vec![("rows", "hosts"), ("rows", "links")], "twice"),
        ] {
            let e = q(&bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_503_until_computed_then_pages_from_memory() {
        use std::sync::Arc;

        use axum::body::Body;
        use axum::http::Request;
        use http_body_util::BodyExt;
        use tower::ServiceExt;

        use crate::inventory::Inventory;
        use crate::live::links::Links;
        use crate::month::to_date::{MonthToDate, Runner};
        use crate::store::contract::real_report;
        use crate::store::{SqliteStore, Store};

        const T: i64 = 1_773_072_000_000; // 2026-03-10 00:00 Shanghai
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
        for agent in ["a", "b", "c"] {
            for seq in 1..=8u64 {
                let t = T + seq as i64 * 15_000;
                store
                    .insert(real_report(agent, "x", seq, 100 + 15 * seq, t, t + 5))
                    .await
                    .unwrap();
            }
        }
        let latest = Latest::default();
        let app = router(latest.clone());
        let get = |path: &'static str| {
            let app = app.clone();
            async move {
                let resp = app
                    .oneshot(Request::get(path).body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let status = resp.status();
                let retry = resp.headers().get(header::RETRY_AFTER).cloned();
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                (
                    status,
                    retry,
                    serde_json::from_slice::<Value>(&body).unwrap(),
                )
            }
        };
        let (status, retry, _) = get("/api/v1/month-to-date").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(retry.is_some());

        let runner = Runner {
            store,
            inventory: Arc::new(Inventory::default()),
            links: Arc::new(Links::default()),
            settings: MonthToDate::default(),
            computations: crate::month::to_date::Computations::default(),
            latest,
        };
        assert!(runner.once(T + 600_000).await);
        let (status, _, body) = get("/api/v1/month-to-date").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["month"], "2026-03");
        assert_eq!(body["host_count"], 3);
        assert!(body.get("hosts").is_none(), "hosts only when asked");
        assert!(body["departments"].is_array());
        let (_, _, body) = get("/api/v1/month-to-date?rows=hosts&offset=1&limit=1").await;
        let hosts = body["hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0]["agent_id"], "b");
        let (_, _, body) = get("/api/v1/month-to-date?rows=hosts&offset=9").await;
        assert_eq!(body["hosts"].as_array().unwrap().len(), 0);
        let (status, _, body) = get("/api/v1/month-to-date?rows=nope").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"].as_str().unwrap().contains("not a section"));
    }
}
