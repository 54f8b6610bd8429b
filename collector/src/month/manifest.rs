//! Signed SHA-256 manifests of a closed month's exported files, and their verification
//! (`zerofault-collector verify`).
//!
//! In the export directory, [`write_manifest`] writes three files:
//!
//! * `MANIFEST.sha256`: one line `HEX-SHA256  relative/path` per file, sorted by path, in
//!   the format of `sha256sum`, so `sha256sum -c MANIFEST.sha256` checks the files too;
//! * `MANIFEST.sha256.sig`: the signature of the exact bytes of `MANIFEST.sha256` with the
//!   collector's private key (raw: DER ECDSA with SHA-256 for the P-256 keys that
//!   `zerofault-collector certs` makes, also P-384 with SHA-384, or Ed25519), so
//!   `openssl dgst -sha256 -verify PUB.pem -signature MANIFEST.sha256.sig MANIFEST.sha256`
//!   checks it as well;
//! * `MANIFEST.cert.pem`: the signer's certificate (the collector's `tls.cert`).
//!
//! The enclosed certificate only says who claims to have signed: anyone can make a key and a
//! certificate. Verification is meaningful with `--cert` (the collector's certificate, known
//! by other means) or `--ca` (the CA that issued it). Certificate validity dates are not
//! checked: a month closed years ago stays verifiable after the certificate expired.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use ring::signature::{self, KeyPair as _};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_SIG_ED25519,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

/// File name of the manifest.
pub const MANIFEST_NAME: &str = "MANIFEST.sha256";
/// File name of the detached signature of the manifest.
pub const SIGNATURE_NAME: &str = "MANIFEST.sha256.sig";
/// File name of the copy of the signer's certificate.
pub const CERT_NAME: &str = "MANIFEST.cert.pem";

/// Why a manifest could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file to list is not inside the manifest's directory.
    #[error("{path} is not inside {dir}; a manifest lists files of its own directory")]
    OutsideDir {
        /// The file.
        path: PathBuf,
        /// The manifest's directory.
        dir: PathBuf,
    },
    /// A path cannot be written as one manifest line (not UTF-8, a line break, a backslash,
    /// or a `..`).
    #[error(
        "{path:?} cannot be listed in a manifest (use plain UTF-8 names without \\, line breaks or ..)"
    )]
    BadName {
        /// The path.
        path: PathBuf,
    },
    /// A certificate is missing, not PEM or not X.509.
    #[error("certificate {what}: {message}")]
    Cert {
        /// Which certificate (a file name or "signer").
        what: String,
        /// What is wrong.
        message: String,
    },
    /// The private key cannot be used for signing.
    #[error(
        "private key: {0} (supported: PKCS#8 `BEGIN PRIVATE KEY` with ECDSA P-256, P-384 or Ed25519, as `zerofault-collector certs` makes)"
    )]
    Key(String),
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// A manifest line is not `HEX-SHA256  relative/path`.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// Line number (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ManifestError {
    let path = path.to_owned();
    move |source| ManifestError::Io {
        action,
        path,
        source,
    }
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
    /// Path relative to the manifest's directory, `/`-separated.
    pub path: String,
}

/// The manifest text of `entries`, sorted by path (pure).
pub fn render(entries: &[Entry]) -> String {
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    sorted
        .iter()
        .map(|e| format!("{}  {}\n", hex::encode(e.sha256), e.path))
        .collect()
}

/// Parses manifest text (pure). `path` is only for messages. Refuses absolute paths and
/// `..`, so that a manifest cannot make `verify` read files outside its directory.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Entry>, ManifestError> {
    let err = |line: usize, message: String| ManifestError::Parse {
        path: path.to_owned(),
        line,
        message,
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.is_empty() {
            continue;
        }
        // sha256sum writes two spaces (text mode) or a space and `*` (binary mode).
        let (hash, name) = match (line.get(..64), line.get(64..66), line.get(66..)) {
            (Some(h), Some("  " | " *"), Some(name)) => (h, name),
            _ => {
                return Err(err(
                    n,
                    "expected 64 hex digits, two spaces and a path".into(),
                ));
            }
        };
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(hash, &mut sha256)
            .map_err(|e| err(n, format!("bad SHA-256 {hash:?}: {e}")))?;
        if name.is_empty()
            || name.starts_with('/')
            || name.contains('\\')
            || name.split('/').any(|c| c == ".." || c.is_empty())
        {
            return Err(err(
                n,
                format!("{name:?} is not a plain relative path inside the manifest's directory"),
            ));
        }
        out.push(Entry {
            sha256,
            path: name.to_owned(),
        });
    }
    Ok(out)
}

