//! Lossless delivery under fault injection (issue 4): the collector killed and restarted,
//! a long collector outage, agents killed while writing, a damaged spool, a spool on a full
//! filesystem. Wrong agent clocks are in `clock.rs`.
//!
//! Waits end in `unwrap()` rather than `?`: a panic unwinds through the agent and collector
//! handles, which then print their logs, and a failed wait needs those to be understood.
//!
//! Completeness is judged from what the collector stored, read from its SQLite database
//! ([`Stored`]), against what each agent generated: an agent persists the sequence number of
//! every report before it makes the report (`<state_dir>/sequence`), so the first number it
//! persisted and the last one bound what it made, and numbers are consecutive in between.
//! "Stored exactly once" is then: every number of that range stored, under one boot id, and
//! the table holds no identity twice.

use std::path::Path;
use std::time::{Duration, Instant};

use zerofault_tests::delivery::{
    RECONNECT_TIMEOUT, Rng, STOP_TIMEOUT, collector_runs, first_sequences, stop_all,
    wait_completeness, wait_stored,
};
use zerofault_tests::spool;
use zerofault_tests::stored::{self, Stored, missing, ranges};
use zerofault_tests::{Agent, Collector, SpoolConfig, TestCa, wait_until};

/// 20 agents report every second while the collector is killed with SIGKILL 10 times at
/// random moments and restarted on the same ports and database. Afterwards every report
/// each agent generated is stored exactly once: the stored sequence numbers of each agent
/// are exactly its first..=last, under one boot id, with no identity stored twice.
///
/// A report the collector acknowledged was committed (the agent deletes it then), and one it
/// did not acknowledge stays in the agent's spool and is sent again, possibly after it was
/// committed: the kills land between commit and answer too, which is what the "no
/// duplicates" half checks.
#[tokio::test]
async fn collector_killed_10_times_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    const AGENTS: usize = 20;
    const KILLS: usize = 10;
    let started = Instant::now();
    let ids: Vec<String> = (0..AGENTS).map(|i| format!("kill9-{i:02}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let ca = TestCa::new(&id_refs)?;
    let mut collector = Collector::builder(&ca).spawn().await.unwrap();
    let mut agents = ids
        .iter()
        .map(|id| collector.agent(id).interval("1s").spawn())
        .collect::<anyhow::Result<Vec<Agent>>>()?;
    let first = first_sequences(&agents.iter().collect::<Vec<_>>())
        .await
        .unwrap();
    collector
        .wait_hosts_up(&id_refs, Duration::from_secs(30))
        .await
        .unwrap();

    let mut rng = Rng::from_clock();
    let mut kill_times = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        let delay = Duration::from_millis(rng.range(1000, 4000));
        tokio::time::sleep(delay).await;
        collector.kill9();
        kill_times.push(delay);
        collector.restart().await.unwrap();
    }
    eprintln!("killed the collector after {kill_times:?}");
    for a in &mut agents {
        assert_eq!(
            a.exited(),
            None,
            "agent {} must survive the collector",
            a.id()
        );
    }

    // Everything generated up to now must arrive (the agents keep reporting meanwhile).
    let upto: Vec<u64> = agents
        .iter()
        .map(|a| a.sequence().expect("persisted"))
        .collect();
    let db = collector.db_path();
    let drain_start = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        wait_stored(&db, id, first[i], upto[i], Duration::from_secs(60))
            .await
            .unwrap();
    }
    eprintln!("drained in {:.1?}", drain_start.elapsed());
    let last = stop_all(&mut agents)?;

    let s = Stored::read(&db)?;
    assert_eq!(
        s.rows, s.distinct,
        "no (agent, boot, sequence) may be stored twice"
    );
    let mut total = 0;
    for (i, id) in ids.iter().enumerate() {
        let boot = s.only_boot(id)?;
        let (&lo, &hi) = (
            boot.keys().next().expect("non-empty"),
            boot.keys().next_back().expect("non-empty"),
        );
        assert_eq!(lo, first[i], "{id}: the first report generated is stored");
        let absent = missing(boot, lo, hi);
        assert!(
            absent.is_empty(),
            "{id}: {} lost between {lo} and {hi}: {}",
            absent.len(),
            ranges(&absent)
        );
        // The agents were stopped right after the drain check: at most the report made in
        // that moment may still wait in the spool (it is sent at the next start), none is
        // missing below it.
        assert!(
            hi >= upto[i] && last[i] - hi <= 1,
            "{id}: newest stored {hi}, generated up to {} (checked {} before the stop)",
            last[i],
            upto[i]
        );
        total += boot.len();
    }
    // The collector's own completeness figures agree with the rows, also after one more
    // crash: they are computed from storage, not kept in memory.
    collector.kill9();
    collector.restart().await.unwrap();
    for id in &ids {
        let stored = s.only_boot(id)?.len() as u64;
        wait_completeness(&collector, id, stored, 0).await.unwrap();
    }
    // The collector recorded its own runs: the first, one per restart, and the current one;
    // every killed run ended uncleanly, before the next began (its own outage, which later
    // stages must not count as host downtime).
    let runs = collector_runs(&collector).await?;
    assert_eq!(runs.len(), KILLS + 2, "{runs:?}");
    for w in runs.windows(2) {
        let stopped = w[0].stopped_unix_ms.expect("an earlier run has ended");
        assert!(
            !w[0].clean && w[0].started_unix_ms <= stopped && stopped <= w[1].started_unix_ms,
            "a killed run: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    assert_eq!(runs[KILLS + 1].stopped_unix_ms, None, "{runs:?}");
    eprintln!(
        "{AGENTS} agents, {KILLS} collector kills: {total} reports stored once each, 0 lost, \
         0 duplicated; /metrics agrees (reports_stored, sequence_gaps 0) after another kill; \
         test took {:.1?}",
        started.elapsed()
    );
    Ok(())
}

/// The collector is unreachable for 105 report intervals (stopped, then 105 s at a 1 s
/// interval) and comes back: every report of the outage is stored, in the order it was made,
/// and while the backlog drains the live reports keep arriving within a few seconds.
///
/// The backfill rate is set to 10 reports/s so that the drain of 105-165 reports (the outage,
/// plus what is made while the agent waits for its next retry) lasts 10-17 s: long enough to
/// watch live reports flow beside it (at the default 50/s it would be over in two or three
/// seconds and "live during the drain" would be nearly vacuous).
#[tokio::test]
async fn collector_outage_of_100_intervals_is_backfilled_in_order_behind_live_reports()
-> anyhow::Result<()> {
    const OUTAGE: Duration = Duration::from_secs(105);
    const RATE: u32 = 10;
    let started = Instant::now();
    let ca = TestCa::new(&["outage-a"])?;
    let mut collector = Collector::builder(&ca).spawn().await.unwrap();
    let mut agent = collector
        .agent("outage-a")
        .interval("1s")
        .spool(SpoolConfig {
            backfill_rate: Some(RATE),
            ..SpoolConfig::default()
        })
        .spawn()?;
    let first = first_sequences(&[&agent]).await.unwrap()[0];
    let db = collector.db_path();
    wait_stored(&db, "outage-a", first, first + 2, Duration::from_secs(30))
        .await
        .unwrap();

    // A graceful stop this time (the other tests crash it): the collector records a clean
    // end of its run.
    collector.stop(STOP_TIMEOUT)?;
    let outage_first = agent.sequence().expect("persisted");
    tokio::time::sleep(OUTAGE).await;
    assert_eq!(agent.exited(), None, "the agent must survive the outage");
    let outage_last = agent.sequence().expect("persisted");
    assert!(
        outage_last - outage_first >= 100,
        "the outage spans {} reports, fewer than 100 intervals",
        outage_last - outage_first
    );
    collector.restart().await.unwrap();
    let back = Instant::now();

    // Watch the drain. The agent resumes with its next retry, up to a backoff (60 s at
    // most) after the restart, and then sends the newest report first: from then until
    // nothing older is missing, the newest stored report must stay close to the newest
    // generated. Reports made while the agent waited for that retry are backlog too.
    let mut polls_while_draining = 0u32;
    let mut worst_lag = 0u64;
    let deadline = back + RECONNECT_TIMEOUT + Duration::from_secs(60);
    let drained_at = loop {
        assert!(
            Instant::now() < deadline,
            "backlog not drained {:?} after the restart",
            back.elapsed()
        );
        let generated = agent.sequence().expect("persisted");
        let s = Stored::read(&db)?;
        let boot = s.only_boot("outage-a")?;
        let newest = *boot.keys().next_back().expect("stored before");
        let drained = missing(boot, first, newest).is_empty() && newest + 1 >= generated;
        if drained {
            break back.elapsed();
        }
        if newest > outage_last {
            // Delivery resumed, and the backlog is still draining.
            polls_while_draining += 1;
            worst_lag = worst_lag.max(generated - newest);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let last = stop_all(std::slice::from_mut(&mut agent))?[0];

    let s = Stored::read(&db)?;
    assert_eq!(s.rows, s.distinct, "no report stored twice");
    let boot = s.only_boot("outage-a")?;
    let newest = *boot.keys().next_back().expect("stored");
    let absent = missing(boot, first, newest);
    assert!(
        absent.is_empty(),
        "{} reports lost: {}",
        absent.len(),
        ranges(&absent)
    );
    assert!(
        last - newest <= 1,
        "generated up to {last}, stored up to {newest}"
    );
    // The collector's own record shows the outage: a clean stop, then a start the outage
    // later.
    let runs = collector_runs(&collector).await?;
    assert_eq!(runs.len(), 2, "{runs:?}");
    let stopped = runs[0].stopped_unix_ms.expect("the first run ended");
    assert!(
        runs[0].clean && runs[1].started_unix_ms - stopped >= OUTAGE.as_millis() as i64,
        "runs {runs:?}"
    );
    // Completeness figures, live and recomputed from storage by a start.
    wait_completeness(&collector, "outage-a", boot.len() as u64, 0)
        .await
        .unwrap();
    collector.kill9();
    collector.restart().await.unwrap();
    wait_completeness(&collector, "outage-a", boot.len() as u64, 0)
        .await
        .unwrap();
    // The first report stored after the restart is the one the agent sent when delivery
    // resumed: its newest then, sent ahead of the backlog by design. Everything made before
    // it and after the last report stored before the outage is the backlog.
    let (&resumed_with, resumed_row) = boot
        .range(outage_first + 1..)
        .min_by_key(|(_, r)| r.received_ms)
        .expect("stored after the restart");
    let resumed = resumed_row.received_ms;
    let backlog_first = boot
        .range(..=outage_first + 1)
        .filter(|(_, r)| r.received_ms < resumed)
        .map(|(q, _)| q + 1)
        .max()
        .unwrap_or(first);
    // In order: the backlog was stored oldest first.
    let backlog: Vec<i64> = (backlog_first..resumed_with)
        .map(|q| boot[&q].received_ms)
        .collect();
    assert!(
        backlog.len() >= 100,
        "backlog of {} reports, fewer than the outage",
        backlog.len()
    );
    let out_of_order = backlog.windows(2).filter(|w| w[1] < w[0]).count();
    assert_eq!(
        out_of_order, 0,
        "backlog stored out of order: received times {backlog:?}"
    );
    // Live first: reports made after delivery resumed, while the backlog drained, were
    // stored within seconds of being made (agent and collector share this clock).
    let backlog_done = *backlog.iter().max().expect("non-empty");
    let live_delays: Vec<i64> = boot
        .range(resumed_with + 1..)
        .filter(|(_, r)| r.agent_timestamp_ms > resumed && r.received_ms <= backlog_done)
        .map(|(_, r)| r.received_ms - r.agent_timestamp_ms)
        .collect();
    assert!(
        live_delays.len() >= 5,
        "too few live reports during the drain to judge: {live_delays:?}"
    );
    let worst_delay = *live_delays.iter().max().expect("non-empty");
    assert!(
        worst_delay <= 3000,
        "a live report waited {worst_delay} ms behind the backlog: {live_delays:?}"
    );
    assert!(
        polls_while_draining >= 4,
        "the drain was over before it could be watched ({polls_while_draining} polls)"
    );
    assert!(
        worst_lag <= 3,
        "during the drain the newest stored report fell {worst_lag} reports behind"
    );
    eprintln!(
        "outage of {} reports ({OUTAGE:?}), backlog of {} stored in order; drained \
         {drained_at:.1?} after the restart; {} live reports during the drain, stored \
         {}..={worst_delay} ms after being made; newest stored lagged at most {worst_lag} \
         behind over {polls_while_draining} polls; test took {:.1?}",
        outage_last - outage_first,
        backlog.len(),
        live_delays.len(),
        live_delays.iter().min().expect("non-empty"),
        started.elapsed()
    );
    Ok(())
}

/// An agent is killed with SIGKILL 10 times while it works (the kills aim at the moment it
/// collects, spools and sends a report) and restarted each time. No report it had spooled is
/// lost.
///
/// Why at most one report per kill may be missing, and which one: the agent persists a
/// report's sequence number before it makes the report (`Sequence::allocate` in
/// `Reporter::collect`), then appends the report to the spool and fsyncs it, then sends it.
/// A kill after the sequence number was persisted and before the append finished loses that
/// one report (it never existed on disk, was never sent, and the restarted agent continues
/// with the next number). A kill after the append loses nothing: the record is in the spool
/// and is sent after the restart. So the only numbers allowed to be missing are the
/// sequence numbers persisted at the moment of each kill.
#[tokio::test]
async fn agent_killed_10_times_while_writing_loses_no_spooled_report() -> anyhow::Result<()> {
    const KILLS: usize = 10;
    let started = Instant::now();
    let ca = TestCa::new(&["crash-a"])?;
    let collector = Collector::builder(&ca).spawn().await.unwrap();
    let mut agent = collector.agent("crash-a").interval("1s").spawn()?;
    let mut spawned = Instant::now();
    let first = first_sequences(&[&agent]).await.unwrap()[0];
    let db = collector.db_path();

    let mut rng = Rng::from_clock();
    let mut at_kill = Vec::with_capacity(KILLS);
    for _ in 0..KILLS {
        // The agent collects at start + 300 ms + n s (its CPU prime, then a fixed grid);
        // aim at the first ~100 ms after such a tick, where it collects, appends, fsyncs and
        // sends (start-up shifts the grid by a few ms).
        let n = rng.range(1, 3);
        let aim = spawned + Duration::from_millis(300 + 1000 * n + rng.range(0, 100));
        tokio::time::sleep_until(aim.into()).await;
        agent.kill();
        at_kill.push(
            agent
                .sequence()
                .ok_or_else(|| anyhow::anyhow!("no sequence persisted before a kill"))?,
        );
        agent.restart()?;
        spawned = Instant::now();
    }
    // Reports made after the last restart must arrive too: the agent works after 10 kills.
    let upto = wait_until(
        "two reports after the last restart",
        Duration::from_secs(15),
        Duration::from_millis(100),
        || async {
            match agent.sequence() {
                Some(s) if s >= at_kill[KILLS - 1] + 2 => Ok(s),
                other => Err(format!("sequence {other:?}")),
            }
        },
    )
    .await
    .unwrap();
    let allowed = |q: &u64| at_kill.contains(q);
    wait_until(
        "every spooled report stored",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            let s = Stored::read(&db).map_err(|e| e.to_string())?;
            let boot = s.only_boot("crash-a").map_err(|e| e.to_string())?;
            let lost: Vec<u64> = missing(boot, first, upto)
                .into_iter()
                .filter(|q| !allowed(q))
                .collect();
            if lost.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "missing beyond the kill boundaries: {}",
                    ranges(&lost)
                ))
            }
        },
    )
    .await
    .unwrap();
    let last = stop_all(std::slice::from_mut(&mut agent))?[0];

    let s = Stored::read(&db)?;
    assert_eq!(s.rows, s.distinct, "no report stored twice");
    let boot = s.only_boot("crash-a")?;
    let newest = *boot.keys().next_back().expect("stored");
    assert!(newest >= upto && last - newest <= 1);
    let absent = missing(boot, first, newest);
    let lost: Vec<u64> = absent.iter().copied().filter(|q| !allowed(q)).collect();
    assert!(
        lost.is_empty(),
        "reports lost that were not being written at a kill: {} (kills at {at_kill:?})",
        ranges(&lost)
    );
    // The collector counts exactly those as gaps: live (a request cut by the agent's kill
    // after its commit is still counted, the bookkeeping runs apart from the request), and
    // again after a restart, which recomputes them from storage.
    wait_completeness(
        &collector,
        "crash-a",
        boot.len() as u64,
        absent.len() as u64,
    )
    .await
    .unwrap();
    let mut collector = collector;
    collector.kill9();
    collector.restart().await.unwrap();
    wait_completeness(
        &collector,
        "crash-a",
        boot.len() as u64,
        absent.len() as u64,
    )
    .await
    .unwrap();
    eprintln!(
        "{KILLS} agent kills: {} reports stored, {} missing, all at kill boundaries {:?} (the \
         report being made when killed); test took {:.1?}",
        boot.len(),
        absent.len(),
        absent,
        started.elapsed()
    );
    Ok(())
}

