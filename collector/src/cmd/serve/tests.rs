use super::*;
use crate::store::{SqliteStore, StoredReport};
use zerofault_protocol::Report;

#[test]
fn an_unusable_inventory_is_refused_with_the_messages_of_validate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inventory.yaml"),
        "slot: 7s\nbusiness_systems:\n  - {code: b, department: nope, name_zh: 乙, name_en: B}\n",
    )
    .unwrap();
    let path = dir.path().join("collector.yaml");
    let tls = "tls:\n  ca: ca.pem\n  cert: c.pem\n  key: c.key\n";
    let config =
        |inventory: &str| Config::parse(&format!("{tls}inventory: {inventory}\n"), &path).unwrap();

    let c = config("inventory.yaml");
    let crate::config::ConfigError::Invalid { problems } = c.validate().unwrap_err() else {
        panic!("expected Invalid");
    };
    let want: Vec<String> = problems
        .iter()
        .filter(|p| p.key == "inventory")
        .map(ToString::to_string)
        .collect();
    assert_eq!(want.len(), 2, "{want:?}");
    let got = load_inventory(&c).unwrap_err().to_string();
    assert_eq!(got, want.join("\n"));

    let got = load_inventory(&config("missing.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        got.contains("`inventory`: ") && got.contains("missing.yaml"),
        "{got}"
    );

    std::fs::write(
        dir.path().join("good.yaml"),
        "departments:\n  - {code: d, name_zh: 部, name_en: D}\n",
    )
    .unwrap();
    let inventory = load_inventory(&config("good.yaml")).unwrap().unwrap();
    assert_eq!(inventory.departments.len(), 1);
    let none = Config::parse(tls, &path).unwrap();
    assert!(load_inventory(&none).unwrap().is_none());
}

#[tokio::test]
async fn warm_keeps_the_live_report_when_backlog_arrived_after_it() {
    const T: i64 = 1_767_300_000_000;
    let row = |boot: &str, sequence: u64, received_ms: i64| {
        let report = Report {
            agent_id: "web-01".into(),
            boot_id: boot.into(),
            sequence,
            timestamp_unix_ms: 1_767_225_600_000 + sequence as i64 * 15_000,
            interval_ms: 15_000,
            ..Default::default()
        };
        StoredReport {
            agent_id: report.agent_id.clone(),
            boot_id: report.boot_id.clone(),
            sequence,
            agent_timestamp_ms: report.timestamp_unix_ms,
            received_ms,
            body: prost::Message::encode_to_vec(&report),
            link_data: false,
        }
    };
    // Back after an outage spanning a reboot: the live report first, then this boot's
    // backlog, then the previous boot's, which is therefore the newest received.
    let mut rows = vec![row("b2", 100, T)];
    rows.extend((90..=99).map(|seq| row("b2", seq, T + 1 + (seq as i64 - 90))));
    rows.extend((85..=89).map(|seq| row("b1", seq, T + 11 + (seq as i64 - 85))));

    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("z.db")).await.unwrap();
    let runtime = HostTable::default();
    for r in &rows {
        store.insert(r.clone()).await.unwrap();
        let report = prost::Message::decode(r.body.as_slice()).unwrap();
        runtime.update(report, r.received_ms);
    }

    let warmed = HostTable::default();
    assert_eq!(warm(&store, &warmed).await.unwrap(), 1);
    let host = &warmed.snapshot()[0];
    assert_eq!(
        (
            host.report.boot_id.as_str(),
            host.report.sequence,
            host.received_unix_ms
        ),
        ("b2", 100, T)
    );
    assert_eq!(warmed.snapshot(), runtime.snapshot());
}
