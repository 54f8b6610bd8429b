//! Field bounds of a [`Report`]: what the collector refuses with 400, and what an agent
//! checks before it sends. Pure; tested with literal reports.

use crate::report::{PROTOCOL_VERSION, Report};

/// Bounds a report must respect. The defaults hold a large host (hundreds of mounts and
/// interfaces) with room to spare while keeping one report far below a megabyte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest accepted string field, in bytes.
    pub max_string_bytes: usize,
    /// Most filesystems in one report.
    pub max_filesystems: usize,
    /// Most interfaces in one report.
    pub max_interfaces: usize,
    /// Most link results (probe targets) in one report.
    pub max_links: usize,
    /// Most block devices in one report (a storage server with multipath and LVM has
    /// hundreds; a lower cap than the others keeps the decode bound where it was).
    pub max_block_devices: usize,
    /// Most interface transitions in one report.
    pub max_interface_transitions: usize,
    /// Most error kinds in one link result (the agent knows 6).
    pub max_errors_per_link: usize,
    /// Most loss runs in one report, all links together. A run is at least one lost probe
    /// between answered ones, so a link probed every second has at most 8 per 15 s window;
    /// 4,096 such links flapping at every probe stay within the default.
    pub max_loss_runs: usize,
    /// Most error kinds in `agent_stats.send_errors_total` (the agent knows 7).
    pub max_send_error_kinds: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_string_bytes: 4096,
            max_filesystems: 4096,
            max_interfaces: 4096,
            max_links: 4096,
            max_block_devices: 1024,
            max_interface_transitions: 4096,
            max_errors_per_link: 16,
            max_loss_runs: 65_536,
            max_send_error_kinds: 16,
        }
    }
}

/// Earliest acceptable agent timestamp (2000-01-01T00:00:00Z), in ms: anything before is a
/// clock that was never set.
pub const MIN_TIMESTAMP_UNIX_MS: i64 = 946_684_800_000;
/// Latest acceptable agent timestamp (2200-01-01T00:00:00Z), in ms.
pub const MAX_TIMESTAMP_UNIX_MS: i64 = 7_258_118_400_000;
/// Shortest accepted collection interval.
pub const MIN_INTERVAL_MS: u32 = 100;
/// Longest accepted collection interval (1 day).
pub const MAX_INTERVAL_MS: u32 = 86_400_000;
/// Longest agent id.
pub const MAX_AGENT_ID_BYTES: usize = 128;

/// A report field outside its bounds. Each variant names the field so that the collector's
/// 400 answer tells the agent's operator exactly what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValidationError {
    /// `protocol_version` is not one this build understands.
    #[error("protocol_version {got} is not supported (this collector speaks {supported})")]
    UnsupportedVersion {
        /// Version in the report.
        got: u32,
        /// Version this build supports.
        supported: u32,
    },
    /// A required field is empty.
    #[error("field `{field}` is empty")]
    Empty {
        /// Field path, e.g. `boot_id`.
        field: &'static str,
    },
    /// A string is longer than allowed.
    #[error("field `{field}` is {len} bytes long, the limit is {limit}")]
    TooLong {
        /// Field path.
        field: &'static str,
        /// Actual length.
        len: usize,
        /// Limit.
        limit: usize,
    },
    /// The agent id contains characters other than ASCII letters, digits, `.`, `_`, `-`.
    #[error("field `agent_id` {0:?} may contain only ASCII letters, digits, '.', '_' and '-'")]
    AgentIdCharset(String),
    /// A number is outside its range.
    #[error("field `{field}` is {value}, outside {range}")]
    OutOfRange {
        /// Field path.
        field: &'static str,
        /// The value, formatted.
        value: String,
        /// The accepted range, formatted.
        range: &'static str,
    },
    /// A list has more entries than allowed.
    #[error("field `{field}` has {len} entries, the limit is {limit}")]
    TooMany {
        /// Field path.
        field: &'static str,
        /// Actual count.
        len: usize,
        /// Limit.
        limit: usize,
    },
}

