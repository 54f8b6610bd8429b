//! Property-based fuzzing (proptest, on the stable toolchain) of every decoder and parser
//! that takes input from outside: a report body (zstd + protobuf), an import line (JSON),
//! the collector's config and inventory (YAML), an agent's certificate request (PEM), and the
//! query parameters of the HTTP API. Each target starts from valid inputs and mutates them
//! (flipped, inserted and deleted bytes, truncation), plus arbitrary bytes; the property is
//! that nothing panics and every refusal is an error value, not a crash or a hang.
//!
//! `ZEROFAULT_FUZZ_CASES` sets the cases per target: a short run in the test suite (the
//! default, 300), a long one by hand (docs/security.md, "Fuzzing"):
//! `ZEROFAULT_FUZZ_CASES=200000 cargo test --release -p zerofault-collector --test fuzz_inputs`.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunConfig, TestRunner};
use tower::ServiceExt;
use zerofault_collector::cmd::certs::ensure_ca;
use zerofault_collector::cmd::import::{ImportOptions, ReceivedTime, parse_line};
use zerofault_collector::config::Config;
use zerofault_collector::inventory::Inventory;
use zerofault_collector::live::ingest::accept::accept_body;
use zerofault_protocol::{PROTOCOL_VERSION, Report, encode_report};

fn cases() -> u32 {
    std::env::var("ZEROFAULT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// A mutation of a seed input.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for m in mutations {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Flip(i, b) if !out.is_empty() => {
                let i = i % out.len();
                out[i] ^= b | 1;
            }
            Mutation::Flip(..) => {}
            Mutation::Insert(i, bytes) => {
                let i = at(*i, out.len());
                out.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let i = at(*i, out.len());
                let end = (i + n).min(out.len());
                out.drain(i..end);
            }
            Mutation::Truncate(i) => {
                let i = at(*i, out.len());
                out.truncate(i);
            }
        }
    }
    out
}

/// Either a mutated seed or arbitrary bytes.
fn input(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    prop_oneof![
        4 => (0..n, proptest::collection::vec(mutation(), 1..6))
            .prop_map(move |(i, m)| mutate(&seeds[i], &m)),
        1 => proptest::collection::vec(any::<u8>(), 0..512),
    ]
}

/// Runs `property` on `cases()` inputs; prints the count, for the record.
fn fuzz(name: &str, seeds: Vec<Vec<u8>>, property: impl FnMut(&[u8])) {
    let property = std::cell::RefCell::new(property);
    let n = cases();
    let mut runner = TestRunner::new(RunConfig {
        cases: n,
        failure_persistence: None,
        ..RunConfig::default()
    });
    runner
        .run(&input(seeds), |bytes| {
            (property.borrow_mut())(&bytes);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!("fuzz {name}: {n} cases, no panic");
}

fn report() -> Report {
    let mut r = zerofault_tests::report::minimal_report("web-01", 7);
    r.protocol_version = PROTOCOL_VERSION;
    r
}

#[test]
fn report_bodies_never_panic() {
    let seeds = vec![
        encode_report(&report()),
        encode_report(&zerofault_tests::report::minimal_report("db-02", 1)),
        zerofault_tests::report::zstd_bomb("web-01"),
    ];
    fuzz("report body (zstd + protobuf)", seeds, |body| {
        let _ = accept_body(body, 1 << 20, "web-01");
    });
}

#[test]
fn import_lines_never_panic() {
    let line = serde_json::to_vec(&report()).unwrap();
    let opts = ImportOptions {
        received: ReceivedTime::AgentTimestamp,
        max_decompressed_bytes: 1 << 20,
        expect_agent: None,
        source: "fuzz".into(),
    };
    fuzz("import line (JSON)", vec![line, b"{}".to_vec()], |bytes| {
        let _ = parse_line(bytes, &opts, 1_767_225_600_000);
    });
}

fn workspace_file(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)).unwrap()
}

#[test]
fn configs_and_inventories_never_panic() {
    let seeds = vec![workspace_file("configs/collector.yaml")];
    fuzz("collector config (YAML)", seeds, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        if let Ok(c) = Config::parse(&text, Path::new("/fuzz/collector.yaml")) {
            let _ = c.validate_structure();
        }
    });
    let seeds = vec![workspace_file("configs/inventory.yaml")];
    fuzz("inventory (YAML)", seeds, |bytes| {
        let text = String::from_utf8_lossy(bytes);
        let _ = Inventory::parse(&text, Path::new("/fuzz/inventory.yaml"));
    });
}

#[test]
fn certificate_requests_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ensure_ca(dir.path()).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "web-01");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let validity = std::time::Duration::from_secs(3600);
    assert!(ca.sign_request("web-01", &csr, validity).is_ok());
    let seed = csr.clone().into_bytes();
    let mut signed_changed = 0u32;
    fuzz("certificate request (PEM)", vec![seed], |bytes| {
        let text = String::from_utf8_lossy(bytes);
        if ca.sign_request("web-01", &text, validity).is_ok() && text != csr {
            signed_changed += 1;
        }
    });
    // A changed request may still be the same DER (PEM whitespace, base64 padding): then it
    // is the same request. Nothing else may be signed; say how often it happened.
    eprintln!("changed PEM texts that still decode to a valid request: {signed_changed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_query_parameters_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn zerofault_collector::store::Store> = Arc::new(
        zerofault_collector::store::SqliteStore::open(&dir.path().join("db"))
            .await
            .unwrap(),
    );
    let app = zerofault_collector::http::sla_report::router(
        zerofault_collector::http::sla_report::SlaReportState::new(
            store,
            Arc::new(Inventory::default()),
            Default::default(),
        ),
    );
    let path = zerofault_collector::http::sla_report::REPORT_PATH;
    let seeds = vec![
        b"month=2026-01&format=csv&lang=en".to_vec(),
        b"month=2026-13&format=pdf".to_vec(),
        b"format=json&lang=zh-CN&month=1999-01".to_vec(),
    ];
    let n = cases().min(2000);
    let mut runner = TestRunner::new(RunConfig {
        cases: n,
        failure_persistence: None,
        ..RunConfig::default()
    });
    let queries = std::cell::RefCell::new(Vec::new());
    runner
        .run(&input(seeds), |bytes| {
            queries.borrow_mut().push(bytes);
            Ok(())
        })
        .unwrap();
    for q in queries.into_inner() {
        // Bytes a URI may carry: others are refused before the router.
        let q: String = q
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() && *b != b'#' {
                    (*b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let Ok(request) = Request::get(format!("{path}?{q}")).body(Body::empty()) else {
            continue;
        };
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(
            response.status().as_u16() < 500 || response.status().as_u16() == 503,
            "?{q}: {}",
            response.status()
        );
    }
    eprintln!("fuzz API query parameters: {n} cases, no panic, no 500");
}
