//! Small pieces the agent and the collector share, so that an operator writes a duration the
//! same way in both config files and both sides read the clock the same way.
#![forbid(unsafe_code)]

pub mod duration;

/// Wall-clock time in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
