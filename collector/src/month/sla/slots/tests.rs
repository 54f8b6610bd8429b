use super::*;
use crate::month::sla::input::{Boot, HostReport, Labels, evidence_of_reports};
use SlotState::{Degraded as G, Down as D, Maintenance as M, Unknown as X, Up as U};

/// 2026-01-01T00:00+08:00.
const T0: i64 = 1_767_196_800_000;
const MIN: i64 = 60_000;
const S: i64 = 1_000;

fn grid(n: u32, now: i64) -> Grid {
    Grid {
        start: T0,
        end: T0 + i64::from(n) * MIN,
        slot: MIN,
        n,
        now: now.clamp(T0, T0 + i64::from(n) * MIN),
        now_raw: now,
    }
}

/// Reports every 15 s of `boot`, at agent times `from..=to` (ms after T0), offset `off`.
fn reports(boot: u32, seq0: u64, from: i64, to: i64, off: i64) -> Vec<HostReport> {
    (0..)
        .map(|k| from + k * 15 * S)
        .take_while(|&t| t <= to)
        .enumerate()
        .map(|(k, t)| HostReport {
            boot,
            sequence: seq0 + k as u64,
            agent_ms: T0 + t - off,
            clock_offset_ms: off,
            interval_ms: 15 * S,
        })
        .collect()
}

fn host(boots: &[(&str, i64)], reports: Vec<HostReport>) -> HostInput {
    HostInput {
        agent_id: "h1".into(),
        hostname: "h1".into(),
        labels: Labels::default(),
        target: None,
        maintenance: Vec::new(),
        boots: evidence_of_reports(
            &boots
                .iter()
                .map(|&(id, t)| Boot {
                    boot_id: id.into(),
                    boot_time_ms: T0 + t,
                })
                .collect::<Vec<_>>(),
            &reports,
        ),
        mounts: Vec::new(),
        capacity: Vec::new(),
    }
}

/// Final states with the collector running and agents heard everywhere (`true`) or nowhere.
fn states(g: &Grid, h: &HostInput, silence_down: bool) -> Vec<SlotState> {
    let mut heard = vec![false; g.n as usize];
    let tl = host_provisional(g, h, &mut Scratch::default(), &mut heard);
    resolve_silence(&tl, &vec![silence_down; g.n as usize]).states()
}

#[test]
fn steady_reports_make_every_slot_up() {
    let g = grid(5, i64::MAX);
    // From before the month (the newest report before it) to after it.
    let h = host(&[("a", -3_600_000)], reports(0, 1, -15 * S, 5 * MIN, 0));
    assert_eq!(states(&g, &h, true), [U, U, U, U, U]);
}

#[test]
fn a_reboot_is_down_from_the_last_report_to_the_boot_time() {
    let g = grid(8, i64::MAX);
    let mut r = reports(0, 1, -15 * S, 3 * MIN, 0);
    // New boot at 5:00; the agent's first report at 5:30 covers 5:15..5:30.
    r.extend(reports(1, 100, 5 * MIN + 30 * S, 8 * MIN, 0));
    let h = host(&[("a", -3_600_000), ("b", 5 * MIN)], r);
    // Slot 5: 15 s of boot silence and 45 s of reports: up.
    assert_eq!(states(&g, &h, true), [U, U, U, D, D, U, U, U]);
    // Where the collector could not hear agents, when the host stopped inside the gap is
    // not known (its last reports may not have arrived): unknown, not down.
    assert_eq!(states(&g, &h, false), [U, U, U, X, X, U, U, U]);
}

#[test]
fn a_silent_stretch_within_one_boot_is_up() {
    let g = grid(6, i64::MAX);
    let mut r = reports(0, 1, -15 * S, MIN, 0);
    r.extend(reports(0, 50, 4 * MIN, 6 * MIN, 0));
    let h = host(&[("a", -3_600_000)], r);
    assert_eq!(
        states(&g, &h, true),
        [U; 6],
        "same boot id before and after the gap"
    );
}

#[test]
fn silence_without_a_later_report_is_down_only_when_the_collector_could_hear() {
    let g = grid(6, i64::MAX);
    let h = host(
        &[("a", -3_600_000)],
        reports(0, 1, -15 * S, 2 * MIN + 15 * S, 0),
    );
    // Slot 2 has 15 s of reports and 45 s of silence: silence decides it.
    assert_eq!(states(&g, &h, true), [U, U, D, D, D, D]);
    assert_eq!(states(&g, &h, false), [U, U, U, X, X, X]);
}

