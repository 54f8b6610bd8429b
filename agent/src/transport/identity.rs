//! The agent's client identity, replaceable while the agent runs: the TLS configuration asks
//! it for the certificate at every new connection, and renewal ([`super::renew`]) swaps in
//! the new certificate and key without a restart and without touching the connection in
//! use (it stays authenticated as it was until it closes).

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use zerofault_common::pem::{load_certs, load_key};

use super::tls_error::TlsError;

/// The current certificate chain and key, and when the certificate ends.
#[derive(Debug)]
pub struct Identity {
    current: RwLock<(Arc<CertifiedKey>, Validity)>,
}

/// A certificate's validity, seconds since the Unix epoch; zeroes when it cannot be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validity {
    /// Start.
    pub not_before: i64,
    /// End.
    pub not_after: i64,
}

/// The validity of certificate `der`.
pub fn validity(der: &[u8]) -> Validity {
    x509_parser::parse_x509_certificate(der)
        .map(|(_, c)| Validity {
            not_before: c.validity().not_before.timestamp(),
            not_after: c.validity().not_after.timestamp(),
        })
        .unwrap_or_default()
}

/// A certified key from a chain and key, checked to belong together (ring).
pub fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    key_path: &Path,
) -> Result<(Arc<CertifiedKey>, Validity), TlsError> {
    let provider = rustls::crypto::ring::default_provider();
    let valid = chain
        .first()
        .map(|c| validity(c.as_ref()))
        .unwrap_or_default();
    let certified =
        CertifiedKey::from_der(chain, key, &provider).map_err(|source| TlsError::Refused {
            key: "tls.key",
            path: key_path.to_owned(),
            source,
        });
    Ok((Arc::new(certified?), valid))
}

impl Identity {
    /// The identity in these files.
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        let chain = load_certs("tls.cert", cert)?;
        let der = load_key("tls.key", key)?;
        let current = certified(chain, der, key)?;
        Ok(Identity {
            current: RwLock::new(current),
        })
    }

    /// The certificate's validity.
    pub fn validity(&self) -> Validity {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1
    }

    /// Loads the pair in these files and uses it from now on, for new connections.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<Validity, TlsError> {
        let chain = load_certs("tls.cert", cert)?;
        let der = load_key("tls.key", key)?;
        let (certified, validity) = certified(chain, der, key)?;
        self.replace(certified, validity);
        Ok(validity)
    }

    /// Uses `key` from now on, for new connections.
    pub fn replace(&self, key: Arc<CertifiedKey>, validity: Validity) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (key, validity);
    }
}

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0
                .clone(),
        )
    }

    fn has_certs(&self) -> bool {
        true
    }
}
