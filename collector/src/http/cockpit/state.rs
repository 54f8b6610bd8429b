//! What every page handler shares: the state the pages read, the query, the page frame,
//! the present built from the live tables, and the rendering of a drill-down page.

use std::sync::Arc;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::detail::{Range, Section};
use super::settings::Cockpit;
use super::text::{Key, Lang};
use super::view::Frame;
use crate::inventory::Inventory;
use crate::live::hosts::{HostEntry, HostTable};
use crate::live::links::{Fault, LinkHub, LinkState};
use crate::live::now::{self, HostState, Now};
use crate::month::to_date::Latest;
use crate::store::Store;

/// The collector's version, naming the assets so that an upgrade is never served stale ones.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the pages read.
#[derive(Clone)]
pub struct CockpitState {
    /// Newest report per agent.
    pub hosts: Arc<HostTable>,
    /// Link engine.
    pub links: Arc<LinkHub>,
    /// The store: series, faults, collector runs, closed months.
    pub store: Arc<dyn Store>,
    /// The inventory (an empty one without a configured file).
    pub inventory: Arc<Inventory>,
    /// The month to date.
    pub month: Latest,
    /// `hosts.down_after_intervals`.
    pub down_after_intervals: u32,
    /// `cockpit.*`.
    pub settings: Cockpit,
    /// Closed months already read, for the month page.
    pub closed: ClosedMonths,
}

/// Closed months already read (month, closed time, manifest). A closed month never
/// changes, and its stored row holds the whole frozen report (megabytes at province size),
/// so each is read from the store once per process, one request at a time.
#[derive(Debug, Clone, Default)]
pub struct ClosedMonths {
    known: Arc<std::sync::Mutex<std::collections::BTreeMap<String, (i64, String)>>>,
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl ClosedMonths {
    /// `(month, closed_unix_ms, manifest)` of the closed ones among `months`, in order.
    pub async fn get(&self, store: &dyn Store, months: &[String]) -> Vec<(String, i64, String)> {
        let _one_at_a_time = self.loading.lock().await;
        let mut out = Vec::new();
        for m in months {
            let cached = self
                .known
                .lock()
                .expect("closed months lock")
                .get(m)
                .cloned();
            let found = match cached {
                Some(c) => Some(c),
                None => match store.closed_month(m.clone()).await {
                    Ok(Some(c)) => {
                        let entry = (c.closed_unix_ms, c.manifest);
                        self.known
                            .lock()
                            .expect("closed months lock")
                            .insert(m.clone(), entry.clone());
                        Some(entry)
                    }
                    Ok(None) => None,
                    Err(e) => {
                        tracing::warn!(error = %e, "cockpit: cannot read the closed months");
                        break;
                    }
                },
            };
            if let Some((closed, manifest)) = found {
                out.push((m.clone(), closed, manifest));
            }
        }
        out
    }
}

impl std::fmt::Debug for CockpitState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CockpitState").finish_non_exhaustive()
    }
}

/// The query every page takes. Unknown parameters are ignored: a bookmarked URL of an
/// older version keeps working.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// `zh-CN` or `en`.
    pub lang: Option<String>,
    /// `1` for wall-screen mode.
    pub kiosk: Option<String>,
    /// History range of the host and link pages.
    pub range: Option<String>,
}

/// A rendered page, or the template's error as a 500 (logged).
pub fn html(rendered: Result<String, askama::Error>, status: StatusCode) -> Response {
    match rendered {
        Ok(body) => (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot render a cockpit page");
            (StatusCode::INTERNAL_SERVER_ERROR, "cannot render the page").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "cockpit/page.html")]
pub struct DetailPage<'a> {
    f: &'a Frame,
    heading: String,
    /// State shown beside the heading: (text, class); empty text for none.
    badge: (String, String),
    /// (text, href, current) of the range switch; empty on pages without history.
    ranges: Vec<(String, String, bool)>,
    sections: Vec<Section>,
    version: &'static str,
}

pub fn frame(s: &CockpitState, q: &PageQuery, path: &str, title: String, now_ms: i64) -> Frame {
    let lang = Lang::pick(q.lang.as_deref(), &s.settings.lang);
    let inv = &s.inventory;
    let organisation = inv.organisation.as_ref().map_or_else(
        || "zerofault".to_owned(),
        |o| lang.name(&o.name_zh, &o.name_en, "zerofault").to_owned(),
    );
    Frame {
        lang,
        kiosk: q.kiosk.as_deref().is_some_and(|k| k == "1" || k == "true"),
        refresh_seconds: s.settings.refresh.as_secs(),
        path: path.to_owned(),
        organisation,
        as_of: crate::month::local_time(inv, now_ms),
        time_zone: inv.time_zone_name().to_owned(),
        title,
        extra_query: q
            .range
            .as_deref()
            .map(|r| format!("range={}", Range::parse(Some(r)).code()))
            .unwrap_or_default(),
    }
}

/// The present of `hosts` (the host table's snapshot, or one host's entry), from the live
/// link engine and the inventory.
pub fn present(s: &CockpitState, now_ms: i64, hosts: &[HostEntry]) -> (Now, Vec<Fault>) {
    now::live(
        hosts,
        &s.links,
        &s.inventory,
        now_ms,
        s.down_after_intervals,
        i64::try_from(s.settings.silent_after.as_millis()).unwrap_or(i64::MAX),
    )
}

pub fn state_text(lang: Lang, state: HostState) -> &'static str {
    lang.t(match state {
        HostState::Up => Key::Up,
        HostState::Down => Key::Down,
        HostState::Unreachable => Key::Unreachable,
        HostState::Silent => Key::Silent,
        HostState::Maintenance => Key::Maintenance,
    })
}

pub fn link_state_text(lang: Lang, state: Option<LinkState>) -> (&'static str, &'static str) {
    match state {
        Some(LinkState::Up) => (lang.t(Key::Up), "up"),
        Some(LinkState::Degraded) => (lang.t(Key::Degraded), "degraded"),
        Some(LinkState::Down) => (lang.t(Key::Down), "down"),
        None => (lang.t(Key::Unknown), "nodata"),
    }
}

pub fn detail_page(
    f: &Frame,
    heading: String,
    badge: (String, String),
    range: Option<Range>,
    sections: Vec<Section>,
    status: StatusCode,
) -> Response {
    let ranges = range
        .map(|current| {
            Range::ALL
                .iter()
                .map(|r| {
                    (
                        f.lang.t(r.key()).to_owned(),
                        format!("{}&range={}", f.href(&f.path), r.code()),
                        *r == current,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    html(
        DetailPage {
            f,
            heading,
            badge,
            ranges,
            sections,
            version: VERSION,
        }
        .render(),
        status,
    )
}

pub fn not_found(f: &mut Frame, what: &str) -> Response {
    f.title = f.lang.t(Key::NotFound).to_owned();
    let heading = format!("{}: {what}", f.lang.t(Key::NotFound));
    detail_page(
        f,
        heading,
        Default::default(),
        None,
        Vec::new(),
        StatusCode::NOT_FOUND,
    )
}
