//! The cockpit: the operations center's pages, served by the collector on its plain-HTTP
//! listener (`docs/cockpit.md`).
//!
//! * `/` the overview, one 1920x1080 screen ([`overview`]);
//! * `/host/{agent}`, `/link/{id}`, `/department/{code}`, `/datacenter/{code}`, `/month`,
//!   `/maintenance` the drill-down pages ([`host`], [`link`], [`groups`], arranged by
//!   [`detail`]);
//! * `/assets/cockpit.css`, `/assets/cockpit.js` the only assets, embedded in the binary.
//!
//! Server-rendered HTML (askama templates in `collector/templates/cockpit/`), charts as
//! inline SVG drawn on the server ([`chart`]), and one small script of our own that
//! refreshes a page's content in place (no full reload, so a wall screen's memory stays
//! flat); nothing is fetched from anywhere else and no web font is embedded: Chinese text
//! uses the system's fonts. Pages read only what is in memory (host table, link engine,
//! month to date) and the downsampled series; none reads report bodies.
//!
//! `?lang=en` or `?lang=zh-CN` (default `cockpit.lang`), `?kiosk=1` for a wall screen,
//! `?range=24h|7d|30d|month` on the host and link pages.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

mod chart;
mod detail;
mod groups;
mod home;
mod host;
mod link;
mod overview;
pub mod settings;
mod state;
mod text;
mod topology;
mod view;

pub use settings::Cockpit;
pub use state::{ClosedMonths, CockpitState, PageQuery};

/// The style sheet, embedded.
const CSS: &str = include_str!("../../../assets/cockpit/cockpit.css");
/// The refresh script, embedded.
const JS: &str = include_str!("../../../assets/cockpit/cockpit.js");

/// The cockpit's routes; an empty router when `cockpit.enabled` is false.
pub fn router(state: CockpitState) -> Router {
    if !state.settings.enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(home::overview))
        .route("/host/{agent}", get(host::host))
        .route("/link/{link}", get(link::link))
        .route("/department/{code}", get(groups::department))
        .route("/datacenter/{code}", get(groups::data_center))
        .route("/month", get(groups::month))
        .route("/maintenance", get(groups::maintenance))
        .route("/assets/cockpit.css", get(css))
        .route("/assets/cockpit.js", get(js))
        .with_state(Arc::new(state))
}

/// Assets may be cached for an hour: a new collector version changes them, and the pages
/// name them with the version (`?v=`), so a stale copy is never used after an upgrade.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

#[cfg(test)]
mod tests;
