//! The agent's TLS client configuration: only the configured CA is trusted (no system
//! roots: these are closed networks with their own PKI) and the agent always presents its
//! client certificate. The crypto provider is `ring`, passed explicitly so that no
//! process-wide default (and no aws-lc-rs) is ever needed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsPaths;

/// A TLS file that cannot be used. Each variant names the config key and the path, so the
/// message tells the operator which file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// Config key, e.g. `tls.ca`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid PEM.
    #[error("{} is not valid PEM: {reason}", path.display())]
    Pem {
        /// Config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What the PEM parser said.
        reason: String,
    },
    /// The file holds no item of the expected kind.
    #[error("{} contains no {what}; expected a PEM file with a '-----BEGIN {what}-----' block", path.display())]
    Missing {
        /// Config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What was expected, e.g. `CERTIFICATE`.
        what: &'static str,
    },
    /// rustls refused the item (bad certificate encoding, key that does not match the
    /// certificate, unsupported key type).
    #[error("{} was refused: {source}", path.display())]
    Refused {
        /// Config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The rustls error.
        source: rustls::Error,
    },
}

impl TlsError {
    /// The config key this error is about.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Read { key, .. }
            | Self::Pem { key, .. }
            | Self::Missing { key, .. }
            | Self::Refused { key, .. } => key,
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

fn pem_err(key: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        key,
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Reads every certificate of a PEM file; at least one is required.
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(key, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Missing {
            key,
            path: path.to_owned(),
            what: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub fn load_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Missing {
            key,
            path: path.to_owned(),
            what: "PRIVATE KEY",
        },
        e => pem_err(key, path, e),
    })
}

/// Builds the client configuration: roots = the configured CA only, client auth = the
/// configured certificate chain and key, crypto = ring.
pub fn client_config(paths: &TlsPaths) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("tls.ca", &paths.ca)? {
        roots.add(cert).map_err(|source| TlsError::Refused {
            key: "tls.ca",
            path: paths.ca.clone(),
            source,
        })?;
    }
    let chain = load_certs("tls.cert", &paths.cert)?;
    let key = load_key("tls.key", &paths.key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Refused {
            key: "tls.cert",
            path: paths.cert.clone(),
            source,
        })?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        // rustls checks that the key is usable and matches the leaf certificate; a mismatch
        // is the key file's fault in the usual mistake (copying another agent's key).
        .map_err(|source| TlsError::Refused {
            key: "tls.key",
            path: paths.key.clone(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("ca.pem");
        std::fs::write(&not_pem, "hello\n").unwrap();
        let paths = TlsPaths {
            ca: not_pem.clone(),
            cert: dir.path().join("missing.pem"),
            key: dir.path().join("missing.key"),
        };
        let e = client_config(&paths).unwrap_err();
        assert_eq!(e.key(), "tls.ca");
        assert!(e.to_string().contains("ca.pem"), "{e}");
        assert!(e.to_string().contains("no CERTIFICATE"), "{e}");

        let e = load_certs("tls.cert", &paths.cert).unwrap_err();
        assert_eq!(e.key(), "tls.cert");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let broken = dir.path().join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
        let e = load_certs("tls.cert", &broken).unwrap_err();
        assert!(e.to_string().contains("not valid PEM"), "{e}");

        let e = load_key("tls.key", &not_pem).unwrap_err();
        assert_eq!(e.key(), "tls.key");
        assert!(e.to_string().contains("no PRIVATE KEY"), "{e}");
    }
}
