//! `access.*`: who may read the HTTP listener (cockpit, API, `/metrics`).
//!
//! Without `access.users`, every path is open, as a listener bound to loopback or a
//! management network needs. With users, every request needs HTTP Basic credentials of a
//! configured user whose role allows the path, except the `access.public` paths (e.g.
//! `/metrics` for a Prometheus without credentials). Passwords are stored as PBKDF2-HMAC-
//! SHA256 hashes (`zerofault-collector hash-password` makes one); `access.tls` serves the
//! listener over HTTPS so that credentials never cross the network in clear.
//!
//! Hostile clients: a wrong password costs a PBKDF2 computation (about a tenth of a second
//! at the default 600,000 iterations), so at most [`MAX_VERIFYING`] run at once and any
//! further request with unverified credentials is answered 429 at once; a verified
//! credential is remembered (by its SHA-256, never the password) for [`REMEMBER`], so a
//! wall screen refreshing every 30 s costs one computation per [`REMEMBER`]. Failures are
//! logged as counts, at most one line per [`LOG_EVERY`].

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::Semaphore;

/// PBKDF2 computations at once; the rest of the unverified requests are refused.
pub const MAX_VERIFYING: usize = 2;
/// How long a verified credential is remembered.
pub const REMEMBER: Duration = Duration::from_secs(300);
/// Most remembered credentials; past it the memory is cleared (users log in again).
pub const MAX_REMEMBERED: usize = 1024;
/// Shortest time between two log lines about refused credentials.
pub const LOG_EVERY: Duration = Duration::from_secs(10);
/// Iterations of a new hash (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const DEFAULT_ITERATIONS: u32 = 600_000;
/// Fewest iterations accepted in a configured hash.
pub const MIN_ITERATIONS: u32 = 100_000;
/// Most iterations accepted: a hash must not make each login take seconds.
pub const MAX_ITERATIONS: u32 = 10_000_000;
/// Longest `Authorization` header read.
const MAX_AUTHORIZATION_BYTES: usize = 1024;
const PREFIX: &str = "pbkdf2-sha256";

/// `access.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Serve `listen.http` over HTTPS with this certificate and key. Default: plain HTTP.
    #[serde(default)]
    pub tls: Option<HttpTls>,
    /// Users allowed to read; none (the default) leaves every path open.
    #[serde(default)]
    pub users: Vec<User>,
    /// Paths served without credentials when users are set (exact paths, or a prefix
    /// ending in `*`). Default: `/healthz` only.
    #[serde(default = "default_public")]
    pub public: Vec<String>,
}

fn default_public() -> Vec<String> {
    vec!["/healthz".into()]
}

/// `access.tls`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTls {
    /// PEM certificate chain of the listener (server certificate first).
    pub cert: PathBuf,
    /// PEM private key of that certificate.
    pub key: PathBuf,
}

/// One `access.users[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// `pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX`, from `zerofault-collector hash-password`.
    pub password_hash: String,
    /// `viewer` (every page, the API and `/metrics`, all read-only, but not the audit log),
    /// `metrics` (`/metrics` and `/healthz` only, for a scraper) or `audit` (the audit log,
    /// `/api/v1/audit`, and `/healthz` only). Default `viewer`.
    #[serde(default)]
    pub role: Role,
}

/// The audit log's route (`http/audit_log.rs`): only for the audit role, never public.
pub const AUDIT_LOG_PATH: &str = "/api/v1/audit";

/// What a user may read; every role is read-only (nothing on the listener writes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every path but the audit log.
    #[default]
    Viewer,
    /// `/metrics` and `/healthz`.
    Metrics,
    /// The audit log and `/healthz`: the auditor, kept apart from who operates (GB/T
    /// 22239-2019 separates the audit administrator from the system administrator).
    Audit,
}

impl Role {
    fn allows(self, path: &str) -> bool {
        let audit_log = path == AUDIT_LOG_PATH;
        match self {
            Role::Viewer => !audit_log,
            Role::Metrics => path == "/metrics" || path == "/healthz",
            Role::Audit => audit_log || path == "/healthz",
        }
    }
}

