//! The ingest router without TLS: the identity the listener would set is inserted directly.

use std::sync::Arc;
use zerofault_collector::series::hour::{KeyCoverage, SlotFigures};
use zerofault_collector::series::slot::{Merged, SeriesKey, SeriesSlot};
use zerofault_collector::store::adjustments::{Adjustment, NewAdjustment};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zerofault_collector::audit::chain::{Entry, HashAlg, Record};
use zerofault_collector::config::Links;
use zerofault_collector::live::hosts::{HostTable, IngestCounters, RejectReason};
use zerofault_collector::live::ingest::{self, ClientIdentity, IngestLimits, IngestState};
use zerofault_collector::live::links::{Fault, LinkHub};
use zerofault_collector::store::SecurityStore;
use zerofault_collector::store::security::{
    EnrollmentToken, Redeemed, Revocation, RevocationChange,
};
use zerofault_collector::store::{
    BoxFuture, ClosedMonth, InsertOutcome, ReplayCursor, ReplayPage, ReportKey, SqliteStore, Store,
    StoreError, StoredReport,
};
use zerofault_protocol::{
    CONTENT_TYPE, INGEST_PATH, LinkResult, LossRun, VERSION_HEADER, encode_report,
};
use zerofault_tests::report::{minimal_report as report, zstd_bomb};

const LIMITS: IngestLimits = IngestLimits {
    max_body_bytes: 4096,
    max_decompressed_bytes: 64 * 1024,
    body_timeout: std::time::Duration::from_secs(30),
    body_idle_timeout: std::time::Duration::from_secs(10),
    max_concurrent_decodes: 4,
    max_pending_bytes: 64 << 20,
    requests_per_agent_per_second: 100,
};

struct Fixture {
    _dir: tempfile::TempDir,
    state: IngestState,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
    Fixture {
        _dir: dir,
        state: IngestState {
            store: Arc::new(store),
            hosts: Arc::new(HostTable::default()),
            counters: Arc::new(IngestCounters::default()),
            links: Arc::new(LinkHub::new(Links::default())),
            limits: LIMITS,
            series: Default::default(),
            sinks: Default::default(),
            revocations: Default::default(),
            audit: None,
        },
    }
}

fn request(cn: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut req = Request::post(INGEST_PATH)
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .header(VERSION_HEADER, "1")
        .body(body.into())
        .unwrap();
    req.extensions_mut().insert(ClientIdentity {
        common_name: cn.map(str::to_owned),
        peer_addr: "192.0.2.7:40000".parse().unwrap(),
        not_before_unix: None,
    });
    req
}

async fn send(state: &IngestState, req: Request<Body>) -> (StatusCode, serde_json::Value) {
    let resp = ingest::router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn error(json: &serde_json::Value) -> &str {
    json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {json}"))
}

fn count(state: &IngestState, reason: RejectReason) -> u64 {
    state
        .counters
        .rejected_totals()
        .into_iter()
        .find(|(r, _)| *r == reason)
        .unwrap()
        .1
}

#[tokio::test]
async fn stores_once_and_acknowledges_replays() {
    let f = fixture().await;
    let body = encode_report(&report("web-01", 7));
    let (status, json) = send(&f.state, request(Some("web-01"), body.clone())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, serde_json::json!({"status": "stored"}));
    let (status, json) = send(&f.state, request(Some("web-01"), body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, serde_json::json!({"status": "duplicate"}));
    assert_eq!(f.state.store.count_reports().await.unwrap(), 1);
    let hosts = f.state.hosts.snapshot();
    assert_eq!(hosts.len(), 1);
    assert_eq!(*hosts[0].report, report("web-01", 7));
    // Liveness runs on the collector's clock, not the agent's.
    assert!(hosts[0].received_unix_ms > report("web-01", 7).timestamp_unix_ms);
}

#[tokio::test]
async fn missing_identity_is_401() {
    let f = fixture().await;
    let (status, json) = send(&f.state, request(None, encode_report(&report("a", 1)))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error(&json).contains("client certificate"));
    assert_eq!(count(&f.state, RejectReason::NoClientCertificate), 1);
}

#[tokio::test]
async fn header_checks() {
    let f = fixture().await;
    let body = || encode_report(&report("web-01", 1));

    let mut req = request(Some("web-01"), body());
    req.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    let (status, json) = send(&f.state, req).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(error(&json).contains(CONTENT_TYPE));

    // Parameters and case do not matter in a media type.
    let mut req = request(Some("web-01"), body());
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "Application/X-Zerofault-Report; charset=binary"
            .parse()
            .unwrap(),
    );
    assert_eq!(send(&f.state, req).await.0, StatusCode::OK);

    let mut req = request(Some("web-01"), body());
    req.headers_mut().remove(VERSION_HEADER);
    let (status, json) = send(&f.state, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&json).contains(VERSION_HEADER));

    let mut req = request(Some("web-01"), body());
    req.headers_mut()
        .insert(VERSION_HEADER, "2".parse().unwrap());
    let (status, json) = send(&f.state, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&json).contains("not supported"), "{json}");

    assert_eq!(count(&f.state, RejectReason::Malformed), 2);
    assert_eq!(count(&f.state, RejectReason::Invalid), 1);
}

