//! The `limits` settings: what one request and one connection may cost the collector.
//! Declared here, next to the ingest that enforces them; `crate::config` only includes them.

use std::time::Duration;

use serde::Deserialize;

use zerofault_common::duration::format_duration;

/// Default cap of a compressed report body (1 MiB): a large host's report is a few KiB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;
/// Default cap of a decompressed report (8 MiB): bounds the memory a zstd bomb can take.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: u64 = 8 * 1024 * 1024;
/// Largest accepted value of either size cap (1 GiB): above, one request could exhaust memory.
pub const MAX_LIMIT_BYTES: u64 = 1024 * 1024 * 1024;

/// What one request and one connection may cost the collector (`limits.*`): bytes, time
/// and connections, each bounded before the work is done. `docs/architecture.md` ("What one
/// agent can cost the collector") derives the memory ceiling of ingest from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted compressed body; larger requests get 413.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: u64,
    /// Largest accepted decompressed report; larger reports get 413.
    #[serde(default = "default_max_decompressed_bytes")]
    pub max_decompressed_bytes: u64,
    /// Longest time to receive a report body once its headers are in; a slower body gets
    /// 408 and the connection is closed. A report is a few KiB: even a congested link sends
    /// it in well under a second.
    #[serde(
        default = "default_body_timeout",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub body_timeout: Duration,
    /// Longest silence inside a body (between two reads); a body that stalls for longer gets
    /// 408 and the connection is closed.
    #[serde(
        default = "default_body_idle_timeout",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub body_idle_timeout: Duration,
    /// How long an agent's kept-alive connection may wait for its next request before the
    /// collector closes it. Longer than the agents' own idle timeout (twice the interval, at
    /// least 30 s), so that the agent closes first and never sends on a connection being
    /// closed. A waiting connection costs about 11 KB here (parked between reports, see
    /// `docs/architecture.md`); a value below the agents' interval trades open connections
    /// and descriptors for a full TLS handshake per report, two to three times the CPU per
    /// report or more.
    #[serde(
        default = "default_connection_idle_timeout",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub connection_idle_timeout: Duration,
    /// Most reports decompressed and decoded at once (on the blocking thread pool); further
    /// ones wait their turn. Bounds the memory and CPU of decoding (each may take
    /// `max_decompressed_bytes` plus what it decodes to) whatever the number of connections.
    #[serde(default = "default_max_concurrent_decodes")]
    pub max_concurrent_decodes: u32,
    /// Most memory held by decoded reports waiting for their commit (each weighs its bytes
    /// plus what it decoded to); further decoded reports wait for room. An agent's report is
    /// a few KiB, so the default holds thousands.
    #[serde(default = "default_max_pending_bytes")]
    pub max_pending_bytes: u64,
    /// Most open ingest connections in all. Lowered at start to what the process's file
    /// descriptor limit allows, keeping room for the database and the HTTP listener (the
    /// log says so). Sized for a province: 50,000 agents keep one connection each.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Most open connections per agent identity (client certificate common name); a
    /// further connection is closed right after its handshake. An agent uses one.
    #[serde(default = "default_max_connections_per_agent")]
    pub max_connections_per_agent: u32,
    /// Most connections from one source address (an IPv6 address counts by its /64) still
    /// in their TLS handshake. When a new one would exceed it, the oldest unfinished
    /// handshake from that address is dropped, so
    /// that a flood of unfinished handshakes cannot keep a well-behaved agent behind the
    /// same address (NAT) out. Finished connections are not counted per address: many agents
    /// may share one.
    #[serde(default = "default_max_handshakes_per_address")]
    pub max_handshakes_per_address: u32,
    /// New connections one source address may open per second (a burst of ten seconds'
    /// worth is allowed); beyond it a connection is closed before its TLS handshake, which
    /// is what costs the collector CPU. Agents keep their connection open, so this only
    /// meets a client reconnecting in a loop, or very many agents behind one NAT address
    /// starting at once (they retry). Default 100.
    #[serde(default = "default_new_connections_per_address_per_second")]
    pub new_connections_per_address_per_second: u32,
    /// Requests one agent identity may send per second (a burst of ten seconds' worth is
    /// allowed); beyond it the request is answered 429 with `Retry-After: 1`, before its body
    /// is read. Above the agents' backfill rate (`spool.backfill_rate`, default 50/s).
    /// Default 100.
    #[serde(default = "default_requests_per_agent_per_second")]
    pub requests_per_agent_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_max_body_bytes(),
            max_decompressed_bytes: default_max_decompressed_bytes(),
            body_timeout: default_body_timeout(),
            body_idle_timeout: default_body_idle_timeout(),
            connection_idle_timeout: default_connection_idle_timeout(),
            max_concurrent_decodes: default_max_concurrent_decodes(),
            max_pending_bytes: default_max_pending_bytes(),
            max_connections: default_max_connections(),
            max_connections_per_agent: default_max_connections_per_agent(),
            max_handshakes_per_address: default_max_handshakes_per_address(),
            new_connections_per_address_per_second: default_new_connections_per_address_per_second(
            ),
            requests_per_agent_per_second: default_requests_per_agent_per_second(),
        }
    }
}