/// SHA-256 of a file, read in chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        ctx.update(&buf[..n]);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    Ok(out)
}

/// Signature schemes a manifest can be signed with, chosen by the certificate's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    Ed25519,
}

fn scheme(spki: &SubjectPublicKeyInfo<'_>) -> Result<Scheme, String> {
    let alg = &spki.algorithm;
    if alg.algorithm == OID_SIG_ED25519 {
        return Ok(Scheme::Ed25519);
    }
    if alg.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = alg.parameters.as_ref().and_then(|p| p.as_oid().ok());
        if curve == Some(OID_EC_P256) {
            return Ok(Scheme::EcdsaP256Sha256);
        }
        if curve == Some(OID_NIST_EC_P384) {
            return Ok(Scheme::EcdsaP384Sha384);
        }
    }
    Err(format!(
        "public key algorithm {} is not supported (ECDSA P-256, P-384 or Ed25519)",
        alg.algorithm
    ))
}

/// DER of the first certificate in `pem`.
fn cert_der(pem: &[u8], what: &str) -> Result<CertificateDer<'static>, ManifestError> {
    CertificateDer::from_pem_slice(pem).map_err(|e| ManifestError::Cert {
        what: what.into(),
        message: format!("no PEM certificate found ({e})"),
    })
}

fn parse_cert<'a>(der: &'a [u8], what: &str) -> Result<X509Certificate<'a>, ManifestError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| ManifestError::Cert {
            what: what.into(),
            message: format!("not an X.509 certificate: {e}"),
        })
}

/// Signs `message` with the PKCS#8 private key in `key_pem`, for the certificate in
/// `cert_pem`, and checks the signature against the certificate so that a key that does not
/// belong to it is refused here rather than at verification.
pub fn sign(message: &[u8], key_pem: &str, cert_pem: &str) -> Result<Vec<u8>, ManifestError> {
    let key_der = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| ManifestError::Key(format!("no PEM private key found ({e})")))?;
    let rustls_pki_types::PrivateKeyDer::Pkcs8(pkcs8) = key_der else {
        return Err(ManifestError::Key(
            "not PKCS#8; convert it with `openssl pkcs8 -topk8 -nocrypt`".into(),
        ));
    };
    let pkcs8 = pkcs8.secret_pkcs8_der();
    let der = cert_der(cert_pem.as_bytes(), "signer")?;
    let cert = parse_cert(&der, "signer")?;
    let scheme = scheme(cert.public_key()).map_err(ManifestError::Key)?;
    let rng = ring::rand::SystemRandom::new();
    let rejected = |e: ring::error::KeyRejected| ManifestError::Key(e.to_string());
    let (public, signature) = match scheme {
        Scheme::EcdsaP256Sha256 | Scheme::EcdsaP384Sha384 => {
            let alg = if scheme == Scheme::EcdsaP256Sha256 {
                &signature::ECDSA_P256_SHA256_ASN1_SIGNING
            } else {
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING
            };
            let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng).map_err(rejected)?;
            let sig = pair
                .sign(&rng, message)
                .map_err(|_| ManifestError::Key("signing failed".into()))?;
            (pair.public_key().as_ref().to_vec(), sig.as_ref().to_vec())
        }
        Scheme::Ed25519 => {
            let pair =
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(rejected)?;
            (
                pair.public_key().as_ref().to_vec(),
                pair.sign(message).as_ref().to_vec(),
            )
        }
    };
    if public != cert.public_key().subject_public_key.data.as_ref() {
        return Err(ManifestError::KeyMismatch);
    }
    Ok(signature)
}

