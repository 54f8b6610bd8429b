//! The series' pure parts with literal inputs (a report's piece, merging, the accumulator,
//! the crash windows), a property that merging is order-free, and flush and crash rebuild
//! against a SQLite store.

use std::sync::Arc;

use proptest::prelude::*;
use zerofault_protocol::{BlockDevice, Cpu, Filesystem, LinkResult, Memory, Report};

use super::accumulator::{Accumulator, GRACE_MS, MAX_ENTRIES, complete};
use super::flush::{self, HELD_MS, Window};
use super::slot::*;
use crate::store::SqliteStore;
use crate::store::api::{CollectorRun, Store, StoredReport};

const T0: i64 = 1_700_000_100_000; // a slot boundary: 1_700_000_100_000 % 300_000 == 0

fn report(agent: &str, seq: u64, at: i64, cpu: f64) -> Report {
    Report {
        protocol_version: 1,
        agent_id: agent.into(),
        boot_id: "boot-1".into(),
        sequence: seq,
        timestamp_unix_ms: at,
        interval_ms: 15_000,
        cpu: Some(Cpu {
            usage_ratio: cpu,
            load1: 1.5,
            ..Default::default()
        }),
        memory: Some(Memory {
            total_bytes: 1000,
            used_bytes: 250,
            ..Default::default()
        }),
        filesystems: vec![Filesystem {
            mount_point: "/var".into(),
            size_bytes: 200,
            used_bytes: 50,
            ..Default::default()
        }],
        links: vec![LinkResult {
            link_id: "l1".into(),
            sent: 10,
            received: 9,
            loss_ratio: 0.1,
            rtt_avg_seconds: 0.002,
            jitter_seconds: 0.0005,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn figure<'a>(figures: &'a [Figure], kind: Kind, name: &str) -> &'a Figure {
    figures
        .iter()
        .find(|f| f.kind == kind as u32 && f.name == name)
        .unwrap_or_else(|| panic!("no {kind:?} {name}: {figures:?}"))
}

#[test]
fn a_report_becomes_one_piece_of_its_own_slot_in_fixed_units() {
    let (key, slot) = SeriesSlot::of_report(&report("a", 7, T0 + 61_000, 0.5), T0 + 62_000);
    assert_eq!(
        key,
        SeriesKey {
            agent_id: "a".into(),
            slot_start_ms: T0
        }
    );
    assert_eq!(
        slot.host.coverage,
        [Covered {
            boot: boot_hash("boot-1"),
            first: 7,
            last: 7
        }]
    );
    let f = &slot.host.figures;
    assert_eq!(f.len(), 4, "{f:?}");
    assert_eq!(figure(f, Kind::Cpu, "").sum, 500_000);
    assert_eq!(figure(f, Kind::Load1, "").max, 1_500);
    assert_eq!(figure(f, Kind::Memory, "").min, 250_000);
    assert_eq!(figure(f, Kind::Filesystem, "/var").sum, 250_000);
    let link = &slot.links["l1"].figures;
    assert_eq!(figure(link, Kind::Loss, "").sum, 100_000);
    assert_eq!(figure(link, Kind::Rtt, "").sum, 2_000);
    assert_eq!(figure(link, Kind::Jitter, "").sum, 500);
}

#[test]
fn an_agent_clock_ahead_is_placed_at_receipt_and_a_backfill_at_its_own_time() {
    // Made "in an hour" by a clock running ahead: placed where it was received.
    let (key, _) = SeriesSlot::of_report(&report("a", 1, T0 + 3_600_000, 0.5), T0 + 10);
    assert_eq!(key.slot_start_ms, T0);
    // Backfilled a day late: placed where it was made.
    let (key, _) = SeriesSlot::of_report(&report("a", 1, T0 + 10, 0.5), T0 + 86_400_000);
    assert_eq!(key.slot_start_ms, T0);
}

#[test]
fn links_without_answers_have_no_rtt_and_one_answer_no_jitter() {
    let mut r = report("a", 1, T0, 0.1);
    r.links[0].received = 0;
    r.links[0].loss_ratio = 1.0;
    r.links.push(LinkResult {
        link_id: "l2".into(),
        sent: 5,
        received: 1,
        rtt_avg_seconds: 0.01,
        ..Default::default()
    });
    let (_, slot) = SeriesSlot::of_report(&r, T0);
    let kinds = |l: &str| -> Vec<u32> { slot.links[l].figures.iter().map(|f| f.kind).collect() };
    assert_eq!(kinds("l1"), [Kind::Loss as u32]);
    assert_eq!(kinds("l2"), [Kind::Loss as u32, Kind::Rtt as u32]);
}

#[test]
fn merging_adds_counts_and_sums_and_keeps_the_extremes_and_coverage() {
    let (_, mut a) = SeriesSlot::of_report(&report("a", 1, T0, 0.2), T0);
    let (_, b) = SeriesSlot::of_report(&report("a", 2, T0 + 15_000, 0.6), T0 + 15_000);
    let (_, c) = SeriesSlot::of_report(&report("a", 4, T0 + 45_000, 0.4), T0 + 45_000);
    assert_eq!(a.merge(&b), Merged::default());
    a.merge(&c);
    let cpu = figure(&a.host.figures, Kind::Cpu, "");
    assert_eq!(
        (cpu.count, cpu.sum, cpu.min, cpu.max),
        (3, 1_200_000, 200_000, 600_000)
    );
    let boot = boot_hash("boot-1");
    assert_eq!(
        a.host.coverage,
        [
            Covered {
                boot,
                first: 1,
                last: 2
            },
            Covered {
                boot,
                first: 4,
                last: 4
            }
        ]
    );
    assert!(a.covers(&b));
    let (_, d) = SeriesSlot::of_report(&report("a", 3, T0 + 30_000, 0.4), T0 + 30_000);
    assert!(!a.covers(&d));
    // The same report again is found overlapping.
    assert_eq!(a.clone().merge(&b).overlapped, 1);
    a.merge(&d);
    assert_eq!(
        a.host.coverage.len(),
        1,
        "3 fills the gap: {:?}",
        a.host.coverage
    );
}

/// A report of `boot` at `at` whose disk `vda` has been busy `busy_ms` since boot.
fn disk_report(boot: &str, seq: u64, at: i64, busy_ms: u64) -> Report {
    let mut r = report("a", seq, at, 0.5);
    r.boot_id = boot.into();
    r.block_devices = vec![BlockDevice {
        name: "vda".into(),
        io_time_ms_total: busy_ms,
        ..Default::default()
    }];
    r
}

fn disk_rate(reports: &[Report]) -> Option<f64> {
    let mut slot = SeriesSlot::default();
    for r in reports {
        slot.merge(&SeriesSlot::of_report(r, r.timestamp_unix_ms).1);
    }
    let f = &slot.host.figures;
    rate(figure(f, Kind::DiskBusyMs, "vda"), f)
}

#[test]
fn a_counter_is_drawn_as_its_growth_over_the_slot_within_one_boot_only() {
    // 30 s apart, 12 s busy more: 40 %, whatever the order the pieces came in.
    let a = disk_report("b1", 1, T0 + 1_000, 500_000);
    let b = disk_report("b1", 2, T0 + 16_000, 506_000);
    let c = disk_report("b1", 3, T0 + 31_000, 512_000);
    assert_eq!(disk_rate(&[a.clone(), b.clone(), c.clone()]), Some(0.4));
    assert_eq!(disk_rate(&[c.clone(), a.clone(), b.clone()]), Some(0.4));
    // One report: no rate (absent, never zero).
    assert_eq!(disk_rate(std::slice::from_ref(&a)), None);
    // A reboot in the slot restarts the counter: no rate rather than a false 100 %.
    let after = disk_report("b2", 1, T0 + 46_000, 3_000);
    assert_eq!(disk_rate(&[a.clone(), b, after]), None);
    // A counter that grew faster than time (it wrapped, restarted, or the clock stepped
    // back): no rate, rather than a false 100 %; up to half as fast again is read skew and
    // the kernel's overcount of a saturated disk.
    let fast = disk_report("b1", 9, T0 + 2_000, 600_000);
    assert_eq!(disk_rate(&[a.clone(), fast]), None);
    let skewed = disk_report("b1", 9, T0 + 11_000, 514_000);
    assert_eq!(disk_rate(&[a, skewed]), Some(1.0));
    // Not a counter: no rate.
    let (_, slot) = SeriesSlot::of_report(&c, T0);
    assert_eq!(
        rate(
            figure(&slot.host.figures, Kind::Cpu, ""),
            &slot.host.figures
        ),
        None
    );
    // Report times are kept only with counters in the report, and never shown.
    let (_, plain) = SeriesSlot::of_report(&report("a", 1, T0, 0.1), T0);
    assert!(
        plain
            .host
            .figures
            .iter()
            .all(|f| f.kind != Kind::ReportTime as u32)
    );
    let t = figure(
        &slot.host.figures,
        Kind::ReportTime,
        &format!("{:016x}", boot_hash("b1")),
    );
    assert_eq!(shown(t, &slot.host.figures), None);
}

#[test]
fn a_hostile_report_cannot_make_a_row_large() {
    let mut r = report("a", 1, T0, 0.1);
    r.filesystems = (0..500)
        .map(|i| Filesystem {
            mount_point: format!("/m{i:03}"),
            size_bytes: 10,
            used_bytes: 1,
            ..Default::default()
        })
        .collect();
    r.filesystems.push(Filesystem {
        mount_point: "/".repeat(MAX_MOUNT_BYTES + 1),
        size_bytes: 10,
        ..Default::default()
    });
    r.links = (0..1000)
        .map(|i| LinkResult {
            link_id: format!("l{i:04}"),
            sent: 1,
            ..Default::default()
        })
        .collect();
    r.block_devices = (0..1000)
        .map(|i| BlockDevice {
            name: format!("d{i:04}"),
            ..Default::default()
        })
        .collect();
    let (_, piece) = SeriesSlot::of_report(&r, T0);
    let filesystems = |s: &SeriesSlot| {
        s.host
            .figures
            .iter()
            .filter(|f| f.kind == Kind::Filesystem as u32)
            .count()
    };
    let count = |s: &SeriesSlot, kind: Kind| {
        s.host
            .figures
            .iter()
            .filter(|f| f.kind == kind as u32)
            .count()
    };
    assert_eq!(filesystems(&piece), MAX_FILESYSTEMS);
    assert_eq!(count(&piece, Kind::DiskBusyMs), MAX_DISKS);
    assert_eq!(piece.links.len(), MAX_LINKS);
    // Another report with other mounts, devices, links and a boot id of its own: the row
    // stays within the caps.
    let mut r2 = r.clone();
    r2.sequence = 2;
    for d in &mut r2.block_devices {
        d.name.insert(0, 'a');
    }
    let mut r3 = r.clone();
    r3.boot_id = "another".into();
    let (_, piece3) = SeriesSlot::of_report(&r3, T0);
    for fs in &mut r2.filesystems {
        fs.mount_point.push('x');
    }
    for l in &mut r2.links {
        l.link_id.push('x');
    }
    let (_, piece2) = SeriesSlot::of_report(&r2, T0);
    let mut row = piece.clone();
    let merged = row.merge(&piece2);
    row.merge(&piece3);
    let mut r4 = r.clone();
    r4.boot_id = "a third".into();
    row.merge(&SeriesSlot::of_report(&r4, T0).1);
    assert_eq!(count(&row, Kind::DiskBusyMs), MAX_DISKS);
    assert_eq!(count(&row, Kind::ReportTime), MAX_BOOT_TIMES);
    assert_eq!(filesystems(&row), MAX_FILESYSTEMS);
    assert_eq!(row.links.len(), MAX_LINKS);
    assert!(merged.capped > 0);
}

#[test]
fn the_accumulator_hands_out_complete_slots_only_and_counts_each_report_once() {
    let acc = Accumulator::default();
    acc.observe(&report("a", 1, T0 + 1_000, 0.5), T0 + 1_000);
    acc.observe(&report("a", 1, T0 + 1_000, 0.5), T0 + 1_000); // the same report again
    acc.observe(
        &report("a", 2, T0 + SLOT_MS + 1_000, 0.5),
        T0 + SLOT_MS + 1_000,
    );
    assert_eq!(acc.len(), 2);
    assert!(!complete(T0, T0 + SLOT_MS + GRACE_MS - 1));
    assert!(acc.take_complete(T0 + SLOT_MS + GRACE_MS - 1).is_empty());
    let done = acc.take_complete(T0 + SLOT_MS + GRACE_MS);
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].0.slot_start_ms, T0);
    assert_eq!(figure(&done[0].1.host.figures, Kind::Cpu, "").count, 1);
    assert_eq!(acc.len(), 1);
    // A failed write gives them back, merged with what came meanwhile.
    acc.restore(done);
    assert_eq!(acc.len(), 2);
    assert_eq!(acc.take_all().len(), 2);
    assert!(acc.is_empty());
}

