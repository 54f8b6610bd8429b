//! HTTP(S) GET probes.
//!
//! The RTT is the time to the response headers (time to first byte): name resolution, TCP
//! connect, TLS handshake and the server's answer. **No keep-alive**: every probe opens a new
//! connection (the client keeps no idle connections), as blackbox_exporter does, so each
//! probe measures the whole path a new user would take and a broken handshake or listener is
//! seen at once rather than hidden behind a pooled connection. The body is not read.
//!
//! Status: below 400 counts as received (redirects are not followed: a 3xx is an answer);
//! 400 and above counts as lost with kind `http_status`. The last status is reported.
//! Failures: TLS handshake -> `tls`, timeout -> `timeout`, refused/unreachable as for TCP.
//!
//! Trust: closed networks have no public roots, so HTTPS trusts only the probe's `ca` file
//! and the agent's own `tls.ca` (the probe presents no client certificate).

use std::error::Error as _;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::RootCertStore;
use tokio::time::Instant;
use zerofault_common::pem::load_certs;

use super::link::contract::{
    LinkProbe, LinkProbeError, ProbeContext, ProbeFuture, ProbeResult, ProbeSpec,
};
use super::link::kind::{ErrorKind, io_kind};
use super::link::target::Target;

/// Builds an HTTP probe: one client per target, reused for every probe (its TLS settings
/// and resolver), but with no connection kept between probes.
pub fn make(spec: &ProbeSpec, _ctx: &ProbeContext) -> Result<Arc<dyn LinkProbe>, LinkProbeError> {
    let Target::Http(url) = &spec.target else {
        return Err(LinkProbeError::WrongTarget(spec.target_text.clone()));
    };
    let tls = tls_config(&spec.trusted_cas)?;
    let client = reqwest::Client::builder()
        // Always set, even for http:// targets: the agent installs no process-wide rustls
        // provider, so reqwest must be handed one.
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(spec.timeout)
        .connect_timeout(spec.timeout)
        .user_agent(concat!(
            "zerofault-agent/",
            env!("CARGO_PKG_VERSION"),
            " (link probe)"
        ))
        .build()
        .map_err(|e| LinkProbeError::HttpClient(e.to_string()))?;
    Ok(Arc::new(HttpProbe {
        client,
        url: url.clone(),
    }))
}

/// Client TLS: the given CA files only, ring, no client certificate.
pub fn tls_config(cas: &[PathBuf]) -> Result<rustls::ClientConfig, LinkProbeError> {
    let mut roots = RootCertStore::empty();
    for path in cas {
        let certs = load_certs("ca", path).map_err(|e| LinkProbeError::Tls(e.to_string()))?;
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| LinkProbeError::Tls(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LinkProbeError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

struct HttpProbe {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl LinkProbe for HttpProbe {
    fn probe(&self, _seq: u16) -> ProbeFuture<'_> {
        Box::pin(async move {
            let start = Instant::now();
            match self.client.get(self.url.clone()).send().await {
                Ok(response) => {
                    let rtt = start.elapsed();
                    let status = response.status().as_u16();
                    drop(response);
                    let mut r = if status >= 400 {
                        ProbeResult::lost(ErrorKind::HttpStatus, format!("HTTP {status}"))
                    } else {
                        ProbeResult::ok(rtt)
                    };
                    r.http_status = status;
                    r
                }
                Err(e) => ProbeResult::lost(classify(&e), error_chain(&e)),
            }
        })
    }
}

/// The error kind of a failed request, from the error and its causes.
pub fn classify(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        return ErrorKind::Timeout;
    }
    e.source()
        .and_then(classify_cause)
        .unwrap_or(ErrorKind::Other)
}

fn classify_cause(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return Some(ErrorKind::Tls);
    }
    if let Some(io) = e.downcast_ref::<io::Error>() {
        // The connector wraps io::Errors in io::Errors (tokio-rustls reports a failed
        // handshake as one wrapping the rustls error), and io::Error::source() skips the
        // wrapped error, so look inside first.
        if let Some(kind) = io.get_ref().and_then(|inner| classify_cause(inner)) {
            return Some(kind);
        }
        let kind = io_kind(io);
        if kind != ErrorKind::Other {
            return Some(kind);
        }
    }
    e.source().and_then(classify_cause)
}

fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
