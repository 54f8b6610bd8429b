//! The run loop with the spool against a real mTLS server: a collector that is down and
//! then up gets everything, the newest report first and the backlog behind it in order at
//! the configured rate; a spool left from before the start is sent as backlog.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use zerofault_agent::spool::{Spool, SpoolOptions};
use zerofault_protocol::{Report, decode_report, encode_report};

/// Reports left in the spool (not acknowledged) after a run.
fn spooled(dir: &std::path::Path) -> Vec<Report> {
    let mut s = Spool::open(SpoolOptions::new(dir, 512 << 20)).unwrap();
    s.pending_ids()
        .into_iter()
        .map(|id| decode_report(&s.read(id).unwrap(), 1 << 24).unwrap())
        .collect()
}

fn prefill(dir: &std::path::Path, sequences: std::ops::RangeInclusive<u64>, ts: i64) {
    let mut s = Spool::open(SpoolOptions::new(dir, 512 << 20)).unwrap();
    for seq in sequences {
        let report = Report {
            protocol_version: 1,
            agent_id: "web-01".into(),
            sequence: seq,
            timestamp_unix_ms: ts + i64::try_from(seq).unwrap(),
            ..Default::default()
        };
        s.append(&encode_report(&report), report.timestamp_unix_ms)
            .unwrap();
    }
    // No save: like a crash; everything is backlog at the next start.
}

