//! Shared fixtures of the ingest tests: a test PKI, collector configs, reports, clients.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zerofault_collector::config::Config;
use zerofault_protocol::{Labels, PROTOCOL_VERSION, Report};

/// Files of a test PKI in a temporary directory.
#[derive(Debug)]
pub struct Pki {
    /// Holds every file; removed on drop.
    pub dir: tempfile::TempDir,
}

fn ca(name: &str) -> (Issuer<'static, KeyPair>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).unwrap();
    (Issuer::new(params, key), cert.pem())
}

fn leaf(issuer: &Issuer<'_, KeyPair>, cn: &str, sans: &[&str], client: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![if client {
        ExtendedKeyUsagePurpose::ClientAuth
    } else {
        ExtendedKeyUsagePurpose::ServerAuth
    }];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

impl Pki {
    /// A CA with a collector certificate for `localhost`/`127.0.0.1`, agent certificates
    /// `web-01` and `web-02`, and `rogue/web-01` signed by an unrelated CA.
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let (issuer, ca_pem) = ca("zerofault test CA");
        std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
        let write = |name: &str, (cert, key): (String, String)| {
            let base = dir.path().join(name);
            std::fs::create_dir_all(base.parent().unwrap()).unwrap();
            std::fs::write(base.with_extension("pem"), cert).unwrap();
            std::fs::write(base.with_extension("key"), key).unwrap();
        };
        write(
            "collector",
            leaf(&issuer, "collector", &["localhost", "127.0.0.1"], false),
        );
        for agent in ["web-01", "web-02"] {
            write(&format!("agents/{agent}"), leaf(&issuer, agent, &[], true));
        }
        let (rogue, _) = ca("another CA");
        write("rogue/web-01", leaf(&rogue, "web-01", &[], true));
        Pki { dir }
    }

    /// Path of a file in the PKI directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// An HTTPS client trusting the test CA, presenting `identity` (e.g. `agents/web-01`)
    /// when given.
    pub fn client(&self, identity: Option<&str>) -> reqwest::Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.path("ca.pem")).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let tls = match identity {
            Some(id) => {
                let chain = CertificateDer::pem_file_iter(self.path(&format!("{id}.pem")))
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key = PrivateKeyDer::from_pem_file(self.path(&format!("{id}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap()
    }
}

/// Writes a collector config into `dir` pointing at `pki`, listening on ephemeral
/// loopback ports, and loads it through the real loader and validator.
pub fn config(dir: &Path, pki: &Pki, max_body_bytes: u64) -> Config {
    let yaml = format!(
        "listen:\n  ingest: 127.0.0.1:0\n  http: 127.0.0.1:0\n\
         tls:\n  ca: {ca}\n  cert: {cert}\n  key: {key}\n\
         storage:\n  sqlite:\n    path: data/zerofault.db\n\
         limits:\n  max_body_bytes: {max_body_bytes}\n  max_decompressed_bytes: 1048576\n",
        ca = pki.path("ca.pem").display(),
        cert = pki.path("collector.pem").display(),
        key = pki.path("collector.key").display(),
    );
    let path = dir.join("collector.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = Config::load(&path).unwrap();
    config.validate().unwrap();
    config
}

/// A valid report of `agent`.
pub fn report(agent: &str, sequence: u64) -> Report {
    Report {
        protocol_version: PROTOCOL_VERSION,
        agent_id: agent.into(),
        hostname: format!("{agent}.example"),
        boot_id: "6f1c1f0e-6a8e-4c57-9d1e-0c4a3a0c2b11".into(),
        boot_time_unix_seconds: 1_700_000_000,
        sequence,
        timestamp_unix_ms: 1_700_000_100_000 + sequence as i64 * 15_000,
        interval_ms: 15_000,
        labels: Some(Labels {
            department: "fgw".into(),
            business_system: "oa".into(),
            datacenter: "dc-north".into(),
            site: "city-gz".into(),
        }),
        agent_version: "0.1.0".into(),
        ..Default::default()
    }
}

/// A body far below the size cap that decompresses to about 2 MiB: one very long string.
pub fn zstd_bomb(agent: &str) -> Vec<u8> {
    let mut r = report(agent, 1);
    r.hostname = "a".repeat(2 << 20);
    let body = zerofault_protocol::encode_report(&r);
    assert!(body.len() < 4096, "bomb body is {} bytes", body.len());
    body
}
