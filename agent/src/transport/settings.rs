//! The transport's settings: the `collector:` section (where reports go, how long one
//! upload may take) and the `tls:` section (the files of mutual TLS), with their checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zerofault_common::pem::{PemError, load_certs, load_key};

use super::failover::MAX_URLS;
use super::tls::{TlsError, TlsPaths, client_config};
use crate::checks::Checks;

/// Shortest accepted `collector.timeout`: a TLS handshake across a WAN needs this much.
pub const MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest accepted `collector.timeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// `collector:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSection {
    /// Base URL of the collector's ingest listener, `https://host:port`. Required unless
    /// `urls` is given (one of the two, not both).
    #[serde(default)]
    pub url: String,
    /// Several collectors of one deployment (docs/scale-out.md), in order of preference: the
    /// agent sends to the first, stays with one while it answers, and moves to the next when
    /// it cannot be reached, times out or answers 5xx. At most 16.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Timeout of one report upload (connect + TLS + request + response), e.g. `10s`.
    #[serde(default = "default_timeout")]
    pub timeout: String,
}

impl Default for CollectorSection {
    fn default() -> Self {
        Self {
            url: String::new(),
            urls: Vec::new(),
            timeout: default_timeout(),
        }
    }
}

/// `tls:` section; all three files are required and PEM encoded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// CA certificate(s) the collector's server certificate must chain to; the only roots
    /// trusted.
    #[serde(default)]
    pub ca: PathBuf,
    /// This agent's client certificate (chain), leaf first.
    #[serde(default)]
    pub cert: PathBuf,
    /// Private key of the client certificate (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub key: PathBuf,
    /// Renew the certificate this long before it ends (at the latest two thirds into its
    /// life), over the current identity, without a restart; needs a collector with
    /// `enrollment` configured. Default `30d`.
    #[serde(default = "default_renew_before")]
    pub renew_before: String,
}

/// The default `tls.renew_before`.
pub fn default_renew_before() -> String {
    "30d".to_owned()
}

/// Longest `tls.renew_before`.
pub const MAX_RENEW_BEFORE: Duration = Duration::from_secs(3650 * 86_400);

impl Default for TlsSection {
    fn default() -> Self {
        Self {
            ca: PathBuf::new(),
            cert: PathBuf::new(),
            key: PathBuf::new(),
            renew_before: default_renew_before(),
        }
    }
}

/// The default `collector.timeout`.
pub fn default_timeout() -> String {
    "10s".to_owned()
}

/// What the transport needs of the checked config, borrowed from it (the top-level config
/// converts itself into this, so the transport does not depend on it).
#[derive(Debug, Clone, Copy)]
pub struct TransportSettings<'a> {
    /// The config file, named in errors.
    pub config_file: &'a Path,
    /// Collector base URLs without a trailing slash, in order of preference (at least one).
    pub collector_urls: &'a [String],
    /// Timeout of one upload.
    pub timeout: Duration,
    /// TLS files.
    pub tls: &'a TlsPaths,
    /// Collection interval: an idle connection is kept for two of them.
    pub interval: Duration,
}

/// Full URL of the ingest endpoint of the collector at `collector_url`.
pub fn ingest_url(collector_url: &str) -> String {
    format!("{collector_url}{}", zerofault_protocol::INGEST_PATH)
}

