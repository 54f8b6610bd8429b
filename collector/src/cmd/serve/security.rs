//! What `serve` starts for the security controls (`docs/security.md`): the audit log's writer
//! (seals with this collector's key, retention, syslog), the revocation list kept fresh,
//! enrollment and renewal when `enrollment` is configured, and the reload of the server
//! certificate on SIGHUP or when its files change.

use std::sync::Arc;

use anyhow::Context;

use crate::audit::seal::Sealer;
use crate::audit::{Audit, Writer, events};
use crate::config::Config;
use crate::live::enroll::EnrollState;
use crate::live::revocations::Revocations;
use crate::store::Store;
use crate::tls::ServerCert;

/// The running security controls of a collector.
#[derive(Debug)]
pub struct Security {
    /// The audit log.
    pub audit: Audit,
    /// The revoked identities, read every second.
    pub revocations: Arc<Revocations>,
    /// Enrollment and renewal.
    pub enroll: EnrollState,
    writer: Writer,
    refresh: tokio::task::JoinHandle<()>,
    reload: tokio::task::JoinHandle<()>,
}

/// How often the server certificate's files are looked at for a replacement.
const CERT_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// Reloads the server certificate on SIGHUP, or when its files changed (checked every
/// [`CERT_CHECK`]); each reload, or refusal, is logged and an audit record.
async fn reload_server_cert(cert: Arc<ServerCert>, audit: Audit) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; the server certificate is reloaded only when its files change");
            None
        }
    };
    let mut tick = tokio::time::interval(CERT_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let signalled = tokio::select! {
            Some(()) = async { match &mut hangup { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            _ = tick.tick() => false,
        };
        if !signalled && !cert.changed_on_disk() {
            continue;
        }
        let path = cert.cert_path().display().to_string();
        match cert.reload() {
            Ok(()) => {
                tracing::info!(cert = %path, signalled, "server certificate reloaded; new connections use it");
                audit.record(events::server_cert_reloaded(&path, None));
            }
            Err(e) => {
                tracing::error!(cert = %path, error = %e, "the new server certificate cannot be used; the one in use stays");
                audit.record(events::server_cert_reloaded(&path, Some(&e.to_string())));
            }
        }
    }
}

impl Security {
    /// Starts them: the revocation list is read once before this returns, so that no
    /// revoked agent is served by a collector just started.
    pub async fn start(
        config: &Config,
        store: Arc<dyn Store>,
        instance: &str,
        server_cert: Arc<ServerCert>,
    ) -> anyhow::Result<Security> {
        let audit = Audit::new(store.clone(), &config.audit, instance)
            .with_context(|| format!("{}: `audit`", config.source.display()))?;
        // Checked once here, so that a key that cannot sign seals stops the start.
        let _ = Sealer::load(&config.tls.cert, &config.tls.key).with_context(|| {
            format!(
                "{}: `tls.key`: cannot seal the audit log",
                config.source.display()
            )
        })?;
        let revocations = Arc::<Revocations>::default();
        revocations
            .load(store.as_ref())
            .await
            .context("cannot read the revocation list")?;
        let ca = match &config.enrollment {
            Some(e) => {
                let ca = crate::cmd::certs::ca::load_existing_ca(&e.ca_dir)
                    .with_context(|| format!("{}: `enrollment.ca_dir`", config.source.display()))?;
                Some((Arc::new(ca), e.certificate_validity))
            }
            None => None,
        };
        audit
            .write(events::config_loaded(
                &config.source.display().to_string(),
                config
                    .inventory
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .as_deref(),
                false,
            ))
            .await
            .context("cannot write the audit log")?;
        let writer = audit.start(Some(Sealer::Server(server_cert.clone())), &config.audit);
        let refresh = tokio::spawn(revocations.clone().run(store.clone()));
        let reload = tokio::spawn(reload_server_cert(server_cert, audit.clone()));
        Ok(Security {
            enroll: EnrollState::new(ca, store, audit.clone(), revocations.clone()),
            audit,
            revocations,
            writer,
            refresh,
            reload,
        })
    }

    /// Stops the refresh and writes what the audit queue still holds (and a last seal).
    pub async fn stop(self) {
        self.refresh.abort();
        self.reload.abort();
        self.writer.stop().await;
    }
}