#[tokio::test(flavor = "current_thread")]
async fn collector_down_then_up_gets_everything_live_first_then_backlog_in_order() {
    let pki = common::pki();
    let server = common::serve(&pki, false).await;
    let state = tempfile::tempdir().unwrap();
    let mut config = common::config(&pki, server.port, state.path());
    config.interval = Duration::from_millis(200);
    config.spool.backfill_rate = 20;
    // The first report is number 1000.
    std::fs::write(state.path().join("sequence"), "999\n").unwrap();

    let up = server.up.clone();
    let received = server.received.clone();
    let started = Instant::now();
    let shutdown = async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        up.store(true, Ordering::SeqCst);
        // Until the outage's reports and a few live ones are in, at most 25 s.
        while started.elapsed() < Duration::from_secs(25) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut seqs: Vec<u64> = received
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.report.sequence)
                .collect();
            seqs.sort_unstable();
            let contiguous = seqs.iter().enumerate().all(|(i, s)| *s == 1000 + i as u64);
            if contiguous && seqs.len() >= 18 {
                break;
            }
        }
    };
    zerofault_agent::run(config, shutdown).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let got = server.reports();
    let seqs: Vec<u64> = got.iter().map(|r| r.report.sequence).collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), seqs.len(), "no duplicates: {seqs:?}");
    // Everything made was delivered or is still in the spool: nothing lost.
    let last: u64 = std::fs::read_to_string(state.path().join("sequence"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut all = sorted.clone();
    all.extend(
        spooled(&state.path().join("spool"))
            .iter()
            .map(|r| r.sequence),
    );
    all.sort_unstable();
    all.dedup();
    assert_eq!(all, (1000..=last).collect::<Vec<_>>(), "received {seqs:?}");
    assert!(seqs.len() >= 18, "{seqs:?}");

    // The first delivery after the outage is the newest report, not the oldest.
    let first = seqs[0];
    assert!(first >= 1005, "live first: {seqs:?}");
    let backlog: Vec<_> = got.iter().filter(|r| r.report.sequence < first).collect();
    assert_eq!(backlog.len() as u64, first - 1000, "{seqs:?}");
    assert!(
        backlog
            .windows(2)
            .all(|w| w[0].report.sequence < w[1].report.sequence),
        "backlog in order: {seqs:?}"
    );
    // Paced at 20/s: 50 ms apart on average at least (10 % slack for timer granularity).
    let span = backlog.last().unwrap().at - backlog[0].at;
    let min = Duration::from_millis(45) * (backlog.len() as u32 - 1);
    assert!(span >= min, "backlog of {} in {span:?}", backlog.len());
    // Live data was not starved: a report made during the drain overtook the backlog.
    let last_backlog = seqs.iter().rposition(|s| *s < first).unwrap();
    assert!(
        seqs[1..last_backlog].iter().any(|s| *s > first),
        "a live report interleaved with the backlog: {seqs:?}"
    );
    // Delivery statistics travel in the reports.
    let stats = got[0].report.agent_stats.clone().unwrap();
    assert!(stats.spool_reports >= 5, "{stats:?}");
    assert!(stats.oldest_unsent_unix_ms > 0, "{stats:?}");
    assert!(
        stats
            .send_errors_total
            .iter()
            .any(|e| e.count > 0 && e.kind == "connect"),
        "{stats:?}"
    );
    // Reports made after the recovery count the acknowledgements before them.
    let acked = got
        .iter()
        .filter_map(|r| r.report.agent_stats.as_ref())
        .map(|s| s.reports_acknowledged_total)
        .max();
    assert!(acked > Some(0), "{acked:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn spool_left_from_before_is_backlog_drained_in_order_behind_live_reports() {
    let pki = common::pki();
    let server = common::serve(&pki, true).await;
    let state = tempfile::tempdir().unwrap();
    let mut config = common::config(&pki, server.port, state.path());
    config.interval = Duration::from_millis(300);
    config.spool.backfill_rate = 100;
    const OLD_TS: i64 = 1_700_000_000_000;
    prefill(&config.spool.dir, 1..=300, OLD_TS);

    let received = server.received.clone();
    let started = Instant::now();
    let shutdown = async move {
        while started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let r = received.lock().unwrap();
            let old = r.iter().filter(|r| r.report.sequence <= 300).count();
            let live = r.len() - old;
            if old == 300 && live >= 3 {
                break;
            }
        }
    };
    zerofault_agent::run(config.clone(), shutdown)
        .await
        .unwrap();
    let got = server.reports();
    let old: Vec<_> = got.iter().filter(|r| r.report.sequence <= 300).collect();
    assert_eq!(
        old.iter().map(|r| r.report.sequence).collect::<Vec<_>>(),
        (1..=300).collect::<Vec<_>>(),
        "backlog complete and in order"
    );
    let span = old.last().unwrap().at - old[0].at;
    assert!(
        span >= Duration::from_millis(9 * 299),
        "at most 100/s (10 % slack): {span:?}"
    );
    // Live reports kept flowing during the ~3 s drain.
    let last_old = got.iter().rposition(|r| r.report.sequence <= 300).unwrap();
    let live_during = got[..last_old]
        .iter()
        .filter(|r| r.report.sequence > 300)
        .count();
    assert!(
        live_during >= 4,
        "{live_during} live reports during the drain"
    );
    let first_live = got.iter().find(|r| r.report.sequence > 300).unwrap();
    let stats = first_live.report.agent_stats.clone().unwrap();
    assert!(stats.spool_reports > 200, "{stats:?}");
    assert_eq!(
        stats.oldest_unsent_unix_ms,
        OLD_TS + 1 + (300 - stats.spool_reports as i64)
    );
    assert!(spooled(&config.spool.dir).len() <= 1);
}

/// Drain time of one day of 15 s reports (5760) to a local server, at the default rate and
/// unpaced: `cargo test -p zerofault-agent --test backfill -- --ignored --nocapture`.
#[tokio::test(flavor = "current_thread")]
#[ignore = "measurement, run by hand (about two minutes)"]
async fn measure_drain_of_one_day() {
    for rate in [10_000, 50] {
        let pki = common::pki();
        let server = common::serve(&pki, true).await;
        let state = tempfile::tempdir().unwrap();
        let mut config = common::config(&pki, server.port, state.path());
        config.interval = Duration::from_secs(3600);
        config.spool.backfill_rate = rate;
        prefill(&config.spool.dir, 1..=5760, 1_700_000_000_000);
        let received = server.received.clone();
        let started = Instant::now();
        let shutdown = async move {
            // The first live report (made at start) is not part of the backlog.
            while received
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.report.sequence <= 5760)
                .count()
                < 5760
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        zerofault_agent::run(config, shutdown).await.unwrap();
        let got: Vec<_> = server
            .reports()
            .into_iter()
            .filter(|r| r.report.sequence <= 5760)
            .collect();
        let span = got.last().unwrap().at - got[0].at;
        eprintln!(
            "backfill_rate {rate}/s: 5760 reports drained in {:.1} s ({:.0} reports/s), {:.1} s from start",
            span.as_secs_f64(),
            5759.0 / span.as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
        let seqs: Vec<u64> = got.iter().map(|r| r.report.sequence).collect();
        assert_eq!(seqs, (1..=5760).collect::<Vec<_>>());
    }
}
