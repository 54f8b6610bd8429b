//! The hour rows (`super::hour`): packed and unpacked exactly, merged order-free, counted
//! once across the slots of an hour, bounded per row.

use proptest::prelude::*;

use super::hour::*;
use super::slot::*;

const H0: i64 = 1_767_225_600_000; // an hour boundary

fn host(seq: u64, figures: Vec<Figure>) -> HostRow {
    HostRow {
        coverage: vec![Covered {
            boot: 7,
            first: seq,
            last: seq,
        }],
        figures,
    }
}

fn fig(kind: Kind, name: &str, count: u64, sum: u64, min: u64, max: u64) -> Figure {
    Figure {
        kind: kind as u32,
        name: name.into(),
        count,
        sum,
        min,
        max,
    }
}

#[test]
fn a_row_unpacks_to_what_was_packed_whatever_the_values() {
    let mut row = Hour::default();
    row.merge_host(H0, &host(1, vec![fig(Kind::Cpu, "", 3, 900, 100, 500)]));
    row.merge_host(
        H0 + 11 * SLOT_MS,
        &host(
            2,
            vec![
                fig(Kind::Cpu, "", 1, 5, 5, 5),
                fig(Kind::Filesystem, "/var", 2, u64::MAX, 0, u64::MAX),
            ],
        ),
    );
    row.merge_host(H0 + 4 * SLOT_MS, &host(3, vec![]));
    let body = row.pack(H0);
    assert_eq!(Hour::unpack(H0, &body).unwrap(), row);
    assert_eq!(row.slots.len(), 2, "a slot without figures has no entry");
    assert_eq!(
        row.coverage,
        [Covered {
            boot: 7,
            first: 1,
            last: 3
        }]
    );
    assert!(Hour::unpack(H0, &[9, 1, 2]).is_err());
    assert!(Hour::unpack(H0, &[]).is_err());
}

#[test]
fn a_report_already_in_any_slot_of_the_hour_is_found_overlapping() {
    let mut row = Hour::default();
    let cpu = || vec![fig(Kind::Cpu, "", 1, 1, 1, 1)];
    assert_eq!(row.merge_host(H0, &host(1, cpu())), Merged::default());
    assert_eq!(
        row.merge_host(H0 + SLOT_MS, &host(2, cpu())),
        Merged::default()
    );
    assert_eq!(row.merge_host(H0, &host(2, cpu())).overlapped, 1);
}

#[test]
fn an_hour_row_is_bounded_in_mounts_and_coverage() {
    let mut row = Hour::default();
    // 65 mounts over the hour, 13 in each of 5 slots: the 64 smallest names stay.
    let mut capped = 0;
    for s in 0..5u64 {
        let figures = (0..13)
            .map(|i| {
                fig(
                    Kind::Filesystem,
                    &format!("/m{:03}", s * 13 + i),
                    1,
                    1,
                    1,
                    1,
                )
            })
            .collect();
        capped += row
            .merge_host(H0 + s as i64 * SLOT_MS, &host(s, figures))
            .capped;
    }
    assert_eq!(capped, 1);
    let names: std::collections::BTreeSet<&str> = row
        .slots
        .values()
        .flatten()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names.len(), MAX_FILESYSTEMS);
    assert!(!names.contains("/m064"));
    // Coverage: one range per report (every other sequence) up to the cap, then whole
    // pieces are left out.
    let mut row = Hour::default();
    for i in 0..MAX_ROW_COVERAGE as u64 {
        assert_eq!(row.merge_host(H0, &host(2 * i, vec![])).capped, 0);
    }
    let left_out = row.merge_host(H0, &host(1_000_001, vec![fig(Kind::Cpu, "", 1, 1, 1, 1)]));
    assert_eq!(left_out.capped, 1);
    assert_eq!(row.coverage.len(), MAX_ROW_COVERAGE);
    assert!(row.slots.is_empty());
}

