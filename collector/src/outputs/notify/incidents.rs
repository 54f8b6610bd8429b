//! Which incidents opened and closed: pure. Each tick hands the open incidents of the
//! present (`live::now`: root causes only, hosts in maintenance or behind a planned outage
//! none) to [`Tracker::step`], which answers the events to send.
//!
//! Rules: an incident is announced (`opened`) once it has been open for `open_after` (a
//! shorter flap sends nothing, neither opened nor closed); an announced incident that is no
//! longer open is `closed`, with its duration. What it hides (hosts and links behind a down
//! link) is named as of the announcement, and again at the close.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::inventory::{Inventory, Named};
use crate::live::now::Now;

/// One incident, as the messages name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// `link` or `host`.
    pub kind: String,
    /// Link id or agent id.
    pub id: String,
    /// The inventory's name in the message language ("" when it has none).
    pub name: String,
    /// Host: its host name; link: "".
    pub host: String,
    /// Host: department code; link: "".
    pub department: String,
    /// Host: data center code; link: "".
    pub datacenter: String,
    /// Link: backbone level; host: "".
    pub level: String,
    /// Link: domain; host: "".
    pub domain: String,
    /// Start (link: its fault's start; host: its last report), Unix ms; `None` when unknown.
    pub since_ms: Option<i64>,
    /// Agent ids of the hosts not reporting behind it (links only).
    pub hidden_hosts: Vec<String>,
    /// Link ids of the down links behind it.
    pub hidden_links: Vec<String>,
}

/// What happened to an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Change {
    /// Open for `open_after`: announced.
    Opened {
        /// The incident.
        incident: Incident,
    },
    /// No longer open.
    Closed {
        /// The incident, as last seen.
        incident: Incident,
        /// When it was seen closed (collector clock), Unix ms.
        ended_ms: i64,
        /// `ended_ms - since` (or since first seen), seconds.
        duration_seconds: i64,
    },
}

