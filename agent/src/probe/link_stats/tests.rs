use proptest::prelude::*;

use super::*;

fn ok(at: i64, ms: f64) -> Outcome {
    Outcome {
        sent_unix_ms: at,
        rtt: Ok(Duration::from_secs_f64(ms / 1000.0)),
        http_status: 0,
    }
}

fn lost(at: i64, kind: ErrorKind) -> Outcome {
    Outcome {
        sent_unix_ms: at,
        rtt: Err(kind),
        http_status: 0,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn no_probes_gives_zeroes() {
    let r = compute(&mut []);
    assert_eq!(r, LinkResult::default());
    assert_eq!(r.loss_ratio, 0.0);
}

#[test]
fn one_reply() {
    let r = compute(&mut [ok(1000, 2.5)]);
    assert_eq!((r.sent, r.received), (1, 1));
    assert_eq!(r.loss_ratio, 0.0);
    for v in [
        r.rtt_min_seconds,
        r.rtt_avg_seconds,
        r.rtt_max_seconds,
        r.rtt_p50_seconds,
        r.rtt_p95_seconds,
    ] {
        assert!(close(v, 0.0025), "{r:?}");
    }
    assert_eq!(r.jitter_seconds, 0.0);
    assert!(r.errors.is_empty() && r.loss_runs.is_empty());
    assert_eq!((r.first_probe_unix_ms, r.last_probe_unix_ms), (1000, 1000));
}

#[test]
fn all_lost() {
    let mut o = [
        lost(1000, ErrorKind::Timeout),
        lost(2000, ErrorKind::Timeout),
        lost(3000, ErrorKind::Unreachable),
    ];
    let r = compute(&mut o);
    assert_eq!((r.sent, r.received), (3, 0));
    assert_eq!(r.loss_ratio, 1.0);
    assert_eq!(r.rtt_avg_seconds, 0.0);
    assert_eq!(r.rtt_p95_seconds, 0.0);
    assert_eq!(r.jitter_seconds, 0.0);
    assert_eq!(
        r.errors,
        [
            ErrorCount {
                kind: "timeout".into(),
                count: 2
            },
            ErrorCount {
                kind: "unreachable".into(),
                count: 1
            }
        ]
    );
    assert_eq!(
        r.loss_runs,
        [LossRun {
            first_lost_unix_ms: 1000,
            last_lost_unix_ms: 3000,
            count: 3,
            open_start: true,
            open_end: true,
        }]
    );
}

#[test]
fn one_loss_in_the_middle() {
    // RTTs 10, 12, (lost), 11, 15 ms.
    let mut o = [
        ok(1000, 10.0),
        ok(2000, 12.0),
        lost(3000, ErrorKind::Timeout),
        ok(4000, 11.0),
        ok(5000, 15.0),
    ];
    let r = compute(&mut o);
    assert_eq!((r.sent, r.received), (5, 4));
    assert!(close(r.loss_ratio, 0.2));
    assert!(close(r.rtt_min_seconds, 0.010));
    assert!(close(r.rtt_max_seconds, 0.015));
    assert!(close(r.rtt_avg_seconds, 0.012));
    // Sorted 10, 11, 12, 15: p50 rank ceil(2) = 2 -> 11; p95 rank ceil(3.8) = 4 -> 15.
    assert!(close(r.rtt_p50_seconds, 0.011));
    assert!(close(r.rtt_p95_seconds, 0.015));
    // |12-10| + |11-12| + |15-11| = 7 over 3 pairs.
    assert!(close(r.jitter_seconds, 0.007 / 3.0), "{}", r.jitter_seconds);
    assert_eq!(
        r.loss_runs,
        [LossRun {
            first_lost_unix_ms: 3000,
            last_lost_unix_ms: 3000,
            count: 1,
            open_start: false,
            open_end: false,
        }]
    );
}

#[test]
fn completion_order_does_not_matter() {
    // Completed out of order (a slow reply finishes after later probes).
    let mut a = [
        ok(3000, 30.0),
        lost(4000, ErrorKind::Refused),
        ok(1000, 10.0),
        lost(5000, ErrorKind::Refused),
        ok(2000, 20.0),
        lost(0, ErrorKind::Timeout),
    ];
    let r = compute(&mut a);
    // Send order: lost(0), 10, 20, 30, lost, lost.
    assert!(close(r.jitter_seconds, 0.010));
    assert_eq!(r.first_probe_unix_ms, 0);
    assert_eq!(r.last_probe_unix_ms, 5000);
    assert_eq!(r.loss_runs.len(), 2);
    assert!(r.loss_runs[0].open_start && !r.loss_runs[0].open_end);
    assert_eq!(r.loss_runs[0].count, 1);
    assert!(!r.loss_runs[1].open_start && r.loss_runs[1].open_end);
    assert_eq!(
        (
            r.loss_runs[1].first_lost_unix_ms,
            r.loss_runs[1].last_lost_unix_ms,
            r.loss_runs[1].count
        ),
        (4000, 5000, 2)
    );
    assert_eq!(r.errors[0].kind, "timeout");
    assert_eq!(r.errors[1].kind, "refused");
}

#[test]
fn nearest_rank_percentiles_of_twenty() {
    let sorted: Vec<f64> = (1..=20).map(f64::from).collect();
    assert_eq!(nearest_rank(&sorted, 50), 10.0);
    assert_eq!(nearest_rank(&sorted, 95), 19.0);
    assert_eq!(nearest_rank(&sorted, 100), 20.0);
    assert_eq!(nearest_rank(&sorted, 0), 1.0);
    assert_eq!(nearest_rank(&[7.0], 95), 7.0);
    assert_eq!(nearest_rank(&[1.0, 2.0], 50), 1.0);
}

#[test]
fn http_status_is_the_last_seen_in_send_order() {
    let mut o = [
        Outcome {
            sent_unix_ms: 2000,
            rtt: Err(ErrorKind::HttpStatus),
            http_status: 503,
        },
        Outcome {
            sent_unix_ms: 1000,
            rtt: Ok(Duration::from_millis(3)),
            http_status: 200,
        },
        lost(3000, ErrorKind::Timeout),
    ];
    let r = compute(&mut o);
    assert_eq!(r.http_status, 503);
    assert_eq!(r.errors.len(), 2);
}

fn arb_outcome() -> impl Strategy<Value = Outcome> {
    (
        0i64..10_000,
        prop_oneof![
            (0u64..5_000_000).prop_map(|us| Ok(Duration::from_micros(us))),
            proptest::sample::select(ErrorKind::ALL.to_vec()).prop_map(Err),
        ],
    )
        .prop_map(|(sent_unix_ms, rtt)| Outcome {
            sent_unix_ms,
            rtt,
            http_status: 0,
        })
}

proptest! {
    #[test]
    fn counts_are_consistent(mut o in proptest::collection::vec(arb_outcome(), 0..200)) {
        let r = compute(&mut o);
        prop_assert_eq!(r.sent as usize, o.len());
        if r.sent > 0 {
            prop_assert!((r.loss_ratio - (1.0 - f64::from(r.received) / f64::from(r.sent))).abs() < 1e-12);
        } else {
            prop_assert_eq!(r.loss_ratio, 0.0);
        }
        let run_total: u32 = r.loss_runs.iter().map(|l| l.count).sum();
        prop_assert_eq!(run_total, r.sent - r.received);
        let err_total: u32 = r.errors.iter().map(|e| e.count).sum();
        prop_assert_eq!(err_total, r.sent - r.received);
        prop_assert!(r.rtt_min_seconds <= r.rtt_p50_seconds);
        prop_assert!(r.rtt_p50_seconds <= r.rtt_p95_seconds);
        prop_assert!(r.rtt_p95_seconds <= r.rtt_max_seconds);
        prop_assert!(r.rtt_min_seconds <= r.rtt_avg_seconds + 1e-12);
        prop_assert!(r.rtt_avg_seconds <= r.rtt_max_seconds + 1e-12);
        prop_assert!(r.jitter_seconds >= 0.0);
        let mut report = zerofault_protocol::Report::default();
        let mut l = r.clone();
        l.link_id = "l".into();
        l.kind = "icmp".into();
        report.links.push(l);
        // The link part of validation must accept whatever the maths produces.
        let e = report.validate(&zerofault_protocol::Limits::default()).unwrap_err().to_string();
        prop_assert!(!e.contains("links"), "{}", e);
    }
}
