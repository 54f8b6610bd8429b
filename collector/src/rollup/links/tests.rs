use proptest::prelude::*;
use zerofault_protocol::{LinkResult, LossRun, Report, SystemInfo};

use super::*;
use crate::live::links::{Links, down_periods, stream_down_periods};

const T: i64 = 1_800_000_000_000;
/// Probe interval and probes per window of the generated windows.
const PROBE_MS: i64 = 1_000;
const PER_WINDOW: usize = 15;

#[test]
fn rtt_bins_are_exact_below_a_millisecond_and_three_digits_above() {
    for us in [0, 1, 999] {
        assert_eq!(rtt_of_bin(rtt_bin(us)), us as f64);
    }
    for (us, kept) in [
        (5_000, 5_000.0),
        (5_004, 5_000.0),
        (5_005, 5_010.0),
        (12_345, 12_300.0),
        (9_995, 10_000.0),
        (123_456_789, 123_000_000.0),
    ] {
        assert_eq!(rtt_of_bin(rtt_bin(us)), kept, "{us}");
    }
    // Bins order as their values do.
    let mut last = 0;
    for us in (0..2_000_000u64).step_by(997) {
        let b = rtt_bin(us);
        assert!(b >= last, "{us}");
        last = b;
    }
    assert!(rtt_of_bin(rtt_bin(u64::MAX)).is_finite());
}

/// Windows of one link from one agent, cut from a probe outcome sequence (`true` = lost) into
/// windows of [`PER_WINDOW`] probes, with the agent paused (no windows) where `paused`, as an
/// agent makes them: maximal loss runs, open at a window's edge when they go on.
fn windows(outcomes: &[bool], paused: &[bool]) -> Vec<LinkResult> {
    let mut out = Vec::new();
    let chunks: Vec<&[bool]> = outcomes.chunks(PER_WINDOW).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        if paused.get(i).copied().unwrap_or(false) {
            continue;
        }
        let t0 = T + (i * PER_WINDOW) as i64 * PROBE_MS;
        let mut w = LinkResult {
            link_id: "l1".into(),
            level: "city-county".into(),
            domain: "administrative".into(),
            window_start_unix_ms: t0 - 500,
            window_end_unix_ms: t0 - 500 + chunk.len() as i64 * PROBE_MS,
            first_probe_unix_ms: t0,
            last_probe_unix_ms: t0 + (chunk.len() as i64 - 1) * PROBE_MS,
            probe_interval_ms: PROBE_MS as u32,
            sent: chunk.len() as u32,
            received: chunk.iter().filter(|l| !**l).count() as u32,
            rtt_avg_seconds: 0.002 + (i % 7) as f64 * 0.0001,
            jitter_seconds: 0.0003,
            ..Default::default()
        };
        let prev_lost =
            i > 0 && !paused.get(i - 1).copied().unwrap_or(false) && *chunks[i - 1].last().unwrap();
        let next_lost = i + 1 < chunks.len()
            && !paused.get(i + 1).copied().unwrap_or(false)
            && chunks[i + 1][0];
        let mut k = 0;
        while k < chunk.len() {
            if !chunk[k] {
                k += 1;
                continue;
            }
            let start = k;
            while k < chunk.len() && chunk[k] {
                k += 1;
            }
            w.loss_runs.push(LossRun {
                first_lost_unix_ms: t0 + start as i64 * PROBE_MS,
                last_lost_unix_ms: t0 + (k as i64 - 1) * PROBE_MS,
                count: (k - start) as u32,
                open_start: start == 0 && prev_lost,
                open_end: k == chunk.len() && next_lost,
            });
        }
        w.loss_ratio = 1.0 - f64::from(w.received) / f64::from(w.sent);
        out.push(w);
    }
    out
}

