//! The real binary killed with SIGKILL again and again while the collector is unreachable:
//! every restart comes up, and every report it made (fsynced before sending) is still in
//! the spool, in order, with at most the one report in the making lost per kill.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use zerofault_agent::spool::{Spool, SpoolOptions};

const BIN: &str = env!("CARGO_BIN_EXE_zerofault-agent");

#[test]
fn sigkill_ten_times_loses_no_spooled_report() {
    let pki = common::pki();
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: every report stays in the spool.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "agent:\n  id: web-01\n  state_dir: state\ncollector:\n  url: https://127.0.0.1:{port}\n\
             tls:\n  ca: {}\n  cert: {}\n  key: {}\ninterval: 1s\n",
            pki.tls.ca.display(),
            pki.tls.cert.display(),
            pki.tls.key.display()
        ),
    )
    .unwrap();
    for i in 0..10u64 {
        let mut child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Between 0.5 and 2.5 s: after 1 to 3 reports, at varying points of the cycle.
        std::thread::sleep(Duration::from_millis(500 + (i * 337) % 2000));
        assert!(
            child.try_wait().unwrap().is_none(),
            "run {i}: the agent exited on its own (crash loop?)"
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let state = dir.path().join("state");
    let last: u64 = std::fs::read_to_string(state.join("sequence"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut spool = Spool::open(SpoolOptions::new(state.join("spool"), 512 << 20)).unwrap();
    let seqs: Vec<u64> = spool
        .pending_ids()
        .into_iter()
        .map(|id| {
            zerofault_protocol::decode_report(&spool.read(id).unwrap(), 1 << 24)
                .unwrap()
                .sequence
        })
        .collect();
    assert!(seqs.len() >= 10, "{seqs:?}");
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    // A number is allocated (and persisted) just before the report is made; a kill between
    // the two loses that one report, never one already spooled.
    let first = seqs[0];
    let missing = (first..=last).filter(|s| !seqs.contains(s)).count();
    assert!(
        missing <= 10,
        "{missing} missing of {first}..={last}: {seqs:?}"
    );
    assert!(spool.corrupt_total() <= 10, "{}", spool.corrupt_total());
    assert_eq!(spool.dropped_total(), 0);
}
