//! `audit.*`: the audit log's hash, seals, retention and forwarding (`docs/security.md`).

use std::time::Duration;

use serde::Deserialize;

use super::chain::HashAlg;
use zerofault_common::duration::format_duration;

/// Default of `audit.seal_interval`.
pub const DEFAULT_SEAL_INTERVAL: Duration = Duration::from_secs(3600);
/// Default and least `audit.retention`: 180 days, the six months of the Cybersecurity Law
/// (art. 21) that GB/T 22239-2019 level 3 audits against.
pub const MIN_RETENTION: Duration = Duration::from_secs(180 * 86_400);
/// Default of `audit.syslog.facility`: `authpriv` (10), where security records belong.
pub const DEFAULT_FACILITY: u8 = 10;

/// `audit.*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Hash of the chain: `sha256` (default) or `sm3` (GB/T 32905, for sites assessed under
    /// GB/T 39786). Changing it applies to new records; old ones keep theirs.
    #[serde(default)]
    pub hash: HashAlg,
    /// How often a collector seals the chain (signs its newest record with the collector's
    /// TLS key) when records were added since its last seal. Default `1h`.
    #[serde(
        default = "default_seal_interval",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub seal_interval: Duration,
    /// How long records are kept; older ones are deleted by the collector holding the
    /// deployment lease, with a record saying so. Default and least `180d`.
    #[serde(
        default = "default_retention",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub retention: Duration,
    /// Send every record this collector writes, and every seal's anchor, to syslog (the
    /// central audit system's collector). Default: not sent.
    #[serde(default)]
    pub syslog: Option<Syslog>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            hash: HashAlg::default(),
            seal_interval: DEFAULT_SEAL_INTERVAL,
            retention: MIN_RETENTION,
            syslog: None,
        }
    }
}

/// `audit.syslog`: RFC 5424 messages, one per record, over UDP.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Syslog {
    /// `host:port` of the syslog receiver (UDP), e.g. `10.0.0.5:514`.
    pub address: String,
    /// Facility number (RFC 5424): default 10, `authpriv`.
    #[serde(default = "default_facility")]
    pub facility: u8,
}

fn default_seal_interval() -> Duration {
    DEFAULT_SEAL_INTERVAL
}

fn default_retention() -> Duration {
    MIN_RETENTION
}

fn default_facility() -> u8 {
    DEFAULT_FACILITY
}

impl AuditSettings {
    /// Every wrong value, each as (dotted key, message).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.seal_interval < Duration::from_secs(1)
            || self.seal_interval > Duration::from_secs(86_400)
        {
            problem(
                "audit.seal_interval",
                format!(
                    "{} is outside 1s..=24h (default {})",
                    format_duration(self.seal_interval),
                    format_duration(DEFAULT_SEAL_INTERVAL)
                ),
            );
        }
        if self.retention < MIN_RETENTION {
            problem(
                "audit.retention",
                format!(
                    "{} is shorter than 180d: audit records are kept at least six months (Cybersecurity Law art. 21, GB/T 22239-2019 level 3)",
                    format_duration(self.retention)
                ),
            );
        }
        if let Some(s) = &self.syslog {
            if s.address.parse::<std::net::SocketAddr>().is_err()
                && !s
                    .address
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            {
                problem(
                    "audit.syslog.address",
                    format!("{:?} is not host:port (e.g. 10.0.0.5:514)", s.address),
                );
            }
            if s.facility > 23 {
                problem(
                    "audit.syslog.facility",
                    format!(
                        "{} is outside 0..=23 (RFC 5424; default 10, authpriv)",
                        s.facility
                    ),
                );
            }
        }
    }
}
