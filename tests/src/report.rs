//! Hand-made reports and raw ingest requests, for what a well-behaved agent never sends:
//! impersonation, missing or foreign certificates, synthetic hosts with chosen capacities.

use zerofault_protocol::{
    CONTENT_TYPE, Cpu, Filesystem, Interface, Labels, Memory, PROTOCOL_VERSION, Report, SystemInfo,
    VERSION_HEADER,
};

/// Labels from their four values.
pub fn labels(department: &str, business_system: &str, datacenter: &str, site: &str) -> Labels {
    Labels {
        department: department.into(),
        business_system: business_system.into(),
        datacenter: datacenter.into(),
        site: site.into(),
    }
}

/// Now, in ms since the Unix epoch (the binaries' own clock reading).
pub use zerofault_common::now_unix_ms;

/// A valid report of a synthetic host with round, recognisable capacities: 8 cores, 8 GiB of
/// memory, one 100 GiB filesystem with 40 GiB used. Its values differ from any real host's, so
/// an aggregate that includes it shows that it really summed.
pub fn synthetic_report(agent_id: &str, labels: Labels, sequence: u64, interval_ms: u32) -> Report {
    const GIB: u64 = 1 << 30;
    let now = now_unix_ms();
    Report {
        protocol_version: PROTOCOL_VERSION,
        agent_id: agent_id.into(),
        hostname: format!("synthetic-{agent_id}"),
        boot_id: "00000000-0000-4000-8000-000000000001".into(),
        boot_time_unix_seconds: now / 1000 - 3600,
        sequence,
        timestamp_unix_ms: now,
        interval_ms,
        labels: Some(labels),
        system: Some(SystemInfo {
            os_name: "Debian GNU/Linux".into(),
            os_version: "13".into(),
            kernel_version: "6.12.0-test".into(),
            uptime_seconds: 3600,
        }),
        cpu: Some(Cpu {
            logical_cores: 8,
            physical_cores: 4,
            usage_ratio: 0.25,
            load1: 1.0,
            load5: 0.5,
            load15: 0.25,
            modes: None,
        }),
        memory: Some(Memory {
            total_bytes: 8 * GIB,
            used_bytes: 3 * GIB,
            available_bytes: 5 * GIB,
            swap_total_bytes: GIB,
            swap_used_bytes: 0,
        }),
        filesystems: vec![Filesystem {
            mount_point: "/".into(),
            device: "/dev/vda1".into(),
            fs_type: "ext4".into(),
            size_bytes: 100 * GIB,
            used_bytes: 40 * GIB,
            available_bytes: 55 * GIB,
            ..Default::default()
        }],
        interfaces: vec![Interface {
            name: "eth0".into(),
            receive_bytes: 1000,
            transmit_bytes: 2000,
            receive_packets: 10,
            transmit_packets: 20,
            oper_state: "up".into(),
            carrier: Some(true),
            speed_bits_per_second: 1_000_000_000,
            ..Default::default()
        }],
        agent_version: "0.0.0-test".into(),
        links: Vec::new(),
        interface_transitions: Vec::new(),
        agent_stats: None,
        pressure: None,
        block_devices: Vec::new(),
        tcp: None,
        clock: None,
    }
}

/// A valid report of `agent`, the least an ingest test needs: fixed times (15 s reports from
/// 1,700,000,100 s on), one boot, labels, nothing measured.
pub fn minimal_report(agent: &str, sequence: u64) -> Report {
    Report {
        protocol_version: PROTOCOL_VERSION,
        agent_id: agent.into(),
        hostname: format!("{agent}.example"),
        boot_id: "6f1c1f0e-6a8e-4c57-9d1e-0c4a3a0c2b11".into(),
        boot_time_unix_seconds: 1_700_000_000,
        sequence,
        timestamp_unix_ms: 1_700_000_100_000 + sequence as i64 * 15_000,
        interval_ms: 15_000,
        labels: Some(Labels {
            department: "fgw".into(),
            business_system: "oa".into(),
            datacenter: "dc-north".into(),
            site: "city-gz".into(),
        }),
        agent_version: "0.1.0".into(),
        ..Default::default()
    }
}

/// A body far below the size cap that decompresses to about 2 MiB: one very long string.
///
/// # Panics
///
/// When the body is not that small (the encoding changed).
pub fn zstd_bomb(agent: &str) -> Vec<u8> {
    let mut r = minimal_report(agent, 1);
    r.hostname = "a".repeat(2 << 20);
    let body = zerofault_protocol::encode_report(&r);
    assert!(body.len() < 4096, "bomb body is {} bytes", body.len());
    body
}

/// POSTs `report` encoded as the wire body, with the documented headers.
/// Returns the status and the body text; a TLS or connection failure is the `Err`.
pub async fn post_report(
    client: &reqwest::Client,
    url: &str,
    report: &Report,
) -> reqwest::Result<(reqwest::StatusCode, String)> {
    post_body(client, url, zerofault_protocol::encode_report(report)).await
}

/// POSTs raw bytes as a report body, with the documented headers.
pub async fn post_body(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> reqwest::Result<(reqwest::StatusCode, String)> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
        .header(VERSION_HEADER, PROTOCOL_VERSION.to_string())
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.text().await?))
}

/// The error and its causes on one line, for messages (reqwest hides the TLS reason in the
/// chain).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_report_is_valid() {
        let r = synthetic_report("c", labels("d1", "oa", "dc2", "s"), 1, 60_000);
        r.validate(&zerofault_protocol::Limits::default()).unwrap();
        let bytes = zerofault_protocol::encode_report(&r);
        assert_eq!(
            zerofault_protocol::decode_report(&bytes, 1 << 20).unwrap(),
            r
        );
    }
}
