//! The `links` settings: link states, hysteresis, degraded thresholds per backbone level,
//! the fault threshold and the start-up replay (`docs/links.md`). Declared here, next to the
//! engine that uses them; `crate::config` only includes them.

use std::time::Duration;

use serde::Deserialize;

use zerofault_common::duration::format_duration;

/// Default minimum length of a link-level down period for it to be a fault (the brief's
/// "zero-fault backbone" definition).
pub const DEFAULT_FAULT_MIN: Duration = Duration::from_secs(60);
/// Default loss ratio at which a window is down: every probe lost.
pub const DEFAULT_DOWN_LOSS_RATIO: f64 = 1.0;
/// Default run of consecutive lost probes that makes a vantage point down: three, so one or
/// two lost packets never flap a link.
pub const DEFAULT_DOWN_CONFIRM_PROBES: u32 = 3;
/// Default run of consecutive successful probes that ends a down period: two, so a single
/// answer in the middle of an outage does not split it into two faults.
pub const DEFAULT_UP_CONFIRM_PROBES: u32 = 2;
/// Largest accepted `down_confirm_probes` / `up_confirm_probes`; at 1 probe per second more
/// would hide outages of several minutes.
pub const MAX_CONFIRM_PROBES: u32 = 1000;
/// Default degraded loss ratio (2%), where interactive traffic such as video conferences
/// starts to suffer.
pub const DEFAULT_DEGRADED_LOSS_RATIO: f64 = 0.02;
/// Default degraded mean RTT.
pub const DEFAULT_DEGRADED_RTT: Duration = Duration::from_millis(100);
/// Default replay horizon at start-up.
pub const DEFAULT_REPLAY: Duration = Duration::from_secs(48 * 3600);

/// Link states, hysteresis and faults (`links.*`); the model is described in `docs/links.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Links {
    /// A link-level down period lasting at least this long is a fault (shorter ones are
    /// down-time but not faults).
    #[serde(
        default = "default_fault_min",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub fault_min: Duration,
    /// A window whose loss ratio reaches this (with at least `down_confirm_probes` probes
    /// sent) is in state `down`; 1.0 means every probe of the window was lost.
    #[serde(default = "default_down_loss_ratio")]
    pub down_loss_ratio: f64,
    /// Consecutive lost probes needed before a vantage point counts as down; a shorter run
    /// never makes a link down, so a lost packet or two cannot flap it.
    #[serde(default = "default_down_confirm_probes")]
    pub down_confirm_probes: u32,
    /// Consecutive successful probes needed to end a down period; the period ends at the
    /// send time of the first of them.
    #[serde(default = "default_up_confirm_probes")]
    pub up_confirm_probes: u32,
    /// Degraded thresholds per backbone level.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// How far back the link engine is rebuilt from stored reports at start-up, so an
    /// outage in progress survives a collector restart. `0s` disables the replay.
    #[serde(
        default = "default_replay",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub replay: Duration,
}

impl Default for Links {
    fn default() -> Self {
        Self {
            fault_min: DEFAULT_FAULT_MIN,
            down_loss_ratio: DEFAULT_DOWN_LOSS_RATIO,
            down_confirm_probes: DEFAULT_DOWN_CONFIRM_PROBES,
            up_confirm_probes: DEFAULT_UP_CONFIRM_PROBES,
            thresholds: Thresholds::default(),
            replay: DEFAULT_REPLAY,
        }
    }
}

fn default_fault_min() -> Duration {
    DEFAULT_FAULT_MIN
}
fn default_down_loss_ratio() -> f64 {
    DEFAULT_DOWN_LOSS_RATIO
}
fn default_down_confirm_probes() -> u32 {
    DEFAULT_DOWN_CONFIRM_PROBES
}
fn default_up_confirm_probes() -> u32 {
    DEFAULT_UP_CONFIRM_PROBES
}
fn default_replay() -> Duration {
    DEFAULT_REPLAY
}

/// Degraded thresholds (`links.thresholds.*`): `default` and one optional entry per backbone
/// level (`zerofault_protocol::LINK_LEVELS`). A level entry may set one field only; what it
/// leaves out comes from `default`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Used for links without a level and for whatever a level entry leaves out.
    #[serde(default)]
    pub default: LevelThresholds,
    /// Province to city backbone.
    #[serde(default, rename = "province-city")]
    pub province_city: LevelOverride,
    /// City to county backbone.
    #[serde(default, rename = "city-county")]
    pub city_county: LevelOverride,
    /// County to township backbone.
    #[serde(default, rename = "county-township")]
    pub county_township: LevelOverride,
    /// Access links of connected units.
    #[serde(default)]
    pub access: LevelOverride,
}

/// Complete degraded thresholds of one level.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelThresholds {
    /// A window with at least this loss ratio is degraded.
    #[serde(default = "default_degraded_loss_ratio")]
    pub degraded_loss_ratio: f64,
    /// A window whose mean RTT is at least this is degraded.
    #[serde(
        default = "default_degraded_rtt",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub degraded_rtt: Duration,
}

impl Default for LevelThresholds {
    fn default() -> Self {
        Self {
            degraded_loss_ratio: DEFAULT_DEGRADED_LOSS_RATIO,
            degraded_rtt: DEFAULT_DEGRADED_RTT,
        }
    }
}

