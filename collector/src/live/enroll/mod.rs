//! Enrollment and renewal on the ingest listener (`zerofault_protocol::enroll`,
//! `docs/security.md`): an agent that holds only a one-time token and the CA certificate
//! gets its client certificate, for a key it made and kept; an enrolled agent renews over
//! its current identity before its certificate ends.
//!
//! Every request is bounded before work is done: the body to
//! [`MAX_REQUEST_BYTES`] and [`BODY_TIMEOUT`] (and the listener's own limits on handshakes
//! and unauthenticated connections), then JSON, the agent id's form, the token's form, the
//! request's signature, and only then one database update and one signature. Each outcome
//! is an audit record; a refused token is named to the agent (its operator must act), a
//! revoked identity is not (the log and the audit record say it).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use zerofault_protocol::enroll::{
    ENROLL_PATH, EnrollRequest, Issued, MAX_REQUEST_BYTES, RENEW_PATH, RenewRequest,
};

use crate::audit::{Audit, events};
use crate::cmd::certs::ca::Ca;
use crate::live::ingest::ClientIdentity;
use crate::live::revocations::Revocations;
use crate::store::Store;
use crate::store::security::Redeemed;

pub mod settings;
pub mod tokens;

/// Longest time to receive a request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// What the two routes need.
#[derive(Debug, Clone)]
pub struct EnrollState {
    /// The CA that signs, and the validity of what it signs; `None`: enrollment is off.
    pub ca: Option<(Arc<Ca>, Duration)>,
    /// Where tokens are redeemed.
    pub store: Arc<dyn Store>,
    /// Where outcomes are recorded.
    pub audit: Audit,
    /// Revoked identities: neither enrolled nor renewed.
    pub revocations: Arc<Revocations>,
    /// Renewals per identity ([`RENEWALS`]).
    pub renewals: Arc<std::sync::Mutex<crate::live::ingest::rate::Limiter<String>>>,
    /// The renewal rate's clock.
    pub started: std::time::Instant,
}

impl EnrollState {
    /// The routes' state: `ca` signs (with the validity of what it signs), `None` when
    /// enrollment is off.
    pub fn new(
        ca: Option<(Arc<Ca>, Duration)>,
        store: Arc<dyn Store>,
        audit: Audit,
        revocations: Arc<Revocations>,
    ) -> Self {
        EnrollState {
            ca,
            store,
            audit,
            revocations,
            renewals: Arc::new(std::sync::Mutex::new(
                crate::live::ingest::rate::Limiter::new(RENEWALS, 200_000),
            )),
            started: std::time::Instant::now(),
        }
    }
}

/// `POST /api/v1/enroll` and `POST /api/v1/renew`.
pub fn router(state: EnrollState) -> axum::Router {
    axum::Router::new()
        .route(ENROLL_PATH, post(enroll))
        .route(RENEW_PATH, post(renew))
        .with_state(state)
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// The body, within the size and time bounds.
async fn body(request: Request) -> Result<axum::body::Bytes, Response> {
    let read = axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES);
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request exceeds {MAX_REQUEST_BYTES} bytes or could not be read"),
        )),
        Err(_) => Err(refuse(
            StatusCode::REQUEST_TIMEOUT,
            "the request body was too slow",
        )),
    }
}

fn peer(request: &Request) -> (Option<(String, Option<i64>)>, Option<std::net::IpAddr>) {
    let id = request.extensions().get::<ClientIdentity>();
    (
        id.and_then(|i| i.common_name.clone().map(|cn| (cn, i.not_before_unix))),
        id.map(|i| i.peer_addr.ip()),
    )
}

fn shown(source: Option<std::net::IpAddr>) -> String {
    source.map_or_else(|| "-".to_owned(), |s| s.to_string())
}

fn disabled() -> Response {
    refuse(
        StatusCode::NOT_FOUND,
        "enrollment is not enabled on this collector (its `enrollment.ca_dir` is not set)",
    )
}

/// A refusal before any real token was shown (a bad id, a malformed or unknown token, a bad
/// request, a revoked id): anyone can send these, so they are counted per source and minute
/// (`auth.failure`), never recorded one by one.
fn count_refusal(state: &EnrollState, source: Option<std::net::IpAddr>, reason: &'static str) {
    if let Some(source) = source {
        state.audit.auth_failure(source, reason);
    }
    tracing::debug!(peer = %shown(source), reason, "enrollment refused");
}

