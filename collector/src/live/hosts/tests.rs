use super::*;

fn report(agent: &str, boot: &str, seq: u64) -> Report {
    Report {
        agent_id: agent.into(),
        boot_id: boot.into(),
        sequence: seq,
        timestamp_unix_ms: 1_000 * seq as i64,
        interval_ms: 15_000,
        ..Default::default()
    }
}

#[test]
fn newer_sequence_replaces_older_does_not() {
    let t = HostTable::default();
    t.update(report("a", "b1", 5), 1000);
    t.update(report("a", "b1", 4), 2000);
    assert_eq!(t.snapshot()[0].report.sequence, 5);
    t.update(report("a", "b1", 6), 3000);
    assert_eq!(t.snapshot()[0].received_unix_ms, 3000);
}

#[test]
fn a_late_report_of_an_earlier_boot_does_not_roll_back() {
    let t = HostTable::default();
    t.update(report("a", "b2", 10), 2000);
    t.update(report("a", "b1", 5), 3000);
    assert_eq!(t.snapshot()[0].report.boot_id, "b2");
}

#[test]
fn a_restarted_sequence_with_a_newer_timestamp_replaces() {
    let t = HostTable::default();
    t.update(report("a", "b1", 500), 1000);
    let mut fresh = report("a", "b2", 1);
    fresh.timestamp_unix_ms = 1_000_000;
    t.update(fresh, 2000);
    assert_eq!(t.snapshot()[0].report.boot_id, "b2");
}

#[test]
fn a_clock_stepped_back_in_the_same_boot_still_refreshes_liveness() {
    let t = HostTable::default();
    t.update(report("a", "b1", 100), 1000);
    let mut stepped = report("a", "b1", 101);
    stepped.timestamp_unix_ms -= 600_000;
    t.update(stepped, 16_000);
    assert_eq!(t.snapshot()[0].received_unix_ms, 16_000);
}

#[test]
fn an_old_report_of_a_new_boot_does_not_refresh_liveness() {
    let t = HostTable::default();
    t.update(report("a", "b1", 5000), 1000);
    // A wiped state directory restarted the sequence; this report is an hour older
    // than the newest seen, so it is backfill, not evidence the host is up now.
    let mut old = report("a", "b2", 6000);
    old.timestamp_unix_ms = 5_000_000 - 3_600_000;
    t.update(old, 9_000_000);
    let e = &t.snapshot()[0];
    assert_eq!(e.report.boot_id, "b2");
    assert_eq!(e.received_unix_ms, 1000);
}

#[test]
fn up_within_three_intervals() {
    let e = HostEntry {
        report: Arc::new(report("a", "b", 1)),
        received_unix_ms: 100_000,
        delivery: None,
    };
    assert!(e.is_up(100_000 + 45_000, 3));
    assert!(!e.is_up(100_000 + 45_001, 3));
    // A received time in the future (collector clock stepped back) still counts as up.
    assert!(e.is_up(50_000, 3));
}

#[test]
fn snapshot_is_sorted() {
    let t = HostTable::default();
    t.update(report("b", "x", 1), 1);
    t.update(report("a", "x", 1), 1);
    let ids: Vec<_> = t
        .snapshot()
        .into_iter()
        .map(|e| e.report.agent_id.clone())
        .collect();
    assert_eq!(ids, ["a", "b"]);
}

/// A writer for a test subscriber that keeps the log in memory.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn inventory() -> Arc<Inventory> {
    let inv = Inventory::parse(
        "departments:\n  - {code: fgw, name_zh: 发改委, name_en: DRC}\n",
        std::path::Path::new("/etc/zerofault/inventory.yaml"),
    )
    .unwrap();
    inv.validate().unwrap();
    Arc::new(inv)
}

fn labelled(seq: u64, department: &str, datacenter: &str) -> Report {
    Report {
        labels: Some(zerofault_protocol::Labels {
            department: department.into(),
            datacenter: datacenter.into(),
            ..Default::default()
        }),
        ..report("web-01", "b", seq)
    }
}

#[test]
fn nothing_is_unknown_without_an_inventory() {
    let t = HostTable::default();
    assert!(t.inventory().is_none());
    assert!(t.unknown_labels(&labelled(1, "x", "y")).is_empty());
    t.record_stored(labelled(1, "x", "y"), 1);
    assert_eq!(t.warn_current_unknown_labels(), 0);
}

#[test]
fn unknown_labels_are_kept_and_warned_about_once_per_agent_label_and_value() {
    let t = HostTable::default().with_inventory(inventory());
    assert_eq!(
        t.unknown_labels(&labelled(1, "fgw", "dc-x")),
        [UnknownLabel {
            label: "data_center",
            value: "dc-x".into()
        }]
    );
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        t.record_stored(labelled(1, "fgw", "dc-x"), 1);
        t.record_stored(labelled(2, "fgw", "dc-x"), 2);
        t.record_stored(labelled(3, "fgw\nWARN forged", "dc-x"), 3);
        // Start-up after warming: already warned in this run, so nothing new.
        assert_eq!(t.warn_current_unknown_labels(), 1);
    });
    // Never dropped: the newest report is held, unknown values and all.
    assert_eq!(
        *t.snapshot()[0].report,
        labelled(3, "fgw\nWARN forged", "dc-x")
    );
    let log = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("WARN"), "{log}");
    for part in [
        "agent=\"web-01\"",
        "label=\"data_center\"",
        "value=\"dc-x\"",
        "add it to the inventory file /etc/zerofault/inventory.yaml under data_centers, \
         or correct labels.datacenter in the agent's configuration",
    ] {
        assert!(lines[0].contains(part), "{part} not in {}", lines[0]);
    }
    // The agent's value is escaped: it cannot start a log line of its own.
    assert!(lines[1].contains(r#"value="fgw\nWARN forged""#), "{log}");
    assert!(lines[1].contains("under departments"), "{log}");
}

#[test]
fn counters_list_every_reason() {
    let c = IngestCounters::default();
    c.rejected(RejectReason::TooLarge);
    c.rejected(RejectReason::TooLarge);
    let all = c.rejected_totals();
    assert_eq!(all.len(), RejectReason::ALL.len());
    assert!(all.contains(&(RejectReason::TooLarge, 2)));
    assert!(all.contains(&(RejectReason::Invalid, 0)));
}
