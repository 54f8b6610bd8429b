//! The ingest endpoint, `POST /api/v1/report` (contract: `docs/architecture.md`).
//!
//! [`router`] is plain axum and knows nothing of TLS: the [`listener`] puts the verified
//! [`ClientIdentity`] of each connection into every request's extensions, and tests insert
//! it directly. Checks run cheapest first, so that a refused request costs as little as
//! possible: identity, headers, size, decompression, decoding, validation, identity match.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use zerofault_protocol::{
    CONTENT_TYPE, DecodeError, INGEST_PATH, PROTOCOL_VERSION, Report, VERSION_HEADER,
};

use crate::links::LinkHub;
use crate::state::{HostTable, IngestCounters, RejectReason};
use crate::store::{InsertOutcome, Store, StoreError, StoredReport};

pub mod listener;

/// Who is on the other end of a request: set by the TLS listener from the verified client
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject common name of the client certificate = the agent id; `None` when the client
    /// presented no certificate (or one without a common name).
    pub common_name: Option<String>,
    /// Remote address, for logs.
    pub peer_addr: SocketAddr,
}

/// Size caps of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Largest compressed body.
    pub max_body_bytes: usize,
    /// Largest decompressed report.
    pub max_decompressed_bytes: usize,
}

impl From<crate::config::Limits> for IngestLimits {
    fn from(l: crate::config::Limits) -> Self {
        // The config caps both at 1 GiB, which fits usize on every supported target.
        Self {
            max_body_bytes: usize::try_from(l.max_body_bytes).unwrap_or(usize::MAX),
            max_decompressed_bytes: usize::try_from(l.max_decompressed_bytes).unwrap_or(usize::MAX),
        }
    }
}

/// Everything the ingest handler needs.
#[derive(Debug, Clone)]
pub struct IngestState {
    /// Where reports are committed.
    pub store: Arc<dyn Store>,
    /// Newest report per agent.
    pub hosts: Arc<HostTable>,
    /// Self-metrics.
    pub counters: Arc<IngestCounters>,
    /// Link engine and interface tracker, fed with every newly stored report.
    pub links: Arc<LinkHub>,
    /// Size caps.
    pub limits: IngestLimits,
}

/// The ingest router: `POST /api/v1/report`.
pub fn router(state: IngestState) -> axum::Router {
    axum::Router::new()
        .route(INGEST_PATH, post(report))
        .with_state(state)
}