#[tokio::test]
async fn size_caps() {
    let f = fixture().await;
    let big = vec![0u8; LIMITS.max_body_bytes + 1];

    // Declared too large: refused before reading.
    let mut req = request(Some("web-01"), big.clone());
    req.headers_mut()
        .insert(header::CONTENT_LENGTH, big.len().into());
    assert_eq!(send(&f.state, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);

    // No length declared (chunked): the cap holds while streaming.
    let streamed = Body::new(Chunks(big.chunks(1000).map(|c| c.to_vec()).collect()));
    let (status, json) = send(&f.state, request(Some("web-01"), streamed)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error(&json).contains("max_body_bytes"));

    let (status, json) = send(&f.state, request(Some("web-01"), zstd_bomb("web-01"))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error(&json).contains("max_decompressed_bytes"));
    assert_eq!(count(&f.state, RejectReason::TooLarge), 3);
    assert_eq!(f.state.store.count_reports().await.unwrap(), 0);
}

/// A body of several chunks with no declared length, as a chunked upload arrives.
struct Chunks(std::collections::VecDeque<Vec<u8>>);

impl hyper::body::Body for Chunks {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Ready(
            self.0
                .pop_front()
                .map(|c| Ok(hyper::body::Frame::data(c.into()))),
        )
    }
}

#[tokio::test]
async fn undecodable_and_invalid_bodies_are_400() {
    let f = fixture().await;
    let (status, json) = send(&f.state, request(Some("web-01"), &b"not zstd"[..])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&json).contains("zstd"), "{json}");

    // Valid zstd around bytes that are not a protobuf report.
    let body = zstd_raw_frame(&[0xff; 16]);
    let (status, json) = send(&f.state, request(Some("web-01"), body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&json).contains("protobuf"), "{json}");

    let mut r = report("web-01", 1);
    r.boot_id.clear();
    let (status, json) = send(&f.state, request(Some("web-01"), encode_report(&r))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&json).contains("boot_id"), "{json}");

    assert_eq!(count(&f.state, RejectReason::Malformed), 2);
    assert_eq!(count(&f.state, RejectReason::Invalid), 1);
    assert!(f.state.hosts.is_empty());
}

/// A zstd frame holding `raw` as one uncompressed block; written by hand because the
/// protocol crate only compresses protobuf reports.
fn zstd_raw_frame(raw: &[u8]) -> Vec<u8> {
    // Frame header: magic, descriptor with single-segment flag and 1-byte content size.
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd, 0x20, raw.len() as u8];
    // One last raw block: header = last(1) | type raw(0) << 1 | size << 3, little endian.
    let header = 1u32 | ((raw.len() as u32) << 3);
    out.extend_from_slice(&header.to_le_bytes()[..3]);
    out.extend_from_slice(raw);
    out
}

