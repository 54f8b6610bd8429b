//! What an event says: the e-mail's subject and body and the webhook's JSON, in Chinese or
//! English. Pure.

use jiff::tz::TimeZone;
use serde::Serialize;

use super::incidents::{Change, Incident};

/// Most hidden hosts or links listed by name; the rest are counted.
const MAX_LISTED: usize = 50;

/// One event as sent: its sequence number, when it was made, and what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Event {
    /// Sequence number in the outbox (unique, increasing).
    pub seq: u64,
    /// When it was made (collector clock), Unix ms.
    pub at_ms: i64,
    /// What changed.
    #[serde(flatten)]
    pub change: Change,
}

fn local(ms: i64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string()
        })
        .unwrap_or_else(|_| ms.to_string())
}

fn duration_text(seconds: i64, zh: bool) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (zh, h > 0) {
        (true, true) => format!("{h} 小时 {m} 分 {s} 秒"),
        (true, false) => format!("{m} 分 {s} 秒"),
        (false, true) => format!("{h} h {m} min {s} s"),
        (false, false) => format!("{m} min {s} s"),
    }
}

fn what(i: &Incident, zh: bool) -> String {
    let name = if i.name.is_empty() {
        String::new()
    } else {
        format!(" ({})", i.name)
    };
    match (i.kind.as_str(), zh) {
        ("link", true) => format!("链路 {}{name}", i.id),
        ("link", false) => format!("link {}{name}", i.id),
        (_, true) => format!("主机 {} ({})", i.host, i.id),
        (_, false) => format!("host {} ({})", i.host, i.id),
    }
}

