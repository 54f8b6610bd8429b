//! SLA adjustments end to end, through the built `zerofault-collector` binary on a SQLite
//! store holding February 2026 (`month_support`): `sla adjust` excludes a period of a host
//! that stopped reporting, the month's report shows it (who, when, why) and counts the
//! period as maintenance instead of down; after `report --close`, a new adjustment is a late
//! correction beside the frozen figures; `sla withdraw`; every step is an audit record, and
//! `audit verify` finds an adjustment row changed or added by hand.

mod month_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use month_support::{DAY, END, START, store_hourly};
use serde_json::Value;
use zerofault_collector::store::{SqliteStore, Store};

struct World {
    dir: tempfile::TempDir,
    pki: zerofault_tests::pki::Pki,
    config: PathBuf,
}

impl World {
    fn db(&self) -> PathBuf {
        self.dir.path().join("z.db")
    }
}

/// `web-01` reports all February, `web-02` stops on the 20th; the collector ran all month.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let pki = zerofault_tests::pki::Pki::new();
    let store = Arc::new(SqliteStore::open(&dir.path().join("z.db")).await.unwrap());
    let run = store.start_run("c1".into(), START - 2 * DAY).await.unwrap();
    store.stop_run(run, END + DAY).await.unwrap();
    store_hourly(&store, "web-01", START - DAY, END + DAY).await;
    store_hourly(&store, "web-02", START - DAY, START + 19 * DAY).await;
    store.close().await;
    std::fs::write(dir.path().join("inventory.yaml"), month_support::INVENTORY).unwrap();
    let config = dir.path().join("collector.yaml");
    std::fs::write(
        &config,
        format!(
            "tls: {{ca: {}, cert: {}, key: {}}}\ninventory: inventory.yaml\nstorage: {{sqlite: {{path: z.db}}}}\n",
            pki.path("ca.pem").display(),
            pki.path("collector.pem").display(),
            pki.path("collector.key").display(),
        ),
    )
    .unwrap();
    World { dir, pki, config }
}

