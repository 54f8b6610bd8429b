//! `GET /`: the overview handler.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::overview::{self, Overview};
use super::state::{CockpitState, PageQuery, VERSION, frame, html, present};
use super::text::Key;
use super::topology;
use super::view::Frame;
use crate::live::links::Fault;

#[derive(Template)]
#[template(path = "cockpit/overview.html")]
struct OverviewPage<'a> {
    f: &'a Frame,
    o: &'a Overview,
    version: &'static str,
}

/// `GET /`.
pub async fn overview(State(s): State<Arc<CockpitState>>, Query(q): Query<PageQuery>) -> Response {
    let now_ms = zerofault_common::now_unix_ms();
    let (now, faults) = present(&s, now_ms, &s.hosts.snapshot());
    let f = frame(&s, &q, "/", String::new(), now_ms);
    let mut closed: Vec<Fault> = faults
        .into_iter()
        .filter(|f| f.end_unix_ms.is_some())
        .collect();
    closed.sort_by_key(|f| std::cmp::Reverse(f.end_unix_ms));
    let runs = s.store.collector_runs().await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cockpit: cannot read the collector runs");
        Vec::new()
    });
    let month = s.month.get();
    let topology = topology::svg(&s.inventory, &now.links, f.lang);
    let href = |p: &str| f.href(p);
    let o = overview::build(
        &now,
        &overview::Sources {
            inventory: &s.inventory,
            lang: f.lang,
            month: month.as_deref().map(|m| (&m.report, m.computed_unix_ms)),
            closed_faults: &closed,
            runs: &runs,
            now_ms,
            topology: &topology,
            href: &href,
        },
    );
    html(
        OverviewPage {
            f: &f,
            o: &o,
            version: VERSION,
        }
        .render(),
        StatusCode::OK,
    )
}
