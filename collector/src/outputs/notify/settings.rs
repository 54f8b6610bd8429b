//! `notifications.*`: incidents sent to webhooks and by e-mail, for bureaus that run no
//! Alertmanager (docs/notifications.md).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::outputs::remote_write::settings::TargetTls;

/// Default directory of the outbox.
pub const DEFAULT_DIR: &str = "/var/lib/zerofault/collector/notifications";
/// Default time an incident must stay open before it is announced.
pub const DEFAULT_OPEN_AFTER: Duration = Duration::from_secs(120);
/// Default time after which an undeliverable event is given up.
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Default timeout of one delivery attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `notifications.*`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Directory of the outbox (`outbox.jsonl`: every event and every delivery attempt).
    /// Default `/var/lib/zerofault/collector/notifications`.
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// An incident is announced once it has been open this long, so that a flap shorter than
    /// this sends nothing. Default `2m`; `0s` announces at once.
    #[serde(
        default = "default_open_after",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub open_after: Duration,
    /// Language of the messages: `zh-CN` (default) or `en`.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// An event not delivered after this long is given up (recorded in the outbox). Default
    /// `24h`.
    #[serde(
        default = "default_give_up_after",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub give_up_after: Duration,
    /// Webhooks: each gets every event as a JSON POST.
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// E-mail through an SMTP relay.
    #[serde(default)]
    pub email: Option<Email>,
}

/// One webhook (`notifications.webhooks[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// Short name, for the outbox and the log.
    pub name: String,
    /// `http://` or `https://` URL that takes a JSON POST.
    pub url: String,
    /// TLS of an `https://` URL: the CA (required) and optionally a client certificate.
    #[serde(default)]
    pub tls: Option<TargetTls>,
    /// File holding a bearer token (`Authorization: Bearer ...`).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Longest time one attempt may take. Default `30s`.
    #[serde(
        default = "default_timeout",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub timeout: Duration,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a relay on this host or a trusted segment only).
    None,
    /// Plain connection upgraded with STARTTLS (port 587 or 25); refused if the server does
    /// not offer it.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `notifications.email`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// The relay, `HOST:PORT`.
    pub smtp: String,
    /// `none`, `starttls` (default) or `tls`.
    #[serde(default = "default_smtp_tls")]
    pub tls: SmtpTls,
    /// CA the relay's certificate chains to (required with `starttls` and `tls`).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Login (AUTH PLAIN), optional.
    #[serde(default)]
    pub username: Option<String>,
    /// File holding the password (first line), with `username`.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Longest time one delivery (the whole SMTP dialogue) may take. Default `30s`.
    #[serde(
        default = "default_timeout",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub timeout: Duration,
}

fn default_dir() -> PathBuf {
    PathBuf::from(DEFAULT_DIR)
}
fn default_open_after() -> Duration {
    DEFAULT_OPEN_AFTER
}
fn default_lang() -> String {
    "zh-CN".into()
}
fn default_give_up_after() -> Duration {
    DEFAULT_GIVE_UP_AFTER
}
fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}
fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}

impl Default for Notifications {
    fn default() -> Self {
        Self {
            dir: default_dir(),
            open_after: DEFAULT_OPEN_AFTER,
            lang: default_lang(),
            give_up_after: DEFAULT_GIVE_UP_AFTER,
            webhooks: Vec::new(),
            email: None,
        }
    }
}

/// An address without line breaks or angle brackets (it goes into SMTP commands).
fn address_ok(a: &str) -> bool {
    let at = a.find('@');
    at.is_some_and(|i| i > 0 && i + 1 < a.len())
        && !a
            .bytes()
            .any(|b| b.is_ascii_whitespace() || matches!(b, b'<' | b'>' | b',') || b < 0x20)
}

impl Notifications {
    /// Whether anything is configured to send to.
    pub fn enabled(&self) -> bool {
        !self.webhooks.is_empty() || self.email.is_some()
    }

    /// Every file path, for resolving relative paths against the configuration's directory.
    pub fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        let hooks = self.webhooks.iter_mut().flat_map(|w| {
            let tls = w.tls.as_mut().into_iter().flat_map(|t| {
                std::iter::once(&mut t.ca)
                    .chain(t.cert.as_mut())
                    .chain(t.key.as_mut())
            });
            tls.chain(w.bearer_token_file.as_mut())
        });
        let email = self
            .email
            .iter_mut()
            .flat_map(|e| e.ca.as_mut().into_iter().chain(e.password_file.as_mut()));
        std::iter::once(&mut self.dir).chain(hooks).chain(email)
    }

    /// Every problem, by dotted key.
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if !matches!(self.lang.as_str(), "en" | "zh-CN") {
            problem(
                "notifications.lang",
                format!(
                    "{:?} is not a language of the messages; use zh-CN or en",
                    self.lang
                ),
            );
        }
        if self.enabled() && self.dir.as_os_str().is_empty() {
            problem(
                "notifications.dir",
                "is empty; name a directory for the outbox".into(),
            );
        }
        if self.give_up_after < Duration::from_secs(60) {
            problem(
                "notifications.give_up_after",
                "is shorter than 1m; a relay restarting takes longer (default 24h)".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for w in &self.webhooks {
            if w.name.is_empty()
                || !w
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
            {
                problem(
                    "notifications.webhooks.name",
                    format!("{:?}: use letters, digits, '-' and '_'", w.name),
                );
            }
            if !names.insert(w.name.as_str()) {
                problem(
                    "notifications.webhooks.name",
                    format!("{:?} is used twice", w.name),
                );
            }
            let https = w.url.starts_with("https://");
            if !(https || w.url.starts_with("http://")) || reqwest::Url::parse(&w.url).is_err() {
                problem(
                    "notifications.webhooks.url",
                    format!(
                        "webhook {:?}: {:?} is not an http:// or https:// URL",
                        w.name, w.url
                    ),
                );
            }
            if https && w.tls.is_none() {
                problem(
                    "notifications.webhooks.tls.ca",
                    format!(
                        "webhook {:?}: an https:// URL needs the CA its certificate chains to",
                        w.name
                    ),
                );
            }
        }
        if let Some(e) = &self.email {
            if e.smtp
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
            {
                problem(
                    "notifications.email.smtp",
                    format!(
                        "{:?} is not HOST:PORT (e.g. smtp.example.internal:587)",
                        e.smtp
                    ),
                );
            }
            if e.tls != SmtpTls::None && e.ca.is_none() {
                problem(
                    "notifications.email.ca",
                    "is missing: with tls starttls or tls the relay's certificate must chain to it (or set tls: none for a relay on this host)".into(),
                );
            }
            if e.username.is_some() != e.password_file.is_some() {
                problem(
                    "notifications.email.username",
                    "and password_file go together: set both or neither".into(),
                );
            }
            if !address_ok(&e.from) {
                problem(
                    "notifications.email.from",
                    format!("{:?} is not an address", e.from),
                );
            }
            if e.to.is_empty() {
                problem(
                    "notifications.email.to",
                    "is empty; name at least one recipient".into(),
                );
            }
            for to in &e.to {
                if !address_ok(to) {
                    problem(
                        "notifications.email.to",
                        format!("{to:?} is not an address"),
                    );
                }
            }
        }
    }
}