fn default_max_body_bytes() -> u64 {
    DEFAULT_MAX_BODY_BYTES
}

fn default_max_decompressed_bytes() -> u64 {
    DEFAULT_MAX_DECOMPRESSED_BYTES
}

/// Default of `limits.body_timeout`.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `limits.body_idle_timeout`.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of `limits.connection_idle_timeout`: above the agent's idle timeout for intervals
/// up to a minute.
pub const DEFAULT_CONNECTION_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default of `limits.max_concurrent_decodes`: an agent's report decodes in well under a
/// millisecond, so 4 at once keep the cores of a small machine busy; a hostile body that
/// expands to the decompressed cap takes a few tens of milliseconds of one core.
pub const DEFAULT_MAX_CONCURRENT_DECODES: u32 = 4;
/// Default of `limits.max_pending_bytes` (64 MiB).
pub const DEFAULT_MAX_PENDING_BYTES: u64 = 64 * 1024 * 1024;
/// Default of `limits.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 65_536;
/// Default of `limits.max_connections_per_agent`.
pub const DEFAULT_MAX_CONNECTIONS_PER_AGENT: u32 = 8;
/// Default of `limits.max_handshakes_per_address`.
pub const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS: u32 = 1024;

/// Default of `limits.new_connections_per_address_per_second`.
pub const DEFAULT_NEW_CONNECTIONS_PER_ADDRESS_PER_SECOND: u32 = 100;
/// Default of `limits.requests_per_agent_per_second`.
pub const DEFAULT_REQUESTS_PER_AGENT_PER_SECOND: u32 = 100;

fn default_new_connections_per_address_per_second() -> u32 {
    DEFAULT_NEW_CONNECTIONS_PER_ADDRESS_PER_SECOND
}

fn default_requests_per_agent_per_second() -> u32 {
    DEFAULT_REQUESTS_PER_AGENT_PER_SECOND
}

fn default_body_timeout() -> Duration {
    DEFAULT_BODY_TIMEOUT
}

fn default_body_idle_timeout() -> Duration {
    DEFAULT_BODY_IDLE_TIMEOUT
}

fn default_connection_idle_timeout() -> Duration {
    DEFAULT_CONNECTION_IDLE_TIMEOUT
}

fn default_max_concurrent_decodes() -> u32 {
    DEFAULT_MAX_CONCURRENT_DECODES
}

fn default_max_pending_bytes() -> u64 {
    DEFAULT_MAX_PENDING_BYTES
}

fn default_max_connections() -> u32 {
    DEFAULT_MAX_CONNECTIONS
}

fn default_max_connections_per_agent() -> u32 {
    DEFAULT_MAX_CONNECTIONS_PER_AGENT
}

fn default_max_handshakes_per_address() -> u32 {
    DEFAULT_MAX_HANDSHAKES_PER_ADDRESS
}

