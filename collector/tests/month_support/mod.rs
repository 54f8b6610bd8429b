//! February 2026 (Asia/Shanghai) of hosts reporting hourly, stored in a SQLite store: the
//! month the report tests (`report_api.rs`, `sla_adjustments.rs`) compute.
#![allow(dead_code)] // Each test crate uses part of it.

use std::sync::Arc;

use zerofault_collector::store::{SqliteStore, Store, StoredReport};
use zerofault_protocol::{Cpu, Filesystem, Labels, Memory, Report, SystemInfo};

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;
/// 2026-02-01 00:00 in Asia/Shanghai (UTC+8).
pub const START: i64 = 1_769_875_200_000;
pub const END: i64 = START + 28 * DAY;
/// Both hosts booted long before the month.
pub const BOOT: i64 = START - 10 * DAY;

pub const INVENTORY: &str = r#"
time_zone: Asia/Shanghai
slot: 60s
fault_min: 10m
departments:
  - {code: D1, name_zh: 大数据局, name_en: Big Data Bureau}
business_systems:
  - {code: BS1, department: D1, name_zh: 政务服务网, name_en: Service Portal}
data_centers:
  - {code: DC1, name_zh: 政务云一中心, name_en: Gov Cloud DC 1, status: in-use}
"#;

/// The report `agent` made at `t` (hourly, one boot since [`BOOT`]).
pub fn report(agent: &str, sequence: u64, t: i64) -> Report {
    let boot_time = BOOT;
    Report {
        protocol_version: 1,
        agent_id: agent.into(),
        hostname: format!("{agent}.example"),
        boot_id: format!("{agent}-boot-0"),
        boot_time_unix_seconds: boot_time / 1000,
        sequence,
        timestamp_unix_ms: t,
        interval_ms: HOUR as u32,
        labels: Some(Labels {
            department: "D1".into(),
            business_system: "BS1".into(),
            datacenter: "DC1".into(),
            site: String::new(),
        }),
        system: Some(SystemInfo {
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            kernel_version: "6.1.0".into(),
            uptime_seconds: ((t - boot_time) / 1000) as u64,
        }),
        cpu: Some(Cpu {
            logical_cores: 8,
            physical_cores: 4,
            usage_ratio: 0.25,
            ..Default::default()
        }),
        memory: Some(Memory {
            total_bytes: 16 << 30,
            used_bytes: 4 << 30,
            available_bytes: 12 << 30,
            ..Default::default()
        }),
        filesystems: vec![Filesystem {
            mount_point: "/".into(),
            device: "/dev/vda1".into(),
            fs_type: "ext4".into(),
            size_bytes: 100_000_000_000,
            used_bytes: 40_000_000_000,
            available_bytes: 60_000_000_000,
            ..Default::default()
        }],
        agent_version: "0.1.0".into(),
        ..Default::default()
    }
}

/// Stores the hourly reports of `agent` made in `[from, to]`, received 50 ms after.
pub async fn store_hourly(store: &Arc<SqliteStore>, agent: &str, from: i64, to: i64) {
    let mut tasks = Vec::new();
    for t in (from..=to).step_by(HOUR as usize) {
        // One boot: the sequence counts hours since it.
        let r = report(agent, ((t - BOOT) / HOUR) as u64, t);
        let row = StoredReport {
            agent_id: r.agent_id.clone(),
            boot_id: r.boot_id.clone(),
            sequence: r.sequence,
            agent_timestamp_ms: t,
            received_ms: t + 50,
            body: prost::Message::encode_to_vec(&r),
            link_data: false,
        };
        let store = store.clone();
        // Concurrent inserts are group-committed: one fsync for many.
        tasks.push(tokio::spawn(
            async move { store.insert(row).await.unwrap() },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
}