/// Checks `signature` over `message` with the public key of the certificate `cert_der`.
pub fn verify_signature(message: &[u8], signature: &[u8], cert_der: &[u8]) -> Result<(), String> {
    let cert = parse_cert(cert_der, "signer").map_err(|e| e.to_string())?;
    let spki = cert.public_key();
    let alg: &dyn signature::VerificationAlgorithm = match scheme(spki)? {
        Scheme::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
        Scheme::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
        Scheme::Ed25519 => &signature::ED25519,
    };
    signature::UnparsedPublicKey::new(alg, spki.subject_public_key.data.as_ref())
        .verify(message, signature)
        .map_err(|_| {
            format!(
                "the manifest does not match its signature under the certificate of {}",
                cert.subject()
            )
        })
}

/// The `/`-separated path of `file` relative to `dir` (a relative `file` is taken as
/// relative to `dir` already).
fn relative_name(file: &Path, dir: &Path) -> Result<String, ManifestError> {
    let rel = if file.is_absolute() {
        file.strip_prefix(dir)
            .map_err(|_| ManifestError::OutsideDir {
                path: file.to_owned(),
                dir: dir.to_owned(),
            })?
    } else {
        file
    };
    let bad = || ManifestError::BadName {
        path: file.to_owned(),
    };
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => {
                let s = p.to_str().ok_or_else(bad)?;
                if s.contains(['\n', '\r', '\\']) {
                    return Err(bad());
                }
                parts.push(s);
            }
            Component::CurDir => {}
            _ => return Err(bad()),
        }
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(parts.join("/"))
}

/// Writes the file through a temporary name and a rename, so that a reader never sees half
/// a manifest.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), ManifestError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).map_err(io_err("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("rename into place", path))
}

/// Writes `MANIFEST.sha256` listing `files` (inside `dir`, absolute or relative to it), its
/// signature made with `key_pem` and a copy of `cert_pem` into `dir`; returns the manifest's
/// path. The manifest's own three files are skipped when listed, so a directory can be
/// signed again after its files changed.
pub fn write_manifest(
    files: &[PathBuf],
    dir: &Path,
    key_pem: &str,
    cert_pem: &str,
) -> Result<PathBuf, ManifestError> {
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let name = relative_name(file, dir)?;
        if [MANIFEST_NAME, SIGNATURE_NAME, CERT_NAME].contains(&name.as_str()) {
            continue;
        }
        let full = dir.join(&name);
        let sha256 = sha256_file(&full).map_err(io_err("read", &full))?;
        entries.push(Entry { sha256, path: name });
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    entries.dedup_by(|a, b| a.path == b.path);
    let text = render(&entries);
    let signature = sign(text.as_bytes(), key_pem, cert_pem)?;
    write_atomic(&dir.join(CERT_NAME), cert_pem.as_bytes())?;
    write_atomic(&dir.join(SIGNATURE_NAME), &signature)?;
    let manifest = dir.join(MANIFEST_NAME);
    write_atomic(&manifest, text.as_bytes())?;
    Ok(manifest)
}

/// State of one listed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// The hash matches.
    Ok,
    /// The file's hash differs from the manifest's.
    Mismatch {
        /// Hash in the manifest (hex).
        expected: String,
        /// Hash of the file (hex).
        actual: String,
    },
    /// The file cannot be read (missing, permissions ...).
    Unreadable(String),
}

/// Outcome of [`verify_manifest`]; every check is run even after one failed, so that the
/// operator sees everything that is wrong at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Subject of the certificate the signature was checked with, when it could be read.
    pub signer: Option<String>,
    /// Where that certificate came from.
    pub cert_source: PathBuf,
    /// `Ok` when the signature is valid under the certificate, else why not.
    pub signature: Result<(), String>,
    /// With `--ca`: whether the certificate was issued by the CA.
    pub chain: Option<Result<String, String>>,
    /// The manifest could not be parsed (its files are then not checked).
    pub parse_error: Option<String>,
    /// Every listed file, in manifest order.
    pub files: Vec<(String, FileStatus)>,
}