/// Flips one bit in the middle of a record's payload (its checksum no longer matches).
fn flip_byte(segment: &Path, record: &spool::Record) -> anyhow::Result<()> {
    let mut bytes = std::fs::read(segment)?;
    let at = (record.offset + spool::HEADER_BYTES) as usize + record.len as usize / 2;
    bytes[at] ^= 0x10;
    std::fs::write(segment, bytes)?;
    Ok(())
}

/// Cuts a segment in the middle of `record` (a torn write at power loss).
fn truncate_in(segment: &Path, record: &spool::Record) -> anyhow::Result<()> {
    let cut = record.offset + spool::HEADER_BYTES + u64::from(record.len) / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(segment)?
        .set_len(cut)?;
    Ok(())
}

/// Runs the (stopped) agent until it has made `n` more reports, then stops it with SIGTERM.
async fn run_for_reports(agent: &mut Agent, n: u64) -> anyhow::Result<()> {
    let before = agent.sequence().unwrap_or(0);
    agent.restart()?;
    wait_until(
        &format!("{n} more reports"),
        Duration::from_secs(n + 15),
        Duration::from_millis(100),
        || async {
            match agent.sequence() {
                Some(s) if s >= before + n => Ok(()),
                other => Err(format!("sequence {other:?}, started after {before}")),
            }
        },
    )
    .await
    .unwrap();
    agent.stop(STOP_TIMEOUT)
}

