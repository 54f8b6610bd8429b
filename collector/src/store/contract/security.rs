//! The contract of the security tables (`store::security`): one audit chain whoever appends,
//! retention that leaves a verifiable start, revocations, and tokens spent once. Run by
//! [`super::contract_tests!`] like the rest.

use super::kit::Backend;
use crate::audit::chain::{Entry, HashAlg, Record, RetentionDetails, Verifier};
use crate::store::security::{EnrollmentToken, Redeemed, Revocation, RevocationChange};

fn entry(at_ms: i64, event: &str) -> Entry {
    Entry {
        at_ms,
        instance: "c1".into(),
        actor: "operator:root".into(),
        source: "local".into(),
        event: event.into(),
        outcome: "success".into(),
        details: format!(r#"{{"at":{at_ms}}}"#),
    }
}

fn verify(records: &[Record]) -> Result<u64, crate::audit::chain::Break> {
    let mut v = Verifier::default();
    let mut no_seal = |_: &Record, _: Option<&str>| Err("no seal here".to_owned());
    for r in records {
        v.push(r, &mut no_seal)?;
    }
    Ok(v.finish()?.records)
}

/// Appends from many tasks at once (several collectors) make one chain; pages read it in
/// order; retention deletes the oldest and says where the chain now starts.
pub async fn audit_appends_form_one_chain_and_retention_keeps_it_verifiable(backend: &dyn Backend) {
    let store = backend.open().await;
    assert_eq!(store.audit_head().await.unwrap(), None);
    let first = store
        .append_audit(vec![entry(1_000, "a"), entry(1_001, "b")], HashAlg::Sha256)
        .await
        .unwrap();
    assert_eq!(first.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2]);
    let mut tasks = Vec::new();
    for t in 0..4i64 {
        let store = backend.open().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let alg = if t % 2 == 0 {
                    HashAlg::Sha256
                } else {
                    HashAlg::Sm3
                };
                store
                    .append_audit(vec![entry(2_000 + t * 100 + i, "c")], alg)
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = store.audit_page(0, 1_000).await.unwrap();
    assert_eq!(all.len(), 42);
    assert_eq!(verify(&all), Ok(42));
    assert_eq!(store.audit_head().await.unwrap().unwrap().seq, 42);
    let page = store.audit_page(40, 1_000).await.unwrap();
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [41, 42]);

    // Nothing older than the cut-off: nothing deleted, nothing appended.
    let note = entry(9_000, crate::audit::chain::RETENTION_EVENT);
    assert_eq!(
        store
            .retire_audit(500, 100, note.clone(), HashAlg::Sha256)
            .await
            .unwrap(),
        None
    );
    // The two oldest go; a batch of one takes one at a time.
    let r = store
        .retire_audit(1_500, 1, note.clone(), HashAlg::Sha256)
        .await
        .unwrap()
        .unwrap();
    let d: RetentionDetails = serde_json::from_str(&r.entry.details).unwrap();
    assert_eq!((d.deleted, d.through_seq, r.seq), (1, 1, 43));
    store
        .retire_audit(1_500, 100, note, HashAlg::Sha256)
        .await
        .unwrap()
        .unwrap();
    let kept = store.audit_page(0, 1_000).await.unwrap();
    assert_eq!(kept.first().map(|r| r.seq), Some(3));
    assert_eq!(verify(&kept), Ok(42));
}

