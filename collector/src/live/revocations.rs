//! The revoked agent identities, as this collector knows them: read from the store every
//! [`REFRESH`], so that `zerofault-collector certs revoke ID` on any host of a deployment
//! takes effect on every running collector within seconds, without a restart. Ingest and
//! renewal check every request against it (a kept-alive connection too), enrollment every
//! agent id.
//!
//! If the store cannot be read, the last list read stays in force (a revocation is never
//! lifted by a database outage) and the failure is logged.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::store::Store;

/// How often the list is read again: a revocation is in force on every collector within
/// this (plus one query), well under the 5 s the operators are promised.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The revoked agent ids.
#[derive(Debug, Default)]
pub struct Revocations {
    ids: RwLock<Arc<HashSet<String>>>,
    /// Requests refused because their identity is revoked.
    refused: AtomicU64,
}

impl Revocations {
    /// Whether `agent_id` is revoked.
    pub fn is_revoked(&self, agent_id: &str) -> bool {
        self.ids
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(agent_id)
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

    /// Replaces the list; returns the ids newly revoked and newly lifted.
    pub fn replace(&self, ids: HashSet<String>) -> (Vec<String>, Vec<String>) {
        let mut current = self
            .ids
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut added: Vec<String> = ids.difference(&current).cloned().collect();
        let mut lifted: Vec<String> = current.difference(&ids).cloned().collect();
        added.sort();
        lifted.sort();
        *current = Arc::new(ids);
        (added, lifted)
    }

    /// Reads the list from `store` once.
    pub async fn load(&self, store: &dyn Store) -> Result<(), crate::store::StoreError> {
        let list = store.revocations().await?;
        let (added, lifted) = self.replace(list.into_iter().map(|r| r.agent_id).collect());
        for id in &added {
            tracing::warn!(agent = %id, "agent identity revoked: its requests are refused from now on");
        }
        for id in &lifted {
            tracing::info!(agent = %id, "agent identity no longer revoked");
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
        let (added, lifted) = r.replace(["a".to_owned(), "b".to_owned()].into());
        assert_eq!((added, lifted), (vec!["a".into(), "b".into()], vec![]));
        assert!(r.is_revoked("a") && r.is_revoked("b"));
        let (added, lifted) = r.replace(["b".to_owned(), "c".to_owned()].into());
        assert_eq!(
            (added, lifted),
            (vec!["c".to_owned()], vec!["a".to_owned()])
        );
        assert!(!r.is_revoked("a"));
        assert_eq!(r.len(), 2);
    }
}