#[test]
fn the_fullest_hour_row_packs_within_the_read_bound() {
    let long = |prefix: &str, i: usize| format!("/{prefix}{i:03}{}", "x".repeat(250));
    let mut row = Hour::default();
    // Values that defeat the differences and zstd: a new large number every slot.
    let mut v = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        v = v.rotate_left(17).wrapping_mul(0x0100_0000_01b3);
        v
    };
    for s in 0..SLOTS_PER_HOUR {
        let mut figures = Vec::new();
        for kind in [
            Kind::Cpu,
            Kind::Memory,
            Kind::Load1,
            Kind::Steal,
            Kind::Iowait,
        ] {
            figures.push(fig(kind, "", next(), next(), next(), next()));
        }
        figures.push(fig(Kind::ClockUnsync, "", next(), next(), next(), next()));
        for i in 0..MAX_FILESYSTEMS {
            figures.push(fig(
                Kind::Filesystem,
                &long("m", i),
                next(),
                next(),
                next(),
                next(),
            ));
            figures.push(fig(
                Kind::Inodes,
                &long("m", i),
                next(),
                next(),
                next(),
                next(),
            ));
        }
        for i in 0..MAX_DISKS {
            figures.push(fig(
                Kind::DiskBusyMs,
                &long("d", i),
                next(),
                next(),
                next(),
                next(),
            ));
        }
        for r in ["cpu", "io", "memory"] {
            figures.push(fig(Kind::PressureUs, r, next(), next(), next(), next()));
        }
        for b in 0..2 {
            let boot = format!("{:016x}", next() ^ b);
            figures.push(fig(Kind::ReportTime, &boot, next(), next(), next(), next()));
        }
        let mut piece = host(0, figures);
        piece.coverage = (0..MAX_COVERAGE as u64)
            .map(|i| Covered {
                boot: next(),
                first: (s as u64 * 1_000 + i) * 2,
                last: (s as u64 * 1_000 + i) * 2,
            })
            .collect();
        piece.coverage.sort_unstable();
        let merged = row.merge_host(H0 + s as i64 * SLOT_MS, &piece);
        assert_eq!(merged.capped, 0);
    }
    let body = row.pack(H0);
    let plain = match body[0] {
        0 => body.len(),
        _ => zstd::bulk::decompress(&body[1..], MAX_HOUR_BYTES)
            .unwrap()
            .len(),
    };
    println!(
        "fullest host hour row: {plain} bytes packed, {} stored",
        body.len()
    );
    assert!(plain <= MAX_HOUR_BYTES, "{plain}");
    assert_eq!(Hour::unpack(H0, &body).unwrap(), row);
}

fn piece_strategy() -> impl Strategy<Value = (i64, HostRow)> {
    let figure = (
        0usize..5,
        0usize..70,
        1u64..30,
        0u64..1_000_000,
        0u64..1_000_000,
    );
    (0i64..12, 0u64..200, prop::collection::vec(figure, 0..12)).prop_map(|(slot, seq, figures)| {
        // Named kinds with more names than the hour keeps (devices: 32, mounts: 64).
        let kinds = [
            Kind::Cpu,
            Kind::Load1,
            Kind::Filesystem,
            Kind::DiskBusyMs,
            Kind::Inodes,
        ];
        let figures = figures
            .into_iter()
            .map(|(k, n, count, a, b)| {
                let name = if kinds[k].name_cap().is_some() {
                    format!("/m{n:02}")
                } else {
                    String::new()
                };
                fig(kinds[k], &name, count, a + b, a.min(b), a.max(b))
            })
            .collect();
        (H0 + slot * SLOT_MS, host(seq, merged(figures)))
    })
}

/// A piece's figures as a slot holds them: one per (kind, name), sorted.
fn merged(figures: Vec<Figure>) -> Vec<Figure> {
    let mut one = SeriesSlot::default();
    for f in figures {
        let mut s = SeriesSlot::default();
        s.host.figures.push(f);
        one.merge(&s);
    }
    one.host.figures
}

proptest! {
    /// Pieces merged into an hour row in any order make the same row, and the same bytes;
    /// a row unpacks to itself.
    #[test]
    fn hour_rows_merge_order_free_and_pack_exactly(
        pieces in prop::collection::vec(piece_strategy(), 1..12),
        seed in any::<u64>(),
    ) {
        let mut forward = Hour::default();
        for (slot, p) in &pieces {
            forward.merge_host(*slot, p);
        }
        let mut shuffled = pieces.clone();
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        // Half merged, stored and read back, then the rest: a later flush of the hour.
        let half = shuffled.len() / 2;
        let mut first = Hour::default();
        for (slot, p) in &shuffled[..half] {
            first.merge_host(*slot, p);
        }
        let mut other = Hour::unpack(H0, &first.pack(H0)).unwrap();
        for (slot, p) in &shuffled[half..] {
            other.merge_host(*slot, p);
        }
        prop_assert_eq!(&forward, &other);
        prop_assert_eq!(forward.pack(H0), other.pack(H0));
        prop_assert_eq!(Hour::unpack(H0, &forward.pack(H0)).unwrap(), forward);
    }
}
