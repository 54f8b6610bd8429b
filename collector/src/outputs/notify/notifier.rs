//! The notifier: fed with the present every tick (`observe`, called by the live tick in
//! `serve`), it records opened and closed incidents in the outbox and delivers them to each
//! channel from its own task, retrying with backoff until delivered or given up.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::incidents::{self, Tracker};
use super::message::{self, Event};
use super::outbox::{self, Outbox, Pending};
use super::settings::{Email, Notifications, Webhook};
use super::smtp;
use crate::inventory::Inventory;
use crate::live::links::LinkState;
use crate::live::now::{HostState, Now};

/// First retry wait; doubled per attempt up to [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_secs(5);
/// Longest wait between two attempts.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug)]
enum Channel {
    Webhook {
        settings: Webhook,
        client: reqwest::Client,
        token: Option<String>,
    },
    Email {
        settings: Email,
        password: Option<String>,
    },
}

impl Channel {
    fn name(&self) -> String {
        match self {
            Channel::Webhook { settings, .. } => format!("webhook:{}", settings.name),
            Channel::Email { .. } => "email".into(),
        }
    }
}

#[derive(Debug)]
struct Queued {
    pending: Pending,
    due_ms: i64,
}

/// The notifier of one collector.
#[derive(Debug)]
pub struct Notifier {
    settings: Notifications,
    inventory: Arc<Inventory>,
    channels: Vec<Channel>,
    tracker: Mutex<Tracker>,
    outbox: Mutex<Outbox>,
    queue: Mutex<Vec<Queued>>,
    wake: Notify,
}