/// Revocations are listed, set once and lifted; a token is spent once, for its agent, before
/// its expiry, and what is wrong with a refused one is told.
pub async fn revocations_and_tokens_are_shared_and_spent_once(backend: &dyn Backend) {
    let store = backend.open().await;
    let revoked = Revocation {
        agent_id: "web-01".into(),
        revoked_ms: 5,
        actor: "operator:root".into(),
        reason: "stolen".into(),
        reinstated_ms: None,
    };
    let set = |change: RevocationChange| {
        let store = store.clone();
        async move { store.set_revocation("web-01".into(), change).await.unwrap() }
    };
    assert!(set(RevocationChange::Revoke(revoked.clone())).await);
    assert!(!set(RevocationChange::Revoke(revoked.clone())).await);
    assert_eq!(
        backend.open().await.revocations().await.unwrap(),
        std::slice::from_ref(&revoked)
    );
    // Reinstated once, with its time; the row stays (old certificates stay out).
    assert!(set(RevocationChange::Reinstate { at_ms: 9 }).await);
    assert!(!set(RevocationChange::Reinstate { at_ms: 10 }).await);
    let reinstated = Revocation {
        reinstated_ms: Some(9),
        ..revoked.clone()
    };
    assert_eq!(store.revocations().await.unwrap(), [reinstated]);
    // Revoked again: the new revocation replaces it.
    let again = Revocation {
        revoked_ms: 20,
        reason: "again".into(),
        ..revoked
    };
    assert!(set(RevocationChange::Revoke(again.clone())).await);
    assert_eq!(store.revocations().await.unwrap(), [again]);

    let token = |hash: &str, agent: &str, expires_ms| EnrollmentToken {
        token_hash: hash.into(),
        agent_id: agent.into(),
        created_ms: 0,
        expires_ms,
    };
    store
        .add_tokens(vec![
            token("h1", "web-01", 1_000),
            token("h2", "web-02", 10),
        ])
        .await
        .unwrap();
    let redeem = |h: &str, agent: &str, now| {
        let store = store.clone();
        let (h, agent) = (h.to_owned(), agent.to_owned());
        async move {
            store
                .redeem_token(h, agent, now, "10.0.0.9".into())
                .await
                .unwrap()
        }
    };
    assert_eq!(redeem("nope", "web-01", 5).await, Redeemed::Unknown);
    assert_eq!(redeem("h1", "web-02", 5).await, Redeemed::OtherAgent);
    assert_eq!(
        redeem("h2", "web-02", 10).await,
        Redeemed::Expired { expires_ms: 10 }
    );
    // Two collectors redeeming the same token at once: one wins.
    let (a, b) = tokio::join!(redeem("h1", "web-01", 5), redeem("h1", "web-01", 6));
    assert!(
        matches!(
            (&a, &b),
            (Redeemed::Accepted, Redeemed::Used { .. })
                | (Redeemed::Used { .. }, Redeemed::Accepted)
        ),
        "{a:?} {b:?}"
    );
    assert!(matches!(
        redeem("h1", "web-01", 7).await,
        Redeemed::Used { by, .. } if by == "10.0.0.9"
    ));
}

/// An adjustment is stored with its audit record (its id the record's seq), read back by
/// the period it overlaps, and withdrawn once, the withdrawal a record too.
pub async fn an_adjustment_is_its_audit_record_and_is_withdrawn_once(backend: &dyn Backend) {
    use crate::store::adjustments::NewAdjustment;
    let store = backend.open().await;
    store
        .append_audit(vec![entry(1_000, "before")], HashAlg::Sha256)
        .await
        .unwrap();
    let what = NewAdjustment {
        kind: "site".into(),
        code: "s1".into(),
        start_ms: 10_000,
        end_ms: 20_000,
        reason: "power cut, force majeure".into(),
    };
    let (made, record) = store
        .add_adjustment(what.clone(), entry(2_000, "sla.adjust"), HashAlg::Sha256)
        .await
        .unwrap();
    assert_eq!((made.id, record.seq), (2, 2));
    assert_eq!(
        (made.actor.as_str(), made.created_ms),
        ("operator:root", 2_000)
    );
    // Another collector appends after it, to the same chain.
    let other = backend.open().await;
    other
        .append_audit(vec![entry(3_000, "after")], HashAlg::Sha256)
        .await
        .unwrap();
    // Overlap is half-open on both sides.
    assert!(store.adjustments(0, 10_000).await.unwrap().is_empty());
    assert!(store.adjustments(20_000, 30_000).await.unwrap().is_empty());
    assert_eq!(
        store.adjustments(19_999, 30_000).await.unwrap(),
        std::slice::from_ref(&made)
    );
    let (withdrawn, w_record) = store
        .withdraw_adjustment(
            2,
            "entered twice".into(),
            entry(4_000, "sla.withdraw"),
            HashAlg::Sha256,
        )
        .await
        .unwrap()
        .expect("withdrawn");
    assert_eq!(w_record.seq, 4);
    let w = withdrawn.withdrawn.clone().expect("marked");
    assert_eq!(
        (w.seq, w.at_ms, w.reason.as_str()),
        (4, 4_000, "entered twice")
    );
    assert_eq!(withdrawn.what, what);
    // Once only, and an unknown id is not an error: nothing is written for either.
    for id in [2, 99] {
        let again = other
            .withdraw_adjustment(
                id,
                "again".into(),
                entry(5_000, "sla.withdraw"),
                HashAlg::Sha256,
            )
            .await
            .unwrap();
        assert_eq!(again, None);
    }
    assert_eq!(store.audit_head().await.unwrap().unwrap().seq, 4);
    assert_eq!(other.adjustments(0, i64::MAX).await.unwrap(), [withdrawn]);
    assert_eq!(verify(&store.audit_page(0, 100).await.unwrap()), Ok(4));
}
