//! What every store backend must do, written once against `Arc<dyn Store>`: each function
//! is one behaviour, and a backend runs them all with one line, [`contract_tests!`] given a
//! constructor of its [`Backend`] (`sqlite/tests.rs` for SQLite, `postgres/tests.rs` for
//! PostgreSQL, against a server the test harness starts). What only one backend does
//! (SQLite's file modes and query plans, PostgreSQL's concurrent migrations and durability
//! check, each one's group commit) is tested beside that backend instead.

use crate::live::delivery::{BootSpan, StoredSpan};
use crate::live::links::Fault;
use crate::store::api::{
    ClosedMonth, CollectorRun, InsertOutcome, ListeningPeriod, ReportKey, StoreError, StoredReport,
};

mod kit;
mod security;
mod series;
mod several;
pub use kit::*;
pub use security::*;
pub use series::*;
pub use several::*;

/// One `#[tokio::test]` per behaviour of this module, each with a store from `$backend` (an
/// expression evaluated afresh by every test, so that each starts from an empty store).
macro_rules! contract_tests {
    ($backend:expr) => {
        $crate::store::contract::contract_tests!(@each $backend;
            insert_is_idempotent_and_survives_reopen,
            newest_per_boot_is_the_highest_sequence_not_the_last_received,
            faults_are_stored_once_even_when_seen_again,
            scan_reports_pages_in_key_order_from_a_receive_time,
            a_month_is_closed_once,
            reports_since_pages_in_receive_order,
            boot_spans_and_collector_runs_survive_reopen,
            listening_periods_are_stored_once_by_span,
            buckets_summarise_each_stored_report_once,
            retention_deletes_old_bodies_and_keeps_what_is_needed,
            a_start_closes_only_its_own_instances_run,
            a_lease_has_one_holder_until_it_expires,
            holders_trying_at_once_never_both_hold_a_lease,
            the_newest_reports_received_since_are_read_by_key,
            a_full_bucket_keeps_its_reports_and_stays_as_it_was,
            series_slots_are_written_merged_and_read_by_range,
            retention_deletes_old_series_hours_in_batches,
            reports_received_pages_a_window_in_receive_order,
            audit_appends_form_one_chain_and_retention_keeps_it_verifiable,
            revocations_and_tokens_are_shared_and_spent_once,
            an_adjustment_is_its_audit_record_and_is_withdrawn_once,
        );
    };
    (@each $backend:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::store::contract::$name(&$backend).await;
            }
        )*
    };
}
pub(crate) use contract_tests;

/// A closed fault of `link` seen by agents `a` and `b`.
pub fn fault(link: &str, start: i64, end: i64) -> Fault {
    Fault {
        link_id: link.into(),
        level: "city-county".into(),
        domain: "public".into(),
        start_unix_ms: start,
        end_unix_ms: Some(end),
        duration_ms: end - start,
        agents: vec!["a".into(), "b".into()],
        settled: true,
    }
}

pub async fn insert_is_idempotent_and_survives_reopen(backend: &dyn Backend) {
    let store = backend.open().await;
    assert_eq!(
        store.insert(report("a", 1, 10)).await.unwrap(),
        InsertOutcome::Stored
    );
    assert_eq!(
        store.insert(report("a", 1, 20)).await.unwrap(),
        InsertOutcome::Duplicate
    );
    store.insert(report("a", 2, 30)).await.unwrap();
    store.insert(report("b", u64::MAX, 5)).await.unwrap();
    assert_eq!(store.count_reports().await.unwrap(), 3);
    store.close().await;
    assert!(matches!(
        store.count_reports().await,
        Err(StoreError::Closed)
    ));

    // What was stored survives closing and reopening (the migrations, run again, are a
    // no-op).
    let store = backend.open().await;
    assert_eq!(store.count_reports().await.unwrap(), 3);
    let latest = store.newest_per_boot().await.unwrap();
    assert_eq!(latest.len(), 2);
    assert_eq!((latest[0].agent_id.as_str(), latest[0].sequence), ("a", 2));
    assert_eq!(
        (latest[1].agent_id.as_str(), latest[1].sequence),
        ("b", u64::MAX)
    );
}

