//! `GET /metrics`: one scrape, bounded in memory, time and number.
//!
//! - **Detail**: `metrics.detail` (default `auto`: full up to `metrics.full_detail_max_hosts`
//!   known hosts, essential above), or `?detail=auto|full|essential` for one scrape; any
//!   other value is a 400, so a typo never silently gets the default.
//! - **gzip** when `Accept-Encoding` accepts it ([`accepts_gzip`]), with
//!   `Content-Encoding: gzip`; every answer carries `Vary: Accept-Encoding`.
//! - **Streamed**: the exposition is encoded on the blocking pool straight into the body,
//!   a chunk at a time ([`stream`]), so a scrape never holds the whole text.
//! - **At most `metrics.max_concurrent_scrapes` at once**: a further scrape is answered 503
//!   with `Retry-After` at once rather than queued. Queued scrapes would each hold a socket
//!   and, once started, a snapshot and its working set, and the scraper times out meanwhile
//!   anyway; Prometheus simply tries again at its next interval. 503 rather than 429: the
//!   cap is the collector's capacity, shared by every scraper, not one client's rate.
//! - **At most `metrics.scrape_timeout`** to send it; a scraper that reads slower is cut off.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::Semaphore;
use zerofault_common::now_unix_ms;

use super::accept_encoding::accepts_gzip;
use super::metrics::Scrape;
use super::metrics::settings::{DetailSetting, Metrics};
use super::metrics::stream::{self, Stopped};
use crate::live::hosts::{HostTable, IngestCounters};
use crate::live::links::LinkHub;

/// `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// What `/metrics` reads, its settings and its running scrapes.
#[derive(Debug)]
pub(crate) struct ScrapeState {
    pub(crate) hosts: Arc<HostTable>,
    pub(crate) counters: Arc<IngestCounters>,
    pub(crate) links: Arc<LinkHub>,
    pub(crate) slots: Arc<crate::live::slots::SlotCounters>,
    pub(crate) down_after_intervals: u32,
    pub(crate) settings: Metrics,
    /// One permit per scrape that may run at once.
    running: Arc<Semaphore>,
    /// Duration of the last finished scrape, ms: the `Retry-After` of a refused one.
    last_ms: AtomicU64,
}

impl ScrapeState {
    pub(crate) fn new(
        hosts: Arc<HostTable>,
        counters: Arc<IngestCounters>,
        links: Arc<LinkHub>,
        slots: Arc<crate::live::slots::SlotCounters>,
        down_after_intervals: u32,
        settings: Metrics,
    ) -> Self {
        Self {
            hosts,
            counters,
            links,
            slots,
            down_after_intervals,
            running: Arc::new(Semaphore::new(settings.max_concurrent_scrapes as usize)),
            settings,
            last_ms: AtomicU64::new(0),
        }
    }
}

/// The query of `/metrics`; other parameters (a scrape config's `params`) are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct ScrapeQuery {
    detail: Option<String>,
}

/// `GET /metrics`.
pub(crate) async fn metrics(
    State(state): State<Arc<ScrapeState>>,
    Query(query): Query<ScrapeQuery>,
    headers: HeaderMap,
) -> Response {
    let detail = match query.detail.as_deref() {
        None => state.settings.detail,
        Some(name) => match DetailSetting::parse(name) {
            Some(d) => d,
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    format!(
                        "detail must be one of {}; got {name:?}\n",
                        DetailSetting::NAMES.join(", ")
                    ),
                )
                    .into_response();
            }
        },
    };
    let Ok(permit) = state.running.clone().try_acquire_owned() else {
        let retry = state.last_ms.load(Ordering::Relaxed).div_ceil(1000).max(1);
        let mut resp = (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} scrapes are running (metrics.max_concurrent_scrapes); retry in {retry} s\n",
                state.settings.max_concurrent_scrapes
            ),
        )
            .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
        return resp;
    };
    let gzip = accepts_gzip(headers.get_all(header::ACCEPT_ENCODING));
    let started = tokio::time::Instant::now();
    let deadline = started + state.settings.scrape_timeout;
    let (mut writer, body) = stream::channel(deadline, gzip, tokio::runtime::Handle::current());
    let task_state = state.clone();
    // Copying the shared state and encoding take CPU in proportion to the hosts; on the
    // blocking pool they leave ingest and the other routes responsive. The permit goes with
    // the task: a scraper that hangs up frees it only when the encoder has stopped.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let s = &task_state;
        let scrape = Scrape::take(
            crate::http::metrics::Live {
                hosts: &s.hosts,
                counters: &s.counters,
                links: &s.links,
                slots: &s.slots,
            },
            s.down_after_intervals,
            detail,
            s.settings.full_detail_max_hosts,
            now_unix_ms(),
        );
        let detail = scrape.detail();
        let encoded = scrape.write(&mut writer);
        let outcome = writer.finish(encoded);
        let ms = started.elapsed().as_millis() as u64;
        s.last_ms.store(ms, Ordering::Relaxed);
        match outcome {
            Ok(bytes) => tracing::debug!(bytes, ms, gzip, detail = detail.as_str(), "scrape"),
            Err(Stopped::Gone) => tracing::debug!(ms, "the scraper hung up during a scrape"),
            Err(Stopped::Timeout) => tracing::warn!(
                ms,
                "a scrape was cut off at metrics.scrape_timeout: the scraper did not read it in time"
            ),
            Err(Stopped::Encoding) => tracing::error!(ms, "encoding /metrics failed"),
        }
    });
    let mut resp = Response::new(Body::new(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

#[cfg(test)]
mod tests;