#[tokio::test]
async fn agent_id_must_match_the_certificate() {
    let f = fixture().await;
    let (status, json) = send(
        &f.state,
        request(Some("web-02"), encode_report(&report("web-01", 1))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(error(&json).contains("web-01") && error(&json).contains("web-02"));
    assert_eq!(count(&f.state, RejectReason::AgentIdMismatch), 1);
    assert_eq!(f.state.store.count_reports().await.unwrap(), 0);
}

#[tokio::test]
async fn a_revoked_identity_is_refused_without_saying_why() {
    let f = fixture().await;
    f.state
        .revocations
        .replace([("web-01".to_owned(), None)].into_iter().collect());
    let (status, json) = send(
        &f.state,
        request(Some("web-01"), encode_report(&report("web-01", 1))),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(error(&json), "forbidden");
    assert_eq!(count(&f.state, RejectReason::Revoked), 1);
    assert_eq!(f.state.store.count_reports().await.unwrap(), 0);
    // Lifted: accepted again on the same state, no restart.
    f.state.revocations.replace(Default::default());
    let (status, _) = send(
        &f.state,
        request(Some("web-01"), encode_report(&report("web-01", 1))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_agent_over_its_request_rate_is_told_to_retry_and_others_are_not() {
    let mut f = fixture().await;
    // 1 a second, 10 at once.
    f.state.limits.requests_per_agent_per_second = 1;
    let app = ingest::router(f.state.clone());
    let mut statuses = Vec::new();
    for seq in 1..=11 {
        let resp = app
            .clone()
            .oneshot(request(
                Some("web-01"),
                encode_report(&report("web-01", seq)),
            ))
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(resp.headers()[header::RETRY_AFTER], "1");
        }
        statuses.push(resp.status());
    }
    assert_eq!(statuses[..10], [StatusCode::OK; 10]);
    assert_eq!(statuses[10], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(count(&f.state, RejectReason::RateLimited), 1);
    let resp = app
        .clone()
        .oneshot(request(Some("db-01"), encode_report(&report("db-01", 1))))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(f.state.store.count_reports().await.unwrap(), 11);
}

/// A store whose disk is gone.
#[derive(Debug)]
struct BrokenStore;

/// BrokenStore's security tables are gone with its disk too.
impl SecurityStore for BrokenStore {
    fn append_audit(
        &self,
        _: Vec<Entry>,
        _: HashAlg,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn audit_page(&self, _: u64, _: usize) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn audit_head(&self) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn audit_head_row(&self) -> BoxFuture<'_, Result<Option<(u64, String)>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn retire_audit(
        &self,
        _: i64,
        _: usize,
        _: Entry,
        _: HashAlg,
    ) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn revocations(&self) -> BoxFuture<'_, Result<Vec<Revocation>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn set_revocation(
        &self,
        _: String,
        _: RevocationChange,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn add_tokens(&self, _: Vec<EnrollmentToken>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn redeem_token(
        &self,
        _: String,
        _: String,
        _: i64,
        _: String,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn add_adjustment(
        &self,
        _: NewAdjustment,
        _: Entry,
        _: HashAlg,
    ) -> BoxFuture<'_, Result<(Adjustment, Record), StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn withdraw_adjustment(
        &self,
        _: u64,
        _: String,
        _: Entry,
        _: HashAlg,
    ) -> BoxFuture<'_, Result<Option<(Adjustment, Record)>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn adjustments(&self, _: i64, _: i64) -> BoxFuture<'_, Result<Vec<Adjustment>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
}

impl Store for BrokenStore {
    fn insert(&self, _: StoredReport) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn newest_per_boot(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn reports_since(
        &self,
        _: i64,
        _: Option<ReplayCursor>,
        _: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn insert_faults(&self, _: Vec<Fault>) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn faults(&self, _: Option<String>) -> BoxFuture<'_, Result<Vec<Fault>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn boot_spans(
        &self,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::live::delivery::StoredSpan>, StoreError>>
    {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn start_run(&self, _: String, _: i64) -> BoxFuture<'_, Result<i64, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn heartbeat_run(&self, _: i64, _: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn stop_run(&self, _: i64, _: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn instance_runs(
        &self,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::store::InstanceRun>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn insert_listening(
        &self,
        _: Vec<zerofault_collector::store::ListeningPeriod>,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn listening_periods(
        &self,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::store::ListeningPeriod>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn scan_reports(
        &self,
        _: i64,
        _: Option<ReportKey>,
        _: usize,
        _: bool,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn scan_buckets(
        &self,
        _: i64,
        _: Option<zerofault_collector::rollup::BucketKey>,
        _: usize,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::rollup::StoredBucket>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn retire_reports(
        &self,
        _: i64,
        _: Option<zerofault_collector::store::ReplayCursor>,
        _: usize,
    ) -> BoxFuture<'_, Result<zerofault_collector::store::RetirePage, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn merge_buckets(
        &self,
        _: Vec<zerofault_collector::rollup::StoredBucket>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn delete_buckets(&self, _: i64, _: usize) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn reclaim(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn close_month(&self, _: ClosedMonth) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn closed_month(&self, _: String) -> BoxFuture<'_, Result<Option<ClosedMonth>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn backup(&self, _: std::path::PathBuf) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn try_lease(
        &self,
        _: String,
        _: String,
        _: i64,
        _: i64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn release_lease(&self, _: String, _: String) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn newest_keys_since(
        &self,
        _: i64,
        _: usize,
    ) -> BoxFuture<'_, Result<Vec<ReportKey>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn reports_by_key(
        &self,
        _: Vec<ReportKey>,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn reports_received(
        &self,
        _: i64,
        _: i64,
        _: Option<ReplayCursor>,
        _: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn merge_series(
        &self,
        _: Vec<(SeriesKey, SeriesSlot)>,
    ) -> BoxFuture<'_, Result<Merged, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn series_coverage(
        &self,
        _: Vec<SeriesKey>,
    ) -> BoxFuture<'_, Result<Vec<KeyCoverage>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn host_series(
        &self,
        _: String,
        _: i64,
        _: i64,
        _: usize,
    ) -> BoxFuture<'_, Result<Vec<SlotFigures>, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn link_series(
        &self,
        _: String,
        _: i64,
        _: i64,
        _: usize,
    ) -> BoxFuture<'_, Result<zerofault_collector::store::LinkSeries, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn delete_series(&self, _: i64, _: usize) -> BoxFuture<'_, Result<usize, StoreError>> {
        Box::pin(async { Err(StoreError::Closed) })
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A store that holds every insert after its commit until released, as a slow answer does
/// while the client gives up.
#[derive(Debug)]
struct GatedStore {
    inner: SqliteStore,
    committed: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

/// GatedStore holds reports only; the security tables are the inner store's.
impl SecurityStore for GatedStore {
    fn append_audit(
        &self,
        e: Vec<Entry>,
        a: HashAlg,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        self.inner.append_audit(e, a)
    }
    fn audit_page(
        &self,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<Record>, StoreError>> {
        self.inner.audit_page(after, limit)
    }
    fn audit_head(&self) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        self.inner.audit_head()
    }
    fn audit_head_row(&self) -> BoxFuture<'_, Result<Option<(u64, String)>, StoreError>> {
        self.inner.audit_head_row()
    }
    fn retire_audit(
        &self,
        b: i64,
        l: usize,
        n: Entry,
        a: HashAlg,
    ) -> BoxFuture<'_, Result<Option<Record>, StoreError>> {
        self.inner.retire_audit(b, l, n, a)
    }
    fn revocations(&self) -> BoxFuture<'_, Result<Vec<Revocation>, StoreError>> {
        self.inner.revocations()
    }
    fn set_revocation(
        &self,
        id: String,
        r: RevocationChange,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.inner.set_revocation(id, r)
    }
    fn add_tokens(&self, t: Vec<EnrollmentToken>) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.add_tokens(t)
    }
    fn redeem_token(
        &self,
        h: String,
        id: String,
        now: i64,
        by: String,
    ) -> BoxFuture<'_, Result<Redeemed, StoreError>> {
        self.inner.redeem_token(h, id, now, by)
    }
    fn add_adjustment(
        &self,
        n: NewAdjustment,
        e: Entry,
        a: HashAlg,
    ) -> BoxFuture<'_, Result<(Adjustment, Record), StoreError>> {
        self.inner.add_adjustment(n, e, a)
    }
    fn withdraw_adjustment(
        &self,
        id: u64,
        r: String,
        e: Entry,
        a: HashAlg,
    ) -> BoxFuture<'_, Result<Option<(Adjustment, Record)>, StoreError>> {
        self.inner.withdraw_adjustment(id, r, e, a)
    }
    fn adjustments(&self, f: i64, t: i64) -> BoxFuture<'_, Result<Vec<Adjustment>, StoreError>> {
        self.inner.adjustments(f, t)
    }
}

impl Store for GatedStore {
    fn insert(&self, r: StoredReport) -> BoxFuture<'_, Result<InsertOutcome, StoreError>> {
        Box::pin(async move {
            let outcome = self.inner.insert(r).await;
            self.committed.notify_one();
            self.release.notified().await;
            outcome
        })
    }
    fn newest_per_boot(&self) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.inner.newest_per_boot()
    }
    fn count_reports(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.count_reports()
    }
    fn reports_since(
        &self,
        since_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        self.inner.reports_since(since_ms, after, limit)
    }
    fn insert_faults(&self, faults: Vec<Fault>) -> BoxFuture<'_, Result<usize, StoreError>> {
        self.inner.insert_faults(faults)
    }
    fn faults(&self, link: Option<String>) -> BoxFuture<'_, Result<Vec<Fault>, StoreError>> {
        self.inner.faults(link)
    }
    fn boot_spans(
        &self,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::live::delivery::StoredSpan>, StoreError>>
    {
        self.inner.boot_spans()
    }
    fn start_run(&self, instance: String, now: i64) -> BoxFuture<'_, Result<i64, StoreError>> {
        self.inner.start_run(instance, now)
    }
    fn heartbeat_run(&self, id: i64, now: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.heartbeat_run(id, now)
    }
    fn stop_run(&self, id: i64, now: i64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.stop_run(id, now)
    }
    fn instance_runs(
        &self,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::store::InstanceRun>, StoreError>> {
        self.inner.instance_runs()
    }
    fn insert_listening(
        &self,
        periods: Vec<zerofault_collector::store::ListeningPeriod>,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        self.inner.insert_listening(periods)
    }
    fn listening_periods(
        &self,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::store::ListeningPeriod>, StoreError>> {
        self.inner.listening_periods()
    }
    fn scan_reports(
        &self,
        since_ms: i64,
        after: Option<ReportKey>,
        limit: usize,
        link_only: bool,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.inner.scan_reports(since_ms, after, limit, link_only)
    }
    fn scan_buckets(
        &self,
        since_ms: i64,
        after: Option<zerofault_collector::rollup::BucketKey>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<zerofault_collector::rollup::StoredBucket>, StoreError>> {
        self.inner.scan_buckets(since_ms, after, limit)
    }
    fn retire_reports(
        &self,
        before_ms: i64,
        after: Option<zerofault_collector::store::ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<zerofault_collector::store::RetirePage, StoreError>> {
        self.inner.retire_reports(before_ms, after, limit)
    }
    fn merge_buckets(
        &self,
        buckets: Vec<zerofault_collector::rollup::StoredBucket>,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.merge_buckets(buckets)
    }
    fn delete_buckets(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        self.inner.delete_buckets(before_ms, limit)
    }
    fn reclaim(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.reclaim()
    }
    fn close_month(&self, m: ClosedMonth) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.inner.close_month(m)
    }
    fn closed_month(&self, m: String) -> BoxFuture<'_, Result<Option<ClosedMonth>, StoreError>> {
        self.inner.closed_month(m)
    }
    fn backup(&self, path: std::path::PathBuf) -> BoxFuture<'_, Result<u64, StoreError>> {
        self.inner.backup(path)
    }
    fn try_lease(
        &self,
        name: String,
        holder: String,
        ttl_ms: i64,
        now: i64,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        self.inner.try_lease(name, holder, ttl_ms, now)
    }
    fn release_lease(&self, name: String, holder: String) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.release_lease(name, holder)
    }
    fn newest_keys_since(
        &self,
        since_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<ReportKey>, StoreError>> {
        self.inner.newest_keys_since(since_ms, limit)
    }
    fn reports_by_key(
        &self,
        keys: Vec<ReportKey>,
    ) -> BoxFuture<'_, Result<Vec<StoredReport>, StoreError>> {
        self.inner.reports_by_key(keys)
    }
    fn reports_received(
        &self,
        from_ms: i64,
        to_ms: i64,
        after: Option<ReplayCursor>,
        limit: usize,
    ) -> BoxFuture<'_, Result<ReplayPage, StoreError>> {
        self.inner.reports_received(from_ms, to_ms, after, limit)
    }
    fn merge_series(
        &self,
        slots: Vec<(SeriesKey, SeriesSlot)>,
    ) -> BoxFuture<'_, Result<Merged, StoreError>> {
        self.inner.merge_series(slots)
    }
    fn series_coverage(
        &self,
        keys: Vec<SeriesKey>,
    ) -> BoxFuture<'_, Result<Vec<KeyCoverage>, StoreError>> {
        self.inner.series_coverage(keys)
    }
    fn host_series(
        &self,
        agent: String,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<SlotFigures>, StoreError>> {
        self.inner.host_series(agent, from_ms, to_ms, limit)
    }
    fn link_series(
        &self,
        link: String,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<zerofault_collector::store::LinkSeries, StoreError>> {
        self.inner.link_series(link, from_ms, to_ms, limit)
    }
    fn delete_series(
        &self,
        before_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, Result<usize, StoreError>> {
        self.inner.delete_series(before_ms, limit)
    }
    fn close(&self) -> BoxFuture<'_, ()> {
        self.inner.close()
    }
}

#[tokio::test]
async fn a_committed_report_is_counted_even_when_the_client_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(GatedStore {
        inner: SqliteStore::open(&dir.path().join("z.db")).await.unwrap(),
        committed: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let mut f = fixture().await;
    f.state.store = store.clone();
    let answer = ingest::router(f.state.clone())
        .oneshot(request(Some("web-01"), encode_report(&report("web-01", 7))));
    tokio::select! {
        _ = answer => panic!("answered before the insert was released"),
        _ = store.committed.notified() => {}
    }
    // The request future is gone (hyper drops it when the connection closes); the report is
    // committed, so the figures must count it anyway.
    store.release.notify_one();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while f.state.hosts.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the host table never saw the committed report"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(store.count_reports().await.unwrap(), 1);
    assert_eq!(f.state.hosts.snapshot()[0].report.sequence, 7);
    let delivery = f.state.hosts.ledger().get("web-01").unwrap();
    assert_eq!((delivery.reports_stored, delivery.sequence_gaps), (1, 0));
    assert_eq!(f.state.counters.accepted_total(), 1);
}

#[tokio::test]
async fn storage_failure_is_503_and_not_acknowledged() {
    let mut f = fixture().await;
    f.state.store = Arc::new(BrokenStore);
    let (status, json) = send(
        &f.state,
        request(Some("web-01"), encode_report(&report("web-01", 1))),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error(&json).contains("retry"));
    assert_eq!(count(&f.state, RejectReason::Storage), 1);
    assert_eq!(f.state.counters.accepted_total(), 0);
    // Nothing stored, so the host must not look up.
    assert!(f.state.hosts.is_empty());
}

/// A 30 s window of link `pc-1` (1 probe/s) starting `start_s` after 2026-01-01, with the
/// probes `lost` (a range of probe indexes) lost.
fn window(start_s: i64, lost: std::ops::Range<i64>) -> LinkResult {
    let t0 = 1_767_225_600_000 + start_s * 1000;
    let n = lost.end - lost.start;
    let runs = if n == 0 {
        vec![]
    } else {
        vec![LossRun {
            first_lost_unix_ms: t0 + lost.start * 1000,
            last_lost_unix_ms: t0 + (lost.end - 1) * 1000,
            count: n as u32,
            open_start: lost.start == 0,
            open_end: lost.end == 30,
        }]
    };
    LinkResult {
        link_id: "pc-1".into(),
        kind: "icmp".into(),
        target: "198.18.0.2".into(),
        level: "province-city".into(),
        domain: "administrative".into(),
        window_start_unix_ms: t0,
        window_end_unix_ms: t0 + 30_000,
        probe_interval_ms: 1000,
        sent: 30,
        received: 30 - n as u32,
        loss_ratio: n as f64 / 30.0,
        loss_runs: runs,
        first_probe_unix_ms: t0,
        last_probe_unix_ms: t0 + 29_000,
        ..Default::default()
    }
}

#[tokio::test]
async fn stored_reports_feed_the_link_engine_and_closed_faults_are_stored_once() {
    let f = fixture().await;
    // Down [20 s, 110 s): a 90 s fault, final one window after the recovery.
    let windows = [
        window(0, 20..30),
        window(30, 0..30),
        window(60, 0..30),
        window(90, 0..20),
        window(120, 0..0),
        window(150, 0..0),
    ];
    let mut reports = Vec::new();
    for (i, w) in windows.into_iter().enumerate() {
        let mut r = report("web-01", i as u64 + 1);
        r.links = vec![w];
        let (status, json) = send(&f.state, request(Some("web-01"), encode_report(&r))).await;
        assert_eq!(
            (status, json["status"].as_str()),
            (StatusCode::OK, Some("stored"))
        );
        reports.push(r);
    }
    let stored = f.state.store.faults(None).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (
            stored[0].start_unix_ms,
            stored[0].end_unix_ms,
            stored[0].duration_ms
        ),
        (1_767_225_620_000, Some(1_767_225_710_000), 90_000)
    );
    let live = f.state.links.links();
    assert_eq!(live[0].vantages[0].probes_sent_total, 180);

    // A replayed report is a duplicate: nothing is fed twice.
    let (_, json) = send(
        &f.state,
        request(Some("web-01"), encode_report(&reports[2])),
    )
    .await;
    assert_eq!(json["status"], "duplicate");
    assert_eq!(f.state.links.links(), live);

    // A restart rebuilds the same engine from the store and finds nothing new to store.
    let rebuilt = LinkHub::new(Links::default());
    let stats = zerofault_collector::cmd::serve::replay(f.state.store.as_ref(), &rebuilt, 0)
        .await
        .unwrap();
    assert_eq!((stats.reports, stats.windows, stats.new_faults), (6, 6, 0));
    assert_eq!(rebuilt.links(), live);
    assert_eq!(f.state.store.faults(None).await.unwrap(), stored);
}

/// Issue 11: a 747-byte body that decompresses to millions of empty `links` entries is
/// refused from the wire bytes, before prost builds them (it used to cost 1.2 GB).
#[tokio::test]
async fn an_amplification_body_is_refused_before_decoding() {
    let f = fixture().await;
    // Tag 15 (links), length 0: 2 bytes on the wire per empty LinkResult.
    let entries = 30_000;
    let raw: Vec<u8> = std::iter::repeat_n([0x7a, 0x00], entries)
        .flatten()
        .collect();
    let body = zstd::bulk::compress(&raw, 19).unwrap();
    assert!(body.len() < 200, "{}", body.len());
    let (status, json) = send(&f.state, request(Some("web-01"), body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&json),
        "field `links` has 4097 entries, the limit is 4096"
    );
    assert_eq!(count(&f.state, RejectReason::Invalid), 1);
}

/// Issue 11: the store keeps sequences as signed 64-bit; 2^64-1 used to be stored as -1.
#[tokio::test]
async fn a_sequence_above_the_stores_range_is_refused() {
    let f = fixture().await;
    // The fixture's report derives its timestamp from the sequence; set the sequence after.
    let with_sequence = |sequence| {
        let mut r = report("web-01", 1);
        r.sequence = sequence;
        encode_report(&r)
    };
    let (status, json) = send(&f.state, request(Some("web-01"), with_sequence(u64::MAX))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error(&json).contains("`sequence`"), "{json}");
    let max = i64::MAX as u64;
    let (status, _) = send(&f.state, request(Some("web-01"), with_sequence(max))).await;
    assert_eq!(status, StatusCode::OK);
    let stored = f.state.store.newest_per_boot().await.unwrap();
    assert_eq!(stored[0].sequence, max);
}

/// Issue 11: fields this protocol version does not define are not stored (a 7 MiB unknown
/// field used to make a 7 MiB row).
#[tokio::test]
async fn unknown_fields_are_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
    let state = IngestState {
        store: Arc::new(store),
        hosts: Arc::new(HostTable::default()),
        counters: Arc::new(IngestCounters::default()),
        links: Arc::new(LinkHub::new(Links::default())),
        limits: IngestLimits {
            max_body_bytes: 1 << 20,
            max_decompressed_bytes: 8 << 20,
            ..LIMITS
        },
        series: Default::default(),
        sinks: Default::default(),
        revocations: Default::default(),
        audit: None,
    };
    let mut raw = prost::Message::encode_to_vec(&report("web-01", 3));
    let known = raw.len();
    // Field 100, length-delimited, 7 MiB of zeroes.
    let n: usize = 7 << 20;
    raw.extend_from_slice(&[0xa2, 0x06]);
    let mut len = n as u64;
    while len >= 0x80 {
        raw.push((len as u8) | 0x80);
        len >>= 7;
    }
    raw.push(len as u8);
    raw.resize(raw.len() + n, 0);
    let body = zstd::bulk::compress(&raw, 3).unwrap();
    let (status, _) = send(&state, request(Some("web-01"), body)).await;
    assert_eq!(status, StatusCode::OK);
    let stored = state.store.newest_per_boot().await.unwrap();
    assert_eq!(stored[0].body.len(), known);
    assert_eq!(
        <zerofault_protocol::Report as prost::Message>::decode(stored[0].body.as_slice()).unwrap(),
        report("web-01", 3)
    );
}

/// Issue 11: a body that stops arriving is answered 408 within `body_idle_timeout`, and a
/// slow trickle within `body_timeout`, instead of holding the connection forever.
#[tokio::test]
async fn a_stalled_body_times_out() {
    let mut f = fixture().await;
    f.state.limits.body_idle_timeout = std::time::Duration::from_millis(200);
    f.state.limits.body_timeout = std::time::Duration::from_millis(700);
    let started = std::time::Instant::now();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    // The start of a zstd frame, then nothing.
    tx.send(b"(\xb5/\xfd".to_vec()).await.unwrap();
    let stalled = Body::new(Channel(rx));
    let (status, json) = send(&f.state, request(Some("web-01"), stalled)).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(error(&json).contains("body_idle_timeout"), "{json}");
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    drop(tx);

    // A trickle: a byte every 100 ms never stalls, but the whole body takes too long.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if tx.send(b"x".to_vec()).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let (status, json) = send(&f.state, request(Some("web-01"), Body::new(Channel(rx)))).await;
    assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
    assert!(error(&json).contains("body_timeout"), "{json}");
    trickle.abort();
    assert_eq!(count(&f.state, RejectReason::Timeout), 2);
}

/// A body whose chunks arrive when the test sends them: a client that stalls mid-body.
struct Channel(tokio::sync::mpsc::Receiver<Vec<u8>>);

impl hyper::body::Body for Channel {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|c| c.map(|c| Ok(hyper::body::Frame::data(c.into()))))
    }
}
