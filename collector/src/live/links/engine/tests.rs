//! Engine tests with literal windows. Probes are 1 s apart; a window is written as a string of
//! outcomes, `.` answered and `x` lost, starting at the given second.

use std::time::Duration;

use zerofault_protocol::{LinkResult, LossRun};

use super::*;

const S: i64 = 1_000;
/// 2026-01-01T00:00:00Z: windows are written relative to it.
const T0: i64 = 1_767_225_600_000;

/// A window of link `link` starting `start_s` seconds after [`T0`], one probe per second.
fn win(link: &str, start_s: i64, pattern: &str) -> LinkResult {
    let start = T0 + start_s * S;
    let outcomes: Vec<bool> = pattern.chars().map(|c| c == '.').collect();
    let n = outcomes.len() as i64;
    let mut runs: Vec<LossRun> = Vec::new();
    for (i, ok) in outcomes.iter().enumerate() {
        let t = start + i as i64 * S;
        if *ok {
            continue;
        }
        match runs.last_mut() {
            Some(r) if r.last_lost_unix_ms == t - S => {
                r.last_lost_unix_ms = t;
                r.count += 1;
            }
            _ => runs.push(LossRun {
                first_lost_unix_ms: t,
                last_lost_unix_ms: t,
                count: 1,
                open_start: i == 0,
                open_end: false,
            }),
        }
    }
    if let Some(r) = runs.last_mut() {
        r.open_end = !outcomes[outcomes.len() - 1];
    }
    let received = outcomes.iter().filter(|o| **o).count() as u32;
    let rtt = if received > 0 { 0.010 } else { 0.0 };
    LinkResult {
        link_id: link.into(),
        kind: "icmp".into(),
        target: "198.18.0.2".into(),
        level: "city-county".into(),
        domain: "administrative".into(),
        window_start_unix_ms: start,
        window_end_unix_ms: start + n * S,
        probe_interval_ms: 1_000,
        sent: n as u32,
        received,
        loss_ratio: 1.0 - f64::from(received) / n as f64,
        rtt_min_seconds: rtt,
        rtt_avg_seconds: rtt,
        rtt_max_seconds: rtt,
        rtt_p50_seconds: rtt,
        rtt_p95_seconds: rtt,
        jitter_seconds: 0.0,
        loss_runs: runs,
        first_probe_unix_ms: start,
        last_probe_unix_ms: start + (n - 1) * S,
        ..Default::default()
    }
}

fn engine() -> LinkEngine {
    LinkEngine::new(Links::default())
}

/// Feeds windows of one agent; returns every settled fault.
fn feed(e: &mut LinkEngine, agent: &str, windows: &[LinkResult]) -> Vec<Fault> {
    windows
        .iter()
        .flat_map(|w| e.observe(agent, w).unwrap())
        .collect()
}

fn link(e: &LinkEngine, id: &str) -> LinkView {
    e.links().into_iter().find(|l| l.link_id == id).unwrap()
}

fn vantage(e: &LinkEngine, id: &str, agent: &str) -> VantageView {
    link(e, id)
        .vantages
        .into_iter()
        .find(|v| v.agent == agent)
        .unwrap()
}

