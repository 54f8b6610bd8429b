//! The series API over a store with written slots, by `oneshot` requests.

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use zerofault_protocol::{
    BlockDevice, ClockSync, Cpu, CpuModes, Filesystem, LinkResult, Pressure, PressureLine,
    PressureStat, Report,
};

use super::*;
use crate::series::{Accumulator, flush};
use crate::store::SqliteStore;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, a slot boundary

fn report(agent: &str, seq: u64, at: i64, cpu: f64, loss: f64) -> Report {
    Report {
        agent_id: agent.into(),
        boot_id: "b".into(),
        sequence: seq,
        timestamp_unix_ms: at,
        cpu: Some(Cpu {
            usage_ratio: cpu,
            load1: 0.5,
            modes: Some(CpuModes {
                steal: 0.1,
                iowait: 0.05,
                ..Default::default()
            }),
            ..Default::default()
        }),
        filesystems: vec![Filesystem {
            mount_point: "/".into(),
            size_bytes: 100,
            used_bytes: 40,
            inodes_total: Some(1_000),
            inodes_free: Some(250),
            ..Default::default()
        }],
        // Counters since boot: the disk busy a quarter of the time, some task waiting on
        // I/O a tenth of it; the clock unsynchronised in every other report.
        block_devices: vec![BlockDevice {
            name: "vda".into(),
            io_time_ms_total: 1_000_000 + (at - T0) as u64 / 4,
            ..Default::default()
        }],
        pressure: Some(Pressure {
            io: Some(PressureStat {
                some: Some(PressureLine {
                    total_us: 5_000_000 + (at - T0) as u64 * 100,
                    ..Default::default()
                }),
                full: None,
            }),
            ..Default::default()
        }),
        clock: Some(ClockSync {
            synchronised: seq % 2 == 1,
            ..Default::default()
        }),
        links: vec![LinkResult {
            link_id: "gz-hp".into(),
            sent: 10,
            received: 10,
            loss_ratio: loss,
            rtt_avg_seconds: 0.004,
            jitter_seconds: 0.001,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Two agents, two slots each (cpu 0.2 and 0.6 in the first slot of web-01).
async fn app(dir: &tempfile::TempDir) -> Router {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    let acc = Accumulator::default();
    for (agent, loss) in [("web-01", 0.0), ("db-01", 0.5)] {
        acc.observe(&report(agent, 1, T0 + 1_000, 0.2, loss), T0 + 1_000);
        acc.observe(&report(agent, 2, T0 + 16_000, 0.6, loss), T0 + 16_000);
        acc.observe(
            &report(agent, 3, T0 + SLOT_MS + 1_000, 0.3, loss),
            T0 + SLOT_MS + 1_000,
        );
    }
    flush::flush_all(store.as_ref(), &acc).await.unwrap();
    router(store)
}

async fn get(app: Router, path: &str) -> (StatusCode, Value) {
    let resp = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn figure<'a>(series: &'a Value, name: &str) -> &'a Value {
    series
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["figure"] == name)
        .unwrap_or_else(|| panic!("no {name} in {series}"))
}

#[tokio::test]
async fn a_hosts_series_is_one_point_per_slot_with_min_avg_max() {
    let dir = tempfile::tempdir().unwrap();
    let to = T0 + 2 * SLOT_MS;
    let (status, json) = get(
        app(&dir).await,
        &format!("/api/v1/hosts/web-01/series?from={T0}&to={to}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["slot_seconds"], 300);
    let cpu = &figure(&json["series"], "cpu_usage_ratio")["points"];
    assert_eq!(
        *cpu,
        json!([
            {"t": T0, "min": 0.2, "avg": 0.4, "max": 0.6, "count": 2},
            {"t": T0 + SLOT_MS, "min": 0.3, "avg": 0.3, "max": 0.3, "count": 1},
        ])
    );
    let fs = figure(&json["series"], "filesystem_used_ratio");
    assert_eq!(fs["mount"], "/");
    assert_eq!(fs["points"][0]["max"], 0.4);
    assert_eq!(figure(&json["series"], "load1")["points"][0]["avg"], 0.5);
    assert_eq!(
        figure(&json["series"], "cpu_steal_ratio")["points"][0]["avg"],
        0.1
    );
    assert_eq!(
        figure(&json["series"], "cpu_iowait_ratio")["points"][0]["max"],
        0.05
    );
    let inodes = figure(&json["series"], "filesystem_inodes_used_ratio");
    assert_eq!(inodes["mount"], "/");
    assert_eq!(inodes["points"][0]["avg"], 0.75);
    let clock = &figure(&json["series"], "clock_unsynchronised_ratio")["points"];
    assert_eq!(clock[0]["avg"], 0.5, "one of the slot's two reports");
    assert_eq!(clock[1]["avg"], 0.0);
    // Counters are drawn as their rate over the slot; the second slot has one report, so
    // no rate: no point, never a zero.
    let disk = figure(&json["series"], "disk_busy_ratio");
    assert_eq!(disk["device"], "vda");
    assert_eq!(
        disk["points"],
        json!([{"t": T0, "min": 0.25, "avg": 0.25, "max": 0.25, "count": 2}])
    );
    let io = figure(&json["series"], "pressure_some_ratio");
    assert_eq!(io["resource"], "io");
    assert_eq!(io["points"][0]["avg"], 0.1);
    assert_eq!(io["points"].as_array().unwrap().len(), 1);
    assert!(
        !json["series"].to_string().contains("report_time"),
        "report times are not shown"
    );

    // Only the second slot: the range is by slot start.
    let (_, json) = get(
        app(&dir).await,
        &format!("/api/v1/hosts/web-01/series?from={}&to={to}", T0 + SLOT_MS),
    )
    .await;
    let cpu = &figure(&json["series"], "cpu_usage_ratio")["points"];
    assert_eq!(cpu.as_array().unwrap().len(), 1, "{cpu}");
}

#[tokio::test]
async fn a_links_series_is_per_vantage_point() {
    let dir = tempfile::tempdir().unwrap();
    let to = T0 + 2 * SLOT_MS;
    let (status, json) = get(
        app(&dir).await,
        &format!("/api/v1/links/gz-hp/series?from={T0}&to={to}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["truncated"], false);
    let vantages = json["vantages"].as_array().unwrap();
    let agents: Vec<&str> = vantages
        .iter()
        .map(|v| v["agent"].as_str().unwrap())
        .collect();
    assert_eq!(agents, ["db-01", "web-01"]);
    let loss = &figure(&vantages[0]["series"], "loss_ratio")["points"];
    assert_eq!(
        loss[0],
        json!({"t": T0, "min": 0.5, "avg": 0.5, "max": 0.5, "count": 2})
    );
    let rtt = &figure(&vantages[1]["series"], "rtt_seconds")["points"];
    assert_eq!(rtt[1]["avg"], 0.004);
    // A link nobody probes: no vantage points, not an error.
    let (status, json) = get(app(&dir).await, "/api/v1/links/none/series").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["vantages"], json!([]));
}

#[tokio::test]
async fn requests_outside_the_bounds_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(&dir).await;
    let long = T0 + MAX_SPAN_MS + 1;
    for path in [
        format!("/api/v1/hosts/web-01/series?from={T0}&to={long}"),
        format!("/api/v1/hosts/web-01/series?from={T0}&to={T0}"),
        "/api/v1/hosts/web%2001/series".to_string(),
        format!("/api/v1/links/{}/series", "x".repeat(MAX_LINK_ID_BYTES + 1)),
        "/api/v1/hosts/web-01/series?step=5m".to_string(),
    ] {
        let (status, _) = get(app.clone(), &path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
}
