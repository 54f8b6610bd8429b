//! The collector on PostgreSQL, whole system (issue 13, item 4): an agent reports to a
//! collector whose configuration has `storage.postgres`, the reports land in the database,
//! the monthly `report` command runs on it, `backup` points to PostgreSQL's own tools, and
//! the documented `pg_dump -Fc` / `pg_restore` procedure (docs/sla-operations.md) gives a
//! database the collector opens with every report in it.

use std::process::Command;
use std::time::Duration;

use zerofault_tests::postgres::{PG_USER, PgServer};
use zerofault_tests::{COLLECTOR_BIN, Collector, TestCa, bin_path, wait_until};

/// The current month in the reporting time zone (the inventory's default, Asia/Shanghai).
fn this_month() -> anyhow::Result<String> {
    let out = Command::new("date")
        .env("TZ", "Asia/Shanghai")
        .arg("+%Y-%m")
        .output()?;
    anyhow::ensure!(out.status.success(), "date failed");
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// `reports` rows and the sum of their sequences: the same pair means the same rows.
fn fingerprint(server: &PgServer, db: &str) -> anyhow::Result<String> {
    server.psql(db, "SELECT count(*), sum(sequence) FROM reports")
}

#[tokio::test]
async fn a_collector_on_postgresql_stores_reports_and_reports_its_month() -> anyhow::Result<()> {
    let server = PgServer::start(None)?;
    let url = server.create_database("e2e")?;
    let db = url.rsplit('/').next().unwrap().to_owned();
    let ca = TestCa::new(&["pg-a"])?;
    let mut collector = Collector::builder(&ca).postgres(&url).spawn().await?;
    let agent = collector.agent("pg-a").interval("1s").spawn()?;
    wait_until(
        "3 reports in PostgreSQL",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            match server.psql(&db, "SELECT count(*) FROM reports") {
                Ok(n) if n.trim().parse::<u64>().unwrap_or(0) >= 3 => Ok(()),
                Ok(n) => Err(format!("{} stored", n.trim())),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await?;
    // The log names the database, never the URL.
    let log = collector.output();
    assert!(
        log.contains(&format!(
            "PostgreSQL database 127.0.0.1:{}/{db}",
            server.port()
        )),
        "{log}"
    );
    assert!(!log.contains("postgresql://"), "{log}");
    let runs = server.psql(
        &db,
        "SELECT count(*) FROM collector_runs WHERE stopped_unix_ms IS NULL",
    )?;
    assert_eq!(runs.trim(), "1", "the running collector's run");

    // The monthly report, read from PostgreSQL while the collector runs.
    let out = tempfile::tempdir()?;
    let month = this_month()?;
    let report = Command::new(bin_path(COLLECTOR_BIN))
        .args([
            "report", "--month", &month, "--format", "json", "--lang", "en",
        ])
        .arg("--config")
        .arg(collector.config_path())
        .arg("--out")
        .arg(out.path())
        .output()?;
    let stderr = String::from_utf8_lossy(&report.stderr);
    assert!(report.status.success(), "report failed: {stderr}");
    let json = std::fs::read_dir(out.path())?
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| std::fs::read_to_string(e.path()))
        .transpose()?
        .ok_or_else(|| anyhow::anyhow!("no JSON export in {}", out.path().display()))?;
    assert!(
        json.contains("\"pg-a\""),
        "the host is in the month: {json}"
    );

    // backup: exit 2, naming PostgreSQL's tools, and no file made.
    let copy = out.path().join("copy.db");
    let backup = Command::new(bin_path(COLLECTOR_BIN))
        .args(["backup", "--out"])
        .arg(&copy)
        .arg("--config")
        .arg(collector.config_path())
        .output()?;
    let stderr = String::from_utf8_lossy(&backup.stderr);
    assert_eq!(backup.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pg_dump -Fc") && stderr.contains("pg_basebackup"),
        "{stderr}"
    );
    assert!(!copy.exists(), "backup made a file");

    // The documented procedure: pg_dump -Fc while the collector runs, pg_restore into a new
    // database; stop, then the restored database holds what was stored at the dump.
    drop(agent);
    collector.stop(Duration::from_secs(10))?;
    let dump = out.path().join("zerofault.dump");
    let port = server.port().to_string();
    let pg = |tool: &str| Command::new(server.bindir().join(tool));
    let status = pg("pg_dump")
        .args(["-Fc", "-h", "127.0.0.1", "-p", &port, "-U", PG_USER, "-f"])
        .arg(&dump)
        .arg(&db)
        .status()?;
    assert!(status.success(), "pg_dump: {status}");
    let restored_url = server.create_database("restored")?;
    let restored = restored_url.rsplit('/').next().unwrap();
    let status = pg("pg_restore")
        .args([
            "--no-owner",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            PG_USER,
            "-d",
            restored,
        ])
        .arg(&dump)
        .status()?;
    assert!(status.success(), "pg_restore: {status}");
    assert_eq!(fingerprint(&server, &db)?, fingerprint(&server, restored)?);

    // The collector opens the restored database (its schema version came along) and goes on
    // numbering runs after the restored ones.
    let mut restored_collector = Collector::builder(&ca)
        .postgres(&restored_url)
        .spawn()
        .await?;
    restored_collector.stop(Duration::from_secs(10))?;
    let runs = server.psql(
        restored,
        "SELECT count(*), count(DISTINCT id) FROM collector_runs",
    )?;
    assert_eq!(runs.trim(), "2|2", "the restored run and the new one");
    Ok(())
}
