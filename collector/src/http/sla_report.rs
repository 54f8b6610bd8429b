//! `GET /api/v1/report`: the monthly SLA report over HTTP, the same files as
//! `zerofault-collector report` exports (documented in `docs/sla-operations.md`).
//!
//! `?month=YYYY-MM&format=json|csv|xlsx|html|pdf&lang=en|zh-CN[&table=NAME]`; defaults: the
//! previous month in the inventory's time zone, `json`, `zh-CN`. CSV is one file per table,
//! so `format=csv` needs `table` (`hosts`, `links`, ... as [`TableId::name`]); the other
//! formats hold every table and ignore it.
//!
//! The month is answered as the `report` command answers it ([`month::answer`]): computed
//! from what is stored now, or, for a closed month, its frozen figures, and the header
//! [`LATE_CORRECTIONS_HEADER`] counts the figures that data received since closing would
//! change (the `report` command lists them).
//!
//! Computing a month reads every report of it and runs the SLA engine: seconds of store
//! reads and CPU for a large estate. The whole computation and the rendering run on the
//! blocking pool, so `/metrics` and the other routes keep answering meanwhile, and only one
//! runs at a time: a request that arrives while another is being computed is answered at
//! once with `429 Too Many Requests` and `Retry-After` (the duration of the previous
//! computation), not queued, so that impatient clients retrying cannot pile up work.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::inventory::Inventory;
use crate::live::links::Links;
use crate::month::export::{self, Format, Lang, TableId};
use crate::month::to_date::Computations;
use crate::month::{self, MonthlyError, source};
use crate::store::Store;

/// Path of the monthly SLA report (a plain `report` in the path: renaming it would break
/// clients).
pub const REPORT_PATH: &str = "/api/v1/report";
/// Response header of a closed month: how many late corrections there are since closing.
pub const LATE_CORRECTIONS_HEADER: &str = "x-zerofault-late-corrections";
/// The query parameters, in the order error messages list them.
const PARAMETERS: [&str; 4] = ["month", "format", "lang", "table"];

/// What the SLA report route needs: the store, the inventory and the links settings
/// (link thresholds), as `zerofault-collector report` reads them.
#[derive(Debug, Clone)]
pub struct SlaReportState {
    store: Arc<dyn Store>,
    inventory: Arc<Inventory>,
    links: Arc<Links>,
    /// One computation at a time, shared with the month to date.
    computations: Computations,
    /// Duration of the last computation, ms (the `Retry-After` of a refused request).
    last_ms: Arc<AtomicU64>,
    /// Where downloads are recorded (`None`: not recorded).
    audit: Option<crate::audit::Audit>,
}

impl SlaReportState {
    /// The SLA report route's state. Without a configured inventory, pass
    /// `Inventory::default()` (the defaults, nothing declared), as the `report` command does.
    pub fn new(store: Arc<dyn Store>, inventory: Arc<Inventory>, links: Links) -> Self {
        SlaReportState {
            store,
            inventory,
            links: Arc::new(links),
            computations: Computations::default(),
            last_ms: Arc::new(AtomicU64::new(0)),
            audit: None,
        }
    }

    /// The state recording every report handed out (`report.download`) in `audit`.
    pub fn with_audit(mut self, audit: crate::audit::Audit) -> Self {
        self.audit = Some(audit);
        self
    }
}

impl SlaReportState {
    /// The one-at-a-time permit of month computations, for the month-to-date task to share.
    pub fn computations(&self) -> Computations {
        self.computations.clone()
    }
}

/// The SLA report route.
pub fn router(state: SlaReportState) -> Router {
    Router::new()
        .route(REPORT_PATH, get(sla_report))
        .with_state(state)
}

/// A request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Params {
    month: String,
    format: Format,
    lang: Lang,
    table: Option<TableId>,
}

/// An error answer: `{"error": message}` with `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

fn bad_request(message: String) -> Refusal {
    error(StatusCode::BAD_REQUEST, message)
}

fn error(status: StatusCode, message: String) -> Refusal {
    Refusal { status, message }
}

