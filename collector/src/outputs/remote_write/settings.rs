//! `remote_write.*`: where the collector pushes its series, and the bounds of each target's
//! queue and sender.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Default directory of the durable queues (one sub-directory per target).
pub const DEFAULT_QUEUE_DIR: &str = "/var/lib/zerofault/collector/remote_write";
/// Default time between two pushes of the derived series.
pub const DEFAULT_STATE_INTERVAL: Duration = Duration::from_secs(60);
/// Shortest `state_interval`.
pub const MIN_STATE_INTERVAL: Duration = Duration::from_secs(5);
/// Default cap of one target's queue on disk: about 10 hours of a 10,000-host province
/// reporting once a minute, measured at 19 bytes a sample (docs/remote-write.md, "Sizing
/// the queue").
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 8 << 30;
/// Smallest queue cap: a few segments.
pub const MIN_MAX_QUEUE_BYTES: u64 = 1 << 20;
/// Default parallel requests per target.
pub const DEFAULT_SHARDS: u32 = 4;
/// Most parallel requests per target.
pub const MAX_SHARDS: u32 = 64;
/// Default samples per request (Prometheus' `max_samples_per_send`).
pub const DEFAULT_MAX_SAMPLES_PER_SEND: u32 = 2000;
/// Most samples per request: the receiver's body limit (VictoriaMetrics 32 MB, Prometheus
/// none) is far above what this makes.
pub const MAX_SAMPLES_PER_SEND: u32 = 100_000;
/// Default timeout of one request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default first wait before a retry.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Default longest wait before a retry (also the longest `Retry-After` honoured).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `remote_write.*`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWrite {
    /// Directory of the durable queues, one sub-directory per target (its `name`).
    /// Default `/var/lib/zerofault/collector/remote_write`.
    #[serde(default = "default_queue_dir")]
    pub queue_dir: PathBuf,
    /// Time between two pushes of what the collector derives rather than receives: host
    /// up, link states, department and data-center sums, backbone links by state. Default
    /// `60s`, at least `5s`.
    #[serde(
        default = "default_state_interval",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub state_interval: Duration,
    /// Where to push. Empty (the default): no push.
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// One receiver (`remote_write.targets[]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Short name: the queue's directory and the `target` label of the sink's own metrics.
    /// Letters, digits, `-` and `_`, unique.
    pub name: String,
    /// The receiver's remote-write URL, `http://` or `https://`, e.g.
    /// `http://vm.example:8428/api/v1/write` (VictoriaMetrics) or
    /// `https://prometheus.example:9090/api/v1/write` (Prometheus with
    /// `--web.enable-remote-write-receiver`).
    pub url: String,
    /// TLS for an `https://` URL: the CA to trust (required: closed networks have their own
    /// PKI, so no system roots are used) and optionally a client certificate.
    #[serde(default)]
    pub tls: Option<TargetTls>,
    /// HTTP basic authentication.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// File holding a bearer token (sent as `Authorization: Bearer ...`).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Labels added to every series pushed to this target (a series' own label of the same
    /// name wins, as with Prometheus' external labels).
    #[serde(default)]
    pub extra_labels: BTreeMap<String, String>,
    /// Most bytes the queue holds on disk; past it the oldest samples are dropped, counted
    /// and logged. Default 8 GiB.
    #[serde(default = "default_max_queue_bytes")]
    pub max_queue_bytes: u64,
    /// Requests in flight at once; each series always goes through the same one, so its
    /// samples arrive in order. Default 4, at most 64.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Most samples in one request. Default 2000.
    #[serde(default = "default_max_samples_per_send")]
    pub max_samples_per_send: u32,
    /// Longest time one request may take. Default `30s`.
    #[serde(
        default = "default_timeout",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub timeout: Duration,
    /// First wait before retrying a 5xx, 429 or network failure; doubled per attempt with
    /// full jitter. Default `100ms`.
    #[serde(
        default = "default_min_backoff",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub min_backoff: Duration,
    /// Longest wait before a retry, and the longest `Retry-After` honoured. Default `30s`.
    #[serde(
        default = "default_max_backoff",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub max_backoff: Duration,
    /// Samples older than this when their turn comes are dropped (counted as `too_old`)
    /// instead of sent: for receivers that refuse old samples anyway. Default: none, every
    /// sample is sent (backfilled history included).
    #[serde(
        default,
        deserialize_with = "zerofault_common::duration::deserialize_option"
    )]
    pub max_sample_age: Option<Duration>,
}

/// `tls` of a target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTls {
    /// CA certificate(s) that the receiver's certificate must chain to (PEM).
    pub ca: PathBuf,
    /// Client certificate chain, for a receiver that asks for one (PEM).
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[serde(default)]
    pub key: Option<PathBuf>,
}