/// A refused request: status, reason for the counters, and the message for the agent.
#[derive(Debug)]
struct Rejection {
    status: StatusCode,
    reason: RejectReason,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn report(State(state): State<IngestState>, request: Request) -> Response {
    match ingest(&state, request).await {
        Ok(outcome) => Json(serde_json::json!({ "status": outcome.as_str() })).into_response(),
        Err(r) => {
            state.counters.rejected(r.reason);
            tracing::debug!(status = %r.status, reason = r.reason.as_str(), error = %r.message, "report refused");
            json_error(r.status, &r.message)
        }
    }
}

async fn ingest(state: &IngestState, request: Request) -> Result<InsertOutcome, Rejection> {
    let (parts, body) = request.into_parts();
    let identity = parts.extensions.get::<ClientIdentity>();
    let Some(agent) = identity.and_then(|i| i.common_name.clone()) else {
        return Err(Rejection::new(
            StatusCode::UNAUTHORIZED,
            RejectReason::NoClientCertificate,
            "a client certificate with a subject common name (the agent id) is required",
        ));
    };
    let peer = identity.map(|i| i.peer_addr);

    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Media types are case-insensitive and may carry parameters.
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(CONTENT_TYPE) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RejectReason::Malformed,
            format!("Content-Type must be {CONTENT_TYPE}, got {content_type:?}"),
        ));
    }

    let version = parts
        .headers
        .get(VERSION_HEADER)
        .and_then(|v| v.to_str().ok());
    match version.map(str::trim) {
        None => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                RejectReason::Malformed,
                format!(
                    "header {VERSION_HEADER} is missing; this collector speaks {PROTOCOL_VERSION}"
                ),
            ));
        }
        Some(v) if v != PROTOCOL_VERSION.to_string() => {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                RejectReason::Invalid,
                format!(
                    "protocol version {v:?} in {VERSION_HEADER} is not supported; this collector speaks {PROTOCOL_VERSION}"
                ),
            ));
        }
        Some(_) => {}
    }

    let too_large = || {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            RejectReason::TooLarge,
            format!(
                "body exceeds limits.max_body_bytes = {} bytes",
                state.limits.max_body_bytes
            ),
        )
    };
    // Refuse on the declared length before reading anything; Limited below still enforces
    // the cap on chunked or lying bodies.
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > state.limits.max_body_bytes as u64) {
        // Read and discard a moderately oversized body before answering: closing a socket
        // with unread data makes the kernel send a reset, which can destroy the 413 before
        // the client reads it, leaving the agent's operator with "broken pipe" instead of
        // the reason. Bounded in bytes and time so a huge upload costs nothing.
        let cap = (state.limits.max_body_bytes as u64)
            .saturating_mul(4)
            .min(16 << 20);
        if n <= cap {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), drain(body, cap)).await;
        }
        return Err(too_large());
    }
    let body = read_body(body, state.limits.max_body_bytes)
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                too_large()
            } else {
                Rejection::new(
                    StatusCode::BAD_REQUEST,
                    RejectReason::Malformed,
                    format!("cannot read the request body: {e}"),
                )
            }
        })?;

    let raw = zerofault_protocol::decompress_bounded(&body, state.limits.max_decompressed_bytes)
        .map_err(|e| match e {
            DecodeError::TooLarge { limit_bytes } => Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                RejectReason::TooLarge,
                format!(
                    "decompressed report exceeds limits.max_decompressed_bytes = {limit_bytes} bytes"
                ),
            ),
            other => Rejection::new(StatusCode::BAD_REQUEST, RejectReason::Malformed, other.to_string()),
        })?;
    let report = <Report as prost::Message>::decode(raw.as_slice()).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            RejectReason::Malformed,
            DecodeError::Protobuf(e).to_string(),
        )
    })?;
    report
        .validate(&zerofault_protocol::Limits::default())
        .map_err(|e| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                RejectReason::Invalid,
                e.to_string(),
            )
        })?;

    if report.agent_id != agent {
        tracing::warn!(
            certificate_cn = %agent,
            report_agent_id = %report.agent_id,
            peer = ?peer,
            "report refused: agent id differs from the client certificate"
        );
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            RejectReason::AgentIdMismatch,
            format!(
                "report agent_id {:?} differs from the client certificate common name {agent:?}",
                report.agent_id
            ),
        ));
    }

    let received_ms = now_unix_ms();
    let stored = StoredReport {
        agent_id: report.agent_id.clone(),
        boot_id: report.boot_id.clone(),
        sequence: report.sequence,
        agent_timestamp_ms: report.timestamp_unix_ms,
        received_ms,
        body: raw,
        link_data: !report.links.is_empty() || !report.interface_transitions.is_empty(),
    };
    // hyper drops this future when the client goes away, which can happen right after the
    // commit (an agent stopped just after sending); in its own task the bookkeeping of a
    // committed report still runs, so the in-memory figures match what a restart rebuilds.
    let committed = tokio::spawn(commit(state.clone(), stored, report, received_ms)).await;
    let storage_unavailable = || {
        Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            RejectReason::Storage,
            "the collector cannot store reports right now; retry later",
        )
    };
    match committed {
        Ok(Ok(outcome)) => Ok(outcome),
        Ok(Err(e)) => {
            tracing::error!(error = %e, agent = %agent, "cannot store report");
            Err(storage_unavailable())
        }
        // A panic or a runtime shutting down: the report may be committed, but unanswered
        // the agent keeps it and resends, and a resend is acknowledged as a duplicate.
        Err(e) => {
            tracing::error!(error = %e, agent = %agent, "storing the report did not finish");
            Err(storage_unavailable())
        }
    }
}

/// Commits `stored` and, if it is new, feeds `report` to the in-memory figures.
async fn commit(
    state: IngestState,
    stored: StoredReport,
    report: Report,
    received_ms: i64,
) -> Result<InsertOutcome, StoreError> {
    let outcome = state.store.insert(stored).await?;
    match outcome {
        InsertOutcome::Stored => {
            state.counters.accepted();
            // After the commit, so the engine only ever holds what a restart can replay.
            let faults = state.links.observe_report(&report);
            state.hosts.record_stored(report, received_ms);
            if !faults.is_empty() {
                store_faults(state.store.as_ref(), faults).await;
            }
        }
        // A duplicate carries nothing new; updating would only move the receive time of a
        // replayed, older report, and feeding the link engine again would be ignored anyway.
        InsertOutcome::Duplicate => state.counters.duplicate(),
    }
    Ok(outcome)
}

