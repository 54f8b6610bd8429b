//! The ingest endpoint, `POST /api/v1/report` (contract: `docs/architecture.md`).
//!
//! [`router`] is plain axum and knows nothing of TLS: the [`listener`] puts the verified
//! [`ClientIdentity`] of each connection into every request's extensions, and tests insert
//! it directly. Checks run cheapest first, so that a refused request costs as little as
//! possible: identity, headers, size, decompression, decoding, validation, identity match.
//! What a report itself must meet, from decompression on, is [`accept`]'s rule, which
//! `import` applies too.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;
use tokio::sync::Semaphore;
use zerofault_protocol::{CONTENT_TYPE, INGEST_PATH, PROTOCOL_VERSION, Report, VERSION_HEADER};

use crate::live::hosts::{HostTable, IngestCounters, RejectReason};
use crate::live::ingest::accept::ReportRefusal;
use crate::live::links::LinkHub;
use crate::store::{InsertOutcome, Store, StoreError, StoredReport};

pub mod accept;
pub mod connections;
pub mod listener;
pub mod parked;
pub mod rate;
pub mod settings;
pub mod turns;

/// Who is on the other end of a request: set by the TLS listener from the verified client
/// certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Subject common name of the client certificate = the agent id; `None` when the client
    /// presented no certificate (or one without a common name).
    pub common_name: Option<String>,
    /// Remote address, for logs.
    pub peer_addr: SocketAddr,
    /// Start of the client certificate's validity (seconds since the Unix epoch), for a
    /// reinstated identity: only certificates issued since are accepted (`revocations.rs`).
    pub not_before_unix: Option<i64>,
}

pub use settings::IngestLimits;

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
    /// The open slots of the downsampled series, fed with every newly stored report.
    pub series: Arc<crate::series::Accumulator>,
    /// The remote_write queues, fed with every newly stored report (none configured: a
    /// no-op).
    pub sinks: crate::outputs::remote_write::Sinks,
    /// Revoked identities: their requests are refused (403).
    pub revocations: Arc<crate::live::revocations::Revocations>,
    /// Where refused identities are counted (`None`: not audited, in tests of ingest alone).
    pub audit: Option<crate::audit::Audit>,
}

/// The handler's state: what the caller gave, and the turns at decoding.
#[derive(Debug, Clone)]
struct Shared {
    state: IngestState,
    /// `limits.max_concurrent_decodes` permits: a body is decompressed and decoded only
    /// while its request holds one, which bounds the memory of decoding whatever the number
    /// of connections.
    decodes: Arc<Semaphore>,
    /// `limits.max_pending_bytes` in KiB: decoded reports hold their weight until committed.
    pending: Arc<Semaphore>,
    /// One decode at a time per agent identity.
    turns: Arc<turns::Turns>,
    /// Requests per agent identity (`limits.requests_per_agent_per_second`).
    rates: Arc<std::sync::Mutex<rate::Limiter<String>>>,
    /// The rates' clock.
    started: std::time::Instant,
}

/// Most agent identities whose request rate is kept (`rate.rs`); a province is 50,000.
const MAX_RATED_AGENTS: usize = 200_000;