async fn enroll(State(state): State<EnrollState>, request: Request) -> Response {
    let Some((ca, validity)) = state.ca.clone() else {
        return disabled();
    };
    let (_, source) = peer(&request);
    let bytes = match body(request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req: EnrollRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            count_refusal(&state, source, "enroll_malformed");
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("not an enrollment request: {e}"),
            );
        }
    };
    let id = req.agent_id.as_str();
    if crate::cmd::certs::ca::parse_agent_id(id).is_err() {
        count_refusal(&state, source, "enroll_invalid_id");
        return refuse(
            StatusCode::BAD_REQUEST,
            "the agent id is not valid: 1 to 128 ASCII letters, digits, '.', '_' or '-'",
        );
    }
    if !tokens::well_formed(&req.token) {
        count_refusal(&state, source, "enroll_malformed_token");
        return refuse(
            StatusCode::FORBIDDEN,
            "the token is not an enrollment token (zfe1_ and 64 hex digits); copy it again from `certs token`",
        );
    }
    if state.revocations.is_revoked(id) {
        count_refusal(&state, source, "enroll_revoked");
        return refuse(StatusCode::FORBIDDEN, "forbidden");
    }
    if let Err(e) = verify_request(&req.csr_pem) {
        count_refusal(&state, source, "enroll_bad_request");
        return refuse(StatusCode::BAD_REQUEST, &e);
    }
    // Signed before the token is spent: a failure to sign must not use it up. The
    // certificate is handed out only once the token is spent and the record written.
    let signed = match ca.sign_request(id, &req.csr_pem, validity) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(agent = %id, error = %e, "cannot sign an agent certificate");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the collector cannot sign the request",
            );
        }
    };
    let redeemed = state
        .store
        .redeem_token(
            tokens::hash(&req.token),
            id.to_owned(),
            crate::live::ingest::now_unix_ms(),
            shown(source),
        )
        .await;
    // A real token refused: recorded one by one, the id checked above.
    let fail = |why: &str, tell: &str| {
        state
            .audit
            .record(events::enroll(id, shown(source), Some(why), None));
        tracing::warn!(agent = %id, peer = %shown(source), reason = why, "enrollment refused");
        refuse(StatusCode::FORBIDDEN, tell)
    };
    match redeemed {
        Ok(Redeemed::Accepted) => {}
        Ok(Redeemed::Unknown) => {
            count_refusal(&state, source, "enroll_unknown_token");
            return refuse(
                StatusCode::FORBIDDEN,
                "the token is not known to this deployment; ask for a new one (`zerofault-collector certs token`)",
            );
        }
        Ok(Redeemed::Used { at_ms, by }) => {
            let at = jiff::Timestamp::from_millisecond(at_ms)
                .map(|t| t.to_string())
                .unwrap_or_default();
            return fail(
                "token already used",
                &format!(
                    "the token was already used (at {at}, from {by}); a token enrolls once: ask for a new one"
                ),
            );
        }
        Ok(Redeemed::Expired { expires_ms }) => {
            let at = jiff::Timestamp::from_millisecond(expires_ms)
                .map(|t| t.to_string())
                .unwrap_or_default();
            return fail(
                "token expired",
                &format!("the token expired at {at}; ask for a new one"),
            );
        }
        Ok(Redeemed::OtherAgent) => {
            return fail(
                "token for another agent id",
                "the token was made for another agent id; check agent.id or ask for a token for this one",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot redeem an enrollment token");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the collector cannot reach its database; try again",
            );
        }
    }
    hand_out(&state, &ca, id, signed, shown(source), true).await
}

/// Renewals per identity: one a minute on average, three at once (a retry after a lost
/// answer). Each signs with the CA and writes an audit record, so a compromised agent must
/// not be able to ask in a loop.
const RENEWALS: crate::live::ingest::rate::Rate = crate::live::ingest::rate::Rate {
    per_second: 1.0 / 60.0,
    burst: 3.0,
};

async fn renew(State(state): State<EnrollState>, request: Request) -> Response {
    let Some((ca, validity)) = state.ca.clone() else {
        return disabled();
    };
    let (identity, source) = peer(&request);
    let Some((id, not_before)) = identity else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "renewal needs the agent's current client certificate",
        );
    };
    if state.revocations.refuses(&id, not_before) {
        count_refusal(&state, source, "renew_revoked");
        return refuse(StatusCode::FORBIDDEN, "forbidden");
    }
    let now_ms = state.started.elapsed().as_millis() as u64;
    let decision = state
        .renewals
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take(&id, now_ms);
    if decision == crate::live::ingest::rate::Decision::Deny {
        count_refusal(&state, source, "renew_rate");
        let mut r = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "renewed too often; retry in a minute",
        );
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("60"),
        );
        return r;
    }
    let bytes = match body(request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req: RenewRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("not a renewal request: {e}"),
            );
        }
    };
    if let Err(e) = verify_request(&req.csr_pem) {
        state.audit.record(events::renew(
            &id,
            shown(source),
            Some("bad certificate request"),
            None,
        ));
        return refuse(StatusCode::BAD_REQUEST, &e);
    }
    let signed = match ca.sign_request(&id, &req.csr_pem, validity) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(agent = %id, error = %e, "cannot sign an agent certificate");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the collector cannot sign the request",
            );
        }
    };
    hand_out(&state, &ca, &id, signed, shown(source), false).await
}

/// That `csr_pem` parses and its signature verifies, before anything is spent on it.
fn verify_request(csr_pem: &str) -> Result<(), String> {
    if csr_pem.len() > MAX_REQUEST_BYTES {
        return Err("the certificate request is too large".into());
    }
    rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
        .map(|_| ())
        .map_err(|e| format!("the certificate request cannot be used: {e}"))
}

/// Records the certificate signed for `id` and hands it out: never a certificate missing
/// from the audit log.
async fn hand_out(
    state: &EnrollState,
    ca: &Ca,
    id: &str,
    signed: crate::cmd::certs::ca::SignedRequest,
    source: String,
    enrolling: bool,
) -> Response {
    let event = if enrolling {
        events::enroll
    } else {
        events::renew
    };
    let ca_pem = match ca.cert_pem() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the CA certificate");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the collector cannot read its CA",
            );
        }
    };
    if let Err(e) = state
        .audit
        .write(event(id, source.clone(), None, Some(&signed.serial)))
        .await
    {
        tracing::error!(error = %e, "cannot record an issued certificate in the audit log; not issuing it");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the collector cannot record the certificate; try again",
        );
    }
    tracing::info!(agent = %id, peer = %source, serial = %signed.serial, not_after = signed.not_after_unix, "{}", if enrolling { "agent enrolled" } else { "agent certificate renewed" });
    Json(Issued {
        certificate_pem: signed.cert_pem,
        ca_pem,
        not_after_unix: signed.not_after_unix,
    })
    .into_response()
}
