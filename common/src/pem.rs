//! Reading certificates and private keys from PEM files, with errors that name the config
//! key and the path of the file, so the message tells the operator which file to fix.
//!
//! Only reading and framing: what a certificate is trusted for, and whether a key matches
//! its certificate, is decided by the TLS configuration built from them.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A PEM file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
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
}

impl PemError {
    /// The config key this error is about.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Read { key, .. } | Self::Pem { key, .. } | Self::Missing { key, .. } => key,
        }
    }
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, PemError> {
    std::fs::read(path).map_err(|source| PemError::Read {
        key,
        path: path.to_owned(),
        source,
    })
}

fn pem_err(key: &'static str, path: &Path, e: pem::Error) -> PemError {
    PemError::Pem {
        key,
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

/// Reads every certificate of a PEM file (`key` names it in errors); at least one is
/// required.
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(key, path, e))?;
    if certs.is_empty() {
        return Err(PemError::Missing {
            key,
            path: path.to_owned(),
            what: "CERTIFICATE",
        });
    }
    Ok(certs)
}

/// Reads the first private key (PKCS#8, PKCS#1 or SEC1) of a PEM file.
pub fn load_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, PemError> {
    let bytes = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => PemError::Missing {
            key,
            path: path.to_owned(),
            what: "PRIVATE KEY",
        },
        e => pem_err(key, path, e),
    })
}