/// A parsed password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    iterations: NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl PasswordHash {
    /// Parses `pbkdf2-sha256$ITERATIONS$SALT_HEX$HASH_HEX`; the problem says what is wrong.
    pub fn parse(s: &str) -> Result<PasswordHash, String> {
        let parts: Vec<&str> = s.split('$').collect();
        let [prefix, iterations, salt, hash] = parts[..] else {
            return Err("is not of the form pbkdf2-sha256$ITERATIONS$SALT$HASH; make one with `zerofault-collector hash-password`".into());
        };
        if prefix != PREFIX {
            return Err(format!("uses {prefix:?}; only {PREFIX} is supported"));
        }
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| format!("iterations {iterations:?} is not a number"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "has {iterations} iterations; use {MIN_ITERATIONS} to {MAX_ITERATIONS} (hash-password uses {DEFAULT_ITERATIONS})"
            ));
        }
        let salt = from_hex(salt).ok_or("salt is not hexadecimal")?;
        let hash = from_hex(hash).ok_or("hash is not hexadecimal")?;
        if salt.len() < 16 || hash.len() != 32 {
            return Err("needs a salt of at least 16 bytes and a 32-byte hash".into());
        }
        Ok(PasswordHash {
            iterations: NonZeroU32::new(iterations).expect("checked above"),
            salt,
            hash,
        })
    }

    /// A new hash of `password` with a random salt.
    pub fn new(password: &str, iterations: u32) -> PasswordHash {
        use ring::rand::SecureRandom;
        let mut salt = vec![0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .expect("the system's random source works");
        let iterations = NonZeroU32::new(iterations.max(1)).expect("at least 1");
        let mut hash = vec![0u8; 32];
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        PasswordHash {
            iterations,
            salt,
            hash,
        }
    }

    /// Whether `password` matches (constant time in the comparison).
    pub fn verify(&self, password: &str) -> bool {
        ring::pbkdf2::verify(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            self.iterations,
            &self.salt,
            password.as_bytes(),
            &self.hash,
        )
        .is_ok()
    }
}

impl std::fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{PREFIX}${}${}${}",
            self.iterations,
            to_hex(&self.salt),
            to_hex(&self.hash)
        )
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Decodes standard base64 (RFC 4648, padded), as Basic credentials are sent.
fn from_base64(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let chunks = s.len() / 4;
    let mut out = Vec::with_capacity(chunks * 3);
    for (i, chunk) in s.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|c| **c == b'=').count();
        // Padding only at the very end, at most two.
        if pad > 2 || (pad > 0 && i + 1 != chunks) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

impl Access {
    /// Every problem, by dotted key.
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        let mut names = std::collections::BTreeSet::new();
        for u in &self.users {
            if u.name.is_empty() || u.name.contains(':') || u.name.len() > 64 {
                problem(
                    "access.users",
                    format!(
                        "user name {:?} must be 1 to 64 characters without ':'",
                        u.name
                    ),
                );
            }
            if !names.insert(u.name.as_str()) {
                problem("access.users", format!("user {:?} is listed twice", u.name));
            }
            if let Err(e) = PasswordHash::parse(&u.password_hash) {
                problem(
                    "access.users",
                    format!("password_hash of user {:?} {e}", u.name),
                );
            }
        }
        for p in &self.public {
            if !p.starts_with('/') {
                problem(
                    "access.public",
                    format!("{p:?} is not a path; paths start with '/' (e.g. /metrics)"),
                );
            }
        }
    }

    fn is_public(&self, path: &str) -> bool {
        self.public.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => p == path,
        })
    }
}

/// The checker the middleware holds.
#[derive(Debug)]
pub struct Gate {
    access: Access,
    users: Vec<(String, PasswordHash, Role)>,
    /// Permits of PBKDF2 computations; a permit moves into the computation itself, so a
    /// client that hangs up does not free it before the work ends.
    verifying: Arc<Semaphore>,
    remembered: Mutex<HashMap<[u8; 32], (usize, Instant)>>,
    refused: AtomicU64,
    last_log: Mutex<Option<Instant>>,
    /// Verified against for an unknown name, so that timing does not tell which names
    /// exist; made once, only when users are configured.
    dummy: Option<PasswordHash>,
    /// Where logins and refused ones are recorded.
    audit: Option<crate::audit::Audit>,
}

/// The iterations of the first valid user hash, `None` without users.
fn users_iterations(access: &Access) -> Option<u32> {
    access
        .users
        .iter()
        .find_map(|u| PasswordHash::parse(&u.password_hash).ok())
        .map(|h| h.iterations.get())
}

/// Why a request was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Let through.
    Allowed,
    /// No or wrong credentials: 401 with a Basic challenge.
    Unauthorized,
    /// A user whose role does not cover the path: 403.
    Forbidden,
    /// Too many credentials being verified at once: 429.
    Busy,
}

impl Gate {
    /// A gate over checked settings (`Access::problems` found none).
    pub fn new(access: Access) -> Gate {
        let users = access
            .users
            .iter()
            .filter_map(|u| {
                PasswordHash::parse(&u.password_hash)
                    .ok()
                    .map(|h| (u.name.clone(), h, u.role))
            })
            .collect();
        Gate {
            audit: None,
            users,
            verifying: Arc::new(Semaphore::new(MAX_VERIFYING)),
            remembered: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
            last_log: Mutex::new(None),
            // As many iterations as the first user's hash, so that an unknown name takes
            // as long as a known one.
            dummy: users_iterations(&access).map(|n| PasswordHash::new("", n)),
            access,
        }
    }

    /// The gate recording logins (each password verified) and, per source and minute, the
    /// refused ones in `audit`.
    pub fn with_audit(mut self, audit: crate::audit::Audit) -> Gate {
        self.audit = Some(audit);
        self
    }