/// The ingest router: `POST /api/v1/report`.
pub fn router(state: IngestState) -> axum::Router {
    let decodes = Arc::new(Semaphore::new(state.limits.max_concurrent_decodes.max(1)));
    let pending = Arc::new(Semaphore::new(state.limits.max_pending_kib() as usize));
    let per_second = f64::from(state.limits.requests_per_agent_per_second.max(1));
    let rates = rate::Limiter::new(
        rate::Rate {
            per_second,
            burst: per_second * 10.0,
        },
        MAX_RATED_AGENTS,
    );
    axum::Router::new()
        .route(INGEST_PATH, post(report))
        .with_state(Shared {
            state,
            decodes,
            pending,
            turns: Arc::default(),
            rates: Arc::new(std::sync::Mutex::new(rates)),
            started: std::time::Instant::now(),
        })
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

async fn report(State(shared): State<Shared>, request: Request) -> Response {
    let state = &shared.state;
    match ingest(&shared, request).await {
        Ok(outcome) => Json(serde_json::json!({ "status": outcome.as_str() })).into_response(),
        Err(r) => {
            state.counters.rejected(r.reason);
            tracing::debug!(status = %r.status, reason = r.reason.as_str(), error = %r.message, "report refused");
            let mut response = json_error(r.status, &r.message);
            if r.reason == RejectReason::RateLimited {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            if r.status == StatusCode::REQUEST_TIMEOUT || r.reason == RejectReason::Revoked {
                // The rest of a stalled body may still come; the connection cannot be
                // reused, and closing it frees its descriptor now.
                response.headers_mut().insert(
                    header::CONNECTION,
                    header::HeaderValue::from_static("close"),
                );
            }
            response
        }
    }
}

async fn ingest(shared: &Shared, request: Request) -> Result<InsertOutcome, Rejection> {
    let (state, decodes, pending, turns) = (
        &shared.state,
        &shared.decodes,
        &shared.pending,
        &*shared.turns,
    );
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
    if state
        .revocations
        .refuses(&agent, identity.and_then(|i| i.not_before_unix))
    {
        // The reason goes to the log and the audit record, not to whoever holds the key.
        let n = state.revocations.refused();
        if n.is_power_of_two() {
            tracing::warn!(agent = %agent, peer = ?peer, refused = n, "report refused: the agent identity is revoked (certs revoke); logged at every power of two");
        }
        if let (Some(audit), Some(peer)) = (&state.audit, peer) {
            audit.auth_failure(peer.ip(), "revoked");
        }
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            RejectReason::Revoked,
            "forbidden",
        ));
    }
    let now_ms = shared.started.elapsed().as_millis() as u64;
    let decision = shared
        .rates
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take(&agent, now_ms);
    if decision == rate::Decision::Deny {
        return Err(Rejection::new(
            StatusCode::TOO_MANY_REQUESTS,
            RejectReason::RateLimited,
            format!(
                "more than limits.requests_per_agent_per_second = {} requests per second from this agent; retry after 1 s",
                state.limits.requests_per_agent_per_second
            ),
        ));
    }

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
    let body = read_body(body, &state.limits).await.map_err(|e| match e {
        BodyError::TooLarge => too_large(),
        BodyError::TimedOut(what) => Rejection::new(
            StatusCode::REQUEST_TIMEOUT,
            RejectReason::Timeout,
            what.to_string(),
        ),
        BodyError::Read(e) => Rejection::new(
            StatusCode::BAD_REQUEST,
            RejectReason::Malformed,
            format!("cannot read the request body: {e}"),
        ),
    })?;

    // Decompressing, walking and decoding cost CPU and memory in proportion to what the body
    // expands to: on the blocking pool (so that accept, handshakes and timers keep running
    // on the async workers), one body per permit, and one per agent identity at a time
    // (turns.rs). The semaphores are never closed.
    let turn = turns.turn(&agent).await;
    let decode_permit = decodes
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| shutting_down())?;
    let limits = state.limits;
    let expected = agent.clone();
    let decoded = tokio::task::spawn_blocking(move || {
        let decoded = accept::accept_body(&body, limits.max_decompressed_bytes, &expected);
        drop(decode_permit);
        decoded
    })
    .await
    .map_err(|_| shutting_down())?
    .map_err(|refusal| refused(refusal, peer))?;
    drop(turn);
    let (accepted, wire) = decoded;
    // Memory the report and its bytes hold until committed, in KiB (the pending budget's
    // unit), at least 1.
    let weight = accepted.body.len().saturating_add(wire.decoded_bytes);
    let weight_kib = u32::try_from(weight.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .clamp(1, state.limits.max_pending_kib());
    // A decoded report waits for its commit holding its weight of the pending-bytes budget:
    // hyper drops this request's future when the client goes away, but the commit task goes
    // on, and without the budget clients that send large reports and hang up could queue
    // unbounded memory behind the store.
    let pending_permit = pending
        .clone()
        .acquire_many_owned(weight_kib)
        .await
        .map_err(|_| shutting_down())?;

    let received_ms = now_unix_ms();
    let state_for_commit = state.clone();
    let (stored, report) = accepted.into_row(received_ms);
    // hyper drops this future when the client goes away, which can happen right after the
    // commit (an agent stopped just after sending); in its own task the bookkeeping of a
    // committed report still runs, so the in-memory figures match what a restart rebuilds.
    let committed = tokio::spawn(async move {
        let outcome = commit(state_for_commit, stored, report, received_ms).await;
        drop(pending_permit);
        outcome
    })
    .await;
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

fn shutting_down() -> Rejection {
    Rejection::new(
        StatusCode::SERVICE_UNAVAILABLE,
        RejectReason::Storage,
        "the collector is shutting down; retry later",
    )
}

/// The answer to a report that [`accept`] refused: its status, and its message worded for
/// the agent's operator.
fn refused(refusal: ReportRefusal, peer: Option<SocketAddr>) -> Rejection {
    let reason = refusal.reason();
    match refusal {
        ReportRefusal::TooLarge { limit, .. } => Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            reason,
            format!("decompressed report exceeds limits.max_decompressed_bytes = {limit} bytes"),
        ),
        ReportRefusal::Malformed(message) => {
            Rejection::new(StatusCode::BAD_REQUEST, reason, message)
        }
        ReportRefusal::Invalid(e) => Rejection::new(StatusCode::BAD_REQUEST, reason, e.to_string()),
        ReportRefusal::AgentIdMismatch { got, expected } => {
            tracing::warn!(
                certificate_cn = %expected,
                report_agent_id = %got,
                peer = ?peer,
                "report refused: agent id differs from the client certificate"
            );
            Rejection::new(
                StatusCode::FORBIDDEN,
                reason,
                format!(
                    "report agent_id {got:?} differs from the client certificate common name {expected:?}"
                ),
            )
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
            state.series.observe(&report, received_ms);
            let clock_offset_ms = state
                .hosts
                .ledger()
                .get(&report.agent_id)
                .and_then(|d| d.clock_offset_ms);
            state
                .sinks
                .observe_report(&report, received_ms, clock_offset_ms);
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
pub async fn store_faults(store: &dyn Store, faults: Vec<crate::live::links::Fault>) {
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

/// Why a body could not be read.
#[derive(Debug)]
enum BodyError {
    /// More than `max_body_bytes`.
    TooLarge,
    /// Not received in time; says which limit ran out.
    TimedOut(String),
    /// The connection failed mid-body.
    Read(axum::Error),
}

/// Reads a whole body of at most `limits.max_body_bytes`, within `limits.body_timeout` in
/// all and with no silence longer than `limits.body_idle_timeout`: a client that sends its
/// headers and then stalls holds a connection (and a descriptor) for no longer than that.
async fn read_body(body: Body, limits: &IngestLimits) -> Result<Vec<u8>, BodyError> {
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    let mut body = body;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let idle = left >= limits.body_idle_timeout;
        let wait = left.min(limits.body_idle_timeout);
        let timed_out = || {
            BodyError::TimedOut(if idle {
                format!(
                    "the body stalled for limits.body_idle_timeout = {}",
                    crate::duration::format_duration(limits.body_idle_timeout)
                )
            } else {
                format!(
                    "the body was not received within limits.body_timeout = {}",
                    crate::duration::format_duration(limits.body_timeout)
                )
            })
        };
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Err(_) => return Err(timed_out()),
            Ok(None) => return Ok(out),
            Ok(Some(Err(e))) => return Err(BodyError::Read(e)),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > limits.max_body_bytes {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(data);
        }
    }
}

pub use zerofault_common::now_unix_ms;

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;
    use tower::ServiceExt;
    use zerofault_protocol::Labels;

    use crate::inventory::Inventory;
    use crate::live::links::Links;
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

    /// docs/architecture.md states the ceiling of decoding and pending commits with the
    /// defaults ("about 4 x 36 + 64 = 208 MiB"): keep it true.
    #[test]
    fn the_memory_ceiling_of_the_defaults_is_as_documented() {
        let l = IngestLimits::from(settings::Limits::default());
        let bound = l.decode_bytes_bound();
        let ceiling = l.max_concurrent_decodes * bound + l.max_pending_bytes;
        assert!(
            (34 << 20..=37 << 20).contains(&bound),
            "decode bound {} MiB",
            bound >> 20
        );
        assert!(ceiling <= 210 << 20, "ceiling {} MiB", ceiling >> 20);
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
                ..settings::Limits::default().into()
            },
            series: Default::default(),
            sinks: Default::default(),
            revocations: Default::default(),
            audit: None,
        });
        let expose = crate::http::router(crate::http::HttpState {
            hosts: hosts.clone(),
            counters,
            links,
            slots: Default::default(),
            store: store.clone(),
            down_after_intervals: 3,
            metrics: Default::default(),
        });

        let mut req = Request::post(INGEST_PATH)
            .header(header::CONTENT_TYPE, CONTENT_TYPE)
            .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
            .body(Body::from(zerofault_protocol::encode_report(&report())))
            .unwrap();
        req.extensions_mut().insert(ClientIdentity {
            common_name: Some("web-01".into()),
            peer_addr: "192.0.2.7:40000".parse().unwrap(),
            not_before_unix: None,
        });
        let resp = ingest.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(body(resp).await, r#"{"status":"stored"}"#);
        // Stored and held as the host's newest report, unknown label and all.
        assert_eq!(store.count_reports().await.unwrap(), 1);
        assert_eq!(*hosts.snapshot()[0].report, report());

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
