use super::*;
use crate::month::sla::input::{CapacitySample, FsSample, Labels};
use crate::month::sla::slots::code::{
    DEGRADED as G, DOWN as D, MAINTENANCE as M, UNKNOWN as X, UP as U,
};

fn tl(codes: &[u8]) -> Timeline {
    Timeline::from_codes(codes)
}

fn seg(start: u32, end: u32) -> Seg {
    Seg {
        start,
        end,
        cause: 0,
    }
}

#[test]
fn minutes_availability_and_coverage() {
    let t = tl(&[U, U, G, D, M, X, U, U, U, U]);
    let (f, faults) = item_figures(&t, &[], 1, 1.0, Some(0.9));
    assert_eq!(
        f.minutes,
        StateMinutes {
            up: 6.0,
            degraded: 1.0,
            down: 1.0,
            maintenance: 1.0,
            unknown: 1.0
        }
    );
    assert_eq!(f.availability, Some(7.0 / 8.0));
    assert_eq!(f.coverage, Some(8.0 / 9.0));
    assert_eq!(faults, [(3, 4)]);
    assert_eq!((f.faults, f.fault_minutes), (1, 1.0));
    assert_eq!(f.mttr_minutes, Some(1.0));
    assert_eq!(f.mtbf_minutes, Some(7.0));
    assert_eq!(f.target_met, Some(false), "0.875 < 0.9");
}

#[test]
fn short_down_runs_are_down_time_but_not_faults() {
    // fault_min of 2 slots: a 1-slot run is not a fault, a 3-slot run is.
    let t = tl(&[U, D, U, D, D, D, U]);
    let (f, faults) = item_figures(&t, &[], 2, 1.0, None);
    assert_eq!(faults, [(3, 6)]);
    assert_eq!((f.faults, f.fault_minutes, f.minutes.down), (1, 3.0, 4.0));
    assert_eq!(f.longest_outage_minutes, 3.0);
    assert_eq!(f.target_met, None);
}

#[test]
fn suppressed_slots_are_down_but_never_faults() {
    let t = tl(&[D, D, D, D, D, U]);
    // Slots 1..3 suppressed: the run splits into 0..1 and 3..5.
    let (f, faults) = item_figures(&t, &[seg(1, 3)], 1, 1.0, None);
    assert_eq!(faults, [(0, 1), (3, 5)]);
    assert_eq!(f.minutes.down, 5.0);
    assert_eq!(f.longest_outage_minutes, 5.0);
    let (f, faults) = item_figures(&t, &[seg(0, 5)], 1, 1.0, None);
    assert!(faults.is_empty());
    assert_eq!((f.faults, f.mttr_minutes, f.mtbf_minutes), (0, None, None));
    assert_eq!(
        f.availability,
        Some(1.0 / 6.0),
        "suppressed down still counts"
    );
}

#[test]
fn all_maintenance_or_unknown_has_no_figures() {
    let (f, _) = item_figures(&tl(&[M, M]), &[], 1, 1.0, Some(0.99));
    assert_eq!(
        (f.availability, f.coverage, f.target_met),
        (None, None, None)
    );
    let (f, _) = item_figures(&tl(&[X, M]), &[], 1, 1.0, None);
    assert_eq!((f.availability, f.coverage), (None, Some(0.0)));
}

#[test]
fn slot_minutes_scale_every_duration() {
    let (f, _) = item_figures(&tl(&[U, D, D]), &[], 1, 0.5, None);
    assert_eq!(
        (f.minutes.up, f.minutes.down, f.fault_minutes),
        (0.5, 1.0, 1.0)
    );
}

#[test]
fn groups_average_availability_and_sum_the_rest() {
    let (a, _) = item_figures(&tl(&[U, U, U, D]), &[], 1, 1.0, Some(0.7));
    let (b, _) = item_figures(&tl(&[U, U, U, U]), &[], 1, 1.0, Some(0.99));
    let (c, _) = item_figures(&tl(&[X, X, X, X]), &[], 1, 1.0, Some(0.5));
    let (g, meeting) = group_figures([&a, &b, &c]);
    assert_eq!(
        g.availability,
        Some((0.75 + 1.0) / 2.0),
        "c has none: left out"
    );
    assert_eq!(meeting, 2);
    assert_eq!(
        (g.minutes.up, g.minutes.down, g.minutes.unknown),
        (7.0, 1.0, 4.0)
    );
    assert_eq!(
        (g.faults, g.mttr_minutes, g.mtbf_minutes),
        (1, Some(1.0), Some(7.0))
    );
    assert_eq!(g.coverage, Some(8.0 / 12.0));
    let (g, meeting) = group_figures([]);
    assert_eq!((g.availability, meeting), (None, 0));
}

