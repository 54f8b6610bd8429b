//! The CA of `zerofault-collector certs` (also used by `demo`) and what it issues: the
//! collector's server certificate and agent client certificates.
//!
//! Government networks are closed and many sites have no PKI team at hand, so the collector
//! ships its own small CA tooling (no openssl needed). Layout, as `docs/architecture.md`
//! fixes it:
//!
//! ```text
//! DIR/ca.pem  DIR/ca.key                 CA (ECDSA P-256, 10 years, path length 0)
//! DIR/collector.pem  DIR/collector.key   server certificate, EKU serverAuth
//! DIR/agents/ID.pem  DIR/agents/ID.key   client certificate, CN = ID, EKU clientAuth
//! ```
//!
//! Rules: an existing CA is reused (agents can be added later without re-keying the
//! fleet) and is never replaced by this tool; an existing certificate/key pair is kept
//! unless `--force`; private keys are created with mode 0600, so they are never readable
//! by others, not even for the moment between creating and chmod-ing a file.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType,
};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use zerofault_protocol::is_valid_agent_id;

/// Default validity of collector and agent certificates: 825 days, the longest validity
/// common TLS clients accept for a leaf certificate.
pub const DEFAULT_LEAF_DAYS: u32 = 825;
/// Validity of a new CA: 10 years, so the CA outlives several generations of leaves.
pub const CA_DAYS: u32 = 3650;
/// Backdating of `notBefore`, so that a host whose clock is a little behind accepts a
/// certificate made just now.
const BACKDATE: Duration = Duration::from_secs(3600);
const KEY_MODE: u32 = 0o600;
const CERT_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, e.g. `write`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// rcgen refused the parameters or failed to sign or parse.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The agent id cannot be a certificate CN / file name / label value.
    #[error(
        "invalid agent id {0:?}: use 1 to 128 ASCII letters, digits, '.', '_' or '-' (the agent's `agent.id`)"
    )]
    InvalidAgentId(String),
    /// A collector name is neither an IP address nor a DNS name.
    #[error(
        "invalid collector name {0:?}: give a DNS name (e.g. collector.example.gov) or an IP address"
    )]
    InvalidCollectorName(String),
    /// No collector name at all.
    #[error("no collector name given for the server certificate")]
    NoCollectorNames,
    /// Only one file of a certificate/key pair exists, so it is unclear what to keep.
    #[error(
        "{} exists but {} does not; remove the leftover file or pass --force to issue a new pair",
        present.display(),
        missing.display()
    )]
    IncompletePair {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A certificate request that cannot be signed: not a request, or its signature does
    /// not verify (it was not made with the key it carries).
    #[error("the certificate request cannot be used: {0}")]
    BadRequest(String),
    /// The CA files exist but cannot be used to sign.
    #[error("cannot use the CA in {}: {reason}", dir.display())]
    BadCa {
        /// The certificate directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl CertsError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| CertsError::Io {
            action,
            path,
            source,
        }
    }
}

/// `id` if it can be an agent certificate's CN, file name and label value.
pub fn parse_agent_id(s: &str) -> Result<String, CertsError> {
    if is_valid_agent_id(s) {
        Ok(s.to_owned())
    } else {
        Err(CertsError::InvalidAgentId(s.to_owned()))
    }
}

/// The file names of a certificate directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The layout of `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `DIR/ca.pem`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// `DIR/ca.key`.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// `DIR/collector.pem`.
    pub fn collector_cert(&self) -> PathBuf {
        self.dir.join("collector.pem")
    }
    /// `DIR/collector.key`.
    pub fn collector_key(&self) -> PathBuf {
        self.dir.join("collector.key")
    }
    /// `DIR/agents/ID.pem`.
    pub fn agent_cert(&self, id: &str) -> PathBuf {
        self.dir.join("agents").join(format!("{id}.pem"))
    }
    /// `DIR/agents/ID.key`.
    pub fn agent_key(&self, id: &str) -> PathBuf {
        self.dir.join("agents").join(format!("{id}.key"))
    }
}

