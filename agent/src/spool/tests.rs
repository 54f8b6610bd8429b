//! Spool tests: append/ack/restart, the size bound, and files damaged on purpose.

use std::collections::VecDeque;
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;

fn opts(dir: &Path) -> SpoolOptions {
    SpoolOptions {
        dir: dir.to_owned(),
        max_bytes: 1 << 30,
        segment_bytes: 1 << 20,
    }
}

fn payload(i: u32) -> Vec<u8> {
    format!("report-{i:05}-{}", "x".repeat((i % 7) as usize)).into_bytes()
}

/// Payloads of the pending records, oldest first.
fn pending_payloads(s: &mut Spool) -> Vec<Vec<u8>> {
    s.pending_ids()
        .into_iter()
        .map(|id| s.read(id).unwrap())
        .collect()
}

fn only_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    assert_eq!(segs.len(), 1, "{segs:?}");
    segs.pop().unwrap()
}

#[test]
fn names_and_scan_of_a_clean_segment() {
    assert_eq!(segment_name(42), "00000000000000000042.seg");
    assert_eq!(segment_number("00000000000000000042.seg"), Some(42));
    assert_eq!(segment_number("42.seg"), None);
    assert_eq!(segment_number("00000000000000000042.seg.tmp"), None);
    let (good, bad) = scan(&[]);
    assert!(good.is_empty());
    assert!(bad.is_empty());
}

#[test]
fn append_read_ack_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let ids: Vec<_> = (0..5)
        .map(|i| s.append(&payload(i), 1000 + i64::from(i)).unwrap())
        .collect();
    assert_eq!(s.pending(), 5);
    assert_eq!(s.next_to_send(), Some(Next::Live(ids[4])));
    assert_eq!(s.stats().oldest_unsent_unix_ms, 1000);
    s.ack(ids[4]); // live first
    assert_eq!(s.next_to_send(), Some(Next::Backlog(ids[0])));
    s.ack(ids[0]);
    s.ack(ids[2]); // beyond the gap at ids[1]
    assert_eq!(s.next_to_send(), Some(Next::Backlog(ids[1])));
    assert_eq!(s.acknowledged_total(), 3);
    s.save();
    drop(s);
    // After a restart the acknowledgements beyond the gap are forgotten: ids[2] and ids[4]
    // are sent again (the collector answers "duplicate").
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(
        pending_payloads(&mut s),
        [payload(1), payload(2), payload(3), payload(4)]
    );
    assert_eq!(s.acknowledged_total(), 3);
    assert_eq!(s.next_to_send(), Some(Next::Backlog(s.pending_ids()[0])));
    // Found by the scan, not a decodable report here: unknown.
    assert_eq!(s.stats().oldest_unsent_unix_ms, 0);
    for id in s.pending_ids() {
        s.ack(id);
    }
    assert_eq!(s.pending(), 0);
    s.save();
    drop(s);
    let s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.pending(), 0);
    assert_eq!(s.bytes(), 0, "acknowledged segments are deleted");
    assert_eq!(s.acknowledged_total(), 7);
}

#[test]
fn oldest_unsent_of_a_spooled_report_is_decoded_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let report = sizing_report(2);
    s.append(
        &zerofault_protocol::encode_report(&report),
        report.timestamp_unix_ms,
    );
    drop(s);
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.stats().oldest_unsent_unix_ms, report.timestamp_unix_ms);
    assert_eq!(s.stats().spool_reports, 1);
}

#[test]
fn segments_roll_and_acknowledged_ones_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.segment_bytes = 100;
    let mut s = Spool::open(o).unwrap();
    let ids: Vec<_> = (0..10).map(|i| s.append(&payload(i), 1).unwrap()).collect();
    let segments: std::collections::BTreeSet<_> = ids.iter().map(|i| i.segment).collect();
    assert!(segments.len() >= 3, "{segments:?}");
    let count = || std::fs::read_dir(dir.path()).unwrap().count();
    let before = count();
    for id in &ids[..6] {
        s.ack(*id);
    }
    assert!(count() < before, "fully acknowledged segments are deleted");
    assert_eq!(s.pending(), 4);
}