fn table_names() -> String {
    TableId::ALL
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Params {
    /// Checks the query; a refusal is a 400 naming the parameter and what it accepts.
    fn parse(
        pairs: &[(String, String)],
        inventory: &Inventory,
        now_ms: i64,
    ) -> Result<Params, Refusal> {
        let mut given: [Option<&str>; 4] = [None; 4];
        for (key, value) in pairs {
            let Some(i) = PARAMETERS.iter().position(|p| p == key) else {
                return Err(bad_request(format!(
                    "unknown parameter {key:?}; accepted: {}",
                    PARAMETERS.join(", ")
                )));
            };
            if given[i].replace(value).is_some() {
                return Err(bad_request(format!("parameter {key} is given twice")));
            }
        }
        let [month, format, lang, table] = given;
        let month = match month {
            Some(m) => {
                let bounds = inventory.month_bounds(m).map_err(|e| {
                    bad_request(format!(
                        "month: {e} (a calendar month in {}; default: the previous month)",
                        inventory.time_zone_name()
                    ))
                })?;
                // A month in progress is answered up to now; one that has not begun has
                // nothing to report.
                month::check_month_has_begun(inventory, m, bounds, now_ms)
                    .map_err(|e| bad_request(format!("month: {e}")))?;
                m.to_owned()
            }
            None => month::previous_month(inventory, now_ms),
        };
        let format = match format {
            Some(f) => f.parse::<Format>().map_err(|_| {
                bad_request(format!(
                    "format {f:?} is not accepted; use json, csv, xlsx, html or pdf"
                ))
            })?,
            None => Format::Json,
        };
        let lang = match lang {
            Some(l) => l
                .parse::<Lang>()
                .map_err(|_| bad_request(format!("lang {l:?} is not accepted; use en or zh-CN")))?,
            None => Lang::ZhCn,
        };
        let table = table
            .map(|t| {
                t.parse::<TableId>().map_err(|_| {
                    bad_request(format!(
                        "table {t:?} is not a table; use one of {}",
                        table_names()
                    ))
                })
            })
            .transpose()?;
        if format == Format::Csv && table.is_none() {
            return Err(bad_request(format!(
                "table is required with format=csv (one CSV file per table); use one of {}",
                table_names()
            )));
        }
        Ok(Params {
            month,
            format,
            lang,
            table,
        })
    }
}

/// The file answered: a rendered report and, for a closed month, its number of late
/// corrections.
struct Download {
    file: export::Rendered,
    format: Format,
    late_corrections: Option<usize>,
}

impl IntoResponse for Download {
    fn into_response(self) -> Response {
        // File names are ASCII letters, digits, `-` and `.` (see `export::render_files`).
        let disposition = match self.format {
            Format::Csv | Format::Xlsx => "attachment",
            Format::Json | Format::Html | Format::Pdf => "inline",
        };
        let disposition = format!("{disposition}; filename=\"{}\"", self.file.file_name);
        let mut resp = (
            [
                (header::CONTENT_TYPE, self.format.content_type().to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
                // Figures change as reports arrive, until the month is closed.
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            self.file.bytes,
        )
            .into_response();
        if let Some(n) = self.late_corrections {
            resp.headers_mut()
                .insert(LATE_CORRECTIONS_HEADER, HeaderValue::from(n));
        }
        resp
    }
}

fn failure(e: MonthlyError) -> Refusal {
    match e {
        MonthlyError::Source(source::SourceError::Store(e)) => {
            tracing::error!(error = %e, "report: cannot read the month from the store");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot read the month from the store; retry later".into(),
            )
        }
        // Checked before computing; kept for completeness (a month that began meanwhile
        // cannot turn into the future, but "now" is read twice).
        MonthlyError::Source(e @ source::SourceError::Month { .. })
        | MonthlyError::Source(
            e @ source::SourceError::Sla(
                crate::month::sla::SlaError::FutureMonth { .. }
                | crate::month::sla::SlaError::NoSlotYet { .. },
            ),
        ) => bad_request(format!("month: {e}")),
        e @ (MonthlyError::Sla(_)
        | MonthlyError::Source(source::SourceError::Sla(_))
        | MonthlyError::Frozen { .. }) => {
            tracing::error!(error = %e, "report: cannot compute the month");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// Computes (or reads the frozen) month and renders it.
async fn produce(state: &SlaReportState, p: &Params, now_ms: i64) -> Result<Download, Refusal> {
    let req = source::MonthRequest {
        month: p.month.clone(),
        lang: p.lang.tag().to_owned(),
        now_ms,
        closed: false,
        hosts: source::HostSource::Rollups,
    };
    // A closed month is answered with its frozen figures, as `report` exports it.
    let answer = month::answer(
        state.store.as_ref(),
        &state.inventory,
        &state.links,
        &req,
        &mut |_| {},
    )
    .await
    .map_err(failure)?;
    let late_corrections = answer.closed.as_ref().map(|c| c.late_corrections.len());
    let file = export::render_to_bytes(&answer.report, p.format, p.lang, p.table).map_err(|e| {
        tracing::error!(error = %e, month = %p.month, format = %p.format, "report: rendering failed");
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering {} failed: {e}", p.format),
        )
    })?;
    Ok(Download {
        file,
        format: p.format,
        late_corrections,
    })
}

async fn sla_report(
    State(state): State<SlaReportState>,
    extensions: axum::http::Extensions,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let user = extensions.get::<crate::http::access::HttpUser>().cloned();
    let peer = super::peer_addr(&extensions);
    let pairs = match query {
        Ok(Query(pairs)) => pairs,
        Err(e) => {
            return bad_request(format!("cannot read the query string: {e}")).into_response();
        }
    };
    let now_ms = zerofault_common::now_unix_ms();
    let params = match Params::parse(&pairs, &state.inventory, now_ms) {
        Ok(p) => p,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(permit) = state.computations.for_request().await else {
        let retry = state.last_ms.load(Ordering::Relaxed).div_ceil(1000).max(1);
        let mut resp = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!("another report is being computed (one at a time); retry in {retry} s"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry));
        return resp;
    };
    let runtime = tokio::runtime::Handle::current();
    let download = state.audit.clone().map(|audit| {
        (
            audit,
            params.month.clone(),
            params.format.to_string(),
            user.map(|u| u.0),
            peer.map_or_else(|| "-".to_owned(), |p| p.ip().to_string()),
        )
    });
    // The computation (store reads, the CPU-bound SLA engine) and the rendering run on the
    // blocking pool; the permit goes with them, so a client that hangs up does not let a
    // second computation start while the first still runs.
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let started = Instant::now();
        let answer = runtime.block_on(produce(&state, &params, now_ms));
        let elapsed = started.elapsed().as_millis();
        state.last_ms.store(
            u64::try_from(elapsed).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        tracing::info!(
            month = %params.month,
            format = %params.format,
            elapsed_ms = elapsed as u64,
            "report computed"
        );
        answer
    });
    match task.await {
        Ok(Ok(answer)) => {
            if let Some((audit, month, format, user, source)) = download {
                audit.record(crate::audit::events::report_downloaded(
                    user.as_deref(),
                    source,
                    &month,
                    &format,
                ));
            }
            answer.into_response()
        }
        Ok(Err(refusal)) => refusal.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "report: the computation task failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "computing the report failed; the collector log has the cause".into(),
            )
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::store::SqliteStore;

    /// 2026-03-15 12:00 UTC.
    const NOW: i64 = 1_773_576_000_000;

    fn parse(query: &[(&str, &str)]) -> Result<Params, String> {
        let pairs: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Params::parse(&pairs, &Inventory::default(), NOW).map_err(|refusal| {
            assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
            refusal.message
        })
    }

    #[test]
    fn defaults_and_refusals() {
        assert_eq!(
            parse(&[]).unwrap(),
            Params {
                month: "2026-02".into(),
                format: Format::Json,
                lang: Lang::ZhCn,
                table: None,
            }
        );
        assert_eq!(
            parse(&[("format", "csv"), ("table", "links"), ("lang", "en")]).unwrap(),
            Params {
                month: "2026-02".into(),
                format: Format::Csv,
                lang: Lang::En,
                table: Some(TableId::Links),
            }
        );
        let refused = |q: &[(&str, &str)], want: &[&str]| {
            let e = parse(q).unwrap_err();
            for w in want {
                assert!(e.contains(w), "{e:?} lacks {w:?}");
            }
        };
        refused(&[("month", "2026-13")], &["month", "YYYY-MM"]);
        refused(
            &[("format", "docx")],
            &["format", "json, csv, xlsx, html or pdf"],
        );
        assert_eq!(parse(&[("format", "pdf")]).unwrap().format, Format::Pdf);
        refused(&[("lang", "fr")], &["lang", "en or zh-CN"]);
        refused(&[("format", "csv")], &["table", "hosts"]);
        refused(&[("table", "nope")], &["table", "business_systems"]);
        refused(
            &[("fromat", "csv")],
            &["\"fromat\"", "month, format, lang, table"],
        );
        refused(&[("lang", "en"), ("lang", "zh-CN")], &["lang", "twice"]);
    }

    #[tokio::test]
    async fn a_second_computation_meanwhile_is_429_with_retry_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        let state = SlaReportState::new(
            Arc::new(store),
            Arc::new(Inventory::default()),
            Links::default(),
        );
        state.last_ms.store(2_500, Ordering::Relaxed);
        let held = state.computations.for_request().await.unwrap();
        let app = router(state);
        let get = || Request::get(REPORT_PATH).body(Body::empty()).unwrap();
        let resp = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "3");
        drop(held);
        let resp = app.oneshot(get()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    }

    /// The background month to date holds the permit: one request waits for it (it is
    /// bounded), a second one meanwhile is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_waits_for_the_background_computation_and_one_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
        let state = SlaReportState::new(
            Arc::new(store),
            Arc::new(Inventory::default()),
            Links::default(),
        );
        let background = state.computations.for_background().await.unwrap();
        let app = router(state);
        let get = || Request::get(REPORT_PATH).body(Body::empty()).unwrap();
        let waiting = tokio::spawn(app.clone().oneshot(get()));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !waiting.is_finished(),
            "it waits for the background computation"
        );
        let resp = app.clone().oneshot(get()).await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "only one waits"
        );
        drop(background);
        let resp = waiting.await.unwrap().unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
