use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

/// A report with every field set, so that the golden bytes pin every tag.
pub(crate) fn sample_report() -> Report {
    Report {
        protocol_version: PROTOCOL_VERSION,
        agent_id: "gz-cloud-web-01".into(),
        hostname: "web-01.gz.gov.example".into(),
        boot_id: "5b2f8a9e-0c1d-4e6f-8a7b-9c0d1e2f3a4b".into(),
        boot_time_unix_seconds: 1_764_000_000,
        sequence: 42,
        timestamp_unix_ms: 1_764_086_400_123,
        interval_ms: 15_000,
        labels: Some(Labels {
            department: "fgw".into(),
            business_system: "oa".into(),
            datacenter: "dc-north".into(),
            site: "city-gz".into(),
        }),
        system: Some(SystemInfo {
            os_name: "Debian GNU/Linux".into(),
            os_version: "12".into(),
            kernel_version: "6.1.0-26-amd64".into(),
            uptime_seconds: 86_400,
        }),
        cpu: Some(Cpu {
            logical_cores: 8,
            physical_cores: 4,
            usage_ratio: 0.25,
            load1: 0.5,
            load5: 0.75,
            load15: 1.0,
            modes: Some(CpuModes {
                user: 0.125,
                nice: 0.0,
                system: 0.0625,
                idle: 0.75,
                iowait: 0.03125,
                irq: 0.0,
                softirq: 0.0,
                steal: 0.03125,
            }),
        }),
        memory: Some(Memory {
            total_bytes: 16 << 30,
            used_bytes: 4 << 30,
            available_bytes: 12 << 30,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 0,
        }),
        filesystems: vec![Filesystem {
            mount_point: "/".into(),
            device: "/dev/vda1".into(),
            fs_type: "ext4".into(),
            size_bytes: 100 << 30,
            used_bytes: 40 << 30,
            available_bytes: 55 << 30,
            inodes_total: Some(6_553_600),
            inodes_free: Some(6_000_000),
            read_only: Some(false),
        }],
        interfaces: vec![Interface {
            name: "eth0".into(),
            receive_bytes: 1_000_000,
            transmit_bytes: 2_000_000,
            receive_packets: 1000,
            transmit_packets: 2000,
            receive_errors: 1,
            transmit_errors: 2,
            receive_drops: 3,
            transmit_drops: 4,
            oper_state: "up".into(),
            carrier: Some(true),
            speed_bits_per_second: 10_000_000_000,
            full_duplex: Some(true),
        }],
        links: vec![LinkResult {
            link_id: "gz-huadu-01".into(),
            kind: "icmp".into(),
            target: "198.18.0.2".into(),
            level: "city-county".into(),
            domain: "administrative".into(),
            window_start_unix_ms: 1_764_086_385_000,
            window_end_unix_ms: 1_764_086_400_000,
            probe_interval_ms: 1000,
            sent: 15,
            received: 13,
            loss_ratio: 2.0 / 15.0,
            rtt_min_seconds: 0.001,
            rtt_avg_seconds: 0.002,
            rtt_max_seconds: 0.004,
            rtt_p50_seconds: 0.002,
            rtt_p95_seconds: 0.004,
            jitter_seconds: 0.0005,
            errors: vec![ErrorCount {
                kind: "timeout".into(),
                count: 2,
            }],
            missed_ticks: 0,
            loss_runs: vec![LossRun {
                first_lost_unix_ms: 1_764_086_398_000,
                last_lost_unix_ms: 1_764_086_399_000,
                count: 2,
                open_start: false,
                open_end: true,
            }],
            first_probe_unix_ms: 1_764_086_385_000,
            last_probe_unix_ms: 1_764_086_399_000,
            http_status: 0,
        }],
        agent_version: "0.1.0".into(),
        interface_transitions: vec![InterfaceTransition {
            interface: "eth1".into(),
            at_unix_ms: 1_764_086_390_000,
            oper_state: "down".into(),
            carrier: Some(false),
        }],
        agent_stats: Some(AgentStats {
            spool_bytes: 4096,
            spool_reports: 3,
            oldest_unsent_unix_ms: 1_764_086_370_000,
            spool_dropped_total: 0,
            spool_corrupt_total: 1,
            send_errors_total: vec![ErrorCount {
                kind: "connect".into(),
                count: 5,
            }],
            reports_acknowledged_total: 1000,
        }),
        pressure: Some(Pressure {
            cpu: Some(PressureStat {
                some: Some(PressureLine {
                    avg10: 0.015,
                    avg60: 0.0025,
                    avg300: 0.0,
                    total_us: 123_456,
                }),
                full: None,
            }),
            memory: None,
            io: None,
        }),
        block_devices: vec![BlockDevice {
            name: "vda".into(),
            reads_completed_total: 10_000,
            read_bytes_total: 400 << 20,
            read_time_ms_total: 5_000,
            writes_completed_total: 20_000,
            written_bytes_total: 800 << 20,
            write_time_ms_total: 12_000,
            in_flight: 1,
            io_time_ms_total: 9_000,
            weighted_io_time_ms_total: 17_000,
        }],
        tcp: Some(TcpStats {
            established: 12,
            segments_sent_total: 100_000,
            segments_retransmitted_total: 250,
            segments_received_total: 90_000,
        }),
        clock: Some(ClockSync {
            synchronised: true,
            max_error_seconds: 0.25,
            estimated_error_seconds: 0.000_5,
        }),
    }
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `actual` with the golden file, or rewrites the file when
/// `ZEROFAULT_UPDATE_GOLDEN=1` is set (the one golden-file helper of the test kit).
fn check_golden(name: &str, actual: &[u8]) {
    if let Err(e) = zerofault_tests::golden::compare(&golden_path(name), actual) {
        panic!("{e}\nA wire change breaks deployed agents: change it only when compatible.");
    }
}

#[test]
fn golden_protobuf_bytes_are_stable() {
    let bytes = prost::Message::encode_to_vec(&sample_report());
    check_golden("report_v1.pb", &bytes);
}

#[test]
fn golden_bytes_decode_to_the_sample() {
    let bytes = std::fs::read(golden_path("report_v1.pb")).unwrap();
    let decoded: Report = prost::Message::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, sample_report());
}

