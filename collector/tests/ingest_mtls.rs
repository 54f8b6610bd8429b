//! The ingest contract over real mutual TLS, against an in-process collector.

mod ingest_support;

use std::net::SocketAddr;

use ingest_support::config;
use reqwest::StatusCode;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use zerofault_collector::cmd::serve::Server;
use zerofault_collector::live::hosts::{HostTable, IngestCounters, RejectReason};
use zerofault_collector::store::Store;
use zerofault_protocol::{CONTENT_TYPE, INGEST_PATH, VERSION_HEADER, encode_report};
use zerofault_tests::pki::Pki;
use zerofault_tests::report::{minimal_report as report, zstd_bomb};

/// 64 KiB: small enough that an oversize body fits in the socket buffers, so the client
/// finishes sending and reliably reads the 413 instead of a reset.
const MAX_BODY: u64 = 64 * 1024;

struct Running {
    ingest: SocketAddr,
    http: SocketAddr,
    hosts: std::sync::Arc<HostTable>,
    counters: std::sync::Arc<IngestCounters>,
    store: std::sync::Arc<dyn Store>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

async fn start(dir: &std::path::Path, pki: &Pki) -> Running {
    let server = Server::bind(config(dir, pki, MAX_BODY)).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    Running {
        ingest: server.ingest_addr(),
        http: server.http_addr(),
        hosts: server.hosts(),
        counters: server.counters(),
        store: server.store(),
        stop,
        task: tokio::spawn(server.run(async {
            let _ = stopped.await;
        })),
    }
}

impl Running {
    fn url(&self) -> String {
        // The server certificate names 127.0.0.1, so the address can be used directly.
        format!("https://{}{INGEST_PATH}", self.ingest)
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> reqwest::Result<(StatusCode, serde_json::Value)> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .header(VERSION_HEADER, "1")
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let text = resp.text().await?;
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok((status, json))
}

fn rejected(counters: &IngestCounters, reason: RejectReason) -> u64 {
    counters
        .rejected_totals()
        .into_iter()
        .find(|(r, _)| *r == reason)
        .unwrap()
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_contract_over_mtls() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let c = start(dir.path(), &pki).await;
    let url = c.url();
    let web01 = pki.client(Some("agents/web-01"));

    // Stored, then the same report again is acknowledged as a duplicate and kept once.
    let body = encode_report(&report("web-01", 1));
    let (status, json) = post(&web01, &url, body.clone()).await.unwrap();
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::OK, Some("stored"))
    );
    let (status, json) = post(&web01, &url, body).await.unwrap();
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    assert_eq!(c.store.count_reports().await.unwrap(), 1);
    assert_eq!(c.hosts.snapshot()[0].report.agent_id, "web-01");
    assert_eq!(
        (c.counters.accepted_total(), c.counters.duplicates_total()),
        (1, 1)
    );

    // No client certificate: the handshake completes and HTTP says why.
    let anonymous = pki.client(None);
    let (status, json) = post(&anonymous, &url, encode_report(&report("web-01", 2)))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("client certificate"),
        "{json}"
    );

    // A certificate from another CA never gets to HTTP.
    let rogue = pki.client(Some("rogue/web-01"));
    let err = post(&rogue, &url, encode_report(&report("web-01", 3))).await;
    assert!(err.is_err(), "{err:?}");

    // web-02 may not report as web-01.
    let web02 = pki.client(Some("agents/web-02"));
    let (status, json) = post(&web02, &url, encode_report(&report("web-01", 4)))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(json["error"].as_str().unwrap().contains("web-02"), "{json}");

    // Size caps, before and after decompression.
    let (status, json) = post(&web01, &url, vec![0u8; MAX_BODY as usize + 1])
        .await
        .unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("max_body_bytes"),
        "{json}"
    );
    let (status, json) = post(&web01, &url, zstd_bomb("web-01")).await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{json}");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("max_decompressed_bytes"),
        "{json}"
    );

    // Not zstd at all.
    let (status, json) = post(&web01, &url, b"hello, collector".to_vec())
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(json["error"].as_str().unwrap().contains("zstd"), "{json}");

    // A field out of bounds: the answer names it.
    let mut bad = report("web-01", 5);
    bad.interval_ms = 0;
    let (status, json) = post(&web01, &url, encode_report(&bad)).await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        json["error"].as_str().unwrap().contains("interval_ms"),
        "{json}"
    );

    // The connection survives refusals: keep-alive still stores.
    let (status, _) = post(&web01, &url, encode_report(&report("web-01", 6)))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(c.store.count_reports().await.unwrap(), 2);
    assert_eq!(rejected(&c.counters, RejectReason::NoClientCertificate), 1);
    assert_eq!(rejected(&c.counters, RejectReason::AgentIdMismatch), 1);
    assert_eq!(rejected(&c.counters, RejectReason::TooLarge), 2);
    assert_eq!(rejected(&c.counters, RejectReason::Malformed), 1);
    assert_eq!(rejected(&c.counters, RejectReason::Invalid), 1);

    // The plain-HTTP listener is wired to the same state.
    let health = web01.get(format!("http://{}/healthz", c.http)).send().await;
    assert_eq!(health.unwrap().status(), StatusCode::OK);

    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_survive_a_restart() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();

    let c = start(dir.path(), &pki).await;
    let url = c.url();
    for (agent, seqs) in [("web-01", 1..=3), ("web-02", 10..=11)] {
        let client = pki.client(Some(&format!("agents/{agent}")));
        for seq in seqs {
            let (status, _) = post(&client, &url, encode_report(&report(agent, seq)))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK);
        }
    }
    let before = c.hosts.snapshot();
    c.stop().await;

    // Same database, new process state: migrations are a no-op and the table is warm
    // before the first report arrives.
    let c = start(dir.path(), &pki).await;
    let after = c.hosts.snapshot();
    // Stored completeness survives the restart; the clock offset is estimated again from
    // the next live reports (a restart's first reports are often backlog).
    let durable = |hosts: &[zerofault_collector::live::hosts::HostEntry]| {
        hosts
            .iter()
            .map(|h| {
                let d = h.delivery.unwrap();
                (
                    h.report.clone(),
                    h.received_unix_ms,
                    d.reports_stored,
                    d.sequence_gaps,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(durable(&after), durable(&before));
    assert_eq!(after[0].delivery.unwrap().reports_stored, 3);
    assert_eq!(after[0].delivery.unwrap().clock_offset_ms, None);
    // The first run stopped gracefully; the second is running.
    let runs = c.store.collector_runs().await.unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs[0].clean && runs[0].stopped_unix_ms.is_some());
    assert!(!runs[1].clean && runs[1].stopped_unix_ms.is_none());
    assert_eq!(
        after.iter().map(|h| h.report.sequence).collect::<Vec<_>>(),
        [3, 11]
    );
    assert_eq!(c.store.count_reports().await.unwrap(), 5);

    // A replay of a report stored before the restart is still a duplicate.
    let client = pki.client(Some("agents/web-01"));
    let (status, json) = post(&client, &c.url(), encode_report(&report("web-01", 2)))
        .await
        .unwrap();
    assert_eq!(
        (status, json["status"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    c.stop().await;
}
