//! A test PKI made in-process (rcgen), for the crates' own tests that need certificates
//! without the collector binary: a CA, a collector (server) certificate, agent (client)
//! certificates, and an agent certificate of an unrelated CA.
//!
//! The files are laid out as `zerofault-collector certs` writes them (`ca.pem`,
//! `collector.pem`/`.key`, `agents/ID.pem`/`.key`), like [`TestCa`](crate::TestCa), which
//! the whole-system tests make with the real command.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
    ///
    /// # Panics
    ///
    /// When a key or certificate cannot be made or written (a test set-up failure).
    #[allow(clippy::new_without_default)]
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

    /// The CA certificate.
    ///
    /// # Panics
    ///
    /// When `ca.pem` cannot be read.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.path("ca.pem")).unwrap()
    }

    /// The collector (server) certificate chain.
    ///
    /// # Panics
    ///
    /// When `collector.pem` cannot be read.
    pub fn server_chain(&self) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_file_iter(self.path("collector.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }

    /// The collector (server) key.
    ///
    /// # Panics
    ///
    /// When `collector.key` cannot be read.
    pub fn server_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_file(self.path("collector.key")).unwrap()
    }

    /// A TLS server configuration with the collector certificate, asking clients for a
    /// certificate of this CA when `client_auth` (what the collector's ingest does).
    pub fn server_config(&self, client_auth: bool) -> Arc<rustls::ServerConfig> {
        server_config(
            self.ca_der(),
            self.server_chain(),
            self.server_key(),
            client_auth,
        )
    }

    /// An HTTPS client trusting the test CA, presenting `identity` (e.g. `agents/web-01`)
    /// when given.
    ///
    /// # Panics
    ///
    /// When the files cannot be read or the client cannot be built.
    pub fn client(&self, identity: Option<&str>) -> reqwest::Client {
        let identity = identity.map(|id| {
            (
                self.path(&format!("{id}.pem")),
                self.path(&format!("{id}.key")),
            )
        });
        crate::ca::ingest_client(
            &self.path("ca.pem"),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )
        .unwrap()
    }
}

/// A TLS server configuration (ring provider) presenting `chain` and `key`, asking clients
/// for a certificate issued by `ca` when `client_auth`.
///
/// # Panics
///
/// When rustls refuses the certificates.
pub fn server_config(
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: bool,
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}
