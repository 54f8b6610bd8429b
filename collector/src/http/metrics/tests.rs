//! Unit tests of the exposition rules; the exact bytes are pinned by the golden test in
//! `collector/tests/golden_metrics.rs`.

use std::collections::BTreeMap;

use zerofault_protocol::{Cpu, Filesystem, Interface, Labels, Memory, Report};

use super::*;
use crate::live::hosts::RejectReason;

const NOW: i64 = 1_767_225_600_000;

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the sample lines of a text exposition (enough of the format for these tests:
/// quoted label values with `\\`, `\"` and `\n` escapes).
fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => {
                let (n, v) = line.split_once(' ').unwrap();
                out.push((n.to_owned(), BTreeMap::new(), v.parse().unwrap()));
                continue;
            }
        };
        let mut labels = BTreeMap::new();
        let mut chars = rest.chars();
        loop {
            let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
            assert_eq!(chars.next(), Some('"'), "{line}");
            let mut value = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next().unwrap() {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    '"' => break,
                    other => value.push(other),
                }
            }
            labels.insert(key.trim_start_matches(',').to_owned(), value);
            let rest: String = chars.clone().collect();
            if let Some(v) = rest.strip_prefix("} ") {
                out.push((name.to_owned(), labels, v.parse().unwrap()));
                break;
            }
        }
    }
    out
}

