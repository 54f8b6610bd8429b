//! A small parser of the Prometheus text exposition format (and the OpenMetrics text that
//! `prometheus-client` writes, which is a superset for the lines parsed here).
//!
//! Tests ask "what is the value of this series": they need samples by name and labels, not a
//! full implementation. What is parsed: sample lines `name{l="v",...} value [timestamp]`
//! with the format's escapes in label values (`\\`, `\"`, `\n`), and `# TYPE` lines.
//! Other comment lines (`# HELP`, `# UNIT`, `# EOF`) are skipped. Anything else that does not
//! parse is an error: a malformed exposition must fail a test, not be half read.

use std::collections::BTreeMap;
use std::fmt;

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name as written on the line (with `_total`, `_bucket` ... suffixes).
    pub name: String,
    /// Labels, sorted by name.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{{", self.name)?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        write!(f, "}} {}", self.value)
    }
}

impl Sample {
    /// Whether every `(name, value)` in `labels` is on this sample (other labels may be too).
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.labels.get(*k).is_some_and(|have| have == v))
    }
}

/// A parsed exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    /// Samples in the order they appeared.
    pub samples: Vec<Sample>,
    /// Metric family name -> type from `# TYPE` lines.
    pub types: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses exposition text; the error names the line that does not parse.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut out = Self::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.split_whitespace();
                if words.next() == Some("TYPE")
                    && let (Some(name), Some(kind)) = (words.next(), words.next())
                {
                    out.types.insert(name.to_string(), kind.to_string());
                }
                continue;
            }
            let sample =
                parse_sample(line).map_err(|e| anyhow::anyhow!("line {}: {e}: {line:?}", i + 1))?;
            out.samples.push(sample);
        }
        Ok(out)
    }

    /// Samples named `name` that carry all of `labels`.
    pub fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| s.name == name && s.has_labels(labels))
    }

    /// The value of the one sample named `name` that carries `labels`. Zero or several
    /// matches are an error that lists the samples of that name, so a wrong label shows.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> anyhow::Result<f64> {
        let found: Vec<&Sample> = self.matching(name, labels).collect();
        match found.as_slice() {
            [one] => Ok(one.value),
            _ => anyhow::bail!(
                "expected exactly one sample {name} with {labels:?}, found {}; samples named \
                 {name}: [{}]",
                found.len(),
                self.describe(name)
            ),
        }
    }

    /// Sum of the samples named `name` that carry `labels` (0 when none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    /// Every sample of `name`, formatted, for error messages.
    pub fn describe(&self, name: &str) -> String {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Splits a leading metric or label name off `s`.
fn take_name(s: &str) -> Result<(&str, &str), String> {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return Err("expected a name".into()),
    }
    let end = chars
        .find(|(_, c)| !is_name_char(*c))
        .map_or(s.len(), |(i, _)| i);
    Ok(s.split_at(end))
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let (name, mut rest) = take_name(line)?;
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = after;
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (label, after) = take_name(rest)?;
            let after = after
                .trim_start()
                .strip_prefix('=')
                .ok_or("expected '=' after a label name")?
                .trim_start();
            let after = after
                .strip_prefix('"')
                .ok_or("expected '\"' to open a label value")?;
            let (value, after) = take_label_value(after)?;
            if labels.insert(label.to_string(), value).is_some() {
                return Err(format!("label {label} appears twice"));
            }
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err("expected ',' or '}' after a label value".into());
            }
        }
    }
    if !rest.starts_with([' ', '\t']) {
        return Err("expected whitespace before the value".into());
    }
    // An OpenMetrics exemplar (` # {...} v`) follows the value; it is not part of the sample.
    let rest = rest.split(" # ").next().unwrap_or_default();
    let mut fields = rest.split_whitespace();
    let value = parse_value(fields.next().ok_or("missing value")?)?;
    if let Some(ts) = fields.next() {
        ts.parse::<f64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the timestamp"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// Reads a label value up to its closing quote, undoing the format's three escapes.
fn take_label_value(s: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                other => return Err(format!("bad escape in label value: {other:?}")),
            },
            c => value.push(c),
        }
    }
    Err("unterminated label value".into())
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP zerofault_host_memory_total_bytes MemTotal.
# TYPE zerofault_host_memory_total_bytes gauge
zerofault_host_memory_total_bytes{agent="a",department="d1"} 1073741824
zerofault_host_memory_total_bytes{agent="b",department="d2"} 2.5e9
# TYPE zerofault_collector_reports_rejected counter
zerofault_collector_reports_rejected_total{reason="agent_id_mismatch"} 1
zerofault_collector_reports_rejected_total{reason="no_client_certificate"} 0 1700000000000
odd{path="C:\\dir",quote="say \"hi\"",nl="a\nb",} NaN
plain 42
inf_metric +Inf
# EOF
"#;

    #[test]
    fn parses_names_labels_values_and_types() {
        let e = Exposition::parse(TEXT).unwrap();
        assert_eq!(e.samples.len(), 7);
        assert_eq!(
            e.get("zerofault_host_memory_total_bytes", &[("agent", "a")])
                .unwrap(),
            1_073_741_824.0
        );
        assert_eq!(
            e.get("zerofault_host_memory_total_bytes", &[("department", "d2")])
                .unwrap(),
            2.5e9
        );
        assert_eq!(e.get("plain", &[]).unwrap(), 42.0);
        assert_eq!(e.get("inf_metric", &[]).unwrap(), f64::INFINITY);
        assert_eq!(
            e.types["zerofault_collector_reports_rejected"],
            "counter".to_string()
        );
        // A timestamp is allowed and is not the value.
        assert_eq!(
            e.get(
                "zerofault_collector_reports_rejected_total",
                &[("reason", "no_client_certificate")]
            )
            .unwrap(),
            0.0
        );
    }

    #[test]
    fn label_value_escapes_are_undone() {
        let e = Exposition::parse(TEXT).unwrap();
        let odd = e.matching("odd", &[]).next().unwrap();
        assert_eq!(odd.labels["path"], r"C:\dir");
        assert_eq!(odd.labels["quote"], r#"say "hi""#);
        assert_eq!(odd.labels["nl"], "a\nb");
        assert!(odd.value.is_nan());
    }

    #[test]
    fn get_wants_exactly_one_match_and_says_what_it_saw() {
        let e = Exposition::parse(TEXT).unwrap();
        let err = e
            .get("zerofault_host_memory_total_bytes", &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("found 2"), "{err}");
        assert!(err.contains(r#"agent="a""#), "{err}");
        let err = e
            .get("zerofault_host_memory_total_bytes", &[("agent", "zz")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("found 0"), "{err}");
        // A name that is a prefix of another is not a match.
        assert!(e.get("zerofault_host_memory_total", &[]).is_err());
    }

    #[test]
    fn sum_adds_the_matching_samples() {
        let e = Exposition::parse(TEXT).unwrap();
        assert_eq!(
            e.sum("zerofault_host_memory_total_bytes", &[]),
            1_073_741_824.0 + 2.5e9
        );
        assert_eq!(e.sum("nothing", &[]), 0.0);
    }

    #[test]
    fn exemplars_are_ignored() {
        let e = Exposition::parse("c_total 3 # {trace_id=\"x\"} 1.0\n").unwrap();
        assert_eq!(e.get("c_total", &[]).unwrap(), 3.0);
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        for bad in [
            "1metric 1",
            "m{a=\"x} 1",
            "m{a=x} 1",
            "m{a=\"x\" b=\"y\"} 1",
            "m{a=\"1\",a=\"2\"} 1",
            "m 1 2 3",
            "m abc",
            "m",
            "m{a=\"\\t\"} 1",
        ] {
            let err = Exposition::parse(&format!("ok 1\n{bad}\n"))
                .expect_err(bad)
                .to_string();
            assert!(err.starts_with("line 2:"), "{bad}: {err}");
        }
    }
}
