use super::*;
use crate::store::adjustments::{NewAdjustment, Withdrawal};

const MIN: i64 = 60_000;

fn adj(id: u64, kind: &str, start_ms: i64, end_ms: i64, created_ms: i64) -> Adjustment {
    Adjustment {
        id,
        what: NewAdjustment {
            kind: kind.into(),
            code: "x".into(),
            start_ms,
            end_ms,
            reason: "power cut".into(),
        },
        actor: "operator:li".into(),
        created_ms,
        withdrawn: None,
    }
}

#[test]
fn only_adjustments_in_force_exclude_and_are_clipped() {
    let mut withdrawn = adj(2, "site", 0, 10 * MIN, 1);
    withdrawn.withdrawn = Some(Withdrawal {
        seq: 3,
        actor: "operator:wang".into(),
        at_ms: 2,
        reason: "entered twice".into(),
    });
    let all = [
        adj(1, "host", -5 * MIN, 5 * MIN, 1),
        withdrawn,
        adj(4, "nonsense", 0, MIN, 1),
        adj(5, "link", 20 * MIN, 30 * MIN, 1),
    ];
    let ex = exclusions(&all, 0, 60 * MIN);
    let got: Vec<_> = ex
        .iter()
        .map(|m| (m.scope.kind(), m.start_unix_ms, m.end_unix_ms))
        .collect();
    assert_eq!(got, [("host", 0, 5 * MIN), ("link", 20 * MIN, 30 * MIN)]);
    assert_eq!(ex[0].note, "power cut");
}

#[test]
fn rows_count_the_months_minutes_and_mark_late_ones() {
    let month = (0, 100 * MIN);
    let mut withdrawn = adj(3, "department", 10 * MIN, 20 * MIN, 50);
    withdrawn.withdrawn = Some(Withdrawal {
        seq: 9,
        actor: "operator:wang".into(),
        at_ms: 60,
        reason: "not agreed".into(),
    });
    let all = [
        adj(7, "host", 90 * MIN, 130 * MIN, 200),
        withdrawn,
        adj(1, "site", -30 * MIN, 15 * MIN, 10),
        adj(8, "host", 100 * MIN, 110 * MIN, 10),
    ];
    let mut rows = rows(&all, month.0, month.1);
    mark_late(&mut rows, 100);
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.id, r.minutes, r.late, r.withdrawn.is_some()))
        .collect();
    // By id; the one after the month is not a row; minutes inside the month only; a
    // withdrawn one counts none; made after closing (200 > 100) is late.
    assert_eq!(
        got,
        [
            (1, 15.0, false, false),
            (3, 0.0, false, true),
            (7, 10.0, true, false)
        ]
    );
}
