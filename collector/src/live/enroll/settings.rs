//! `enrollment.*`: whether this collector signs enrollment and renewal requests, with which
//! CA, and for how long (`docs/security.md`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use zerofault_common::duration::format_duration;

/// Default of `enrollment.certificate_validity`.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(90 * 86_400);

/// `enrollment.*`. Without this section, `/api/v1/enroll` and `/api/v1/renew` answer 404.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    /// Directory of the CA that signs agents' certificates (`ca.pem` and `ca.key`, as
    /// `zerofault-collector certs --dir` makes them); readable by the collector's user only.
    pub ca_dir: PathBuf,
    /// Validity of the certificates issued by enrollment and renewal. Default `90d`; agents
    /// renew before the end (their `tls.renew_before`).
    #[serde(
        default = "default_validity",
        deserialize_with = "zerofault_common::duration::deserialize"
    )]
    pub certificate_validity: Duration,
}

fn default_validity() -> Duration {
    DEFAULT_VALIDITY
}

impl Enrollment {
    /// Every wrong value, each as (dotted key, message).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        let v = self.certificate_validity;
        // Seconds are allowed for drills and tests of renewal; agents renew two thirds in.
        if v < Duration::from_secs(10) || v > Duration::from_secs(3650 * 86_400) {
            problem(
                "enrollment.certificate_validity",
                format!(
                    "{} is outside 10s..=3650d (default {})",
                    format_duration(v),
                    format_duration(DEFAULT_VALIDITY)
                ),
            );
        }
        if self.ca_dir.as_os_str().is_empty() {
            problem(
                "enrollment.ca_dir",
                "is empty; give the directory holding ca.pem and ca.key".into(),
            );
        }
    }
}