/// `n` copies of `c`.
fn rep(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

#[test]
fn one_lost_packet_never_makes_a_link_down() {
    let mut e = engine();
    let faults = feed(
        &mut e,
        "a",
        &[win("l", 0, "....x....."), win("l", 10, "..........")],
    );
    assert!(faults.is_empty());
    let l = link(&e, "l");
    assert_eq!(l.down_ms_total, 0);
    assert_eq!(l.faults_total, 0);
    // The first window lost 10%: degraded (default 2%), never down.
    let v = vantage(&e, "l", "a");
    assert_eq!(v.state, LinkState::Up);
    assert_eq!((v.probes_sent_total, v.probes_received_total), (20, 19));
    assert_eq!(v.down_ms_total, 0);
}

#[test]
fn a_lost_packet_makes_the_window_degraded() {
    let mut e = engine();
    e.observe("a", &win("l", 0, "....x.....")).unwrap();
    let v = vantage(&e, "l", "a");
    assert_eq!(v.state, LinkState::Degraded);
    assert_eq!(v.last.unwrap().loss_ratio, 0.1);
    assert_eq!(link(&e, "l").state, LinkState::Degraded);
}

#[test]
fn two_lost_packets_never_make_a_link_down_even_across_windows() {
    let mut e = engine();
    // Two lost inside a window, then two lost across a window boundary (x | x).
    feed(
        &mut e,
        "a",
        &[win("l", 0, "..xx.....x"), win("l", 10, "x.........")],
    );
    assert_eq!(vantage(&e, "l", "a").down_ms_total, 0);
    assert_eq!(link(&e, "l").down_ms_total, 0);
    assert!(e.faults(None).is_empty());
}

#[test]
fn three_lost_across_a_window_boundary_are_stitched_into_a_down_period() {
    let mut e = engine();
    // x x | x . . : three consecutive lost probes over two windows: down from the first.
    feed(
        &mut e,
        "a",
        &[
            win("l", 0, "........xx"),
            win("l", 10, "x........."),
            win("l", 20, ".........."),
        ],
    );
    // Down [8 s, 11 s): ends at the first of the two confirming successes.
    assert_eq!(vantage(&e, "l", "a").down_ms_total, 3_000);
    assert_eq!(link(&e, "l").down_ms_total, 3_000);
    assert_eq!(link(&e, "l").faults_total, 0);
}

#[test]
fn an_outage_spanning_three_windows_is_one_fault_with_exact_start_and_end() {
    let mut e = engine();
    // 30 s windows: the last 15 probes of the first window, all of the second and the first
    // 20 of the third are lost: down [15 s, 80 s), 65 s.
    let w1 = format!("{}{}", rep('.', 15), rep('x', 15));
    let w2 = rep('x', 30);
    let w3 = format!("{}{}", rep('x', 20), rep('.', 10));
    assert!(e.observe("a", &win("l", 0, &w1)).unwrap().is_empty());
    assert!(e.observe("a", &win("l", 30, &w2)).unwrap().is_empty());
    assert_eq!(vantage(&e, "l", "a").state, LinkState::Down);
    assert_eq!(link(&e, "l").state, LinkState::Down);
    // The window with the recovery gives the end; it is final one window later (the slack
    // left for a vantage point that has not reported yet).
    assert!(e.observe("a", &win("l", 60, &w3)).unwrap().is_empty());
    let pending = e.faults(None);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].end_unix_ms, Some(T0 + 80 * S));
    assert!(!pending[0].settled);
    assert_eq!(
        link(&e, "l").state,
        LinkState::Degraded,
        "the last window lost 2/3"
    );
    let faults = e.observe("a", &win("l", 90, &rep('.', 30))).unwrap();
    assert_eq!(
        faults,
        [Fault {
            link_id: "l".into(),
            level: "city-county".into(),
            domain: "administrative".into(),
            start_unix_ms: T0 + 15 * S,
            end_unix_ms: Some(T0 + 80 * S),
            duration_ms: 65 * S,
            agents: vec!["a".into()],
            settled: true,
        }]
    );
    let l = link(&e, "l");
    assert_eq!((l.faults_total, l.down_ms_total), (1, 65_000));
    assert_eq!(l.state, LinkState::Up);
    assert_eq!(vantage(&e, "l", "a").down_ms_total, 65_000);
    // Listed once, settled.
    assert_eq!(e.faults(Some("l")), faults);
    assert!(e.faults(Some("other")).is_empty());
}

#[test]
fn the_same_outage_in_literal_windows_with_loss_runs() {
    // The windows as an agent sends them, written out (not built by `win`).
    let base = |start: i64, sent: u32, received: u32, runs: Vec<LossRun>| LinkResult {
        link_id: "pc-1".into(),
        kind: "icmp".into(),
        target: "198.18.0.2".into(),
        level: "province-city".into(),
        domain: "public".into(),
        window_start_unix_ms: start,
        window_end_unix_ms: start + 15_000,
        probe_interval_ms: 1_000,
        sent,
        received,
        loss_ratio: 1.0 - f64::from(received) / f64::from(sent),
        loss_runs: runs,
        first_probe_unix_ms: start,
        last_probe_unix_ms: start + 14_000,
        ..Default::default()
    };
    let run = |first: i64, last: i64, count, open_start, open_end| LossRun {
        first_lost_unix_ms: first,
        last_lost_unix_ms: last,
        count,
        open_start,
        open_end,
    };
    let windows = [
        base(
            1_000_000,
            15,
            10,
            vec![run(1_010_000, 1_014_000, 5, false, true)],
        ),
        base(
            1_015_000,
            15,
            0,
            vec![run(1_015_000, 1_029_000, 15, true, true)],
        ),
        base(
            1_030_000,
            15,
            0,
            vec![run(1_030_000, 1_044_000, 15, true, true)],
        ),
        base(
            1_045_000,
            15,
            0,
            vec![run(1_045_000, 1_059_000, 15, true, true)],
        ),
        base(
            1_060_000,
            15,
            9,
            vec![
                run(1_060_000, 1_062_000, 3, true, false),
                // A single success at 1_063_000 does not end the outage (up_confirm_probes 2).
                run(1_064_000, 1_065_000, 2, false, false),
            ],
        ),
        base(1_075_000, 15, 15, vec![]),
    ];
    // Down [1_010_000, 1_066_000): 56 s, down time but under the default 60 s minimum.
    let mut e = engine();
    assert!(feed(&mut e, "a", &windows).is_empty());
    assert_eq!(link(&e, "pc-1").down_ms_total, 56_000);
    // With a 50 s minimum it is a fault.
    let mut e = LinkEngine::new(Links {
        fault_min: Duration::from_secs(50),
        ..Links::default()
    });
    let faults = feed(&mut e, "a", &windows);
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].start_unix_ms, 1_010_000);
    assert_eq!(faults[0].end_unix_ms, Some(1_066_000));
    assert_eq!(faults[0].duration_ms, 56_000);
    assert_eq!(
        (faults[0].level.as_str(), faults[0].domain.as_str()),
        ("province-city", "public")
    );
}

