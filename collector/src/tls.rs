//! TLS of the ingest listener: a rustls server config that asks agents for a client
//! certificate, and the agent identity (subject common name) of a verified peer.
//!
//! The client certificate is *optional* at the TLS layer on purpose: a client that presents
//! none completes the handshake and gets a readable HTTP 401, which is far easier to debug
//! than a handshake alert. A certificate that does not chain to `tls.ca` still fails the
//! handshake, so an unverified identity never reaches the HTTP layer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config;

/// Why the TLS configuration could not be built. Each variant names the config key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// Config key of the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key, or is not PEM.
    #[error("{} holds no {what}: {detail}", path.display())]
    Pem {
        /// Config key of the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What was expected, e.g. "PEM certificate".
        what: &'static str,
        /// Parser detail.
        detail: String,
    },
    /// The CA file parsed but a certificate in it is not a usable trust anchor.
    #[error("{}: not a usable CA certificate: {source}", path.display())]
    Ca {
        /// The file.
        path: PathBuf,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
    /// The client verifier could not be built from the CA.
    #[error("cannot build the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    /// The certificate and key do not make a valid server identity (e.g. they do not match).
    #[error("{} and {} do not match or are unusable: {source}", cert.display(), key_path.display())]
    Identity {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key_path: PathBuf,
        /// rustls' reason.
        #[source]
        source: rustls::Error,
    },
}

impl TlsError {
    /// The config key to fix.
    pub fn key(&self) -> &'static str {
        match self {
            TlsError::Read { key, .. } | TlsError::Pem { key, .. } => key,
            TlsError::Ca { .. } | TlsError::Verifier(_) => "tls.ca",
            TlsError::Identity { .. } => "tls.key",
        }
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate of a PEM file; at least one is required.
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(key, path)?;
    let pem_err = |detail: String| TlsError::Pem {
        key,
        path: path.to_owned(),
        what: "PEM certificate",
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_err("no CERTIFICATE block found".into()));
    }
    Ok(certs)
}

/// Reads the private key of a PEM file.
pub fn load_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Pem {
        key,
        path: path.to_owned(),
        what: "PEM private key",
        detail: e.to_string(),
    })
}

/// The crypto provider of every TLS object in the collector. ring only: aws-lc-rs needs a
/// C toolchain and cmake that the offline build hosts of our users do not have.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the ingest listener's server config from the `tls.*` files.
pub fn server_config(tls: &config::Tls) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let mut roots = RootCertStore::empty();
    for ca in load_certs("tls.ca", &tls.ca)? {
        roots.add(ca).map_err(|source| TlsError::Ca {
            path: tls.ca.clone(),
            source,
        })?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let chain = load_certs("tls.cert", &tls.cert)?;
    let key = load_key("tls.key", &tls.key)?;
    let identity_err = |source| TlsError::Identity {
        cert: tls.cert.clone(),
        key_path: tls.key.clone(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(identity_err)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(identity_err)?;
    // Only HTTP/1.1 is served; advertising it lets clients that send ALPN agree on it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The subject common name of a DER certificate, `None` when it has none or the
/// certificate does not parse.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    zerofault_common::certificate_common_name(cert.as_ref())
}

/// The agent identity of a connection: the common name of the client's leaf certificate.
/// rustls only exposes peer certificates after its verifier accepted them, so this is a
/// verified identity.
pub fn peer_common_name(conn: &rustls::ServerConnection) -> Option<String> {
    conn.peer_certificates()?.first().and_then(common_name)
}