#[test]
fn golden_json_is_stable() {
    let json = serde_json::to_string_pretty(&sample_report()).unwrap() + "\n";
    check_golden("report_v1.json", json.as_bytes());
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, sample_report());
}

/// A newer agent adds fields this build does not know, at the top level and inside a nested
/// message; an older collector must decode the rest unchanged.
#[test]
fn unknown_future_fields_are_skipped() {
    let mut bytes = prost::Message::encode_to_vec(&sample_report());
    // field 100, varint 150.
    bytes.extend_from_slice(&[0xa0, 0x06, 0x96, 0x01]);
    // field 101, length-delimited "new".
    bytes.extend_from_slice(&[0xaa, 0x06, 0x03, b'n', b'e', b'w']);
    // field 102, fixed64.
    bytes.extend_from_slice(&[0xb1, 0x06, 1, 2, 3, 4, 5, 6, 7, 8]);
    // labels (field 9) again with an unknown field 9 inside: protobuf merges repeated
    // occurrences of a message field, so the known labels survive.
    let labels = prost::Message::encode_to_vec(sample_report().labels.as_ref().unwrap());
    let mut nested = labels.clone();
    nested.extend_from_slice(&[0x48, 0x07]);
    bytes.push(0x4a);
    bytes.push(nested.len() as u8);
    bytes.extend_from_slice(&nested);
    let decoded: Report = prost::Message::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, sample_report());
}

#[test]
fn older_report_without_new_fields_decodes_with_defaults() {
    // A report of only the identity fields: what a minimal v1 agent could send.
    let minimal = Report {
        protocol_version: 1,
        agent_id: "a".into(),
        ..Default::default()
    };
    let decoded: Report =
        prost::Message::decode(prost::Message::encode_to_vec(&minimal).as_slice()).unwrap();
    assert_eq!(decoded.cpu, None);
    assert!(decoded.filesystems.is_empty());
}

#[test]
fn wire_round_trip_and_compression() {
    let report = sample_report();
    let body = encode_report(&report);
    let raw_len = prost::Message::encoded_len(&report);
    assert!(raw_len < 1000, "sample encodes to {raw_len} bytes");
    assert_eq!(decode_report(&body, 1 << 20).unwrap(), report);
}