pub async fn newest_per_boot_is_the_highest_sequence_not_the_last_received(backend: &dyn Backend) {
    let store = backend.open().await;
    insert_boots(store.as_ref()).await;
    let newest: Vec<_> = store
        .newest_per_boot()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.agent_id, r.boot_id, r.sequence, r.received_ms))
        .collect();
    let want = [
        ("a", "boot", 100, 1_000),
        ("a", "boot0", 89, 2_089),
        ("b", "boot", 3, 500),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(a, b, s, t)| (a.to_string(), b.to_string(), *s, *t))
        .collect();
    assert_eq!(newest, want);
}

pub async fn faults_are_stored_once_even_when_seen_again(backend: &dyn Backend) {
    let store = backend.open().await;
    let new = store
        .insert_faults(vec![fault("l1", 1_000, 90_000), fault("l2", 1_000, 90_000)])
        .await
        .unwrap();
    assert_eq!(new, 2);
    // The same fault again, and cut at a replay horizon: not new.
    let again = store
        .insert_faults(vec![
            fault("l1", 1_000, 90_000),
            fault("l1", 30_000, 90_000),
        ])
        .await
        .unwrap();
    assert_eq!(again, 0);
    store
        .insert_faults(vec![fault("l1", 200_000, 300_000)])
        .await
        .unwrap();
    let all = store.faults(None).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], fault("l1", 1_000, 90_000));
    let l1 = store.faults(Some("l1".into())).await.unwrap();
    assert_eq!(
        l1.iter().map(|f| f.start_unix_ms).collect::<Vec<_>>(),
        [1_000, 200_000]
    );
    let mut open = fault("l3", 1, 2);
    open.end_unix_ms = None;
    assert!(matches!(
        store.insert_faults(vec![open]).await,
        Err(StoreError::OpenFault { .. })
    ));
}