    /// Whether any check is made at all.
    pub fn enabled(&self) -> bool {
        !self.access.users.is_empty()
    }

    /// The verdict on a request for `path` with this `Authorization` header.
    pub async fn check(&self, path: &str, authorization: Option<&HeaderValue>) -> Verdict {
        self.check_from(path, authorization, None).await.0
    }

    /// [`Self::check`] of a request from `source`, with the user it was let in as.
    pub async fn check_from(
        &self,
        path: &str,
        authorization: Option<&HeaderValue>,
        source: Option<std::net::IpAddr>,
    ) -> (Verdict, Option<String>) {
        // The audit log is never public: without a user, its route refuses the request.
        if !self.enabled() || (self.access.is_public(path) && path != AUDIT_LOG_PATH) {
            return (Verdict::Allowed, None);
        }
        let Some((name, password)) = authorization.and_then(basic_credentials) else {
            return (Verdict::Unauthorized, None);
        };
        let key: [u8; 32] = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{name}:{password}").as_bytes(),
        )
        .as_ref()
        .try_into()
        .expect("32 bytes");
        let now = Instant::now();
        let remembered = {
            let mut map = self.remembered.lock().expect("access lock poisoned");
            match map.get_mut(&key) {
                // Sliding: a screen that keeps using its login keeps it remembered, so a
                // flood of wrong logins (which may hold every permit) never locks it out.
                Some((i, at)) if now.duration_since(*at) < REMEMBER => {
                    *at = now;
                    Some(*i)
                }
                _ => None,
            }
        };
        let index = match remembered {
            Some(i) => Some(i),
            None => {
                let Ok(permit) = self.verifying.clone().try_acquire_owned() else {
                    return (Verdict::Busy, None);
                };
                let user = self.users.iter().position(|(n, _, _)| *n == name);
                // An unknown name is checked against the dummy hash, as long as a real one.
                let hash = match user {
                    Some(i) => Some(self.users[i].1.clone()),
                    None => self.dummy.clone(),
                };
                let ok = match hash {
                    Some(hash) => {
                        let password = password.clone();
                        tokio::task::spawn_blocking(move || {
                            let _permit = permit;
                            hash.verify(&password)
                        })
                        .await
                        .unwrap_or(false)
                    }
                    None => false,
                } && user.is_some();
                if let Some(audit) = &self.audit {
                    match (ok, source) {
                        (true, _) => audit.record(crate::audit::events::login(
                            &name,
                            source.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                        )),
                        (false, Some(source)) => audit.auth_failure(source, "http_login"),
                        (false, None) => audit.auth_failure(
                            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                            "http_login",
                        ),
                    }
                }
                if ok {
                    let mut map = self.remembered.lock().expect("access lock poisoned");
                    if map.len() >= MAX_REMEMBERED {
                        map.clear();
                    }
                    map.insert(key, (user.expect("verified"), now));
                    user
                } else {
                    None
                }
            }
        };
        match index {
            Some(i) if self.users[i].2.allows(path) => {
                (Verdict::Allowed, Some(self.users[i].0.clone()))
            }
            Some(_) => (Verdict::Forbidden, None),
            None => {
                self.refused();
                (Verdict::Unauthorized, None)
            }
        }
    }

    /// Counts a refused login; logs the count at most every [`LOG_EVERY`]. The name sent is
    /// not logged: it is the client's text (a password typed in the wrong field, or forged
    /// log lines).
    fn refused(&self) {
        let total = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_log.lock().expect("access lock poisoned");
        if last.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            *last = Some(Instant::now());
            tracing::warn!(
                refused_total = total,
                "http access refused: wrong user name or password"
            );
        }
    }
}

/// `(name, password)` of a `Basic` header, `None` if it is not one or is too long.
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let bytes = value.as_bytes();
    if bytes.len() > MAX_AUTHORIZATION_BYTES {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(from_base64(encoded.trim())?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    Some((name.to_owned(), password.to_owned()))
}

/// The user a request was let in as, in its extensions (for the audit records of what it
/// reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUser(pub String);

/// The middleware: lets a request through or answers 401, 403 or 429.
pub async fn middleware(
    State(gate): State<Arc<Gate>>,
    mut request: Request,
    next: Next,
) -> Response {
    let source = super::peer_addr(request.extensions()).map(|a| a.ip());
    let (verdict, user) = gate
        .check_from(
            request.uri().path(),
            request.headers().get(header::AUTHORIZATION),
            source,
        )
        .await;
    match verdict {
        Verdict::Allowed => {
            if let Some(user) = user {
                request.extensions_mut().insert(HttpUser(user));
            }
            next.run(request).await
        }
        Verdict::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"zerofault\", charset=\"UTF-8\"",
            )],
            "credentials needed\n",
        )
            .into_response(),
        Verdict::Forbidden => (
            StatusCode::FORBIDDEN,
            "this user's role does not cover this path\n",
        )
            .into_response(),
        Verdict::Busy => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            "too many logins at once; retry\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests;