#[test]
fn an_outage_of_20_seconds_is_down_time_but_not_a_fault() {
    let mut e = engine();
    let faults = feed(
        &mut e,
        "a",
        &[
            win("l", 0, &format!("{}{}", rep('.', 5), rep('x', 10))),
            win("l", 15, &format!("{}{}", rep('x', 10), rep('.', 5))),
            win("l", 30, &rep('.', 15)),
        ],
    );
    assert!(faults.is_empty());
    let l = link(&e, "l");
    assert_eq!((l.down_ms_total, l.faults_total), (20_000, 0));
    assert!(e.faults(None).is_empty());
}

#[test]
fn single_successes_inside_an_outage_do_not_split_it() {
    let mut e = engine();
    // 90 s outage from 10 s with a lone answer at 40 s and another at 70 s.
    let pattern = format!(
        "{}{}.{}.{}{}",
        rep('.', 10),
        rep('x', 30),
        rep('x', 29),
        rep('x', 29),
        rep('.', 20)
    );
    let windows: Vec<LinkResult> = pattern
        .as_bytes()
        .chunks(15)
        .enumerate()
        .map(|(i, c)| win("l", i as i64 * 15, std::str::from_utf8(c).unwrap()))
        .collect();
    let faults = feed(&mut e, "a", &windows);
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].start_unix_ms, T0 + 10 * S);
    assert_eq!(faults[0].end_unix_ms, Some(T0 + 100 * S));
    assert_eq!(link(&e, "l").faults_total, 1);
}

#[test]
fn two_successes_end_the_outage_at_the_first_of_them() {
    let mut e = engine();
    let pattern = format!("{}..{}{}", rep('x', 40), rep('x', 40), rep('.', 10));
    let faults = feed(
        &mut e,
        "a",
        &[win("l", 0, &pattern), win("l", 92, &rep('.', 92))],
    );
    // Two down periods of 40 s each: neither is a fault, 80 s of down time.
    assert!(faults.is_empty());
    assert_eq!(link(&e, "l").down_ms_total, 80_000);
}

#[test]
fn a_link_is_not_down_while_another_vantage_point_reaches_it() {
    let mut e = engine();
    let down = [
        win("l", 0, &format!("{}{}", rep('.', 10), rep('x', 20))),
        win("l", 30, &rep('x', 30)),
        win("l", 60, &rep('x', 30)),
        win("l", 90, &rep('.', 30)),
    ];
    let up: Vec<LinkResult> = (0..4).map(|i| win("l", i * 30, &rep('.', 30))).collect();
    // Interleaved as they would arrive.
    let mut faults = Vec::new();
    for (d, u) in down.iter().zip(&up) {
        faults.extend(e.observe("a", d).unwrap());
        faults.extend(e.observe("b", u).unwrap());
        let l = link(&e, "l");
        assert_ne!(l.state, LinkState::Down);
    }
    assert!(faults.is_empty());
    assert!(e.faults(None).is_empty());
    let l = link(&e, "l");
    assert_eq!((l.down_ms_total, l.faults_total), (0, 0));
    assert_eq!(vantage(&e, "l", "a").down_ms_total, 80_000);
    assert_eq!(vantage(&e, "l", "b").down_ms_total, 0);
}