#[test]
fn full_spool_drops_the_oldest_counts_and_keeps_collecting() {
    let dir = tempfile::tempdir().unwrap();
    let o = SpoolOptions {
        dir: dir.path().to_owned(),
        max_bytes: 1000,
        segment_bytes: 200,
    };
    let mut s = Spool::open(o.clone()).unwrap();
    let body = vec![7u8; 92]; // 100 bytes per record, 2 per segment, 10 fit
    for i in 0..25 {
        assert!(s.append(&body, i).is_some());
        assert!(s.bytes() <= 1000, "{}", s.bytes());
    }
    // Dropping whole segments of 2 records: 25 appended, 10 kept at most.
    let kept = s.pending();
    assert!((8..=10).contains(&kept), "{kept}");
    assert_eq!(s.dropped_total(), 25 - kept);
    assert_eq!(s.stats().spool_dropped_total, 25 - kept);
    // The newest are kept.
    let last = s.pending_ids().last().copied();
    assert_eq!(s.next_to_send(), last.map(Next::Live));
    s.save();
    drop(s);
    let s = Spool::open(o).unwrap();
    assert_eq!(s.dropped_total(), 25 - kept, "persisted");
    assert_eq!(s.pending(), kept);
}

#[test]
fn write_failure_drops_the_oldest_and_retries_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(dir.path());
    o.segment_bytes = 100;
    let mut s = Spool::open(o).unwrap();
    let body = vec![1u8; 42]; // 50 bytes a record, 2 per segment
    let ids: Vec<_> = (0..6).map(|i| s.append(&body, i).unwrap()).collect();
    // ENOSPC once: the oldest segment (2 reports) goes, the retry succeeds.
    s.inject_write_failures(1);
    let id = s.append(&body, 7).expect("stored after freeing space");
    assert_eq!(s.dropped_total(), 2);
    assert_eq!(s.pending_ids()[0], ids[2]);
    assert_eq!(s.pending_ids().last(), Some(&id));
    // ENOSPC twice: another segment goes and this report is dropped too; no panic.
    s.inject_write_failures(2);
    assert_eq!(s.append(&body, 8), None);
    assert_eq!(s.dropped_total(), 2 + 2 + 1);
    // And collection goes on.
    assert!(s.append(&body, 9).is_some());
    assert_eq!(s.stats().spool_dropped_total, 5);
}

#[test]
fn a_stray_file_with_the_next_segment_name_does_not_block_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Spool::open(opts(dir.path())).unwrap();
    drop(s);
    let s = Spool::open(opts(dir.path())).unwrap();
    let next = s.next_segment;
    drop(s);
    // Not a segment at open (a directory), but it takes the next segment's name.
    std::fs::create_dir(dir.path().join(segment_name(next + 1))).unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let mut stored = 0;
    for i in 0..3 {
        stored += usize::from(s.append(&payload(i), 1).is_some());
    }
    assert!(stored >= 2, "{stored}");
}

#[test]
fn truncated_mid_record_is_counted_once_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    for i in 0..3 {
        s.append(&payload(i), 1);
    }
    drop(s); // crash: no save
    let seg = only_segment(dir.path());
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = File::options().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(pending_payloads(&mut s), [payload(0), payload(1)]);
    assert_eq!(s.corrupt_total(), 1);
    // A new segment is started; the damaged one is not counted again after a restart.
    s.append(&payload(9), 1);
    drop(s);
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.corrupt_total(), 1);
    assert_eq!(
        pending_payloads(&mut s),
        [payload(0), payload(1), payload(9)]
    );
}

#[test]
fn damage_appearing_later_in_an_already_scanned_segment_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    for i in 0..3 {
        s.append(&payload(i), 1);
    }
    drop(s);
    // Scanned clean at this start, then written on.
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.corrupt_total(), 0);
    s.append(&payload(3), 1);
    drop(s);
    let mut segs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    // Torn tail in the older segment, damage "at rest".
    let len = std::fs::metadata(&segs[0]).unwrap().len();
    File::options()
        .write(true)
        .open(&segs[0])
        .unwrap()
        .set_len(len - 2)
        .unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.corrupt_total(), 1);
    assert_eq!(
        pending_payloads(&mut s),
        [payload(0), payload(1), payload(3)]
    );
    drop(s);
    let s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.corrupt_total(), 1, "not counted again");
}

fn corrupt_at(dir: &Path, at: impl FnOnce(u64) -> u64) {
    let seg = only_segment(dir);
    let mut bytes = std::fs::read(&seg).unwrap();
    let i = at(bytes.len() as u64) as usize;
    bytes[i] ^= 0x55;
    std::fs::write(&seg, bytes).unwrap();
}

#[test]
fn flipped_payload_byte_skips_that_record_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let ids: Vec<_> = (0..3).map(|i| s.append(&payload(i), 1).unwrap()).collect();
    drop(s);
    // A byte inside the second record's payload.
    corrupt_at(dir.path(), |_| ids[1].offset + HEADER_BYTES + 2);
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(pending_payloads(&mut s), [payload(0), payload(2)]);
    assert_eq!(s.corrupt_total(), 1);
}

