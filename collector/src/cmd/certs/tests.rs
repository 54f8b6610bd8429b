use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::extensions::GeneralName;

use super::*;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn cert_der(p: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(p).unwrap()
}

fn roots(ca: &Path) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(cert_der(ca)).unwrap();
    Arc::new(roots)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn verify_client(ca: &Path, cert: &Path) -> Result<(), rustls::Error> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap();
    verifier
        .verify_client_cert(&cert_der(cert), &[], UnixTime::now())
        .map(|_| ())
}

fn verify_server(ca: &Path, cert: &Path, name: &str) -> Result<(), rustls::Error> {
    let verifier = WebPkiServerVerifier::builder_with_provider(roots(ca), provider())
        .build()
        .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(&cert_der(cert), &[], &name, &[], UnixTime::now())
        .map(|_| ())
}

fn args(dir: &Path, agents: &[&str]) -> CertsArgs {
    CertsArgs {
        action: None,
        config: None,
        dir: Some(dir.to_owned()),
        agents: agents.iter().map(|s| s.to_string()).collect(),
        collector_names: Vec::new(),
        days: DEFAULT_LEAF_DAYS,
        force: false,
    }
}

#[test]
fn run_writes_the_documented_layout_with_private_keys_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    run(&args(&dir, &["web-01", "db-01"])).unwrap();
    let l = Layout::new(&dir);
    for key in [
        l.ca_key(),
        l.collector_key(),
        l.agent_key("web-01"),
        l.agent_key("db-01"),
    ] {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
        assert!(fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));
    }
    for cert in [
        l.ca_cert(),
        l.collector_cert(),
        l.agent_cert("web-01"),
        l.agent_cert("db-01"),
    ] {
        assert_eq!(mode(&cert) & 0o022, 0, "{}", cert.display());
        assert!(
            fs::read_to_string(&cert)
                .unwrap()
                .contains("BEGIN CERTIFICATE")
        );
    }
    // No temporary files are left behind.
    for d in [dir.clone(), dir.join("agents")] {
        for e in fs::read_dir(d).unwrap() {
            let name = e.unwrap().file_name();
            assert!(!name.to_string_lossy().starts_with('.'), "{name:?}");
        }
    }
}

#[test]
fn agent_certificate_has_cn_id_client_auth_and_chains_to_the_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let issued = issue_agent(tmp.path(), "web-01.fgw").unwrap();
    assert_eq!(issued.outcome, Outcome::Written);
    let der = cert_der(&issued.cert);
    let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
    let cn: Vec<_> = x509
        .subject()
        .iter_common_name()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(cn, ["web-01.fgw"]);
    let eku = x509.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(!x509.is_ca());

    let ca = Layout::new(tmp.path()).ca_cert();
    verify_client(&ca, &issued.cert).unwrap();
    // A client certificate is no server certificate.
    assert!(verify_server(&ca, &issued.cert, "localhost").is_err());
}

#[test]
fn collector_certificate_has_the_names_and_server_auth() {
    let tmp = tempfile::tempdir().unwrap();
    let names: Vec<String> = ["collector.example.gov", "127.0.0.1", "::1", "10.1.2.3"]
        .map(String::from)
        .to_vec();
    let issued = issue_collector(tmp.path(), &names).unwrap();
    let der = cert_der(&issued.cert);
    let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
    let san = x509.subject_alternative_name().unwrap().unwrap().value;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for n in &san.general_names {
        match n {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => ips.push(match b.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()),
                _ => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()),
            }),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    assert_eq!(dns, ["collector.example.gov"]);
    let want: Vec<IpAddr> = ["127.0.0.1", "::1", "10.1.2.3"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(ips, want);
    let eku = x509.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);

    let ca = Layout::new(tmp.path()).ca_cert();
    for name in ["collector.example.gov", "127.0.0.1", "::1", "10.1.2.3"] {
        verify_server(&ca, &issued.cert, name).unwrap();
    }
    assert!(verify_server(&ca, &issued.cert, "other.example.gov").is_err());
}

#[test]
fn default_collector_names_cover_loopback() {
    let names = default_collector_names();
    assert_eq!(names[..3], ["localhost", "127.0.0.1", "::1"]);
    let tmp = tempfile::tempdir().unwrap();
    run(&args(tmp.path(), &[])).unwrap();
    let cert = Layout::new(tmp.path()).collector_cert();
    let ca = Layout::new(tmp.path()).ca_cert();
    for name in &names {
        verify_server(&ca, &cert, name).unwrap();
    }
}

