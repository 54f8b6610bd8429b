//! One decode at a time per agent identity.
//!
//! An agent sends its reports one after another, so it never needs two decodes at once.
//! Without this, one certificate holder with `max_connections_per_agent` connections could
//! keep every decode permit busy with bodies that are cheap to send and costly to expand,
//! and the other agents' reports would wait behind them; with it, one identity holds at most
//! one of the `max_concurrent_decodes` permits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The per-identity turns; an identity has an entry only while one of its requests holds or
/// waits for its turn, so the map is as large as the requests in flight.
#[derive(Debug, Default)]
pub struct Turns {
    agents: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// `agent`'s turn, held until dropped.
#[derive(Debug)]
pub struct Turn<'a> {
    turns: &'a Turns,
    agent: String,
    semaphore: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Turns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until no other request of `agent` holds its turn.
    pub async fn turn(&self, agent: &str) -> Turn<'_> {
        let semaphore = self
            .lock()
            .entry(agent.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone();
        let mut turn = Turn {
            turns: self,
            agent: agent.to_owned(),
            semaphore,
            permit: None,
        };
        // Never closed.
        turn.permit = turn.semaphore.clone().acquire_owned().await.ok();
        turn
    }

    /// Identities with a request holding or waiting for a turn.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no request holds or waits for a turn.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.permit.take();
        let mut agents = self.turns.lock();
        // The map's and this one: nobody else holds or waits; clones are made under the lock.
        if Arc::strong_count(&self.semaphore) == 2 {
            agents.remove(&self.agent);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn one_turn_per_agent_and_the_map_empties() {
        let turns = Turns::default();
        let first = turns.turn("mallory").await;
        // Another agent is not held up.
        let other = tokio::time::timeout(Duration::from_millis(50), turns.turn("web-01"))
            .await
            .expect("another agent waited for mallory's turn");
        // The same agent waits while its first request holds the turn.
        let second = turns.turn("mallory");
        tokio::pin!(second);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "a second request of the same agent got a turn at once"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_millis(50), second)
            .await
            .expect("the turn was not handed on");
        assert_eq!(turns.len(), 2);
        drop(second);
        drop(other);
        assert!(turns.is_empty());
    }
}
