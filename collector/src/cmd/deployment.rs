//! One collector at a time does the deployment-wide work (docs/scale-out.md): whoever holds
//! the store's deployment lease ([`Store::try_lease`]) exposes every host, aggregate and link
//! on `/metrics`; the others expose their own process metrics only
//! ([`IngestCounters::set_standby`]), so that sums over all scraped instances count each
//! host once. A collector alone on its store always holds the lease.
//!
//! The holder's host table must show the hosts that report to the other collectors too:
//! every [`RENEW`] it reads the keys of the newest report of each boot received since its
//! last read (minus [`OVERLAP`]), and the bodies of only those newer than what its table
//! holds ([`stale_keys`]), at most [`MAX_KEYS`] boots a read and [`MAX_KEYS_PER_READ`]
//! bodies a statement.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::live::hosts::{HostTable, IngestCounters};
use crate::store::{MAX_KEYS_PER_READ, ReportKey, Store, StoreError};

/// The lease's name in the store.
pub const LEASE: &str = "deployment";
/// How long a taken or renewed lease lasts: a holder killed without releasing it is taken
/// over at most this long after its last renewal.
pub const TTL: Duration = Duration::from_secs(30);
/// How often the lease is renewed (or tried for) and the holder's host table refreshed.
pub const RENEW: Duration = Duration::from_secs(10);
/// A holder that could not renew for this long stops exposing the deployment-wide series:
/// half the TTL before another may take over, so that two collectors whose clocks differ by
/// less than that never both expose them.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(15);
/// How far before its previous read a refresh reads again: covers the commits of reports
/// received (stamped) before that read but committed after it, and the clock differences
/// between collectors, whose clocks stamp `received_ms`.
pub const OVERLAP: Duration = Duration::from_secs(30);
/// Most boots one refresh reads: a province's fleet (50,000 hosts) with room for reboots;
/// a larger burst is read over the next refreshes, with a warning.
pub const MAX_KEYS: usize = 200_000;

/// The lease and what it decides for this collector.
#[derive(Debug)]
pub struct Deployment {
    store: Arc<dyn Store>,
    hosts: Arc<HostTable>,
    counters: Arc<IngestCounters>,
    /// This instance's name: the lease's holder.
    holder: String,
    /// Last successful renewal (monotonic).
    renewed: Option<Instant>,
    /// What the log said last: held or not (said again only when it changes).
    announced: Option<bool>,
    /// Where the next refresh reads from (`received_ms`, collector clock).
    since_ms: i64,
}

impl Deployment {
    /// The lease of `holder`, not tried yet; the host table is known up to `warmed_at_ms`
    /// (the start-up warm-up read every boot's newest report).
    pub fn new(
        store: Arc<dyn Store>,
        hosts: Arc<HostTable>,
        counters: Arc<IngestCounters>,
        holder: String,
        warmed_at_ms: i64,
    ) -> Self {
        Self {
            store,
            hosts,
            counters,
            holder,
            renewed: None,
            announced: None,
            since_ms: warmed_at_ms,
        }
    }

    /// Tries for (or renews) the lease at `now_ms` and sets standby accordingly; refreshes
    /// the host table when held. Returns whether this collector holds the lease.
    pub async fn step(&mut self, now_ms: i64) -> bool {
        let ttl_ms = TTL.as_millis() as i64;
        let held = match self
            .store
            .try_lease(LEASE.into(), self.holder.clone(), ttl_ms, now_ms)
            .await
        {
            Ok(held) => {
                if self.announced != Some(held) {
                    self.announced = Some(held);
                    tracing::info!(
                        instance = %self.holder,
                        held,
                        "deployment lease: {}",
                        if held {
                            "held; this collector exposes every host, aggregate and link"
                        } else {
                            "held by another collector; this one exposes its own process metrics only"
                        }
                    );
                }
                self.renewed = held.then(Instant::now);
                held
            }
            Err(e) => {
                // The database is out of reach: the holder keeps exposing for a while (the
                // lease is still its own), then stands by, before another can take over.
                let keep = self.renewed.is_some_and(|at| at.elapsed() < GIVE_UP_AFTER);
                tracing::warn!(error = %e, keeps_lease = keep, "cannot renew the deployment lease");
                keep
            }
        };
        self.counters.set_standby(!held);
        if held && let Err(e) = self.refresh(now_ms).await {
            tracing::warn!(error = %e, "cannot read the hosts stored by the other collectors");
        }
        held
    }

    /// Offers the host table the newest reports stored since the last refresh that it does
    /// not hold yet (those of hosts reporting to the other collectors).
    async fn refresh(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let since = self.since_ms.saturating_sub(OVERLAP.as_millis() as i64);
        let keys = self.store.newest_keys_since(since, MAX_KEYS).await?;
        if keys.len() == MAX_KEYS {
            tracing::warn!(
                boots = MAX_KEYS,
                "more boots reported since the last refresh than one refresh reads; the rest follow"
            );
        } else {
            self.since_ms = now_ms;
        }
        let stale = stale_keys(&self.hosts, keys);
        let mut offered = 0;
        for chunk in stale.chunks(MAX_KEYS_PER_READ) {
            for row in self.store.reports_by_key(chunk.to_vec()).await? {
                if let Some(report) = row.decode() {
                    self.hosts.update(report, row.received_ms);
                    offered += 1;
                }
            }
        }
        Ok(offered)
    }
}

