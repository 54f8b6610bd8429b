//! The collector config of the ingest tests. Their certificates, clients and reports come
//! from the test kit (`zerofault_tests::pki`, `zerofault_tests::report`).

use std::path::Path;

use zerofault_collector::config::Config;
use zerofault_tests::pki::Pki;

/// Writes a collector config into `dir` pointing at `pki`, listening on ephemeral
/// loopback ports, and loads it through the real loader and validator.
pub fn config(dir: &Path, pki: &Pki, max_body_bytes: u64) -> Config {
    let yaml = format!(
        "listen:\n  ingest: 127.0.0.1:0\n  http: 127.0.0.1:0\n\
         tls:\n  ca: {ca}\n  cert: {cert}\n  key: {key}\n\
         storage:\n  sqlite:\n    path: data/zerofault.db\n\
         limits:\n  max_body_bytes: {max_body_bytes}\n  max_decompressed_bytes: 1048576\n",
        ca = pki.path("ca.pem").display(),
        cert = pki.path("collector.pem").display(),
        key = pki.path("collector.key").display(),
    );
    let path = dir.join("collector.yaml");
    std::fs::write(&path, yaml).unwrap();
    let config = Config::load(&path).unwrap();
    config.validate().unwrap();
    config
}
