use prost::Message;

use super::*;
use crate::tests::sample_report;
use crate::{LinkResult, LossRun, Report};

#[test]
fn every_field_of_a_full_report_is_known_to_the_schema() {
    let raw = sample_report().encode_to_vec();
    let s = check_wire(&raw, &Limits::default()).unwrap();
    assert_eq!(
        (s.unknown_fields, s.unknown_bytes),
        (0, 0),
        "a field of the structs is missing from wire.rs's schema"
    );
}

/// The sample leaves a few fields at their default (not on the wire); this one sets
/// them too, so that every tag of every message is walked at least once.
#[test]
fn every_tag_is_known_and_a_missing_one_would_show() {
    let mut r = sample_report();
    r.links[0].errors = vec![crate::ErrorCount {
        kind: "timeout".into(),
        count: 3,
    }];
    r.links[0].loss_runs = vec![LossRun {
        first_lost_unix_ms: 1,
        last_lost_unix_ms: 2,
        count: 2,
        open_start: true,
        open_end: true,
    }];
    r.links[0].http_status = 200;
    r.links[0].missed_ticks = 1;
    r.memory.as_mut().unwrap().swap_used_bytes = 1;
    r.agent_stats.as_mut().unwrap().spool_dropped_total = 1;
    let raw = r.encode_to_vec();
    assert_eq!(
        check_wire(&raw, &Limits::default()).unwrap().unknown_fields,
        0
    );
    // A tag the schema does not have is seen as unknown (so the check above can fail).
    let mut extra = raw.clone();
    extra.extend_from_slice(&[0xf8, 0x06, 0x01]); // field 111, varint 1
    let s = check_wire(&extra, &Limits::default()).unwrap();
    assert_eq!((s.unknown_fields, s.unknown_bytes), (1, 3));
}

#[test]
fn decoded_bytes_count_entries_and_strings() {
    use std::mem::size_of;
    let r = Report {
        hostname: "h".repeat(100),
        links: vec![LinkResult::default(); 3],
        ..Default::default()
    };
    let s = check_wire(&r.encode_to_vec(), &Limits::default()).unwrap();
    assert_eq!(
        s.decoded_bytes,
        size_of::<Report>() + 100 + 3 * size_of::<LinkResult>()
    );
}

#[test]
fn four_million_empty_link_results_are_refused_at_the_limit() {
    // Tag 15, length 0: two bytes per entry.
    let raw: Vec<u8> = std::iter::repeat_n([0x7a, 0x00], 4_194_304)
        .flatten()
        .collect();
    let err = check_wire(&raw, &Limits::default()).unwrap_err();
    assert_eq!(
        err,
        WireError::Limit(ValidationError::TooMany {
            field: "links",
            len: 4097,
            limit: 4096
        })
    );
}

#[test]
fn entries_at_the_limit_pass_and_one_more_is_refused() {
    let limits = Limits {
        max_interfaces: 3,
        ..Limits::default()
    };
    let mut r = Report {
        interfaces: vec![Default::default(); 3],
        ..Default::default()
    };
    assert!(check_wire(&r.encode_to_vec(), &limits).is_ok());
    r.interfaces.push(Default::default());
    assert!(matches!(
        check_wire(&r.encode_to_vec(), &limits),
        Err(WireError::Limit(ValidationError::TooMany {
            field: "interfaces",
            len: 4,
            limit: 3
        }))
    ));
}

#[test]
fn loss_runs_are_capped_across_the_report_and_errors_per_link() {
    let limits = Limits {
        max_loss_runs: 5,
        max_errors_per_link: 2,
        ..Limits::default()
    };
    let link = |runs: usize, errors: usize| LinkResult {
        loss_runs: vec![LossRun::default(); runs],
        errors: vec![Default::default(); errors],
        ..Default::default()
    };
    let ok = Report {
        links: vec![link(3, 2), link(2, 2)],
        ..Default::default()
    };
    assert!(check_wire(&ok.encode_to_vec(), &limits).is_ok());
    let too_many_runs = Report {
        links: vec![link(3, 0), link(3, 0)],
        ..Default::default()
    };
    assert!(matches!(
        check_wire(&too_many_runs.encode_to_vec(), &limits),
        Err(WireError::Limit(ValidationError::TooMany {
            field: "links.loss_runs",
            ..
        }))
    ));
    let too_many_errors = Report {
        links: vec![link(0, 3)],
        ..Default::default()
    };
    assert!(matches!(
        check_wire(&too_many_errors.encode_to_vec(), &limits),
        Err(WireError::Limit(ValidationError::TooMany {
            field: "links.errors",
            ..
        }))
    ));
}

#[test]
fn a_long_string_is_refused_before_it_is_copied() {
    let r = Report {
        links: vec![LinkResult {
            target: "x".repeat(5000),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(
        check_wire(&r.encode_to_vec(), &Limits::default()),
        Err(WireError::Limit(ValidationError::TooLong {
            field: "links.target",
            len: 5000,
            limit: 4096
        }))
    );
}

#[test]
fn a_large_unknown_field_is_measured_not_refused() {
    let mut raw = sample_report().encode_to_vec();
    // Field 100, length-delimited, 7 MiB.
    let n = 7 << 20;
    raw.extend_from_slice(&[0xa2, 0x06]);
    let mut len = n as u64;
    while len >= 0x80 {
        raw.push((len as u8) | 0x80);
        len >>= 7;
    }
    raw.push(len as u8);
    raw.resize(raw.len() + n, 0);
    let s = check_wire(&raw, &Limits::default()).unwrap();
    assert_eq!(s.unknown_fields, 1);
    assert!(s.unknown_bytes > n, "{s:?}");
}

#[test]
fn malformed_bytes_are_refused_with_the_reason() {
    let limits = Limits::default();
    // Truncated length: tag 2 (agent_id) declares 5 bytes, 1 follows.
    assert!(matches!(
        check_wire(&[0x12, 0x05, b'a'], &limits),
        Err(WireError::Malformed(m)) if m.contains("agent_id")
    ));
    // A string field sent as a varint.
    assert!(matches!(
        check_wire(&[0x10, 0x01], &limits),
        Err(WireError::Malformed(m)) if m.contains("agent_id")
    ));
    // A group.
    assert!(matches!(
        check_wire(&[0xa3, 0x06], &limits),
        Err(WireError::Malformed(_))
    ));
    // Field number 0.
    assert!(matches!(
        check_wire(&[0x00, 0x01], &limits),
        Err(WireError::Malformed(_))
    ));
    // An 11-byte varint.
    assert!(matches!(
        check_wire(
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f
            ],
            &limits
        ),
        Err(WireError::Malformed(_))
    ));
}

proptest::proptest! {
    /// Whatever bytes arrive, the walk ends (no panic) and what it accepts prost decodes
    /// (prost may still refuse, e.g. invalid UTF-8, which the walk does not check).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = check_wire(&bytes, &Limits::default());
    }

    /// Every report that prost encodes within the limits passes the walk.
    #[test]
    fn encoded_reports_within_limits_pass(links in 0usize..20, runs in 0usize..4, ifs in 0usize..20) {
        let r = Report {
            links: (0..links).map(|_| LinkResult { loss_runs: vec![LossRun::default(); runs], ..Default::default() }).collect(),
            interfaces: vec![Default::default(); ifs],
            ..sample_report()
        };
        let s = check_wire(&r.encode_to_vec(), &Limits::default()).unwrap();
        proptest::prop_assert_eq!((s.unknown_fields, s.unknown_bytes), (0, 0));
    }
}
