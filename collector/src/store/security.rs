//! What the security controls keep in the store (issue 16, `docs/security.md`): the audit
//! log's hash chain, the revoked agent identities and the enrollment tokens. In the database
//! because every collector of a deployment shares them: a revocation made on one host is
//! refused by all, a token is spent once whichever collector takes it, and the audit log is
//! one chain (its head is taken under a lock in the transaction that appends).

use crate::audit::chain::{Entry, HashAlg, Record};
use crate::store::api::{BoxFuture, StoreError};

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

/// The security tables of a store.
pub trait SecurityStore {
    /// Appends `entries` to the audit chain, in order, after its current head, in one
    /// transaction that takes the head under a lock (so that several collectors append to
    /// one chain); returns the records as stored.
    fn append_audit(
        &self,
        entries: Vec<Entry>,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>>;

    /// The records after `after_seq`, oldest first, at most `limit` (and
    /// [`MAX_AUDIT_PAGE`]).
    fn audit_page(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>>;

    /// The newest record.
    fn audit_head(&self) -> BoxFuture<'_, Result<Option<Record>, StoreError>>;

    /// Deletes up to `limit` of the oldest records older than `before_ms` and, in the same
    /// transaction, appends `note` with the [`crate::audit::chain::RetentionDetails`] of what
    /// was deleted as its details. `None` when nothing was old enough.
    fn retire_audit(
        &self,
        before_ms: i64,
        limit: usize,
        note: Entry,
        alg: HashAlg,
    ) -> BoxFuture<'_, Result<Option<Record>, StoreError>>;

    /// Every revoked agent identity.
    fn revocations(&self) -> BoxFuture<'_, Result<Vec<Revocation>, StoreError>>;

    /// Revokes `agent_id` (`Some`) or lifts its revocation (`None`); false when nothing
    /// changed (already revoked, or not revoked).
    fn set_revocation(
        &self,
        agent_id: String,
        revocation: Option<Revocation>,
    ) -> BoxFuture<'_, Result<bool, StoreError>>;

    /// Stores new enrollment tokens.
    fn add_tokens(&self, tokens: Vec<EnrollmentToken>) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Spends the token with hash `token_hash` for `agent_id` at `now_ms`, from `by`: once,
    /// whichever collector asks (one conditional update).
    fn redeem_token(
        &self,
        token_hash: String,
        agent_id: String,
        now_ms: i64,
        by: String,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>>;
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