#[test]
fn the_accumulator_is_bounded_in_open_slots() {
    let acc = Accumulator::default();
    for i in 0..MAX_ENTRIES {
        let key = SeriesKey {
            agent_id: format!("a{i}"),
            slot_start_ms: T0,
        };
        assert!(acc.add(key, SeriesSlot::default()));
    }
    assert!(!acc.add(
        SeriesKey {
            agent_id: "one-too-many".into(),
            slot_start_ms: T0
        },
        SeriesSlot::default()
    ));
    assert_eq!(acc.take_dropped(), 1);
    assert_eq!(acc.len(), MAX_ENTRIES);
}

#[test]
fn crash_windows_cover_what_a_crashed_run_held_and_skip_clean_runs() {
    let run = |id, hb, clean| CollectorRun {
        id,
        started_unix_ms: hb - 1_000_000,
        last_heartbeat_unix_ms: hb,
        stopped_unix_ms: Some(hb),
        clean,
    };
    let now = T0 + 10 * 86_400_000;
    let runs = [
        run(1, now - 3 * 86_400_000, false), // too old to look at
        run(2, now - 7_200_000, true),
        run(3, now - 60_000, false),
    ];
    assert_eq!(
        flush::windows(&runs, now),
        [Window {
            from_ms: now - 60_000 - HELD_MS,
            to_ms: now - 60_000 + 11_000
        }]
    );
    // A restart right after the crash: never past this start.
    assert_eq!(
        flush::windows(&[run(3, now - 1_000, false)], now)[0].to_ms,
        now
    );
}