/// The link day of one window as its report makes it; `jitter_ms` is the report's share of
/// uptime truncation (the clock `agent time - uptime` moves within a second).
fn day_of(w: &LinkResult, jitter_ms: i64) -> LinkDay {
    let uptime_s = ((w.window_end_unix_ms - T + 3_600_000 - jitter_ms) / 1000) as u64;
    let report = Report {
        agent_id: "a".into(),
        boot_id: "b".into(),
        timestamp_unix_ms: w.window_end_unix_ms,
        system: Some(SystemInfo {
            uptime_seconds: uptime_s,
            ..Default::default()
        }),
        links: vec![w.clone()],
        ..Default::default()
    };
    let clock = report.timestamp_unix_ms - uptime_s as i64 * 1000;
    let mut days = of_report(&report, Some(clock), &Default::default());
    assert_eq!(days.len(), 1);
    days.pop().unwrap()
}

fn outcomes() -> impl Strategy<Value = Vec<bool>> {
    // Runs of answers and losses of random lengths: short blips and outages.
    prop::collection::vec((any::<bool>(), 1usize..40), 1..30).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(lost, n)| std::iter::repeat_n(lost, n))
            .collect()
    })
}

proptest! {
    /// A link's day is the same whatever order its windows arrive in and however they were
    /// grouped on the way.
    #[test]
    fn link_days_merge_in_any_order(
        outcomes in outcomes(),
        paused in prop::collection::vec(prop::bool::weighted(0.1), 60),
        jitter in prop::collection::vec(0i64..1_000, 60),
        order in prop::collection::vec(any::<prop::sample::Index>(), 60),
        split in any::<prop::sample::Index>(),
    ) {
        let days: Vec<LinkDay> = windows(&outcomes, &paused)
            .iter()
            .enumerate()
            .map(|(i, w)| day_of(w, jitter[i % jitter.len()]))
            .collect();
        prop_assume!(!days.is_empty());
        let mut sequential = days[0].clone();
        for d in &days[1..] {
            sequential.merge(d);
        }
        let mut shuffled = days.clone();
        for (i, ix) in order.iter().enumerate().take(shuffled.len()) {
            let j = ix.index(shuffled.len());
            shuffled.swap(i, j);
        }
        let cut = split.index(shuffled.len()).max(1);
        let (left, right) = shuffled.split_at(cut);
        let mut a = left[0].clone();
        for d in &left[1..] {
            a.merge(d);
        }
        if let Some((first, rest)) = right.split_first() {
            let mut b = first.clone();
            for d in rest {
                b.merge(d);
            }
            a.merge(&b);
        }
        prop_assert_eq!(&a, &sequential);
        // Joined: as many pieces as runs of windows without a pause.
        let windows_kept = windows(&outcomes, &paused);
        let breaks = windows_kept
            .windows(2)
            .filter(|p| p[1].window_start_unix_ms != p[0].window_end_unix_ms)
            .count();
        prop_assert_eq!(sequential.pieces.len(), breaks + 1);
    }

    /// The link engine finds the same down periods in a day's pieces as in its windows one
    /// by one: joining windows loses nothing it reads.
    #[test]
    fn pieces_replay_as_their_windows(
        outcomes in outcomes(),
        paused in prop::collection::vec(prop::bool::weighted(0.1), 60),
        down_confirm in 1u32..6,
        up_confirm in 1u32..6,
    ) {
        let config = Links {
            down_confirm_probes: down_confirm,
            up_confirm_probes: up_confirm,
            ..Links::default()
        };
        let ws = windows(&outcomes, &paused);
        prop_assume!(!ws.is_empty());
        let by_window = down_periods(config.clone(), ws.iter().map(|w| ("a", w)))
            .remove("l1")
            .unwrap_or_default();
        let mut day = day_of(&ws[0], 0);
        for w in &ws[1..] {
            day.merge(&day_of(w, 0));
        }
        let streams: Vec<ProbeStream> = day.pieces.iter().map(Piece::stream).collect();
        let by_piece = stream_down_periods(config, "l1", streams.iter().map(|s| ("a", s)));
        prop_assert_eq!(by_piece, by_window);
    }
}