pub async fn scan_reports_pages_in_key_order_from_a_receive_time(backend: &dyn Backend) {
    let store = backend.open().await;
    for (agent, seq, received) in [
        ("b", 2, 30),
        ("a", 10, 20),
        ("a", 9, 5),
        ("b", 1, 40),
        ("a", 11, 50),
    ] {
        store.insert(report(agent, seq, received)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = store
            .scan_reports(10, after.clone(), 2, false)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(ReportKey::of(last));
        seen.extend(page.iter().map(|r| (r.agent_id.clone(), r.sequence)));
    }
    // ("a", 9) was received before 10: left out.
    let expected: Vec<(String, u64)> = [("a", 10), ("a", 11), ("b", 1), ("b", 2)]
        .map(|(a, q)| (a.to_owned(), q))
        .to_vec();
    assert_eq!(seen, expected);
    // Only the reports with link data, when asked.
    store
        .insert(StoredReport {
            link_data: false,
            ..report("a", 12, 60)
        })
        .await
        .unwrap();
    let all = store.scan_reports(10, None, 100, false).await.unwrap();
    let links = store.scan_reports(10, None, 100, true).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(links.len(), 4);
    assert!(links.iter().all(|r| r.sequence != 12));
}

/// A report of `agent` with a decodable body: boot `boot`, `uptime_s` seconds after boot,
/// made at `agent_ms` and received at `received_ms`.
pub fn real_report(
    agent: &str,
    boot: &str,
    seq: u64,
    uptime_s: u64,
    agent_ms: i64,
    received_ms: i64,
) -> StoredReport {
    let r = zerofault_protocol::Report {
        agent_id: agent.into(),
        hostname: format!("{agent}.example"),
        boot_id: boot.into(),
        sequence: seq,
        timestamp_unix_ms: agent_ms,
        interval_ms: 15_000,
        system: Some(zerofault_protocol::SystemInfo {
            uptime_seconds: uptime_s,
            ..Default::default()
        }),
        ..Default::default()
    };
    StoredReport {
        agent_id: agent.into(),
        boot_id: boot.into(),
        sequence: seq,
        agent_timestamp_ms: agent_ms,
        received_ms,
        body: prost::Message::encode_to_vec(&r),
        link_data: false,
    }
}

pub async fn buckets_summarise_each_stored_report_once(backend: &dyn Backend) {
    let store = backend.open().await;
    const T: i64 = 1_800_000_000_000;
    // Agent a: boot x, two days of uptime (buckets 0 and 1), stored out of order with a
    // duplicate; agent b: one report, received long before (left out by `since`).
    let reports = [
        real_report("a", "x", 3, 90_000, T + 90_000_000, T + 90_000_050),
        real_report("a", "x", 1, 30, T + 30_000, T + 30_040),
        real_report("a", "x", 2, 45, T + 45_000, T + 9_000_000),
        real_report("a", "x", 1, 30, T + 30_000, T + 30_040),
        real_report("b", "y", 1, 60, T - 86_400_000, T - 86_400_000),
    ];
    for r in &reports {
        store.insert(r.clone()).await.unwrap();
    }
    let mut expected: std::collections::BTreeMap<
        crate::rollup::BucketKey,
        crate::rollup::HostBucket,
    > = Default::default();
    for r in &reports[..3] {
        let (bucket, s) = r.rollup(&Default::default()).unwrap();
        expected
            .entry(crate::rollup::BucketKey {
                agent_id: r.agent_id.clone(),
                boot_id: r.boot_id.clone(),
                bucket,
            })
            .or_default()
            .merge(&s);
    }
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = store.scan_buckets(T, after.clone(), 1).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        seen.extend(page);
    }
    let seen: Vec<_> = seen.into_iter().map(|b| (b.key, b.bucket)).collect();
    assert_eq!(seen, expected.into_iter().collect::<Vec<_>>());
    assert_eq!(seen[0].1.reports, 2, "the duplicate counted once");
    // Summaries merged in bulk join the same buckets by the same rule.
    let extra = real_report("a", "x", 4, 90_010, T + 90_010_000, T + 90_010_050);
    let (bucket, summary) = extra.rollup(&Default::default()).unwrap();
    let key = crate::rollup::BucketKey {
        agent_id: "a".into(),
        boot_id: "x".into(),
        bucket,
    };
    store
        .merge_buckets(vec![crate::rollup::StoredBucket {
            key: key.clone(),
            bucket: summary.clone(),
        }])
        .await
        .unwrap();
    let mut want = seen[1].1.clone();
    want.merge(&summary);
    let got = store
        .scan_buckets(T, Some(seen[0].0.clone()), 1)
        .await
        .unwrap();
    assert_eq!((got[0].key.clone(), got[0].bucket.clone()), (key, want));
    assert_eq!(seen[0].1.received_max_ms, T + 9_000_000);
    // They survive a reopen, and b's shows with an earlier `since`.
    store.close().await;
    let store = backend.open().await;
    assert_eq!(store.scan_buckets(T, None, 10).await.unwrap().len(), 2);
    let all = store.scan_buckets(i64::MIN, None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].key.agent_id, "b");
}

pub async fn a_month_is_closed_once(backend: &dyn Backend) {
    let store = backend.open().await;
    let month = |manifest: &str| ClosedMonth {
        month: "2026-10".into(),
        closed_unix_ms: 7,
        report_json: b"{}".to_vec(),
        manifest: manifest.into(),
    };
    assert!(store.close_month(month("first")).await.unwrap());
    assert!(!store.close_month(month("second")).await.unwrap());
    store.close().await;
    let store = backend.open().await;
    let got = store.closed_month("2026-10".into()).await.unwrap().unwrap();
    assert_eq!(got, month("first"));
    assert_eq!(store.closed_month("2026-11".into()).await.unwrap(), None);
}

pub async fn reports_since_pages_in_receive_order(backend: &dyn Backend) {
    let store = backend.open().await;
    // Received out of agent order, two at the same millisecond.
    for (agent, seq, received) in [
        ("b", 1, 10),
        ("a", 1, 20),
        ("a", 2, 20),
        ("b", 2, 30),
        ("a", 3, 5),
    ] {
        store.insert(report(agent, seq, received)).await.unwrap();
    }
    // Without link data: never replayed.
    let mut plain = report("c", 1, 25);
    plain.link_data = false;
    store.insert(plain).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.reports_since(10, after, 2).await.unwrap();
        seen.extend(
            page.reports
                .iter()
                .map(|r| (r.agent_id.clone(), r.sequence)),
        );
        match page.next {
            Some(c) => after = Some(c),
            None => break,
        }
    }
    let want: Vec<(String, u64)> = [("b", 1), ("a", 1), ("a", 2), ("b", 2)]
        .iter()
        .map(|(a, s)| (a.to_string(), *s))
        .collect();
    assert_eq!(seen, want);
}

