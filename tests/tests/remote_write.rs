//! The collector's remote_write sink against real receivers: Debian's VictoriaMetrics (a
//! receiver outage and a collector restart during it lose and repeat nothing), Debian's
//! Prometheus with its remote-write receiver (backfilled history inside its out-of-order
//! window is taken), and a stub that refuses one series and is unavailable for a while.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use zerofault_tests::prometheus::{PROMETHEUS_BIN, Prometheus, require_tool};
use zerofault_tests::remote_write::{StubReceiver, StubRules, VictoriaMetrics};
use zerofault_tests::report::{labels, now_unix_ms, post_report, synthetic_report};
use zerofault_tests::{Collector, TestCa, wait_until};

/// The collector config's remote_write section with one target `url`.
fn remote_write(url: &str, state_interval: &str, extra: &str) -> String {
    format!(
        "remote_write:\n  queue_dir: remote-write\n  state_interval: {state_interval}\n  targets:\n    \
         - name: t\n      url: {url}\n      min_backoff: 50ms\n      max_backoff: 1s\n      \
         shards: 2\n      extra_labels: {{region: test}}\n{extra}"
    )
}

/// A report of `agent` made `ago_ms` before now, whose CPU figure is `cpu` (the value that
/// identifies it in the receiver).
fn report(agent: &str, sequence: u64, ago_ms: i64, cpu: f64) -> zerofault_protocol::Report {
    let mut r = synthetic_report(agent, labels("d1", "oa", "dc1", "s1"), sequence, 60_000);
    r.timestamp_unix_ms = now_unix_ms() - ago_ms;
    r.cpu.as_mut().unwrap().usage_ratio = cpu;
    r
}

/// Posts `reports` in order, each accepted.
async fn post_all(
    client: &reqwest::Client,
    c: &Collector,
    reports: &[zerofault_protocol::Report],
) -> anyhow::Result<()> {
    for r in reports {
        let (status, body) = post_report(client, &c.report_url(), r).await?;
        anyhow::ensure!(status.is_success(), "{status}: {body}");
    }
    Ok(())
}

/// `zerofault_remote_write_*{target="t"}` of the collector's `/metrics`.
async fn sink(c: &Collector, family: &str, extra: &[(&str, &str)]) -> anyhow::Result<f64> {
    let mut labels = vec![("target", "t")];
    labels.extend_from_slice(extra);
    c.metrics()
        .await?
        .get(&format!("zerofault_remote_write_{family}"), &labels)
}

