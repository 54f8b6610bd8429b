//! `zerofault-collector validate` as an operator runs it (issue 11, item 9): one run lists
//! every problem of the file (a typo'd key, a wrong type, a missing certificate), each as
//! `file:line:col: key '...': what was expected; the fix`, and exits 1; the fixed file
//! prints `OK: FILE` and exits 0.

use std::process::Command;

#[test]
fn validate_lists_every_problem_with_line_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_zerofault-collector");
    let certs = Command::new(bin)
        .args(["certs", "--dir"])
        .arg(dir.path())
        .args(["--collector-name", "localhost"])
        .output()
        .unwrap();
    assert!(certs.status.success(), "{certs:?}");
    let path = dir.path().join("collector.yaml");
    let config = |cert: &str, extra: &str| {
        format!(
            "listen:\n  ingest: 127.0.0.1:7443\n  http: 127.0.0.1:9464\ntls:\n  ca: ca.pem\n  \
             cert: {cert}\n  key: collector.key\n{extra}"
        )
    };
    std::fs::write(
        &path,
        config(
            "server.pem",
            "limits:\n  max_body_byts: 1048576\nhosts:\n  down_after_intervals: three\n",
        ),
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let file = path.display();
    let d = dir.path().display();
    assert_eq!(
        lines,
        [
            format!(
                "{file}:6:3: key 'tls.cert': cannot read {d}/server.pem: No such file or \
                 directory (os error 2); make the collector's certificate and key with \
                 `zerofault-collector certs --dir {d} --collector-name NAME` (NAME: the host name \
                 agents connect to; writes collector.pem and collector.key), or fix the path"
            ),
            format!(
                "{file}:9:3: key 'limits.max_body_byts': unknown key; expected one of \
                 max_body_bytes, max_decompressed_bytes, body_timeout, body_idle_timeout, connection_idle_timeout, \
                 max_concurrent_decodes, max_pending_bytes, max_connections, \
                     max_connections_per_agent, \
                 max_handshakes_per_address, new_connections_per_address_per_second, \
                 requests_per_agent_per_second; did you mean `max_body_bytes`? Fix the spelling \
                 or remove the key"
            ),
            format!(
                "{file}:11:25: key 'hosts.down_after_intervals': found \"three\", expected a \
                 whole number from 0 to 4294967295, digits only, no unit or quotes; write it so"
            ),
        ]
    );

    std::fs::write(
        &path,
        config("collector.pem", "hosts:\n  down_after_intervals: 3\n"),
    )
    .unwrap();
    let out = Command::new(bin)
        .args(["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("OK: {file}\n")
    );
}