/// Checks a collector URL: `https://host[:port][/prefix]`, no query or fragment. Returns it
/// without a trailing slash.
pub fn check_collector_url(url: &str) -> Result<String, String> {
    if url.is_empty() {
        return Err(
            "is required; set the collector's ingest URL, e.g. https://collector.example:7443"
                .into(),
        );
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        format!("{url:?} is not a valid URL ({e}); write e.g. https://collector.example:7443")
    })?;
    if parsed.scheme() != "https" {
        return Err(format!(
            "{url:?} uses {}://; reports are only sent over mutual TLS, use https://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{url:?} has no host; write e.g. https://collector.example:7443"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "{url:?} has a query or fragment; give only https://host:port"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(format!(
            "{url:?} contains credentials; the agent authenticates with its certificate, remove them"
        ));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl CollectorSection {
    /// Checks the URL(s) and the timeout: `(urls without a trailing slash, timeout)`.
    pub fn check(&self, checks: &mut Checks) -> (Vec<String>, Duration) {
        let urls = if self.urls.is_empty() {
            match check_collector_url(self.url.trim()) {
                Ok(u) => vec![u],
                Err(message) => {
                    checks.push("collector.url", message);
                    Vec::new()
                }
            }
        } else {
            self.check_urls(checks)
        };
        let timeout = checks.duration("collector.timeout", &self.timeout, MIN_TIMEOUT, MAX_TIMEOUT);
        (urls, timeout)
    }

    /// Checks `urls`: each one as `url`, at most [`MAX_URLS`], none twice, and `url` unset.
    fn check_urls(&self, checks: &mut Checks) -> Vec<String> {
        if !self.url.trim().is_empty() {
            checks.push(
                "collector.url",
                "is set together with collector.urls; keep one: urls (a list) for several \
                 collectors, url for one",
            );
        }
        if self.urls.len() > MAX_URLS {
            checks.push(
                "collector.urls",
                format!(
                    "lists {} URLs, more than {MAX_URLS}; list the collectors of this agent's \
                     deployment, or put a load balancer in front and give its URL",
                    self.urls.len()
                ),
            );
            return Vec::new();
        }
        let mut urls: Vec<String> = Vec::with_capacity(self.urls.len());
        for (i, url) in self.urls.iter().enumerate() {
            match check_collector_url(url.trim()) {
                Ok(u) if urls.contains(&u) => checks.push(
                    "collector.urls",
                    format!(
                        "entry {}: {u:?} is listed twice; list each collector once",
                        i + 1
                    ),
                ),
                Ok(u) => urls.push(u),
                Err(message) => {
                    checks.push("collector.urls", format!("entry {}: {message}", i + 1));
                }
            }
        }
        urls
    }
}

impl TlsSection {
    /// `tls.renew_before`, checked.
    pub fn renew_before(&self, checks: &mut Checks) -> Duration {
        checks.duration(
            "tls.renew_before",
            &self.renew_before,
            Duration::from_secs(1),
            MAX_RENEW_BEFORE,
        )
    }

    /// Resolves the three paths and (when files are checked) loads them, builds the client
    /// configuration and compares the certificate's name with the agent `id`.
    pub fn check(&self, checks: &mut Checks, id: &str) -> TlsPaths {
        let mut tls_ok = true;
        for (key, p) in [
            ("tls.ca", &self.ca),
            ("tls.cert", &self.cert),
            ("tls.key", &self.key),
        ] {
            if p.as_os_str().is_empty() {
                tls_ok = false;
                checks.push(key, "is required; give the path of a PEM file");
            }
        }
        let tls = TlsPaths {
            ca: checks.resolve(&self.ca),
            cert: checks.resolve(&self.cert),
            key: checks.resolve(&self.key),
        };
        if tls_ok && checks.files() {
            check_files(checks, &tls, id);
        }
        tls
    }
}

/// Opens the TLS files; every unusable file is named.
fn check_files(checks: &mut Checks, tls: &TlsPaths, id: &str) {
    // Each file on its own first, so one run names every broken file.
    let errors: Vec<TlsError> = [
        load_certs("tls.ca", &tls.ca).err(),
        load_certs("tls.cert", &tls.cert).err(),
        load_key("tls.key", &tls.key).err(),
    ]
    .into_iter()
    .flatten()
    .map(TlsError::from)
    .collect();
    let errors = if errors.is_empty() {
        client_config(tls).err().into_iter().collect()
    } else {
        errors
    };
    // The collector refuses (403) every report whose agent id is not the client
    // certificate's name; catch that here rather than after deployment.
    if errors.is_empty()
        && let Ok(chain) = load_certs("tls.cert", &tls.cert)
        && let Some(leaf) = chain.first()
    {
        match zerofault_common::certificate_common_name(leaf.as_ref()) {
            Some(cn) if cn == id => {}
            Some(cn) => checks.push(
                "tls.cert",
                format!(
                    "{} was issued to {cn:?} but agent.id is {id:?}; the collector \
                     would refuse every report (403). Set agent.id: {cn} or issue a \
                     certificate for {id} (zerofault-collector certs --agent {id})",
                    tls.cert.display()
                ),
            ),
            None => checks.push(
                "tls.cert",
                format!(
                    "{} has no subject common name; the collector identifies agents by \
                     it. Issue one with zerofault-collector certs --agent {id}",
                    tls.cert.display()
                ),
            ),
        }
    }
    for e in errors {
        checks.push(e.key(), format!("{e}{}", missing_file_hint(&e, id)));
    }
}

/// For a TLS file that does not exist: where it comes from. Empty for any other error (a
/// file that exists but is wrong needs looking at, not replacing).
fn missing_file_hint(e: &TlsError, id: &str) -> String {
    let TlsError::Pem(PemError::Read { key, source, .. }) = e else {
        return String::new();
    };
    if source.kind() != std::io::ErrorKind::NotFound {
        return String::new();
    }
    let id = if id.is_empty() { "ID" } else { id };
    match *key {
        "tls.ca" => "; copy ca.pem from the collector host (`zerofault-collector certs` made \
                     it), or fix the path"
            .to_owned(),
        _ => format!(
            "; enroll this agent with a token from `zerofault-collector certs token --agent \
             {id}`: `zerofault-agent enroll --config FILE --token-file TOKENS` (the key is made \
             here), or issue its certificate on the collector host with `zerofault-collector \
             certs --dir DIR --agent {id}` and copy DIR/agents/{id}.pem and {id}.key here, or \
             fix the path"
        ),
    }
}