fn host(agent: &str, dept: &str, dc: &str, received_ago_ms: i64) -> HostEntry {
    HostEntry {
        report: Arc::new(Report {
            protocol_version: 1,
            agent_id: agent.into(),
            hostname: format!("{agent}.example"),
            boot_id: "boot".into(),
            sequence: 1,
            interval_ms: 10_000,
            labels: Some(Labels {
                department: dept.into(),
                datacenter: dc.into(),
                ..Default::default()
            }),
            cpu: Some(Cpu {
                logical_cores: agent.len() as u32,
                ..Default::default()
            }),
            memory: Some(Memory {
                total_bytes: 1 << 30,
                used_bytes: (agent.len() as u64) << 20,
                ..Default::default()
            }),
            filesystems: vec![
                Filesystem {
                    mount_point: "/".into(),
                    size_bytes: 100 << 30,
                    used_bytes: (agent.len() as u64) << 30,
                    ..Default::default()
                },
                Filesystem {
                    mount_point: "/data".into(),
                    size_bytes: 7 << 40,
                    used_bytes: 3 << 40,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        received_unix_ms: NOW - received_ago_ms,
        delivery: None,
    }
}

fn sum_where(samples: &[Sample], name: &str, label: &str, value: &str) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| n == name && l.get(label).map(String::as_str) == Some(value))
        .map(|s| s.2)
        .sum()
}

fn one(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    found[0].2
}

fn mixed_hosts() -> Vec<HostEntry> {
    let mut no_labels = host("bare", "", "", 0);
    Arc::make_mut(&mut no_labels.report).labels = None;
    let mut no_sections = host("empty-sections", "fgw", "dc-a", 0);
    Arc::make_mut(&mut no_sections.report).cpu = None;
    Arc::make_mut(&mut no_sections.report).memory = None;
    Arc::make_mut(&mut no_sections.report).filesystems.clear();
    let mut dup_mount = host("dup", "fgw", "dc-b", 0);
    let first = dup_mount.report.filesystems[0].clone();
    Arc::make_mut(&mut dup_mount.report).filesystems.push(first);
    vec![
        host("web-01", "fgw", "dc-a", 5_000),
        host("db-01", "fgw", "dc-b", 30_001), // down: 3 x 10 s + 1 ms
        host("gis-01", "zrzy", "dc-a", 29_000),
        no_labels,
        no_sections,
        dup_mount,
    ]
}

#[test]
fn aggregates_equal_the_sum_of_the_per_host_series() {
    let text = render(
        &mixed_hosts(),
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        3,
    );
    let samples = parse(&text);
    let pairs = [
        ("cpu_cores", "zerofault_host_cpu_cores"),
        ("memory_total_bytes", "zerofault_host_memory_total_bytes"),
        ("memory_used_bytes", "zerofault_host_memory_used_bytes"),
        (
            "filesystem_size_bytes",
            "zerofault_host_filesystem_size_bytes",
        ),
        (
            "filesystem_used_bytes",
            "zerofault_host_filesystem_used_bytes",
        ),
        ("filesystem_inodes", "zerofault_host_filesystem_inodes"),
        (
            "filesystem_inodes_free",
            "zerofault_host_filesystem_inodes_free",
        ),
    ];
    let mut checked = 0;
    for scope in ["department", "datacenter"] {
        let keys: Vec<String> = samples
            .iter()
            .filter(|(n, _, _)| *n == format!("zerofault_{scope}_cpu_cores"))
            .map(|(_, l, _)| l[scope].clone())
            .collect();
        assert!(keys.len() >= 2, "{scope}: {keys:?}");
        for key in &keys {
            for (agg, per_host) in pairs {
                let expected = sum_where(&samples, per_host, scope, key);
                let got = one(
                    &samples,
                    &format!("zerofault_{scope}_{agg}"),
                    &[(scope, key)],
                );
                assert_eq!(got, expected, "{scope}={key} {agg}");
                checked += 1;
            }
            let hosts = |state: &str| {
                one(
                    &samples,
                    &format!("zerofault_{scope}_hosts"),
                    &[(scope, key), ("state", state)],
                )
            };
            let up = sum_where(&samples, "zerofault_host_up", scope, key);
            let known = samples
                .iter()
                .filter(|(n, l, _)| n == "zerofault_host_up" && l[scope] == *key)
                .count() as f64;
            assert_eq!(hosts("up"), up, "{scope}={key} up");
            assert_eq!(hosts("down"), known - up, "{scope}={key} down");
        }
    }
    assert!(checked >= 20);
    assert_eq!(one(&samples, "zerofault_collector_hosts", &[]), 6.0);
}

#[test]
fn empty_organisation_labels_are_unlabelled() {
    let text = render(
        &mixed_hosts(),
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        3,
    );
    let samples = parse(&text);
    let up = |agent| one(&samples, "zerofault_host_up", &[("agent", agent)]);
    assert_eq!(up("bare"), 1.0);
    let info = samples
        .iter()
        .find(|(n, l, _)| n == "zerofault_host_info" && l["agent"] == "bare")
        .unwrap();
    for key in ["department", "business_system", "datacenter", "site"] {
        assert_eq!(info.1[key], UNLABELLED, "{key}");
    }
    assert_eq!(
        one(
            &samples,
            "zerofault_department_hosts",
            &[("department", UNLABELLED), ("state", "up")]
        ),
        1.0
    );
    // No series anywhere carries an empty department or data center.
    for (name, labels, _) in &samples {
        for key in ["department", "datacenter"] {
            assert_ne!(labels.get(key).map(String::as_str), Some(""), "{name}");
        }
    }
}

#[test]
fn up_follows_the_host_interval_and_down_after_intervals() {
    let text = render(
        &mixed_hosts(),
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        3,
    );
    let samples = parse(&text);
    let up = |agent| one(&samples, "zerofault_host_up", &[("agent", agent)]);
    assert_eq!(up("web-01"), 1.0);
    assert_eq!(up("gis-01"), 1.0);
    assert_eq!(up("db-01"), 0.0);
    // A down host keeps its last values.
    assert_eq!(
        one(&samples, "zerofault_host_cpu_cores", &[("agent", "db-01")]),
        5.0
    );
    // With a larger window the same host is up.
    let text = render(
        &mixed_hosts(),
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        4,
    );
    assert_eq!(
        one(&parse(&text), "zerofault_host_up", &[("agent", "db-01")]),
        1.0
    );
}

#[test]
fn a_repeated_mount_point_or_interface_is_exposed_once() {
    let mut h = host("dup", "fgw", "dc-b", 0);
    let fs = h.report.filesystems[0].clone();
    Arc::make_mut(&mut h.report).filesystems.push(fs);
    let eth = Interface {
        name: "eth0".into(),
        receive_bytes: 1,
        ..Default::default()
    };
    Arc::make_mut(&mut h.report).interfaces = vec![eth.clone(), eth];
    let samples = parse(&render(
        &[h],
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        3,
    ));
    one(
        &samples,
        "zerofault_host_filesystem_size_bytes",
        &[("mountpoint", "/")],
    );
    one(
        &samples,
        "zerofault_host_network_receive_bytes_total",
        &[("interface", "eth0")],
    );
}

#[test]
fn a_duplicate_agent_in_the_snapshot_is_exposed_once() {
    let h = host("web-01", "fgw", "dc-a", 0);
    let samples = parse(&render(
        &[h.clone(), h],
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        3,
    ));
    one(&samples, "zerofault_host_up", &[("agent", "web-01")]);
    assert_eq!(one(&samples, "zerofault_collector_hosts", &[]), 1.0);
}

#[test]
fn label_values_are_escaped() {
    let mut h = host("web-01", "fgw", "dc-a", 0);
    Arc::make_mut(&mut h.report).hostname = "we\"ird\\host\nname".into();
    let samples = parse(&render(
        &[h],
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        3,
    ));
    assert_eq!(
        one(
            &samples,
            "zerofault_host_up",
            &[("host", "we\"ird\\host\nname")]
        ),
        1.0
    );
}

#[test]
fn every_reject_reason_is_present_from_the_start() {
    let c = IngestCounters::default();
    c.rejected(RejectReason::Malformed);
    let samples = parse(&render(&[], &c, &LinksSnapshot::default(), NOW, 3));
    for reason in RejectReason::ALL {
        let expected = if reason == RejectReason::Malformed {
            1.0
        } else {
            0.0
        };
        assert_eq!(
            one(
                &samples,
                "zerofault_collector_reports_rejected_total",
                &[("reason", reason.as_str())]
            ),
            expected
        );
    }
}

#[test]
fn interface_gauges_are_absent_when_unknown() {
    let mut h = host("web-01", "fgw", "dc-a", 0);
    Arc::make_mut(&mut h.report).interfaces = vec![
        Interface {
            name: "eth0".into(),
            oper_state: "up".into(),
            carrier: Some(true),
            speed_bits_per_second: 10_000_000_000,
            ..Default::default()
        },
        Interface {
            name: "veth1".into(),
            oper_state: "down".into(),
            ..Default::default()
        },
    ];
    let samples = parse(&render(
        &[h],
        &IngestCounters::default(),
        &LinksSnapshot::default(),
        NOW,
        3,
    ));
    let get = |name, iface| one(&samples, name, &[("interface", iface)]);
    assert_eq!(get("zerofault_host_network_up", "eth0"), 1.0);
    assert_eq!(get("zerofault_host_network_up", "veth1"), 0.0);
    assert_eq!(get("zerofault_host_network_carrier", "eth0"), 1.0);
    assert_eq!(get("zerofault_host_network_speed_bytes", "eth0"), 1.25e9);
    let absent = |name: &str| {
        !samples
            .iter()
            .any(|(n, l, _)| n == name && l["interface"] == "veth1")
    };
    assert!(absent("zerofault_host_network_carrier"));
    assert!(absent("zerofault_host_network_speed_bytes"));
}

/// One host with every section: 3 filesystems, 2 interfaces (both tracked by the link
/// engine), delivery figures with a clock offset and 2 kinds of send errors.
fn complete_host() -> (HostEntry, LinksSnapshot) {
    use crate::live::delivery::Delivery;
    use crate::live::links::InterfaceView;
    use zerofault_protocol::{AgentStats, ErrorCount};
    let mut h = host("web-01", "fgw", "dc-a", 0);
    Arc::make_mut(&mut h.report).filesystems.push(Filesystem {
        mount_point: "/var".into(),
        ..Default::default()
    });
    for fs in &mut Arc::make_mut(&mut h.report).filesystems {
        (fs.inodes_total, fs.inodes_free, fs.read_only) = (Some(64), Some(16), Some(false));
    }
    Arc::make_mut(&mut h.report).interfaces = ["eth0", "eth1"]
        .map(|n| Interface {
            name: n.into(),
            carrier: Some(true),
            speed_bits_per_second: 1_000_000_000,
            full_duplex: Some(true),
            ..Default::default()
        })
        .to_vec();
    Arc::make_mut(&mut h.report).block_devices = ["vda", "dm-0"]
        .map(|n| zerofault_protocol::BlockDevice {
            name: n.into(),
            ..Default::default()
        })
        .to_vec();
    Arc::make_mut(&mut h.report).tcp = Some(zerofault_protocol::TcpStats::default());
    Arc::make_mut(&mut h.report).clock = Some(zerofault_protocol::ClockSync::default());
    Arc::make_mut(&mut h.report).agent_stats = Some(AgentStats {
        send_errors_total: ["connect", "timeout"]
            .map(|k| ErrorCount {
                kind: k.into(),
                count: 1,
            })
            .to_vec(),
        ..Default::default()
    });
    h.delivery = Some(Delivery {
        clock_offset_ms: Some(5),
        ..Default::default()
    });
    if let Some(cpu) = &mut Arc::make_mut(&mut h.report).cpu {
        cpu.modes = Some(zerofault_protocol::CpuModes {
            idle: 1.0,
            ..Default::default()
        });
    }
    // Pressure as the agent reports it: cpu without its always-zero `full` line (5 lines).
    let line = || Some(zerofault_protocol::PressureLine::default());
    let both = || {
        Some(zerofault_protocol::PressureStat {
            some: line(),
            full: line(),
        })
    };
    Arc::make_mut(&mut h.report).pressure = Some(zerofault_protocol::Pressure {
        cpu: Some(zerofault_protocol::PressureStat {
            some: line(),
            full: None,
        }),
        memory: both(),
        io: both(),
    });
    let links = LinksSnapshot {
        interfaces: ["eth0", "eth1"]
            .map(|n| InterfaceView {
                agent: "web-01".into(),
                interface: n.into(),
                down: false,
                transitions_total: 0,
                down_ms_total: 0,
            })
            .to_vec(),
        ..Default::default()
    };
    (h, links)
}

/// Names of the families with a sample labelled with `agent` (the per-host ones).
fn per_host_families(samples: &[Sample]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for (name, labels, _) in samples {
        if labels.contains_key("agent") {
            *out.entry(name.clone()).or_default() += 1;
        }
    }
    out
}

/// The series budget of `docs/metrics.md`: full = 39 + k + P + 6 per filesystem + 14 per
/// interface + 9 per block device (k = kinds of send errors, P = pressure lines, up to 5),
/// essential = 16 + 5 per filesystem + 1 per block device.
#[test]
fn series_per_host_in_each_detail_are_the_documented_budget() {
    let (h, links) = complete_host();
    let render_at = |detail| {
        parse(&render_with_inventory(
            std::slice::from_ref(&h),
            None,
            &IngestCounters::default(),
            &links,
            NOW,
            3,
            detail,
        ))
    };
    let full = per_host_families(&render_at(Detail::Full));
    let essential = per_host_families(&render_at(Detail::Essential));
    let (fs, ifaces, kinds, pressure, disks) = (3, 2, 2, 5, 2);
    assert_eq!(
        full.values().sum::<usize>(),
        39 + kinds + pressure + 6 * fs + 14 * ifaces + 9 * disks
    );
    assert_eq!(essential.values().sum::<usize>(), 16 + 5 * fs + disks);
    let kept: Vec<&str> = essential.keys().map(String::as_str).collect();
    assert_eq!(
        kept,
        [
            "zerofault_agent_clock_skewed",
            "zerofault_agent_oldest_unsent_age_seconds",
            "zerofault_agent_sequence_gaps",
            "zerofault_agent_spool_dropped_total",
            "zerofault_host_boot_time_seconds",
            "zerofault_host_clock_synchronised",
            "zerofault_host_cpu_cores",
            "zerofault_host_cpu_mode_ratio",
            "zerofault_host_cpu_usage_ratio",
            "zerofault_host_disk_io_time_seconds_total",
            "zerofault_host_filesystem_available_bytes",
            "zerofault_host_filesystem_inodes",
            "zerofault_host_filesystem_inodes_free",
            "zerofault_host_filesystem_size_bytes",
            "zerofault_host_filesystem_used_bytes",
            "zerofault_host_info",
            "zerofault_host_last_report_timestamp_seconds",
            "zerofault_host_memory_available_bytes",
            "zerofault_host_memory_total_bytes",
            "zerofault_host_memory_used_bytes",
            "zerofault_host_up",
        ]
    );
    // Essential is a subset with the same values: nothing is computed differently.
    let full_samples = render_at(Detail::Full);
    for sample in render_at(Detail::Essential) {
        if sample.0 != "zerofault_collector_metrics_detail" {
            assert!(full_samples.contains(&sample), "{sample:?}");
        }
    }
}

#[test]
fn essential_keeps_every_aggregate_and_link_family() {
    let hosts = mixed_hosts();
    let render_at = |detail| {
        render_with_inventory(
            &hosts,
            None,
            &IngestCounters::default(),
            &LinksSnapshot::default(),
            NOW,
            3,
            detail,
        )
    };
    let (full, essential) = (render_at(Detail::Full), render_at(Detail::Essential));
    let kept = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.contains("agent=\""))
            .filter(|l| !l.starts_with("zerofault_collector_metrics_detail"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(kept(&full), kept(&essential));
    assert!(
        kept(&full)
            .iter()
            .any(|l| l.starts_with("zerofault_department_"))
    );
    assert!(essential.contains("\nzerofault_collector_metrics_detail{detail=\"essential\"} 1\n"));
    assert!(essential.contains("\nzerofault_collector_metrics_detail{detail=\"full\"} 0\n"));
}
