//! What the security controls keep in the store (issue 16, `docs/security.md`): the audit
//! log's hash chain, the revoked agent identities and the enrollment tokens. In the database
//! because every collector of a deployment shares them: a revocation made on one host is
//! refused by all, a token is spent once whichever collector takes it, and the audit log is
//! one chain (its head is taken under a lock in the transaction that appends).

/// Most records one [`SecurityStore::audit_page`] reads.
pub const MAX_AUDIT_PAGE: usize = 10_000;

/// A revoked agent identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The agent id (certificate common name).
    pub agent_id: String,
    /// When it was revoked, ms since the Unix epoch.
    pub revoked_ms: i64,
    /// Who revoked it.
    pub actor: String,
    /// Why, as the operator gave it.
    pub reason: String,
    /// When it was lifted (`certs unrevoke`): from then on the identity is accepted again,
    /// but only with a certificate issued after that, never the ones it had when revoked
    /// (a stolen key stays out). `None`: revoked.
    pub reinstated_ms: Option<i64>,
}

/// A change of a revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationChange {
    /// Revoke (again, if it was reinstated).
    Revoke(Revocation),
    /// Lift it at this time.
    Reinstate {
        /// When, ms since the Unix epoch.
        at_ms: i64,
    },
}

/// A one-time enrollment token, as stored: its hash only, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The agent id it enrolls.
    pub agent_id: String,
    /// When it was made.
    pub created_ms: i64,
    /// Until when it may be used (exclusive).
    pub expires_ms: i64,
}

/// What redeeming a token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// Valid, and now spent.
    Accepted,
    /// No such token.
    Unknown,
    /// Spent before.
    Used {
        /// When.
        at_ms: i64,
        /// By which address.
        by: String,
    },
    /// Past its expiry.
    Expired {
        /// Its expiry.
        expires_ms: i64,
    },
    /// Made for another agent id.
    OtherAgent,
}

/// Why a token cannot be redeemed, from the row found: shared by the backends, which read
/// the row after their conditional update changed nothing.
pub(crate) fn refusal(
    found: Option<(String, i64, Option<i64>, Option<String>)>,
    agent_id: &str,
) -> Redeemed {
    match found {
        None => Redeemed::Unknown,
        Some((_, _, Some(at_ms), by)) => Redeemed::Used {
            at_ms,
            by: by.unwrap_or_default(),
        },
        Some((agent, _, None, _)) if agent != agent_id => Redeemed::OtherAgent,
        Some((_, expires_ms, None, _)) => Redeemed::Expired { expires_ms },
    }
}