/// Probe kinds an agent may report.
pub const LINK_KINDS: [&str; 3] = ["icmp", "tcp", "http"];
/// Backbone levels a link may have (or none).
pub const LINK_LEVELS: [&str; 4] = ["province-city", "city-county", "county-township", "access"];
/// Network domains a link may belong to (or none).
pub const LINK_DOMAINS: [&str; 2] = ["administrative", "public"];

/// Returns true when `id` is a valid agent id: 1..=128 bytes of `[A-Za-z0-9._-]`.
/// The same rule is used for certificate common names, so ids are safe in file names,
/// label values and SQL without quoting games.
pub fn is_valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_AGENT_ID_BYTES
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn check_str(field: &'static str, s: &str, limit: usize) -> Result<(), ValidationError> {
    if s.len() > limit {
        return Err(ValidationError::TooLong {
            field,
            len: s.len(),
            limit,
        });
    }
    Ok(())
}

fn check_nonempty(field: &'static str, s: &str, limit: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    check_str(field, s, limit)
}

fn check_ratio(field: &'static str, v: f64) -> Result<(), ValidationError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field,
            value: v.to_string(),
            range: "0..=1",
        })
    }
}

fn check_nonneg(field: &'static str, v: f64) -> Result<(), ValidationError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field,
            value: v.to_string(),
            range: "a finite number >= 0",
        })
    }
}

