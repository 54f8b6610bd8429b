//! Link health across real network namespaces (needs root): a real agent probes test hosts
//! in namespaces, loss and outages are made there with nftables and `ip link`, and the test
//! reads what the real collector concluded: loss from its probe counters, link states and
//! faults from `/metrics` and `/api/v1/faults`.
//!
//! The tests in this file run in parallel, each with its own collector, agent and hosts.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zerofault_tests::stats::binomial_interval;
use zerofault_tests::{Agent, Collector, Exposition, LinkProbe, TestCa, TestHost, wait_until};

/// The injected loss rates of the accuracy tests, in percent.
const RATES: [u8; 4] = [0, 10, 30, 100];

/// Probes per target the loss must be judged on (the issue asks for at least 500).
const MIN_PROBES: f64 = 500.0;

/// Packet interval of the accuracy tests: 500 probes in 10 s; well above the 10 ms minimum.
const FAST_INTERVAL: &str = "20ms";

/// Probe timeout of the accuracy tests. A veth round trip is well under 1 ms, so only a
/// dropped packet times out. It must stay under TCP's 1 s initial retransmission timeout: a
/// retransmitted SYN would get a second chance through the random drop and the TCP loss
/// would be p^2 instead of p.
const FAST_TIMEOUT: &str = "300ms";

/// The port the TCP listener in each namespace listens on.
const TCP_PORT: u16 = 7000;

/// The listener binary of this crate, run inside the namespaces.
const LISTENER: &str = env!("CARGO_BIN_EXE_zf-listen");

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// An error with the agent's output if it has exited: a refused config then fails the test
/// at once, with the reason, instead of at the end of a long wait.
fn agent_running(agent: &mut Agent) -> Result<(), String> {
    match agent.exited() {
        Some(status) => Err(format!(
            "agent {} exited with {status}:\n{}",
            agent.id(),
            agent.output()
        )),
        None => Ok(()),
    }
}