impl Limits {
    /// Every wrong value, each as (dotted key, message).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        for (key, v) in [
            ("limits.max_body_bytes", self.max_body_bytes),
            ("limits.max_decompressed_bytes", self.max_decompressed_bytes),
            ("limits.max_pending_bytes", self.max_pending_bytes),
        ] {
            if v == 0 || v > MAX_LIMIT_BYTES {
                problem(
                    key,
                    format!(
                        "{v} is outside 1..={MAX_LIMIT_BYTES}; the default is fine for any host"
                    ),
                );
            }
        }
        for (key, v) in [
            ("limits.body_timeout", self.body_timeout),
            ("limits.body_idle_timeout", self.body_idle_timeout),
        ] {
            if v.is_zero() || v > Duration::from_secs(3600) {
                problem(
                    key,
                    format!(
                        "{} is outside 1ms..=1h; a report body takes well under a second (default {})",
                        format_duration(v),
                        format_duration(if key == "limits.body_timeout" {
                            DEFAULT_BODY_TIMEOUT
                        } else {
                            DEFAULT_BODY_IDLE_TIMEOUT
                        })
                    ),
                );
            }
        }
        let idle = self.connection_idle_timeout;
        if idle < Duration::from_secs(1) || idle > Duration::from_secs(3600) {
            problem(
                "limits.connection_idle_timeout",
                format!(
                    "{} is outside 1s..=1h; keep it above the agents' idle timeout (twice their interval, at least 30s; default {})",
                    format_duration(idle),
                    format_duration(DEFAULT_CONNECTION_IDLE_TIMEOUT)
                ),
            );
        }
        for (key, v, default) in [
            (
                "limits.max_concurrent_decodes",
                self.max_concurrent_decodes,
                DEFAULT_MAX_CONCURRENT_DECODES,
            ),
            (
                "limits.max_connections",
                self.max_connections,
                DEFAULT_MAX_CONNECTIONS,
            ),
            (
                "limits.max_connections_per_agent",
                self.max_connections_per_agent,
                DEFAULT_MAX_CONNECTIONS_PER_AGENT,
            ),
            (
                "limits.max_handshakes_per_address",
                self.max_handshakes_per_address,
                DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
            ),
            (
                "limits.new_connections_per_address_per_second",
                self.new_connections_per_address_per_second,
                DEFAULT_NEW_CONNECTIONS_PER_ADDRESS_PER_SECOND,
            ),
            (
                "limits.requests_per_agent_per_second",
                self.requests_per_agent_per_second,
                DEFAULT_REQUESTS_PER_AGENT_PER_SECOND,
            ),
        ] {
            if v == 0 {
                problem(
                    key,
                    format!("0 would refuse every agent; use 1 or more (default {default})"),
                );
            }
        }
    }
}

/// What one request may cost: bytes, time, and a turn at decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// Largest compressed body.
    pub max_body_bytes: usize,
    /// Largest decompressed report.
    pub max_decompressed_bytes: usize,
    /// Longest time to receive a body after its headers.
    pub body_timeout: Duration,
    /// Longest silence inside a body.
    pub body_idle_timeout: Duration,
    /// Most reports decompressed and decoded at once.
    pub max_concurrent_decodes: usize,
    /// Most memory held by decoded reports waiting for their commit.
    pub max_pending_bytes: usize,
    /// Requests per agent identity and second (10 s of burst).
    pub requests_per_agent_per_second: u32,
}

impl From<Limits> for IngestLimits {
    fn from(l: Limits) -> Self {
        // The config caps both at 1 GiB, which fits usize on every supported target.
        Self {
            max_body_bytes: usize::try_from(l.max_body_bytes).unwrap_or(usize::MAX),
            max_decompressed_bytes: usize::try_from(l.max_decompressed_bytes).unwrap_or(usize::MAX),
            body_timeout: l.body_timeout,
            body_idle_timeout: l.body_idle_timeout,
            max_concurrent_decodes: l.max_concurrent_decodes as usize,
            max_pending_bytes: usize::try_from(l.max_pending_bytes).unwrap_or(usize::MAX),
            requests_per_agent_per_second: l.requests_per_agent_per_second,
        }
    }
}

impl IngestLimits {
    /// `max_pending_bytes` in KiB, the unit of the pending budget (a semaphore counts in
    /// u32), at least 1.
    pub fn max_pending_kib(&self) -> u32 {
        u32::try_from(self.max_pending_bytes / 1024)
            .unwrap_or(u32::MAX)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS as u32)
    }

    /// The most memory the decoding of one admitted body takes: the decompressed bytes, the
    /// report they decode to (bounded by the protocol limits before decoding), and the
    /// stored copy of the bytes. Ingest holds at most `max_concurrent_decodes` of these
    /// while decoding, then at most `max_pending_bytes` of decoded reports until their
    /// commit: the two make the ceiling of ingest's memory beside the bodies being
    /// received (`docs/architecture.md`).
    pub fn decode_bytes_bound(&self) -> usize {
        let raw = self.max_decompressed_bytes;
        raw.saturating_mul(2)
            .saturating_add(zerofault_protocol::decoded_bytes_bound(
                raw,
                &zerofault_protocol::Limits::default(),
            ))
    }
}
