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
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use serde::Deserialize;
use zerofault_common::pem::{self, PemError};

/// PEM files of the ingest listener (`tls.*`). All three are required; an empty path is a
/// missing one, reported by [`Config::validate_structure`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// CA certificate(s) that agent client certificates must chain to.
    #[serde(default)]
    pub ca: PathBuf,
    /// The collector's server certificate chain (leaf first).
    #[serde(default)]
    pub cert: PathBuf,
    /// The private key of `cert` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: PathBuf,
}

impl Tls {
    /// Missing keys, each as (dotted key, message); needs no file access.
    pub fn structure_problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if *self == Tls::default() {
            problem(
                "tls",
                "is missing; add a `tls:` section with `ca`, `cert` and `key`, the PEM files \
                     that `zerofault-collector certs` writes (see configs/collector.yaml)"
                    .into(),
            );
        } else {
            for (key, p) in [
                ("tls.ca", &self.ca),
                ("tls.cert", &self.cert),
                ("tls.key", &self.key),
            ] {
                if p.as_os_str().is_empty() {
                    problem(
                            key,
                            "is missing or empty; set it to a PEM file (see `zerofault-collector certs`)"
                                .into(),
                        );
                }
            }
        }
    }

    /// Files that cannot be read, do not parse or do not match, each as (dotted key,
    /// message); a missing file's message names the `certs` command that writes it.
    pub fn file_problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let mut tls_problem = |e: TlsError| {
            let hint = missing_file_hint(&e);
            problems.push((e.key(), format!("{e}{hint}")))
        };
        // Each file on its own first, so that one run lists every broken file. An empty
        // path is already a structure problem.
        let mut files_ok = true;
        for (key, path) in [
            ("tls.ca", &self.ca),
            ("tls.cert", &self.cert),
            ("tls.key", &self.key),
        ] {
            let loaded = if path.as_os_str().is_empty() {
                files_ok = false;
                continue;
            } else if key == "tls.key" {
                load_key(key, path).map(drop)
            } else {
                load_certs(key, path).map(drop)
            };
            if let Err(e) = loaded {
                files_ok = false;
                tls_problem(e);
            }
        }
        if files_ok {
            // Then together: trust anchors usable, key matching the certificate.
            if let Err(e) = server_config(self) {
                tls_problem(e);
            }
        }
        problems
    }
}

/// For a TLS file that does not exist: which `certs` command writes it. Empty for any
/// other error (a file that exists but is wrong needs looking at, not regenerating).
fn missing_file_hint(e: &TlsError) -> String {
    let TlsError::Pem(PemError::Read { key, path, source }) = e else {
        return String::new();
    };
    if source.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .display();
    match *key {
        "tls.ca" => format!(
            "; make the CA with `zerofault-collector certs --dir {dir}` (writes ca.pem and \
             ca.key), or fix the path"
        ),
        _ => format!(
            "; make the collector's certificate and key with `zerofault-collector certs --dir \
             {dir} --collector-name NAME` (NAME: the host name agents connect to; writes \
             collector.pem and collector.key), or fix the path"
        ),
    }
}

/// Why the TLS configuration could not be built. Each variant names the config key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be read, is not PEM or holds no certificate or key
    /// (`zerofault_common::pem`, shared with the agent).
    #[error(transparent)]
    Pem(#[from] PemError),
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
            TlsError::Pem(e) => e.key(),
            TlsError::Ca { .. } | TlsError::Verifier(_) => "tls.ca",
            TlsError::Identity { .. } => "tls.key",
        }
    }
}

/// Reads every certificate of a PEM file; at least one is required.
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    Ok(pem::load_certs(key, path)?)
}

/// Reads the private key of a PEM file.
pub fn load_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    Ok(pem::load_key(key, path)?)
}

/// The crypto provider of every TLS object in the collector. ring only: aws-lc-rs needs a
/// C toolchain and cmake that the offline build hosts of our users do not have.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds the ingest listener's server config from the `tls.*` files.
pub fn server_config(tls: &Tls) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_and_cert(tls).map(|(config, _)| config)
}