/// Where [`spool_damage`] damages the spool.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Damage {
    /// Both in the newest segment, the one the agent wrote last: a flipped byte in a middle
    /// record, and the segment cut in the middle of its last record (a torn write at power
    /// loss happens exactly there).
    NewestSegment,
    /// A torn tail in an older segment and a flipped byte in the newest one (damage at rest
    /// in a segment an earlier start had already scanned clean).
    OlderAndNewest,
}

/// With the agent stopped, its spool is damaged in two records (see [`Damage`]). The agent
/// starts, skips exactly the two damaged reports, counts both as corrupt, sends everything
/// else, and keeps running.
///
/// The test reads the segments first (records decode to their reports' sequence numbers),
/// so it knows exactly which two reports the damage destroys. The collector is down while
/// the segments are written, so every record in them is unacknowledged (the agent deletes
/// a segment only when all its records are acknowledged).
async fn spool_damage(id: &str, damage: Damage) -> anyhow::Result<()> {
    let started = Instant::now();
    let ca = TestCa::new(&[id])?;
    let mut collector = Collector::builder(&ca).spawn().await.unwrap();
    let mut agent = collector.agent(id).interval("1s").spawn()?;
    let first = first_sequences(&[&agent]).await.unwrap()[0];
    let db = collector.db_path();
    wait_stored(&db, id, first, first + 1, Duration::from_secs(30))
        .await
        .unwrap();

    collector.kill9();
    agent.stop(STOP_TIMEOUT)?;
    let acked_max = *Stored::read(&db)?
        .only_boot(id)?
        .keys()
        .next_back()
        .expect("stored");
    let corrupt_before = stored::newest_report(&db, id)?
        .and_then(|r| r.agent_stats)
        .map_or(0, |s| s.spool_corrupt_total);
    // Every start writes a new segment: two runs of 5 reports give two segments.
    run_for_reports(&mut agent, 5).await.unwrap();
    run_for_reports(&mut agent, 5).await.unwrap();
    let segs = spool::segments(&agent.spool_dir())?;
    assert!(segs.len() >= 2, "expected two segments, found {segs:?}");
    let (older, newer) = (&segs[segs.len() - 2], &segs[segs.len() - 1]);
    let (older_records, newer_records) = (spool::records(older)?, spool::records(newer)?);
    for r in older_records.iter().chain(&newer_records) {
        assert!(
            r.sequence > acked_max,
            "record {r:?} was acknowledged (stored up to {acked_max}); the damage must hit \
             unsent reports"
        );
    }
    assert!(
        older_records.len() >= 3 && newer_records.len() >= 4,
        "segments too short: {older_records:?} {newer_records:?}"
    );
    // The flipped record is the second of the newest segment: records after it (at least
    // one before the torn last one) must still be read.
    let flipped = newer_records[1].clone();
    flip_byte(newer, &flipped)?;
    let (torn_segment, torn_records) = match damage {
        Damage::NewestSegment => (newer, &newer_records),
        Damage::OlderAndNewest => (older, &older_records),
    };
    let torn = torn_records.last().expect("non-empty").clone();
    truncate_in(torn_segment, &torn)?;
    let mut destroyed = vec![torn.sequence, flipped.sequence];
    destroyed.sort_unstable();

    collector.restart().await.unwrap();
    agent.restart()?;
    let restarted_after = agent.sequence().expect("persisted");
    let upto = restarted_after + 3;
    wait_until(
        "the agent to run on past the damage",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            match agent.sequence() {
                Some(s) if s >= upto => Ok(()),
                other => Err(format!("sequence {other:?}")),
            }
        },
    )
    .await
    .unwrap();
    let s = wait_until(
        "everything but the damaged reports stored",
        RECONNECT_TIMEOUT,
        Duration::from_millis(250),
        || async {
            let s = Stored::read(&db).map_err(|e| e.to_string())?;
            let absent = missing(s.only_boot(id).map_err(|e| e.to_string())?, first, upto);
            if absent == destroyed {
                Ok(s)
            } else {
                Err(format!(
                    "missing {} (destroyed {destroyed:?})",
                    ranges(&absent)
                ))
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(agent.exited(), None, "the agent must keep running");
    assert_eq!(s.rows, s.distinct, "no report stored twice");
    // The agent's own count, in a report made after the start that found the damage.
    let corrupt_after = stored::newest_report(&db, id)?
        .and_then(|r| r.agent_stats)
        .map_or(0, |s| s.spool_corrupt_total);
    assert_eq!(
        corrupt_after - corrupt_before,
        2,
        "one torn record and one flipped byte are two corrupt records"
    );
    // The collector shows the agent's count, and the two skipped reports as gaps.
    wait_until(
        "the collector to show the corrupt count",
        Duration::from_secs(20),
        Duration::from_millis(250),
        || async {
            let m = collector.metrics().await.map_err(|e| e.to_string())?;
            match m.get("zerofault_agent_spool_corrupt_total", &[("agent", id)]) {
                Ok(v) if v == corrupt_after as f64 => Ok(()),
                other => Err(format!("{other:?}, agent says {corrupt_after}")),
            }
        },
    )
    .await
    .unwrap();
    let stored_now = Stored::read(&db)?.only_boot(id)?.len() as u64;
    let (_, gaps) = zerofault_tests::delivery::completeness(&collector, id).await?;
    assert_eq!(
        gaps, 2.0,
        "the two skipped reports are the only gaps ({stored_now} stored)"
    );
    agent.stop(STOP_TIMEOUT)?;
    eprintln!(
        "damaged reports {destroyed:?} skipped, {} corrupt counted, all other reports \
         {first}..={upto} stored; test took {:.1?}",
        corrupt_after - corrupt_before,
        started.elapsed()
    );
    Ok(())
}

/// Damage where power loss puts it (see [`spool_damage`]).
#[tokio::test]
async fn damaged_spool_records_are_counted_skipped_and_the_agent_keeps_running()
-> anyhow::Result<()> {
    spool_damage("damage-a", Damage::NewestSegment).await
}

/// Damage at rest in an older segment (see [`spool_damage`]): a segment that an earlier
/// start had already scanned clean must still have its damage counted, not only skipped.
#[tokio::test]
async fn damage_in_an_older_spool_segment_is_counted_too() -> anyhow::Result<()> {
    spool_damage("damage-b", Damage::OlderAndNewest).await
}

/// A link id of 128 characters (the longest allowed) that differs between targets and does
/// not compress: reports of many such links are large, so a small spool fills in seconds.
fn bulky_link_id(i: usize, rng: &mut Rng) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut id = format!("bulk-{i:03}-");
    while id.len() < 128 {
        id.push(CHARS[rng.range(0, CHARS.len() as u64 - 1) as usize] as char);
    }
    id
}

/// How [`tiny_filesystem`] bounds the spool.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SpoolBound {
    /// `spool.max_bytes` left at its default (512 MiB), far above the filesystem: the disk
    /// fills first, as on a small /var the operator did not size the spool for.
    Default,
    /// `spool.max_bytes` = the filesystem's size (256 KiB, the smallest bound).
    FilesystemSize,
}

