use proptest::prelude::*;
use zerofault_protocol::{Report, SystemInfo};

use super::*;

const T: i64 = 1_800_000_000_000;

fn report(seq: u64, uptime_s: u64, agent_ms: i64, interval_ms: u32) -> Report {
    Report {
        agent_id: "a".into(),
        hostname: format!("h{seq}"),
        boot_id: "b".into(),
        boot_time_unix_seconds: (T - 600_000) / 1000,
        sequence: seq,
        timestamp_unix_ms: agent_ms,
        interval_ms,
        system: Some(SystemInfo {
            uptime_seconds: uptime_s,
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn a_report_is_summarised_in_the_hour_of_its_uptime() {
    // 10 s after boot, interval 15 s: its coverage starts at the boot, not before.
    let (bucket, s) = of_report(&report(1, 10, T + 2_345, 15_000), T + 2_400, &th());
    assert_eq!(bucket, 0);
    assert_eq!(s.reports, 1);
    assert_eq!(s.live_anchor_ms, Some(T + 2_400 - 10_000));
    // agent time - uptime = T - 7 655 ms: second (T - 8 000) / 1000.
    assert_eq!(
        s.clock,
        [ClockBin {
            second: (T - 8_000) / 1000,
            count: 1
        }]
    );
    assert_eq!(
        s.coverage,
        [Span {
            from: 0,
            to: 10_000
        }]
    );
    assert_eq!(s.last.unwrap().at, 10_000);
    let (bucket, s) = of_report(&report(9, 90_000, T, 60_000), T, &th());
    assert_eq!(bucket, 1, "90 000 s of uptime is its second day");
    assert_eq!(s.samples[0].hour, 25);
    assert_eq!(
        s.coverage,
        [Span {
            from: 89_940_000,
            to: 90_000_000
        }]
    );
}

#[test]
fn a_report_without_uptime_goes_to_its_agent_clock_hour() {
    let mut r = report(1, 0, T + 5_000, 15_000);
    r.system = None;
    let (bucket, s) = of_report(&r, T + 5_100, &th());
    assert_eq!(bucket, agent_clock_bucket((T + 5_000) / BUCKET_MS));
    assert!(bucket < 0);
    assert_eq!(
        bucket_origin(bucket),
        ((T + 5_000) / BUCKET_MS * BUCKET_MS, true)
    );
    assert_eq!(s.live_anchor_ms, None);
    assert!(s.clock.is_empty());
    assert_eq!(
        s.coverage,
        [Span {
            from: T - 10_000,
            to: T + 5_000
        }]
    );
}

#[test]
fn merging_keeps_the_first_the_latest_and_the_union() {
    let (_, mut a) = of_report(&report(5, 100, T + 100_000, 15_000), T + 100_010, &th());
    let (_, b) = of_report(&report(3, 70, T + 70_000, 15_000), T + 900_000, &th());
    let (_, c) = of_report(&report(9, 200, T + 200_000, 15_000), T + 200_020, &th());
    a.merge(&b);
    a.merge(&c);
    assert_eq!(a.reports, 3);
    assert_eq!(a.first.unwrap().sequence, 3);
    assert_eq!(a.samples.len(), 1, "one hour");
    assert_eq!(a.samples[0].sequence, 3);
    assert_eq!(a.last.unwrap().sequence, 9);
    assert_eq!(a.identity.as_ref().unwrap().hostname, "h9");
    assert_eq!(a.received_min_ms, T + 100_010);
    assert_eq!(a.received_max_ms, T + 900_000);
    assert_eq!(a.live_anchor_ms, Some(T + 10));
    // 55..70 and 85..100 touch nothing else: three spans, 185..200 apart.
    assert_eq!(
        a.coverage,
        [
            Span {
                from: 55_000,
                to: 70_000
            },
            Span {
                from: 85_000,
                to: 100_000
            },
            Span {
                from: 185_000,
                to: 200_000
            }
        ]
    );
    assert_eq!(a.clock.iter().map(|b| b.count).sum::<u64>(), 3);
}

fn summaries(specs: &[(u64, u64, i64, u32, i64)]) -> Vec<HostBucket> {
    specs
        .iter()
        .map(|&(seq, up, skew, interval, delay)| {
            let agent = T + up as i64 * 1000 + skew;
            of_report(
                &report(seq, up, agent, interval),
                T + up as i64 * 1000 + delay,
                &th(),
            )
            .1
        })
        .collect()
}

proptest! {
    /// A bucket is the same whatever order its reports arrive in and however they were
    /// grouped on the way (a batch merged first, then added).
    #[test]
    fn merging_is_order_free(
        specs in prop::collection::btree_map(
            0u64..500,
            (1u64..3_600, -5_000i64..5_000, 1_000u32..120_000, 0i64..7_200_000),
            1..40,
        ),
        order in prop::collection::vec(any::<prop::sample::Index>(), 40),
        split in any::<prop::sample::Index>(),
    ) {
        let specs: Vec<(u64, u64, i64, u32, i64)> = specs
            .into_iter()
            .map(|(seq, (up, skew, interval, delay))| (seq, up, skew, interval, delay))
            .collect();
        let all = summaries(&specs);
        let mut sequential = HostBucket::default();
        for s in &all {
            sequential.merge(s);
        }
        // Another order: a shuffle by the drawn indices.
        let mut shuffled = all.clone();
        for (i, ix) in order.iter().enumerate().take(shuffled.len()) {
            let j = ix.index(shuffled.len());
            shuffled.swap(i, j);
        }
        let cut = split.index(shuffled.len() + 1);
        let (left, right) = shuffled.split_at(cut);
        let mut a = HostBucket::default();
        for s in left {
            a.merge(s);
        }
        let mut b = HostBucket::default();
        for s in right {
            b.merge(s);
        }
        b.merge(&a);
        prop_assert_eq!(&b, &sequential);
        // And it survives its stored form.
        let decoded = HostBucket::from_stored(&sequential.to_stored()).unwrap();
        prop_assert_eq!(decoded, sequential);
    }
}

#[test]
fn a_damaged_or_oversized_stored_bucket_is_refused() {
    assert!(matches!(
        HostBucket::from_stored(b"not zstd"),
        Err(StoredBucketError::Size)
    ));
    // A frame that decompresses to more than the bound (2 MiB of zeros, a few bytes).
    let bomb = zstd::bulk::compress(&vec![0u8; 2 << 20], 1).unwrap();
    assert!(bomb.len() < 1_000);
    assert!(matches!(
        HostBucket::from_stored(&bomb),
        Err(StoredBucketError::Size)
    ));
    // A frame that declares less than it holds.
    let mut lying = zstd::bulk::compress(&[7u8; 4_000], 1).unwrap();
    let small = zstd::bulk::compress(&[7u8; 10], 1).unwrap();
    lying[..6].copy_from_slice(&small[..6]);
    assert!(HostBucket::from_stored(&lying).is_err());
    let garbage = zstd::bulk::compress(&[0xff; 64], 1).unwrap();
    assert!(matches!(
        HostBucket::from_stored(&garbage),
        Err(StoredBucketError::Decode(_))
    ));
}

fn th() -> crate::live::links::Thresholds {
    crate::live::links::Thresholds::default()
}

/// A bucket too big with its link days' streams gives those up and keeps its host figures;
/// one too big without them is refused.
#[test]
fn a_full_bucket_sheds_its_link_streams_before_its_host_figures() {
    let (_, mut b) = of_report(&report(1, 10, T + 2_345, 15_000), T + 2_400, &th());
    let steps: Vec<links::StepRec> = (0..1_000)
        .map(|k| links::StepRec {
            first_ms: T + k * 1_000,
            count: 1,
            lost: k % 2 == 0,
        })
        .collect();
    for i in 0..30 {
        b.links.push(links::LinkDay {
            link_id: format!("l{i:02}"),
            pieces: vec![links::Piece {
                start_ms: T,
                end_ms: T + 1_000_000,
                steps: steps.clone(),
                degraded_any: true,
                ..Default::default()
            }],
            ..Default::default()
        });
    }
    assert!(!b.fits());
    let key = BucketKey {
        agent_id: "a".into(),
        boot_id: "b".into(),
        bucket: 0,
    };
    let host = (b.reports, b.coverage.clone(), b.samples.clone());
    assert!(b.fit(&key));
    assert!(b.fits());
    assert!(
        b.links
            .iter()
            .all(|d| d.overflow && d.pieces[0].steps.is_empty())
    );
    assert_eq!((b.reports, b.coverage.clone(), b.samples.clone()), host);
    // Too big even so (a host's identity alone past the bound): refused.
    b.identity.as_mut().unwrap().hostname = "x".repeat(MAX_BUCKET_BYTES);
    assert!(!b.fit(&key));
}

/// What migration 14 does: a bucket an older collector made (samples without issue 17's
/// figures) takes them from the same reports' samples, in either merge order, and nothing
/// else changes; a bucket that has them is left as it is.
#[test]
fn the_samples_projection_fills_in_issue_17s_figures_and_nothing_else() {
    let mut r = report(7, 100, T + 100_000, 15_000);
    r.cpu = Some(zerofault_protocol::Cpu {
        logical_cores: 4,
        modes: Some(zerofault_protocol::CpuModes {
            steal: 0.125,
            idle: 0.875,
            ..Default::default()
        }),
        ..Default::default()
    });
    r.block_devices = vec![zerofault_protocol::BlockDevice {
        name: "vda".into(),
        io_time_ms_total: 25_000,
        ..Default::default()
    }];
    r.clock = Some(zerofault_protocol::ClockSync {
        synchronised: false,
        ..Default::default()
    });
    r.filesystems = vec![zerofault_protocol::Filesystem {
        mount_point: "/".into(),
        inodes_total: Some(100),
        inodes_free: Some(40),
        ..Default::default()
    }];
    let (_, now) = of_report(&r, T + 100_500, &th());
    let mut old = now.clone();
    for s in &mut old.samples {
        (s.cpu_steal, s.clock_synchronised) = (None, None);
        s.disks.clear();
        for f in &mut s.filesystems {
            (f.inodes_total, f.inodes_free) = (None, None);
        }
    }
    assert_ne!(old, now);
    let sample = &now.samples[0];
    assert_eq!(sample.cpu_steal, Some(0.125));
    assert_eq!(sample.disks[0].io_time_ms, 25_000);
    assert_eq!(sample.clock_synchronised, Some(false));
    assert_eq!(sample.filesystems[0].inodes_free, Some(40));

    let mut filled = old.clone();
    filled.merge(&now.clone().samples_only());
    assert_eq!(filled, now);
    // The projection first (as the migration's pending buckets hold it), then the bucket.
    let mut other_way = now.clone().samples_only();
    other_way.merge(&old);
    assert_eq!(other_way, now);
    let mut kept = now.clone();
    kept.merge(&old.clone().samples_only());
    assert_eq!(kept, now);
}
