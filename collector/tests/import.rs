//! `zerofault-collector import`: the library function against a real SQLite store, and the
//! built binary (exit codes, messages, stdin, a database shared with a running store).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use zerofault_collector::cmd::import::{
    ImportObserver, ImportOptions, ImportSummary, LineError, ReceivedTime, import,
};
use zerofault_collector::store::{SqliteStore, Store};
use zerofault_protocol::Report;
use zerofault_tests::report::minimal_report as report;

/// Records refusals as (line, reason, message).
#[derive(Debug, Default)]
struct Recorder(Vec<(u64, &'static str, String)>);

impl ImportObserver for Recorder {
    fn rejected(&mut self, line: u64, error: &LineError) {
        self.0
            .push((line, error.reason().as_str(), error.to_string()));
    }
}

fn json(r: &Report) -> String {
    serde_json::to_string(r).unwrap()
}

fn opts() -> ImportOptions {
    ImportOptions {
        received: ReceivedTime::ImportTime,
        max_decompressed_bytes: 1 << 20,
        expect_agent: None,
        source: "test.jsonl".into(),
    }
}

/// Lines 1, 3 and 6 are good, 2 is blank, 4 is not JSON, 5 is a report that fails validation
/// (interval_ms 0) under a key of its own, 7 repeats line 1.
fn mixed_input() -> (String, Report) {
    let mut bad = report("web-01", 99);
    bad.interval_ms = 0;
    let text = [
        json(&report("web-01", 1)),
        String::new(),
        json(&report("web-01", 2)),
        "{\"agent_id\": \"web-01\", ".into(),
        json(&bad),
        json(&report("db-01", 1)),
        json(&report("web-01", 1)),
    ]
    .join("\n")
        + "\n";
    (text, bad)
}

fn rows_with_sequence(db: &Path, agent: &str, sequence: u64) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM reports WHERE agent_id = ?1 AND sequence = ?2",
        rusqlite::params![agent, sequence as i64],
        |r| r.get(0),
    )
    .unwrap()
}

async fn run_import(
    store: &Arc<SqliteStore>,
    text: &str,
    o: &ImportOptions,
) -> (ImportSummary, Recorder) {
    let mut rec = Recorder::default();
    let store: Arc<dyn Store> = store.clone();
    let summary = import(store, &mut text.as_bytes(), o, &mut rec)
        .await
        .unwrap();
    (summary, rec)
}

#[tokio::test]
async fn good_lines_are_stored_bad_lines_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("z.db");
    let store = Arc::new(SqliteStore::open(&db).await.unwrap());
    let (text, bad) = mixed_input();

    let (summary, rec) = run_import(&store, &text, &opts()).await;

    assert_eq!(summary.lines, 7);
    assert_eq!(summary.blank, 1);
    assert_eq!(summary.stored, 3);
    assert_eq!(summary.duplicates, 1, "line 7 repeats line 1");
    assert_eq!(summary.rejected.get("malformed"), Some(&1));
    assert_eq!(summary.rejected.get("invalid"), Some(&1));
    let lines: Vec<(u64, &str)> = rec.0.iter().map(|(l, r, _)| (*l, *r)).collect();
    assert_eq!(lines, vec![(4, "malformed"), (5, "invalid")]);
    assert!(rec.0[1].2.contains("interval_ms"), "{:?}", rec.0[1]);

    assert_eq!(store.count_reports().await.unwrap(), 3);
    // Nothing of the invalid report was written.
    assert_eq!(rows_with_sequence(&db, &bad.agent_id, bad.sequence), 0);

    // Stored as live ingest stores: the protobuf body of the report, newest per agent found.
    let latest = store.newest_per_boot().await.unwrap();
    let web = latest.iter().find(|r| r.agent_id == "web-01").unwrap();
    let decoded: Report = prost::Message::decode(web.body.as_slice()).unwrap();
    assert_eq!(decoded, report("web-01", web.sequence));
    assert_eq!(web.agent_timestamp_ms, decoded.timestamp_unix_ms);
    store.close().await;
}

/// The agent's `once --json` form: the protocol's golden JSON, compacted to one line.
#[tokio::test]
async fn the_agent_json_form_imports_unchanged() {
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/golden/report_v1.json");
    let pretty = std::fs::read_to_string(golden).unwrap();
    let expected: Report = serde_json::from_str(&pretty).unwrap();
    let line = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&pretty).unwrap())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());

    let (summary, rec) = run_import(&store, &line, &opts()).await;
    assert_eq!(summary.stored, 1, "{:?}", rec.0);
    let row = store.newest_per_boot().await.unwrap().remove(0);
    let decoded: Report = prost::Message::decode(row.body.as_slice()).unwrap();
    assert_eq!(decoded, expected);
    assert!(row.link_data, "the golden report has link windows");

    // The pretty form itself is refused with a hint, line by line, and stores nothing.
    let (summary, rec) = run_import(&store, &pretty, &opts()).await;
    assert_eq!(summary.stored + summary.duplicates, 0);
    assert!(rec.0[0].2.contains("jq -c"), "{:?}", rec.0[0]);
    store.close().await;
}

#[tokio::test]
async fn importing_twice_stores_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    // More lines than one batch, so that several group commits are exercised.
    let text: String = (1..=1300)
        .map(|s| json(&report("web-01", s)) + "\n")
        .collect();

    let (first, _) = run_import(&store, &text, &opts()).await;
    assert_eq!((first.stored, first.duplicates), (1300, 0));
    let (second, rec) = run_import(&store, &text, &opts()).await;
    assert_eq!((second.stored, second.duplicates), (0, 1300));
    assert!(rec.0.is_empty());
    assert_eq!(store.count_reports().await.unwrap(), 1300);
    store.close().await;
}