#[test]
fn decompression_bomb_is_refused() {
    let zeros = vec![0u8; 10 << 20];
    let bomb = zstd::bulk::compress(&zeros, 3).unwrap();
    assert!(bomb.len() < 4096);
    match decode_report(&bomb, 1 << 20) {
        Err(DecodeError::TooLarge { limit_bytes }) => assert_eq!(limit_bytes, 1 << 20),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

/// A frame compressed by a stream does not declare its size: the streamed path still stops
/// at the cap, and a declared frame followed by a second one cannot grow past its
/// declaration.
#[test]
fn frames_without_a_declared_size_are_streamed_and_bounded() {
    use std::io::Write;
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&vec![0u8; 10 << 20]).unwrap();
    let streamed = enc.finish().unwrap();
    assert_eq!(
        zstd::zstd_safe::get_frame_content_size(&streamed).ok(),
        Some(None),
        "the stream encoder was expected not to declare a size"
    );
    assert!(matches!(
        decompress_bounded(&streamed, 1 << 20),
        Err(DecodeError::TooLarge { .. })
    ));
    let mut small = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    small.write_all(b"hello").unwrap();
    assert_eq!(
        decompress_bounded(&small.finish().unwrap(), 1 << 20).unwrap(),
        b"hello"
    );

    let mut two = zstd::bulk::compress(b"small", 3).unwrap();
    two.extend(zstd::bulk::compress(&vec![0u8; 1 << 20], 3).unwrap());
    assert!(decompress_bounded(&two, 8 << 20).is_err());
}

#[test]
fn garbage_is_a_decompress_error() {
    assert!(matches!(
        decode_report(b"not zstd at all", 1 << 20),
        Err(DecodeError::Decompress(_))
    ));
}

#[test]
fn valid_zstd_but_not_protobuf_is_a_protobuf_error() {
    let body = zstd::bulk::compress(&[0xff, 0xff, 0xff, 0xff], 3).unwrap();
    assert!(matches!(
        decode_report(&body, 1 << 20),
        Err(DecodeError::Protobuf(_))
    ));
}

#[test]
fn sample_validates() {
    sample_report().validate(&Limits::default()).unwrap();
}

#[test]
fn validation_names_the_field() {
    let limits = Limits::default();
    let mut r = sample_report();
    r.protocol_version = 2;
    assert!(matches!(
        r.validate(&limits),
        Err(ValidationError::UnsupportedVersion { got: 2, .. })
    ));

    let mut r = sample_report();
    r.agent_id = "bad id/..".into();
    assert!(
        r.validate(&limits)
            .unwrap_err()
            .to_string()
            .contains("agent_id")
    );

    let mut r = sample_report();
    r.boot_id.clear();
    assert_eq!(
        r.validate(&limits),
        Err(ValidationError::Empty { field: "boot_id" })
    );

    let mut r = sample_report();
    r.cpu.as_mut().unwrap().usage_ratio = f64::NAN;
    assert!(
        r.validate(&limits)
            .unwrap_err()
            .to_string()
            .contains("cpu.usage_ratio")
    );

    let mut r = sample_report();
    r.memory.as_mut().unwrap().used_bytes = u64::MAX;
    assert!(
        r.validate(&limits)
            .unwrap_err()
            .to_string()
            .contains("memory.used_bytes")
    );

    let mut r = sample_report();
    r.timestamp_unix_ms = 0;
    assert!(
        r.validate(&limits)
            .unwrap_err()
            .to_string()
            .contains("timestamp_unix_ms")
    );

    let mut r = sample_report();
    r.interval_ms = 0;
    assert!(
        r.validate(&limits)
            .unwrap_err()
            .to_string()
            .contains("interval_ms")
    );

    let mut r = sample_report();
    r.filesystems = vec![r.filesystems[0].clone(); 3];
    let small = Limits {
        max_filesystems: 2,
        ..limits
    };
    assert_eq!(
        r.validate(&small),
        Err(ValidationError::TooMany {
            field: "filesystems",
            len: 3,
            limit: 2
        })
    );

    let mut r = sample_report();
    r.hostname = "h".repeat(256);
    assert!(matches!(
        r.validate(&limits),
        Err(ValidationError::TooLong {
            field: "hostname",
            ..
        })
    ));
}

#[test]
fn sequences_above_the_stores_range_are_refused() {
    let mut r = sample_report();
    r.sequence = i64::MAX as u64;
    assert_eq!(r.validate(&Limits::default()), Ok(()));
    r.sequence = u64::MAX;
    assert!(matches!(
        r.validate(&Limits::default()),
        Err(ValidationError::OutOfRange {
            field: "sequence",
            ..
        })
    ));
}

#[test]
fn an_uptime_longer_than_the_epoch_is_refused() {
    let mut r = sample_report();
    r.system.as_mut().unwrap().uptime_seconds = (MAX_TIMESTAMP_UNIX_MS / 1000) as u64;
    assert_eq!(r.validate(&Limits::default()), Ok(()));
    r.system.as_mut().unwrap().uptime_seconds = 1 << 62;
    assert!(matches!(
        r.validate(&Limits::default()),
        Err(ValidationError::OutOfRange {
            field: "system.uptime_seconds",
            ..
        })
    ));
}

#[test]
fn agent_id_rule() {
    assert!(is_valid_agent_id("gz-web_01.a"));
    assert!(!is_valid_agent_id(""));
    assert!(!is_valid_agent_id("a b"));
    assert!(!is_valid_agent_id("机房"));
    assert!(!is_valid_agent_id(&"a".repeat(129)));
}

proptest! {
    #[test]
    fn any_report_round_trips(
        seq in any::<u64>(),
        ts in MIN_TIMESTAMP_UNIX_MS..MAX_TIMESTAMP_UNIX_MS,
        usage in 0.0f64..=1.0,
        host in "[a-z0-9.-]{1,40}",
        mounts in proptest::collection::vec("/[a-z]{0,12}", 0..20),
    ) {
        let mut r = sample_report();
        r.sequence = seq;
        r.timestamp_unix_ms = ts;
        r.cpu.as_mut().unwrap().usage_ratio = usage;
        r.hostname = host;
        r.filesystems = mounts.into_iter().map(|m| Filesystem { mount_point: m, ..Default::default() }).collect();
        let back = decode_report(&encode_report(&r), 1 << 20).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_report(&bytes, 1 << 16);
        let _ = <Report as prost::Message>::decode(bytes.as_slice());
    }
}