impl Verification {
    /// Every check passed.
    pub fn ok(&self) -> bool {
        self.signature.is_ok()
            && !matches!(self.chain, Some(Err(_)))
            && self.parse_error.is_none()
            && self.files.iter().all(|(_, s)| *s == FileStatus::Ok)
    }
}

/// Checks the manifest at `manifest`: its signature with the certificate `cert` (default:
/// `MANIFEST.cert.pem` next to it), with `ca` that this certificate was issued by that CA, and
/// every listed file's hash. `Err` only when `cert` or `ca`, given by the caller, cannot be
/// read or the manifest itself cannot be read; every failed check is in the result.
pub fn verify_manifest(
    manifest: &Path,
    cert: Option<&Path>,
    ca: Option<&Path>,
) -> Result<Verification, ManifestError> {
    let dir = manifest.parent().unwrap_or(Path::new(""));
    let text = std::fs::read(manifest).map_err(io_err("read", manifest))?;
    let ca_der = match ca {
        Some(p) => {
            let pem = std::fs::read(p).map_err(io_err("read", p))?;
            Some(cert_der(&pem, &p.display().to_string())?)
        }
        None => None,
    };
    let cert_source = cert.map_or_else(|| dir.join(CERT_NAME), Path::to_owned);
    let cert_pem = match std::fs::read(&cert_source) {
        Ok(pem) => Ok(pem),
        Err(e) if cert.is_some() => return Err(io_err("read", &cert_source)(e)),
        Err(e) => Err(format!("cannot read {}: {e}", cert_source.display())),
    };
    let signer_der = cert_pem.and_then(|pem| {
        cert_der(&pem, &cert_source.display().to_string()).map_err(|e| e.to_string())
    });

    let signer = signer_der.as_ref().ok().and_then(|der| {
        parse_cert(der, "signer")
            .ok()
            .map(|c| c.subject().to_string())
    });
    let sig_path = dir.join(SIGNATURE_NAME);
    let signature = signer_der.clone().and_then(|der| {
        let sig = std::fs::read(&sig_path)
            .map_err(|e| format!("cannot read {}: {e}", sig_path.display()))?;
        verify_signature(&text, &sig, &der)
    });
    let chain = ca_der.map(|ca_der| {
        let der = signer_der.clone()?;
        let cert = parse_cert(&der, "signer").map_err(|e| e.to_string())?;
        let ca = parse_cert(&ca_der, "CA").map_err(|e| e.to_string())?;
        if cert.issuer().as_raw() != ca.subject().as_raw() {
            return Err(format!(
                "the signer certificate was issued by {}, not by the CA {}",
                cert.issuer(),
                ca.subject()
            ));
        }
        cert.verify_signature(Some(ca.public_key()))
            .map(|()| ca.subject().to_string())
            .map_err(|e| {
                format!(
                    "the signer certificate's signature does not verify with the CA {}: {e}",
                    ca.subject()
                )
            })
    });

    let (entries, parse_error) = match std::str::from_utf8(&text)
        .map_err(|e| format!("{}: not UTF-8: {e}", manifest.display()))
        .and_then(|t| parse(t, manifest).map_err(|e| e.to_string()))
    {
        Ok(entries) => (entries, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let files = entries
        .into_iter()
        .map(|e| {
            let full = dir.join(&e.path);
            let status = match sha256_file(&full) {
                Ok(h) if h == e.sha256 => FileStatus::Ok,
                Ok(h) => FileStatus::Mismatch {
                    expected: hex::encode(e.sha256),
                    actual: hex::encode(h),
                },
                Err(err) => FileStatus::Unreadable(err.to_string()),
            };
            (e.path, status)
        })
        .collect();
    Ok(Verification {
        signer,
        cert_source,
        signature,
        chain,
        parse_error,
        files,
    })
}

/// The text `verify` prints for `v` (pure).
pub fn report(v: &Verification, manifest: &Path) -> String {
    let mut out = String::new();
    let signer = v.signer.as_deref().unwrap_or("?");
    match &v.signature {
        Ok(()) => out.push_str(&format!(
            "OK      signature of {} (signer {signer}, certificate {})\n",
            manifest.display(),
            v.cert_source.display()
        )),
        Err(e) => out.push_str(&format!(
            "FAILED  signature of {}: {e}\n",
            manifest.display()
        )),
    }
    match &v.chain {
        Some(Ok(ca)) => out.push_str(&format!("OK      signer certificate issued by {ca}\n")),
        Some(Err(e)) => out.push_str(&format!("FAILED  signer certificate: {e}\n")),
        None => {}
    }
    if let Some(e) = &v.parse_error {
        out.push_str(&format!("FAILED  {e}\n"));
    }
    let mut failed = 0;
    for (path, status) in &v.files {
        match status {
            FileStatus::Ok => out.push_str(&format!("OK      {path}\n")),
            FileStatus::Mismatch { expected, actual } => {
                failed += 1;
                out.push_str(&format!(
                    "FAILED  {path}: SHA-256 is {actual}, the manifest says {expected}\n"
                ));
            }
            FileStatus::Unreadable(e) => {
                failed += 1;
                out.push_str(&format!("FAILED  {path}: {e}\n"));
            }
        }
    }
    out.push_str(&format!(
        "{}: {} of {} files OK{}\n",
        if v.ok() { "verified" } else { "NOT verified" },
        v.files.len() - failed,
        v.files.len(),
        if v.signature.is_ok() {
            ""
        } else {
            ", signature FAILED"
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(byte: u8, path: &str) -> Entry {
        Entry {
            sha256: [byte; 32],
            path: path.into(),
        }
    }

    #[test]
    fn render_sorts_and_parse_reads_it_back() {
        let entries = vec![entry(1, "b.csv"), entry(2, "a/x.json")];
        let text = render(&entries);
        assert_eq!(
            text,
            format!(
                "{}  a/x.json\n{}  b.csv\n",
                "02".repeat(32),
                "01".repeat(32)
            )
        );
        let back = parse(&text, Path::new("M")).unwrap();
        assert_eq!(back, vec![entry(2, "a/x.json"), entry(1, "b.csv")]);
    }

    #[test]
    fn parse_accepts_sha256sum_binary_mode() {
        let text = format!("{} *report.xlsx\n", "ab".repeat(32));
        assert_eq!(
            parse(&text, Path::new("M")).unwrap(),
            vec![entry(0xab, "report.xlsx")]
        );
    }

    #[test]
    fn parse_refuses_paths_outside_the_directory_and_bad_lines() {
        let h = "00".repeat(32);
        for line in [
            format!("{h}  ../etc/passwd"),
            format!("{h}  /etc/passwd"),
            format!("{h}  a//b"),
            format!("{h} one-space"),
            format!("{}  short", "00".repeat(31)),
            format!("{}  x", "zz".repeat(32)),
        ] {
            let e = parse(&format!("{h}  ok\n{line}\n"), Path::new("M")).unwrap_err();
            assert!(e.to_string().starts_with("M:2: "), "{line}: {e}");
        }
    }

    #[test]
    fn relative_names_stay_inside_the_directory() {
        let dir = Path::new("/exp/2026-01");
        assert_eq!(
            relative_name(Path::new("/exp/2026-01/csv/hosts.csv"), dir).unwrap(),
            "csv/hosts.csv"
        );
        assert_eq!(
            relative_name(Path::new("./report.html"), dir).unwrap(),
            "report.html"
        );
        assert!(matches!(
            relative_name(Path::new("/exp/2026-02/a.csv"), dir),
            Err(ManifestError::OutsideDir { .. })
        ));
        assert!(matches!(
            relative_name(Path::new("../a.csv"), dir),
            Err(ManifestError::BadName { .. })
        ));
        assert!(matches!(
            relative_name(Path::new("a\nb.csv"), dir),
            Err(ManifestError::BadName { .. })
        ));
    }
}