pub async fn boot_spans_and_collector_runs_survive_reopen(backend: &dyn Backend) {
    let store = backend.open().await;
    for seq in [3, 4, 7] {
        store.insert(report("a", seq, 10)).await.unwrap();
    }
    let spans = store.boot_spans().await.unwrap();
    assert_eq!(
        spans,
        [StoredSpan {
            agent_id: "a".into(),
            boot_id: "boot".into(),
            span: BootSpan {
                min: 3,
                max: 7,
                count: 3
            }
        }]
    );
    let first = store.start_run("c1".into(), 1_000).await.unwrap();
    store.heartbeat_run(first, 11_000).await.unwrap();
    store.close().await;

    // The first run never stopped: a crash, closed at its last heartbeat.
    let store = backend.open().await;
    let second = store.start_run("c1".into(), 50_000).await.unwrap();
    store.stop_run(second, 60_000).await.unwrap();
    let runs = store.collector_runs().await.unwrap();
    assert_eq!(
        runs,
        [
            CollectorRun {
                id: first,
                started_unix_ms: 1_000,
                last_heartbeat_unix_ms: 11_000,
                stopped_unix_ms: Some(11_000),
                clean: false
            },
            CollectorRun {
                id: second,
                started_unix_ms: 50_000,
                last_heartbeat_unix_ms: 60_000,
                stopped_unix_ms: Some(60_000),
                clean: true
            }
        ]
    );
}

pub async fn listening_periods_are_stored_once_by_span(backend: &dyn Backend) {
    let store = backend.open().await;
    let period = |start: i64, end: i64, source: &str| ListeningPeriod {
        start_unix_ms: start,
        end_unix_ms: end,
        source: source.into(),
        imported_unix_ms: 7,
    };
    let new = store
        .insert_listening(vec![
            period(5_000, 9_000, "b.ndjson"),
            period(1_000, 4_000, "a.ndjson"),
        ])
        .await
        .unwrap();
    assert_eq!(new, 2);
    // The same file imported again, or another inferring the same span: nothing new.
    let again = store
        .insert_listening(vec![
            period(1_000, 4_000, "a.ndjson"),
            period(5_000, 9_000, "c.ndjson"),
        ])
        .await
        .unwrap();
    assert_eq!(again, 0);
    store
        .insert_listening(vec![period(1_000, 2_000, "d.ndjson")])
        .await
        .unwrap();
    store.close().await;
    let store = backend.open().await;
    assert_eq!(
        store.listening_periods().await.unwrap(),
        [
            period(1_000, 2_000, "d.ndjson"),
            period(1_000, 4_000, "a.ndjson"),
            period(5_000, 9_000, "b.ndjson"),
        ]
    );
}