#[tokio::test]
async fn received_time_is_the_reports_own_timestamp_unless_received_now() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    // The default: history is stored as if received live.
    let o = ImportOptions {
        received: ReceivedTime::default(),
        ..opts()
    };
    run_import(&store, &json(&report("db-01", 1)), &o).await;
    let rows = store.newest_per_boot().await.unwrap();
    let db = rows.iter().find(|r| r.agent_id == "db-01").unwrap();
    assert_eq!(db.received_ms, report("db-01", 1).timestamp_unix_ms);

    // --received-now: the import time.
    let before = zerofault_collector::live::ingest::now_unix_ms();
    let o = ImportOptions {
        received: ReceivedTime::ImportTime,
        ..opts()
    };
    run_import(&store, &json(&report("web-01", 1)), &o).await;
    let rows = store.newest_per_boot().await.unwrap();
    let web = rows.iter().find(|r| r.agent_id == "web-01").unwrap();
    assert!(web.received_ms >= before, "{} < {before}", web.received_ms);
    store.close().await;
}

/// A config whose TLS files do not exist: import needs only the database and the limits.
fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        "tls:\n  ca: pki/ca.pem\n  cert: pki/collector.pem\n  key: pki/collector.key\n\
         storage:\n  sqlite:\n    path: data/zerofault.db\n",
    )
    .unwrap();
    path
}

fn collector(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zerofault-collector"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_command_names_bad_lines_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let file = dir.path().join("reports.jsonl");
    std::fs::write(&file, mixed_input().0).unwrap();
    let args = [
        "import",
        "--config",
        config.to_str().unwrap(),
        file.to_str().unwrap(),
    ];

    let out = collector(&args, None);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let f = file.display();
    assert!(
        stderr.contains(&format!("{f}:4: rejected (malformed): not a JSON report")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{f}:5: rejected (invalid): field `interval_ms`")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    // The summary, then what the import inferred: the three good reports (15 s apart, 15 s
    // intervals, no backlog) show their source listening for 30 s.
    assert_eq!(
        stdout.trim(),
        "7 lines read (1 blank): 3 stored, 1 duplicates, 2 rejected (invalid: 1, malformed: 1)\n\
         listening periods inferred: 1 (1 new)\n  \
         listening 2023-11-14T22:15:00Z .. 2023-11-14T22:15:30Z (0.5 min)"
    );

    // Again: the good lines are all duplicates now, the bad ones still refused, and the same
    // listening period is not stored twice.
    let out = collector(&args, None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains(": 0 stored, 4 duplicates, 2 rejected"));
    assert!(
        stdout.contains("listening periods inferred: 1 (0 new)"),
        "{stdout}"
    );
}

#[test]
fn the_command_reads_stdin_and_exits_0_when_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let input = format!("{}\n\n{}", json(&report("a", 1)), json(&report("a", 2)));
    let out = collector(
        &["import", "-c", config.to_str().unwrap(), "-"],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with(
            "3 lines read (1 blank): 2 stored, 0 duplicates, 0 rejected\n\
             listening periods inferred: 1 (1 new)\n"
        ),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn the_command_refuses_other_agents_with_agent() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let input = format!("{}\n{}\n", json(&report("a", 1)), json(&report("b", 1)));
    let out = collector(
        &[
            "import",
            "-c",
            config.to_str().unwrap(),
            "--agent",
            "a",
            "-",
        ],
        Some(&input),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("<stdin>:2: rejected (agent_id_mismatch)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_and_config_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let missing_config = collector(
        &[
            "import",
            "-c",
            dir.path().join("nope.yaml").to_str().unwrap(),
            "-",
        ],
        Some(""),
    );
    assert_eq!(missing_config.status.code(), Some(2));
    let missing_file = collector(
        &[
            "import",
            "-c",
            config.to_str().unwrap(),
            dir.path().join("nope.jsonl").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(missing_file.status.code(), Some(2));
    assert!(text(&missing_file.stderr).contains("nope.jsonl"));
    let no_file = collector(&["import", "-c", config.to_str().unwrap()], None);
    assert_eq!(no_file.status.code(), Some(2));
}

#[tokio::test]
async fn import_runs_next_to_a_collector_holding_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let db = dir.path().join("data/zerofault.db");
    // The running collector's store: its connection stays open throughout.
    let live = SqliteStore::open(&db).await.unwrap();
    live.insert(stored(&report("live", 1))).await.unwrap();

    let input: String = (1..=600).map(|s| json(&report("old", s)) + "\n").collect();
    let cfg = config.to_str().unwrap().to_owned();
    let importer =
        tokio::task::spawn_blocking(move || collector(&["import", "-c", &cfg, "-"], Some(&input)));
    // Live ingest goes on while the import writes.
    for s in 2..=50 {
        live.insert(stored(&report("live", s))).await.unwrap();
    }
    let out = importer.await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(live.count_reports().await.unwrap(), 650);
    live.close().await;
}

fn stored(r: &Report) -> zerofault_collector::store::StoredReport {
    zerofault_collector::store::StoredReport {
        agent_id: r.agent_id.clone(),
        boot_id: r.boot_id.clone(),
        sequence: r.sequence,
        agent_timestamp_ms: r.timestamp_unix_ms,
        received_ms: r.timestamp_unix_ms,
        body: prost::Message::encode_to_vec(r),
        link_data: false,
    }
}