#[test]
fn the_link_is_down_where_every_vantage_point_is_down() {
    let mut e = engine();
    // a: down [10 s, 110 s); b: down [20 s, 100 s) -> link down [20 s, 100 s).
    let a = format!("{}{}{}", rep('.', 10), rep('x', 100), rep('.', 40));
    let b = format!("{}{}{}", rep('.', 20), rep('x', 80), rep('.', 50));
    let mut faults = Vec::new();
    for i in 0..5 {
        let chunk = |p: &str| p[i * 30..(i + 1) * 30].to_owned();
        faults.extend(
            e.observe("a", &win("l", i as i64 * 30, &chunk(&a)))
                .unwrap(),
        );
        faults.extend(
            e.observe("b", &win("l", i as i64 * 30, &chunk(&b)))
                .unwrap(),
        );
    }
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].start_unix_ms, T0 + 20 * S);
    assert_eq!(faults[0].end_unix_ms, Some(T0 + 100 * S));
    assert_eq!(faults[0].agents, ["a", "b"]);
    assert_eq!(link(&e, "l").down_ms_total, 80_000);
}

#[test]
fn a_fault_waits_for_a_lagging_vantage_point() {
    let mut e = engine();
    let a = [
        win("l", 0, &rep('x', 30)),
        win("l", 30, &rep('x', 30)),
        win("l", 60, &format!("{}{}", rep('x', 10), rep('.', 20))),
    ];
    // b is one window behind a.
    e.observe("b", &win("l", 0, &rep('x', 30))).unwrap();
    assert!(feed(&mut e, "a", &a[..2]).is_empty());
    e.observe("b", &win("l", 30, &rep('x', 30))).unwrap();
    // a has recovered at 70 s but b's evidence ends at 60 s: not final yet, listed as pending.
    assert!(e.observe("a", &a[2]).unwrap().is_empty());
    let pending = e.faults(None);
    assert_eq!(pending.len(), 1);
    assert!(!pending[0].settled);
    assert_eq!(pending[0].end_unix_ms, Some(T0 + 70 * S));
    // b recovers later than a: the link came back when a did.
    let settled = e
        .observe(
            "b",
            &win("l", 60, &format!("{}{}", rep('x', 15), rep('.', 15))),
        )
        .unwrap();
    assert!(settled.is_empty(), "one window of slack");
    let mut settled = e.observe("a", &win("l", 90, &rep('.', 30))).unwrap();
    settled.extend(e.observe("b", &win("l", 90, &rep('.', 30))).unwrap());
    assert_eq!(settled.len(), 1);
    assert_eq!(
        (settled[0].start_unix_ms, settled[0].end_unix_ms),
        (T0, Some(T0 + 70 * S))
    );
    assert_eq!(e.faults(None), settled);
    assert_eq!(link(&e, "l").faults_total, 1);
}

#[test]
fn a_stale_vantage_point_does_not_hold_the_link_back() {
    let mut e = engine();
    e.observe("b", &win("l", 0, &rep('.', 15))).unwrap();
    // b falls silent; a sees a 90 s outage.
    let mut faults = Vec::new();
    for i in 1..=9 {
        let p = if i >= 8 { rep('.', 15) } else { rep('x', 15) };
        faults.extend(e.observe("a", &win("l", i * 15, &p)).unwrap());
    }
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(
        (faults[0].start_unix_ms, faults[0].end_unix_ms),
        (T0 + 15 * S, Some(T0 + 120 * S))
    );
    assert!(vantage(&e, "l", "b").stale);
}

#[test]
fn an_open_outage_is_an_ongoing_fault_counted_once() {
    let mut e = engine();
    let mut settled = feed(
        &mut e,
        "a",
        &[
            win("l", 0, &format!("{}{}", rep('.', 5), rep('x', 25))),
            win("l", 30, &rep('x', 30)),
            win("l", 60, &rep('x', 30)),
        ],
    );
    assert!(settled.is_empty());
    let ongoing = e.faults(None);
    assert_eq!(ongoing.len(), 1);
    assert_eq!(ongoing[0].end_unix_ms, None);
    assert_eq!(ongoing[0].start_unix_ms, T0 + 5 * S);
    assert_eq!(ongoing[0].duration_ms, 85_000);
    assert!(!ongoing[0].settled);
    let l = link(&e, "l");
    assert_eq!(l.state, LinkState::Down);
    // Counted up to the settled horizon, one window behind: 55 s, not yet a fault.
    assert_eq!((l.faults_total, l.down_ms_total), (0, 55_000));
    settled.extend(feed(&mut e, "a", &[win("l", 90, &rep('x', 30))]));
    let l = link(&e, "l");
    assert_eq!((l.faults_total, l.down_ms_total), (1, 85_000));
    assert_eq!(e.faults(None)[0].end_unix_ms, None);
    // It ends: stored once, still counted once.
    settled.extend(feed(
        &mut e,
        "a",
        &[win("l", 120, &rep('.', 30)), win("l", 150, &rep('.', 30))],
    ));
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].end_unix_ms, Some(T0 + 120 * S));
    assert_eq!(link(&e, "l").faults_total, 1);
    assert_eq!(link(&e, "l").down_ms_total, 115_000);
}

