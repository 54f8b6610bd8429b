//! Why a TLS file cannot be used: apart from `tls.rs`, so that the identity it loads
//! (`identity.rs`) and the configuration built from it share it without importing each other.

use std::path::PathBuf;

use zerofault_common::pem::PemError;

/// A TLS file that cannot be used. Each case names the config key and the path, so the
/// message tells the operator which file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read or holds no usable PEM item.
    #[error(transparent)]
    Pem(#[from] PemError),
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
            Self::Pem(e) => e.key(),
            Self::Refused { key, .. } => key,
        }
    }
}