#[test]
fn flipped_length_byte_is_detected_and_keeps_what_came_before() {
    for byte in 0..4u64 {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(opts(dir.path())).unwrap();
        let ids: Vec<_> = (0..4).map(|i| s.append(&payload(i), 1).unwrap()).collect();
        drop(s);
        corrupt_at(dir.path(), |_| ids[1].offset + byte);
        let mut s = Spool::open(opts(dir.path())).unwrap();
        let got = pending_payloads(&mut s);
        assert_eq!(got[0], payload(0), "byte {byte}");
        assert!(!got.contains(&payload(1)), "byte {byte}");
        assert!(s.corrupt_total() >= 1, "byte {byte}");
        // Whatever survived is intact and in order.
        let all: Vec<_> = (0..4).map(payload).collect();
        let mut last = None;
        for g in &got {
            let i = all.iter().position(|p| p == g).unwrap();
            assert!(last.is_none_or(|l| i > l));
            last = Some(i);
        }
    }
}

#[test]
fn zero_filled_tail_is_one_damage_and_records_before_survive() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    for i in 0..2 {
        s.append(&payload(i), 1);
    }
    drop(s);
    let seg = only_segment(dir.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::write(&seg, bytes).unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(pending_payloads(&mut s), [payload(0), payload(1)]);
    assert_eq!(s.corrupt_total(), 1);
}

#[test]
fn empty_segment_and_missing_or_garbage_state_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(segment_name(3)), b"").unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.pending(), 0);
    assert_eq!(s.corrupt_total(), 0);
    assert!(
        !dir.path().join(segment_name(3)).exists(),
        "empty segment removed"
    );
    let a = s.append(&payload(1), 1).unwrap();
    assert!(a.segment > 3, "numbers keep increasing: {a:?}");
    s.ack(a);
    s.append(&payload(2), 1).unwrap();
    s.save();
    drop(s);
    // Missing state: everything on disk is backlog again (safe: the collector is
    // idempotent), counters restart.
    std::fs::remove_file(dir.path().join(STATE_FILE)).unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(pending_payloads(&mut s), [payload(1), payload(2)]);
    drop(s);
    std::fs::write(dir.path().join(STATE_FILE), b"{not json").unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(pending_payloads(&mut s), [payload(1), payload(2)]);
}

#[test]
fn damage_found_when_sending_is_counted_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let ids: Vec<_> = (0..2).map(|i| s.append(&payload(i), 1).unwrap()).collect();
    corrupt_at(dir.path(), |_| ids[0].offset + HEADER_BYTES);
    assert_eq!(s.read(ids[0]), None);
    assert_eq!(s.corrupt_total(), 1);
    assert_eq!(s.pending_ids(), [ids[1]]);
    assert_eq!(s.read(ids[1]), Some(payload(1)));
    s.save();
    drop(s);
    // The next start finds the same damage in its scan: not counted twice.
    let s = Spool::open(opts(dir.path())).unwrap();
    assert_eq!(s.corrupt_total(), 1);
}

#[test]
fn unusable_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let e = Spool::open(opts(&file.join("spool"))).unwrap_err();
    assert!(e.to_string().contains("spool.dir"), "{e}");
}

