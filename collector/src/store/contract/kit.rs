//! What the contract's behaviours and the backends' own tests share: the store under test
//! and a few stored reports.

use std::sync::Arc;

use crate::store::api::{BoxFuture, Store, StoredReport};

/// A store under test.
pub trait Backend: Send + Sync {
    /// Opens the store under test, empty the first time. Every call opens the same store, so
    /// that a test can close it and see what survived.
    fn open(&self) -> BoxFuture<'_, Arc<dyn Store>>;
}

/// A report of `agent`, boot `boot`, with link data.
pub fn report(agent: &str, seq: u64, received_ms: i64) -> StoredReport {
    StoredReport {
        agent_id: agent.into(),
        boot_id: "boot".into(),
        sequence: seq,
        agent_timestamp_ms: 1_700_000_000_000,
        received_ms,
        body: vec![1, 2, 3],
        link_data: true,
    }
}

/// Live report 100 of agent `a` first, its backlog 90..=99 after it; an earlier boot of `a`
/// (85, 89); agent `b`'s report 3.
pub async fn insert_boots(store: &dyn Store) {
    store.insert(report("a", 100, 1_000)).await.unwrap();
    for seq in 90..=99 {
        store
            .insert(report("a", seq, 1_000 + seq as i64 - 89))
            .await
            .unwrap();
    }
    for seq in [85, 89] {
        let mut r = report("a", seq, 2_000 + seq as i64);
        r.boot_id = "boot0".into();
        store.insert(r).await.unwrap();
    }
    store.insert(report("b", 3, 500)).await.unwrap();
}

/// `n` inserts started at once on `store`, report `i` of agent `h{i % agents}` with sequence
/// and receive time `i`: what the backends' group-commit tests send.
pub fn spawn_inserts<S: Store + 'static>(
    store: &Arc<S>,
    n: u64,
    agents: u64,
) -> Vec<
    tokio::task::JoinHandle<
        Result<crate::store::api::InsertOutcome, crate::store::api::StoreError>,
    >,
> {
    (0..n)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert(report(&format!("h{}", i % agents), i, i as i64))
                    .await
            })
        })
        .collect()
}