fn piece_strategy() -> impl Strategy<Value = SeriesSlot> {
    let figure = (0u32..6, 0usize..40, 0u64..1_000_000, 0u64..1_000_000);
    (
        prop::collection::vec(figure, 0..40),
        prop::collection::vec((0usize..3, 0u64..50), 1..4),
        prop::collection::vec((0usize..3, 0u64..2_000_000), 0..4),
    )
        .prop_map(|(figures, coverage, links)| {
            // Named kinds with more names than their caps keep (report times: 2, devices:
            // 32), so that capping is part of what must be order-free.
            let kinds = [
                Kind::Cpu,
                Kind::Memory,
                Kind::Filesystem,
                Kind::DiskBusyMs,
                Kind::ReportTime,
                Kind::Inodes,
            ];
            let mut slot = SeriesSlot::default();
            for (k, n, a, b) in figures {
                let name = if kinds[k as usize].name_cap().is_some() {
                    format!("/m{n}")
                } else {
                    String::new()
                };
                let f = Figure {
                    kind: kinds[k as usize] as u32,
                    name,
                    count: 2,
                    sum: a + b,
                    min: a.min(b),
                    max: a.max(b),
                };
                let mut one = SeriesSlot::default();
                one.host.figures.push(f);
                slot.merge(&one);
            }
            for (boot, seq) in coverage {
                let mut one = SeriesSlot::default();
                one.host.coverage.push(Covered {
                    boot: boot as u64,
                    first: seq,
                    last: seq,
                });
                slot.merge(&one);
            }
            for (l, v) in links {
                let mut one = SeriesSlot::default();
                one.links.insert(
                    format!("l{l}"),
                    LinkRow {
                        figures: vec![Figure::one(Kind::Rtt, "", v)],
                    },
                );
                slot.merge(&one);
            }
            slot
        })
}

