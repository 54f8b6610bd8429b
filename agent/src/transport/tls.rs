//! The agent's TLS client configuration: only the configured CA is trusted (no system
//! roots: these are closed networks with their own PKI) and the agent always presents its
//! client certificate. The crypto provider is `ring`, passed explicitly so that no
//! process-wide default (and no aws-lc-rs) is ever needed.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use zerofault_common::pem::load_certs;

/// Resolved paths of the TLS files (the `tls:` section, [`super::settings::TlsSection`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPaths {
    /// CA certificate(s).
    pub ca: PathBuf,
    /// Client certificate chain.
    pub cert: PathBuf,
    /// Client private key.
    pub key: PathBuf,
}

pub use super::tls_error::TlsError;

/// Builds the client configuration: roots = the configured CA only, client auth = the
/// configured certificate chain and key, crypto = ring.
pub fn client_config(paths: &TlsPaths) -> Result<rustls::ClientConfig, TlsError> {
    client_config_and_identity(paths).map(|(config, _)| config)
}

/// [`client_config`] and the identity it presents (renewal replaces it). The CA is read
/// first, so that errors come in the order of the config file.
pub fn client_config_and_identity(
    paths: &TlsPaths,
) -> Result<(rustls::ClientConfig, Arc<super::identity::Identity>), TlsError> {
    let roots = roots(&paths.ca)?;
    let identity = Arc::new(super::identity::Identity::load(&paths.cert, &paths.key)?);
    Ok((
        with_roots(roots, &paths.ca, Some(identity.clone()))?,
        identity,
    ))
}

/// The client configuration trusting the CA in `ca` only, presenting no certificate: what
/// enrollment uses, which has none yet.
pub fn anonymous_client_config(ca: &std::path::Path) -> Result<rustls::ClientConfig, TlsError> {
    with_roots(roots(ca)?, ca, None)
}

fn roots(ca: &std::path::Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in load_certs("tls.ca", ca)? {
        roots.add(cert).map_err(|source| TlsError::Refused {
            key: "tls.ca",
            path: ca.to_owned(),
            source,
        })?;
    }
    Ok(roots)
}

fn with_roots(
    roots: RootCertStore,
    ca: &std::path::Path,
    identity: Option<Arc<super::identity::Identity>>,
) -> Result<rustls::ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Refused {
            key: "tls.ca",
            path: ca.to_owned(),
            source,
        })?
        .with_root_certificates(roots);
    // The key was checked against the leaf certificate when the identity was loaded
    // (a mismatch is the key file's fault in the usual mistake: another agent's key).
    Ok(match identity {
        Some(identity) => builder.with_client_cert_resolver(identity),
        None => builder.with_no_client_auth(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerofault_common::pem::load_key;

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