/// Whether a certificate/key pair was made now or already existed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Newly written.
    Written,
    /// Already present and left alone.
    Kept,
}

/// A certificate/key pair on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key (PKCS#8 PEM, mode 0600).
    pub key: PathBuf,
    /// Written now or kept.
    pub outcome: Outcome,
}

/// Options for issuing collector and agent certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssueOptions {
    /// Validity in days.
    pub days: u32,
    /// Replace an existing pair.
    pub force: bool,
}

impl Default for IssueOptions {
    fn default() -> Self {
        Self {
            days: DEFAULT_LEAF_DAYS,
            force: false,
        }
    }
}

/// A certificate signed for a request ([`Ca::sign_request`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its serial number, hex.
    pub serial: String,
    /// End of its validity, seconds since the Unix epoch.
    pub not_after_unix: i64,
}

/// A CA ready to sign: loaded from, or newly written to, a certificate directory.
#[derive(Debug)]
pub struct Ca {
    layout: Layout,
    issuer: Issuer<'static, KeyPair>,
    /// Whether the CA was created now or reused.
    pub outcome: Outcome,
}

/// Loads the CA in `dir`, or creates one if neither `ca.pem` nor `ca.key` exists.
pub fn ensure_ca(dir: &Path) -> Result<Ca, CertsError> {
    let layout = Layout::new(dir);
    let (cert_path, key_path) = (layout.ca_cert(), layout.ca_key());
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => load_ca(layout),
        (false, false) => create_ca(layout),
        // Never make a new CA next to half of an old one: the operator must decide.
        (cert, _) => {
            let (present, missing) = if cert {
                (cert_path, key_path)
            } else {
                (key_path, cert_path)
            };
            Err(CertsError::BadCa {
                dir: dir.to_owned(),
                reason: format!(
                    "{} exists but {} does not; restore it, or remove both to make a new CA \
                     (every agent certificate must then be issued again)",
                    present.display(),
                    missing.display()
                ),
            })
        }
    }
}

/// Loads the existing CA in `dir` (`ca.pem`, `ca.key`); never creates one. What a running
/// collector that signs enrollment requests uses (`enrollment.ca_dir`).
pub fn load_existing_ca(dir: &Path) -> Result<Ca, CertsError> {
    load_ca(Layout::new(dir))
}

fn load_ca(layout: Layout) -> Result<Ca, CertsError> {
    let bad = |reason: String| CertsError::BadCa {
        dir: layout.dir().to_owned(),
        reason,
    };
    let cert_pem =
        fs::read_to_string(layout.ca_cert()).map_err(CertsError::io("read", &layout.ca_cert()))?;
    let key_pem =
        fs::read_to_string(layout.ca_key()).map_err(CertsError::io("read", &layout.ca_key()))?;
    let key = KeyPair::from_pem(&key_pem)
        .map_err(|e| bad(format!("{}: {e}", layout.ca_key().display())))?;

    // Check what rcgen does not: that the key belongs to the certificate and that the
    // certificate is a CA. Otherwise every certificate signed now would fail to verify,
    // and only at the first TLS handshake.
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| bad(format!("{}: {e}", layout.ca_cert().display())))?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| bad(format!("{}: {e}", layout.ca_cert().display())))?;
    if x509.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(bad(format!(
            "{} is not the key of {}",
            layout.ca_key().display(),
            layout.ca_cert().display()
        )));
    }
    if !x509.is_ca() {
        return Err(bad(format!(
            "{} is not a CA certificate",
            layout.ca_cert().display()
        )));
    }
    let issuer = Issuer::from_ca_cert_der(&der, key)?;
    Ok(Ca {
        layout,
        issuer,
        outcome: Outcome::Kept,
    })
}