proptest! {
    /// Pieces merged in any order, and in any grouping, make the same slot: live, late and
    /// rebuilt pieces reach a row in no fixed order.
    #[test]
    fn merging_is_order_free(pieces in prop::collection::vec(piece_strategy(), 1..6), seed in any::<u64>()) {
        let mut forward = SeriesSlot::default();
        for p in &pieces {
            forward.merge(p);
        }
        let mut shuffled = pieces.clone();
        // A deterministic shuffle from the seed.
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        // Grouped: the second half merged first into its own slot (a flush of a late piece).
        let half = shuffled.len() / 2;
        let mut tail = SeriesSlot::default();
        for p in &shuffled[half..] {
            tail.merge(p);
        }
        let mut other = SeriesSlot::default();
        for p in &shuffled[..half] {
            other.merge(p);
        }
        other.merge(&tail);
        prop_assert_eq!(forward, other);
    }
}

/// A store with `reports` stored (each received at its own timestamp).
async fn store_with(dir: &tempfile::TempDir, reports: &[Report]) -> Arc<dyn Store> {
    let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    for r in reports {
        store
            .insert(StoredReport {
                agent_id: r.agent_id.clone(),
                boot_id: r.boot_id.clone(),
                sequence: r.sequence,
                agent_timestamp_ms: r.timestamp_unix_ms,
                received_ms: r.timestamp_unix_ms,
                body: prost::Message::encode_to_vec(r),
                link_data: !r.links.is_empty(),
            })
            .await
            .unwrap();
    }
    store
}

