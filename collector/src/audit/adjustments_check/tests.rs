use super::*;
use crate::audit::chain::{Entry, HashAlg, link};
use crate::store::adjustments::NewAdjustment;

fn row() -> Adjustment {
    Adjustment {
        id: 1,
        what: NewAdjustment {
            kind: "site".into(),
            code: "s1".into(),
            start_ms: 10,
            end_ms: 20,
            reason: "power cut".into(),
        },
        actor: "operator:li".into(),
        created_ms: 5,
        withdrawn: None,
    }
}

fn record(event: &str, details: &str, actor: &str, at_ms: i64) -> Record {
    let entry = Entry {
        at_ms,
        instance: "c1".into(),
        actor: actor.into(),
        source: "local".into(),
        event: event.into(),
        outcome: "success".into(),
        details: details.into(),
    };
    link(None, entry, HashAlg::Sha256)
}

const MADE: &str = r#"{"scope":"site","code":"s1","start_ms":10,"end_ms":20,"reason":"power cut"}"#;

#[test]
fn a_row_matches_its_record_and_a_changed_one_is_named() {
    let r = record("sla.adjust", MADE, "operator:li", 5);
    assert_eq!(made(&row(), Some(&r)), Ok(()));
    let mut longer = row();
    longer.what.end_ms = 99;
    assert!(
        made(&longer, Some(&r))
            .unwrap_err()
            .contains("its end differs")
    );
    let mut other = row();
    other.what.reason = "agreed".into();
    assert!(
        made(&other, Some(&r))
            .unwrap_err()
            .contains("its reason differs")
    );
    let by_hand = made(&row(), None).unwrap_err();
    assert!(
        by_hand.contains("added to the database by hand"),
        "{by_hand}"
    );
    let wrong = record("cert.revoke", MADE, "operator:li", 5);
    assert!(
        made(&row(), Some(&wrong))
            .unwrap_err()
            .contains("not sla.adjust")
    );
}

#[test]
fn a_withdrawal_matches_its_record() {
    let w = Withdrawal {
        seq: 1,
        actor: "operator:wang".into(),
        at_ms: 7,
        reason: "twice".into(),
    };
    let r = record(
        "sla.withdraw",
        r#"{"adjustment":1,"reason":"twice"}"#,
        "operator:wang",
        7,
    );
    assert_eq!(withdrawn(1, &w, Some(&r)), Ok(()));
    assert!(withdrawn(2, &w, Some(&r)).is_err());
    assert!(
        withdrawn(1, &w, None)
            .unwrap_err()
            .contains("withdrawn by hand")
    );
}

/// Record `seq` of `event` with `details`, at `at_ms`.
fn at(seq: u64, event: &str, details: &str, at_ms: i64) -> Record {
    let mut r = record(event, details, "operator:li", at_ms);
    r.seq = seq;
    r
}

fn rows_after(records: &[Record], rows: &[Adjustment]) -> Result<(), (u64, String)> {
    let mut sla = SlaRecords::default();
    for r in records {
        sla.push(r);
    }
    sla.check_rows(rows).map(|_| ())
}

#[test]
fn rows_and_records_are_checked_both_ways() {
    let records = [
        at(1, "sla.adjust", MADE, 5),
        at(2, "sla.withdraw", r#"{"adjustment":1,"reason":"x"}"#, 6),
        at(3, "sla.adjust", MADE, 7),
    ];
    let mut first = row();
    first.withdrawn = Some(Withdrawal {
        seq: 2,
        actor: "operator:li".into(),
        at_ms: 6,
        reason: "x".into(),
    });
    let mut third = row();
    third.id = 3;
    third.created_ms = 7;
    let whole = [first.clone(), third.clone()];
    assert_eq!(rows_after(&records, &whole), Ok(()));

    let says = |rows: &[Adjustment], id: u64, text: &str| {
        let (got, why) = rows_after(&records, rows).unwrap_err();
        assert_eq!(got, id, "{why}");
        assert!(why.contains(text), "{why:?} should say {text:?}");
    };
    // Deleted, un-withdrawn, added with id 0 or an id no record has.
    says(std::slice::from_ref(&first), 3, "deleted by hand");
    let mut undone = first.clone();
    undone.withdrawn = None;
    says(&[undone, third.clone()], 1, "undone by hand");
    let mut zero = row();
    zero.id = 0;
    says(&[first.clone(), third.clone(), zero], 0, "id 0");
    let mut stray = row();
    stray.id = 2;
    says(
        &[first.clone(), third.clone(), stray],
        2,
        "added to the database by hand",
    );
    // A withdrawal set by hand on the one in force.
    let mut forged = third.clone();
    forged.withdrawn = first.withdrawn.clone().map(|mut w| {
        w.seq = 4;
        w
    });
    says(&[first, forged], 3, "withdrawn by hand");
}

#[test]
fn a_row_older_than_the_kept_chain_must_predate_it() {
    // Retention kept records from 10 on, the oldest made at 1,000.
    let records = [at(10, "month.close", "{}", 1_000)];
    let mut old = row();
    old.id = 4;
    old.created_ms = 500;
    assert_eq!(rows_after(&records, std::slice::from_ref(&old)), Ok(()));
    old.created_ms = 2_000;
    let (id, why) = rows_after(&records, &[old]).unwrap_err();
    assert_eq!(id, 4);
    assert!(why.contains("after the oldest record kept"), "{why}");
}