fn create_ca(layout: Layout) -> Result<Ca, CertsError> {
    create_dir(layout.dir())?;
    let (key, mut params) = new_key_and_params("zerofault CA")?;
    // Path length 0: this CA signs collector and agent certificates only, no sub-CAs.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_DAYS);
    let cert = params.self_signed(&key)?;
    // Key first: a crash in between leaves a key without certificate, which `ensure_ca`
    // reports instead of silently making a second CA.
    write_file(
        &layout.ca_key(),
        key.serialize_pem().as_bytes(),
        KEY_MODE,
        false,
    )?;
    write_file(&layout.ca_cert(), cert.pem().as_bytes(), CERT_MODE, false)?;
    Ok(Ca {
        layout,
        issuer: Issuer::new(params, key),
        outcome: Outcome::Written,
    })
}

impl Ca {
    /// The directory layout this CA lives in.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Issues `DIR/collector.pem` and `.key` with `names` (DNS names or IP addresses) as
    /// subject alternative names; the first name is also the CN.
    pub fn issue_collector(
        &self,
        names: &[String],
        opts: &IssueOptions,
    ) -> Result<Issued, CertsError> {
        let first = names.first().ok_or(CertsError::NoCollectorNames)?;
        let sans = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
        self.issue(
            self.layout.collector_cert(),
            self.layout.collector_key(),
            first,
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            opts,
        )
    }

    /// Issues `DIR/agents/ID.pem` and `.key`, a client certificate whose CN is `id`.
    pub fn issue_agent(&self, id: &str, opts: &IssueOptions) -> Result<Issued, CertsError> {
        parse_agent_id(id)?;
        create_dir(&self.layout.dir().join("agents"))?;
        self.issue(
            self.layout.agent_cert(id),
            self.layout.agent_key(id),
            id,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            opts,
        )
    }

    /// A client certificate for agent `id` and its key, as PEM (certificate, PKCS#8 key),
    /// made in memory and written nowhere: the same certificate `issue_agent` writes, for
    /// tools that need tens of thousands of agent identities at once (the load generator,
    /// `collector/examples/zf-load`), where 100,000 small files would cost more than the
    /// signing.
    pub fn sign_agent(&self, id: &str, days: u32) -> Result<(String, String), CertsError> {
        parse_agent_id(id)?;
        self.sign(id, Vec::new(), ExtendedKeyUsagePurpose::ClientAuth, days)
    }