/// Runs the collector binary with `args` after `sub --config FILE`: (exit code, stdout,
/// stderr).
fn run(w: &World, sub: &[&str], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zerofault-collector"))
        .args(sub)
        .arg("--config")
        .arg(&w.config)
        .args(args)
        .env("SUDO_USER", "li.ming")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The month's JSON report written by `report` into `out` (and that directory).
fn report(w: &World, out: &str) -> (Value, PathBuf) {
    let dir = w.dir.path().join(out);
    let (code, _, err) = run(
        w,
        &["report"],
        &[
            "--month",
            "2026-02",
            "--format",
            "json,csv",
            "--lang",
            "en",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(dir.join("zerofault-2026-02-en.json")).unwrap();
    (serde_json::from_str(&text).unwrap(), dir)
}

/// The id `sla adjust` printed.
fn id_of(out: &str) -> u64 {
    out.strip_prefix("adjustment ")
        .and_then(|s| s.split(':').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"))
}

fn host<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["agent_id"] == id)
        .unwrap_or_else(|| panic!("no host {id}"))
}

fn minutes(r: &Value, id: &str, which: &str) -> f64 {
    host(r, id)["figures"]["minutes"][which].as_f64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_is_audited_shown_and_a_late_correction_once_closed() {
    let w = world().await;
    let (before, _) = report(&w, "before");
    let down_before = minutes(&before, "web-02", "down");
    assert!(
        down_before >= 4.0 * 1440.0,
        "web-02 is down from the 20th: {down_before}"
    );

    // Refused before anything is written: a code the inventory lacks, a period to come.
    let (code, _, err) = run(
        &w,
        &["sla", "adjust"],
        &[
            "--site",
            "nowhere",
            "--from",
            "2026-02-21 00:00",
            "--to",
            "2026-02-23 00:00",
            "--reason",
            "x",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--site \"nowhere\" is not in the inventory"),
        "{err}"
    );
    let (code, _, err) = run(
        &w,
        &["sla", "adjust"],
        &[
            "--host",
            "web-02",
            "--from",
            "2026-02-21 00:00",
            "--to",
            "2099-01-01 00:00",
            "--reason",
            "x",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("in the future"), "{err}");

    // Two days of web-02's silence agreed as force majeure.
    let (code, out, err) = run(
        &w,
        &["sla", "adjust"],
        &[
            "--host",
            "web-02",
            "--from",
            "2026-02-21 00:00",
            "--to",
            "2026-02-23 00:00",
            "--reason",
            "power cut, force majeure (grid notice 17)",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let first = id_of(&out);

    let (after, dir) = report(&w, "after");
    assert_eq!(
        minutes(&after, "web-02", "down"),
        down_before - 2.0 * 1440.0
    );
    assert_eq!(
        minutes(&after, "web-02", "maintenance"),
        minutes(&before, "web-02", "maintenance") + 2.0 * 1440.0
    );
    assert_eq!(
        minutes(&after, "web-01", "down"),
        minutes(&before, "web-01", "down")
    );
    let adj = &after["adjustments"][0];
    assert_eq!(adj["id"], first);
    assert_eq!(adj["kind"], "host");
    assert_eq!(adj["minutes"], 2880.0);
    assert_eq!(adj["actor"], "operator:li.ming");
    assert_eq!(adj["reason"], "power cut, force majeure (grid notice 17)");
    let csv =
        std::fs::read_to_string(dir.join("zerofault-2026-02-en-sla_adjustments.csv")).unwrap();
    assert!(
        csv.contains("power cut, force majeure (grid notice 17)")
            && csv.contains("operator:li.ming"),
        "{csv}"
    );

    // Closed, then a late agreement: a late correction, the frozen figures unchanged.
    let closing = w.dir.path().join("closing");
    let (code, _, err) = run(
        &w,
        &["report"],
        &[
            "--month",
            "2026-02",
            "--close",
            "--format",
            "json",
            "--lang",
            "en",
            "--out",
            closing.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    // An assessor's check of the closed month, on record.
    let manifest = closing.join("MANIFEST.sha256");
    let ca = w.pki.path("ca.pem");
    let (code, out, err) = run(
        &w,
        &["verify"],
        &[manifest.to_str().unwrap(), "--ca", ca.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("recorded as audit record"), "{err}");
    let (code, out, err) = run(
        &w,
        &["sla", "adjust"],
        &[
            "--host",
            "web-02",
            "--from",
            "2026-02-25 00:00",
            "--to",
            "2026-02-26 00:00",
            "--reason",
            "late agreement",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("note: 2026-02 is closed: this is a late correction"),
        "{out}"
    );
    // Its id is its audit record's seq: after the month.close and month.verify records.
    let second = id_of(&out);
    assert_eq!(second, first + 3);
    let (frozen, dir) = report(&w, "late");
    assert_eq!(
        minutes(&frozen, "web-02", "down"),
        minutes(&after, "web-02", "down")
    );
    assert_eq!(frozen["adjustments"].as_array().unwrap().len(), 1);
    let late: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("zerofault-2026-02-en-late-corrections.json")).unwrap(),
    )
    .unwrap();
    let late_adj = late["adjustments"].as_array().unwrap();
    assert_eq!(late_adj.len(), 1, "{late}");
    assert_eq!(
        (&late_adj[0]["id"], &late_adj[0]["late"]),
        (&Value::from(second), &Value::from(true))
    );
    let corrected = late["corrections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "host" && c["id"] == "web-02" && c["field"] == "down_minutes")
        .unwrap_or_else(|| panic!("{late}"));
    assert_eq!(
        corrected["current"].as_f64().unwrap(),
        corrected["frozen"].as_f64().unwrap() - 1440.0
    );

    // Withdrawn once; the list shows both, the first marked.
    let (code, _, err) = run(
        &w,
        &["sla", "withdraw"],
        &[&first.to_string(), "--reason", "entered twice"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        &w,
        &["sla", "withdraw"],
        &[&first.to_string(), "--reason", "again"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no adjustment"), "{err}");
    let (code, out, _) = run(&w, &["sla", "adjustments"], &["--month", "2026-02"]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert!(
        rows[0].contains("withdrawn") && rows[0].contains("entered twice"),
        "{out}"
    );
    assert!(rows[1].contains("\tin-force\t"), "{out}");

    // Each step is in the audit log, which verifies.
    let (code, out, err) = run(&w, &["audit", "export"], &[]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for e in ["sla.adjust", "sla.withdraw", "month.close", "month.verify"] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
    let (code, out, err) = run(&w, &["audit", "verify"], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("2 SLA adjustments match their records"),
        "{out}"
    );

    // A row changed by hand, then one added by hand: named by `audit verify`.
    let conn = rusqlite::Connection::open(w.db()).unwrap();
    conn.execute(
        "UPDATE sla_adjustments SET end_ms = end_ms + 86400000 WHERE id = ?1",
        [second as i64],
    )
    .unwrap();
    let (code, out, err) = run(&w, &["audit", "verify"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("FAILED: SLA adjustment {second}: its end differs")),
        "{out}"
    );
    conn.execute(
        "UPDATE sla_adjustments SET end_ms = end_ms - 86400000 WHERE id = ?1",
        [second as i64],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO sla_adjustments (id, kind, code, start_ms, end_ms, reason, actor, created_ms)
         VALUES (9999, 'host', 'web-01', ?1, ?2, 'quiet', 'operator:li.ming', ?2)",
        [START, START + DAY],
    )
    .unwrap();
    let (code, out, err) = run(&w, &["audit", "verify"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("FAILED: SLA adjustment 9999: no audit record has its id"),
        "{out}"
    );
    conn.execute("DELETE FROM sla_adjustments WHERE id = 9999", [])
        .unwrap();

    // A withdrawal undone by hand puts the exclusion back: named.
    conn.execute(
        "UPDATE sla_adjustments SET withdrawn_seq = NULL, withdrawn_actor = NULL,
            withdrawn_ms = NULL, withdrawn_reason = NULL WHERE id = ?1",
        [first as i64],
    )
    .unwrap();
    let (code, out, err) = run(&w, &["audit", "verify"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("FAILED: SLA adjustment {first}: record "))
            && out.contains("undone by hand"),
        "{out}"
    );
    // An adjustment deleted by hand takes its exclusion away: named by its record.
    conn.execute("DELETE FROM sla_adjustments WHERE id = ?1", [first as i64])
        .unwrap();
    let (code, out, err) = run(&w, &["audit", "verify"], &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "FAILED: SLA adjustment {first}: its sla.adjust record {first} has no row"
        )),
        "{out}"
    );
}
