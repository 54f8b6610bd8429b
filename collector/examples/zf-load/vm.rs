//! The same samples to VictoriaMetrics, for the ratio the issue asks for: each report's metric
//! values as Prometheus text lines with the report's timestamp, batched once a second into
//! one `POST /api/v1/import/prometheus` (as vmagent forwards in batches; one request per
//! report would measure HTTP, not the store).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::time::Instant;
use zerofault_protocol::Report;

use crate::stats::Stats;

/// Writes the metric values of `report` to `out` as Prometheus text lines stamped with the
/// report's time; returns how many. The values are those the samples/s figures count: cpu
/// 5, memory 5, 3 per filesystem, 8 per interface, 10 per link window, agent stats 4.
pub fn write_samples(report: &Report, out: &mut String) -> u64 {
    let ts = report.timestamp_unix_ms;
    let agent = &report.agent_id;
    let mut n = 0;
    let mut line = |out: &mut String, name: &str, extra: &str, v: f64| {
        let _ = writeln!(out, "zf_{name}{{agent=\"{agent}\"{extra}}} {v} {ts}");
        n += 1;
    };
    if let Some(c) = &report.cpu {
        for (name, v) in [
            ("cpu_logical_cores", f64::from(c.logical_cores)),
            ("cpu_usage_ratio", c.usage_ratio),
            ("cpu_load1", c.load1),
            ("cpu_load5", c.load5),
            ("cpu_load15", c.load15),
        ] {
            line(out, name, "", v);
        }
    }
    if let Some(m) = &report.memory {
        for (name, v) in [
            ("memory_total_bytes", m.total_bytes),
            ("memory_used_bytes", m.used_bytes),
            ("memory_available_bytes", m.available_bytes),
            ("memory_swap_total_bytes", m.swap_total_bytes),
            ("memory_swap_used_bytes", m.swap_used_bytes),
        ] {
            line(out, name, "", v as f64);
        }
    }
    for f in &report.filesystems {
        let extra = format!(",mount=\"{}\"", f.mount_point);
        for (name, v) in [
            ("filesystem_size_bytes", f.size_bytes),
            ("filesystem_used_bytes", f.used_bytes),
            ("filesystem_available_bytes", f.available_bytes),
        ] {
            line(out, name, &extra, v as f64);
        }
    }
    for i in &report.interfaces {
        let extra = format!(",interface=\"{}\"", i.name);
        for (name, v) in [
            ("network_receive_bytes_total", i.receive_bytes),
            ("network_transmit_bytes_total", i.transmit_bytes),
            ("network_receive_packets_total", i.receive_packets),
            ("network_transmit_packets_total", i.transmit_packets),
            ("network_receive_errors_total", i.receive_errors),
            ("network_transmit_errors_total", i.transmit_errors),
            ("network_receive_drops_total", i.receive_drops),
            ("network_transmit_drops_total", i.transmit_drops),
        ] {
            line(out, name, &extra, v as f64);
        }
    }
    for l in &report.links {
        let extra = format!(",link=\"{}\"", l.link_id);
        for (name, v) in [
            ("link_probes_sent", f64::from(l.sent)),
            ("link_probes_received", f64::from(l.received)),
            ("link_loss_ratio", l.loss_ratio),
            ("link_rtt_min_seconds", l.rtt_min_seconds),
            ("link_rtt_avg_seconds", l.rtt_avg_seconds),
            ("link_rtt_max_seconds", l.rtt_max_seconds),
            ("link_rtt_p50_seconds", l.rtt_p50_seconds),
            ("link_rtt_p95_seconds", l.rtt_p95_seconds),
            ("link_jitter_seconds", l.jitter_seconds),
            ("link_missed_ticks", f64::from(l.missed_ticks)),
        ] {
            line(out, name, &extra, v);
        }
    }
    if let Some(s) = &report.agent_stats {
        for (name, v) in [
            ("agent_spool_bytes", s.spool_bytes),
            ("agent_spool_reports", s.spool_reports),
            ("agent_spool_dropped_total", s.spool_dropped_total),
            (
                "agent_reports_acknowledged_total",
                s.reports_acknowledged_total,
            ),
        ] {
            line(out, name, "", v as f64);
        }
    }
    n
}

/// The lines of one report, on their way to the batcher: (made at, lines, samples).
pub type Lines = (Instant, String, u64);

/// Sends everything arriving on `rx` to VictoriaMetrics at `addr` in one request per second
/// until the channel closes, over one kept-alive plain HTTP connection (VictoriaMetrics on
/// loopback; TLS would be a proxy's cost, not the store's). Each report's acknowledgement
/// latency is from its making to its batch's 2xx.
pub async fn batcher(addr: SocketAddr, mut rx: mpsc::Receiver<Lines>, stats: Arc<Stats>) {
    let mut sender = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut open = true;
    while open {
        tick.tick().await;
        let (mut made, mut body, mut samples) = (Vec::new(), String::new(), 0u64);
        loop {
            match rx.try_recv() {
                Ok((at, lines, n)) => {
                    made.push(at);
                    body.push_str(&lines);
                    samples += n;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        if made.is_empty() {
            continue;
        }
        let body = Bytes::from(body);
        // Retried like an agent's report (VictoriaMetrics on loopback should never fail).
        for attempt in 0..10u32 {
            stats.attempts.fetch_add(1, Ordering::Relaxed);
            match post(addr, &mut sender, body.clone(), &stats).await {
                Ok(()) => {
                    for at in &made {
                        stats.ack_latency(at.elapsed());
                    }
                    stats.stored.fetch_add(made.len() as u64, Ordering::Relaxed);
                    stats.samples.fetch_add(samples, Ordering::Relaxed);
                    break;
                }
                Err(kind) => {
                    stats.error(kind);
                    sender = None;
                    tokio::time::sleep(Duration::from_millis(500) * (attempt + 1)).await;
                }
            }
        }
    }
}

async fn post(
    addr: SocketAddr,
    sender: &mut Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    body: Bytes,
    stats: &Arc<Stats>,
) -> Result<(), &'static str> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|_| "connect")?;
        let (s, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|_| "io")?;
        tokio::spawn(conn);
        stats.connects.fetch_add(1, Ordering::Relaxed);
        *sender = Some(s);
    }
    let s = sender.as_mut().expect("connected above");
    s.ready().await.map_err(|_| "io")?;
    let request = hyper::Request::post("/api/v1/import/prometheus")
        .header(hyper::header::HOST, addr.to_string())
        .body(Full::new(body))
        .map_err(|_| "io")?;
    let response = tokio::time::timeout(Duration::from_secs(30), s.send_request(request))
        .await
        .map_err(|_| "timeout")?
        .map_err(|_| "io")?;
    let status = response.status();
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() {
        Err("http_5xx")
    } else {
        Err("http_4xx")
    }
}