    /// Agent `id`'s client certificate for the key of certificate request `csr_pem`, valid
    /// `validity` from now: the request's signature must verify (it was made with that key),
    /// and nothing else of it is used: the name is `id`, the usage client authentication.
    /// The key never leaves the agent's host; only its public half is signed here.
    pub fn sign_request(
        &self,
        id: &str,
        csr_pem: &str,
        validity: Duration,
    ) -> Result<SignedRequest, CertsError> {
        parse_agent_id(id)?;
        let csr = rcgen::CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|e| CertsError::BadRequest(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "zerofault");
        params.distinguished_name.push(DnType::CommonName, id);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let mut serial = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
            .map_err(|_| CertsError::BadRequest("no randomness for the serial number".into()))?;
        serial[0] &= 0x7f; // a positive INTEGER
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
        let now = SystemTime::now();
        let not_after = now + validity;
        // Backdated for hosts whose clocks run behind, but by a small part of a short
        // validity: agents renew a third of the life before the end, and a backdate as long
        // as the validity would make every renewal due at once.
        params.not_before = (now - BACKDATE.min(validity / 4)).into();
        params.not_after = not_after.into();
        let cert = params.signed_by(&csr.public_key, &self.issuer)?;
        Ok(SignedRequest {
            cert_pem: cert.pem(),
            serial: hex::encode(serial),
            not_after_unix: not_after
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> Result<String, CertsError> {
        fs::read_to_string(self.layout.ca_cert())
            .map_err(CertsError::io("read", &self.layout.ca_cert()))
    }

    /// A new key and a leaf certificate for it signed by this CA, as PEM.
    fn sign(
        &self,
        common_name: &str,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
        days: u32,
    ) -> Result<(String, String), CertsError> {
        let (key, mut params) = new_key_and_params(common_name)?;
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, days);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    fn issue(
        &self,
        cert_path: PathBuf,
        key_path: PathBuf,
        common_name: &str,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
        opts: &IssueOptions,
    ) -> Result<Issued, CertsError> {
        if !opts.force {
            match (cert_path.exists(), key_path.exists()) {
                (true, true) => {
                    return Ok(Issued {
                        cert: cert_path,
                        key: key_path,
                        outcome: Outcome::Kept,
                    });
                }
                (true, false) => {
                    return Err(CertsError::IncompletePair {
                        present: cert_path,
                        missing: key_path,
                    });
                }
                (false, true) => {
                    return Err(CertsError::IncompletePair {
                        present: key_path,
                        missing: cert_path,
                    });
                }
                (false, false) => {}
            }
        }
        let (cert_pem, key_pem) = self.sign(common_name, sans, usage, opts.days)?;
        write_file(&key_path, key_pem.as_bytes(), KEY_MODE, opts.force)?;
        write_file(&cert_path, cert_pem.as_bytes(), CERT_MODE, opts.force)?;
        Ok(Issued {
            cert: cert_path,
            key: key_path,
            outcome: Outcome::Written,
        })
    }
}

/// `ensure_ca(dir)` then an agent certificate with default options.
pub fn issue_agent(dir: &Path, id: &str) -> Result<Issued, CertsError> {
    ensure_ca(dir)?.issue_agent(id, &IssueOptions::default())
}

/// `ensure_ca(dir)` then a collector certificate with default options.
pub fn issue_collector(dir: &Path, names: &[String]) -> Result<Issued, CertsError> {
    ensure_ca(dir)?.issue_collector(names, &IssueOptions::default())
}

/// The default names of the collector certificate: localhost, 127.0.0.1, ::1 and this
/// machine's host name (when it is a usable DNS name).
pub fn default_collector_names() -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "::1"]
        .into_iter()
        .map(String::from)
        .collect();
    // /proc avoids libc's gethostname (and so `unsafe`); the collector is Linux-only.
    if let Ok(host) = fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim().to_owned();
        if !host.is_empty() && san(&host).is_ok() && !names.contains(&host) {
            names.push(host);
        }
    }
    names
}

/// A subject alternative name: an IP address, or a DNS name (`*.` wildcard allowed).
pub(super) fn san(name: &str) -> Result<SanType, CertsError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let dns = name.strip_prefix("*.").unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !dns.split('.').all(label_ok) {
        return Err(CertsError::InvalidCollectorName(name.to_owned()));
    }
    let ia5 = name
        .to_owned()
        .try_into()
        .map_err(|_| CertsError::InvalidCollectorName(name.to_owned()))?;
    Ok(SanType::DnsName(ia5))
}

/// A new ECDSA P-256 key and the parameters of a certificate for it, named `common_name`
/// in the organization `zerofault`: what the CA and every certificate it issues start from.
fn new_key_and_params(common_name: &str) -> Result<(KeyPair, CertificateParams), CertsError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "zerofault");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    Ok((key, params))
}

fn set_validity(params: &mut CertificateParams, days: u32) {
    let now = SystemTime::now();
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + Duration::from_secs(u64::from(days) * 86_400)).into();
}

fn create_dir(dir: &Path) -> Result<(), CertsError> {
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(CertsError::io("create directory", dir))
}

/// Writes `contents` to `path` through a temporary file in the same directory, created
/// with `mode` (so a key is never readable by others, even briefly) and renamed into
/// place (so a reader never sees half a file). Without `overwrite` an existing `path` is
/// an error.
fn write_file(path: &Path, contents: &[u8], mode: u32, overwrite: bool) -> Result<(), CertsError> {
    if !overwrite && path.exists() {
        return Err(CertsError::Io {
            action: "create",
            path: path.to_owned(),
            source: std::io::ErrorKind::AlreadyExists.into(),
        });
    }
    let name = path
        .file_name()
        .expect("certificate paths have a file name")
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    // A leftover from a crashed run with the same pid is ours to replace.
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CertsError::Io {
            action: "write",
            path: path.to_owned(),
            source: e,
        }
    })
}
