use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use zerofault_protocol::{LinkResult, LossRun, Report};

use super::*;
use crate::live::links::Links;
use crate::store::SqliteStore;

const T0: i64 = 1_767_225_600_000;

/// A 30 s window of 30 probes: `lost` of them lost from probe `from` on.
fn window(link: &str, start_s: i64, from: i64, lost: u32) -> LinkResult {
    let start = T0 + start_s * 1000;
    let runs = if lost == 0 {
        vec![]
    } else {
        vec![LossRun {
            first_lost_unix_ms: start + from * 1000,
            last_lost_unix_ms: start + (from + i64::from(lost) - 1) * 1000,
            count: lost,
            open_start: from == 0,
            open_end: from + i64::from(lost) == 30,
        }]
    };
    LinkResult {
        link_id: link.into(),
        kind: "icmp".into(),
        target: "198.18.0.2".into(),
        level: "county-township".into(),
        domain: "public".into(),
        window_start_unix_ms: start,
        window_end_unix_ms: start + 30_000,
        probe_interval_ms: 1000,
        sent: 30,
        received: 30 - lost,
        loss_ratio: f64::from(lost) / 30.0,
        rtt_avg_seconds: if lost == 30 { 0.0 } else { 0.004 },
        loss_runs: runs,
        first_probe_unix_ms: start,
        last_probe_unix_ms: start + 29_000,
        ..Default::default()
    }
}

fn report(agent: &str, links: Vec<LinkResult>) -> Report {
    Report {
        agent_id: agent.into(),
        links,
        ..Default::default()
    }
}

async fn get(app: Router, path: &str) -> (StatusCode, Value) {
    let resp = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn links_and_faults_closed_and_ongoing() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    let hub = Arc::new(LinkHub::new(Links::default()));
    // Link "ct-1": a 70 s outage [20 s, 90 s), then up. Link "ct-2": down since 10 s.
    let windows = [
        (window("ct-1", 0, 20, 10), window("ct-2", 0, 10, 20)),
        (window("ct-1", 30, 0, 30), window("ct-2", 30, 0, 30)),
        (window("ct-1", 60, 0, 30), window("ct-2", 60, 0, 30)),
        (window("ct-1", 90, 0, 0), window("ct-2", 90, 0, 30)),
        (window("ct-1", 120, 0, 0), window("ct-2", 120, 0, 30)),
    ];
    for (a, b) in windows {
        let faults = hub.observe_report(&report("web-01", vec![a, b]));
        if !faults.is_empty() {
            store.insert_faults(faults).await.unwrap();
        }
    }
    let app = router(hub, store.clone());

    let (status, body) = get(app.clone(), LINKS_PATH).await;
    assert_eq!(status, StatusCode::OK);
    let links = body["links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(links[0]["link"], "ct-1");
    assert_eq!(links[0]["state"], "up");
    assert_eq!(links[0]["level"], "county-township");
    assert_eq!(links[0]["faults_total"], 1);
    assert_eq!(links[0]["down_seconds_total"], 70.0);
    let v = &links[0]["vantages"][0];
    assert_eq!(v["agent"], "web-01");
    assert_eq!(v["loss_ratio"], 0.0);
    assert_eq!(v["rtt_avg_seconds"], 0.004);
    assert_eq!(v["probes_sent_total"], 150);
    assert_eq!(v["probes_received_total"], 80);
    assert_eq!(links[1]["state"], "down");
    assert_eq!(links[1]["vantages"][0]["rtt_avg_seconds"], Value::Null);

    let (_, body) = get(app.clone(), FAULTS_PATH).await;
    let faults = body["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{body}");
    assert_eq!(faults[0]["link"], "ct-2");
    assert_eq!(faults[0]["start_unix_ms"], T0 + 10_000);
    assert_eq!(faults[0]["end_unix_ms"], Value::Null);
    assert_eq!(faults[0]["ongoing"], true);
    assert_eq!(faults[0]["duration_seconds"], 140.0);
    assert_eq!(faults[1]["link"], "ct-1");
    assert_eq!(faults[1]["start_unix_ms"], T0 + 20_000);
    assert_eq!(faults[1]["end_unix_ms"], T0 + 90_000);
    assert_eq!(faults[1]["duration_seconds"], 70.0);
    assert_eq!(faults[1]["agents"], json!(["web-01"]));
    assert_eq!(faults[1]["settled"], true);
    // The closed one is in the store, listed once.
    assert_eq!(store.faults(None).await.unwrap().len(), 1);

    let (_, body) = get(app.clone(), &format!("{FAULTS_PATH}?link=ct-1")).await;
    assert_eq!(body["faults"].as_array().unwrap().len(), 1);
    let (_, body) = get(app.clone(), &format!("{FAULTS_PATH}?link=nope")).await;
    assert_eq!(body["faults"], json!([]));
    let (status, _) = app
        .oneshot(
            Request::get(format!("{FAULTS_PATH}?lnk=x"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .map(|r| (r.status(), ()))
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[test]
fn a_fault_cut_at_the_replay_horizon_is_listed_once() {
    let f = |start, end| Fault {
        link_id: "l".into(),
        level: String::new(),
        domain: String::new(),
        start_unix_ms: start,
        end_unix_ms: end,
        duration_ms: end.unwrap_or(500) - start,
        agents: vec![],
        settled: end.is_some(),
    };
    let merged = merge(
        vec![f(100, Some(300))],
        vec![f(200, Some(300)), f(400, None)],
    );
    assert_eq!(merged, [f(100, Some(300)), f(400, None)]);
}
