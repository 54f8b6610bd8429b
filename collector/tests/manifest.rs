//! Signed manifests: written with the keys `zerofault-collector certs` makes, verified by the
//! library and by `zerofault-collector verify`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use zerofault_collector::cmd::certs;
use zerofault_collector::month::manifest::{
    CERT_NAME, FileStatus, MANIFEST_NAME, ManifestError, SIGNATURE_NAME, sha256_file,
    verify_manifest, write_manifest,
};

/// A PKI made by the collector's own `certs` code: `DIR/ca.pem`, `DIR/collector.{pem,key}`.
fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let issued = certs::issue_collector(dir, &["collector.test".into()]).unwrap();
    (dir.join("ca.pem"), issued.cert, issued.key)
}

struct Fixture {
    _tmp: tempfile::TempDir,
    export: PathBuf,
    ca: PathBuf,
    cert: PathBuf,
    other: PathBuf,
}

/// An export directory with three files, signed; and a second, unrelated PKI in `other`.
fn signed_export() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = pki(&tmp.path().join("pki"));
    let other = tmp.path().join("other");
    pki(&other);
    let export = tmp.path().join("2026-01");
    std::fs::create_dir_all(export.join("csv")).unwrap();
    std::fs::write(export.join("report.json"), "{\"month\":\"2026-01\"}\n").unwrap();
    std::fs::write(
        export.join("csv/hosts.csv"),
        "host,availability\nweb-01,0.9995\n",
    )
    .unwrap();
    std::fs::write(export.join("report.html"), "<html></html>\n").unwrap();
    let files = vec![
        export.join("report.json"),
        PathBuf::from("csv/hosts.csv"),
        export.join("report.html"),
    ];
    let manifest = write_manifest(
        &files,
        &export,
        &std::fs::read_to_string(&key).unwrap(),
        &std::fs::read_to_string(&cert).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest, export.join(MANIFEST_NAME));
    Fixture {
        _tmp: tmp,
        export,
        ca,
        cert,
        other,
    }
}

