//! Link probes through the real binary, against loopback only: `probe` with ICMP, TCP (open
//! and closed port), HTTP (200, 500) and HTTPS (trusted with --ca, untrusted without), usage
//! errors, and `run` with a probes section delivering link results to a fake collector.
//!
//! ICMP needs an ICMP socket: unprivileged (net.ipv4.ping_group_range) or raw (root /
//! CAP_NET_RAW); the test command runs as root.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_zerofault-agent");

fn probe(args: &[&str]) -> (Output, Value) {
    let out = Command::new(BIN).arg("probe").args(args).output().unwrap();
    let v = if args.contains(&"--json") {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: stdout {} stderr {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    } else {
        Value::Null
    };
    (out, v)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn icmp_loopback_all_received() {
    let (out, v) = probe(&["127.0.0.1", "--count", "5", "--interval", "50ms", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(v["kind"], "icmp");
    assert_eq!(v["sent"], 5);
    assert_eq!(v["received"], 5);
    assert_eq!(v["loss_ratio"], 0.0);
    for k in ["rtt_min_seconds", "rtt_avg_seconds", "rtt_max_seconds"] {
        let x = v[k].as_f64().unwrap();
        assert!(x > 0.0 && x < 0.05, "{k} = {x}");
    }
    assert!(v["jitter_seconds"].as_f64().unwrap() >= 0.0);
    assert!(v["rtt_min_seconds"].as_f64() <= v["rtt_max_seconds"].as_f64());
}

#[test]
fn icmp_ipv6_loopback_and_text_output() {
    let (out, _) = probe(&["::1", "-c", "3", "-i", "20ms"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text} {}", stderr(&out));
    assert!(text.contains("seq=1 rtt="), "{text}");
    assert!(text.contains("3 sent, 3 received, 0.0% loss"), "{text}");
    assert!(text.contains("rtt min/avg/max/p50/p95 = "), "{text}");
    assert!(text.contains("jitter"), "{text}");
}

#[test]
fn tcp_open_port_all_received_closed_port_all_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().to_string();
    // The kernel completes handshakes into the backlog; nothing needs to accept.
    let (out, v) = probe(&[&open, "--count", "5", "--interval", "20ms", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(v["kind"], "tcp", "port implies tcp");
    assert_eq!(
        (v["sent"].as_u64(), v["received"].as_u64()),
        (Some(5), Some(5)),
        "{v}"
    );

    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (out, v) = probe(&[&closed_addr, "--count", "4", "--interval", "20ms", "--json"]);
    assert_eq!(out.status.code(), Some(1), "all lost exits 1");
    assert_eq!(v["received"], 0);
    assert_eq!(v["loss_ratio"], 1.0);
    assert_eq!(v["errors"][0]["kind"], "refused");
    assert_eq!(v["errors"][0]["count"], 4);
    let run = &v["loss_runs"][0];
    assert_eq!(run["count"], 4);
    assert_eq!(run["open_start"], true);
    assert_eq!(run["open_end"], true);
}

/// A plain HTTP/1.1 server answering every request with `status`, for `n` connections.
fn http_server(status: u16, n: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                }
            }
            let body = "ok";
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/health")
}

#[test]
fn http_200_received_500_lost_with_http_status() {
    let url = http_server(200, 3);
    let (out, v) = probe(&[&url, "--count", "3", "--interval", "50ms", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(v["kind"], "http");
    assert_eq!(
        (v["sent"].as_u64(), v["received"].as_u64()),
        (Some(3), Some(3)),
        "{v}"
    );
    assert_eq!(v["http_status"], 200);
    assert!(v["rtt_avg_seconds"].as_f64().unwrap() > 0.0);

    let url = http_server(500, 3);
    let (out, v) = probe(&[&url, "--count", "3", "--interval", "50ms", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v["received"], 0, "{v}");
    assert_eq!(v["http_status"], 500);
    assert_eq!(v["errors"][0]["kind"], "http_status");
    assert_eq!(v["errors"][0]["count"], 3);
}

mod common;

use common::{Pki, pki};

/// An HTTPS (or, with `client_auth`, mTLS collector-like) server on a tokio runtime of its
/// own thread. Each request body is recorded; every answer is `200 {"status":"stored"}`.
fn tls_server(pki: &Pki, client_auth: bool) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config(client_auth));
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            // Bounded: a test never needs more connections than this.
            for _ in 0..200 {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        let Ok(n) = tls.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    while buf.len() < head_end + len {
                        let Ok(n) = tls.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    if len > 0 {
                        seen.lock().unwrap().push(buf[head_end..head_end + len].to_vec());
                    }
                    let body = r#"{"status":"stored"}"#;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
    });
    (port, bodies)
}

#[test]
fn https_trusts_only_the_given_ca() {
    let pki = pki();
    let (port, _) = tls_server(&pki, false);
    let url = format!("https://127.0.0.1:{port}/");
    let ca = pki.tls.ca.to_str().unwrap();
    let (out, v) = probe(&[&url, "--ca", ca, "-c", "2", "-i", "50ms", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{v} {}", stderr(&out));
    assert_eq!(v["received"], 2);
    assert_eq!(v["http_status"], 200);

    let (out, v) = probe(&[&url, "-c", "2", "-i", "50ms", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(v["errors"][0]["kind"], "tls", "{v}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["127.0.0.1", "--count", "0"][..],
        &["127.0.0.1", "--interval", "1ms"],
        &["127.0.0.1", "--timeout", "0s"],
        &["127.0.0.1", "--kind", "udp"],
        &["127.0.0.1", "--kind", "tcp"],
        &["http://127.0.0.1/", "--ca", "/x.pem"],
    ] {
        let (out, _) = probe(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn tiny_interval_with_missed_ticks_does_not_crash() {
    // 10 ms interval, 50 ms timeout against a closed port: up to 6 in flight, ticks kept.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let (out, v) = probe(&[&addr, "-c", "100", "-i", "10ms", "-W", "50ms", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(v["sent"], 100);
    let (out, v) = probe(&["127.0.0.1", "-c", "50", "-i", "10ms", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(v["sent"], 50, "{v}");
}

fn write_agent_config(pki: &Pki, port: u16, tcp: &str, http: &str) -> std::path::PathBuf {
    let dir = pki.dir.path();
    let path = dir.join("agent.yaml");
    std::fs::write(
        &path,
        [
            "agent:\n  id: web-01\n  state_dir: state\n".to_owned(),
            format!("collector:\n  url: https://127.0.0.1:{port}\n"),
            "tls:\n  ca: ca.pem\n  cert: agent.pem\n  key: agent.key\ninterval: 1s\n".to_owned(),
            "probes:\n".to_owned(),
            "  - link: lo-icmp\n    kind: icmp\n    target: 127.0.0.1\n    interval: 100ms\n"
                .to_owned(),
            "    level: city-county\n    domain: administrative\n".to_owned(),
            format!(
                "  - link: lo-tcp\n    kind: tcp\n    target: \"{tcp}\"\n    interval: 100ms\n"
            ),
            format!(
                "  - link: lo-https\n    kind: http\n    target: {http}\n    interval: 200ms\n"
            ),
            "    level: access\n".to_owned(),
        ]
        .concat(),
    )
    .unwrap();
    path
}

#[test]
fn run_sends_link_results_to_the_collector() {
    let pki = pki();
    let (port, bodies) = tls_server(&pki, true);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap().to_string();
    // An HTTPS target signed by the agent's CA: trusted through tls.ca by default.
    let (web_port, _) = tls_server(&pki, false);
    let http = format!("https://127.0.0.1:{web_port}/");
    let config = write_agent_config(&pki, port, &tcp, &http);
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let mut child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while bodies.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().ok();
    child.wait().ok();
    let bodies = bodies.lock().unwrap().clone();
    assert!(bodies.len() >= 3, "got {} reports", bodies.len());
    let reports: Vec<_> = bodies
        .iter()
        .map(|b| zerofault_protocol::decode_report(b, 8 << 20).unwrap())
        .collect();
    for r in &reports {
        r.validate(&zerofault_protocol::Limits::default()).unwrap();
        assert_eq!(r.links.len(), 3, "{r:?}");
        // Other tests create and remove veth pairs in this namespace concurrently, so only
        // loopback is known to stay put.
        assert!(
            r.interface_transitions.iter().all(|t| t.interface != "lo"),
            "loopback does not flap: {:?}",
            r.interface_transitions
        );
    }
    // The second report covers a full 1 s window: ~10 ICMP and TCP probes, ~5 HTTPS.
    let r = &reports[1];
    let by = |id: &str| r.links.iter().find(|l| l.link_id == id).unwrap();
    let icmp = by("lo-icmp");
    assert_eq!(icmp.kind, "icmp");
    assert_eq!(icmp.level, "city-county");
    assert_eq!(icmp.domain, "administrative");
    assert_eq!(icmp.probe_interval_ms, 100);
    assert!((8..=12).contains(&icmp.sent), "{icmp:?}");
    assert_eq!(icmp.received, icmp.sent, "{icmp:?}");
    assert_eq!(
        icmp.window_start_unix_ms,
        reports[0].links[0].window_end_unix_ms
    );
    let tcp = by("lo-tcp");
    assert!(tcp.sent >= 8 && tcp.received == tcp.sent, "{tcp:?}");
    let https = by("lo-https");
    assert!(https.sent >= 3 && https.received == https.sent, "{https:?}");
    assert_eq!(https.http_status, 200);
    drop(listener);
}

#[test]
fn validate_names_probe_keys() {
    let pki = pki();
    let path = pki.dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "agent:\n  id: web-01\ncollector:\n  url: https://127.0.0.1:1\ntls:\n  ca: ca.pem\n  cert: agent.pem\n  key: agent.key\n\
probes:\n  - link: a\n    kind: icmp\n    target: 127.0.0.1\n  - link: b\n    kind: tcp\n    target: 127.0.0.1\n  - link: a\n    kind: icmp\n    target: ::1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("key 'probes[1].target'"), "{e}");
    assert!(e.contains("no port"), "{e}");
    assert!(e.contains("key 'probes[2].link'"), "{e}");
    assert!(Path::new(&path).exists());
}