impl TargetTls {
    /// Its files for [`crate::tls::client_config`], named by `keys` (CA, certificate, key)
    /// in errors.
    pub fn files(&self, keys: [&'static str; 3]) -> crate::tls::ClientFiles<'_> {
        crate::tls::ClientFiles {
            ca: (keys[0], self.ca.as_path()),
            identity: match (&self.cert, &self.key) {
                (Some(cert), Some(key)) => {
                    Some(((keys[1], cert.as_path()), (keys[2], key.as_path())))
                }
                _ => None,
            },
        }
    }
}

/// `basic_auth` of a target.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// File holding the password (its first line), readable by the collector only.
    pub password_file: PathBuf,
}

fn default_queue_dir() -> PathBuf {
    PathBuf::from(DEFAULT_QUEUE_DIR)
}
fn default_state_interval() -> Duration {
    DEFAULT_STATE_INTERVAL
}
fn default_max_queue_bytes() -> u64 {
    DEFAULT_MAX_QUEUE_BYTES
}
fn default_shards() -> u32 {
    DEFAULT_SHARDS
}
fn default_max_samples_per_send() -> u32 {
    DEFAULT_MAX_SAMPLES_PER_SEND
}
fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}
fn default_min_backoff() -> Duration {
    DEFAULT_MIN_BACKOFF
}
fn default_max_backoff() -> Duration {
    DEFAULT_MAX_BACKOFF
}

impl Default for RemoteWrite {
    fn default() -> Self {
        Self {
            queue_dir: default_queue_dir(),
            state_interval: DEFAULT_STATE_INTERVAL,
            targets: Vec::new(),
        }
    }
}

/// A valid Prometheus label name, not reserved (`__` prefix).
fn label_name_ok(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with("__")
}

impl RemoteWrite {
    /// Every file path, for resolving relative paths against the configuration's directory.
    pub fn paths_mut(&mut self) -> impl Iterator<Item = &mut PathBuf> {
        std::iter::once(&mut self.queue_dir).chain(self.targets.iter_mut().flat_map(|t| {
            let tls = t.tls.as_mut().into_iter().flat_map(|tls| {
                std::iter::once(&mut tls.ca)
                    .chain(tls.cert.as_mut())
                    .chain(tls.key.as_mut())
            });
            tls.chain(t.basic_auth.as_mut().map(|b| &mut b.password_file))
                .chain(t.bearer_token_file.as_mut())
        }))
    }

    /// Every problem, by dotted key; a target's problems name the target.
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.state_interval < MIN_STATE_INTERVAL {
            problem(
                "remote_write.state_interval",
                "is shorter than 5s; use 5s or more (default 60s)".into(),
            );
        }
        if !self.targets.is_empty() && self.queue_dir.as_os_str().is_empty() {
            problem(
                "remote_write.queue_dir",
                "is empty; name a directory for the queues or remove the key".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.targets {
            t.problems(&mut |key, message| problem(key, format!("target {:?}: {message}", t.name)));
            if !names.insert(t.name.as_str()) {
                problem(
                    "remote_write.targets.name",
                    format!(
                        "{:?} is used twice; give each target its own name (it names its queue)",
                        t.name
                    ),
                );
            }
        }
    }
}

impl Target {
    fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !name_ok {
            problem(
                "remote_write.targets.name",
                "must be 1 to 64 letters, digits, '-' or '_' (e.g. victoria-metrics)".into(),
            );
        }
        let https = self.url.starts_with("https://");
        if !(https || self.url.starts_with("http://")) || reqwest::Url::parse(&self.url).is_err() {
            problem(
                "remote_write.targets.url",
                format!(
                    "{:?} is not an http:// or https:// URL (e.g. http://vm.example:8428/api/v1/write)",
                    self.url
                ),
            );
        }
        match &self.tls {
            None if https => problem(
                "remote_write.targets.tls.ca",
                "is missing: an https:// URL needs the CA its certificate chains to".into(),
            ),
            Some(_) if !https => problem(
                "remote_write.targets.tls",
                "is set for a plain http:// URL; use https:// or remove tls".into(),
            ),
            Some(tls) if tls.cert.is_some() != tls.key.is_some() => problem(
                "remote_write.targets.tls",
                "cert and key go together: set both or neither".into(),
            ),
            _ => {}
        }
        if self.basic_auth.is_some() && self.bearer_token_file.is_some() {
            problem(
                "remote_write.targets.bearer_token_file",
                "and basic_auth are both set; a request carries one Authorization header: keep one"
                    .into(),
            );
        }
        for name in self.extra_labels.keys() {
            if !label_name_ok(name) {
                problem(
                    "remote_write.targets.extra_labels",
                    format!(
                        "{name:?} is not a label name (letters, digits and '_', not starting with a digit or '__')"
                    ),
                );
            }
        }
        if self.extra_labels.values().any(String::is_empty) {
            problem(
                "remote_write.targets.extra_labels",
                "has an empty value; an empty label is no label: remove it".into(),
            );
        }
        if self.max_queue_bytes < MIN_MAX_QUEUE_BYTES {
            problem(
                "remote_write.targets.max_queue_bytes",
                format!(
                    "{} is below 1 MiB (1048576); default 8 GiB",
                    self.max_queue_bytes
                ),
            );
        }
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            problem(
                "remote_write.targets.shards",
                format!("{} is not within 1..=64 (default 4)", self.shards),
            );
        }
        if !(1..=MAX_SAMPLES_PER_SEND).contains(&self.max_samples_per_send) {
            problem(
                "remote_write.targets.max_samples_per_send",
                format!(
                    "{} is not within 1..=100000 (default 2000)",
                    self.max_samples_per_send
                ),
            );
        }
        if self.timeout < Duration::from_secs(1) {
            problem(
                "remote_write.targets.timeout",
                "is shorter than 1s (default 30s)".into(),
            );
        }
        if self.min_backoff.is_zero() || self.min_backoff > self.max_backoff {
            problem(
                "remote_write.targets.min_backoff",
                "must be above 0 and at most max_backoff (defaults 100ms and 30s)".into(),
            );
        }
    }
}
