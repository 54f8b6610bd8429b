//! The test-network harness itself (needs root): test hosts are reachable, injected loss,
//! single drops and outages do what the link tests rely on, and everything is removed, also
//! when a test panics. `fping` is the independent prober here, so a failure points at the
//! harness rather than at the agent.

use std::net::{Ipv4Addr, TcpStream};
use std::process::Command;
use std::time::Duration;

use zerofault_tests::TestHost;
use zerofault_tests::stats::binomial_interval;

/// Sends `count` echo requests at `interval_ms` to `addr` with fping; (sent, received).
fn fping(addr: Ipv4Addr, count: u32, interval_ms: u32) -> (u64, u64) {
    let out = Command::new("fping")
        .args([
            "-q",
            "-c",
            &count.to_string(),
            "-p",
            &interval_ms.to_string(),
            "-t",
            "300",
            &addr.to_string(),
        ])
        .output()
        .expect("run fping (Debian package fping), the independent prober of these tests");
    // fping -q prints "ADDR : xmt/rcv/%loss = 400/283/29%, min/avg/max = ..." on stderr,
    // and exits 1 when any packet was lost, so the status is not an error here.
    let text = String::from_utf8_lossy(&out.stderr);
    let counts = text
        .split("xmt/rcv/%loss = ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected fping output: {text}"));
    let mut parts = counts.split(['/', '%']);
    let sent = parts.next().unwrap().trim().parse().unwrap();
    let received = parts.next().unwrap().trim().parse().unwrap();
    (sent, received)
}

fn namespace_exists(name: &str) -> bool {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

fn interface_exists(name: &str) -> bool {
    Command::new("ip")
        .args(["link", "show", name])
        .output()
        .unwrap()
        .status
        .success()
}

#[tokio::test]
async fn injected_icmp_loss_is_random_at_the_rate_and_cleared() -> anyhow::Result<()> {
    let host = TestHost::new()?;
    let addr = host.addr();
    assert!(
        addr.octets()[0] == 198 && (addr.octets()[1] & 0xfe) == 18,
        "{addr} is in 198.18.0.0/15"
    );
    host.inject_icmp_loss(30)?;
    let (sent, received) = fping(addr, 600, 5);
    let lost = sent - received;
    // 99.9%: this checks that the rule drops at about its rate, not an agent; a wider
    // interval keeps the harness's own test from failing one run in a hundred.
    let (lo, hi) = binomial_interval(sent, 0.3, 0.999);
    eprintln!("fping: {lost}/{sent} lost at 30% injected, 99.9% interval [{lo}, {hi}]");
    // Every loss is one the rule made (fping's timeout is far above a veth round trip).
    assert_eq!(
        host.dropped_packets()?,
        lost,
        "nft drop counter vs fping loss"
    );
    assert!((lo..=hi).contains(&lost), "{lost} lost not in [{lo}, {hi}]");

    // stop_loss: no drop after it, and its count is final.
    assert_eq!(host.stop_loss()?, lost);
    assert_eq!(fping(addr, 50, 5), (50, 50), "no loss after stop_loss");
    assert_eq!(host.dropped_packets()?, lost);

    host.inject_icmp_loss(30)?;
    host.clear_loss()?;
    assert_eq!(host.dropped_packets()?, 0);
    assert_eq!(fping(addr, 100, 5), (100, 100), "no loss after clear_loss");

    host.inject_icmp_loss(100)?;
    assert_eq!(fping(addr, 20, 5), (20, 0), "100% loss");
    Ok(())
}

#[tokio::test]
async fn exactly_one_echo_request_is_dropped() -> anyhow::Result<()> {
    let host = TestHost::new()?;
    let addr = host.addr();
    // fping runs on its own thread while the harness waits for the drop.
    let pinger = std::thread::spawn(move || fping(addr, 30, 100));
    host.drop_exactly_one_echo_request(Duration::from_secs(10), Duration::from_millis(5))
        .await?;
    let (sent, received) = pinger.join().unwrap();
    assert_eq!((sent, sent - received), (30, 1), "sent, lost");
    Ok(())
}

#[tokio::test]
async fn an_outage_loses_everything_until_the_link_is_up_again() -> anyhow::Result<()> {
    let host = TestHost::new()?;
    let start = host.outage_start()?;
    assert_eq!(fping(host.addr(), 5, 100), (5, 0), "all lost while down");
    let end = host.outage_end()?;
    assert!(end > start);
    // The first echo after "up" may wait for ARP; a second later the link is clean.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        fping(host.addr(), 10, 20),
        (10, 10),
        "all answered after up"
    );
    Ok(())
}

#[tokio::test]
async fn tcp_listener_in_the_namespace_and_syn_loss() -> anyhow::Result<()> {
    let mut host = TestHost::new()?;
    let target = std::net::SocketAddr::from((host.addr(), 7001));
    host.spawn_in(
        "zf-listen",
        std::path::Path::new(env!("CARGO_BIN_EXE_zf-listen")),
        &[&target.to_string(), "120"],
        "listening on",
    )?;
    TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    host.inject_tcp_syn_loss(7001, 100)?;
    let err = TcpStream::connect_timeout(&target, Duration::from_millis(300)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(host.dropped_packets()? >= 1);
    host.clear_loss()?;
    TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    Ok(())
}

#[tokio::test]
async fn everything_is_removed_on_drop_also_after_a_panic() -> anyhow::Result<()> {
    let host = TestHost::new()?;
    let (ns, root_if) = (host.name().to_string(), host.root_interface().to_string());
    assert!(namespace_exists(&ns) && interface_exists(&root_if));
    drop(host);
    assert!(!namespace_exists(&ns), "{ns} still exists");
    assert!(!interface_exists(&root_if), "{root_if} still exists");

    // A test that fails while its host (with a process inside) is alive: the unwinding drop
    // removes it.
    let names = std::thread::spawn(|| {
        let mut host = TestHost::new().unwrap();
        host.spawn_in(
            "zf-listen",
            std::path::Path::new(env!("CARGO_BIN_EXE_zf-listen")),
            &[&format!("{}:7002", host.addr()), "120"],
            "listening on",
        )
        .unwrap();
        let names = (host.name().to_string(), host.root_interface().to_string());
        std::panic::panic_any(names)
    })
    .join()
    .unwrap_err();
    let (ns, root_if) = names.downcast_ref::<(String, String)>().unwrap().clone();
    assert!(!namespace_exists(&ns), "{ns} survived a panic");
    assert!(!interface_exists(&root_if), "{root_if} survived a panic");
    Ok(())
}
