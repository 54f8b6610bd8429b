//! `zerofault-collector backup` against a running collector (issue 13, item 3): the copy is
//! made by its own process while an agent keeps reporting every second, holds the reports
//! stored by then, has mode 0600, and an existing file is never overwritten.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use zerofault_tests::stored::Stored;
use zerofault_tests::{COLLECTOR_BIN, Collector, TestCa, bin_path, wait_until};

#[tokio::test]
async fn a_backup_of_a_running_collector_holds_what_was_stored() -> anyhow::Result<()> {
    let ca = TestCa::new(&["bk-a"])?;
    let collector = Collector::builder(&ca).spawn().await?;
    let _agent = collector.agent("bk-a").interval("1s").spawn()?;
    let db = collector.db_path();
    wait_until(
        "3 reports stored",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            match Stored::read(&db) {
                Ok(s) if s.rows >= 3 => Ok(()),
                Ok(s) => Err(format!("{} stored", s.rows)),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await?;

    let out = tempfile::tempdir()?;
    let copy = out.path().join("zerofault-backup.db");
    let before = Stored::read(&db)?.rows;
    let run = Command::new(bin_path(COLLECTOR_BIN))
        .args(["backup", "--config"])
        .arg(collector.config_path())
        .arg("--out")
        .arg(&copy)
        .output()?;
    let after = Stored::read(&db)?.rows;
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "backup failed: {stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("backed up to"), "{stdout}");

    // The copy is one moment of the store, taken while the agent kept reporting.
    let copied = Stored::read(&copy)?;
    assert!(
        (before..=after).contains(&copied.rows),
        "{before} <= {} <= {after}",
        copied.rows
    );
    assert_eq!(copied.rows, copied.distinct, "nothing twice");
    let mode = std::fs::metadata(&copy)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy holds every report: {mode:o}");

    // An existing file is refused (exit 2) and left as it is.
    let len = std::fs::metadata(&copy)?.len();
    let again = Command::new(bin_path(COLLECTOR_BIN))
        .args(["backup", "--config"])
        .arg(collector.config_path())
        .arg("--out")
        .arg(&copy)
        .output()?;
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("never overwrites"), "{stderr}");
    assert_eq!(std::fs::metadata(&copy)?.len(), len);
    Ok(())
}
