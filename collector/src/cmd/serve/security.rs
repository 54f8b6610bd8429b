//! What `serve` starts for the security controls (`docs/security.md`): the audit log's writer
//! (seals with this collector's key, retention, syslog), the revocation list kept fresh, and
//! enrollment and renewal when `enrollment` is configured.

use std::sync::Arc;

use anyhow::Context;

use crate::audit::seal::Sealer;
use crate::audit::{Audit, Writer, events};
use crate::config::Config;
use crate::live::enroll::EnrollState;
use crate::live::revocations::Revocations;
use crate::store::Store;

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
}

impl Security {
    /// Starts them: the revocation list is read once before this returns, so that no
    /// revoked agent is served by a collector just started.
    pub async fn start(
        config: &Config,
        store: Arc<dyn Store>,
        instance: &str,
    ) -> anyhow::Result<Security> {
        let audit = Audit::new(store.clone(), &config.audit, instance)
            .with_context(|| format!("{}: `audit`", config.source.display()))?;
        let sealer = Sealer::load(&config.tls.cert, &config.tls.key).with_context(|| {
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
        let writer = audit.start(Some(sealer), &config.audit);
        let refresh = tokio::spawn(revocations.clone().run(store.clone()));
        Ok(Security {
            enroll: EnrollState {
                ca,
                store,
                audit: audit.clone(),
                revocations: revocations.clone(),
            },
            audit,
            revocations,
            writer,
            refresh,
        })
    }

    /// Stops the refresh and writes what the audit queue still holds (and a last seal).
    pub async fn stop(self) {
        self.refresh.abort();
        self.writer.stop().await;
    }
}