/// The last lines of the agent's and the collector's logs, for a failed wait: an `Err` from a
/// test does not unwind, so the process handles do not print their logs by themselves.
fn logs(agent: &Agent, collector: &Collector) -> String {
    let tail = |text: String| {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    format!(
        "----- agent log (tail) -----\n{}\n----- collector log (tail) -----\n{}",
        tail(agent.output()),
        tail(collector.output())
    )
}

/// Probe counters of one link as the collector shows them.
fn counters(m: &Exposition, link: &str, agent: &str) -> anyhow::Result<(f64, f64)> {
    let labels = [("link", link), ("agent", agent)];
    Ok((
        m.get("zerofault_link_probes_sent_total", &labels)?,
        m.get("zerofault_link_probes_received_total", &labels)?,
    ))
}

/// Runs one agent probing four hosts with 0, 10, 30 and 100% of `kind` probes dropped, until
/// the collector has seen at least [`MIN_PROBES`] probes of each, and checks each measured
/// loss against the 99% binomial interval of its injected rate; then stops the drops and
/// checks that the collector's lost count equals the number of packets nftables dropped.
async fn loss_is_measured_within_the_binomial_interval(kind: &str) -> anyhow::Result<()> {
    let agent_id = format!("loss-{kind}");
    let ca = TestCa::new(&[&agent_id])?;
    let collector = Collector::builder(&ca).spawn().await?;

    let mut hosts = Vec::new();
    let mut agent = collector.agent(&agent_id).interval("1s");
    for rate in RATES {
        let mut host = TestHost::new()?;
        let target = match kind {
            "icmp" => {
                host.inject_icmp_loss(rate)?;
                host.addr().to_string()
            }
            "tcp" => {
                let addr = format!("{}:{TCP_PORT}", host.addr());
                host.spawn_in(
                    "zf-listen",
                    Path::new(LISTENER),
                    &[&addr, "600"],
                    "listening on",
                )?;
                host.inject_tcp_syn_loss(TCP_PORT, rate)?;
                addr
            }
            other => anyhow::bail!("no loss test for probe kind {other}"),
        };
        agent = agent.probe(
            LinkProbe::new(
                &format!("{kind}-{rate}"),
                kind,
                &target,
                FAST_INTERVAL,
                FAST_TIMEOUT,
            )
            .placed("access", "public"),
        );
        hosts.push(host);
    }
    let mut agent = agent.spawn()?;

    // 500 probes at 20 ms take 10 s; the margin is for a loaded CI machine.
    let links: Vec<String> = RATES.iter().map(|r| format!("{kind}-{r}")).collect();
    let m = wait_until(
        &format!("{MIN_PROBES} {kind} probes on each link"),
        Duration::from_secs(90),
        Duration::from_millis(500),
        || {
            let running = agent_running(&mut agent);
            async {
                running?;
                let m = collector.metrics().await.map_err(|e| e.to_string())?;
                for link in &links {
                    let (sent, _) = counters(&m, link, &agent_id).map_err(|e| e.to_string())?;
                    if sent < MIN_PROBES {
                        return Err(format!("{link}: {sent} sent"));
                    }
                }
                Ok(m)
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\n{}", logs(&agent, &collector)))?;

    // At exactly 99%, each of the two random rates (10%, 30%) falls outside its interval in
    // 1% of runs of correct code. A link outside is measured once more on a fresh,
    // independent sample of the same size, and fails only if that sample is outside too:
    // a false failure then takes two 1% events (0.01%), while a biased measurement still
    // fails both samples.
    let first: Vec<(f64, f64)> = links
        .iter()
        .map(|link| counters(&m, link, &agent_id))
        .collect::<anyhow::Result<_>>()?;
    let mut outside = Vec::new();
    for ((rate, host), (link, (sent, received))) in
        RATES.iter().zip(&hosts).zip(links.iter().zip(&first))
    {
        let line = check_interval(link, *rate, *sent, *received)?;
        eprintln!("{line}; nft dropped {} so far", host.dropped_packets()?);
        if line.starts_with("OUTSIDE") {
            outside.push((link.clone(), *rate, *sent, *received));
        }
    }
    if !outside.is_empty() {
        eprintln!(
            "measuring {} link(s) again on a fresh sample",
            outside.len()
        );
        let m = wait_until(
            "a second sample of the links outside their interval",
            Duration::from_secs(90),
            Duration::from_millis(500),
            || {
                let running = agent_running(&mut agent);
                async {
                    running?;
                    let m = collector.metrics().await.map_err(|e| e.to_string())?;
                    for (link, _, sent0, _) in &outside {
                        let (sent, _) = counters(&m, link, &agent_id).map_err(|e| e.to_string())?;
                        if sent - sent0 < MIN_PROBES {
                            return Err(format!("{link}: {} new probes", sent - sent0));
                        }
                    }
                    Ok(m)
                }
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}\n{}", logs(&agent, &collector)))?;
        let mut failures = Vec::new();
        for (link, rate, sent0, received0) in &outside {
            let (sent, received) = counters(&m, link, &agent_id)?;
            let line = check_interval(link, *rate, sent - sent0, received - received0)?;
            eprintln!("second sample: {line}");
            if line.starts_with("OUTSIDE") {
                failures.push(line);
            }
        }
        assert!(
            failures.is_empty(),
            "measured loss outside the 99% interval in two independent samples:\n{}",
            failures.join("\n")
        );
    }

    // The interval check above has to allow for the randomness of the drops. The count
    // itself can be checked exactly: stop the drops, let every probe sent before that finish
    // and be reported, and the lost probes the collector counted must be the packets nftables
    // dropped, one for one.
    let mut dropped = Vec::new();
    for host in &hosts {
        dropped.push(host.stop_loss()?);
    }
    let stopped_ms = unix_ms(SystemTime::now());
    // A probe sent just before the stop finishes within the probe timeout; windows ending a
    // second after that have all of them.
    let settled_ms = stopped_ms + 1_300;
    let m = wait_until(
        "windows ending after the last dropped probe finished",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || async {
            let api = collector
                .get_json("/api/v1/links")
                .await
                .map_err(|e| e.to_string())?;
            for link in &links {
                let end = vantage_window_end(&api, link, &agent_id);
                if end.is_none_or(|end| end < settled_ms) {
                    return Err(format!("{link}: newest window ends at {end:?}"));
                }
            }
            collector.metrics().await.map_err(|e| e.to_string())
        },
    )
    .await?;
    for (link, dropped) in links.iter().zip(dropped) {
        let (sent, received) = counters(&m, link, &agent_id)?;
        eprintln!(
            "{link}: {} lost of {sent} in all, nft dropped {dropped}",
            sent - received
        );
        assert_eq!(
            sent - received,
            dropped as f64,
            "{link}: lost probes counted by the collector vs packets dropped by nftables"
        );
    }
    Ok(())
}

/// Checks `sent`/`received` probes of `link` against the 99% binomial interval of the
/// injected `rate` (percent); the returned line starts with `OUTSIDE` when the loss is not
/// inside it.
fn check_interval(link: &str, rate: u8, sent: f64, received: f64) -> anyhow::Result<String> {
    anyhow::ensure!(
        received <= sent && sent.fract() == 0.0 && received.fract() == 0.0,
        "{link}: {received} received of {sent} sent"
    );
    let (sent, lost) = (sent as u64, (sent - received) as u64);
    let (lo, hi) = binomial_interval(sent, f64::from(rate) / 100.0, 0.99);
    let verdict = if (lo..=hi).contains(&lost) {
        "inside"
    } else {
        "OUTSIDE"
    };
    Ok(format!(
        "{verdict}: {link}: lost {lost}/{sent} = {:.4} (injected {rate}%, 99% interval \
         [{lo}, {hi}] = [{:.4}, {:.4}])",
        lost as f64 / sent as f64,
        lo as f64 / sent as f64,
        hi as f64 / sent as f64,
    ))
}

/// `window_end_unix_ms` of the newest window of (`link`, `agent`) in `GET /api/v1/links`.
fn vantage_window_end(api: &serde_json::Value, link: &str, agent: &str) -> Option<i64> {
    api["links"]
        .as_array()?
        .iter()
        .find(|l| l["link"] == link)?["vantages"]
        .as_array()?
        .iter()
        .find(|v| v["agent"] == agent)?["window_end_unix_ms"]
        .as_i64()
}

#[tokio::test]
async fn icmp_loss_lies_in_the_binomial_interval_of_the_injected_rate() -> anyhow::Result<()> {
    loss_is_measured_within_the_binomial_interval("icmp").await
}

#[tokio::test]
async fn tcp_loss_lies_in_the_binomial_interval_of_the_injected_rate() -> anyhow::Result<()> {
    loss_is_measured_within_the_binomial_interval("tcp").await
}

/// Level and domain of links A and B: the same on purpose, so the backbone's fault count of
/// that level proves that B's short outage was not counted.
const AB_PLACE: (&str, &str) = ("city-county", "administrative");
/// Level and domain of link C.
const C_PLACE: (&str, &str) = ("county-township", "public");

/// How long A and B are down. A is over the default 60 s fault minimum, B under it.
const A_OUTAGE: Duration = Duration::from_secs(90);
const B_OUTAGE: Duration = Duration::from_secs(20);

/// How far the collector's fault start and end may be from the injected ones (the issue's
/// bound). With 1 s packets, the first lost probe is sent within 1 s of the outage start. The
/// end can be up to about 2 s late, and that is the network, not zerofault: an ARP resolution
/// the kernel began while the link was down keeps retrying at 1 s and fails up to 1 s after
/// the link is back, answering the probe queued on it with "host unreachable" (seen with the
/// agent's `probe` command too); the next probe, 1 s later, gets through.
const FAULT_TIME_ERROR_MS: i64 = 3_000;

/// How far down seconds may be from the injected outage: the same 1 s probe granularity at
/// each end, plus a margin for a probe whose timeout ends in the next window.
const DOWN_SECONDS_ERROR: f64 = 3.0;

/// What one look at the collector said about link up-ness; `None` when a series is missing.
#[derive(Debug, Clone)]
struct UpSample {
    at_s: f64,
    a: Option<f64>,
    b: Option<f64>,
    c: Option<f64>,
    c_down_state: Option<f64>,
    /// C's link-level state in `/api/v1/links`.
    c_api_state: Option<String>,
}

/// The link-level `state` of `link` in a `GET /api/v1/links` answer.
fn api_link_state(links: &serde_json::Value, link: &str) -> Option<String> {
    links["links"]
        .as_array()?
        .iter()
        .find(|l| l["link"] == link)?["state"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test]
async fn outages_become_faults_only_past_the_minimum_and_one_lost_packet_is_not_down()
-> anyhow::Result<()> {
    const AGENT: &str = "outage";
    let ca = TestCa::new(&[AGENT])?;
    // Defaults on purpose (fault_min 60 s, 3 probes to confirm down, 2 to confirm up): the
    // issue's promises are about the shipped behaviour.
    let collector = Collector::builder(&ca).spawn().await?;
    let (a, b, c) = (TestHost::new()?, TestHost::new()?, TestHost::new()?);
    let probe = |link: &str, host: &TestHost, (level, domain): (&str, &str)| {
        LinkProbe::new(link, "icmp", &host.addr().to_string(), "1s", "500ms").placed(level, domain)
    };
    let mut agent = collector
        .agent(AGENT)
        .interval("1s")
        .probe(probe("A", &a, AB_PLACE))
        .probe(probe("B", &b, AB_PLACE))
        .probe(probe("C", &c, C_PLACE))
        .spawn()?;

    let began = Instant::now();
    let mut samples: Vec<UpSample> = Vec::new();
    let sample = |m: &Exposition, links: &serde_json::Value| {
        let up = |link: &str| {
            m.get("zerofault_link_up", &[("link", link), ("agent", AGENT)])
                .ok()
        };
        UpSample {
            at_s: began.elapsed().as_secs_f64(),
            a: up("A"),
            b: up("B"),
            c: up("C"),
            c_down_state: m
                .get(
                    "zerofault_link_state",
                    &[("link", "C"), ("agent", AGENT), ("state", "down")],
                )
                .ok(),
            c_api_state: api_link_state(links, "C"),
        }
    };
    let look = || async {
        let m = collector.metrics().await?;
        let links = collector.get_json("/api/v1/links").await?;
        anyhow::Ok((m, links))
    };

    // All three links up before anything is injected.
    let m = wait_until(
        "links A, B and C up",
        Duration::from_secs(30),
        Duration::from_millis(250),
        || {
            let running = agent_running(&mut agent);
            async {
                running?;
                let (m, links) = look().await.map_err(|e| e.to_string())?;
                let s = sample(&m, &links);
                if [s.a, s.b, s.c].iter().all(|v| *v == Some(1.0)) {
                    Ok((m, links))
                } else {
                    Err(format!("{s:?}; [{}]", m.describe("zerofault_link_up")))
                }
            }
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}\n{}", logs(&agent, &collector)))?;
    samples.push(sample(&m.0, &m.1));
    eprintln!(
        "[{:5.1}s] links up; injecting: A down 90 s, B down 20 s, one echo request of C dropped",
        began.elapsed().as_secs_f64()
    );

    let a_start = a.outage_start()?;
    let b_start = b.outage_start()?;
    let injected = Instant::now();
    let c_drop = c
        .drop_exactly_one_echo_request(Duration::from_secs(5), Duration::from_millis(5))
        .await?;
    eprintln!(
        "[{:5.1}s] one echo request to C dropped at {}",
        began.elapsed().as_secs_f64(),
        unix_ms(c_drop)
    );

    // One scrape a second until A's fault is closed. Bounded: the outage plus 40 s for the
    // collector to see A up again (a second of probes, two to confirm, a report) and margin.
    let mut b_end = None;
    let mut a_end = None;
    let deadline = injected + A_OUTAGE + Duration::from_secs(40);
    let mut next_progress = Instant::now();
    let a_fault = loop {
        let now = Instant::now();
        anyhow::ensure!(
            now < deadline,
            "A's fault was not closed by {:?} after the outage began; faults of A: {:?}",
            deadline - injected,
            collector.faults(Some("A")).await
        );
        if b_end.is_none() && now >= injected + B_OUTAGE {
            b_end = Some(b.outage_end()?);
            eprintln!("[{:5.1}s] B up again", began.elapsed().as_secs_f64());
        }
        if a_end.is_none() && now >= injected + A_OUTAGE {
            a_end = Some(a.outage_end()?);
            eprintln!("[{:5.1}s] A up again", began.elapsed().as_secs_f64());
        }
        agent_running(&mut agent).map_err(anyhow::Error::msg)?;
        let (m, links) = look().await?;
        let s = sample(&m, &links);
        samples.push(s.clone());
        if now >= next_progress {
            eprintln!("[{:5.1}s] {s:?}", s.at_s);
            next_progress = now + Duration::from_secs(10);
        }
        if a_end.is_some() {
            // Settled: final and stored, so what is checked below is what stays.
            let faults = collector.faults(Some("A")).await?;
            if !faults.is_empty() && faults.iter().all(|f| f.settled) {
                break faults;
            }
        }
        // A look a second, but the ends of the outages on time rather than on the next look.
        let next_end = [(b_end.is_none(), B_OUTAGE), (a_end.is_none(), A_OUTAGE)]
            .into_iter()
            .filter(|(pending, _)| *pending)
            .map(|(_, outage)| (injected + outage).saturating_duration_since(Instant::now()))
            .min()
            .unwrap_or(Duration::MAX);
        tokio::time::sleep(next_end.min(Duration::from_secs(1))).await;
    };
    let (a_start, a_end) = (unix_ms(a_start), unix_ms(a_end.expect("set before break")));
    let (b_start, b_end) = (unix_ms(b_start), unix_ms(b_end.expect("B ends before A")));
    eprintln!(
        "[{:5.1}s] A's fault closed: {a_fault:?}",
        began.elapsed().as_secs_f64()
    );

    // Let one more report in, so that the counters below include the last windows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (m, links) = look().await?;
    samples.push(sample(&m, &links));

    // A: exactly one fault, placed within 3 s of the injected outage at both ends.
    assert_eq!(a_fault.len(), 1, "faults of A: {a_fault:?}");
    let f = &a_fault[0];
    let end = f.end_unix_ms.expect("closed");
    let (start_err, end_err) = (f.start_unix_ms - a_start, end - a_end);
    eprintln!(
        "A: fault {}..{} ({:.1} s) vs injected {a_start}..{a_end} ({:.1} s): start error \
         {start_err} ms, end error {end_err} ms",
        f.start_unix_ms,
        end,
        f.duration_seconds,
        (a_end - a_start) as f64 / 1000.0
    );
    assert!(
        start_err.abs() <= FAULT_TIME_ERROR_MS && end_err.abs() <= FAULT_TIME_ERROR_MS,
        "A's fault {f:?} is not within {FAULT_TIME_ERROR_MS} ms of the outage \
         {a_start}..{a_end} (start error {start_err} ms, end error {end_err} ms)"
    );
    assert_eq!((f.level.as_str(), f.domain.as_str()), AB_PLACE, "{f:?}");
    assert_eq!(f.agents, vec![AGENT.to_string()], "{f:?}");
    assert!(
        (f.duration_seconds * 1000.0 - (end - f.start_unix_ms) as f64).abs() <= 1000.0,
        "duration_seconds agrees with start and end: {f:?}"
    );
    assert_eq!(
        m.get("zerofault_link_faults_total", &[("link", "A")])?,
        1.0,
        "[{}]",
        m.describe("zerofault_link_faults_total")
    );
    let a_down = m.get(
        "zerofault_link_down_seconds_total",
        &[("link", "A"), ("agent", AGENT)],
    )?;
    eprintln!(
        "A: down {a_down:.1} s vs {:.1} s injected",
        (a_end - a_start) as f64 / 1000.0
    );
    assert!(
        (a_down - (a_end - a_start) as f64 / 1000.0).abs() <= DOWN_SECONDS_ERROR,
        "A's down seconds {a_down} vs the injected {} ms",
        a_end - a_start
    );

    // B: down for about its 20 s, but no fault.
    let b_down = m.get(
        "zerofault_link_down_seconds_total",
        &[("link", "B"), ("agent", AGENT)],
    )?;
    let b_injected = (b_end - b_start) as f64 / 1000.0;
    eprintln!("B: down {b_down:.1} s vs {b_injected:.1} s injected");
    assert!(
        (b_down - b_injected).abs() <= DOWN_SECONDS_ERROR,
        "B's down seconds {b_down} vs {b_injected} injected"
    );
    // The link-level count agrees: B's one vantage point is the whole link.
    let b_outage = m.get("zerofault_link_outage_seconds_total", &[("link", "B")])?;
    assert!(
        (b_outage - b_injected).abs() <= DOWN_SECONDS_ERROR,
        "B's link-level outage seconds {b_outage} vs {b_injected} injected"
    );
    assert_eq!(m.get("zerofault_link_faults_total", &[("link", "B")])?, 0.0);
    assert_eq!(collector.faults(Some("B")).await?, vec![], "faults of B");

    // C: the one lost echo request is counted as lost, and nothing else.
    let (sent, received) = counters(&m, "C", AGENT)?;
    eprintln!("C: {received}/{sent} received");
    assert_eq!(
        sent - received,
        1.0,
        "C lost exactly the one dropped request"
    );
    assert_eq!(m.get("zerofault_link_faults_total", &[("link", "C")])?, 0.0);
    assert_eq!(
        m.get(
            "zerofault_link_down_seconds_total",
            &[("link", "C"), ("agent", AGENT)]
        )?,
        0.0
    );
    assert_eq!(collector.faults(Some("C")).await?, vec![], "faults of C");
    // ... and C was up (or degraded, which counts as up) in every look, while the same looks did see A and B down (so a look
    // could have seen C down).
    let c_not_up: Vec<&UpSample> = samples
        .iter()
        .filter(|s| {
            // Degraded is allowed: the window with the lost packet has 100% loss of its one
            // probe, which is past the degraded threshold but not down (hysteresis).
            s.c != Some(1.0)
                || s.c_down_state != Some(0.0)
                || !matches!(s.c_api_state.as_deref(), Some("up" | "degraded"))
        })
        .collect();
    assert!(
        c_not_up.is_empty(),
        "C was not up in {} of {} looks: {c_not_up:?}",
        c_not_up.len(),
        samples.len()
    );
    let seen_down =
        |f: fn(&UpSample) -> Option<f64>| samples.iter().filter(|s| f(s) == Some(0.0)).count();
    let (a_looks, b_looks) = (seen_down(|s| s.a), seen_down(|s| s.b));
    eprintln!(
        "{} looks: A down in {a_looks}, B down in {b_looks}, C up in all",
        samples.len()
    );
    assert!(
        a_looks >= 60 && b_looks >= 10,
        "A down in {a_looks} looks, B in {b_looks}"
    );

    // The backbone: one fault at A and B's level and domain (B did not count), none at C's.
    let backbone = |(level, domain): (&str, &str)| {
        m.sum(
            "zerofault_backbone_faults_total",
            &[("level", level), ("domain", domain)],
        )
    };
    assert_eq!(
        backbone(AB_PLACE),
        1.0,
        "[{}]",
        m.describe("zerofault_backbone_faults_total")
    );
    assert_eq!(backbone(C_PLACE), 0.0);

    // All of it also in the list of links and of all faults.
    let links = collector.get_json("/api/v1/links").await?.to_string();
    for link in ["\"A\"", "\"B\"", "\"C\""] {
        assert!(
            links.contains(link),
            "{link} missing in /api/v1/links: {links}"
        );
    }
    let all = collector.faults(None).await?;
    assert_eq!(all, a_fault, "all faults are A's one");
    eprintln!("[{:5.1}s] done", began.elapsed().as_secs_f64());
    Ok(())
}