#[tokio::test]
async fn victoria_metrics_gets_every_sample_once_across_its_outage_and_a_collector_restart()
-> anyhow::Result<()> {
    let mut vm = VictoriaMetrics::spawn().await?;
    let ca = TestCa::new(&["rw-a", "rw-b"])?;
    let mut c = Collector::builder(&ca)
        .extra_config(&remote_write(&vm.write_url(), "5s", ""))
        .spawn()
        .await?;
    let a = ca.ingest_client(Some("rw-a"))?;
    let b = ca.ingest_client(Some("rw-b"))?;
    // What each agent's CPU series must hold in the end: (timestamp, value).
    let mut expected: BTreeMap<&str, Vec<(i64, f64)>> = BTreeMap::new();
    let mut made = |agent: &'static str, seq: u64, ago_ms: i64| {
        let r = report(agent, seq, ago_ms, seq as f64 / 1000.0);
        expected
            .entry(agent)
            .or_default()
            .push((r.timestamp_unix_ms, r.cpu.as_ref().unwrap().usage_ratio));
        r
    };
    // Phase 1, receiver up: two hours of rw-a's history arrive late (backfill), then live
    // reports of both.
    let history: Vec<_> = (1..=20)
        .map(|s| made("rw-a", s, 7_200_000 - s as i64 * 60_000))
        .collect();
    let live_a: Vec<_> = (21..=23)
        .map(|s| made("rw-a", s, (24 - s as i64) * 1_000))
        .collect();
    let live_b: Vec<_> = (1..=3)
        .map(|s| made("rw-b", s, (4 - s as i64) * 1_000))
        .collect();
    post_all(&a, &c, &history).await?;
    post_all(&a, &c, &live_a).await?;
    post_all(&b, &c, &live_b).await?;
    let cpu = |n: usize| {
        move |series: &BTreeMap<_, Vec<(i64, f64)>>| {
            series.values().map(Vec::len).sum::<usize>() >= n
        }
    };
    wait_until(
        "VictoriaMetrics to hold phase 1",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let got = vm
                .export("zerofault_host_cpu_usage_ratio")
                .await
                .map_err(|e| e.to_string())?;
            if cpu(26)(&got) {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    )
    .await?;

    // Phase 2: the receiver stops; reports go on; the collector stops and starts again
    // while it is down; more reports; then the receiver comes back.
    vm.stop();
    let down_a: Vec<_> = (24..=26)
        .map(|s| made("rw-a", s, (27 - s as i64) * 1_000))
        .collect();
    post_all(&a, &c, &down_a).await?;
    wait_until(
        "the sink to retry",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            match sink(&c, "requests_retried_total", &[]).await {
                Ok(n) if n > 0.0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    let sent_first_run = sink(&c, "samples_sent_total", &[]).await?;
    c.stop(Duration::from_secs(30))?;
    c.restart().await?;
    // The restarted collector resumes with what was not delivered.
    let queued = sink(&c, "samples_queued", &[]).await?;
    assert!(queued > 0.0, "nothing queued after the restart");
    let down_b: Vec<_> = (4..=6)
        .map(|s| made("rw-b", s, (7 - s as i64) * 1_000))
        .collect();
    post_all(&b, &c, &down_b).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    vm.start().await?;
    wait_until(
        "the queue to drain",
        Duration::from_secs(90),
        Duration::from_millis(500),
        || async {
            match sink(&c, "samples_queued", &[]).await {
                Ok(0.0) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    for reason in ["queue_full", "too_old", "refused", "corrupt"] {
        assert_eq!(
            sink(&c, "samples_dropped_total", &[("reason", reason)]).await?,
            0.0,
            "{reason}"
        );
    }

    // Every report's CPU sample is there once, at the time the agent took it, with the
    // right labels; and VictoriaMetrics holds exactly as many samples as the collector
    // says it sent: none missing, none twice. The state push goes on every 5 s, so the two
    // are compared in a quiet moment: both read, then the collector's count again.
    let (everything, sent) = wait_until(
        "VictoriaMetrics to hold exactly the samples sent",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let before = sink(&c, "samples_sent_total", &[])
                .await
                .map_err(|e| e.to_string())?;
            let all = vm
                .export(r#"{__name__=~"zerofault_.*"}"#)
                .await
                .map_err(|e| e.to_string())?;
            let after = sink(&c, "samples_sent_total", &[])
                .await
                .map_err(|e| e.to_string())?;
            let n: usize = all.values().map(Vec::len).sum();
            let sent = sent_first_run + after;
            if before == after && n as f64 == sent {
                Ok((all, sent))
            } else {
                Err(format!("{n} in VictoriaMetrics, {sent} sent"))
            }
        },
    )
    .await?;
    let n: usize = everything.values().map(Vec::len).sum();
    let twice: Vec<_> = everything
        .iter()
        .filter(|(_, v)| v.windows(2).any(|w| w[0].0 == w[1].0))
        .map(|(k, v)| (k["__name__"].clone(), k.get("agent").cloned(), v.len()))
        .collect();
    assert!(
        twice.is_empty(),
        "samples twice at one timestamp: {twice:?}"
    );
    assert_eq!(
        n as f64, sent,
        "samples in VictoriaMetrics vs sent by the collector"
    );
    for (agent, mut want) in expected {
        want.sort_by_key(|s| s.0);
        let key: BTreeMap<String, String> = [
            ("__name__", "zerofault_host_cpu_usage_ratio"),
            ("agent", agent),
            ("host", &format!("synthetic-{agent}")),
            ("department", "d1"),
            ("datacenter", "dc1"),
            ("region", "test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let got = everything.get(&key).unwrap_or_else(|| {
            panic!(
                "no series {key:?}; have {:?}",
                everything
                    .keys()
                    .filter(|k| k["__name__"] == "zerofault_host_cpu_usage_ratio")
                    .collect::<Vec<_>>()
            )
        });
        assert_eq!(
            got, &want,
            "{agent}: samples in VictoriaMetrics vs reports posted"
        );
    }
    // The derived series came too: department sums at collector time.
    assert!(
        everything
            .keys()
            .any(|k| k["__name__"] == "zerofault_department_cpu_cores" && k["department"] == "d1")
    );
    assert!(
        everything
            .keys()
            .any(|k| k["__name__"] == "zerofault_host_up")
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_series_is_dropped_once_and_an_unavailable_receiver_is_waited_for()
-> anyhow::Result<()> {
    let stub = StubReceiver::spawn(StubRules {
        refuse_label: Some(("agent".into(), "poison".into())),
        unavailable_until: Some(Instant::now() + Duration::from_secs(3)),
        ..StubRules::default()
    })
    .await?;
    let ca = TestCa::new(&["ok-1", "poison"])?;
    let c = Collector::builder(&ca)
        // No state push during this test: its rounds would hold the poison host too.
        .extra_config(&remote_write(&stub.write_url(), "1h", ""))
        .spawn()
        .await?;
    let ok = ca.ingest_client(Some("ok-1"))?;
    let poison = ca.ingest_client(Some("poison"))?;
    let cpu_samples = |agent: &str| cpu_samples_of(&stub.log.lock().unwrap(), agent);
    // While the receiver answers 503: queued and retried, then delivered.
    let first: Vec<_> = (1..=5)
        .map(|s| report("ok-1", s, (10 - s as i64) * 1000, s as f64 / 100.0))
        .collect();
    post_all(&ok, &c, &first).await?;
    wait_until(
        "the first reports after the 503s",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let n = cpu_samples("ok-1").len();
            if n == 5 {
                Ok(())
            } else {
                Err(format!("{n} of 5"))
            }
        },
    )
    .await?;
    assert!(
        stub.log
            .lock()
            .unwrap()
            .answers
            .get(&503)
            .copied()
            .unwrap_or(0)
            > 0
    );
    assert!(sink(&c, "requests_retried_total", &[]).await? > 0.0);

    // One report of the refused host: a 400, not retried; later reports still flow.
    post_all(&poison, &c, &[report("poison", 1, 0, 0.5)]).await?;
    wait_until(
        "the 400",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let n = stub
                .log
                .lock()
                .unwrap()
                .answers
                .get(&400)
                .copied()
                .unwrap_or(0);
            if n > 0 {
                Ok(())
            } else {
                Err("none yet".to_string())
            }
        },
    )
    .await?;
    let later: Vec<_> = (6..=8)
        .map(|s| report("ok-1", s, (10 - s as i64) * 1000, s as f64 / 100.0))
        .collect();
    post_all(&ok, &c, &later).await?;
    wait_until(
        "the later reports",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let n = cpu_samples("ok-1").len();
            if n == 8 {
                Ok(())
            } else {
                Err(format!("{n} of 8"))
            }
        },
    )
    .await?;
    // Give a retry of the refused request every chance to show up.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (refused, ok_samples) = {
        let log = stub.log.lock().unwrap();
        assert!(
            log.refused_bodies.values().all(|n| *n == 1),
            "a refused request was sent again: {:?}",
            log.refused_bodies
        );
        assert!(log.bad_headers.is_empty(), "{:?}", log.bad_headers);
        assert!(log.disorder.is_empty(), "{:?}", log.disorder);
        let mut t = cpu_samples_of(&log, "ok-1");
        t.sort();
        (log.refused_samples as f64, t)
    };
    assert_eq!(ok_samples.len(), 8, "each ok-1 report once");
    assert_eq!(
        sink(&c, "samples_dropped_total", &[("reason", "refused")]).await?,
        refused
    );
    Ok(())
}

fn cpu_samples_of(log: &zerofault_tests::remote_write::StubLog, agent: &str) -> Vec<i64> {
    log.accepted
        .iter()
        .filter(|(k, _)| k["__name__"] == "zerofault_host_cpu_usage_ratio" && k["agent"] == agent)
        .flat_map(|(_, v)| v.iter().map(|s| s.0))
        .collect()
}

#[tokio::test]
async fn prometheus_takes_the_push_and_backfill_inside_its_out_of_order_window()
-> anyhow::Result<()> {
    require_tool(PROMETHEUS_BIN);
    // Prometheus 2.42 refuses every sample ("too old sample") while its head is empty and an
    // out-of-order window is set: let it scrape itself first, as any real one does.
    let prometheus = Prometheus::spawn_receiver(
        "global:\n  scrape_interval: 1s\nstorage:\n  tsdb:\n    out_of_order_time_window: 30m\n\
         scrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['127.0.0.1:PORT']\n",
    )
    .await?;
    wait_until(
        "Prometheus to scrape itself",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            match prometheus.query("up{job=\"self\"}").await {
                Ok(s) if !s.is_empty() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    let ca = TestCa::new(&["p1"])?;
    let c = Collector::builder(&ca)
        .extra_config(&remote_write(
            &format!("{}/api/v1/write", prometheus.url()),
            "1h",
            "",
        ))
        .spawn()
        .await?;
    let client = ca.ingest_client(Some("p1"))?;
    // One at a time, each delivered (or refused) before the next: live, then 10 minutes
    // old (inside the window), then 3 hours old (outside it).
    let mut sent_before = 0.0;
    let mut refused_before = 0.0;
    for (seq, ago_ms) in [(1u64, 0i64), (2, 600_000), (3, 3 * 3_600_000)] {
        post_all(&client, &c, &[report("p1", seq, ago_ms, seq as f64 / 10.0)]).await?;
        let (sent, refused) = wait_until(
            "the push",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || async {
                let sent = sink(&c, "samples_sent_total", &[])
                    .await
                    .map_err(|e| e.to_string())?;
                let refused = sink(&c, "samples_dropped_total", &[("reason", "refused")])
                    .await
                    .map_err(|e| e.to_string())?;
                // The whole round done (the queue empty), not only one of its shards.
                let queued = sink(&c, "samples_queued", &[])
                    .await
                    .map_err(|e| e.to_string())?;
                if queued == 0.0 && (sent > sent_before || refused > refused_before) {
                    Ok((sent, refused))
                } else {
                    Err(format!("queued {queued}, sent {sent}, refused {refused}"))
                }
            },
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\n--- collector:\n{}\n--- prometheus:\n{}",
                c.output(),
                prometheus.output()
            )
        })?;
        if seq < 3 {
            assert!(
                sent > sent_before && refused == refused_before,
                "report {seq}: sent {sent}, refused {refused}"
            );
        } else {
            // Older than the out-of-order window: Prometheus answers 400 ("too old"); the
            // sink drops it, counted, and does not retry.
            assert!(
                refused > refused_before && sent == sent_before,
                "report {seq}: sent {sent}, refused {refused}"
            );
        }
        (sent_before, refused_before) = (sent, refused);
    }
    let series = prometheus
        .query(r#"count_over_time(zerofault_host_cpu_usage_ratio{agent="p1",region="test"}[4h])"#)
        .await?;
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0].1, 2.0, "live and 10-minute-old samples");
    let memory = prometheus
        .query(r#"zerofault_host_memory_total_bytes{agent="p1",department="d1",datacenter="dc1"}"#)
        .await?;
    assert_eq!(memory.len(), 1, "{memory:?}");
    assert_eq!(memory[0].1, 8.0 * (1u64 << 30) as f64);
    Ok(())
}

/// A collector stopped while one shard of a round is stuck (503) and the other delivered:
/// after its restart it sends the stuck part, and not the delivered part again.
#[tokio::test]
async fn a_collector_stopped_mid_round_sends_only_the_rest_of_it_after_its_restart()
-> anyhow::Result<()> {
    let stub = StubReceiver::spawn(StubRules {
        unavailable_series: Some(vec![
            ("__name__".into(), "zerofault_host_cpu_usage_ratio".into()),
            ("agent".into(), "stuck".into()),
        ]),
        ..StubRules::default()
    })
    .await?;
    let ca = TestCa::new(&["stuck", "m1", "m2", "m3", "m4"])?;
    let mut c = Collector::builder(&ca)
        .extra_config(&remote_write(&stub.write_url(), "1h", ""))
        .spawn()
        .await?;
    // One report each, in one round: the shard holding the stuck host's CPU series is
    // refused with 503, the other shard is delivered.
    for agent in ["stuck", "m1", "m2", "m3", "m4"] {
        let client = ca.ingest_client(Some(agent))?;
        post_all(&client, &c, &[report(agent, 1, 1000, 0.5)]).await?;
    }
    wait_until(
        "a 503 and a delivery",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            let log = stub.log.lock().unwrap();
            let (ok, stuck) = (
                log.answers.get(&204).copied().unwrap_or(0),
                log.answers.get(&503).copied().unwrap_or(0),
            );
            if ok > 0 && stuck > 0 {
                Ok(())
            } else {
                Err(format!("204: {ok}, 503: {stuck}"))
            }
        },
    )
    .await?;
    let delivered_before: usize = stub
        .log
        .lock()
        .unwrap()
        .accepted
        .values()
        .map(Vec::len)
        .sum();
    c.stop(Duration::from_secs(30))?;
    stub.rules.lock().unwrap().unavailable_series = None;
    c.restart().await?;
    wait_until(
        "the queue to drain",
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            match sink(&c, "samples_queued", &[]).await {
                Ok(0.0) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    let log = stub.log.lock().unwrap();
    let twice: Vec<_> = log
        .accepted
        .iter()
        .filter(|(_, v)| v.windows(2).any(|w| w[0].0 == w[1].0))
        .map(|(k, _)| k["__name__"].clone())
        .collect();
    assert!(twice.is_empty(), "sent again after the restart: {twice:?}");
    let delivered_after: usize = log.accepted.values().map(Vec::len).sum();
    assert!(
        delivered_after > delivered_before,
        "the stuck part came after the restart"
    );
    let cpu: Vec<&str> = log
        .accepted
        .keys()
        .filter(|k| k["__name__"] == "zerofault_host_cpu_usage_ratio")
        .map(|k| k["agent"].as_str())
        .collect();
    assert_eq!(cpu, ["m1", "m2", "m3", "m4", "stuck"]);
    Ok(())
}

/// Two collectors on one PostgreSQL database, both pushing to one receiver: each report's
/// series arrive once (from the collector that stored it), and the derived series (up,
/// sums, slot counters) only from the holder of the deployment lease, for the hosts of both.
#[tokio::test]
async fn two_collectors_push_each_report_once_and_the_derived_series_from_the_lease_holder_only()
-> anyhow::Result<()> {
    let server = zerofault_tests::postgres::PgServer::shared();
    let url = server.create_database("rw2")?;
    let stub = StubReceiver::spawn(StubRules::default()).await?;
    let ca = TestCa::new(&["two-a", "two-b"])?;
    let collector = |name: &str| {
        Collector::builder(&ca)
            .postgres(&url)
            .extra_config(&format!(
                "instance: {name}\n{}",
                remote_write(&stub.write_url(), "5s", "")
                    .replace("region: test", &format!("region: test, pushed_by: {name}"))
            ))
    };
    let a = collector("col-a").spawn().await?;
    let b = collector("col-b").spawn().await?;
    let _ra = a.agent("two-a").department("d1").interval("1s").spawn()?;
    let _rb = b.agent("two-b").department("d1").interval("1s").spawn()?;
    let holder = wait_until(
        "one lease holder",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let lease = "zerofault_collector_deployment_lease";
            let la = a
                .metrics()
                .await
                .and_then(|m| m.get(lease, &[]))
                .map_err(|e| e.to_string())?;
            let lb = b
                .metrics()
                .await
                .and_then(|m| m.get(lease, &[]))
                .map_err(|e| e.to_string())?;
            match (la, lb) {
                (1.0, 0.0) => Ok("col-a"),
                (0.0, 1.0) => Ok("col-b"),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await?;
    // Up series of both hosts, pushed by the holder only.
    wait_until(
        "the holder's up series of both hosts",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let log = stub.log.lock().unwrap();
            let up: std::collections::BTreeSet<(String, String)> = log
                .accepted
                .keys()
                .filter(|k| k["__name__"] == "zerofault_host_up")
                .map(|k| (k["agent"].clone(), k["pushed_by"].clone()))
                .collect();
            let want: std::collections::BTreeSet<(String, String)> =
                [("two-a", holder), ("two-b", holder)]
                    .iter()
                    .map(|(x, y)| (x.to_string(), y.to_string()))
                    .collect();
            if up == want {
                Ok(())
            } else {
                Err(format!("{up:?}"))
            }
        },
    )
    .await?;
    let log = stub.log.lock().unwrap();
    // Report series: each agent's from the collector it reports to, every sample once.
    for (agent, by) in [("two-a", "col-a"), ("two-b", "col-b")] {
        let pushers: std::collections::BTreeSet<&str> = log
            .accepted
            .keys()
            .filter(|k| k["__name__"] == "zerofault_host_cpu_usage_ratio" && k["agent"] == agent)
            .map(|k| k["pushed_by"].as_str())
            .collect();
        assert_eq!(pushers, [by].into(), "{agent}");
    }
    let derived: std::collections::BTreeSet<&str> = log
        .accepted
        .keys()
        .filter(|k| {
            k["__name__"].starts_with("zerofault_department_")
                || k["__name__"] == "zerofault_host_status"
        })
        .map(|k| k["pushed_by"].as_str())
        .collect();
    assert_eq!(derived, [holder].into());
    let twice: Vec<_> = log
        .accepted
        .iter()
        .filter(|(_, v)| v.windows(2).any(|w| w[0].0 == w[1].0))
        .map(|(k, _)| k["__name__"].clone())
        .collect();
    assert!(twice.is_empty(), "{twice:?}");
    Ok(())
}
