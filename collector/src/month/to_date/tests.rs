use super::*;
use crate::store::contract::real_report;
use crate::store::{SqliteStore, Store};

/// 2026-03-10 00:00 Asia/Shanghai (the default inventory's time zone).
const T: i64 = 1_773_072_000_000;

async fn runner(dir: &tempfile::TempDir) -> Runner {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    let run = store.start_run("c".into(), T - 3_600_000).await.unwrap();
    store.heartbeat_run(run, T + 3_600_000).await.unwrap();
    // Host a reports every 15 s for an hour from T; host b for the first half hour only.
    for (agent, n) in [("a", 240u64), ("b", 120)] {
        for seq in 1..=n {
            let t = T + seq as i64 * 15_000;
            store
                .insert(real_report(agent, "boot", seq, 600 + 15 * seq, t, t + 20))
                .await
                .unwrap();
        }
    }
    Runner {
        store,
        inventory: Arc::new(Inventory::default()),
        links: Arc::new(Links::default()),
        settings: MonthToDate {
            lang: "en".into(),
            ..MonthToDate::default()
        },
        computations: Computations::default(),
        latest: Latest::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_month_to_date_is_the_months_report_up_to_now() {
    let dir = tempfile::tempdir().unwrap();
    let r = runner(&dir).await;
    assert!(
        r.latest.get().is_none(),
        "nothing before the first computation"
    );
    let now = T + 3_600_000;
    assert!(r.once(now).await);
    let snap = r.latest.get().unwrap();
    assert_eq!(snap.computed_unix_ms, now);
    // The same figures as the report of the month in progress at that time.
    let want = crate::month::compute(
        r.store.as_ref(),
        &r.inventory,
        &r.links,
        &MonthRequest {
            month: "2026-03".into(),
            lang: "en".into(),
            now_ms: now,
            closed: false,
            hosts: HostSource::Rollups,
        },
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(snap.report, want);
    assert!(snap.report.month_to_date);
    assert_eq!(snap.report.month, "2026-03");
    let hosts: Vec<&str> = snap
        .report
        .hosts
        .iter()
        .map(|h| h.agent_id.as_str())
        .collect();
    assert_eq!(hosts, ["a", "b"]);
    // b went silent half an hour ago: it is down now, a is not.
    let down = |i: usize| snap.report.hosts[i].figures.minutes.down;
    assert_eq!(down(0), 0.0);
    assert!(down(1) >= 29.0, "{}", down(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_slot_of_a_month_has_no_figures_and_keeps_the_last_ones() {
    let dir = tempfile::tempdir().unwrap();
    let r = runner(&dir).await;
    assert!(r.once(T + 3_600_000).await);
    // 2026-04-01 00:00:30 Shanghai: April has no whole slot yet.
    let april = 1_774_972_800_000 + 30_000;
    assert_eq!(crate::month::current_month(&r.inventory, april), "2026-04");
    assert!(!r.once(april).await);
    assert_eq!(r.latest.get().unwrap().report.month, "2026-03");
}

#[test]
fn settings_name_their_key() {
    let mut got = Vec::new();
    MonthToDate {
        enabled: true,
        interval: Duration::from_secs(10),
        lang: "fr".into(),
    }
    .problems(&mut |k, m| got.push((k, m)));
    let keys: Vec<&str> = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["month_to_date.interval", "month_to_date.lang"]);
    let mut none = Vec::new();
    MonthToDate::default().problems(&mut |k, _| none.push(k));
    assert!(none.is_empty());
}
