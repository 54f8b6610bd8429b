//! Wrong agent clocks (issue 4): an agent clock far ahead, and one stepped back while the
//! agent runs. The collector must lose nothing, see no reboot and no gap, and flag the skew.
//!
//! Waits end in `unwrap()` rather than `?`: a panic unwinds through the agent and collector
//! handles, which then print their logs.

use std::time::{Duration, Instant};

use zerofault_tests::delivery::{first_sequences, stop_all, wait_completeness, wait_stored};
use zerofault_tests::stored::{self, Stored, missing, ranges};
use zerofault_tests::{Collector, TestCa, wait_until};

/// Agent clock minus collector clock of every stored report of one agent, in seconds, by
/// sequence: how far the agent's fake clock really is from this machine's (both run here).
fn clock_diffs(boot: &stored::Boot) -> Vec<(u64, f64)> {
    boot.values()
        .map(|r| {
            (
                r.sequence,
                (r.agent_timestamp_ms - r.received_ms) as f64 / 1000.0,
            )
        })
        .collect()
}

/// Two agents with wrong clocks (libfaketime, see `zerofault_tests::faketime`): one an hour
/// ahead from its start, one stepped back 10 minutes while it runs. Neither loses a report,
/// neither looks rebooted (one boot id, boot time unchanged, host up throughout), and the
/// collector flags both as skewed with the right offset.
///
/// Before relying on the fake clocks, the test checks in the stored reports that the agents'
/// timestamps really are off by the amount set (the agent's clock minus the collector's
/// receive time, both on this machine).
#[tokio::test]
async fn agent_clock_ahead_or_stepped_back_loses_nothing_and_is_flagged() -> anyhow::Result<()> {
    let started = Instant::now();
    let ca = TestCa::new(&["skew-ahead", "skew-step"])?;
    let mut collector = Collector::builder(&ca)
        .max_skew("1m")
        .spawn()
        .await
        .unwrap();
    let ahead =
        zerofault_tests::faketime::offset(collector.agent("skew-ahead").interval("1s"), "+1h")?
            .spawn()?;
    let clock = zerofault_tests::faketime::SteppableClock::new("+0")?;
    let step = clock
        .apply(collector.agent("skew-step").interval("1s"))?
        .spawn()?;
    let first = first_sequences(&[&ahead, &step]).await.unwrap();
    let db = collector.db_path();
    wait_stored(
        &db,
        "skew-ahead",
        first[0],
        first[0] + 4,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let s = wait_stored(
        &db,
        "skew-step",
        first[1],
        first[1] + 4,
        Duration::from_secs(30),
    )
    .await
    .unwrap();

    // The fake clocks work: +3600 s and ~0 s (a report is stored within a second or two).
    for (agent, want) in [("skew-ahead", 3600.0), ("skew-step", 0.0)] {
        for (q, d) in clock_diffs(s.only_boot(agent)?) {
            assert!(
                (d - want).abs() < 5.0,
                "{agent} report {q}: clock differs by {d} s, expected {want} s (is libfaketime \
                 working?)"
            );
        }
    }
    let before = collector.metrics().await.unwrap();
    let boot_time = |m: &zerofault_tests::Exposition, a: &str| {
        m.get("zerofault_host_boot_time_seconds", &[("agent", a)])
    };
    let boot_before = [
        boot_time(&before, "skew-ahead")?,
        boot_time(&before, "skew-step")?,
    ];

    clock.set("-10m")?;
    let stepped_at = step.sequence().expect("persisted");
    // Flagged: the collector's offset estimate from live reports reaches the fake offsets.
    let m = wait_until(
        "both agents flagged as skewed",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let m = collector.metrics().await.map_err(|e| e.to_string())?;
            let get = |name: &str, a: &str| m.get(name, &[("agent", a)]).ok();
            let off_ahead = get("zerofault_agent_clock_offset_seconds", "skew-ahead");
            let off_step = get("zerofault_agent_clock_offset_seconds", "skew-step");
            let flags = (
                get("zerofault_agent_clock_skewed", "skew-ahead"),
                get("zerofault_agent_clock_skewed", "skew-step"),
            );
            let near = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < 30.0);
            if flags == (Some(1.0), Some(1.0)) && near(off_ahead, 3600.0) && near(off_step, -600.0)
            {
                Ok(m)
            } else {
                Err(format!(
                    "offsets {off_ahead:?} / {off_step:?}, skewed {flags:?}"
                ))
            }
        },
    )
    .await
    .unwrap();
    let offsets = [
        m.get(
            "zerofault_agent_clock_offset_seconds",
            &[("agent", "skew-ahead")],
        )?,
        m.get(
            "zerofault_agent_clock_offset_seconds",
            &[("agent", "skew-step")],
        )?,
    ];
    for a in ["skew-ahead", "skew-step"] {
        assert_eq!(m.get("zerofault_host_up", &[("agent", a)])?, 1.0, "{a} up");
    }
    let boot_after = [boot_time(&m, "skew-ahead")?, boot_time(&m, "skew-step")?];
    assert_eq!(
        boot_after, boot_before,
        "a clock step is not a reboot: boot time unchanged"
    );
    let mut agents = vec![ahead, step];
    let last = stop_all(&mut agents)?;
    // Reports made between the checks above and the stop are stored by now (all but
    // possibly the last one, which may wait in the spool).
    for (i, a) in ["skew-ahead", "skew-step"].into_iter().enumerate() {
        wait_stored(&db, a, first[i], last[i] - 1, Duration::from_secs(30))
            .await
            .unwrap();
    }
    let s = Stored::read(&db)?;
    assert_eq!(s.rows, s.distinct, "no report stored twice");
    for (i, a) in ["skew-ahead", "skew-step"].into_iter().enumerate() {
        let boot = s.only_boot(a)?;
        let newest = *boot.keys().next_back().expect("stored");
        let absent = missing(boot, first[i], newest);
        assert!(absent.is_empty(), "{a} lost {}", ranges(&absent));
        assert!(
            last[i] - newest <= 1,
            "{a}: generated {}, stored up to {newest}",
            last[i]
        );
    }
    // The step really happened in the agent: its later reports are 600 s behind.
    let stepped: Vec<(u64, f64)> = clock_diffs(s.only_boot("skew-step")?)
        .into_iter()
        .filter(|(q, _)| *q > stepped_at + 1)
        .collect();
    assert!(
        !stepped.is_empty() && stepped.iter().all(|(_, d)| (d + 600.0).abs() < 5.0),
        "reports after the step should be 600 s behind: {stepped:?}"
    );
    // No gap, by the collector's count: live, and after a restart, which recomputes it
    // from storage.
    for a in ["skew-ahead", "skew-step"] {
        let stored = s.only_boot(a)?.len() as u64;
        wait_completeness(&collector, a, stored, 0).await.unwrap();
    }
    collector.kill9();
    collector.restart().await.unwrap();
    for a in ["skew-ahead", "skew-step"] {
        let stored = s.only_boot(a)?.len() as u64;
        wait_completeness(&collector, a, stored, 0).await.unwrap();
    }
    eprintln!(
        "clock +1h: offset {:.1} s, skewed; clock stepped back 10 min: offset {:.1} s, skewed; \
         no report lost, one boot id each, boot time unchanged; test took {:.1?}",
        offsets[0],
        offsets[1],
        started.elapsed()
    );
    Ok(())
}
