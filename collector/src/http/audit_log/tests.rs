use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::audit::chain::{Entry, HashAlg, Record};
use crate::http::access::{Access, Gate, MIN_ITERATIONS, PasswordHash, Role, User};
use crate::store::SqliteStore;

const AUDITOR: &str = "Basic YXVkaXRvcjpzM2NyZXQ="; // auditor:s3cret
const OPS: &str = "Basic b3BzOnMzY3JldA=="; // ops:s3cret

fn entry(at_ms: i64) -> Entry {
    Entry {
        at_ms,
        instance: "c1".into(),
        actor: "operator:li".into(),
        source: "local".into(),
        event: "cert.revoke".into(),
        outcome: "success".into(),
        details: "{}".into(),
    }
}

/// The audit route behind a gate with `users` (none: an open listener), over a store
/// holding three records.
async fn app(dir: &tempfile::TempDir, users: &[(&str, Role)]) -> (Router, Arc<dyn Store>) {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    store
        .append_audit((1..=3).map(entry).collect(), HashAlg::Sha256)
        .await
        .unwrap();
    let audit = Audit::new(store.clone(), &Default::default(), "c1").unwrap();
    let hash = PasswordHash::new("s3cret", MIN_ITERATIONS).to_string();
    let gate = Arc::new(Gate::new(Access {
        tls: None,
        users: users
            .iter()
            .map(|(name, role)| User {
                name: (*name).into(),
                password_hash: hash.clone(),
                role: *role,
            })
            .collect(),
        // Even a public wildcard does not open the audit log.
        public: vec!["/api/*".into()],
    }));
    let app = router(store.clone(), audit);
    let app = if gate.enabled() {
        app.layer(axum::middleware::from_fn_with_state(
            gate,
            crate::http::access::middleware,
        ))
    } else {
        app
    };
    (app, store)
}

async fn get(app: &Router, uri: &str, auth: Option<&str>) -> (StatusCode, String, Option<String>) {
    let mut req = Request::get(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let next = resp
        .headers()
        .get(NEXT_HEADER)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap(), next)
}

#[tokio::test]
async fn only_the_audit_role_reads_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let (app, store) = app(&dir, &[("auditor", Role::Audit), ("ops", Role::Viewer)]).await;

    let (status, body, next) = get(&app, "/api/v1/audit?after=1&limit=1", Some(AUDITOR)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines: Vec<Record> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.iter().map(|r| r.seq).collect::<Vec<_>>(), [2]);
    assert_eq!(next.as_deref(), Some("2"), "a full page names the next");
    // The read is on record, by whom and of what.
    let head = store.audit_head().await.unwrap().unwrap();
    assert_eq!((head.seq, head.entry.event.as_str()), (4, "audit.read"));
    assert_eq!(head.entry.actor, "user:auditor");
    assert_eq!(head.entry.details, r#"{"after":1,"records":1}"#);
    // Record 3 and the read just recorded; not a full page.
    let (_, body, next) = get(&app, "/api/v1/audit?after=2", Some(AUDITOR)).await;
    assert_eq!((body.lines().count(), next), (2, None));

    // A viewer, no credentials, a bad query: refused.
    assert_eq!(
        get(&app, AUDIT_PATH, Some(OPS)).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&app, AUDIT_PATH, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body, _) = get(&app, "/api/v1/audit?after=-1", Some(AUDITOR)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _, _) = get(&app, "/api/v1/audit?drop=table", Some(AUDITOR)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = get(
        &app,
        "/api/v1/audit?after=9223372036854775808",
        Some(AUDITOR),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_open_listener_never_serves_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(&dir, &[]).await;
    let (status, body, _) = get(&app, AUDIT_PATH, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("users of role audit"), "{body}");
}