#[test]
fn a_flapping_day_drops_its_stream_and_keeps_its_evidence() {
    // Every other probe lost, all day long: notable windows pass the bound.
    let outcomes: Vec<bool> = (0..(MAX_NOTABLE_WINDOWS as usize + 10) * PER_WINDOW)
        .map(|k| k % 2 == 0)
        .collect();
    let ws = windows(&outcomes, &[]);
    let mut day = day_of(&ws[0], 0);
    let mut largest = 0;
    for w in &ws[1..] {
        day.merge(&day_of(w, 0));
        largest = largest.max(prost::Message::encoded_len(&day));
    }
    // On the way to the bound too, not only after it: a few such links fit a bucket.
    assert!(largest < 48 << 10, "a link day reached {largest} bytes");
    assert!(day.overflow);
    assert_eq!(day.pieces.len(), 1);
    let p = &day.pieces[0];
    assert!(p.steps.is_empty() && p.degraded.is_empty());
    assert!(p.degraded_any, "half the probes lost is degraded");
    assert_eq!(
        p.degraded_spans(true),
        vec![Span {
            from: p.start_ms,
            to: p.end_ms
        }]
    );
    // Read as windows without loss runs: answered, one step.
    let s = p.stream();
    assert_eq!(s.steps.len(), 1);
    assert!(!s.steps[0].lost);
    assert_eq!(s.sent, outcomes.len() as u64);
    // The bucket stays far below its bound.
    assert!(
        prost::Message::encoded_len(&day) < 16 << 10,
        "{}",
        prost::Message::encoded_len(&day)
    );
}

/// `w` moved by `ms` (another vantage point's clock phase).
fn shifted(mut w: LinkResult, ms: i64) -> LinkResult {
    w.window_start_unix_ms += ms;
    w.window_end_unix_ms += ms;
    w.first_probe_unix_ms += ms;
    w.last_probe_unix_ms += ms;
    for r in &mut w.loss_runs {
        r.first_lost_unix_ms += ms;
        r.last_lost_unix_ms += ms;
    }
    w
}

proptest! {
    /// Two vantage points: the link's down periods from their joined pieces are those from
    /// their windows one by one, whatever their lengths (a long piece of one fed after many
    /// short ones of the other): the month computes the link from all the evidence.
    #[test]
    fn two_vantage_points_replay_alike(
        a in outcomes(),
        b in outcomes(),
        paused_a in prop::collection::vec(prop::bool::weighted(0.15), 60),
        phase in 0i64..15_000,
    ) {
        let config = Links::default();
        let wa = windows(&a, &paused_a);
        let wb: Vec<LinkResult> = windows(&b, &[]).into_iter().map(|w| shifted(w, phase)).collect();
        prop_assume!(!wa.is_empty() && !wb.is_empty());
        // Window by window, in order of end.
        let mut each: Vec<(&str, ProbeStream)> = wa
            .iter()
            .map(|w| ("a", w))
            .chain(wb.iter().map(|w| ("b", w)))
            .filter_map(|(v, w)| ProbeStream::of_window(w).map(|s| (v, s)))
            .collect();
        each.sort_by_key(|(v, s)| (s.end_ms, *v));
        let by_window = stream_down_periods(config.clone(), "l1", each.iter().map(|(v, s)| (*v, s)));
        // Joined into pieces (one day per vantage point), in order of end.
        let day = |ws: &[LinkResult]| {
            let mut d = day_of(&ws[0], 0);
            for w in &ws[1..] {
                d.merge(&day_of(w, 0));
            }
            d
        };
        let mut pieces: Vec<(&str, ProbeStream)> = day(&wa)
            .pieces
            .iter()
            .map(|p| ("a", p.stream()))
            .chain(day(&wb).pieces.iter().map(|p| ("b", p.stream())))
            .collect();
        pieces.sort_by_key(|(v, s)| (s.end_ms, *v));
        let by_piece = stream_down_periods(config, "l1", pieces.iter().map(|(v, s)| (*v, s)));
        prop_assert_eq!(by_piece, by_window);
    }
}
