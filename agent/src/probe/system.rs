//! Host identity and OS facts: hostname, boot id, boot time, uptime, OS release, kernel.
//!
//! The boot id and boot time are what the collector uses to tell a reboot from a silence,
//! so they are read fresh every collection rather than cached.

use zerofault_protocol::{Report, SystemInfo};

use super::source::{Probe, ProbeError, parse_error, read};

const HOSTNAME: &str = "/proc/sys/kernel/hostname";
const OSRELEASE: &str = "/proc/sys/kernel/osrelease";
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
const UPTIME: &str = "/proc/uptime";
const STAT: &str = "/proc/stat";
/// os-release(5): `/etc/os-release`, falling back to `/usr/lib/os-release`.
const OS_RELEASE: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// OS name and version from os-release.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `NAME`, e.g. `Debian GNU/Linux`.
    pub name: String,
    /// `VERSION_ID`, else `VERSION`, e.g. `12`.
    pub version: String,
}

/// Parses os-release(5): `KEY=value` lines, values optionally single- or double-quoted with
/// backslash escapes inside double quotes; comments and blank lines ignored.
pub fn parse_os_release(text: &str) -> OsRelease {
    let mut out = OsRelease::default();
    let mut version = None;
    let mut version_id = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        match key.trim() {
            "NAME" => out.name = value,
            "VERSION_ID" => version_id = Some(value),
            "VERSION" => version = Some(value),
            _ => {}
        }
    }
    out.version = version_id.or(version).unwrap_or_default();
    out
}

fn unquote(raw: &str) -> String {
    let bytes = raw.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return raw[1..raw.len() - 1].to_owned();
    }
    if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        let inner = &raw[1..raw.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        return out;
    }
    raw.to_owned()
}

/// Parses `/proc/uptime` (`"1065.70 1450.48"`): whole seconds since boot.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let first = text.split_whitespace().next()?;
    let secs: f64 = first.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some(secs as u64)
}

/// Finds `btime` (boot time, seconds since the epoch) in `/proc/stat`.
pub fn parse_btime(stat: &str) -> Option<i64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Parses a one-line kernel value (hostname, osrelease, boot_id): trimmed, non-empty.
pub fn parse_one_line(text: &str) -> Option<String> {
    let v = text.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// Fills `hostname`, `boot_id`, `boot_time_unix_seconds` and `system`.
#[derive(Debug, Default)]
pub struct SystemProbe {
    // os-release only changes on an OS upgrade, which restarts the agent (package
    // upgrade); re-reading it every interval would be wasted work.
    os: Option<OsRelease>,
}

impl SystemProbe {
    /// Creates the probe.
    pub fn new() -> Self {
        Self::default()
    }

    fn os_release(&mut self) -> OsRelease {
        self.os
            .get_or_insert_with(|| {
                OS_RELEASE
                    .iter()
                    .find_map(|p| std::fs::read_to_string(p).ok())
                    .map(|t| parse_os_release(&t))
                    .unwrap_or_default()
            })
            .clone()
    }
}

fn one_line(path: &str) -> Result<String, ProbeError> {
    parse_one_line(&read(path)?).ok_or_else(|| parse_error(path, "empty"))
}

impl Probe for SystemProbe {
    fn name(&self) -> &'static str {
        "system"
    }

    fn collect(&mut self, report: &mut Report) -> Result<(), ProbeError> {
        report.boot_id = one_line(BOOT_ID)?;
        report.boot_time_unix_seconds =
            parse_btime(&read(STAT)?).ok_or_else(|| parse_error(STAT, "no btime line"))?;
        report.hostname = one_line(HOSTNAME)?;
        let os = self.os_release();
        report.system = Some(SystemInfo {
            os_name: os.name,
            os_version: os.version,
            kernel_version: one_line(OSRELEASE)?,
            uptime_seconds: parse_uptime(&read(UPTIME)?)
                .ok_or_else(|| parse_error(UPTIME, "not '<seconds> <idle>'"))?,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_debian() {
        let text = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"#;
        assert_eq!(
            parse_os_release(text),
            OsRelease {
                name: "Debian GNU/Linux".into(),
                version: "12".into()
            }
        );
    }

    #[test]
    fn os_release_quoting_and_fallbacks() {
        let text = "# comment\n\nNAME='Kylin Linux Advanced Server'\nVERSION=\"V10 \\\"Lance\\\"\"\nbroken line\n";
        assert_eq!(
            parse_os_release(text),
            OsRelease {
                name: "Kylin Linux Advanced Server".into(),
                version: "V10 \"Lance\"".into()
            }
        );
        assert_eq!(
            parse_os_release("NAME=openEuler\nVERSION_ID=22.03\n"),
            OsRelease {
                name: "openEuler".into(),
                version: "22.03".into()
            }
        );
        assert_eq!(parse_os_release(""), OsRelease::default());
    }

    #[test]
    fn uptime() {
        assert_eq!(parse_uptime("1065.70 1450.48\n"), Some(1065));
        assert_eq!(parse_uptime("0.01 0.00"), Some(0));
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_uptime("-3 1"), None);
        assert_eq!(parse_uptime("abc 1"), None);
    }

    #[test]
    fn btime() {
        let stat = "cpu  10 0 20 300 0 0 0 0 0 0\ncpu0 10 0 20 300 0 0 0 0 0 0\nintr 1 2\nctxt 99\nbtime 1718000000\nprocesses 42\n";
        assert_eq!(parse_btime(stat), Some(1_718_000_000));
        assert_eq!(parse_btime("cpu 1 2 3\n"), None);
    }

    #[test]
    fn one_line_values() {
        assert_eq!(
            parse_one_line("0f5d1c7e-8a57-4b8f-bd5e-0e1d2c3b4a59\n").as_deref(),
            Some("0f5d1c7e-8a57-4b8f-bd5e-0e1d2c3b4a59")
        );
        assert_eq!(parse_one_line(" \n"), None);
    }
}