async fn cpu_count(store: &dyn Store, agent: &str, slot: i64) -> u64 {
    let rows = store
        .host_series(agent.into(), slot, slot + 1, 10)
        .await
        .unwrap();
    rows.first()
        .map_or(0, |(_, r)| figure(r, Kind::Cpu, "").count)
}

/// A crash: 20 reports of one slot stored, the first 10 written by a flush, the other 10
/// held in memory when the process died. The rebuild adds exactly those 10,
/// and a second rebuild of the same window adds nothing.
#[tokio::test]
async fn a_crash_rebuild_adds_what_memory_held_and_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let reports: Vec<Report> = (1..=20)
        .map(|i| report("a", i, T0 + i as i64 * 14_000, 0.5))
        .collect();
    let store = store_with(&dir, &reports).await;
    // The run before the crash: its accumulator saw all 20; a flush wrote the first 10.
    let before = Accumulator::default();
    for r in &reports[..10] {
        before.observe(r, r.timestamp_unix_ms);
    }
    flush::flush_all(store.as_ref(), &before).await.unwrap();
    assert_eq!(cpu_count(store.as_ref(), "a", T0).await, 10);
    // ... and the process died holding the other 10.

    let after = Accumulator::default();
    let window = Window {
        from_ms: T0,
        to_ms: T0 + 3_600_000,
    };
    let done = flush::rebuild(store.as_ref(), &after, window)
        .await
        .unwrap();
    assert_eq!((done.reports, done.added), (20, 10));
    let written = flush::flush(store.as_ref(), &after, T0 + 3_600_000)
        .await
        .unwrap();
    assert_eq!(written.slots, 1);
    assert_eq!(written.merged, Merged::default());
    assert_eq!(cpu_count(store.as_ref(), "a", T0).await, 20);

    // A second rebuild (a crash during the first one's flush, say) finds them all covered.
    let again = Accumulator::default();
    let done = flush::rebuild(store.as_ref(), &again, window)
        .await
        .unwrap();
    assert_eq!((done.reports, done.added), (20, 0));
    assert!(again.is_empty());
    assert_eq!(cpu_count(store.as_ref(), "a", T0).await, 20);
}

