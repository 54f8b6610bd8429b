//! IPv6 end to end (issue 17; needs root): a real agent probes a test host in a network
//! namespace at its address in 2001:2::/48 (RFC 5180's benchmarking range) with ICMPv6, TCP
//! and HTTP, and reports over IPv6 (`https://[::1]:PORT`) to a collector whose ingest
//! listener is the shipped default form `"[::]:PORT"`; a second agent reports to the same
//! listener over IPv4, which a dual-stack listener must take as well.

use std::path::Path;
use std::time::Duration;

use zerofault_tests::{Collector, LinkProbe, TestCa, TestHost, wait_until};

/// The listener binary of this crate, run inside the namespace.
const LISTENER: &str = env!("CARGO_BIN_EXE_zf-listen");
const TCP_PORT: u16 = 7000;
const HTTP_PORT: u16 = 7080;

#[tokio::test]
async fn probes_and_reports_travel_over_ipv6() -> anyhow::Result<()> {
    let mut host = TestHost::new()?;
    let addr6 = host.addr6().ok_or_else(|| {
        anyhow::anyhow!(
            "this kernel has no IPv6 (/proc/sys/net/ipv6 is missing): the IPv6 tests need it"
        )
    })?;
    for (port, mode) in [(TCP_PORT, None), (HTTP_PORT, Some("http"))] {
        let addr = format!("[{addr6}]:{port}");
        let mut args = vec![addr.as_str(), "600"];
        args.extend(mode);
        host.spawn_in("zf-listen", Path::new(LISTENER), &args, "listening on")?;
    }

    let ca = TestCa::new(&["v6-agent", "v4-agent"])?;
    let collector = Collector::builder(&ca)
        .ingest_on_every_address()
        .spawn()
        .await?;
    let mut v6 = zerofault_tests::AgentBuilder::new(
        "v6-agent",
        &collector.ingest_url_ipv6(),
        &ca.ca_cert(),
        &ca.agent_cert("v6-agent"),
        &ca.agent_key("v6-agent"),
    )
    .interval("1s");
    let probes = [
        ("v6-icmp", "icmp", addr6.to_string()),
        ("v6-tcp", "tcp", format!("[{addr6}]:{TCP_PORT}")),
        ("v6-http", "http", format!("http://[{addr6}]:{HTTP_PORT}/")),
    ];
    for (link, kind, target) in &probes {
        v6 = v6.probe(LinkProbe::new(link, kind, target, "200ms", "1s"));
    }
    let _v6 = v6.spawn()?;
    let _v4 = collector.agent("v4-agent").spawn()?;

    let m = wait_until(
        "both agents up and 5 answered probes on each IPv6 link",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async {
            let m = collector.metrics().await.map_err(|e| e.to_string())?;
            for agent in ["v6-agent", "v4-agent"] {
                let up = m
                    .get("zerofault_host_up", &[("agent", agent)])
                    .map_err(|e| e.to_string())?;
                if up != 1.0 {
                    return Err(format!("{agent} is not up"));
                }
            }
            for (link, _, _) in &probes {
                let labels = [("link", *link), ("agent", "v6-agent")];
                let received = m
                    .get("zerofault_link_probes_received_total", &labels)
                    .map_err(|e| e.to_string())?;
                if received < 5.0 {
                    return Err(format!("{link}: {received} answered probes so far"));
                }
            }
            Ok(m)
        },
    )
    .await?;
    // A veth does not lose packets: at most the probe in flight at the scrape is missing.
    for (link, _, _) in &probes {
        let labels = [("link", *link), ("agent", "v6-agent")];
        let sent = m.get("zerofault_link_probes_sent_total", &labels)?;
        let received = m.get("zerofault_link_probes_received_total", &labels)?;
        assert!(
            sent - received <= 1.0,
            "{link}: {received} of {sent} probes answered over IPv6"
        );
    }
    Ok(())
}
