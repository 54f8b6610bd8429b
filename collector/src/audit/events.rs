//! One function per audited event: the event's name, its actor and source, and its details.
//! The names are the `event` column, listed in `docs/security.md`; callers are where the
//! event happens (`cmd/certs`, `enroll`, `live/ingest/listener.rs`, `cmd/report.rs`,
//! `cmd/import.rs`, `http/access.rs`, `store/retention`).

use serde_json::json;

use crate::store::adjustments::NewAdjustment;

/// What happened, before the log gives it a time, an instance and a place in the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Who acted ([`Entry::actor`]).
    pub actor: String,
    /// From where ([`Entry::source`]).
    pub source: String,
    /// What ([`Entry::event`]).
    pub event: &'static str,
    /// Whether it succeeded.
    pub ok: bool,
    /// Details, a JSON object.
    pub details: serde_json::Value,
}

/// The actor of a command run on the collector's host: `operator:` and the login name
/// (`SUDO_USER` first: who ran `sudo`, not root), else the numeric user id.
pub fn operator() -> String {
    let name = ["SUDO_USER", "LOGNAME", "USER"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    match name {
        Some(n) => format!("operator:{n}"),
        None => format!("operator:uid={}", rustix::process::getuid().as_raw()),
    }
}

/// The source of a command on the collector's host.
pub const LOCAL: &str = "local";

/// The actor for an agent identity.
pub fn agent(id: &str) -> String {
    format!("agent:{id}")
}

fn event(
    actor: String,
    source: String,
    event: &'static str,
    ok: bool,
    details: serde_json::Value,
) -> Event {
    Event {
        actor,
        source,
        event,
        ok,
        details,
    }
}

/// An agent enrolled with a token, or was refused (`refused`: why).
pub fn enroll(
    agent_id: &str,
    source: String,
    refused: Option<&str>,
    serial: Option<&str>,
) -> Event {
    event(
        agent(agent_id),
        source,
        "agent.enroll",
        refused.is_none(),
        json!({ "agent": agent_id, "refused": refused, "serial": serial }),
    )
}

/// An agent renewed its certificate over its current identity, or was refused.
pub fn renew(agent_id: &str, source: String, refused: Option<&str>, serial: Option<&str>) -> Event {
    event(
        agent(agent_id),
        source,
        "agent.renew",
        refused.is_none(),
        json!({ "agent": agent_id, "refused": refused, "serial": serial }),
    )
}

/// `certs` issued certificates (the collector's, agents' with their keys made here).
pub fn certs_issued(what: &[String], days: u32) -> Event {
    event(
        operator(),
        LOCAL.into(),
        "cert.issue",
        true,
        json!({ "issued": what, "days": days }),
    )
}

/// `certs token` made enrollment tokens.
pub fn tokens_created(agents: &[String], expires_ms: i64) -> Event {
    event(
        operator(),
        LOCAL.into(),
        "token.create",
        true,
        json!({ "agents": agents, "expires_ms": expires_ms }),
    )
}

/// `certs revoke` (`revoked`) or `certs unrevoke`; `changed` false when it already was so.
pub fn revocation(agent_id: &str, revoked: bool, reason: &str, changed: bool) -> Event {
    event(
        operator(),
        LOCAL.into(),
        if revoked {
            "cert.revoke"
        } else {
            "cert.unrevoke"
        },
        true,
        json!({ "agent": agent_id, "reason": reason, "changed": changed }),
    )
}

/// An SLA adjustment made by `actor` from `source` (its id is this record's seq).
pub fn sla_adjusted(actor: String, source: String, what: &NewAdjustment) -> Event {
    event(
        actor,
        source,
        "sla.adjust",
        true,
        json!({
            "scope": what.kind,
            "code": what.code,
            "start_ms": what.start_ms,
            "end_ms": what.end_ms,
            "reason": what.reason,
        }),
    )
}

/// The withdrawal of SLA adjustment `id`.
pub fn sla_withdrawn(actor: String, source: String, id: u64, reason: &str) -> Event {
    event(
        actor,
        source,
        "sla.withdraw",
        true,
        json!({ "adjustment": id, "reason": reason }),
    )
}

/// Authentication failures from one source and minute, counted.
pub fn auth_failures(source: String, reason: &str, count: u64) -> Event {
    event(
        "unauthenticated".into(),
        source,
        "auth.failure",
        false,
        json!({ "reason": reason, "count": count, "per": "minute" }),
    )
}

/// The configuration (and inventory) loaded at start or reload.
pub fn config_loaded(path: &str, inventory: Option<&str>, reload: bool) -> Event {
    event(
        "collector".into(),
        LOCAL.into(),
        if reload {
            "config.reload"
        } else {
            "config.load"
        },
        true,
        json!({ "config": path, "inventory": inventory }),
    )
}

/// The server certificate reloaded (`SIGHUP` or a changed file), or kept after a failure.
pub fn server_cert_reloaded(cert: &str, error: Option<&str>) -> Event {
    event(
        "collector".into(),
        LOCAL.into(),
        "cert.reload",
        error.is_none(),
        json!({ "cert": cert, "error": error }),
    )
}

/// A month closed (`report --close`).
pub fn month_closed(month: &str, sha256: &str, late: bool) -> Event {
    event(
        operator(),
        LOCAL.into(),
        "month.close",
        true,
        json!({ "month": month, "sha256": sha256, "late_correction": late }),
    )
}

/// A closed month verified (`verify`).
pub fn month_verified(month: &str, ok: bool, detail: &str) -> Event {
    event(
        operator(),
        LOCAL.into(),
        "month.verify",
        ok,
        json!({ "month": month, "detail": detail }),
    )
}

/// An HTTP user's password verified (a login; a remembered credential is not one again
/// for five minutes).
pub fn login(user: &str, source: String) -> Event {
    event(
        format!("user:{user}"),
        source,
        "http.login",
        true,
        json!({ "user": user }),
    )
}

/// A monthly report downloaded over HTTP.
pub fn report_downloaded(user: Option<&str>, source: String, month: &str, format: &str) -> Event {
    event(
        user.map_or_else(|| "anonymous".to_owned(), |u| format!("user:{u}")),
        source,
        "report.download",
        true,
        json!({ "month": month, "format": format }),
    )
}

/// A page of the audit log read over HTTP by an auditor.
pub fn audit_read(user: &str, source: String, after: u64, records: u64) -> Event {
    event(
        format!("user:{user}"),
        source,
        "audit.read",
        true,
        json!({ "after": after, "records": records }),
    )
}

/// History imported (`import`).
pub fn imported(file: &str, agent: Option<&str>, stored: u64, refused: u64) -> Event {
    event(
        operator(),
        LOCAL.into(),
        "import",
        true,
        json!({ "file": file, "agent": agent, "stored": stored, "refused": refused }),
    )
}

/// A retention pass deleted stored data.
pub fn retention_deleted(reports: u64, buckets: u64, series: u64) -> Event {
    event(
        "collector".into(),
        LOCAL.into(),
        "retention.delete",
        true,
        json!({ "reports": reports, "buckets": buckets, "series": series }),
    )
}

/// A seal of the chain.
pub fn seal(details: &super::seal::SealDetails) -> Event {
    event(
        "collector".into(),
        LOCAL.into(),
        super::seal::SEAL_EVENT,
        true,
        serde_json::to_value(details).expect("plain fields serialize"),
    )
}

/// The record audit retention appends; the store fills its details
/// ([`super::chain::RetentionDetails`]).
pub fn retention_placeholder() -> Event {
    event(
        "collector".into(),
        LOCAL.into(),
        super::chain::RETENTION_EVENT,
        true,
        json!({}),
    )
}
