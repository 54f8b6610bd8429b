//! The real binary: `once --json`, `once`, `validate` and usage errors.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_zerofault-agent");

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("agent.yaml");
    std::fs::write(
        &path,
        format!(
            "agent:\n  id: test-01\n  state_dir: state\nlabels:\n  department: fgw\n  datacenter: dc-north\n\
             collector:\n  url: https://127.0.0.1:7443\ntls:\n  ca: ca.pem\n  cert: agent.pem\n  key: agent.key\n{extra}"
        ),
    )
    .unwrap();
    path
}

fn mem_total_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    kib * 1024
}

#[test]
fn once_json_prints_a_complete_report() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "interval: 30s\n");
    let out = Command::new(BIN)
        .args(["once", "--json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["memory"]["total_bytes"].as_u64(), Some(mem_total_bytes()));
    assert_eq!(v["protocol_version"], 1);
    assert_eq!(v["agent_id"], "test-01");
    assert_eq!(v["interval_ms"], 30_000);
    assert_eq!(v["labels"]["department"], "fgw");
    assert_eq!(v["agent_version"], env!("CARGO_PKG_VERSION"));
    assert!(v["sequence"].as_u64().unwrap() > 0);
    assert!(!v["boot_id"].as_str().unwrap().is_empty());
    assert!(v["boot_time_unix_seconds"].as_i64().unwrap() > 0);
    assert!(v["cpu"]["logical_cores"].as_u64().unwrap() >= 1);
    assert!(!v["filesystems"].as_array().unwrap().is_empty(), "{v}");
    assert!(!v["interfaces"].as_array().unwrap().is_empty(), "{v}");
    // The JSON is the protocol's serde form: it reads back as a valid report.
    let report: zerofault_protocol::Report = serde_json::from_slice(&out.stdout).unwrap();
    report
        .validate(&zerofault_protocol::Limits::default())
        .unwrap();
    // `once` sends nothing and persists nothing.
    assert!(!dir.path().join("state").exists());
}

#[test]
fn once_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let out = Command::new(BIN)
        .args(["once", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("agent test-01 on "), "{text}");
    assert!(text.contains("\nmemory: "), "{text}");
    assert!(text.contains("bytes on the wire"), "{text}");
}

#[test]
fn validate_names_the_missing_certificate_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key 'tls.ca'"), "{stderr}");
    assert!(stderr.contains("ca.pem"), "{stderr}");
}

#[test]
fn validate_refuses_http_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, "agent:\n  id: a\ncollector:\n  url: http://x:1\n").unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key 'collector.url'"), "{stderr}");

    std::fs::write(&path, "agent:\n  id: a\n  name: b\n").unwrap();
    let out = Command::new(BIN)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("'agent.name': unknown key"), "{stderr}");
    assert!(
        stderr.contains("agent.yaml:3:3: key 'agent.name'"),
        "{stderr}"
    );
}

#[test]
fn usage_error_exits_2() {
    let out = Command::new(BIN).arg("run").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["run", "once", "validate"] {
        assert!(help.contains(cmd), "{help}");
    }
}