/// The open incidents of `now`, named from `inventory` in `lang`.
pub fn of_now(now: &Now, inventory: &Inventory, lang: &str) -> Vec<Incident> {
    let hosts: BTreeMap<&str, &crate::live::now::HostNow> =
        now.hosts.iter().map(|h| (h.agent.as_str(), h)).collect();
    let links: BTreeMap<&str, &crate::live::now::LinkNow> =
        now.links.iter().map(|l| (l.id.as_str(), l)).collect();
    now.incidents
        .iter()
        .map(|i| {
            if i.is_link {
                let l = links.get(i.id.as_str());
                Incident {
                    kind: "link".into(),
                    id: i.id.clone(),
                    name: inventory
                        .link(&i.id)
                        .map(|x| x.name(lang).to_owned())
                        .unwrap_or_default(),
                    host: String::new(),
                    department: String::new(),
                    datacenter: String::new(),
                    level: l.map(|l| l.level.clone()).unwrap_or_default(),
                    domain: l.map(|l| l.domain.clone()).unwrap_or_default(),
                    since_ms: i.since_ms,
                    hidden_hosts: i.hidden_hosts.clone(),
                    hidden_links: i.hidden_links.clone(),
                }
            } else {
                let h = hosts.get(i.id.as_str());
                Incident {
                    kind: "host".into(),
                    id: i.id.clone(),
                    name: String::new(),
                    host: h.map(|h| h.hostname.clone()).unwrap_or_default(),
                    department: h.map(|h| h.department.clone()).unwrap_or_default(),
                    datacenter: h.map(|h| h.data_center.clone()).unwrap_or_default(),
                    level: String::new(),
                    domain: String::new(),
                    since_ms: i.since_ms,
                    hidden_hosts: Vec::new(),
                    hidden_links: Vec::new(),
                }
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Tracked {
    first_seen_ms: i64,
    announced: bool,
    incident: Incident,
}

/// The incidents seen open, between ticks.
#[derive(Debug, Default)]
pub struct Tracker {
    open: BTreeMap<(String, String), Tracked>,
}

impl Tracker {
    /// The events of one tick: `open` are the incidents open at `now_ms`; `still_down`
    /// (kind, id) are items no longer incidents of their own but not back either (a host
    /// silent for longer than `cockpit.silent_after`, or now behind a down link; a link now
    /// behind another): one that was announced is not closed while it stays there.
    pub fn step(
        &mut self,
        open: Vec<Incident>,
        still_down: &std::collections::BTreeSet<(String, String)>,
        now_ms: i64,
        open_after_ms: i64,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for incident in open {
            let key = (incident.kind.clone(), incident.id.clone());
            seen.insert(key.clone());
            let t = self.open.entry(key).or_insert_with(|| Tracked {
                first_seen_ms: now_ms,
                announced: false,
                incident: incident.clone(),
            });
            t.incident = incident;
            // Open for long enough as this collector saw it (after a restart, an incident
            // still open is announced again once it has been seen that long).
            if !t.announced && now_ms - t.first_seen_ms >= open_after_ms {
                t.announced = true;
                out.push(Change::Opened {
                    incident: t.incident.clone(),
                });
            }
        }
        let gone: Vec<(String, String)> = self
            .open
            .keys()
            .filter(|k| !seen.contains(*k) && !still_down.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            let t = self.open.remove(&key).expect("listed");
            if t.announced {
                let since = t.incident.since_ms.unwrap_or(t.first_seen_ms);
                out.push(Change::Closed {
                    duration_seconds: (now_ms - since).max(0) / 1000,
                    incident: t.incident,
                    ended_ms: now_ms,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, since_ms: i64) -> Incident {
        Incident {
            kind: "host".into(),
            id: id.into(),
            name: String::new(),
            host: format!("{id}.example"),
            department: "d1".into(),
            datacenter: "dc1".into(),
            level: String::new(),
            domain: String::new(),
            since_ms: Some(since_ms),
            hidden_hosts: Vec::new(),
            hidden_links: Vec::new(),
        }
    }

    #[test]
    fn announced_after_open_after_closed_with_its_duration_and_a_flap_says_nothing() {
        let mut t = Tracker::default();
        let none = std::collections::BTreeSet::new();
        let after = 120_000;
        // h1 went silent at 0; seen at 30 s: not yet.
        assert!(t.step(vec![host("h1", 0)], &none, 30_000, after).is_empty());
        // A flap: h2 open at 40 s, gone at 50 s: nothing, ever.
        assert!(
            t.step(
                vec![host("h1", 0), host("h2", 40_000)],
                &none,
                40_000,
                after
            )
            .is_empty()
        );
        assert!(t.step(vec![host("h1", 0)], &none, 50_000, after).is_empty());
        // h1 open for 2 minutes by 150 s (seen at 30 s, so announced 2 minutes after that).
        let events = t.step(vec![host("h1", 0)], &none, 150_000, after);
        assert_eq!(
            events,
            [Change::Opened {
                incident: host("h1", 0)
            }]
        );
        // Nothing new while it stays open.
        assert!(
            t.step(vec![host("h1", 0)], &none, 160_000, after)
                .is_empty()
        );
        // Silent now (or behind a down link): still down, not closed.
        let silent: std::collections::BTreeSet<(String, String)> =
            [("host".to_string(), "h1".to_string())].into();
        assert!(t.step(Vec::new(), &silent, 180_000, after).is_empty());
        let events = t.step(Vec::new(), &none, 200_000, after);
        assert_eq!(
            events,
            [Change::Closed {
                incident: host("h1", 0),
                ended_ms: 200_000,
                duration_seconds: 200
            }]
        );
        assert!(t.step(Vec::new(), &none, 210_000, after).is_empty());
    }

    #[test]
    fn with_open_after_zero_an_incident_is_announced_at_once() {
        let mut t = Tracker::default();
        assert_eq!(
            t.step(vec![host("h1", 5)], &Default::default(), 10, 0)
                .len(),
            1
        );
    }
}
