//! Renewal of the client certificate while the agent runs (`tls.renew_before`): before the
//! certificate ends, a new key is made here, the collector signs a request for it over the
//! current identity (`POST /api/v1/renew`), the new pair is written (key first) and used for
//! every new connection from then on; reports keep flowing meanwhile, on the connection
//! already open or a new one.

use std::time::Duration;

use tracing::{info, warn};
use zerofault_protocol::enroll::{RENEW_PATH, RenewRequest};

use super::Transport;
use super::identity::Validity;
use crate::config::Config;

/// Longest sleep before the due time is looked at again (a clock step, a replaced file).
const RECHECK: Duration = Duration::from_secs(3600);
/// First wait after a failed renewal; doubled up to [`RECHECK`].
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// When renewal is due, seconds since the Unix epoch: `renew_before` ahead of the end, but
/// never earlier than two thirds into the certificate's life (a certificate shorter than
/// `renew_before` would otherwise be renewed at once, again and again). `None` when the
/// validity is unknown.
pub fn due_at(v: Validity, renew_before: Duration) -> Option<i64> {
    if v.not_after <= v.not_before {
        return None;
    }
    let life = v.not_after - v.not_before;
    let lead = i64::try_from(renew_before.as_secs())
        .unwrap_or(i64::MAX)
        .min(life / 3);
    Some(v.not_after - lead)
}

fn now_unix() -> i64 {
    zerofault_common::now_unix_ms() / 1000
}

/// Renews once: new key, signed over the current identity, installed and in use.
pub async fn renew_once(transport: &Transport, config: &Config) -> anyhow::Result<Validity> {
    let (key_pem, csr_pem) = crate::enroll::new_key_and_request(&config.agent_id)?;
    let response = transport
        .client()
        .post(format!("{}{RENEW_PATH}", transport.base_url()))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&RenewRequest { csr_pem })?)
        .send()
        .await?;
    let issued = crate::enroll::answer(response).await?;
    crate::enroll::install(config, &key_pem, &issued)?;
    let validity = transport
        .identity()
        .reload(&config.tls.cert, &config.tls.key)
        .map_err(|e| anyhow::anyhow!("the renewed certificate cannot be used: {e}"))?;
    Ok(validity)
}

/// Renews whenever due, until the task is dropped.
pub async fn run(transport: Transport, config: std::sync::Arc<Config>) {
    let mut retry = FIRST_RETRY;
    loop {
        let Some(due) = due_at(transport.identity().validity(), config.renew_before) else {
            warn!("the client certificate's validity cannot be read; it will not be renewed");
            return;
        };
        let now = now_unix();
        if now < due {
            let wait = Duration::from_secs((due - now) as u64).min(RECHECK);
            tokio::time::sleep(wait).await;
            continue;
        }
        match renew_once(&transport, &config).await {
            Ok(v) => {
                retry = FIRST_RETRY;
                info!(
                    not_after = v.not_after,
                    "client certificate renewed; new connections use it"
                );
                // Never again at once: a certificate issued already due (a collector that
                // backdates by more than a third of a short validity) would otherwise be
                // renewed in a loop.
                let left = v.not_after.saturating_sub(now_unix()).max(3) as u64;
                tokio::time::sleep(Duration::from_secs(left / 3)).await;
            }
            Err(e) => {
                warn!(error = %format!("{e:#}"), retry_in_s = retry.as_secs(), "cannot renew the client certificate; reports go on with the current one while it is valid");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RECHECK);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_is_due_ahead_of_the_end_but_not_at_once() {
        let year = Validity {
            not_before: 0,
            not_after: 365 * 86_400,
        };
        let thirty_days = Duration::from_secs(30 * 86_400);
        assert_eq!(due_at(year, thirty_days), Some(335 * 86_400));
        // A 45 s certificate: renewed after 30 s, not as soon as it is installed.
        let short = Validity {
            not_before: 100,
            not_after: 145,
        };
        assert_eq!(due_at(short, thirty_days), Some(130));
        assert_eq!(due_at(Validity::default(), thirty_days), None);
    }
}