/// The keys whose report the host table does not hold yet: an agent it does not know, or a
/// boot or sequence other than its newest report's, unless that report is newer (same boot,
/// higher sequence). The table's own rules decide the rest when the report is offered.
pub fn stale_keys(hosts: &HostTable, keys: Vec<ReportKey>) -> Vec<ReportKey> {
    keys.into_iter()
        .filter(|k| match hosts.newest_of(&k.agent_id) {
            Some((boot, sequence)) => !(boot == k.boot_id && sequence >= k.sequence),
            None => true,
        })
        .collect()
}

/// Gives the lease of `holder` up (at shutdown), so another collector takes over at once
/// rather than when it expires.
pub async fn release(store: &dyn Store, holder: &str) {
    if let Err(e) = store.release_lease(LEASE.into(), holder.into()).await {
        tracing::warn!(error = %e, "cannot release the deployment lease; another collector takes it over when it expires");
    }
}

/// Runs [`Deployment::step`] every [`RENEW`] until the task is aborted.
pub async fn run(mut deployment: Deployment) {
    let mut tick = tokio::time::interval(RENEW);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        deployment.step(crate::live::ingest::now_unix_ms()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, StoredReport};
    use zerofault_protocol::Report;

    const T: i64 = 1_800_000_000_000;

    fn stored(agent: &str, boot: &str, sequence: u64, received_ms: i64) -> StoredReport {
        let report = Report {
            agent_id: agent.into(),
            boot_id: boot.into(),
            sequence,
            timestamp_unix_ms: received_ms,
            interval_ms: 15_000,
            ..Default::default()
        };
        StoredReport {
            agent_id: agent.into(),
            boot_id: boot.into(),
            sequence,
            agent_timestamp_ms: received_ms,
            received_ms,
            body: prost::Message::encode_to_vec(&report),
            link_data: false,
        }
    }

    /// A collector of instance `name` on `store`, warmed (started) at `T`.
    fn collector(
        store: &Arc<dyn Store>,
        name: &str,
    ) -> (Deployment, Arc<HostTable>, Arc<IngestCounters>) {
        let hosts = Arc::new(HostTable::default());
        let counters = Arc::new(IngestCounters::default());
        let d = Deployment::new(
            store.clone(),
            hosts.clone(),
            counters.clone(),
            name.into(),
            T,
        );
        (d, hosts, counters)
    }

    #[tokio::test]
    async fn one_collector_holds_and_shows_the_hosts_the_other_stored_until_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
        let (mut a, a_hosts, a_counters) = collector(&store, "a");
        let (mut b, b_hosts, b_counters) = collector(&store, "b");
        assert!(a.step(T).await);
        assert!(!b.step(T + 1).await);
        assert!(!a_counters.standby());
        assert!(b_counters.standby());

        // b ingests web-02 (stored, and in b's own table); a learns of it at its next step,
        // and of its next report, not of what it holds already.
        let r = stored("web-02", "b1", 7, T + 2_000);
        store.insert(r.clone()).await.unwrap();
        b_hosts.update(r.decode().unwrap(), r.received_ms);
        let own = stored("web-01", "b1", 3, T + 2_500);
        store.insert(own.clone()).await.unwrap();
        a_hosts.update(own.decode().unwrap(), own.received_ms);
        assert!(a.step(T + RENEW.as_millis() as i64).await);
        let seen: Vec<(String, u64, i64)> = a_hosts
            .snapshot()
            .iter()
            .map(|h| {
                (
                    h.report.agent_id.clone(),
                    h.report.sequence,
                    h.received_unix_ms,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("web-01".into(), 3, T + 2_500),
                ("web-02".into(), 7, T + 2_000)
            ]
        );
        assert_eq!(
            stale_keys(&a_hosts, store.newest_keys_since(T, 10).await.unwrap()),
            [],
            "nothing left to read"
        );
        store
            .insert(stored("web-02", "b1", 8, T + 12_000))
            .await
            .unwrap();
        assert!(a.step(T + 2 * RENEW.as_millis() as i64).await);
        assert_eq!(a_hosts.newest_of("web-02"), Some(("b1".into(), 8)));

        // a is killed (no renewal, no release): b takes over once the lease expired, and
        // its own table then learns of web-01, which reported to a.
        let last = T + 2 * RENEW.as_millis() as i64;
        assert!(!b.step(last + TTL.as_millis() as i64 - 1).await);
        assert!(b.step(last + TTL.as_millis() as i64).await);
        assert!(!b_counters.standby());
        assert_eq!(b_hosts.newest_of("web-01"), Some(("b1".into(), 3)));
        // a comes back: on standby.
        assert!(!a.step(last + TTL.as_millis() as i64 + 1).await);
        assert!(a_counters.standby());

        // b stops cleanly: released, a holds at once.
        release(store.as_ref(), "b").await;
        assert!(a.step(last + TTL.as_millis() as i64 + 2).await);
    }
}
