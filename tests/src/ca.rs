//! Certificates made by the real `zerofault-collector certs`, and TLS clients that use them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tempfile::TempDir;

use crate::harness::{COLLECTOR_BIN, bin_path};

/// A certificate directory in a temporary directory, laid out as `zerofault-collector certs`
/// writes it: `ca.pem`, `collector.pem`/`.key`, `agents/ID.pem`/`.key`.
///
/// The certificates come from the product's own `certs` command on purpose: the tests then
/// also prove that what an operator generates is what the collector and the agent accept.
#[derive(Debug)]
pub struct TestCa {
    dir: TempDir,
}

impl TestCa {
    /// A new CA with a collector certificate (default names, which include `127.0.0.1`) and
    /// one client certificate per agent id.
    pub fn new(agents: &[&str]) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("zf-ca-").tempdir()?;
        let ca = Self { dir };
        ca.run_certs(agents)?;
        Ok(ca)
    }

    /// Adds client certificates for more agents, reusing the CA (as `certs` documents).
    pub fn add_agents(&self, agents: &[&str]) -> anyhow::Result<()> {
        self.run_certs(agents)
    }

    fn run_certs(&self, agents: &[&str]) -> anyhow::Result<()> {
        let mut cmd = Command::new(bin_path(COLLECTOR_BIN));
        cmd.arg("certs").arg("--dir").arg(self.dir.path());
        for a in agents {
            cmd.arg("--agent").arg(a);
        }
        let out = cmd.output()?;
        anyhow::ensure!(
            out.status.success(),
            "`{cmd:?}` failed with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for a in agents {
            anyhow::ensure!(
                self.agent_cert(a).is_file() && self.agent_key(a).is_file(),
                "`certs --agent {a}` did not write agents/{a}.pem and agents/{a}.key"
            );
        }
        Ok(())
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    /// `ca.pem`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    /// `collector.pem`.
    pub fn collector_cert(&self) -> PathBuf {
        self.dir.path().join("collector.pem")
    }
    /// `collector.key`.
    pub fn collector_key(&self) -> PathBuf {
        self.dir.path().join("collector.key")
    }
    /// `agents/ID.pem`.
    pub fn agent_cert(&self, id: &str) -> PathBuf {
        self.dir.path().join("agents").join(format!("{id}.pem"))
    }
    /// `agents/ID.key`.
    pub fn agent_key(&self, id: &str) -> PathBuf {
        self.dir.path().join("agents").join(format!("{id}.key"))
    }

    /// An HTTPS client that trusts this CA and presents agent `id`'s certificate, or no
    /// client certificate at all when `id` is `None`.
    pub fn ingest_client(&self, id: Option<&str>) -> anyhow::Result<reqwest::Client> {
        let identity = id.map(|id| (self.agent_cert(id), self.agent_key(id)));
        ingest_client(
            &self.ca_cert(),
            identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
        )
    }

    /// A TLS client configuration that trusts this CA and presents agent `id`'s
    /// certificate, or none: for raw connections that do what no HTTP client would (stall
    /// mid-body).
    pub fn tls_client_config(&self, id: Option<&str>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.ca_cert())? {
            roots.add(cert?)?;
        }
        let identity = match id {
            Some(id) => Some((
                CertificateDer::pem_file_iter(self.agent_cert(id))?
                    .collect::<Result<Vec<_>, _>>()?,
                PrivateKeyDer::from_pem_file(self.agent_key(id))?,
            )),
            None => None,
        };
        Ok(Arc::new(client_config(roots, identity)?))
    }

    /// An HTTPS client that trusts this CA but presents agent `id`'s certificate from
    /// `other`, a different CA: what an agent enrolled elsewhere (or a forger) would do.
    pub fn foreign_client(&self, other: &TestCa, id: &str) -> anyhow::Result<reqwest::Client> {
        ingest_client(
            &self.ca_cert(),
            Some((&other.agent_cert(id), &other.agent_key(id))),
        )
    }
}

/// An HTTPS client that trusts the CA in `ca_pem` and presents `identity` (cert, key PEM
/// files) if given. The identity may come from another CA: that is how the tests show that
/// the collector refuses a foreign certificate.
pub fn ingest_client(
    ca_pem: &Path,
    identity: Option<(&Path, &Path)>,
) -> anyhow::Result<reqwest::Client> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_pem)? {
        roots.add(cert?)?;
    }
    let identity = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
            Some((chain, PrivateKeyDer::from_pem_file(key)?))
        }
        None => None,
    };
    let config = client_config(roots, identity)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// A rustls client configuration on the ring provider (reqwest is built without one).
pub(crate) fn client_config(
    roots: rustls::RootCertStore,
    identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> anyhow::Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    Ok(match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
        None => builder.with_no_client_auth(),
    })
}
/// An HTTP client for plain-HTTP loopback requests (`/metrics`, `/healthz`, Prometheus API).
///
/// reqwest is built without a process-wide crypto provider, so even a plain-HTTP client gets
/// an explicit rustls configuration (with no roots: it is never used for TLS).
pub fn http_client() -> reqwest::Client {
    let config = client_config(rustls::RootCertStore::empty(), None)
        .expect("rustls client config with no roots");
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        // A proxy from the environment must never see loopback test traffic.
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build reqwest client")
}