/// A late report of a slot already written joins it at the next flush; its links too.
#[tokio::test]
async fn a_late_report_is_merged_into_the_written_slot() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(&dir, &[]).await;
    let acc = Accumulator::default();
    acc.observe(&report("a", 1, T0 + 1_000, 0.2), T0 + 1_000);
    let now = T0 + SLOT_MS + GRACE_MS;
    assert_eq!(
        flush::flush(store.as_ref(), &acc, now).await.unwrap().slots,
        1
    );
    // A day later, the spool's backlog brings report 2 of that slot.
    acc.observe(&report("a", 2, T0 + 16_000, 0.8), now + 86_400_000);
    flush::flush(store.as_ref(), &acc, now + 86_400_000)
        .await
        .unwrap();
    let rows = store.host_series("a".into(), T0, T0 + 1, 10).await.unwrap();
    let cpu = figure(&rows[0].1, Kind::Cpu, "");
    assert_eq!(
        (cpu.count, cpu.min, cpu.max, cpu.sum),
        (2, 200_000, 800_000, 1_000_000)
    );
    let links = store
        .link_series("l1".into(), T0, T0 + 1, 10)
        .await
        .unwrap();
    assert_eq!(links.slots.len(), 1);
    assert_eq!(figure(&links.slots[0].row.figures, Kind::Loss, "").count, 2);
}

/// The disk cost of the series per agent and day (docs/series.md): 100 agents with 4
/// filesystems and 2 probed links, a day of slots each, written as the flush writes them
/// (each slot merged into its hour row); the file's growth divided by agents. Also the
/// packed size of a full hour row, and whether zstd would pay on it. Run with
/// `cargo test -p zerofault-collector --lib series_disk_cost -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement: prints numbers, asserts only that they are sane"]
async fn series_disk_cost_per_agent_and_day() {
    use super::hour::{self, Hour};
    const AGENTS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let empty = std::fs::metadata(&path).unwrap().len();
    let (mut host_hour, mut link_hour) = (Hour::default(), Hour::default());
    for slot in 0..288i64 {
        let acc = Accumulator::default();
        for a in 0..AGENTS {
            for i in 0..20u64 {
                let at = T0 + slot * SLOT_MS + i as i64 * 15_000;
                let mut r = report(
                    &format!("host-{a:05}.city.gov"),
                    slot as u64 * 20 + i,
                    at,
                    0.01 * (i as f64),
                );
                r.filesystems = ["/", "/var", "/home", "/data"]
                    .iter()
                    .map(|m| Filesystem {
                        mount_point: (*m).into(),
                        size_bytes: 1 << 40,
                        used_bytes: (1 << 39) + i * 4096,
                        ..Default::default()
                    })
                    .collect();
                r.links.push(LinkResult {
                    link_id: "city-county-07".into(),
                    ..r.links[0].clone()
                });
                with_capacity_signals(&mut r, slot as u64 * 20 + i, 0.5);
                acc.observe(&r, at);
            }
        }
        let batch = acc.take_all();
        if hour::hour_of(T0 + slot * SLOT_MS) == hour::hour_of(T0) + hour::HOUR_MS {
            let (key, s) = &batch[0];
            host_hour.merge_host(key.slot_start_ms, &s.host);
            link_hour.merge_link(key.slot_start_ms, &s.links["l1"]);
        }
        for chunk in batch.chunks(1000) {
            store.merge_series(chunk.to_vec()).await.unwrap();
        }
    }
    store.close().await;
    let hour_start = hour::hour_of(T0) + hour::HOUR_MS;
    let (host_plain, host_body) = hour_bodies(&host_hour, hour_start);
    let (link_plain, link_body) = hour_bodies(&link_hour, hour_start);
    let (noisy_plain, noisy_body) = noisy_host_hour();
    // The WAL is folded into the file at close; what is left is the tables and indexes.
    let grown = std::fs::metadata(&path).unwrap().len() - empty;
    let per_agent_day = grown / AGENTS as u64;
    println!(
        "series: an hour row packed (stored, zstd when smaller): host {host_plain} B ({host_body} B) \
         for {} slots, a link's {link_plain} B ({link_body} B); with noisy values a host's \
         {noisy_plain} B ({noisy_body} B); file grew {grown} B for {AGENTS} agents x 288 slots: \
         {per_agent_day} B per agent per day",
        host_hour.slots.len(),
    );
    assert!(per_agent_day > 288 * 10 && per_agent_day < 288 * 2_000);
}