#[test]
fn silence_uses_the_collector_runs_and_the_agents_heard_per_slot() {
    let g = grid(4, i64::MAX);
    let h = host(&[("a", -3_600_000)], reports(0, 1, -15 * S, MIN, 0));
    let mut heard = vec![false; 4];
    let tl = host_provisional(&g, &h, &mut Scratch::default(), &mut heard);
    assert_eq!(
        heard,
        [true, false, false, false],
        "its own reports are heard"
    );
    let silence = [false, true, true, false];
    assert_eq!(resolve_silence(&tl, &silence).states(), [U, D, D, X]);
}

#[test]
fn before_the_first_report_is_unknown() {
    let g = grid(4, i64::MAX);
    // Installed at 2:00: its first-ever report at 2:15 covers 2:00..2:15.
    let h = host(
        &[("a", 2 * MIN - 30 * S)],
        reports(0, 1, 2 * MIN + 15 * S, 4 * MIN, 0),
    );
    assert_eq!(states(&g, &h, true), [X, X, U, U]);
}

#[test]
fn a_host_without_reports_is_unknown_and_maintenance_still_shows() {
    let g = grid(3, i64::MAX);
    let mut h = host(&[], Vec::new());
    h.maintenance = vec![Interval::new(T0, T0 + 30 * S)];
    assert_eq!(states(&g, &h, true), [M, X, X]);
}

#[test]
fn maintenance_claims_a_slot_when_it_covers_at_least_half() {
    let g = grid(4, i64::MAX);
    let mut h = host(&[("a", -3_600_000)], reports(0, 1, -15 * S, 4 * MIN, 0));
    h.maintenance = vec![
        Interval::new(T0, T0 + MIN + 30 * S),
        Interval::new(T0 + 3 * MIN, T0 + 3 * MIN + 29 * S),
    ];
    assert_eq!(states(&g, &h, true), [M, M, U, U]);
    // Overlapping windows are merged, not counted twice.
    h.maintenance = vec![
        Interval::new(T0 + 2 * MIN, T0 + 2 * MIN + 20 * S),
        Interval::new(T0 + 2 * MIN + 10 * S, T0 + 2 * MIN + 25 * S),
    ];
    assert_eq!(states(&g, &h, true), [U, U, U, U]);
}

#[test]
fn a_clock_step_does_not_open_a_gap() {
    let g = grid(6, i64::MAX);
    // The agent's clock jumps 10 minutes back at 3:00 and the offset estimate missed it:
    // the same boot, consecutive sequence numbers, timestamps out of order.
    let mut r = reports(0, 1, -15 * S, 3 * MIN, 0);
    let n = r.len() as u64;
    let mut after = reports(0, 1 + n, 3 * MIN + 15 * S, 7 * MIN, 0);
    for x in &mut after {
        x.agent_ms -= 10 * MIN;
    }
    r.extend(after);
    r.extend(reports(0, 1000, 7 * MIN, 7 * MIN, 0));
    let h = host(&[("a", -3_600_000)], r);
    assert_eq!(states(&g, &h, true), [U; 6]);
}

#[test]
fn the_clock_offset_corrects_agent_times() {
    let g = grid(4, i64::MAX);
    // Agent clock 2 minutes behind, reports until 2:00 collector time.
    let h = host(
        &[("a", -3_600_000)],
        reports(0, 1, -15 * S, 2 * MIN, 2 * MIN),
    );
    assert_eq!(h.boots[0].last_ms, T0 + 2 * MIN);
    assert_eq!(states(&g, &h, true), [U, U, D, D]);
}

#[test]
fn slots_after_now_are_unknown_and_the_last_report_may_still_be_in_flight() {
    // Now at 8:10; reports until 7:50 with a 15 s interval: silence from 7:40 on is grace.
    let g = grid(10, T0 + 8 * MIN + 10 * S);
    let h = host(
        &[("a", -3_600_000)],
        reports(0, 1, -15 * S, 7 * MIN + 50 * S, 0),
    );
    assert_eq!(states(&g, &h, true), [U, U, U, U, U, U, U, U, X, X]);
    // Reports only until 5:00: 5:00..7:00 is real silence.
    let h = host(&[("a", -3_600_000)], reports(0, 1, -15 * S, 5 * MIN, 0));
    assert_eq!(states(&g, &h, true), [U, U, U, U, U, D, D, X, X, X]);
}