#[test]
fn send_errors_are_reported_by_kind_and_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    s.count_send_error("connect");
    s.count_send_error("connect");
    s.count_send_error("http_5xx");
    s.save();
    drop(s);
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let kinds: Vec<_> = s
        .stats()
        .send_errors_total
        .into_iter()
        .map(|e| (e.kind, e.count))
        .collect();
    assert_eq!(kinds, [("connect".into(), 2), ("http_5xx".into(), 1)]);
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    AckLive,
    AckOldest,
    AckNth(usize),
    Restart,
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Append),
        2 => Just(Op::AckLive),
        2 => Just(Op::AckOldest),
        2 => (0usize..8).prop_map(Op::AckNth),
        1 => Just(Op::Restart),
        1 => Just(Op::Crash),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random appends, acknowledgements (in and out of order), clean restarts and crashes,
    /// checked against a VecDeque model: nothing unacknowledged is ever lost, order is
    /// kept, and after a crash only acknowledged reports come back (to be resent).
    #[test]
    fn model_check(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let o = SpoolOptions { dir: dir.path().to_owned(), max_bytes: 1 << 30, segment_bytes: 64 };
        let mut s = Spool::open(o.clone()).unwrap();
        // (payload, acknowledged)
        let mut model: VecDeque<(Vec<u8>, bool)> = VecDeque::new();
        let mut acked_ever: std::collections::HashSet<Vec<u8>> = Default::default();
        let mut n = 0u32;
        for op in ops {
            match op {
                Op::Append(len) => {
                    n += 1;
                    let mut p = n.to_le_bytes().to_vec();
                    p.extend(std::iter::repeat_n(len, usize::from(len % 16)));
                    s.append(&p, 1).unwrap();
                    model.push_back((p, false));
                }
                Op::AckLive | Op::AckOldest | Op::AckNth(_) => {
                    let ids = s.pending_ids();
                    let pick = match (&op, s.next_to_send()) {
                        (Op::AckLive, Some(Next::Live(id))) => Some(id),
                        (Op::AckOldest, _) => ids.first().copied(),
                        (Op::AckNth(k), _) => ids.get(*k).copied(),
                        _ => None,
                    };
                    if let Some(id) = pick {
                        let p = s.read(id).unwrap();
                        s.ack(id);
                        let m = model.iter_mut().find(|(q, a)| *q == p && !*a).unwrap();
                        m.1 = true;
                        acked_ever.insert(p);
                    }
                }
                Op::Restart => {
                    s.save();
                    drop(s);
                    s = Spool::open(o.clone()).unwrap();
                    // Acknowledgements beyond the gap are forgotten: pending again.
                    while model.front().is_some_and(|m| m.1) { model.pop_front(); }
                    for m in &mut model { m.1 = false; }
                }
                Op::Crash => {
                    drop(s);
                    s = Spool::open(o.clone()).unwrap();
                    let got = pending_payloads(&mut s);
                    let want: Vec<_> = model.iter().filter(|m| !m.1).map(|m| m.0.clone()).collect();
                    // Every unacknowledged report survives, in order; extras were acknowledged.
                    let mut it = got.iter();
                    for w in &want {
                        prop_assert!(it.any(|g| g == w), "lost {:?}", w);
                    }
                    for g in &got {
                        prop_assert!(want.contains(g) || acked_ever.contains(g));
                    }
                    model = got.into_iter().map(|p| (p, false)).collect();
                }
            }
            let got = pending_payloads(&mut s);
            let want: Vec<_> = model.iter().filter(|m| !m.1).map(|m| m.0.clone()).collect();
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(s.pending(), want.len() as u64);
        }
    }
}

/// Sizing of the default bound: a report with 50 link results, as `run` makes it.
#[test]
fn default_bound_holds_seven_days_of_50_probe_reports() {
    let report = sizing_report(50);
    let bytes = zerofault_protocol::encode_report(&report).len() as u64 + HEADER_BYTES;
    let week = 7 * 24 * 3600 / 15;
    eprintln!(
        "report with 50 link results: {bytes} bytes spooled; 7 days = {week} reports = {} MiB",
        bytes * week / (1 << 20)
    );
    assert!(bytes * week < DEFAULT_MAX_BYTES, "{bytes} bytes per report");
}

