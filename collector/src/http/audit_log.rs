//! `GET /api/v1/audit`: the audit log for the **audit role** (`access.users[].role: audit`),
//! and for no one else: not for `viewer` users, and not on a listener without users, where
//! every other path is open (the HTTP access gate lets the request through without a user;
//! this route then refuses it). So the audit log is read by the collector's user (the
//! database, `audit export`) and by auditors with their own logins, each read itself an
//! audit record (`audit.read`), written before the page is served.
//!
//! `?after=SEQ` (default 0) and `?limit=N` (default and most: [`MAX_AUDIT_PAGE`]) page through
//! it; the answer is JSON lines, one record per line in the `audit export` format, so a page
//! verifies with `audit verify --file PAGE --start-after SEQ:HASH` (the hash of the record
//! before it, the last line of the previous page). `x-zerofault-audit-next` names the `after`
//! of the next page when this one is full.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::audit::{Audit, events};
use crate::store::Store;
use crate::store::security::MAX_AUDIT_PAGE;

/// The route's path.
pub const AUDIT_PATH: &str = super::access::AUDIT_LOG_PATH;
/// Response header: the `after` of the next page, on a full page.
pub const NEXT_HEADER: &str = "x-zerofault-audit-next";

#[derive(Debug, Clone)]
struct AuditState {
    store: std::sync::Arc<dyn Store>,
    audit: Audit,
}

/// The query: bounded numbers only (anything else is refused by the extractor: 400).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

/// The route, reading `store` and recording each read in `audit`.
pub fn router(store: std::sync::Arc<dyn Store>, audit: Audit) -> Router {
    Router::new()
        .route(AUDIT_PATH, get(read))
        .with_state(AuditState { store, audit })
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, format!("{why}\n")).into_response()
}

async fn read(
    State(state): State<AuditState>,
    extensions: axum::http::Extensions,
    query: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // The access gate puts the user in only for a verified login whose role covers this
    // path (the audit role); an open listener lets everyone through without one.
    let Some(user) = extensions.get::<super::access::HttpUser>().cloned() else {
        return refuse(
            StatusCode::FORBIDDEN,
            "the audit log is served only to users of role audit (access.users)",
        );
    };
    let Ok(Query(page)) = query else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the query takes after=SEQ and limit=N (whole numbers) only",
        );
    };
    // Sequence numbers are stored as signed 64-bit integers.
    if i64::try_from(page.after).is_err() {
        return refuse(StatusCode::BAD_REQUEST, "after is past any record");
    }
    let limit = page
        .limit
        .unwrap_or(MAX_AUDIT_PAGE)
        .clamp(1, MAX_AUDIT_PAGE);
    let records = match state.store.audit_page(page.after, limit).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the audit log for an auditor");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot read the audit log; retry later",
            );
        }
    };
    let source =
        super::peer_addr(&extensions).map_or_else(|| "-".to_owned(), |a| a.ip().to_string());
    // On record before it is served: a read that cannot be recorded is not answered.
    let read = events::audit_read(&user.0, source, page.after, records.len() as u64);
    if let Err(e) = state.audit.write(read).await {
        tracing::warn!(error = %e, "cannot record an auditor's read of the audit log");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot record this read in the audit log; retry later",
        );
    }
    let mut body = Vec::with_capacity(records.len() * 400);
    for r in &records {
        if crate::audit::verify::write_line(&mut body, r).is_err() {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "a record could not be written",
            );
        }
    }
    let mut resp = (
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    if records.len() == limit
        && let Some(last) = records.last()
        && let Ok(v) = last.seq.to_string().parse()
    {
        resp.headers_mut().insert(NEXT_HEADER, v);
    }
    resp
}

#[cfg(test)]
mod tests;