#[test]
fn late_and_duplicate_windows_are_ignored() {
    let mut e = engine();
    let w1 = win("l", 0, &rep('.', 10));
    let w2 = win("l", 10, &rep('.', 10));
    e.observe("a", &w2).unwrap();
    assert_eq!(
        e.observe("a", &w1),
        Err(Ignored::NotNewer {
            window_end_unix_ms: T0 + 10 * S,
            last_end_unix_ms: T0 + 20 * S
        })
    );
    assert!(e.observe("a", &w2).is_err());
    let v = vantage(&e, "l", "a");
    assert_eq!(v.probes_sent_total, 10);
    // Another vantage point has its own order.
    e.observe("b", &w1).unwrap();
}

#[test]
fn a_pause_in_the_evidence_ends_a_down_period_where_the_evidence_ends() {
    let mut e = engine();
    feed(
        &mut e,
        "a",
        &[
            win("l", 0, &format!("{}{}", rep('.', 10), rep('x', 20))),
            // The agent was away for 60 s; the link answers when it is back.
            win("l", 90, &rep('.', 30)),
        ],
    );
    // Down [10 s, 30 s): evidence ended at 30 s.
    assert_eq!(link(&e, "l").down_ms_total, 20_000);
    assert_eq!(vantage(&e, "l", "a").down_ms_total, 20_000);
}

#[test]
fn rtt_past_the_level_threshold_is_degraded() {
    let mut e = engine();
    let mut w = win("l", 0, &rep('.', 10));
    w.rtt_avg_seconds = 0.150;
    e.observe("a", &w).unwrap();
    assert_eq!(vantage(&e, "l", "a").state, LinkState::Degraded);

    let mut config = Links::default();
    config.thresholds.city_county.degraded_rtt = Some(Duration::from_millis(200));
    let mut e = LinkEngine::new(config);
    e.observe("a", &w).unwrap();
    assert_eq!(vantage(&e, "l", "a").state, LinkState::Up);
}

#[test]
fn a_window_at_the_down_loss_ratio_is_down_before_the_hysteresis_confirms() {
    let mut e = LinkEngine::new(Links {
        down_loss_ratio: 0.5,
        ..Links::default()
    });
    e.observe("a", &win("l", 0, "x.x.x.x.x.")).unwrap();
    assert_eq!(vantage(&e, "l", "a").state, LinkState::Down);
    // The alternating losses never formed a run of three: no down time.
    assert_eq!(vantage(&e, "l", "a").down_ms_total, 0);
}

#[test]
fn a_window_without_loss_runs_and_nothing_received_is_one_run() {
    let mut e = engine();
    let mut w = win("l", 0, &rep('x', 10));
    w.loss_runs.clear();
    e.observe("a", &w).unwrap();
    e.observe("a", &win("l", 10, "..........")).unwrap();
    e.observe("a", &win("l", 20, "..........")).unwrap();
    assert_eq!(link(&e, "l").down_ms_total, 10_000);
}

#[test]
fn down_periods_lists_every_link_level_down_period_however_short() {
    // A 10 s outage (not a fault), then a 70 s one still open at the end of the evidence.
    let windows = [
        win(
            "l",
            0,
            &format!("{}{}{}", rep('.', 5), rep('x', 10), rep('.', 15)),
        ),
        win("l", 30, &format!("{}{}", rep('.', 30), rep('x', 70))),
        win("m", 0, &rep('.', 30)),
    ];
    let got = down_periods(Links::default(), windows.iter().map(|w| ("a", w)));
    assert_eq!(
        got["l"],
        [(T0 + 5 * S, T0 + 15 * S), (T0 + 60 * S, T0 + 130 * S)]
    );
    assert!(got["m"].is_empty());
    // Two vantage points: down only while both are.
    let b = [win("l", 0, &format!("{}{}", rep('.', 10), rep('x', 20)))];
    let a = [win("l", 0, &format!("{}{}", rep('x', 20), rep('.', 10)))];
    let both = down_periods(
        Links::default(),
        a.iter().map(|w| ("a", w)).chain(b.iter().map(|w| ("b", w))),
    );
    assert_eq!(both["l"], [(T0 + 10 * S, T0 + 20 * S)]);
}