fn listed(ids: &[String]) -> String {
    let mut s = ids
        .iter()
        .take(MAX_LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > MAX_LISTED {
        s.push_str(&format!(" (+{})", ids.len() - MAX_LISTED));
    }
    s
}

/// Subject line.
pub fn subject(e: &Event, lang: &str) -> String {
    let zh = crate::inventory::is_chinese(lang);
    match (&e.change, zh) {
        (Change::Opened { incident }, true) => {
            format!("[zerofault] 故障: {}中断", what(incident, true) + " ")
        }
        (Change::Opened { incident }, false) => {
            format!("[zerofault] incident: {} down", what(incident, false))
        }
        (
            Change::Closed {
                incident,
                duration_seconds,
                ..
            },
            true,
        ) => format!(
            "[zerofault] 恢复: {} (持续 {})",
            what(incident, true),
            duration_text(*duration_seconds, true)
        ),
        (
            Change::Closed {
                incident,
                duration_seconds,
                ..
            },
            false,
        ) => format!(
            "[zerofault] resolved: {} (lasted {})",
            what(incident, false),
            duration_text(*duration_seconds, false)
        ),
    }
}

/// Plain-text body.
pub fn body(e: &Event, lang: &str, tz: &TimeZone) -> String {
    let zh = crate::inventory::is_chinese(lang);
    let (incident, closed) = match &e.change {
        Change::Opened { incident } => (incident, None),
        Change::Closed {
            incident,
            ended_ms,
            duration_seconds,
        } => (incident, Some((*ended_ms, *duration_seconds))),
    };
    let mut lines = vec![subject(e, lang), String::new()];
    let label = |zh_text: &str, en_text: &str| {
        if zh {
            zh_text.to_owned()
        } else {
            en_text.to_owned()
        }
    };
    if incident.kind == "link" {
        lines.push(format!(
            "{}: {} / {}",
            label("级别/网络", "Level / domain"),
            incident.level,
            incident.domain
        ));
    } else {
        lines.push(format!(
            "{}: {}",
            label("部门", "Department"),
            incident.department
        ));
        lines.push(format!(
            "{}: {}",
            label("机房", "Data center"),
            incident.datacenter
        ));
    }
    if let Some(since) = incident.since_ms {
        lines.push(format!("{}: {}", label("开始", "Since"), local(since, tz)));
    }
    if let Some((ended, seconds)) = closed {
        lines.push(format!(
            "{}: {}",
            label("恢复", "Resolved"),
            local(ended, tz)
        ));
        lines.push(format!(
            "{}: {}",
            label("持续", "Duration"),
            duration_text(seconds, zh)
        ));
    }
    if !incident.hidden_hosts.is_empty() {
        lines.push(format!(
            "{} ({}): {}",
            label(
                "受其影响的主机(根因为本链路, 不单独告警)",
                "Hosts behind it (root cause: this link; not alerted separately)"
            ),
            incident.hidden_hosts.len(),
            listed(&incident.hidden_hosts)
        ));
    }
    if !incident.hidden_links.is_empty() {
        lines.push(format!(
            "{} ({}): {}",
            label("受其影响的链路", "Links behind it"),
            incident.hidden_links.len(),
            listed(&incident.hidden_links)
        ));
    }
    lines.push(String::new());
    lines.push(format!("{}: {}", label("事件编号", "Event"), e.seq));
    lines.join("\n") + "\n"
}

/// The webhook's JSON document.
pub fn webhook_json(e: &Event, lang: &str, tz: &TimeZone) -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "seq": e.seq,
        "at_ms": e.at_ms,
        "event": match e.change { Change::Opened { .. } => "opened", Change::Closed { .. } => "closed" },
        "incident": match &e.change { Change::Opened { incident } | Change::Closed { incident, .. } => incident },
        "ended_ms": match e.change { Change::Closed { ended_ms, .. } => Some(ended_ms), Change::Opened { .. } => None },
        "duration_seconds": match e.change { Change::Closed { duration_seconds, .. } => Some(duration_seconds), Change::Opened { .. } => None },
        "subject": subject(e, lang),
        "text": body(e, lang, tz),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Incident {
        Incident {
            kind: "link".into(),
            id: "pc-gz".into(),
            name: "省-广州".into(),
            host: String::new(),
            department: String::new(),
            datacenter: String::new(),
            level: "province-city".into(),
            domain: "administrative".into(),
            since_ms: Some(1_767_225_600_000),
            hidden_hosts: vec!["web-01".into(), "db-01".into()],
            hidden_links: vec!["cc-gz-hd".into()],
        }
    }

    #[test]
    fn an_opened_link_names_its_root_cause_and_what_it_hides_in_both_languages() {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let e = Event {
            seq: 7,
            at_ms: 1_767_225_720_000,
            change: Change::Opened { incident: link() },
        };
        assert_eq!(
            subject(&e, "zh-CN"),
            "[zerofault] 故障: 链路 pc-gz (省-广州) 中断"
        );
        assert_eq!(
            subject(&e, "en"),
            "[zerofault] incident: link pc-gz (省-广州) down"
        );
        let zh = body(&e, "zh-CN", &tz);
        assert!(zh.contains("开始: 2026-01-01 08:00:00 CST"), "{zh}");
        assert!(
            zh.contains("受其影响的主机(根因为本链路, 不单独告警) (2): web-01, db-01"),
            "{zh}"
        );
        assert!(zh.contains("受其影响的链路 (1): cc-gz-hd"), "{zh}");
        let en = body(&e, "en", &tz);
        assert!(
            en.contains(
                "Hosts behind it (root cause: this link; not alerted separately) (2): web-01, db-01"
            ),
            "{en}"
        );
        let json = webhook_json(&e, "en", &tz);
        assert_eq!(json["event"], "opened");
        assert_eq!(json["incident"]["hidden_hosts"][1], "db-01");
        assert_eq!(json["duration_seconds"], serde_json::Value::Null);
    }

    #[test]
    fn a_closed_incident_says_how_long_it_lasted() {
        let tz = TimeZone::UTC;
        let e = Event {
            seq: 8,
            at_ms: 0,
            change: Change::Closed {
                incident: link(),
                ended_ms: 1_767_229_325_000,
                duration_seconds: 3725,
            },
        };
        assert_eq!(
            subject(&e, "en"),
            "[zerofault] resolved: link pc-gz (省-广州) (lasted 1 h 2 min 5 s)"
        );
        assert_eq!(
            subject(&e, "zh-CN"),
            "[zerofault] 恢复: 链路 pc-gz (省-广州) (持续 1 小时 2 分 5 秒)"
        );
        assert!(body(&e, "en", &tz).contains("Resolved: 2026-01-01 01:02:05 UTC"));
        assert_eq!(webhook_json(&e, "en", &tz)["duration_seconds"], 3725);
    }
}
