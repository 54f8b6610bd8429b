//! `cockpit.*`: the operations center's pages on the plain-HTTP listener.

use std::time::Duration;

use serde::Deserialize;

/// Default time between two refreshes of a page in kiosk mode.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
/// Shortest refresh: the overview of a province takes a few milliseconds to build, but a
/// wall of screens refreshing every second would still be load for nothing.
pub const MIN_REFRESH: Duration = Duration::from_secs(5);
/// Shortest `silent_after`: shorter would call a host silent before it could be seen down.
pub const MIN_SILENT_AFTER: Duration = Duration::from_secs(10);
/// Default silence after which a host that stopped reporting is "silent" rather than "down".
pub const DEFAULT_SILENT_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `cockpit.*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cockpit {
    /// Serve the cockpit pages (`/`, `/host/..`, `/link/..`, ...). Default `true`.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Language of a page that does not ask for one (`?lang=`): `zh-CN` (default) or `en`.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// Time between two refreshes of a page (its content only, never a full reload).
    /// At least `5s`; default `30s`.
    #[serde(
        default = "default_refresh",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub refresh: Duration,
    /// A host that stopped reporting is "down" for this long, then "silent": an agent
    /// silent for a day is more likely removed or broken than an outage in progress, and
    /// it moves from the incidents to the delivery panel. Default `24h`.
    #[serde(
        default = "default_silent_after",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub silent_after: Duration,
}

fn default_enabled() -> bool {
    true
}
fn default_lang() -> String {
    "zh-CN".into()
}
fn default_refresh() -> Duration {
    DEFAULT_REFRESH
}
fn default_silent_after() -> Duration {
    DEFAULT_SILENT_AFTER
}

impl Default for Cockpit {
    fn default() -> Self {
        Cockpit {
            enabled: default_enabled(),
            lang: default_lang(),
            refresh: DEFAULT_REFRESH,
            silent_after: DEFAULT_SILENT_AFTER,
        }
    }
}

impl Cockpit {
    /// Every problem, by dotted key.
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.refresh < MIN_REFRESH {
            problem(
                "cockpit.refresh",
                "is shorter than 5s; use 5s or more (default 30s)".into(),
            );
        }
        if self.silent_after < MIN_SILENT_AFTER {
            problem(
                "cockpit.silent_after",
                "is shorter than 10s; a host is silent after it was down for a while: use 10s or more (default 24h)".into(),
            );
        }
        if !matches!(self.lang.as_str(), "en" | "zh-CN") {
            problem(
                "cockpit.lang",
                format!("{:?} is not a cockpit language; use zh-CN or en", self.lang),
            );
        }
    }
}