/// Stores faults that became final. A failure is logged and not retried here: the report is
/// committed, and the next start-up replay derives the same faults and stores them.
pub async fn store_faults(store: &dyn Store, faults: Vec<crate::links::Fault>) {
    let n = faults.len();
    match store.insert_faults(faults).await {
        Ok(new) => tracing::info!(faults = n, new, "link faults recorded"),
        Err(e) => {
            tracing::error!(error = %e, faults = n, "cannot store link faults; they are stored again at the next start-up")
        }
    }
}

/// Reads and discards up to `cap` bytes of `body`.
async fn drain(mut body: axum::body::Body, cap: u64) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            seen += data.len() as u64;
            if seen > cap {
                break;
            }
        }
    }
}

async fn read_body(
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes, Box<dyn std::error::Error + Send + Sync>> {
    Ok(Limited::new(body, limit).collect().await?.to_bytes())
}

pub use zerofault_common::now_unix_ms;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;
    use zerofault_protocol::Labels;

    use crate::config::Links;
    use crate::inventory::Inventory;
    use crate::store::SqliteStore;

    const INVENTORY: &str = "\
departments:
  - {code: fgw, name_zh: 发改委, name_en: Development and Reform}
sites:
  - {code: city-gz, name_zh: 城区, name_en: City, level: city, domain: administrative}
";

    /// An agent whose department the inventory does not declare, with a declared site and
    /// no business system or data center.
    fn report() -> Report {
        Report {
            protocol_version: PROTOCOL_VERSION,
            agent_id: "web-01".into(),
            hostname: "web-01.example".into(),
            boot_id: "6f1c1f0e-6a8e-4c57-9d1e-0c4a3a0c2b11".into(),
            boot_time_unix_seconds: 1_700_000_000,
            sequence: 1,
            timestamp_unix_ms: 1_700_000_115_000,
            interval_ms: 15_000,
            labels: Some(Labels {
                department: "fgw-typo".into(),
                site: "city-gz".into(),
                ..Default::default()
            }),
            agent_version: "0.1.0".into(),
            ..Default::default()
        }
    }

    async fn body(resp: Response) -> String {
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_report_with_an_unknown_label_is_stored_and_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let inventory = Inventory::parse(INVENTORY, &dir.path().join("inventory.yaml")).unwrap();
        inventory.validate().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
        let hosts = Arc::new(HostTable::default().with_inventory(Arc::new(inventory)));
        let counters = Arc::new(IngestCounters::default());
        let links = Arc::new(LinkHub::new(Links::default()));
        let ingest = router(IngestState {
            store: store.clone(),
            hosts: hosts.clone(),
            counters: counters.clone(),
            links: links.clone(),
            limits: IngestLimits {
                max_body_bytes: 4096,
                max_decompressed_bytes: 64 * 1024,
            },
        });
        let expose = crate::expose::router(crate::expose::HttpState {
            hosts: hosts.clone(),
            counters,
            links,
            store: store.clone(),
            down_after_intervals: 3,
        });

        let mut req = Request::post(INGEST_PATH)
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
            .body(Body::from(zerofault_protocol::encode_report(&report())))
            .unwrap();
        req.extensions_mut().insert(ClientIdentity {
            common_name: Some("web-01".into()),
            peer_addr: "192.0.2.7:40000".parse().unwrap(),
        });
        let resp = ingest.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(body(resp).await, r#"{"status":"stored"}"#);
        // Stored and held as the host's newest report, unknown label and all.
        assert_eq!(store.count_reports().await.unwrap(), 1);
        assert_eq!(hosts.snapshot()[0].report, report());

        let resp = expose
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let text = body(resp).await;
        let unknown: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("zerofault_agent_unknown_label{"))
            .collect();
        assert_eq!(
            unknown,
            [
                r#"zerofault_agent_unknown_label{agent="web-01",label="department",value="fgw-typo"} 1"#
            ]
        );
        assert!(
            text.lines().any(|l| l == "zerofault_inventory_loaded 1"),
            "{text}"
        );
        // Counted under the value it sent, like any other department.
        assert!(
            text.contains(r#"zerofault_department_hosts{department="fgw-typo",state="up"} 1"#),
            "{text}"
        );
    }
}
