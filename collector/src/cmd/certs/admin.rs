//! `certs token`, `certs revoke`, `certs unrevoke` and `certs revoked`: the commands that
//! work on the deployment's database (every collector reads it), each an audit record.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::{Audit, events};
use crate::cmd::console::{EXIT_FAILED, EXIT_OK};
use crate::config::Config;
use crate::live::enroll::tokens;
use crate::store::Store;
use crate::store::security::{EnrollmentToken, Revocation, RevocationChange};

use super::ca::parse_agent_id;

/// Default validity of an enrollment token.
pub const DEFAULT_TOKEN_VALIDITY: Duration = Duration::from_secs(7 * 86_400);
/// Longest validity of an enrollment token.
pub const MAX_TOKEN_VALIDITY: Duration = Duration::from_secs(90 * 86_400);

/// What `certs` does besides issuing from a directory.
#[derive(Debug, clap::Subcommand)]
pub enum CertsAction {
    /// Make one-time enrollment tokens, one per agent id (`zerofault-agent enroll` takes
    /// one). Printed as `ID<TAB>TOKEN` lines, or written to --out (mode 0600) for
    /// configuration management; only their SHA-256 is stored. Exit codes: 0 made, 1 the
    /// database refused, 2 usage or configuration error.
    Token(TokenArgs),
    /// Revoke an agent identity on every collector of the deployment within seconds: its
    /// connections are refused (403) and its reports not stored, until `certs unrevoke`.
    Revoke(RevokeArgs),
    /// Reinstate a revoked agent identity: accepted again with a certificate issued from
    /// now on (enroll the host again with a new token); the certificates it had stay
    /// refused, so a stolen key does not come back with it.
    Unrevoke(RevokeArgs),
    /// List the revoked agent identities.
    Revoked(ConfigOnly),
}

/// `--config`.
#[derive(Debug, clap::Args)]
pub struct ConfigOnly {
    /// Collector configuration file: the database the collectors share.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

/// Arguments of `certs token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Collector configuration file: the database the collectors share.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Agent id the token enrolls (the certificate's CN, the agent's `agent.id`); repeatable.
    #[arg(long = "agent", value_name = "ID", value_parser = parse_agent_id, required = true)]
    pub agents: Vec<String>,
    /// How long the tokens may be used, e.g. `24h` (default `7d`, at most `90d`).
    #[arg(long, value_name = "DURATION", value_parser = parse_validity, default_value = "7d")]
    pub valid: Duration,
    /// Write the tokens to this new file (mode 0600) instead of printing them.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Arguments of `certs revoke` and `certs unrevoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The agent id.
    #[arg(value_name = "ID", value_parser = parse_agent_id)]
    pub agent: String,
    /// Collector configuration file: the database the collectors share.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Why (kept in the revocation and the audit log), e.g. "host stolen, ticket 4711".
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub reason: String,
}

fn parse_validity(s: &str) -> Result<Duration, String> {
    let d = zerofault_common::duration::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > MAX_TOKEN_VALIDITY {
        return Err("give 1s to 90d".into());
    }
    Ok(d)
}

/// Runs a `certs` subcommand; returns the exit code.
pub fn run(action: &CertsAction) -> u8 {
    let path = match action {
        CertsAction::Token(a) => &a.config,
        CertsAction::Revoke(a) | CertsAction::Unrevoke(a) => &a.config,
        CertsAction::Revoked(a) => &a.config,
    };
    crate::cmd::console::with_store(path, |config, store| async move {
        match with_store(action, &config, store).await {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("error: {e:#}");
                EXIT_FAILED
            }
        }
    })
}

async fn with_store(
    action: &CertsAction,
    config: &Config,
    store: std::sync::Arc<dyn Store>,
) -> anyhow::Result<()> {
    let audit = Audit::new(store.clone(), &config.audit, &config.instance_name())?;
    let now = crate::live::ingest::now_unix_ms();
    match action {
        CertsAction::Token(a) => {
            let expires_ms = now + a.valid.as_millis() as i64;
            let made: Vec<(String, String)> = a
                .agents
                .iter()
                .map(|id| (id.clone(), tokens::generate()))
                .collect();
            let mut out: Box<dyn Write> = match &a.out {
                Some(p) => Box::new(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(p)
                        .map_err(|e| {
                            anyhow::anyhow!(
                                "cannot create {}: {e} (an existing file is never overwritten)",
                                p.display()
                            )
                        })?,
                ),
                None => Box::new(std::io::stdout().lock()),
            };
            store
                .add_tokens(
                    made.iter()
                        .map(|(id, t)| EnrollmentToken {
                            token_hash: tokens::hash(t),
                            agent_id: id.clone(),
                            created_ms: now,
                            expires_ms,
                        })
                        .collect(),
                )
                .await?;
            audit
                .write(events::tokens_created(&a.agents, expires_ms))
                .await?;
            let until = jiff::Timestamp::from_millisecond(expires_ms)?;
            writeln!(
                out,
                "# zerofault enrollment tokens, one use each, valid until {until}"
            )?;
            writeln!(out, "# agent id\ttoken")?;
            for (id, t) in &made {
                writeln!(out, "{id}\t{t}")?;
            }
            out.flush()?;
            if let Some(p) = &a.out {
                eprintln!(
                    "wrote {} token(s) to {} (valid until {until})",
                    made.len(),
                    p.display()
                );
            }
        }
        CertsAction::Revoke(a) => {
            let changed = store
                .set_revocation(
                    a.agent.clone(),
                    RevocationChange::Revoke(Revocation {
                        agent_id: a.agent.clone(),
                        revoked_ms: now,
                        actor: events::operator(),
                        reason: a.reason.clone(),
                        reinstated_ms: None,
                    }),
                )
                .await?;
            audit
                .write(events::revocation(&a.agent, true, &a.reason, changed))
                .await?;
            if changed {
                println!(
                    "revoked {}: every collector refuses it within seconds",
                    a.agent
                );
            } else {
                println!("{} was already revoked", a.agent);
            }
        }
        CertsAction::Unrevoke(a) => {
            let changed = store
                .set_revocation(a.agent.clone(), RevocationChange::Reinstate { at_ms: now })
                .await?;
            audit
                .write(events::revocation(&a.agent, false, &a.reason, changed))
                .await?;
            if changed {
                println!(
                    "{} is reinstated: accepted again with a certificate issued from now on (enroll it with a new token); its old certificates stay refused",
                    a.agent
                );
            } else {
                println!("{} was not revoked", a.agent);
            }
        }
        CertsAction::Revoked(_) => {
            for r in store.revocations().await? {
                let at = jiff::Timestamp::from_millisecond(r.revoked_ms)?;
                let state = match r.reinstated_ms {
                    None => "revoked".to_owned(),
                    Some(t) => format!("reinstated {}", jiff::Timestamp::from_millisecond(t)?),
                };
                println!("{}\t{state}\t{at}\t{}\t{}", r.agent_id, r.actor, r.reason);
            }
        }
    }
    Ok(())
}
