//! The revoked agent identities, as this collector knows them: read from the store every
//! [`REFRESH`], so that `zerofault-collector certs revoke ID` on any host of a deployment
//! takes effect on every running collector within seconds, without a restart. Ingest and
//! renewal check every request against it (a kept-alive connection too), enrollment every
//! agent id.
//!
//! If the store cannot be read, the last list read stays in force (a revocation is never
//! lifted by a database outage) and the failure is logged.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::store::Store;

/// How often the list is read again: a revocation is in force on every collector within
/// this (plus one query), well under the 5 s the operators are promised.
pub const REFRESH: Duration = Duration::from_secs(1);

/// How far back a certificate's `notBefore` may lie before its issue: the CA backdates by
/// up to an hour (`cmd/certs/ca.rs`, clocks that run behind).
const BACKDATE_MS: i64 = 3_600_000;

/// The revoked agent ids, and those reinstated (with when).
#[derive(Debug, Default)]
pub struct Revocations {
    /// Agent id -> `None` revoked, `Some(t)` reinstated at `t` (ms since the Unix epoch).
    ids: RwLock<Arc<HashMap<String, Option<i64>>>>,
    /// Requests refused because their identity is revoked.
    refused: AtomicU64,
}

impl Revocations {
    /// Whether `agent_id` is revoked (and not reinstated): enrollment refuses it.
    pub fn is_revoked(&self, agent_id: &str) -> bool {
        matches!(
            self.ids
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(agent_id),
            Some(None)
        )
    }

    /// Whether a request of `agent_id` with a certificate valid from `not_before_unix`
    /// (seconds) is refused: the identity is revoked, or was reinstated after this
    /// certificate was issued (a certificate from before the revocation, perhaps the stolen
    /// one, stays out; only one issued since is accepted). An unknown `not_before` is
    /// refused when the identity was ever revoked.
    pub fn refuses(&self, agent_id: &str, not_before_unix: Option<i64>) -> bool {
        match self
            .ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(agent_id)
        {
            None => false,
            Some(None) => true,
            Some(Some(reinstated_ms)) => not_before_unix.is_none_or(|nb| {
                nb.saturating_mul(1000) < reinstated_ms.saturating_sub(BACKDATE_MS)
            }),
        }
    }

    /// How many ids are revoked.
    pub fn len(&self) -> usize {
        self.ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts a refused request; returns the count so far (log at powers of two).
    pub fn refused(&self) -> u64 {
        self.refused.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Replaces the list; returns the ids newly revoked and newly reinstated.
    pub fn replace(&self, ids: HashMap<String, Option<i64>>) -> (Vec<String>, Vec<String>) {
        let mut current = self
            .ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let revoked = |m: &HashMap<String, Option<i64>>| -> HashSet<String> {
            m.iter()
                .filter(|(_, r)| r.is_none())
                .map(|(id, _)| id.clone())
                .collect()
        };
        let (now, before) = (revoked(&ids), revoked(&current));
        let mut added: Vec<String> = now.difference(&before).cloned().collect();
        let mut lifted: Vec<String> = before.difference(&now).cloned().collect();
        added.sort();
        lifted.sort();
        *current = Arc::new(ids);
        (added, lifted)
    }

    /// Reads the list from `store` once.
    pub async fn load(&self, store: &dyn Store) -> Result<(), crate::store::StoreError> {
        let list = store.revocations().await?;
        let (added, lifted) = self.replace(
            list.into_iter()
                .map(|r| (r.agent_id, r.reinstated_ms))
                .collect(),
        );
        for id in &added {
            tracing::warn!(agent = %id, "agent identity revoked: its requests are refused from now on");
        }
        for id in &lifted {
            tracing::info!(agent = %id, "agent identity reinstated: accepted again with a certificate issued from now on");
        }
        Ok(())
    }

    /// Reads the list every [`REFRESH`] until the task is aborted.
    pub async fn run(self: Arc<Self>, store: Arc<dyn Store>) {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match self.load(store.as_ref()).await {
                Ok(()) => {
                    if failing {
                        tracing::info!("the revocation list is read again");
                    }
                    failing = false;
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the revocation list; the last one read stays in force");
                    }
                    failing = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_reports_what_changed() {
        let r = Revocations::default();
        assert!(!r.is_revoked("a"));
        let (added, lifted) = r.replace([("a".to_owned(), None), ("b".to_owned(), None)].into());
        assert_eq!((added, lifted), (vec!["a".into(), "b".into()], vec![]));
        assert!(r.is_revoked("a") && r.is_revoked("b"));
        let (added, lifted) = r.replace(
            [
                ("a".to_owned(), Some(5)),
                ("b".to_owned(), None),
                ("c".to_owned(), None),
            ]
            .into(),
        );
        assert_eq!(
            (added, lifted),
            (vec!["c".to_owned()], vec!["a".to_owned()])
        );
        assert!(!r.is_revoked("a"));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn a_reinstated_identity_needs_a_certificate_issued_since() {
        let r = Revocations::default();
        let t = 1_800_000_000_000; // reinstated at t (ms)
        r.replace([("web-01".to_owned(), Some(t)), ("db-01".to_owned(), None)].into());
        // Issued before: its notBefore is at most the issue time, minus up to an hour.
        assert!(r.refuses("web-01", Some(t / 1000 - 3 * 3600)));
        assert!(r.refuses("web-01", None));
        // Issued after, backdated by the hour: accepted.
        assert!(!r.refuses("web-01", Some(t / 1000 + 5 - 3600)));
        assert!(r.refuses("db-01", Some(t / 1000 + 10_000)));
        assert!(!r.refuses("other", None));
    }
}