#[test]
fn the_ca_is_reused_and_later_agents_chain_to_it() {
    let tmp = tempfile::tempdir().unwrap();
    run(&args(tmp.path(), &["a1"])).unwrap();
    let l = Layout::new(tmp.path());
    let ca_before = fs::read(l.ca_cert()).unwrap();
    let ca = ensure_ca(tmp.path()).unwrap();
    assert_eq!(ca.outcome, Outcome::Kept);
    run(&args(tmp.path(), &["a2"])).unwrap();
    assert_eq!(fs::read(l.ca_cert()).unwrap(), ca_before);
    verify_client(&l.ca_cert(), &l.agent_cert("a1")).unwrap();
    verify_client(&l.ca_cert(), &l.agent_cert("a2")).unwrap();
    verify_server(&l.ca_cert(), &l.collector_cert(), "localhost").unwrap();
}

#[test]
fn existing_pairs_are_kept_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ensure_ca(tmp.path()).unwrap();
    let first = ca.issue_agent("a1", &IssueOptions::default()).unwrap();
    let key_before = fs::read(&first.key).unwrap();
    let again = ca.issue_agent("a1", &IssueOptions::default()).unwrap();
    assert_eq!(again.outcome, Outcome::Kept);
    assert_eq!(fs::read(&first.key).unwrap(), key_before);

    let forced = IssueOptions {
        force: true,
        ..Default::default()
    };
    let replaced = ca.issue_agent("a1", &forced).unwrap();
    assert_eq!(replaced.outcome, Outcome::Written);
    assert_ne!(fs::read(&first.key).unwrap(), key_before);
    assert_eq!(mode(&first.key), 0o600);
    verify_client(&ca.layout().ca_cert(), &first.cert).unwrap();
}

#[test]
fn half_a_pair_is_an_error_not_a_silent_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = ensure_ca(tmp.path()).unwrap();
    let issued = ca.issue_agent("a1", &IssueOptions::default()).unwrap();
    fs::remove_file(&issued.cert).unwrap();
    let err = ca.issue_agent("a1", &IssueOptions::default()).unwrap_err();
    assert!(matches!(err, CertsError::IncompletePair { .. }), "{err}");

    fs::remove_file(ca.layout().ca_cert()).unwrap();
    let err = ensure_ca(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("ca.key exists"), "{err}");
}

#[test]
fn a_ca_key_that_does_not_match_is_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    ensure_ca(a.path()).unwrap();
    ensure_ca(b.path()).unwrap();
    fs::copy(a.path().join("ca.key"), b.path().join("ca.key")).unwrap();
    let err = ensure_ca(b.path()).unwrap_err();
    assert!(err.to_string().contains("is not the key of"), "{err}");
}

#[test]
fn a_certificate_from_another_ca_does_not_verify() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let issued = issue_agent(a.path(), "x").unwrap();
    ensure_ca(b.path()).unwrap();
    assert!(verify_client(&b.path().join("ca.pem"), &issued.cert).is_err());
}

#[test]
fn invalid_names_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["", "a b", "../x", "x/y", &"a".repeat(129)] {
        let err = issue_agent(tmp.path(), bad).unwrap_err();
        assert!(
            matches!(err, CertsError::InvalidAgentId(_)),
            "{bad:?}: {err}"
        );
    }
    for bad in ["", "a b", "-x.example", "x..y", "host_name"] {
        assert!(parse_collector_name(bad).is_err(), "{bad:?}");
    }
    for good in ["collector", "*.example.gov", "10.0.0.1", "fe80::1", "a-b.c"] {
        parse_collector_name(good).unwrap();
    }
}

#[test]
fn force_with_only_agents_keeps_the_collector_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let args = |agents: &[&str], names: &[&str], force: bool| CertsArgs {
        action: None,
        config: None,
        dir: Some(dir.path().to_owned()),
        agents: agents.iter().map(|s| s.to_string()).collect(),
        collector_names: names.iter().map(|s| s.to_string()).collect(),
        days: DEFAULT_LEAF_DAYS,
        force,
    };
    run(&args(&[], &["collector.example.gov"], false)).unwrap();
    let collector_pem = dir.path().join("collector.pem");
    let before = fs::read(&collector_pem).unwrap();
    let agent_pem = dir.path().join("agents/a1.pem");
    run(&args(&["a1"], &[], false)).unwrap();
    let agent_before = fs::read(&agent_pem).unwrap();
    run(&args(&["a1"], &[], true)).unwrap();
    assert_eq!(
        fs::read(&collector_pem).unwrap(),
        before,
        "collector cert replaced"
    );
    assert_ne!(
        fs::read(&agent_pem).unwrap(),
        agent_before,
        "agent cert not replaced"
    );
    run(&args(&[], &["other.example.gov"], true)).unwrap();
    assert_ne!(
        fs::read(&collector_pem).unwrap(),
        before,
        "named collector not replaced"
    );
}
