//! `zerofault-agent enroll`: the agent's key is made here and never leaves the host; the
//! collector signs a certificate request for it, authorised by a one-time token an operator
//! made (`zerofault-collector certs token`). Renewal ([`crate::transport::renew`]) reuses
//! the same steps over the agent's current identity.
//!
//! Files: the key is written first (mode 0600, to a temporary file renamed into place),
//! then the certificate; a crash in between leaves the old pair's certificate with a new
//! key, which `validate` reports, and enrolling again (a new token) mends.

use std::io::{Read as _, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use zerofault_protocol::enroll::{ENROLL_PATH, EnrollRequest, Issued, TOKEN_PREFIX};

use crate::config::Config;

/// Mode of the private key file.
pub const KEY_MODE: u32 = 0o600;
/// Mode of the certificate files.
pub const CERT_MODE: u32 = 0o644;
/// Longest answer read from the collector.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A new P-256 key (PKCS#8 PEM) and a certificate request for it naming `agent_id` (PEM).
pub fn new_key_and_request(agent_id: &str) -> anyhow::Result<(String, String)> {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, agent_id);
    let csr = params.serialize_request(&key)?;
    Ok((key.serialize_pem(), csr.pem()?))
}

/// Writes `contents` to `path` with `mode`, through a temporary file in the same directory
/// renamed into place (fsynced), so that the file is whole or absent.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.new",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Installs a new key and the certificate issued for it: key first, then certificate, then
/// the CA when the configured file is missing.
pub fn install(config: &Config, key_pem: &str, issued: &Issued) -> anyhow::Result<()> {
    write_atomic(&config.tls.key, key_pem.as_bytes(), KEY_MODE)?;
    write_atomic(
        &config.tls.cert,
        issued.certificate_pem.as_bytes(),
        CERT_MODE,
    )?;
    Ok(())
}

/// The collector's answer: the issued certificate, or its `error` as the message.
pub async fn answer(response: reqwest::Response) -> anyhow::Result<Issued> {
    let status = response.status();
    let mut body = Vec::new();
    let mut response = response;
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER_BYTES {
            bail!("the collector's answer is larger than {MAX_ANSWER_BYTES} bytes");
        }
    }
    if !status.is_success() {
        let why = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        bail!("the collector refused ({status}): {why}");
    }
    serde_json::from_slice(&body).context("the collector's answer is not a certificate")
}

/// Enrolls with `token`: makes the key, sends the request to the first collector that
/// answers, installs what it issues. Refuses to replace an existing certificate unless
/// `force`.
pub async fn enroll(config: &Config, token: &str, force: bool) -> anyhow::Result<Issued> {
    let token = token.trim();
    if !token.starts_with(TOKEN_PREFIX) {
        bail!(
            "that is not an enrollment token (they start with {TOKEN_PREFIX}); copy it again from `zerofault-collector certs token`"
        );
    }
    if !force && (config.tls.cert.exists() || config.tls.key.exists()) {
        bail!(
            "{} or {} exists already; this agent is enrolled. To enroll again (e.g. after a revocation), pass --force",
            config.tls.cert.display(),
            config.tls.key.display()
        );
    }
    let tls = crate::transport::tls::anonymous_client_config(&config.tls.ca)
        .map_err(|e| anyhow!("{}: {}: {e}", config.path.display(), e.key()))?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .https_only(true)
        .no_proxy()
        .timeout(config.collector_timeout.max(Duration::from_secs(10)))
        .build()?;
    let (key_pem, csr_pem) = new_key_and_request(&config.agent_id)?;
    let request = EnrollRequest {
        agent_id: config.agent_id.clone(),
        token: token.to_owned(),
        csr_pem,
    };
    let mut last = None;
    for base in &config.collector_urls {
        let sent = client
            .post(format!("{base}{ENROLL_PATH}"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&request)?)
            .send()
            .await;
        match sent {
            Ok(response) => {
                let issued = answer(response).await?;
                install(config, &key_pem, &issued)?;
                return Ok(issued);
            }
            // Only a collector that cannot be reached moves on; a refusal is final.
            Err(e) => last = Some(anyhow!("{base}: {e}")),
        }
    }
    Err(last.unwrap_or_else(|| anyhow!("no collector URL configured")))
}

/// Reads a token from `path` (`-`: stdin): the first line that is not a comment, either the
/// token alone or `ID<TAB>TOKEN` as `certs token` writes them (the line of this agent's id).
pub fn read_token(path: &Path, agent_id: &str) -> anyhow::Result<String> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin().take(64 * 1024))?
    } else {
        let f =
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        std::io::read_to_string(std::io::Read::take(f, 1024 * 1024))?
    };
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        match line.split_once(char::is_whitespace) {
            Some((id, token)) if id == agent_id => return Ok(token.trim().to_owned()),
            Some(_) => continue,
            None => return Ok(line.to_owned()),
        }
    }
    bail!(
        "{} holds no token for agent id {agent_id:?}",
        path.display()
    )
}