fn webhook_client(w: &Webhook) -> Result<reqwest::Client, String> {
    let files = w.tls.as_ref().map(|tls| {
        tls.files([
            "notifications.webhooks.tls.ca",
            "notifications.webhooks.tls.cert",
            "notifications.webhooks.tls.key",
        ])
    });
    let config = crate::tls::http_client_config(files)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .no_proxy()
        .timeout(w.timeout)
        .connect_timeout(w.timeout)
        .user_agent(concat!("zerofault-collector/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

fn now_ms() -> i64 {
    zerofault_common::now_unix_ms()
}

impl Notifier {
    /// Opens the outbox and prepares every channel (reading its TLS and secret files);
    /// `None` when nothing is configured. Errors name the key and the file.
    pub fn open(
        settings: &Notifications,
        inventory: Arc<Inventory>,
    ) -> anyhow::Result<Option<Arc<Notifier>>> {
        if !settings.enabled() {
            return Ok(None);
        }
        let mut channels = Vec::new();
        for w in &settings.webhooks {
            let client = webhook_client(w)
                .map_err(|e| anyhow::anyhow!("notifications webhook {:?}: {e}", w.name))?;
            let token = match &w.bearer_token_file {
                Some(p) => Some(
                    crate::tls::read_secret("notifications.webhooks.bearer_token_file", p)
                        .map_err(anyhow::Error::msg)?,
                ),
                None => None,
            };
            channels.push(Channel::Webhook {
                settings: w.clone(),
                client,
                token,
            });
        }
        if let Some(e) = &settings.email {
            let password = match &e.password_file {
                Some(p) => Some(
                    crate::tls::read_secret("notifications.email.password_file", p)
                        .map_err(anyhow::Error::msg)?,
                ),
                None => None,
            };
            channels.push(Channel::Email {
                settings: e.clone(),
                password,
            });
        }
        let (outbox, pending) = Outbox::open(&settings.dir).map_err(|e| {
            anyhow::anyhow!(
                "notifications.dir {}: cannot open the outbox: {e}",
                settings.dir.display()
            )
        })?;
        if !pending.is_empty() {
            tracing::info!(
                events = pending.len(),
                "notifications: resuming deliveries not made before the restart"
            );
        }
        let now = now_ms();
        let queue = pending
            .into_iter()
            .map(|pending| Queued {
                pending,
                due_ms: now,
            })
            .collect();
        Ok(Some(Arc::new(Notifier {
            settings: settings.clone(),
            inventory,
            channels,
            tracker: Mutex::default(),
            outbox: Mutex::new(outbox),
            queue: Mutex::new(queue),
            wake: Notify::new(),
        })))
    }

    /// Takes the present (every tick, on the lease holder): records and queues the incidents
    /// that opened or closed.
    pub fn observe(&self, now: &Now, at_ms: i64) {
        let open = incidents::of_now(now, &self.inventory, &self.settings.lang);
        let open_after = i64::try_from(self.settings.open_after.as_millis()).unwrap_or(i64::MAX);
        // Not incidents of their own any more, but not back either.
        let still_down: std::collections::BTreeSet<(String, String)> = now
            .hosts
            .iter()
            .filter(|h| matches!(h.state, HostState::Silent | HostState::Unreachable))
            .map(|h| ("host".to_string(), h.agent.clone()))
            .chain(
                now.links
                    .iter()
                    .filter(|l| l.state == Some(LinkState::Down) && !l.maintenance)
                    .map(|l| ("link".to_string(), l.id.clone())),
            )
            .collect();
        let changes = self.tracker.lock().unwrap_or_else(|e| e.into_inner()).step(
            open,
            &still_down,
            at_ms,
            open_after,
        );
        if changes.is_empty() {
            return;
        }
        let names: Vec<String> = self.channels.iter().map(Channel::name).collect();
        for change in changes {
            let recorded = self
                .outbox
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record_event(
                    Event {
                        seq: 0,
                        at_ms,
                        change,
                    },
                    names.clone(),
                );
            match recorded {
                Ok(event) => {
                    tracing::info!(seq = event.seq, subject = %message::subject(&event, "en"), "notification");
                    let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                    for channel in &names {
                        queue.push(Queued {
                            pending: Pending {
                                event: event.clone(),
                                channel: channel.clone(),
                                attempts: 0,
                            },
                            due_ms: at_ms,
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "notifications: cannot record an event in the outbox; it is not sent")
                }
            }
        }
        self.wake.notify_one();
    }

    /// A collector on standby announces nothing: forget what was open, so that taking the
    /// lease later starts afresh.
    pub fn standby(&self) {
        *self.tracker.lock().unwrap_or_else(|e| e.into_inner()) = Tracker::default();
    }

    /// Delivers queued events until the task is aborted.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = now_ms();
            let due: Vec<Queued> = {
                let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
                let (due, later) = std::mem::take(&mut *queue)
                    .into_iter()
                    .partition(|q| q.due_ms <= now);
                *queue = later;
                due
            };
            for mut q in due {
                let attempt = q.pending.attempts + 1;
                let result = self.deliver(&q.pending).await;
                let at = now_ms();
                let too_old = at - q.pending.event.at_ms
                    > i64::try_from(self.settings.give_up_after.as_millis()).unwrap_or(i64::MAX);
                let (outcome, error) = match result {
                    Ok(()) => (outbox::Outcome::Delivered, String::new()),
                    Err(smtp::Outcome::Permanent(e)) => (outbox::Outcome::GivenUp, e),
                    Err(smtp::Outcome::Temporary(e)) if too_old => (
                        outbox::Outcome::GivenUp,
                        format!("{e} (given up after notifications.give_up_after)"),
                    ),
                    Err(smtp::Outcome::Temporary(e)) => (outbox::Outcome::Failed, e),
                };
                match outcome {
                    outbox::Outcome::Delivered => {}
                    outbox::Outcome::Failed => {
                        tracing::warn!(channel = %q.pending.channel, seq = q.pending.event.seq, attempt, error = %error, "notification not delivered; retrying")
                    }
                    outbox::Outcome::GivenUp => {
                        tracing::error!(channel = %q.pending.channel, seq = q.pending.event.seq, attempt, error = %error, "notification given up")
                    }
                }
                if let Err(e) = self
                    .outbox
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .record_delivery(
                        q.pending.event.seq,
                        &q.pending.channel,
                        attempt,
                        at,
                        outcome,
                        error,
                    )
                {
                    tracing::error!(error = %e, "notifications: cannot record a delivery in the outbox");
                }
                if outcome == outbox::Outcome::Failed {
                    q.pending.attempts = attempt;
                    let wait = FIRST_RETRY_WAIT
                        .saturating_mul(1 << attempt.min(10))
                        .min(MAX_RETRY_WAIT);
                    q.due_ms = at + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                    self.queue.lock().unwrap_or_else(|e| e.into_inner()).push(q);
                }
            }
            let next = self
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|q| q.due_ms)
                .min();
            let wait = next.map_or(Duration::from_secs(3600), |d| {
                Duration::from_millis(u64::try_from(d - now_ms()).unwrap_or(0))
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    async fn deliver(&self, p: &Pending) -> Result<(), smtp::Outcome> {
        let tz = &self.inventory.time_zone;
        let lang = &self.settings.lang;
        let Some(channel) = self.channels.iter().find(|c| c.name() == p.channel) else {
            return Err(smtp::Outcome::Permanent(format!(
                "channel {} is no longer configured",
                p.channel
            )));
        };
        match channel {
            Channel::Webhook {
                settings,
                client,
                token,
            } => {
                let body = serde_json::to_vec(&message::webhook_json(&p.event, lang, tz))
                    .map_err(|e| smtp::Outcome::Permanent(e.to_string()))?;
                let mut request = client
                    .post(&settings.url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body);
                if let Some(t) = token {
                    request = request.bearer_auth(t);
                }
                match request.send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => {
                        let code = r.status().as_u16();
                        let text = format!("HTTP {code}");
                        if code == 429 || code == 408 || code >= 500 {
                            Err(smtp::Outcome::Temporary(text))
                        } else {
                            Err(smtp::Outcome::Permanent(text))
                        }
                    }
                    Err(e) => Err(smtp::Outcome::Temporary(format!("{e:#}"))),
                }
            }
            Channel::Email { settings, password } => {
                let date = jiff::Timestamp::from_millisecond(p.event.at_ms)
                    .map(|t| {
                        t.to_zoned_datetime(tz.clone())
                            .strftime("%a, %d %b %Y %H:%M:%S %z")
                            .to_string()
                    })
                    .unwrap_or_default();
                let data = smtp::message(
                    &settings.from,
                    &settings.to,
                    &message::subject(&p.event, lang),
                    &message::body(&p.event, lang, tz),
                    &date,
                    &format!("{}.{}@zerofault-collector", p.event.seq, p.event.at_ms),
                );
                match tokio::time::timeout(
                    settings.timeout,
                    smtp::deliver(settings, password.as_deref(), &data),
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => Err(smtp::Outcome::Temporary(format!(
                        "no answer within {:?}",
                        settings.timeout
                    ))),
                }
            }
        }
    }
}
