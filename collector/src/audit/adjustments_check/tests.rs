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