/// [`server_config`], and the server certificate it presents, which
/// [`ServerCert::reload`] replaces while the listener serves.
pub fn server_config_and_cert(tls: &Tls) -> Result<(Arc<ServerConfig>, Arc<ServerCert>), TlsError> {
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
    let cert = Arc::new(ServerCert::load(tls)?);
    let identity_err = |source| TlsError::Identity {
        cert: tls.cert.clone(),
        key_path: tls.key.clone(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(identity_err)?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert.clone());
    // Only HTTP/1.1 is served; advertising it lets clients that send ALPN agree on it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    // No session resumption: a resumed TLS session restores the client certificate from the
    // ticket or cache without checking it again, so an agent reconnecting often enough
    // would be admitted after its certificate expired. Every connection makes a full
    // handshake with its certificate checked; agents keep their connection alive, so that
    // is one handshake per agent and reconnect (docs/benchmarks.md: a handshake per report
    // costs about three times the CPU and does not hold at province size anyway).
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok((Arc::new(config), cert))
}

/// The collector's server certificate and key, replaceable while serving: every new
/// handshake takes the current pair; connections already open keep theirs. A replacement
/// that cannot be used (unreadable, or the key does not match) is refused and the pair in
/// use stays.
#[derive(Debug)]
pub struct ServerCert {
    cert: PathBuf,
    key: PathBuf,
    current: std::sync::RwLock<(Arc<rustls::sign::CertifiedKey>, Option<FileStamp>)>,
}

/// When the two files last changed, to notice a replacement without a signal.
type FileStamp = (std::time::SystemTime, std::time::SystemTime);

impl ServerCert {
    fn stamp(&self) -> Option<FileStamp> {
        let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        Some((m(&self.cert)?, m(&self.key)?))
    }

    fn read(cert: &Path, key: &Path) -> Result<Arc<rustls::sign::CertifiedKey>, TlsError> {
        let chain = load_certs("tls.cert", cert)?;
        let der = load_key("tls.key", key)?;
        rustls::sign::CertifiedKey::from_der(chain, der, &provider())
            .map(Arc::new)
            .map_err(|source| TlsError::Identity {
                cert: cert.to_owned(),
                key_path: key.to_owned(),
                source,
            })
    }

    /// The pair in `tls.cert` and `tls.key`.
    pub fn load(tls: &Tls) -> Result<ServerCert, TlsError> {
        let certified = Self::read(&tls.cert, &tls.key)?;
        let mut cert = ServerCert {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            current: std::sync::RwLock::new((certified, None)),
        };
        let stamp = cert.stamp();
        cert.current
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .1 = stamp;
        Ok(cert)
    }

    /// Whether the files changed since they were last read.
    pub fn changed_on_disk(&self) -> bool {
        let now = self.stamp();
        now.is_some()
            && now
                != self
                    .current
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .1
    }

    /// Reads the files again and uses them for new handshakes; on an error the pair in use
    /// stays (and the files' time is remembered, so that a broken file is reported once).
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamp = self.stamp();
        let read = Self::read(&self.cert, &self.key);
        let mut current = self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.1 = stamp;
        current.0 = read?;
        Ok(())
    }

    /// The pair in use.
    pub fn current(&self) -> Arc<rustls::sign::CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }

    /// The certificate file, for messages.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }
}

impl rustls::server::ResolvesServerCert for ServerCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0
                .clone(),
        )
    }
}

/// The subject common name of a DER certificate, `None` when it has none or the
/// certificate does not parse.
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    zerofault_common::certificate_common_name(cert.as_ref())
}

/// The common name of the client's verified leaf certificate and when it became valid
/// (seconds since the Unix epoch), from one parse of it per connection.
pub fn peer_identity(conn: &rustls::ServerConnection) -> (Option<String>, Option<i64>) {
    let Some(leaf) = conn.peer_certificates().and_then(|c| c.first()) else {
        return (None, None);
    };
    match x509_parser::parse_x509_certificate(leaf.as_ref()) {
        Ok((_, c)) => (
            zerofault_common::subject_common_name(&c),
            Some(c.validity().not_before.timestamp()),
        ),
        Err(_) => (None, None),
    }
}

/// A configuration key and the file it names.
pub type KeyedPath<'a> = (&'static str, &'a Path);

/// The files of a TLS client: the CA to trust (no system roots: closed networks run their
/// own PKI) and optionally a client certificate and key, each with the configuration key
/// that names it in errors.
#[derive(Debug, Clone, Copy)]
pub struct ClientFiles<'a> {
    /// Key and path of the CA certificate(s).
    pub ca: KeyedPath<'a>,
    /// Keys and paths of the client certificate chain and its private key.
    pub identity: Option<(KeyedPath<'a>, KeyedPath<'a>)>,
}

/// A rustls client configuration (ring) trusting `files.ca` only, with the client
/// certificate when one is given. Errors name the key and the file.
pub fn client_config(files: ClientFiles<'_>) -> Result<rustls::ClientConfig, String> {
    let (ca_key, ca) = files.ca;
    let mut roots = RootCertStore::empty();
    for cert in pem::load_certs(ca_key, ca).map_err(|e| format!("{ca_key}: {e}"))? {
        roots
            .add(cert)
            .map_err(|e| format!("{ca_key} {}: {e}", ca.display()))?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(Arc::new(roots));
    match files.identity {
        Some(((cert_key, cert), (key_key, key))) => {
            let chain = pem::load_certs(cert_key, cert).map_err(|e| format!("{cert_key}: {e}"))?;
            let key = pem::load_key(key_key, key).map_err(|e| format!("{key_key}: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{cert_key}/{key_key}: {e}"))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

/// The TLS configuration of an HTTP client of the collector (remote_write, webhooks): with
/// `files` for an `https://` target, or, for a plain `http://` one, a configuration that
/// trusts nothing (reqwest wants a TLS backend even then, and the process installs no
/// default crypto provider: ring is passed explicitly everywhere).
pub fn http_client_config(files: Option<ClientFiles<'_>>) -> Result<rustls::ClientConfig, String> {
    match files {
        Some(files) => client_config(files),
        None => Ok(rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth()),
    }
}

/// Most bytes read of a secret file: a password or a token, never a large file.
const MAX_SECRET_BYTES: u64 = 4096;

/// The first line of the secret file `path` named by configuration key `key` (a password
/// or a bearer token), read up to [`MAX_SECRET_BYTES`]; an error names the key and file.
pub fn read_secret(key: &str, path: &Path) -> Result<String, String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SECRET_BYTES).read_to_string(&mut text))
        .map_err(|e| format!("{key} {}: cannot read: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("").trim().to_owned();
    if line.is_empty() {
        return Err(format!("{key} {}: the file is empty", path.display()));
    }
    Ok(line)
}