impl Report {
    /// Checks every field against its bounds; the first violation is returned.
    pub fn validate(&self, limits: &Limits) -> Result<(), ValidationError> {
        if self.protocol_version != PROTOCOL_VERSION {
            return Err(ValidationError::UnsupportedVersion {
                got: self.protocol_version,
                supported: PROTOCOL_VERSION,
            });
        }
        if self.agent_id.is_empty() {
            return Err(ValidationError::Empty { field: "agent_id" });
        }
        check_str("agent_id", &self.agent_id, MAX_AGENT_ID_BYTES)?;
        if !is_valid_agent_id(&self.agent_id) {
            return Err(ValidationError::AgentIdCharset(self.agent_id.clone()));
        }
        let max = limits.max_string_bytes;
        check_nonempty("hostname", &self.hostname, 255)?;
        check_nonempty("boot_id", &self.boot_id, 128)?;
        check_str("agent_version", &self.agent_version, 64)?;
        if !(MIN_TIMESTAMP_UNIX_MS..=MAX_TIMESTAMP_UNIX_MS).contains(&self.timestamp_unix_ms) {
            return Err(ValidationError::OutOfRange {
                field: "timestamp_unix_ms",
                value: self.timestamp_unix_ms.to_string(),
                range: "2000-01-01..2200-01-01",
            });
        }
        if !(0..=MAX_TIMESTAMP_UNIX_MS / 1000).contains(&self.boot_time_unix_seconds) {
            return Err(ValidationError::OutOfRange {
                field: "boot_time_unix_seconds",
                value: self.boot_time_unix_seconds.to_string(),
                range: "1970-01-01..2200-01-01",
            });
        }
        if !(MIN_INTERVAL_MS..=MAX_INTERVAL_MS).contains(&self.interval_ms) {
            return Err(ValidationError::OutOfRange {
                field: "interval_ms",
                value: self.interval_ms.to_string(),
                range: "100..=86400000",
            });
        }
        // The store keeps sequences as SQL's signed 64-bit integer; above this they would
        // wrap negative and sort first.
        if self.sequence > i64::MAX as u64 {
            return Err(ValidationError::OutOfRange {
                field: "sequence",
                value: self.sequence.to_string(),
                range: "0..=9223372036854775807",
            });
        }
        if let Some(l) = &self.labels {
            check_str("labels.department", &l.department, 128)?;
            check_str("labels.business_system", &l.business_system, 128)?;
            check_str("labels.datacenter", &l.datacenter, 128)?;
            check_str("labels.site", &l.site, 128)?;
        }
        if let Some(s) = &self.system {
            // Longer than the Unix epoch is no uptime; bounding it keeps every time the
            // collector derives from it (boot anchors, placed times) far from overflow.
            if s.uptime_seconds > (MAX_TIMESTAMP_UNIX_MS / 1000) as u64 {
                return Err(ValidationError::OutOfRange {
                    field: "system.uptime_seconds",
                    value: s.uptime_seconds.to_string(),
                    range: "0..=7258118400 (no longer than 1970..2200)",
                });
            }
            check_str("system.os_name", &s.os_name, max)?;
            check_str("system.os_version", &s.os_version, max)?;
            check_str("system.kernel_version", &s.kernel_version, max)?;
        }
        if let Some(c) = &self.cpu {
            check_ratio("cpu.usage_ratio", c.usage_ratio)?;
            check_nonneg("cpu.load1", c.load1)?;
            check_nonneg("cpu.load5", c.load5)?;
            check_nonneg("cpu.load15", c.load15)?;
            if let Some(m) = &c.modes {
                for (_, v) in m.named() {
                    check_ratio("cpu.modes", v)?;
                }
            }
        }
        if let Some(p) = &self.pressure {
            for (_, _, line) in p.lines() {
                check_ratio("pressure.avg10", line.avg10)?;
                check_ratio("pressure.avg60", line.avg60)?;
                check_ratio("pressure.avg300", line.avg300)?;
            }
        }
        if let Some(m) = &self.memory {
            if m.used_bytes > m.total_bytes {
                return Err(ValidationError::OutOfRange {
                    field: "memory.used_bytes",
                    value: m.used_bytes.to_string(),
                    range: "0..=memory.total_bytes",
                });
            }
            if m.swap_used_bytes > m.swap_total_bytes {
                return Err(ValidationError::OutOfRange {
                    field: "memory.swap_used_bytes",
                    value: m.swap_used_bytes.to_string(),
                    range: "0..=memory.swap_total_bytes",
                });
            }
        }
        if self.filesystems.len() > limits.max_filesystems {
            return Err(ValidationError::TooMany {
                field: "filesystems",
                len: self.filesystems.len(),
                limit: limits.max_filesystems,
            });
        }
        for fs in &self.filesystems {
            check_nonempty("filesystems.mount_point", &fs.mount_point, max)?;
            check_str("filesystems.device", &fs.device, max)?;
            check_str("filesystems.fs_type", &fs.fs_type, 64)?;
            if let (Some(free), Some(total)) = (fs.inodes_free, fs.inodes_total)
                && free > total
            {
                return Err(ValidationError::OutOfRange {
                    field: "filesystems.inodes_free",
                    value: free.to_string(),
                    range: "0..=inodes_total",
                });
            }
        }
        if self.interfaces.len() > limits.max_interfaces {
            return Err(ValidationError::TooMany {
                field: "interfaces",
                len: self.interfaces.len(),
                limit: limits.max_interfaces,
            });
        }
        for i in &self.interfaces {
            check_nonempty("interfaces.name", &i.name, 64)?;
            check_str("interfaces.oper_state", &i.oper_state, 32)?;
        }
        if self.block_devices.len() > limits.max_block_devices {
            return Err(ValidationError::TooMany {
                field: "block_devices",
                len: self.block_devices.len(),
                limit: limits.max_block_devices,
            });
        }
        for d in &self.block_devices {
            check_nonempty("block_devices.name", &d.name, 64)?;
        }
        if let Some(c) = &self.clock {
            check_nonneg("clock.max_error_seconds", c.max_error_seconds)?;
            check_nonneg("clock.estimated_error_seconds", c.estimated_error_seconds)?;
        }
        if self.links.len() > limits.max_links {
            return Err(ValidationError::TooMany {
                field: "links",
                len: self.links.len(),
                limit: limits.max_links,
            });
        }
        let mut loss_runs = 0usize;
        for l in &self.links {
            validate_link(l, max, limits.max_errors_per_link)?;
            loss_runs += l.loss_runs.len();
        }
        if loss_runs > limits.max_loss_runs {
            return Err(ValidationError::TooMany {
                field: "links.loss_runs",
                len: loss_runs,
                limit: limits.max_loss_runs,
            });
        }
        if self.interface_transitions.len() > limits.max_interface_transitions {
            return Err(ValidationError::TooMany {
                field: "interface_transitions",
                len: self.interface_transitions.len(),
                limit: limits.max_interface_transitions,
            });
        }
        for t in &self.interface_transitions {
            check_nonempty("interface_transitions.interface", &t.interface, 64)?;
            check_str("interface_transitions.oper_state", &t.oper_state, 32)?;
        }
        if let Some(s) = &self.agent_stats {
            if s.send_errors_total.len() > limits.max_send_error_kinds {
                return Err(ValidationError::TooMany {
                    field: "agent_stats.send_errors_total",
                    len: s.send_errors_total.len(),
                    limit: limits.max_send_error_kinds,
                });
            }
            for e in &s.send_errors_total {
                check_nonempty("agent_stats.send_errors_total.kind", &e.kind, 32)?;
            }
        }
        Ok(())
    }
}