/// The spool directory is on a 256 KiB tmpfs and the collector is down until the spool has
/// dropped reports for a while. The agent stays up, drops the oldest reports (the missing
/// ones are one run, and the newest reports of the outage are all stored), and the count it
/// reports equals what was generated minus what was stored, exactly.
///
/// The agent probes 80 TCP targets with long, incompressible link ids, so that each report
/// is several KiB and the filesystem fills in about half a minute at a 1 s interval.
async fn tiny_filesystem(id: &str, bound: SpoolBound) -> anyhow::Result<()> {
    const PROBES: usize = 80;
    let started = Instant::now();
    let fs = zerofault_tests::tmpfs::Tmpfs::mount("256k")?;
    let ca = TestCa::new(&[id])?;
    let mut collector = Collector::builder(&ca).spawn().await.unwrap();
    // A port nobody listens on: every probe is refused at once, and still reported.
    let closed = zerofault_tests::free_addr();
    let mut rng = Rng::from_clock();
    let mut builder = collector.agent(id).interval("1s").spool(SpoolConfig {
        dir: Some(fs.path().join("spool")),
        max_bytes: match bound {
            SpoolBound::Default => None,
            SpoolBound::FilesystemSize => Some(256 << 10),
        },
        backfill_rate: None,
    });
    for i in 0..PROBES {
        builder = builder.probe(zerofault_tests::LinkProbe::new(
            &bulky_link_id(i, &mut rng),
            "tcp",
            &closed.to_string(),
            "1s",
            "500ms",
        ));
    }
    let mut agent = builder.spawn()?;
    let first = first_sequences(&[&agent]).await.unwrap()[0];
    let db = collector.db_path();
    wait_stored(&db, id, first, first + 1, Duration::from_secs(30))
        .await
        .unwrap();

    collector.kill9();
    let outage_first = agent.sequence().expect("persisted");
    // The agent says once per episode that it drops reports; after that it keeps dropping
    // for a while, so that several segments' worth go.
    wait_until(
        "the agent to drop reports",
        Duration::from_secs(150),
        Duration::from_millis(500),
        || async {
            if agent
                .output()
                .contains("dropping the oldest unsent reports")
            {
                Ok(())
            } else {
                Err(format!("sequence {:?}", agent.sequence()))
            }
        },
    )
    .await
    .unwrap();
    let drops_began = agent.sequence().expect("persisted");
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(agent.exited(), None, "the agent must survive a full disk");
    let outage_last = agent.sequence().expect("persisted");
    let restarted_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    collector.restart().await.unwrap();

    // Drained: the newest stored report says nothing was waiting when it was made. Its
    // counters are then final (nothing is dropped once the spool is empty).
    let newest = wait_until(
        "the spool to drain",
        RECONNECT_TIMEOUT,
        Duration::from_millis(500),
        || async {
            let r = stored::newest_report(&db, id)
                .map_err(|e| e.to_string())?
                .ok_or("nothing stored")?;
            let stats = r.agent_stats.ok_or("no agent_stats")?;
            if r.sequence > outage_last && stats.spool_reports == 0 {
                Ok((r.sequence, stats))
            } else {
                Err(format!("newest {} with {stats:?}", r.sequence))
            }
        },
    )
    .await
    .unwrap();
    let (newest, stats) = newest;
    agent.stop(STOP_TIMEOUT)?;

    let s = Stored::read(&db)?;
    assert_eq!(s.rows, s.distinct, "no report stored twice");
    let boot = s.only_boot(id)?;
    let generated = newest - first + 1;
    let stored_count = boot.range(first..=newest).count() as u64;
    let absent = missing(boot, first, newest);
    assert!(
        stats.spool_dropped_total > 0,
        "the outage should have overfilled the spool"
    );
    // The kill can cut off the acknowledgement of the report it was storing: that report is
    // in the database, but the agent never heard so and counts it among those it dropped
    // when the spool overflowed. At most one such report (the agent sends one at a time);
    // every other dropped report is missing, and nothing else is.
    let lost = generated - stored_count;
    assert!(
        lost == stats.spool_dropped_total || lost + 1 == stats.spool_dropped_total,
        "generated {generated} ({first}..={newest}), stored {stored_count}, dropped {}, missing {}",
        stats.spool_dropped_total,
        ranges(&absent)
    );
    // The collector shows the agent's dropped count, and the dropped reports as its gaps.
    let m = collector.metrics().await?;
    assert_eq!(
        m.get("zerofault_agent_spool_dropped_total", &[("agent", id)])?,
        stats.spool_dropped_total as f64,
        "zerofault_agent_spool_dropped_total"
    );
    let max_stored = *boot.keys().next_back().expect("stored");
    let gaps = missing(boot, first, max_stored).len() as u64;
    // Live, and recomputed from storage by a start.
    wait_completeness(&collector, id, boot.len() as u64, gaps)
        .await
        .unwrap();
    collector.kill9();
    collector.restart().await.unwrap();
    wait_completeness(&collector, id, boot.len() as u64, gaps)
        .await
        .unwrap();
    // Oldest first: the missing reports are one run from the start of the outage, and the
    // newest reports made before delivery resumed are stored. The agent resumes with its
    // next retry, up to a backoff (60 s) after the restart, and keeps dropping the oldest
    // until then; the first report stored after the restart is its newest at that moment.
    let (&resumed_with, _) = boot
        .range(outage_first + 1..)
        .min_by_key(|(_, r)| r.received_ms)
        .expect("stored after the restart");
    let (lo, hi) = (absent[0], absent[absent.len() - 1]);
    // One run, except where delivery had resumed while the spool was still over its bound:
    // the agent sent its oldest unsent report and then, making a new one, still dropped the
    // next oldest. A report stored inside the run was therefore received after the restart.
    let inside: Vec<u64> = boot.range(lo..=hi).map(|(s, _)| *s).collect();
    assert!(
        boot.range(lo..=hi)
            .all(|(_, r)| r.received_ms >= restarted_ms),
        "dropped reports should be one run of the oldest, but {:?} inside {} were stored before \
         the restart",
        inside,
        ranges(&absent)
    );
    assert_eq!(
        hi - lo + 1,
        absent.len() as u64 + inside.len() as u64,
        "dropped reports should be one run of the oldest: {}",
        ranges(&absent)
    );
    assert!(
        lo <= outage_first + 1 && hi + 10 < resumed_with,
        "dropped {}, but the oldest unsent report was {} and the newest when delivery resumed \
         {resumed_with} (drops began at {drops_began})",
        ranges(&absent),
        outage_first + 1
    );
    eprintln!(
        "tiny filesystem ({bound:?} bound): outage from {outage_first}, delivery resumed with \
         {resumed_with}; dropped {} (oldest: {}), stored {stored_count} of {generated}, \
         generated - stored = dropped; \
         test took {:.1?}",
        stats.spool_dropped_total,
        ranges(&absent),
        started.elapsed()
    );
    Ok(())
}

/// The spool bound is the filesystem's size (see [`tiny_filesystem`]).
#[tokio::test]
async fn spool_bounded_to_a_tiny_filesystem_drops_oldest_and_counts_exactly() -> anyhow::Result<()>
{
    tiny_filesystem("tinyfs-a", SpoolBound::FilesystemSize).await
}

/// The spool bound is the default, far above the filesystem (see [`tiny_filesystem`]).
#[tokio::test]
async fn spool_on_a_full_filesystem_drops_oldest_and_counts_exactly() -> anyhow::Result<()> {
    tiny_filesystem("tinyfs-b", SpoolBound::Default).await
}
