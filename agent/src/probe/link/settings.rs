//! The link probes' settings: the `probes:` list of the config file (one target each),
//! checked into the [`ProbeSpec`]s the scheduler runs.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use zerofault_common::duration::format_duration;
use zerofault_common::pem::load_certs;
use zerofault_protocol::{LINK_DOMAINS, LINK_LEVELS, is_valid_agent_id};

use super::contract::{ProbeSpec, default_timeout};
use super::kind::LinkKind;
use super::target::{Target, parse_target};
use crate::checks::Checks;

/// Shortest probe `interval` (100 packets/s per target).
pub const MIN_PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Default probe `interval`.
pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest probe `timeout`.
pub const MAX_PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// Most probe targets per agent (`Limits::max_links` of the protocol).
pub const MAX_PROBES: usize = 4096;
/// Most probes of one target in one report window (`interval` / probe `interval`): bounds
/// the memory of a window's outcomes.
pub const MAX_PROBES_PER_WINDOW: u128 = 100_000;

/// One entry of `probes:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeSection {
    /// Link id (the collector inventory's), `[A-Za-z0-9._-]{1,128}`. Required.
    #[serde(default)]
    pub link: String,
    /// `icmp`, `tcp` or `http`. Required.
    #[serde(default)]
    pub kind: String,
    /// icmp: address or host name; tcp: `host:port` or `[v6]:port`; http: URL. Required.
    #[serde(default)]
    pub target: String,
    /// Time between probes (packet interval), 10ms up to the report `interval`; default 1s.
    #[serde(default)]
    pub interval: Option<String>,
    /// Time after which an unanswered probe is lost; default the interval, at most 1s.
    #[serde(default)]
    pub timeout: Option<String>,
    /// Backbone level: province-city, city-county, county-township or access.
    #[serde(default)]
    pub level: Option<String>,
    /// Network domain: administrative or public.
    #[serde(default)]
    pub domain: Option<String>,
    /// https only: PEM file of the CA the target's certificate chains to (trusted besides
    /// the agent's `tls.ca`).
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// Checks the `probes:` list; every problem is named `probes[i].key`.
pub fn check_probes(
    checks: &mut Checks,
    sections: Vec<ProbeSection>,
    report_interval: Duration,
    agent_ca: &Path,
) -> Vec<ProbeSpec> {
    if sections.len() > MAX_PROBES {
        checks.push(
            "probes",
            format!(
                "has {} entries; at most {MAX_PROBES} targets per agent (spread them over several agents)",
                sections.len()
            ),
        );
        return Vec::new();
    }
    let mut out = Vec::with_capacity(sections.len());
    // (link, kind) -> index of its first entry.
    let mut seen: HashMap<(String, LinkKind), usize> = HashMap::new();
    for (i, p) in sections.into_iter().enumerate() {
        let key = |k: &str| format!("probes[{i}].{k}");
        let before = checks.count();

        let link = p.link.trim().to_owned();
        if link.is_empty() {
            checks.push(
                key("link"),
                "is required; set the link id from the collector's inventory, e.g. gz-huadu-01",
            );
        } else if !is_valid_agent_id(&link) {
            checks.push(
                key("link"),
                format!(
                    "{link:?} is not a valid link id; use 1 to 128 ASCII letters, digits, '.', '_' or '-'"
                ),
            );
        }

        let kind = match p.kind.trim() {
            "" => {
                checks.push(key("kind"), "is required; use icmp, tcp or http");
                None
            }
            k => match LinkKind::parse(k) {
                Some(k) => Some(k),
                None => {
                    checks.push(
                        key("kind"),
                        format!("{k:?} is not a probe kind; use icmp, tcp or http"),
                    );
                    None
                }
            },
        };

        let target = kind.and_then(|k| match parse_target(k, &p.target) {
            Ok(t) => Some(t),
            Err(message) => {
                checks.push(key("target"), message);
                None
            }
        });

        let interval = match &p.interval {
            None => DEFAULT_PROBE_INTERVAL.min(report_interval),
            Some(v) => checks.duration(key("interval"), v, MIN_PROBE_INTERVAL, report_interval),
        };
        if report_interval.as_nanos() / interval.as_nanos().max(1) > MAX_PROBES_PER_WINDOW {
            checks.push(
                key("interval"),
                format!(
                    "{} with a report interval of {} is more than {MAX_PROBES_PER_WINDOW} probes per report; use a longer probe interval or a shorter report interval",
                    format_duration(interval),
                    format_duration(report_interval)
                ),
            );
        }
        let timeout = match &p.timeout {
            None => default_timeout(interval),
            Some(v) => checks.duration(
                key("timeout"),
                v,
                Duration::from_millis(1),
                MAX_PROBE_TIMEOUT,
            ),
        };

        let mut one_of = |k: &str, value: Option<String>, allowed: &[&str]| -> String {
            let v = value.unwrap_or_default().trim().to_owned();
            if !v.is_empty() && !allowed.contains(&v.as_str()) {
                checks.push(
                    key(k),
                    format!(
                        "{v:?} is not one of {}; remove the key or use one of them",
                        allowed.join(", ")
                    ),
                );
            }
            v
        };
        let level = one_of("level", p.level, &LINK_LEVELS);
        let domain = one_of("domain", p.domain, &LINK_DOMAINS);

        let https = matches!(&target, Some(Target::Http(u)) if u.scheme() == "https");
        let mut trusted_cas = Vec::new();
        if let Some(ca) = &p.ca {
            if !https {
                checks.push(
                    key("ca"),
                    "is only used by https targets (kind: http, target https://...); remove it",
                );
            } else if ca.as_os_str().is_empty() {
                checks.push(
                    key("ca"),
                    "is empty; give the path of the PEM file of the target's CA, or remove the key to trust only tls.ca",
                );
            } else {
                let ca = checks.resolve(ca);
                if checks.files()
                    && let Err(e) = load_certs("ca", &ca)
                {
                    checks.push(key("ca"), e.to_string());
                }
                trusted_cas.push(ca);
            }
        }
        if https {
            // Closed networks have no public roots: the agent's own CA is trusted by default
            // (targets inside the platform usually share the platform's PKI).
            trusted_cas.push(agent_ca.to_owned());
        }

        if let Some(k) = kind
            && !link.is_empty()
        {
            match seen.entry((link.clone(), k)) {
                Entry::Occupied(first) => checks.push(
                    key("link"),
                    format!(
                        "link {link:?} already has a probe of kind {k} at probes[{}]; give each link one probe per kind (remove one, or use another link id)",
                        first.get()
                    ),
                ),
                Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }

        if checks.count() == before
            && let (Some(kind), Some(target)) = (kind, target)
        {
            out.push(ProbeSpec {
                link,
                kind,
                target_text: p.target.trim().to_owned(),
                target,
                interval,
                timeout,
                level,
                domain,
                trusted_cas,
            });
        }
    }
    // Each window's loss runs go into one report, and the collector refuses a report with
    // more than the protocol allows; at worst every other probe is lost, a run each.
    let worst_runs: u128 = out
        .iter()
        .map(|p| (report_interval.as_nanos() / p.interval.as_nanos().max(1)).div_ceil(2))
        .sum();
    let max_runs = zerofault_protocol::Limits::default().max_loss_runs as u128;
    if worst_runs > max_runs {
        checks.push(
            "probes",
            format!(
                "these targets at their probe intervals could lose every other probe in {worst_runs} runs per report, and a report may carry at most {max_runs}; use longer probe intervals, a shorter report interval or fewer targets"
            ),
        );
    }
    out
}
