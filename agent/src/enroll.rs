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

/// The temporary file beside `path` that [`install`] writes first.
fn temp_of(path: &Path) -> std::path::PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(
        ".{}.new",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ))
}

/// Writes `contents` to a new file `path` with `mode`, fsynced. Run as root, the file is
/// given to the owner of its directory: `enroll` run by root into the agent's state
/// directory (the packages' `/var/lib/zerofault/agent`, owned by the agent's user) leaves a
/// key the agent can read and replace when it renews, never one only root can read.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    if rustix::process::geteuid().is_root() {
        use std::os::unix::fs::MetadataExt as _;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let owner = std::fs::metadata(dir)
            .with_context(|| format!("cannot read the owner of {}", dir.display()))?;
        rustix::fs::fchown(
            &f,
            Some(rustix::fs::Uid::from_raw(owner.uid())),
            Some(rustix::fs::Gid::from_raw(owner.gid())),
        )
        .with_context(|| {
            format!(
                "cannot give {} to the owner of {}",
                path.display(),
                dir.display()
            )
        })?;
    }
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

/// Installs a new key and the certificate issued for it so that a crash at any point
/// leaves a matching pair: both are written whole to temporary files first, then the key
/// and the certificate are renamed into place; [`recover`] finishes an install a crash
/// cut between the two renames.
pub fn install(config: &Config, key_pem: &str, issued: &Issued) -> anyhow::Result<()> {
    let (key_tmp, cert_tmp) = (temp_of(&config.tls.key), temp_of(&config.tls.cert));
    write_new(&key_tmp, key_pem.as_bytes(), KEY_MODE)?;
    write_new(&cert_tmp, issued.certificate_pem.as_bytes(), CERT_MODE)?;
    std::fs::rename(&key_tmp, &config.tls.key)
        .with_context(|| format!("cannot move the new key to {}", config.tls.key.display()))?;
    std::fs::rename(&cert_tmp, &config.tls.cert).with_context(|| {
        format!(
            "cannot move the new certificate to {}",
            config.tls.cert.display()
        )
    })?;
    sync_dir(&config.tls.key);
    sync_dir(&config.tls.cert);
    Ok(())
}

/// Finishes or undoes an [`install`] a crash cut: the key renamed but not the certificate
/// (finish it), or neither (drop the temporary files, the old pair is whole). Returns
/// whether something was done.
pub fn recover(config: &Config) -> anyhow::Result<bool> {
    let (key_tmp, cert_tmp) = (temp_of(&config.tls.key), temp_of(&config.tls.cert));
    match (key_tmp.exists(), cert_tmp.exists()) {
        (false, true) => {
            std::fs::rename(&cert_tmp, &config.tls.cert).with_context(|| {
                format!("cannot finish installing {}", config.tls.cert.display())
            })?;
            sync_dir(&config.tls.cert);
            Ok(true)
        }
        (true, _) => {
            let _ = std::fs::remove_file(&key_tmp);
            let _ = std::fs::remove_file(&cert_tmp);
            Ok(true)
        }
        (false, false) => Ok(false),
    }
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
    recover(config)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Config {
        let yaml = format!(
            "agent:\n  id: web-01\n  state_dir: {d}/state\ncollector:\n  url: https://127.0.0.1:7443\ntls:\n  ca: {d}/ca.pem\n  cert: {d}/agent.pem\n  key: {d}/agent.key\n",
            d = dir.display()
        );
        let path = dir.join("agent.yaml");
        std::fs::write(&path, yaml).unwrap();
        crate::config::load(&path, crate::config::CheckFiles::No).unwrap()
    }

    fn issued(pem: &str) -> Issued {
        Issued {
            certificate_pem: pem.into(),
            ca_pem: String::new(),
            not_after_unix: 0,
        }
    }

    #[test]
    fn an_install_cut_by_a_crash_is_finished_or_undone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        install(&c, "KEY1", &issued("CERT1")).unwrap();
        assert_eq!(std::fs::read_to_string(&c.tls.key).unwrap(), "KEY1");
        assert_eq!(
            std::fs::metadata(&c.tls.key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!recover(&c).unwrap(), "nothing left to do");
        // Cut after the key's rename: the certificate is put in place at the next start.
        std::fs::write(&c.tls.key, "KEY2").unwrap();
        std::fs::write(temp_of(&c.tls.cert), "CERT2").unwrap();
        assert!(recover(&c).unwrap());
        assert_eq!(std::fs::read_to_string(&c.tls.cert).unwrap(), "CERT2");
        // Cut before any rename: the old pair stays, the temporary files go.
        std::fs::write(temp_of(&c.tls.key), "KEY3").unwrap();
        std::fs::write(temp_of(&c.tls.cert), "CERT3").unwrap();
        assert!(recover(&c).unwrap());
        assert_eq!(std::fs::read_to_string(&c.tls.key).unwrap(), "KEY2");
        assert_eq!(std::fs::read_to_string(&c.tls.cert).unwrap(), "CERT2");
        assert!(!temp_of(&c.tls.key).exists() && !temp_of(&c.tls.cert).exists());
    }
}
