//! Enrollment and renewal (issue 16): how an agent gets its client certificate without its
//! key ever leaving its host. JSON over the ingest listener:
//!
//! - `POST /api/v1/enroll`, without a client certificate: [`EnrollRequest`] (the agent id,
//!   the one-time token an operator made for it, a PKCS#10 request for the key the agent
//!   just made) answered by [`Issued`];
//! - `POST /api/v1/renew`, over the agent's current mTLS identity: [`RenewRequest`] (a
//!   request for a new key) answered by [`Issued`], for the same agent id.
//!
//! A refusal is `{"error": "..."}` with a 4xx status; the reason for a bad, spent or expired
//! token is named to the agent (it is the agent's operator who must act), a revoked
//! identity's is not (only the collector's log and audit record name it).

use serde::{Deserialize, Serialize};

/// Path of enrollment.
pub const ENROLL_PATH: &str = "/api/v1/enroll";
/// Path of renewal.
pub const RENEW_PATH: &str = "/api/v1/renew";
/// Largest request body either takes: a P-256 or RSA-4096 request is under 2 KiB in PEM.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// Prefix of an enrollment token, so that a token pasted in the wrong place is recognised.
pub const TOKEN_PREFIX: &str = "zfe1_";

/// `POST /api/v1/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The agent id the token was made for (the certificate's common name).
    pub agent_id: String,
    /// The token.
    pub token: String,
    /// PKCS#10 certificate request, PEM.
    pub csr_pem: String,
}

/// `POST /api/v1/renew`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    /// PKCS#10 certificate request for the new key, PEM.
    pub csr_pem: String,
}

/// The answer to both: the certificate and the CA that signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// The agent's new client certificate, PEM.
    pub certificate_pem: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    /// End of the certificate's validity, seconds since the Unix epoch.
    pub not_after_unix: i64,
}
