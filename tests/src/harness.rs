//! What every part of the harness uses: where the binaries are, free loopback ports, the
//! one bounded wait, the HTTP client, and small helpers. Re-exported at the crate root.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Name of the collector binary.
pub const COLLECTOR_BIN: &str = "zerofault-collector";
/// Name of the agent binary.
pub const AGENT_BIN: &str = "zerofault-agent";

/// Environment variable that overrides where the binaries are looked for.
pub const BIN_DIR_ENV: &str = "ZEROFAULT_BIN_DIR";

/// Path of one of the workspace's binaries.
///
/// A test executable lives in `$CARGO_TARGET_DIR/<profile>/deps/`, and cargo puts the
/// workspace's binaries one level up, so the binaries are found next to the test's own
/// directory whatever target dir or profile is in use. `ZEROFAULT_BIN_DIR` overrides that
/// (e.g. to test an installed package).
///
/// # Panics
///
/// When the binary is missing: the message says how to build it, because `cargo test -p
/// zerofault-tests` alone does not build other packages' binaries.
pub fn bin_path(name: &str) -> PathBuf {
    let dir = match std::env::var_os(BIN_DIR_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("path of the running test executable");
            let deps = exe
                .parent()
                .expect("test executable has a parent directory");
            // `.../debug/deps/test-hash` -> `.../debug`; a binary run from `.../debug` itself
            // (not a test) finds the binaries in its own directory.
            if deps.file_name().is_some_and(|n| n == "deps") {
                deps.parent().expect("deps has a parent").to_path_buf()
            } else {
                deps.to_path_buf()
            }
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "binary {} not found; build the binaries first: `cargo build --workspace --bins` \
         (with the same CARGO_TARGET_DIR and profile as the tests), or set {BIN_DIR_ENV}",
        path.display()
    );
    path
}

/// A loopback address with a port that was free a moment ago.
///
/// The port is found by binding port 0 and releasing it, so another process could take it
/// before the child binds it; [`CollectorBuilder::spawn`] retries on "address in use" for
/// that reason.
pub fn free_addr() -> SocketAddr {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local address of a bound socket")
}

/// Polls `f` every `poll` until it returns `Ok`, or fails after `timeout`.
///
/// `f` returns `Err(reason)` while the condition does not hold yet; the last reason is part
/// of the timeout error, so a failed wait says what it saw instead of only that it waited.
/// `f` is always called at least once, and never after the deadline.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    poll: Duration,
    mut f: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        let last = match f().await {
            Ok(v) => return Ok(v),
            Err(reason) => reason,
        };
        let now = Instant::now();
        if now + poll > deadline {
            anyhow::bail!(
                "timed out after {:.1?} ({attempts} attempts) waiting for {what}; last: {last}",
                start.elapsed()
            );
        }
        tokio::time::sleep(poll).await;
    }
}

/// Percent-encodes a query-string component (RFC 3986 unreserved characters stay as they are).
///
/// reqwest's `query()` needs an optional feature; PromQL queries are the only thing encoded
/// here, so a few lines beat a dependency.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `MemTotal` of this machine in bytes, from `/proc/meminfo` (which states it in kB = KiB).
pub fn meminfo_total_bytes() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo")?;
    parse_meminfo_total(&text)
}

/// Parses `MemTotal:  16318380 kB` out of `/proc/meminfo` text, in bytes.
pub fn parse_meminfo_total(text: &str) -> anyhow::Result<u64> {
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("MemTotal:") {
            let mut parts = rest.split_whitespace();
            let kb: u64 = parts
                .next()
                .ok_or_else(|| anyhow::anyhow!("MemTotal without a value"))?
                .parse()?;
            anyhow::ensure!(parts.next() == Some("kB"), "MemTotal not in kB: {line:?}");
            return Ok(kb * 1024);
        }
    }
    anyhow::bail!("no MemTotal line in /proc/meminfo")
}

/// A path as a YAML double-quoted scalar (JSON string syntax is valid YAML), so that any
/// temporary directory name is written safely.
pub(crate) fn yaml_path(p: &Path) -> String {
    serde_json::to_string(&p.to_string_lossy()).expect("a string serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_is_kib_times_1024() {
        let text = "MemTotal:       16318380 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_meminfo_total(text).unwrap(), 16_318_380 * 1024);
        assert!(parse_meminfo_total("MemFree: 1 kB\n").is_err());
        assert!(parse_meminfo_total("MemTotal: 12 MB\n").is_err());
    }

    #[test]
    fn percent_encoding_of_a_promql_query() {
        assert_eq!(
            percent_encode(r#"up{job="zf"}"#),
            "up%7Bjob%3D%22zf%22%7D".to_string()
        );
        assert_eq!(percent_encode("a-b.c_d~"), "a-b.c_d~");
        assert_eq!(percent_encode("a b"), "a%20b");
    }

    #[test]
    fn free_addr_is_loopback_and_bindable() {
        let addr = free_addr();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        // The port was released, so it can be bound again (by the child, in real use).
        TcpListener::bind(addr).unwrap();
    }

    #[tokio::test]
    async fn wait_until_returns_the_value_once_ready() {
        let mut n = 0;
        let v = wait_until(
            "n to reach 3",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                n += 1;
                let now = n;
                async move {
                    if now >= 3 {
                        Ok(now)
                    } else {
                        Err(format!("n={now}"))
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn wait_until_times_out_with_the_last_reason() {
        let start = Instant::now();
        let err = wait_until(
            "never",
            Duration::from_millis(50),
            Duration::from_millis(10),
            || async { Err::<(), _>("still no".to_string()) },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(start.elapsed() < Duration::from_secs(2), "bounded wait");
        assert!(err.contains("waiting for never"), "{err}");
        assert!(err.contains("still no"), "{err}");
    }
}