fn default_degraded_loss_ratio() -> f64 {
    DEFAULT_DEGRADED_LOSS_RATIO
}
fn default_degraded_rtt() -> Duration {
    DEFAULT_DEGRADED_RTT
}

/// A level's entry: each field falls back to `links.thresholds.default`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelOverride {
    /// See [`LevelThresholds::degraded_loss_ratio`].
    #[serde(default)]
    pub degraded_loss_ratio: Option<f64>,
    /// See [`LevelThresholds::degraded_rtt`].
    #[serde(
        default,
        deserialize_with = "zerofault_common::duration::deserialize_option"
    )]
    pub degraded_rtt: Option<Duration>,
}

/// Config keys of the threshold entries, for messages: (level, loss key, rtt key).
const THRESHOLD_KEYS: [(&str, &str, &str); 4] = [
    (
        "province-city",
        "links.thresholds.province-city.degraded_loss_ratio",
        "links.thresholds.province-city.degraded_rtt",
    ),
    (
        "city-county",
        "links.thresholds.city-county.degraded_loss_ratio",
        "links.thresholds.city-county.degraded_rtt",
    ),
    (
        "county-township",
        "links.thresholds.county-township.degraded_loss_ratio",
        "links.thresholds.county-township.degraded_rtt",
    ),
    (
        "access",
        "links.thresholds.access.degraded_loss_ratio",
        "links.thresholds.access.degraded_rtt",
    ),
];

impl Thresholds {
    fn entry(&self, level: &str) -> Option<&LevelOverride> {
        match level {
            "province-city" => Some(&self.province_city),
            "city-county" => Some(&self.city_county),
            "county-township" => Some(&self.county_township),
            "access" => Some(&self.access),
            _ => None,
        }
    }

    /// The thresholds of `level` (a `LINK_LEVELS` value; anything else, including the empty
    /// level, gets `default`).
    pub fn for_level(&self, level: &str) -> LevelThresholds {
        let d = self.default;
        match self.entry(level) {
            Some(o) => LevelThresholds {
                degraded_loss_ratio: o.degraded_loss_ratio.unwrap_or(d.degraded_loss_ratio),
                degraded_rtt: o.degraded_rtt.unwrap_or(d.degraded_rtt),
            },
            None => d,
        }
    }
}

impl Links {
    /// Every wrong value, each as (dotted key, message).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.fault_min.is_zero() {
            problem(
                "links.fault_min",
                format!(
                    "0s would make every down period a fault; use at least 1s (default {})",
                    format_duration(DEFAULT_FAULT_MIN)
                ),
            );
        }
        if !(self.down_loss_ratio > 0.0 && self.down_loss_ratio <= 1.0) {
            problem(
                "links.down_loss_ratio",
                format!(
                    "{} is outside (0, 1]; it is a share of the window's probes, e.g. 1.0 for all lost (default {DEFAULT_DOWN_LOSS_RATIO})",
                    self.down_loss_ratio
                ),
            );
        }
        for (key, v, default) in [
            (
                "links.down_confirm_probes",
                self.down_confirm_probes,
                DEFAULT_DOWN_CONFIRM_PROBES,
            ),
            (
                "links.up_confirm_probes",
                self.up_confirm_probes,
                DEFAULT_UP_CONFIRM_PROBES,
            ),
        ] {
            if v == 0 || v > MAX_CONFIRM_PROBES {
                problem(
                    key,
                    format!(
                        "{v} is outside 1..={MAX_CONFIRM_PROBES}; a count of consecutive probes (default {default})"
                    ),
                );
            }
        }
        let mut check = |loss_key: &'static str,
                         rtt_key: &'static str,
                         loss: Option<f64>,
                         rtt: Option<Duration>| {
            if let Some(loss) = loss
                && !(0.0..=1.0).contains(&loss)
            {
                problem(
                    loss_key,
                    format!(
                        "{loss} is outside 0..=1; it is a share of the window's probes, e.g. 0.02 for 2% (default {DEFAULT_DEGRADED_LOSS_RATIO})"
                    ),
                );
            } else if let Some(loss) = loss
                && loss >= self.down_loss_ratio
            {
                problem(
                    loss_key,
                    format!(
                        "{loss} is not below links.down_loss_ratio = {}; a window would be down before it is degraded",
                        self.down_loss_ratio
                    ),
                );
            }
            if rtt.is_some_and(|r| r.is_zero()) {
                problem(
                    rtt_key,
                    format!(
                        "0s would make every window degraded; use e.g. {}",
                        format_duration(DEFAULT_DEGRADED_RTT)
                    ),
                );
            }
        };
        let d = self.thresholds.default;
        check(
            "links.thresholds.default.degraded_loss_ratio",
            "links.thresholds.default.degraded_rtt",
            Some(d.degraded_loss_ratio),
            Some(d.degraded_rtt),
        );
        for (level, loss_key, rtt_key) in THRESHOLD_KEYS {
            let o = self.thresholds.entry(level).copied().unwrap_or_default();
            check(loss_key, rtt_key, o.degraded_loss_ratio, o.degraded_rtt);
        }
    }
}
