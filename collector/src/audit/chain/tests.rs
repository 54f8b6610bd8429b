use super::*;

fn entry(i: i64, event: &str) -> Entry {
    Entry {
        at_ms: 1_767_225_600_000 + i,
        instance: "c1".into(),
        actor: "operator:root".into(),
        source: "local".into(),
        event: event.into(),
        outcome: "success".into(),
        details: format!(r#"{{"n":{i}}}"#),
    }
}

fn chain(n: usize, alg: HashAlg) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for i in 0..n {
        let head = out.last().map(|r| (r.seq, r.hash.as_str()));
        out.push(link(head, entry(i as i64, "cert.revoke"), alg));
    }
    out
}

fn no_seals(_: &Record, _: Option<&str>) -> Result<u64, String> {
    Err("no seal expected".into())
}

fn verify(records: &[Record]) -> Result<Verified, Break> {
    verify_with(records, Vec::new())
}

fn verify_with(records: &[Record], anchors: Vec<(u64, String)>) -> Result<Verified, Break> {
    let mut v = Verifier::with_anchors(anchors);
    for r in records {
        v.push(r, &mut no_seals)?;
    }
    v.finish()
}

#[test]
fn an_untouched_chain_verifies_with_either_hash() {
    for alg in [HashAlg::Sha256, HashAlg::Sm3] {
        let c = chain(5, alg);
        assert_eq!(c[0].prev, GENESIS);
        assert_eq!(c[0].hash.len(), 64);
        let v = verify(&c).unwrap();
        assert_eq!((v.records, v.first_seq), (5, 1));
        assert_eq!(v.head, Some((5, c[4].hash.clone())));
    }
    // The two hashes differ, and SM3 is the standard's: GB/T 32905 example 1 ("abc").
    assert_ne!(
        chain(1, HashAlg::Sha256)[0].hash,
        chain(1, HashAlg::Sm3)[0].hash
    );
    assert_eq!(
        HashAlg::Sm3.digest_hex(b"abc"),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    assert_eq!(verify(&[]).unwrap(), Verified::default());
}

#[test]
fn an_altered_record_is_named() {
    let mut c = chain(5, HashAlg::Sha256);
    c[2].entry.details = r#"{"n":99}"#.into();
    assert_eq!(verify(&c), Err(Break::Altered { seq: 3 }));
    // Recomputing its hash moves the break to the next record.
    c[2].hash = hash(c[2].alg, 3, &c[2].prev.clone(), &c[2].entry);
    assert_eq!(verify(&c), Err(Break::Unlinked { seq: 4, after: 3 }));
    // Every field counts, the hash function's name too.
    let mut c = chain(2, HashAlg::Sha256);
    c[1].alg = HashAlg::Sm3;
    assert_eq!(verify(&c), Err(Break::Altered { seq: 2 }));
}

#[test]
fn a_deleted_or_moved_record_is_named() {
    let c = chain(5, HashAlg::Sha256);
    let mut deleted = c.clone();
    deleted.remove(2);
    assert_eq!(verify(&deleted), Err(Break::Missing { from: 3, to: 3 }));
    let mut swapped = c.clone();
    swapped.swap(1, 2);
    assert_eq!(verify(&swapped), Err(Break::Reordered { seq: 2, after: 3 }));
    let mut moved_last = c.clone();
    let last = moved_last.pop().unwrap();
    moved_last.insert(1, last);
    assert_eq!(
        verify(&moved_last),
        Err(Break::Reordered { seq: 2, after: 5 })
    );
    // Renumbered to hide the gap: the hashes (which cover seq) break.
    let mut renumbered = deleted.clone();
    for r in renumbered.iter_mut().skip(2) {
        r.seq -= 1;
    }
    assert_eq!(verify(&renumbered), Err(Break::Altered { seq: 3 }));
    // The oldest records gone, without a retention record.
    assert_eq!(verify(&c[2..]), Err(Break::BadStart { seq: 3 }));
}

#[test]
fn retention_explains_a_later_start_and_only_that_one() {
    let mut c = chain(4, HashAlg::Sha256);
    let details = RetentionDetails {
        deleted: 2,
        through_seq: 2,
        through_hash: c[1].hash.clone(),
        before_ms: 0,
    };
    let mut note = entry(9, RETENTION_EVENT);
    note.details = details.to_json();
    let head = c.last().map(|r| (r.seq, r.hash.clone())).unwrap();
    c.push(link(Some((head.0, &head.1)), note, HashAlg::Sha256));
    assert_eq!(verify(&c[2..]).unwrap().first_seq, 3);
    // One more deleted than the record says.
    assert_eq!(verify(&c[3..]), Err(Break::BadStart { seq: 4 }));
}

#[test]
fn anchors_catch_the_newest_records_deleted() {
    let c = chain(5, HashAlg::Sha256);
    let anchor = vec![(5, c[4].hash.clone())];
    assert_eq!(verify_with(&c, anchor.clone()).unwrap().anchors, 1);
    assert!(matches!(
        verify_with(&c[..4], anchor),
        Err(Break::Anchor { seq: 5, .. })
    ));
    assert!(matches!(
        verify_with(&c, vec![(3, "f".repeat(64))]),
        Err(Break::Anchor { seq: 3, .. })
    ));
}

#[test]
fn a_seal_naming_no_record_is_checked_not_skipped() {
    let mut c = chain(2, HashAlg::Sha256);
    let head = (c[1].seq, c[1].hash.clone());
    let mut forged = entry(5, SEAL_EVENT);
    forged.details = r#"{"through_seq":0}"#.into();
    c.push(link(Some((head.0, &head.1)), forged, HashAlg::Sha256));
    assert!(matches!(verify(&c), Err(Break::Seal { seq: 3, .. })));
}