pub async fn retention_deletes_old_bodies_and_keeps_what_is_needed(backend: &dyn Backend) {
    let store = backend.open().await;
    const T: i64 = 1_800_000_000_000;
    for seq in 1..=5u64 {
        let up = 15 * seq;
        let t = T + seq as i64 * 15_000;
        store
            .insert(StoredReport {
                // One with link data: deleted as the others (its windows are rolled up).
                link_data: seq == 2,
                ..real_report("a", "x", seq, up, t, t + 10)
            })
            .await
            .unwrap();
    }
    // The newest of boot x carries link data: kept as its boot's newest; b's only report is
    // its boot's newest.
    let links = StoredReport {
        link_data: true,
        ..real_report("a", "x", 6, 90, T + 90_000, T + 90_010)
    };
    store.insert(links).await.unwrap();
    store
        .insert(real_report("b", "y", 1, 30, T, T + 5))
        .await
        .unwrap();
    let spans = store.boot_spans().await.unwrap();
    let newest = store.newest_per_boot().await.unwrap();
    let buckets = store.scan_buckets(i64::MIN, None, 100).await.unwrap();

    let (mut deleted, mut after, mut batches) = (0, None, 0);
    loop {
        let page = store.retire_reports(T + 1_000_000, after, 2).await.unwrap();
        deleted += page.deleted;
        batches += 1;
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
        assert!(batches < 10, "the batches end");
    }
    assert_eq!(
        deleted, 5,
        "a's reports 1-5 (2 with link data): not its newest 6, not b's only one"
    );
    assert_eq!(store.count_reports().await.unwrap(), 2);
    // A second pass finds nothing more.
    let again = store
        .retire_reports(T + 1_000_000, None, 100)
        .await
        .unwrap();
    assert_eq!(again.deleted, 0);
    // Nothing that reads the store at start-up, or the month, sees a difference.
    assert_eq!(store.boot_spans().await.unwrap(), spans);
    assert_eq!(store.newest_per_boot().await.unwrap(), newest);
    assert_eq!(
        store.scan_buckets(i64::MIN, None, 100).await.unwrap(),
        buckets
    );
    // A replay of a deleted report is a duplicate, and joins no bucket twice.
    assert_eq!(
        store
            .insert(real_report("a", "x", 3, 45, T + 45_000, T + 2_000_000))
            .await
            .unwrap(),
        InsertOutcome::Duplicate
    );
    assert_eq!(store.count_reports().await.unwrap(), 2);
    assert_eq!(
        store.scan_buckets(i64::MIN, None, 100).await.unwrap(),
        buckets
    );
    // A new report of the boot is stored as ever.
    assert_eq!(
        store
            .insert(real_report("a", "x", 7, 105, T + 105_000, T + 2_000_000))
            .await
            .unwrap(),
        InsertOutcome::Stored
    );
    // Old buckets go by their last receive time, a batch at a time.
    let mut gone = 0;
    loop {
        let n = store.delete_buckets(T + 1_000_000, 1).await.unwrap();
        gone += n;
        if n == 0 {
            break;
        }
    }
    // a's bucket was received again at T + 2e6: only b's goes.
    assert_eq!(gone, 1, "only b's bucket was last received before the cut");
    assert_eq!(
        store.scan_buckets(i64::MIN, None, 100).await.unwrap().len(),
        1
    );
    store.reclaim().await.unwrap();
    // It all survives a reopen.
    store.close().await;
    let store = backend.open().await;
    assert_eq!(
        store
            .insert(real_report("a", "x", 2, 30, T + 30_000, T + 3_000_000))
            .await
            .unwrap(),
        InsertOutcome::Duplicate
    );
}

pub async fn a_full_bucket_keeps_its_reports_and_stays_as_it_was(backend: &dyn Backend) {
    let store = backend.open().await;
    const T: i64 = 1_800_000_000_000;
    // 1,000 filesystems with 200-byte mount points: one hour's sample is about 210 KiB, two
    // do not fit a bucket (crate::rollup::MAX_BUCKET_BYTES).
    let big = |seq: u64, uptime_s: u64| {
        let mut r = real_report("a", "x", seq, uptime_s, T + uptime_s as i64 * 1000, T + 10);
        let mut decoded = r.decode().unwrap();
        decoded.filesystems = (0..1_000)
            .map(|i| zerofault_protocol::Filesystem {
                mount_point: format!("/{i:0>199}"),
                size_bytes: 1 << 30,
                used_bytes: 1 << 29,
                ..Default::default()
            })
            .collect();
        r.body = prost::Message::encode_to_vec(&decoded);
        r
    };
    assert_eq!(
        store.insert(big(1, 60)).await.unwrap(),
        InsertOutcome::Stored
    );
    let one = store.scan_buckets(i64::MIN, None, 10).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].bucket.reports, 1);
    // The second hour's sample would overflow the bucket: the report is stored all the same,
    // and the bucket stays as it was.
    assert_eq!(
        store.insert(big(2, 3_660)).await.unwrap(),
        InsertOutcome::Stored
    );
    assert_eq!(store.count_reports().await.unwrap(), 2);
    assert_eq!(store.scan_buckets(i64::MIN, None, 10).await.unwrap(), one);
    // A small report of the same day still joins: the bucket is full only for a summary
    // that would not fit.
    assert_eq!(
        store
            .insert(real_report("a", "x", 3, 120, T + 120_000, T + 20))
            .await
            .unwrap(),
        InsertOutcome::Stored
    );
    assert_eq!(
        store.scan_buckets(i64::MIN, None, 10).await.unwrap()[0]
            .bucket
            .reports,
        2
    );
}
