//! The `metrics` settings: how much per-host detail `/metrics` exposes and what one scrape
//! may cost the collector. Declared here, next to the exposition that follows them;
//! `crate::config` only includes them.

use std::time::Duration;

use serde::Deserialize;

use zerofault_common::duration::format_duration;

/// Default of `metrics.full_detail_max_hosts`. At 2,000 hosts the full exposition is about
/// 0.2 million series (about 80 per host with 4 filesystems and 4 interfaces), which a
/// Prometheus scrapes every 15 s without trouble; a province (10,000 to 50,000 hosts) gets
/// the essential series, 3 to 4 times fewer (`docs/metrics.md`, "Series budget").
pub const DEFAULT_FULL_DETAIL_MAX_HOSTS: u32 = 2_000;
/// Default of `metrics.max_concurrent_scrapes`: an HA pair of Prometheus servers scrapes
/// the collector twice per interval; a third scrape at the same moment is refused.
pub const DEFAULT_MAX_CONCURRENT_SCRAPES: u32 = 2;
/// Default of `metrics.scrape_timeout`: longer than any sane Prometheus `scrape_timeout`
/// (which cannot exceed the scrape interval), so only a client that stopped reading hits it.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest accepted `metrics.max_concurrent_scrapes`: each running scrape holds a snapshot
/// of the host table and its own working set (tens of MiB at 10,000 hosts), so the cap is
/// what bounds the memory of scrapes.
pub const MAX_CONCURRENT_SCRAPES: u32 = 16;

/// How much per-host detail `/metrics` exposes (`metrics.detail`, and the `detail` query
/// parameter of one scrape).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetailSetting {
    /// Full detail while the collector knows at most `full_detail_max_hosts` hosts,
    /// essential above.
    #[default]
    Auto,
    /// Every family, whatever the number of hosts.
    Full,
    /// Only the families alerting on availability, capacity and lost data needs.
    Essential,
}

/// The detail of one scrape, resolved from a [`DetailSetting`] and the number of hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every family.
    Full,
    /// Without the per-interface families, load averages, swap, report interval and the
    /// agents' spool and clock figures (the list is in `docs/metrics.md`).
    Essential,
}

impl DetailSetting {
    /// The names accepted in the configuration and in `?detail=`.
    pub const NAMES: [&'static str; 3] = ["auto", "full", "essential"];

    /// Parses a `?detail=` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "full" => Some(Self::Full),
            "essential" => Some(Self::Essential),
            _ => None,
        }
    }

    /// The detail of a scrape over `hosts` known hosts.
    pub fn resolve(self, hosts: usize, full_detail_max_hosts: u32) -> Detail {
        match self {
            Self::Full => Detail::Full,
            Self::Essential => Detail::Essential,
            Self::Auto if hosts <= full_detail_max_hosts as usize => Detail::Full,
            Self::Auto => Detail::Essential,
        }
    }
}

impl Detail {
    /// Label value of `zerofault_collector_metrics_detail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Detail::Full => "full",
            Detail::Essential => "essential",
        }
    }
}

/// The `/metrics` exposition (`metrics.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// `auto` (default): full detail up to `full_detail_max_hosts` known hosts, essential
    /// above; `full` or `essential` always. A scrape may ask for another with
    /// `/metrics?detail=full|essential|auto`.
    #[serde(default)]
    pub detail: DetailSetting,
    /// Most known hosts for which `detail: auto` exposes full detail.
    #[serde(default = "default_full_detail_max_hosts")]
    pub full_detail_max_hosts: u32,
    /// Most scrapes served at once; a further one is answered 503 with `Retry-After` at
    /// once instead of waiting (each running scrape holds a snapshot of the host table and
    /// its working set).
    #[serde(default = "default_max_concurrent_scrapes")]
    pub max_concurrent_scrapes: u32,
    /// Longest time one scrape may take to be sent; a scraper that reads slower is cut off
    /// (the response ends with an error, never as a shorter exposition that looks whole).
    #[serde(
        default = "default_scrape_timeout",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub scrape_timeout: Duration,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            detail: DetailSetting::default(),
            full_detail_max_hosts: default_full_detail_max_hosts(),
            max_concurrent_scrapes: default_max_concurrent_scrapes(),
            scrape_timeout: default_scrape_timeout(),
        }
    }
}

fn default_full_detail_max_hosts() -> u32 {
    DEFAULT_FULL_DETAIL_MAX_HOSTS
}

fn default_max_concurrent_scrapes() -> u32 {
    DEFAULT_MAX_CONCURRENT_SCRAPES
}

fn default_scrape_timeout() -> Duration {
    DEFAULT_SCRAPE_TIMEOUT
}

impl Metrics {
    /// Every wrong value, each as (dotted key, message).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.max_concurrent_scrapes == 0 || self.max_concurrent_scrapes > MAX_CONCURRENT_SCRAPES
        {
            problem(
                "metrics.max_concurrent_scrapes",
                format!(
                    "{} is out of range; use 1 to {MAX_CONCURRENT_SCRAPES} (default {DEFAULT_MAX_CONCURRENT_SCRAPES})",
                    self.max_concurrent_scrapes
                ),
            );
        }
        if self.scrape_timeout < Duration::from_secs(1) {
            problem(
                "metrics.scrape_timeout",
                format!(
                    "{} is too short to send an exposition; use 1s or more (default {})",
                    format_duration(self.scrape_timeout),
                    format_duration(DEFAULT_SCRAPE_TIMEOUT)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_full_up_to_the_threshold_then_essential() {
        let auto = DetailSetting::Auto;
        assert_eq!(auto.resolve(0, 2_000), Detail::Full);
        assert_eq!(auto.resolve(2_000, 2_000), Detail::Full);
        assert_eq!(auto.resolve(2_001, 2_000), Detail::Essential);
        assert_eq!(auto.resolve(1, 0), Detail::Essential);
        assert_eq!(DetailSetting::Full.resolve(50_000, 2_000), Detail::Full);
        assert_eq!(
            DetailSetting::Essential.resolve(1, 2_000),
            Detail::Essential
        );
    }

    #[test]
    fn query_names_parse_and_nothing_else() {
        for name in DetailSetting::NAMES {
            assert!(DetailSetting::parse(name).is_some(), "{name}");
        }
        for bad in ["", "Full", "FULL", "essential ", "none", "full,essential"] {
            assert_eq!(DetailSetting::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn out_of_range_values_are_named() {
        let mut found = Vec::new();
        Metrics {
            max_concurrent_scrapes: 0,
            scrape_timeout: Duration::from_millis(500),
            ..Metrics::default()
        }
        .problems(&mut |key, message| found.push((key, message)));
        let keys: Vec<_> = found.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            ["metrics.max_concurrent_scrapes", "metrics.scrape_timeout"]
        );
        let mut none = Vec::new();
        Metrics::default().problems(&mut |key, _| none.push(key));
        assert!(none.is_empty(), "{none:?}");
    }
}
