use super::*;
use crate::audit::chain::{Entry, HashAlg, link};

#[test]
fn only_a_collector_certificate_of_the_ca_seals() {
    let dir = tempfile::tempdir().unwrap();
    let ca = crate::cmd::certs::ensure_ca(dir.path()).unwrap();
    let opts = crate::cmd::certs::IssueOptions::default();
    ca.issue_collector(&["127.0.0.1".to_owned()], &opts)
        .unwrap();
    ca.issue_agent("web-01", &opts).unwrap();
    let layout = ca.layout();
    let cas = zerofault_common::pem::load_certs("tls.ca", &layout.ca_cert()).unwrap();
    let now = 1_800_000_000_000_i64.min(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let sealed = |sealer: &Sealer| {
        let d = sealer.seal(1, &"a".repeat(64)).unwrap();
        let head = link(
            None,
            Entry {
                at_ms: now - 1000,
                instance: "c1".into(),
                actor: "x".into(),
                source: "local".into(),
                event: "e".into(),
                outcome: "success".into(),
                details: "{}".into(),
            },
            HashAlg::Sha256,
        );
        let seal = Entry {
            at_ms: now,
            instance: "c1".into(),
            actor: "collector".into(),
            source: "local".into(),
            event: SEAL_EVENT.into(),
            outcome: "success".into(),
            details: serde_json::to_string(&d).unwrap(),
        };
        link(Some((head.seq, &head.hash)), seal, HashAlg::Sha256)
    };
    let collector = Sealer::load(&layout.collector_cert(), &layout.collector_key()).unwrap();
    let r = sealed(&collector);
    assert_eq!(check(&r, Some(&"a".repeat(64)), &cas), Ok(1));
    assert!(check(&r, Some(&"b".repeat(64)), &cas).is_err());
    let agent = Sealer::load(&layout.agent_cert("web-01"), &layout.agent_key("web-01")).unwrap();
    let e = check(&sealed(&agent), Some(&"a".repeat(64)), &cas).unwrap_err();
    assert!(e.contains("not a collector's certificate"), "{e}");
    // Another CA's collector: refused.
    let other = tempfile::tempdir().unwrap();
    let other_ca = crate::cmd::certs::ensure_ca(other.path()).unwrap();
    other_ca
        .issue_collector(&["127.0.0.1".to_owned()], &opts)
        .unwrap();
    let foreign = Sealer::load(
        &other_ca.layout().collector_cert(),
        &other_ca.layout().collector_key(),
    )
    .unwrap();
    let e = check(&sealed(&foreign), Some(&"a".repeat(64)), &cas).unwrap_err();
    assert!(e.contains("not issued by the configured CA"), "{e}");
}
