//! Issue 16's security controls, whole-system: enrollment from a token with the key made on
//! the agent's host only, renewal across a certificate's end without a lost report,
//! revocation on two collectors within 5 s without a restart, and the audit log that
//! records it all and names a deleted, altered or reordered record.

use std::os::unix::fs::PermissionsExt;

use rustls::pki_types::pem::PemObject as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use zerofault_tests::postgres::PgServer;
use zerofault_tests::report::minimal_report;
use zerofault_tests::stored::Stored;
use zerofault_tests::{
    AGENT_BIN, AgentBuilder, COLLECTOR_BIN, Collector, TestCa, bin_path, wait_until,
};

fn run(bin: &str, args: &[&str]) -> Output {
    let out = Command::new(bin_path(bin))
        .args(args)
        .output()
        .expect("the binary runs");
    eprintln!(
        "$ {bin} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A host about to be enrolled: only the CA certificate and a config naming where the
/// certificate and key will go.
struct Host {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Host {
    fn new(id: &str, collector: &Collector, ca: &TestCa) -> Host {
        let dir = tempfile::Builder::new()
            .prefix("zf-host-")
            .tempdir()
            .unwrap();
        std::fs::copy(ca.ca_cert(), dir.path().join("ca.pem")).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        let config = dir.path().join("agent.yaml");
        std::fs::write(
            &config,
            Self::builder(id, collector, dir.path()).config_yaml(&state),
        )
        .unwrap();
        Host { dir, config }
    }

    fn builder(id: &str, collector: &Collector, dir: &Path) -> AgentBuilder {
        AgentBuilder::new(
            id,
            &collector.ingest_url(),
            &dir.join("ca.pem"),
            &dir.join("agent.pem"),
            &dir.join("agent.key"),
        )
    }

    fn cert(&self) -> PathBuf {
        self.dir.path().join("agent.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("agent.key")
    }

    fn enroll(&self, token_file: &Path, force: bool) -> Output {
        let mut args = vec![
            "enroll",
            "--config",
            s(&self.config),
            "--token-file",
            s(token_file),
        ];
        if force {
            args.push("--force");
        }
        run(AGENT_BIN, &args)
    }
}

/// `certs token` for `agents`, valid `valid`, into a new file in `dir`.
fn tokens(collector: &Collector, dir: &Path, name: &str, agents: &[&str], valid: &str) -> PathBuf {
    let out_file = dir.join(name);
    let mut args = vec![
        "certs",
        "token",
        "--config",
        s(collector.config_path()),
        "--valid",
        valid,
        "--out",
        s(&out_file),
    ];
    for a in agents {
        args.extend(["--agent", a]);
    }
    let out = run(COLLECTOR_BIN, &args);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::metadata(&out_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    out_file
}

fn export(collector: &Collector) -> Vec<serde_json::Value> {
    let out = run(
        COLLECTOR_BIN,
        &["audit", "export", "--config", s(collector.config_path())],
    );
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn events<'a>(records: &'a [serde_json::Value], event: &str) -> Vec<&'a serde_json::Value> {
    records.iter().filter(|r| r["event"] == event).collect()
}

fn verify(collector: &Collector, extra: &[&str]) -> Output {
    let mut args = vec!["audit", "verify", "--config", s(collector.config_path())];
    args.extend(extra);
    run(COLLECTOR_BIN, &args)
}

fn enrollment(ca: &TestCa, validity: &str) -> String {
    format!(
        "enrollment:\n  ca_dir: {}\n  certificate_validity: {validity}\naudit:\n  seal_interval: 1s\n",
        s(ca.dir())
    )
}

#[tokio::test]
async fn an_agent_enrolls_from_a_token_and_a_token_works_once_before_it_expires() {
    let ca = TestCa::new(&[]).unwrap();
    let collector = Collector::builder(&ca)
        .extra_config(&enrollment(&ca, "90d"))
        .spawn()
        .await
        .unwrap();
    let host = Host::new("web-01", &collector, &ca);
    let work = tempfile::tempdir().unwrap();
    let token = tokens(&collector, work.path(), "t1", &["web-01", "web-02"], "1h");

    let out = host.enroll(&token, false);
    assert!(out.status.success(), "{}", text(&out));
    // The key was made here: mode 0600, and nowhere on the collector's side.
    assert_eq!(
        std::fs::metadata(host.key()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key_pem = std::fs::read_to_string(host.key()).unwrap();
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(key_body.len() > 40);
    for dir in [collector.dir(), ca.dir()] {
        for entry in walk(dir) {
            let bytes = std::fs::read(&entry).unwrap_or_default();
            let flat: String = String::from_utf8_lossy(&bytes).split_whitespace().collect();
            assert!(
                !flat.contains(&key_body),
                "the agent's key is in {}",
                entry.display()
            );
        }
    }
    let cert = std::fs::read(host.cert()).unwrap();
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&cert).unwrap();
    assert_eq!(
        zerofault_common::certificate_common_name(der.as_ref()).as_deref(),
        Some("web-01")
    );

    // The enrolled agent reports.
    let mut agent = Host::builder("web-01", &collector, host.dir.path())
        .spawn()
        .unwrap();
    wait_until(
        "web-01's reports are stored",
        Duration::from_secs(20),
        Duration::from_millis(200),
        || async {
            match Stored::read(&collector.db_path()) {
                Ok(s) if s.agents.contains_key("web-01") => Ok(()),
                Ok(_) => Err("none yet".to_owned()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
    .unwrap();
    agent.stop(Duration::from_secs(10)).unwrap();

    // The same token again: refused, and said why.
    let out = host.enroll(&token, true);
    assert!(!out.status.success());
    assert!(text(&out).contains("already used"), "{}", text(&out));
    // web-02's token is not web-01's.
    let other = work.path().join("other");
    let t = std::fs::read_to_string(&token).unwrap();
    let web02 = t.lines().find(|l| l.starts_with("web-02")).unwrap();
    std::fs::write(&other, web02.split('\t').nth(1).unwrap()).unwrap();
    let out = host.enroll(&other, true);
    assert!(text(&out).contains("another agent id"), "{}", text(&out));
    // An expired token.
    let short = tokens(&collector, work.path(), "t2", &["web-01"], "1s");
    std::thread::sleep(Duration::from_millis(1500));
    let out = host.enroll(&short, true);
    assert!(!out.status.success());
    assert!(text(&out).contains("expired"), "{}", text(&out));
    // Something that is not a token at all.
    std::fs::write(&other, "zfe1_notatoken").unwrap();
    let out = host.enroll(&other, true);
    assert!(
        text(&out).contains("not an enrollment token"),
        "{}",
        text(&out)
    );
    // The certificate in place was kept through the refusals.
    assert_eq!(std::fs::read(host.cert()).unwrap(), cert);

    // Stopped: the queued records and the per-minute counts of refusals are written.
    let mut collector = collector;
    collector.stop(Duration::from_secs(10)).unwrap();
    let records = export(&collector);
    let enrolls = events(&records, "agent.enroll");
    let refused: Vec<String> = enrolls
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(r["details"].as_str().unwrap()).unwrap()
                ["refused"]
                .as_str()
                .unwrap_or("enrolled")
                .to_owned()
        })
        .collect();
    assert_eq!(
        enrolls.first().map(|r| &r["outcome"]),
        Some(&serde_json::json!("success"))
    );
    for why in [
        "enrolled",
        "token already used",
        "token for another agent id",
        "token expired",
    ] {
        assert!(refused.iter().any(|r| r == why), "{why} not in {refused:?}");
    }
    // What anyone can send without a real token is counted per source, not recorded apiece.
    assert!(
        events(&records, "auth.failure").iter().any(|r| r["details"]
            .as_str()
            .unwrap()
            .contains("enroll_malformed_token")),
        "{records:?}"
    );
    assert_eq!(events(&records, "token.create").len(), 2);
    assert!(enrolls.iter().all(|r| r["actor"] == "agent:web-01"));
    let out = verify(&collector, &[]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn an_agent_renews_across_its_certificates_end_without_losing_a_report() {
    let ca = TestCa::new(&[]).unwrap();
    // 30 s certificates: renewed after 20 s (two thirds of their life).
    let collector = Collector::builder(&ca)
        .extra_config(&enrollment(&ca, "30s"))
        .spawn()
        .await
        .unwrap();
    let host = Host::new("db-01", &collector, &ca);
    let token = tokens(&collector, host.dir.path(), "t", &["db-01"], "1h");
    let out = host.enroll(&token, false);
    assert!(out.status.success(), "{}", text(&out));
    let first = std::fs::read(host.cert()).unwrap();
    let started = Instant::now();
    let mut agent = Host::builder("db-01", &collector, host.dir.path())
        .spawn()
        .unwrap();
    // Past the first certificate's end (30 s) and into the second's life.
    wait_until(
        "the agent renewed",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || async { agent_renewed(&host, &first) },
    )
    .await
    .unwrap();
    let until = started + Duration::from_secs(40);
    tokio::time::sleep(until.saturating_duration_since(Instant::now())).await;
    agent.stop(Duration::from_secs(10)).unwrap();
    assert!(
        agent.output().contains("client certificate renewed"),
        "{}",
        agent.output()
    );

    let stored = Stored::read(&collector.db_path()).unwrap();
    let boot = stored.only_boot("db-01").unwrap();
    let last = agent.sequence().unwrap();
    let first = *boot.keys().next().unwrap();
    let missing = zerofault_tests::stored::missing(boot, first, last);
    assert!(
        missing.is_empty(),
        "lost reports: {}",
        zerofault_tests::stored::ranges(&missing)
    );
    // Reports went on after the first certificate ended (30 s): one a second for 40 s.
    assert!(boot.len() as u64 >= 35, "{} reports in 40 s", boot.len());
    let records = export(&collector);
    let renewals = events(&records, "agent.renew");
    assert!(!renewals.is_empty() && renewals.iter().all(|r| r["outcome"] == "success"));
}

fn agent_renewed(host: &Host, first: &[u8]) -> Result<(), String> {
    let now = std::fs::read(host.cert()).unwrap_or_default();
    if !now.is_empty() && now != first {
        Ok(())
    } else {
        Err("the certificate is the first one".into())
    }
}

/// POSTs report `seq` of `id` to `collector`; the status (0: no answer).
async fn post(client: &reqwest::Client, collector: &Collector, id: &str, seq: u64) -> u16 {
    zerofault_tests::report::post_report(client, &collector.report_url(), &minimal_report(id, seq))
        .await
        .map_or(0, |(status, _)| status.as_u16())
}

#[tokio::test]
async fn a_revoked_agent_is_refused_by_every_collector_within_5s_and_the_log_shows_it() {
    let pg = PgServer::shared();
    let url = pg.create_database("revocation").unwrap();
    let ca = TestCa::new(&["web-01"]).unwrap();
    let start = |name: &str| {
        Collector::builder(&ca)
            .postgres(&url)
            .extra_config(&format!("instance: {name}\naudit:\n  seal_interval: 1s\n"))
            .spawn()
    };
    let a = start("a").await.unwrap();
    let b = start("b").await.unwrap();
    let client = ca.ingest_client(Some("web-01")).unwrap();
    let mut seq = 0;
    let mut accepted = 0;
    for c in [&a, &b] {
        seq += 1;
        assert_eq!(post(&client, c, "web-01", seq).await, 200);
        accepted += 1;
    }

    let out = run(
        COLLECTOR_BIN,
        &[
            "certs",
            "revoke",
            "web-01",
            "--config",
            s(a.config_path()),
            "--reason",
            "laptop stolen",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let revoked_at = Instant::now();
    for c in [&a, &b] {
        loop {
            seq += 1;
            // On the kept-alive connection: a connection opened before the revocation is
            // refused too.
            let status = post(&client, c, "web-01", seq).await;
            if status == 403 {
                break;
            }
            assert_eq!(status, 200);
            accepted += 1;
            assert!(
                revoked_at.elapsed() < Duration::from_secs(5),
                "still accepted after 5 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let took = revoked_at.elapsed();
    eprintln!("revocation in force on both collectors after {took:?}");
    assert!(took < Duration::from_secs(5));
    // Not stored, and the response does not say why; the log does.
    let (status, body) = zerofault_tests::report::post_report(
        &client,
        &a.report_url(),
        &minimal_report("web-01", 999),
    )
    .await
    .unwrap();
    assert_eq!(status.as_u16(), 403);

    assert!(!body.contains("revoked"), "{body}");
    assert!(a.output().contains("revoked"));
    let db = url.rsplit('/').next().unwrap();
    let stored = pg
        .psql(db, "SELECT count(*) FROM reports WHERE agent_id = 'web-01'")
        .unwrap();
    let seqs = pg
        .psql(db, "SELECT string_agg(sequence::text, ',' ORDER BY sequence) FROM reports WHERE agent_id = 'web-01'")
        .unwrap();
    assert_eq!(
        stored.trim(),
        accepted.to_string(),
        "{stored}: {seqs}, seq {seq}"
    );

    let out = run(
        COLLECTOR_BIN,
        &[
            "certs",
            "unrevoke",
            "web-01",
            "--config",
            s(b.config_path()),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Reinstated, the identity is accepted again, but only with a certificate issued from
    // now on: the one it had (perhaps the stolen one) stays out.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(post(&client, &b, "web-01", 1000).await, 403);
    let reissued = run(
        COLLECTOR_BIN,
        &[
            "certs",
            "--dir",
            s(ca.dir()),
            "--agent",
            "web-01",
            "--force",
        ],
    );
    assert!(reissued.status.success(), "{}", text(&reissued));
    let fresh = ca.ingest_client(Some("web-01")).unwrap();
    wait_until(
        "accepted again with the new certificate",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || async {
            match post(&fresh, &b, "web-01", 1001).await {
                200 => Ok(()),
                s => Err(format!("status {s}")),
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(post(&client, &a, "web-01", 1002).await, 403);

    // One chain for both collectors, sealed by each with its own key.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let out = verify(&a, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let records = export(&a);
    assert_eq!(events(&records, "cert.revoke").len(), 1);
    assert_eq!(events(&records, "cert.unrevoke").len(), 1);
    let instances: std::collections::BTreeSet<&str> = events(&records, "audit.seal")
        .iter()
        .map(|r| r["instance"].as_str().unwrap())
        .collect();
    assert_eq!(instances.into_iter().collect::<Vec<_>>(), ["a", "b"]);
}

#[tokio::test]
async fn audit_verify_names_the_record_deleted_altered_or_reordered() {
    let ca = TestCa::new(&["web-01"]).unwrap();
    let mut collector = Collector::builder(&ca)
        .extra_config("audit:\n  seal_interval: 1s\n")
        .spawn()
        .await
        .unwrap();
    for cmd in ["revoke", "unrevoke", "revoke"] {
        let out = run(
            COLLECTOR_BIN,
            &[
                "certs",
                cmd,
                "web-01",
                "--config",
                s(collector.config_path()),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    collector.stop(Duration::from_secs(10)).unwrap();
    let out = verify(&collector, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("seals checked"), "{}", text(&out));

    // The exported file verifies too, and a moved or deleted line is named.
    let file = collector.dir().join("audit.jsonl");
    let exported = run(
        COLLECTOR_BIN,
        &[
            "audit",
            "export",
            "--config",
            s(collector.config_path()),
            "--out",
            s(&file),
        ],
    );
    assert!(exported.status.success());
    let out = verify(&collector, &["--file", s(&file)]);
    assert!(out.status.success(), "{}", text(&out));
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut moved = lines.clone();
    moved.swap(1, 2);
    std::fs::write(&file, moved.join("\n")).unwrap();
    let out = verify(&collector, &["--file", s(&file)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("record 2 comes after record 3"),
        "{}",
        text(&out)
    );

    let db = collector.db_path();
    let tamper = |sql: &str| {
        let copy = collector.dir().join("pristine.db");
        if !copy.exists() {
            std::fs::copy(&db, &copy).unwrap();
        }
        std::fs::copy(&copy, &db).unwrap();
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(sql).unwrap();
        drop(conn);
        verify(&collector, &[])
    };
    let out = tamper("UPDATE audit_log SET details = '{\"agent\":\"db-09\"}' WHERE seq = 3;");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("record 3 was altered"),
        "{}",
        text(&out)
    );
    let out = tamper("DELETE FROM audit_log WHERE seq = 3;");
    assert!(
        text(&out).contains("records 3 to 3 are missing"),
        "{}",
        text(&out)
    );
    // Moved: record 3's row now says it is record 2 and the other way round.
    let out = tamper(
        "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3; \
         UPDATE audit_log SET seq = 3 WHERE seq = -1;",
    );
    assert!(
        text(&out).contains("record 2 was altered"),
        "{}",
        text(&out)
    );
    // The newest record deleted: the head row still names it.
    let out = tamper("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log);");
    assert!(
        text(&out).contains("the newest records were deleted"),
        "{}",
        text(&out)
    );
    // The oldest record deleted (not by retention).
    let out = tamper("DELETE FROM audit_log WHERE seq = 1;");
    assert!(text(&out).contains("starts at record 2"), "{}", text(&out));
    // A seal whose signature was changed.
    let out = tamper(
        "UPDATE audit_log SET details = replace(details, '\"signature\":\"30', '\"signature\":\"31')          WHERE event = 'audit.seal';",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

/// The leaf certificate a new TLS connection to `collector`'s ingest listener is shown.
async fn server_leaf(ca: &TestCa, collector: &Collector) -> Vec<u8> {
    let tls = tokio_rustls::TlsConnector::from(ca.tls_client_config(None).unwrap());
    let tcp = tokio::net::TcpStream::connect(collector.ingest_addr())
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = tls.connect(name, tcp).await.unwrap();
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn the_server_certificate_is_replaced_on_sighup_without_dropping_an_agent() {
    let ca = TestCa::new(&["web-01"]).unwrap();
    let collector = Collector::builder(&ca).spawn().await.unwrap();
    let mut agent = collector.agent("web-01").spawn().unwrap();
    let before = server_leaf(&ca, &collector).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let out = run(
        COLLECTOR_BIN,
        &[
            "certs",
            "--dir",
            s(ca.dir()),
            "--force",
            "--collector-name",
            "127.0.0.1",
            "--collector-name",
            "localhost",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let hup = Command::new("kill")
        .args(["-HUP", &collector.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_until(
        "new connections get the new certificate",
        Duration::from_secs(5),
        Duration::from_millis(100),
        || async {
            if server_leaf(&ca, &collector).await != before {
                Ok(())
            } else {
                Err("still the old certificate".to_owned())
            }
        },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    agent.stop(Duration::from_secs(10)).unwrap();

    let stored = Stored::read(&collector.db_path()).unwrap();
    let boot = stored.only_boot("web-01").unwrap();
    let first = *boot.keys().next().unwrap();
    let last = agent.sequence().unwrap();
    let missing = zerofault_tests::stored::missing(boot, first, last);
    assert!(
        missing.is_empty(),
        "lost: {}",
        zerofault_tests::stored::ranges(&missing)
    );
    assert!(boot.len() >= 5, "{} reports", boot.len());
    let records = export(&collector);
    let reloads = events(&records, "cert.reload");
    assert!(
        reloads.iter().any(|r| r["outcome"] == "success"),
        "{records:?}"
    );
}
