//! The settings of what every report says about its agent: the `agent:` section (identity
//! and local state), the `labels:` section and the collection `interval`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use zerofault_protocol::{Labels, is_valid_agent_id};

use crate::checks::Checks;

/// Shortest accepted `interval`: below a second the agent would cost more than it measures.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest accepted `interval`: the protocol's limit (one day).
pub const MAX_INTERVAL: Duration =
    Duration::from_millis(zerofault_protocol::MAX_INTERVAL_MS as u64);
/// Longest label value the collector accepts (see `Report::validate`).
pub const MAX_LABEL_BYTES: usize = 128;

/// `agent:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSection {
    /// Agent id, `[A-Za-z0-9._-]{1,128}`; must equal the common name of the client
    /// certificate. Required.
    #[serde(default)]
    pub id: String,
    /// Directory for the agent's state (the persisted report sequence number).
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

impl Default for AgentSection {
    fn default() -> Self {
        Self {
            id: String::new(),
            state_dir: default_state_dir(),
        }
    }
}

/// `labels:` section; every label is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelsSection {
    /// Department (单位/部门) code.
    #[serde(default)]
    pub department: String,
    /// Business system (业务系统) code.
    #[serde(default)]
    pub business_system: String,
    /// Data center code.
    #[serde(default)]
    pub datacenter: String,
    /// Network site code.
    #[serde(default)]
    pub site: String,
}

/// The default collection `interval`.
pub fn default_interval() -> String {
    "15s".to_owned()
}

/// The default `agent.state_dir`.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/zerofault/agent")
}

impl AgentSection {
    /// Checks the id and resolves the state directory: `(id, state_dir)`.
    pub fn check(&self, checks: &mut Checks) -> (String, PathBuf) {
        let id = self.id.trim().to_owned();
        if id.is_empty() {
            checks.push(
                "agent.id",
                "is required; set it to this agent's id, the common name of its certificate (e.g. web-01)",
            );
        } else if !is_valid_agent_id(&id) {
            checks.push(
                "agent.id",
                format!(
                    "{id:?} is not a valid id; use 1 to 128 ASCII letters, digits, '.', '_' or '-'"
                ),
            );
        }

        if self.state_dir.as_os_str().is_empty() {
            checks.push(
                "agent.state_dir",
                "is empty; remove the key for the default /var/lib/zerofault/agent or name a directory",
            );
        }
        (id, checks.resolve(&self.state_dir))
    }
}

impl LabelsSection {
    /// Checks the length of every label: the labels as sent in every report.
    pub fn check(self, checks: &mut Checks) -> Labels {
        let labels = Labels {
            department: self.department,
            business_system: self.business_system,
            datacenter: self.datacenter,
            site: self.site,
        };
        for (key, value) in [
            ("labels.department", &labels.department),
            ("labels.business_system", &labels.business_system),
            ("labels.datacenter", &labels.datacenter),
            ("labels.site", &labels.site),
        ] {
            if value.len() > MAX_LABEL_BYTES {
                checks.push(
                    key,
                    format!(
                        "is {} bytes long; use at most {MAX_LABEL_BYTES} (a code, not a description)",
                        value.len()
                    ),
                );
            }
        }
        labels
    }
}

/// Checks the collection `interval`.
pub fn check_interval(checks: &mut Checks, interval: &str) -> Duration {
    checks.duration("interval", interval, MIN_INTERVAL, MAX_INTERVAL)
}
