//! Small pieces the agent and the collector share, so that an operator writes a duration the
//! same way in both config files and both sides read the clock the same way.
#![forbid(unsafe_code)]

pub mod assets;
pub mod duration;
pub mod yaml;

/// The subject common name of a DER certificate; `None` when it has none or does not parse.
/// The collector uses it as the verified agent identity; the agent's `validate` compares it
/// with `agent.id`, so a mismatch is caught before every report is refused with 403.
pub fn certificate_common_name(der: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = parsed.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// Wall-clock time in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