fn check_one_of(
    field: &'static str,
    value: &str,
    allowed: &[&str],
    empty_ok: bool,
    range: &'static str,
) -> Result<(), ValidationError> {
    if (empty_ok && value.is_empty()) || allowed.contains(&value) {
        Ok(())
    } else {
        Err(ValidationError::OutOfRange {
            field,
            value: format!("{value:?}"),
            range,
        })
    }
}

fn validate_link(
    l: &crate::report::LinkResult,
    max: usize,
    max_errors: usize,
) -> Result<(), ValidationError> {
    check_nonempty("links.link_id", &l.link_id, 128)?;
    check_one_of("links.kind", &l.kind, &LINK_KINDS, false, "icmp|tcp|http")?;
    check_str("links.target", &l.target, max)?;
    check_one_of(
        "links.level",
        &l.level,
        &LINK_LEVELS,
        true,
        "province-city|city-county|county-township|access or empty",
    )?;
    check_one_of(
        "links.domain",
        &l.domain,
        &LINK_DOMAINS,
        true,
        "administrative|public or empty",
    )?;
    if l.received > l.sent {
        return Err(ValidationError::OutOfRange {
            field: "links.received",
            value: l.received.to_string(),
            range: "0..=links.sent",
        });
    }
    check_ratio("links.loss_ratio", l.loss_ratio)?;
    check_nonneg("links.rtt_min_seconds", l.rtt_min_seconds)?;
    check_nonneg("links.rtt_avg_seconds", l.rtt_avg_seconds)?;
    check_nonneg("links.rtt_max_seconds", l.rtt_max_seconds)?;
    check_nonneg("links.rtt_p50_seconds", l.rtt_p50_seconds)?;
    check_nonneg("links.rtt_p95_seconds", l.rtt_p95_seconds)?;
    check_nonneg("links.jitter_seconds", l.jitter_seconds)?;
    if l.window_end_unix_ms < l.window_start_unix_ms {
        return Err(ValidationError::OutOfRange {
            field: "links.window_end_unix_ms",
            value: l.window_end_unix_ms.to_string(),
            range: ">= links.window_start_unix_ms",
        });
    }
    if l.errors.len() > max_errors {
        return Err(ValidationError::TooMany {
            field: "links.errors",
            len: l.errors.len(),
            limit: max_errors,
        });
    }
    for e in &l.errors {
        check_nonempty("links.errors.kind", &e.kind, 32)?;
    }
    let lost = l.sent - l.received;
    if l.loss_runs.len() > lost as usize {
        return Err(ValidationError::TooMany {
            field: "links.loss_runs",
            len: l.loss_runs.len(),
            limit: lost as usize,
        });
    }
    Ok(())
}