/// The figures of issue 17 on a measurement's report (its `seq`-th of the boot): CPU steal
/// and iowait by `noise` (0..1), inodes of each filesystem, two block devices and the three
/// pressure counters growing at a steady share of time with `noise` as jitter (counters
/// never go back), a synchronised clock.
fn with_capacity_signals(r: &mut Report, seq: u64, noise: f64) {
    use zerofault_protocol::{ClockSync, CpuModes, Pressure, PressureLine, PressureStat};
    if let Some(cpu) = r.cpu.as_mut() {
        cpu.modes = Some(CpuModes {
            steal: 0.05 * noise,
            iowait: 0.1 * noise,
            ..Default::default()
        });
    }
    for fs in &mut r.filesystems {
        fs.inodes_total = Some(1 << 26);
        fs.inodes_free = Some((1 << 25) - seq * 10);
    }
    let grown =
        |share: f64, unit: f64| ((seq as f64 + 0.5 * noise) * 15_000.0 * unit * share) as u64;
    r.block_devices = ["vda", "dm-0"]
        .iter()
        .map(|d| zerofault_protocol::BlockDevice {
            name: (*d).into(),
            io_time_ms_total: grown(0.3, 1.0),
            ..Default::default()
        })
        .collect();
    let line = |share: f64| PressureStat {
        some: Some(PressureLine {
            total_us: grown(share, 1_000.0),
            ..Default::default()
        }),
        full: None,
    };
    r.pressure = Some(Pressure {
        cpu: Some(line(0.02)),
        memory: Some(line(0.001)),
        io: Some(line(0.05)),
    });
    r.clock = Some(ClockSync {
        synchronised: true,
        ..Default::default()
    });
}

/// An hour row's size packed, and as stored (zstd when smaller, one format byte).
fn hour_bodies(row: &super::hour::Hour, hour_start: i64) -> (usize, usize) {
    let stored = row.pack(hour_start);
    let plain = if stored[0] == 0 {
        stored.len()
    } else {
        zstd::bulk::decompress(&stored[1..], 1 << 20).unwrap().len() + 1
    };
    (plain, stored.len())
}

/// The host hour row of the measurement's set-up, but with values that vary as a real host's
/// do (CPU and load at random, memory and filesystems drifting): what zstd and the
/// differences between slots gain on less regular data.
fn noisy_host_hour() -> (usize, usize) {
    let hour_start = super::hour::hour_of(T0) + super::hour::HOUR_MS;
    let mut row = super::hour::Hour::default();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    for slot in 0..12u64 {
        let mut acc: Option<SeriesSlot> = None;
        for i in 0..20u64 {
            let seq = slot * 20 + i;
            let at = hour_start + (seq as i64) * 15_000;
            let mut r = report("host-00001.city.gov", seq, at, next());
            if let Some(cpu) = r.cpu.as_mut() {
                cpu.load1 = 4.0 * next();
            }
            r.memory = Some(Memory {
                total_bytes: 1 << 34,
                used_bytes: (1 << 33) + (next() * 1e8) as u64,
                ..Default::default()
            });
            r.filesystems = ["/", "/var", "/home", "/data"]
                .iter()
                .map(|m| Filesystem {
                    mount_point: (*m).into(),
                    size_bytes: 1 << 40,
                    used_bytes: (1 << 39) + seq * 50_000_000,
                    ..Default::default()
                })
                .collect();
            with_capacity_signals(&mut r, seq, next());
            let (_, piece) = SeriesSlot::of_report(&r, at);
            match acc.as_mut() {
                Some(a) => {
                    a.merge(&piece);
                }
                None => acc = Some(piece),
            }
        }
        let slot_start = hour_start + slot as i64 * SLOT_MS;
        row.merge_host(slot_start, &acc.unwrap().host);
    }
    hour_bodies(&row, hour_start)
}