/// A realistic report: host sections plus `links` link results with distinct RTTs.
pub(crate) fn sizing_report(links: usize) -> zerofault_protocol::Report {
    use zerofault_protocol::*;
    let mut r = Report {
        protocol_version: 1,
        agent_id: "web-01".into(),
        hostname: "web-01.dc-north.example".into(),
        boot_id: "3f1c8e3a-7a4b-4a39-9d7e-2b0c5d7e9f10".into(),
        boot_time_unix_seconds: 1_780_000_000,
        sequence: 1_780_000_000_000_123,
        timestamp_unix_ms: 1_780_000_123_456,
        interval_ms: 15_000,
        agent_version: "0.1.0".into(),
        labels: Some(Labels {
            department: "fgw".into(),
            business_system: "oa".into(),
            datacenter: "dc-north".into(),
            site: "city-gz".into(),
        }),
        ..Default::default()
    };
    for i in 0..4u64 {
        r.filesystems.push(Filesystem {
            mount_point: format!("/data{i}"),
            device: format!("/dev/sd{i}1"),
            fs_type: "ext4".into(),
            size_bytes: 500_000_000_000 + i * 7_777_777,
            used_bytes: 123_456_789_012 + i * 3_333,
            available_bytes: 350_000_000_000 + i * 91,
            ..Default::default()
        });
        r.interfaces.push(Interface {
            name: format!("eth{i}"),
            receive_bytes: 98_765_432_109 + i * 1_234_567,
            transmit_bytes: 12_345_678_901 + i * 7_654_321,
            receive_packets: 876_543_210 + i,
            transmit_packets: 123_456_789 + i,
            oper_state: "up".into(),
            carrier: Some(true),
            speed_bits_per_second: 10_000_000_000,
            ..Default::default()
        });
    }
    for i in 0..links {
        let f = i as f64;
        r.links.push(LinkResult {
            link_id: format!("gz-link-{i:03}"),
            kind: "icmp".into(),
            target: format!("198.18.{}.{}", i / 200, i % 200 + 2),
            level: "city-county".into(),
            domain: "administrative".into(),
            window_start_unix_ms: 1_780_000_108_456 + i as i64,
            window_end_unix_ms: 1_780_000_123_456,
            probe_interval_ms: 1000,
            sent: 15,
            received: 14,
            loss_ratio: 1.0 / 15.0,
            rtt_min_seconds: 0.000_312 + f * 1.7e-6,
            rtt_avg_seconds: 0.000_421 + f * 2.3e-6,
            rtt_max_seconds: 0.001_210 + f * 3.1e-6,
            rtt_p50_seconds: 0.000_405 + f * 1.9e-6,
            rtt_p95_seconds: 0.000_998 + f * 2.9e-6,
            jitter_seconds: 0.000_051 + f * 0.7e-6,
            errors: vec![ErrorCount {
                kind: "timeout".into(),
                count: 1,
            }],
            loss_runs: vec![LossRun {
                first_lost_unix_ms: 1_780_000_115_456 + i as i64,
                last_lost_unix_ms: 1_780_000_115_456 + i as i64,
                count: 1,
                open_start: false,
                open_end: false,
            }],
            first_probe_unix_ms: 1_780_000_108_460 + i as i64,
            last_probe_unix_ms: 1_780_000_122_460 + i as i64,
            ..Default::default()
        });
    }
    r.agent_stats = Some(AgentStats {
        spool_bytes: 123_456_789,
        spool_reports: 5760,
        oldest_unsent_unix_ms: 1_779_900_000_000,
        ..Default::default()
    });
    r
}

/// Cost of one append (write + fdatasync) on this disk; `cargo test -- --ignored
/// --nocapture measure_append` prints it.
#[test]
#[ignore = "measurement, run by hand"]
fn measure_append_fsync_latency() {
    let dir = tempfile::tempdir_in(std::env::var("SPOOL_BENCH_DIR").unwrap_or("/var/tmp".into()))
        .unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let body = zerofault_protocol::encode_report(&sizing_report(50));
    let mut times = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        s.append(&body, 1).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!(
        "append+fdatasync of {} bytes, 500 runs in {}: p50 {:?} p95 {:?} max {:?}",
        body.len(),
        dir.path().display(),
        times[250],
        times[475],
        times[499]
    );
}

#[test]
fn enospc_in_the_only_segment_seals_it_so_the_oldest_can_go() {
    // As on a disk smaller than max_bytes: one segment holds everything written so far
    // when the disk is full. It must be sealed and dropped (oldest first), never kept
    // while every new report is refused.
    let dir = tempfile::tempdir().unwrap();
    let mut s = Spool::open(opts(dir.path())).unwrap();
    let ids: Vec<_> = (0..5).map(|i| s.append(&payload(i), 1).unwrap()).collect();
    assert!(ids.iter().all(|id| id.segment == ids[0].segment));
    s.inject_write_failures(1);
    let id = s
        .append(&payload(5), 1)
        .expect("stored once the old segment is gone");
    assert_ne!(id.segment, ids[0].segment, "written to a new segment");
    assert_eq!(s.dropped_total(), 5);
    assert_eq!(pending_payloads(&mut s), vec![payload(5)]);
    // The bound now follows the disk (what fitted), so segments shrink to an eighth of it
    // and the next full disk drops an eighth, not everything.
    assert!(
        s.segment_limit() < s.options.segment_bytes,
        "{}",
        s.segment_limit()
    );
    assert!(!dir.path().join(segment_name(ids[0].segment)).exists());
}

#[test]
fn a_bound_above_the_free_space_of_the_disk_sizes_segments_from_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let free = rustix::fs::statvfs(dir.path())
        .map(|st| st.f_bavail * st.f_frsize)
        .unwrap();
    let mut o = opts(dir.path());
    o.max_bytes = free.saturating_mul(4);
    o.segment_bytes = u64::MAX / 2;
    let s = Spool::open(o).unwrap();
    let room = s.disk_room.expect("the disk bounds this spool");
    // Other processes write and delete on this disk between the two reads of its free
    // space: allow them 256 MiB (the bound asked for is four times the disk).
    assert!(room <= free + (256 << 20), "{room} > {free}");
    assert_eq!(s.segment_limit(), (room / 8).max(4096));
}
