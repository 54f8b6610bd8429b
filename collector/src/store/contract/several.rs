//! The contract of what several collectors on one store share (docs/scale-out.md): runs per
//! instance, the deployment lease, and the reads by which the lease holder learns of the
//! reports the others stored. Run by [`super::contract_tests!`] like the rest.

use super::kit::{Backend, insert_boots};
use crate::store::api::{CollectorRun, InstanceRun, ReportKey};

/// Two collectors on one store (docs/scale-out.md): their runs overlap and are both kept as
/// the evidence of hearing agents; a restart of one closes its own crashed run only; a run
/// recorded before runs had an instance is closed by whichever starts first.
pub async fn a_start_closes_only_its_own_instances_run(backend: &dyn Backend) {
    let store = backend.open().await;
    let run = |instance: &str, id, started, heartbeat, stopped, clean| InstanceRun {
        instance: instance.into(),
        run: CollectorRun {
            id,
            started_unix_ms: started,
            last_heartbeat_unix_ms: heartbeat,
            stopped_unix_ms: stopped,
            clean,
        },
    };
    let a1 = store.start_run("a".into(), 1_000).await.unwrap();
    let b1 = store.start_run("b".into(), 2_000).await.unwrap();
    store.heartbeat_run(a1, 21_000).await.unwrap();
    store.heartbeat_run(b1, 22_000).await.unwrap();
    // `a` is killed and restarts: its run ends at its last heartbeat, `b` serves on.
    let a2 = store.start_run("a".into(), 30_000).await.unwrap();
    store.heartbeat_run(b1, 32_000).await.unwrap();
    assert_eq!(
        store.instance_runs().await.unwrap(),
        [
            run("a", a1, 1_000, 21_000, Some(21_000), false),
            run("b", b1, 2_000, 32_000, None, false),
            run("a", a2, 30_000, 30_000, None, false),
        ]
    );
    // The union of both instances is the evidence, overlaps and all.
    let runs = store.collector_runs().await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), [a1, b1, a2]);
    store.stop_run(b1, 40_000).await.unwrap();
    let b2 = store.start_run("b".into(), 50_000).await.unwrap();
    let runs = store.instance_runs().await.unwrap();
    assert_eq!(runs[1], run("b", b1, 2_000, 40_000, Some(40_000), true));
    assert_eq!(
        runs[2].run.stopped_unix_ms, None,
        "a's live run is untouched"
    );
    assert_eq!(runs[3], run("b", b2, 50_000, 50_000, None, false));
}

/// The lease of docs/scale-out.md: taken, renewed, refused to another holder until it
/// expires, taken over then, released.
pub async fn a_lease_has_one_holder_until_it_expires(backend: &dyn Backend) {
    let store = backend.open().await;
    let lease =
        |holder: &str, now: i64| store.try_lease("deployment".into(), holder.into(), 30_000, now);
    assert!(lease("a", 1_000).await.unwrap());
    assert!(!lease("b", 1_000).await.unwrap());
    // Renewed by its holder: b still waits past the first expiry.
    assert!(lease("a", 20_000).await.unwrap());
    assert!(!lease("b", 31_000).await.unwrap());
    // Another lease name is another row.
    assert!(
        store
            .try_lease("other".into(), "b".into(), 30_000, 31_000)
            .await
            .unwrap()
    );
    // a stops renewing (killed): b takes over at the expiry, and a no longer holds it.
    assert!(lease("b", 50_000).await.unwrap());
    assert!(!lease("a", 50_001).await.unwrap());
    // Released by someone who does not hold it: nothing changes.
    store
        .release_lease("deployment".into(), "a".into())
        .await
        .unwrap();
    assert!(!lease("a", 50_002).await.unwrap());
    // Released by its holder: another takes it at once.
    store
        .release_lease("deployment".into(), "b".into())
        .await
        .unwrap();
    assert!(lease("a", 50_003).await.unwrap());
    store.close().await;
    // The row survives a restart: still a's.
    let store = backend.open().await;
    assert!(
        !store
            .try_lease("deployment".into(), "b".into(), 30_000, 60_000)
            .await
            .unwrap()
    );
}

/// Many holders at the same moment, on as many connections as the backend has: one wins,
/// whether the lease row is new or an expired one is being taken over.
pub async fn holders_trying_at_once_never_both_hold_a_lease(backend: &dyn Backend) {
    let store = backend.open().await;
    for (round, now) in [(0, 1_000), (1, 100_000), (2, 200_000)] {
        let mut tasks = Vec::new();
        for h in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .try_lease("race".into(), format!("r{round}-h{h}"), 30_000, now)
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "round {round}");
    }
}

/// What a lease holder reads to learn of reports stored by other collectors: the newest
/// key of each boot received since a time, then those reports by key.
pub async fn the_newest_reports_received_since_are_read_by_key(backend: &dyn Backend) {
    let store = backend.open().await;
    insert_boots(store.as_ref()).await;
    let key = |agent: &str, boot: &str, sequence| ReportKey {
        agent_id: agent.into(),
        boot_id: boot.into(),
        sequence,
    };
    // Since 1_005: of a's boot "boot" the backlog 94..=99 (its live 100 came at 1_000), of
    // "boot0" 85 and 89; b's 3 came at 500.
    assert_eq!(
        store.newest_keys_since(1_005, 100).await.unwrap(),
        [key("a", "boot", 99), key("a", "boot0", 89)]
    );
    let all = store.newest_keys_since(i64::MIN, 100).await.unwrap();
    let newest = store.newest_per_boot().await.unwrap();
    assert_eq!(
        all,
        newest.iter().map(ReportKey::of).collect::<Vec<_>>(),
        "since the beginning: the newest of every boot"
    );
    assert_eq!(
        store.newest_keys_since(i64::MIN, 1).await.unwrap(),
        all[..1]
    );
    assert!(
        store
            .newest_keys_since(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut wanted = all.clone();
    wanted.push(key("nobody", "boot", 1));
    wanted.reverse();
    let got = store.reports_by_key(wanted).await.unwrap();
    assert_eq!(got, newest, "key order, the unknown key left out");
    assert!(store.reports_by_key(Vec::new()).await.unwrap().is_empty());
}