fn verify_cmd(args: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zerofault-collector"));
    cmd.arg("verify");
    for a in args {
        cmd.arg(a);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn sha256_of_a_known_text() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("abc");
    std::fs::write(&f, "abc").unwrap();
    // FIPS 180-2, appendix B.1.
    assert_eq!(
        hex::encode(sha256_file(&f).unwrap()),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn a_signed_export_verifies() {
    let f = signed_export();
    let text = std::fs::read_to_string(f.export.join(MANIFEST_NAME)).unwrap();
    let names: Vec<&str> = text.lines().map(|l| &l[66..]).collect();
    assert_eq!(names, ["csv/hosts.csv", "report.html", "report.json"]);
    assert!(f.export.join(SIGNATURE_NAME).exists());
    assert_eq!(
        std::fs::read(f.export.join(CERT_NAME)).unwrap(),
        std::fs::read(&f.cert).unwrap()
    );

    let v = verify_manifest(&f.export.join(MANIFEST_NAME), Some(&f.cert), Some(&f.ca)).unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.files.len(), 3);
    assert!(v.signer.unwrap().contains("collector"));

    let out = verify_cmd(&[
        &f.export.join(MANIFEST_NAME),
        Path::new("--cert"),
        &f.cert,
        Path::new("--ca"),
        &f.ca,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("OK      csv/hosts.csv"));
    assert!(stdout(&out).contains("verified: 3 of 3 files OK"));
}

#[test]
fn a_changed_byte_fails_naming_the_file() {
    let f = signed_export();
    let target = f.export.join("csv/hosts.csv");
    let mut bytes = std::fs::read(&target).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&target, bytes).unwrap();

    let v = verify_manifest(&f.export.join(MANIFEST_NAME), Some(&f.cert), None).unwrap();
    assert!(!v.ok());
    assert!(v.signature.is_ok(), "the manifest itself is intact");
    let failed: Vec<&str> = v
        .files
        .iter()
        .filter(|(_, s)| *s != FileStatus::Ok)
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(failed, ["csv/hosts.csv"]);

    let out = verify_cmd(&[&f.export.join(MANIFEST_NAME), Path::new("--cert"), &f.cert]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAILED  csv/hosts.csv: SHA-256 is"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("OK      report.json"));
}

#[test]
fn a_missing_file_fails_naming_it() {
    let f = signed_export();
    std::fs::remove_file(f.export.join("report.html")).unwrap();
    let out = verify_cmd(&[&f.export.join(MANIFEST_NAME), Path::new("--cert"), &f.cert]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAILED  report.html: "),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_tampered_manifest_fails_the_signature() {
    let f = signed_export();
    // Change a file and "fix" its line in the manifest: every hash matches, the signature
    // does not.
    let target = f.export.join("report.json");
    std::fs::write(&target, "{\"month\":\"2026-02\"}\n").unwrap();
    let new_hash = hex::encode(sha256_file(&target).unwrap());
    let path = f.export.join(MANIFEST_NAME);
    let text: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(|l| {
            if l.ends_with("  report.json") {
                format!("{new_hash}  report.json\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&path, text).unwrap();

    let v = verify_manifest(&path, Some(&f.cert), None).unwrap();
    assert!(v.files.iter().all(|(_, s)| *s == FileStatus::Ok));
    assert!(v.signature.is_err());
    assert!(!v.ok());
    let out = verify_cmd(&[&path, Path::new("--cert"), &f.cert]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAILED  signature of"),
        "{}",
        stdout(&out)
    );

    // A removed signature fails the same way.
    std::fs::remove_file(f.export.join(SIGNATURE_NAME)).unwrap();
    let v = verify_manifest(&path, Some(&f.cert), None).unwrap();
    assert!(v.signature.unwrap_err().contains(SIGNATURE_NAME));
}

#[test]
fn another_certificate_or_ca_fails() {
    let f = signed_export();
    let path = f.export.join(MANIFEST_NAME);
    let v = verify_manifest(&path, Some(&f.other.join("collector.pem")), None).unwrap();
    assert!(v.signature.is_err(), "{v:?}");
    assert!(!v.ok());

    // The enclosed certificate is the real signer's, but not issued by this CA.
    let v = verify_manifest(&path, None, Some(&f.other.join("ca.pem"))).unwrap();
    assert!(v.signature.is_ok());
    assert!(matches!(v.chain, Some(Err(_))), "{v:?}");
    assert!(!v.ok());
    let out = verify_cmd(&[&path, Path::new("--ca"), &f.other.join("ca.pem")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAILED  signer certificate"),
        "{}",
        stdout(&out)
    );

    // A self-made key and certificate claiming the collector's name: signature valid under
    // its own certificate, refused by the real CA.
    let forged = signed_export();
    let v = verify_manifest(&forged.export.join(MANIFEST_NAME), None, Some(&f.ca)).unwrap();
    assert!(v.signature.is_ok());
    assert!(matches!(v.chain, Some(Err(_))));
}

#[test]
fn unreadable_inputs_exit_2() {
    let f = signed_export();
    let out = verify_cmd(&[&f.export.join("NOPE.sha256")]);
    assert_eq!(out.status.code(), Some(2));
    let out = verify_cmd(&[
        &f.export.join(MANIFEST_NAME),
        Path::new("--cert"),
        &f.export.join("nope.pem"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.pem"));
}

#[test]
fn a_key_of_another_certificate_is_refused_when_signing() {
    let f = signed_export();
    let key = std::fs::read_to_string(f.other.join("collector.key")).unwrap();
    let cert = std::fs::read_to_string(&f.cert).unwrap();
    let e = write_manifest(&[PathBuf::from("report.json")], &f.export, &key, &cert).unwrap_err();
    assert!(matches!(e, ManifestError::KeyMismatch), "{e}");
}

#[test]
fn files_outside_the_directory_are_refused() {
    let f = signed_export();
    let key = std::fs::read_to_string(f.cert.with_extension("key")).unwrap();
    let cert = std::fs::read_to_string(&f.cert).unwrap();
    let e = write_manifest(std::slice::from_ref(&f.ca), &f.export, &key, &cert).unwrap_err();
    assert!(matches!(e, ManifestError::OutsideDir { .. }), "{e}");
}
