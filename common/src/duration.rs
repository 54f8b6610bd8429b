//! Durations as written in config files and on command lines: an integer and a unit,
//! `500ms`, `15s`, `2m`, `1h`, `48h`, `400d` (retention is counted in days). Kept deliberately small (one number, one unit, no
//! fractions) so that a value reads the same to an operator, the agent and the collector.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string is empty or only whitespace.
    #[error("is empty; write a number and a unit, e.g. 60s")]
    Empty,
    /// The string does not start with a decimal integer.
    #[error("{0:?} does not start with a whole number; write e.g. 60s or 500ms")]
    NoNumber(String),
    /// A number without a unit: ambiguous (seconds? milliseconds?), so refused.
    #[error("{0:?} has no unit; write e.g. {0}s (units: ms, s, m, h, d)")]
    NoUnit(String),
    /// The unit is not one of `ms`, `s`, `m`, `h`, `d`.
    #[error("{value:?} has unknown unit {unit:?}; use ms, s, m, h or d")]
    UnknownUnit {
        /// The whole value.
        value: String,
        /// The unit found.
        unit: String,
    },
    /// The value does not fit in a `Duration`.
    #[error("{0:?} is too large")]
    Overflow(String),
}

/// Parses `"<integer><unit>"` with unit `ms`, `s`, `m`, `h` or `d` (24 h; surrounding
/// whitespace allowed).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(DurationError::NoNumber(s.to_owned()));
    }
    if unit.is_empty() {
        return Err(DurationError::NoUnit(s.to_owned()));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| DurationError::Overflow(s.to_owned()))?;
    let millis_per_unit: u64 = match unit.trim_start() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(DurationError::UnknownUnit {
                value: s.to_owned(),
                unit: other.to_owned(),
            });
        }
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| DurationError::Overflow(s.to_owned()))
}

/// Formats a duration in the largest unit that represents it exactly (the inverse of
/// [`parse_duration`] for whole milliseconds), for messages that suggest a value.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        "0s".to_owned()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    }
}

/// serde adapter: a duration field written as a string with a unit.
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// serde adapter for an optional duration field.
pub fn deserialize_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_refuses_the_rest() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 60s "), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("48h"), Ok(Duration::from_secs(48 * 3600)));
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("60"),
            Err(DurationError::NoUnit(_))
        ));
        assert!(matches!(
            parse_duration("s"),
            Err(DurationError::NoNumber(_))
        ));
        assert_eq!(parse_duration("8d"), Ok(Duration::from_secs(8 * 86_400)));
        assert!(matches!(
            parse_duration("1w"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(60)), "1m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(48 * 3600)), "48h");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