fn link(down: &[(i64, i64)], windows: &[(i64, i64, bool)]) -> LinkInput {
    LinkInput {
        link_id: "l1".into(),
        name: String::new(),
        level: "city-county".into(),
        domain: "administrative".into(),
        from_site: "c".into(),
        to_site: "k".into(),
        target: None,
        maintenance: Vec::new(),
        down: down
            .iter()
            .map(|&(a, b)| Interval::new(T0 + a, T0 + b))
            .collect(),
        coverage: windows
            .iter()
            .map(|&(a, b, _)| Interval::new(T0 + a, T0 + b))
            .collect(),
        degraded: windows
            .iter()
            .filter(|w| w.2)
            .map(|&(a, b, _)| Interval::new(T0 + a, T0 + b))
            .collect(),
        cells: Vec::new(),
        behind_hosts: Vec::new(),
        behind_links: Vec::new(),
    }
}

fn link_states(g: &Grid, l: &LinkInput) -> Vec<SlotState> {
    link_timeline(g, l, &mut Scratch::default()).states()
}

#[test]
fn a_link_down_period_claims_the_slots_it_covers_at_least_half() {
    let g = grid(5, i64::MAX);
    let all = [(0, 5 * MIN, false)];
    // 90 s from a slot boundary: 60 s + 30 s.
    let l = link(&[(MIN, MIN + 90 * S)], &all);
    assert_eq!(link_states(&g, &l), [U, D, D, U, U]);
    // 89 s: 60 s + 29 s; the 29 s are degraded (lost probes, still available).
    let l = link(&[(MIN, MIN + 89 * S)], &all);
    assert_eq!(link_states(&g, &l), [U, D, G, U, U]);
    // 90 s from :20: 40 s + 50 s.
    let l = link(&[(MIN + 20 * S, MIN + 110 * S)], &all);
    assert_eq!(link_states(&g, &l), [U, D, D, U, U]);
    // 20 s: degraded only, never a down minute.
    let l = link(&[(MIN + 20 * S, MIN + 40 * S)], &all);
    assert_eq!(link_states(&g, &l), [U, G, U, U, U]);
}

#[test]
fn link_slots_without_probe_windows_are_unknown_and_degraded_windows_show() {
    let g = grid(5, T0 + 4 * MIN);
    let l = link(
        &[],
        &[(0, 2 * MIN, false), (2 * MIN, 2 * MIN + 15 * S, true)],
    );
    assert_eq!(link_states(&g, &l), [U, U, G, X, X]);
}

#[test]
fn link_maintenance_wins_over_down() {
    let g = grid(3, i64::MAX);
    let mut l = link(&[(0, 3 * MIN)], &[(0, 3 * MIN, true)]);
    l.maintenance = vec![Interval::new(T0 + MIN, T0 + 2 * MIN)];
    assert_eq!(link_states(&g, &l), [D, M, D]);
}

#[test]
fn overlap_accounting_is_exact_at_the_edges() {
    let g = grid(3, i64::MAX);
    let mut buf = vec![0; 3];
    g.add_overlap(T0 - 5 * S, T0 + MIN + 10 * S, &mut buf);
    g.add_overlap(T0 + 2 * MIN + 59 * S, T0 + 10 * MIN, &mut buf);
    assert_eq!(buf, [60_000, 10_000, 1_000]);
    assert_eq!(g.touched(T0 + 3 * MIN, T0 + 4 * MIN), None);
    assert_eq!(g.touched(T0 + MIN, T0 + 2 * MIN), Some((1, 2)));
}

#[test]
fn merge_joins_touching_and_overlapping_intervals() {
    let mut v = vec![(5, 7), (1, 3), (3, 4), (2, 2), (6, 9)];
    merge(&mut v);
    assert_eq!(v, [(1, 4), (5, 9)]);
}

#[test]
fn resolve_silence_keeps_runs_maximal() {
    use code::*;
    let tl = Timeline::from_codes(&[UP, SILENT, SILENT_SOME_UP, DOWN, SILENT]);
    let r = resolve_silence(&tl, &[false, false, true, false, true]);
    assert_eq!(r, Timeline::from_codes(&[UP, UNKNOWN, DOWN, DOWN, DOWN]));
    assert_eq!(r.runs.len(), 3);
    assert_eq!(r.at(2), DOWN);
}