fn period() -> Period {
    Period {
        month: "2026-01".into(),
        time_zone: "Asia/Shanghai".into(),
        lang: "en".into(),
        organisation: String::new(),
        start_ms: 0,
        end_ms: 30 * 86_400_000,
        slot_ms: 60_000,
        fault_min_ms: 60_000,
        now_ms: i64::MAX,
        generated_ms: 0,
        closed: true,
    }
}

fn window(start_ms: i64, loss: f64, rtt: Option<f64>) -> LinkCell {
    LinkCell::of_window(
        start_ms,
        start_ms + 15_000,
        loss,
        rtt,
        rtt.map(|r| r / 10.0),
    )
}

#[test]
fn link_averages_leave_out_maintenance_and_other_months() {
    let mut w: Vec<LinkCell> = (1..=20)
        .map(|k| window(k * 15_000, 0.0, Some(k as f64)))
        .collect();
    w.push(window(400_000, 1.0, None));
    // In maintenance, and before the period: both left out.
    w.push(window(1_000_000, 0.5, Some(1000.0)));
    w.push(window(-15_000, 0.5, Some(1000.0)));
    let a = link_averages(&period(), &w, &[(990_000, 1_020_000)]);
    assert_eq!(a.loss, Some(1.0 / 21.0));
    assert_eq!(a.rtt, Some(10.5));
    assert_eq!(a.p95_rtt, Some(19.0), "nearest rank: the 19th of 20");
    assert!((a.jitter.unwrap() - 1.05).abs() < 1e-12);
    assert_eq!(link_averages(&period(), &[], &[]), LinkAverages::default());
}

fn sample(day: f64, used: u64, cpu: f64) -> CapacitySample {
    CapacitySample {
        at_ms: (day * DAY_MS) as i64,
        cpu_cores: 8,
        cpu_usage: Some(cpu),
        memory_total_bytes: 1000,
        memory_used_bytes: 250,
        filesystems: vec![
            FsSample {
                mount: 0,
                size_bytes: 1000,
                used_bytes: used,
                inodes: None,
            },
            FsSample {
                mount: 1,
                size_bytes: 1000,
                used_bytes: 100,
                inodes: None,
            },
        ],
        cpu_steal: None,
        disks: Vec::new(),
        clock_synchronised: None,
    }
}

#[test]
fn host_capacity_uses_newest_values_means_peaks_and_the_trend() {
    let h = HostInput {
        agent_id: "h1".into(),
        hostname: "h1".into(),
        labels: Labels::default(),
        target: None,
        maintenance: Vec::new(),
        boots: Vec::new(),
        mounts: vec!["/data".into(), "/".into()],
        // /data grows 10 bytes a day from 500; / is flat. One sample of another month.
        capacity: vec![
            sample(1.0, 510, 0.2),
            sample(0.0, 500, 0.4),
            sample(2.0, 520, 0.6),
            sample(40.0, 999, 1.0),
        ],
    };
    let c = host_capacity(&period(), &h);
    assert_eq!(c.samples, 3);
    assert_eq!(
        (c.cpu_cores, c.memory_bytes, c.storage_bytes),
        (8, 1000, 2000)
    );
    assert!((c.cpu_mean.unwrap() - 0.4).abs() < 1e-12);
    assert_eq!(c.cpu_peak, Some(0.6));
    assert_eq!((c.memory_mean, c.memory_peak), (Some(0.25), Some(0.25)));
    assert_eq!(c.storage_peak, Some(620.0 / 2000.0));
    assert_eq!(c.storage_used_mean_bytes, Some(610.0));
    let (days, mount) = c.days_until_full.unwrap();
    assert!(
        (days - 48.0).abs() < 1e-9,
        "(1000 - 520) / 10 per day, got {days}"
    );
    assert_eq!(mount, "/data");
}

#[test]
fn weighted_means_and_peaks() {
    assert_eq!(
        weighted([(Some(0.5), 1), (Some(1.0), 3), (None, 100)].into_iter()),
        Some(0.875)
    );
    assert_eq!(weighted([(None, 1)].into_iter()), None);
    assert_eq!(peak([None, Some(0.2), Some(0.7)].into_iter()), Some(0.7));
}
