//! One line of an import: read (bounded), parsed as a JSON report and checked by the rule
//! of live ingest ([`crate::live::ingest::accept`]).

use std::io::BufRead;

use zerofault_protocol::Report;

use crate::cmd::import::listening::Evidence;
use crate::live::hosts::RejectReason;
use crate::live::ingest::accept::{ReportRefusal, accept_report};
use crate::store::StoredReport;

/// Longest accepted JSON line, as a multiple of `limits.max_decompressed_bytes`: JSON spells
/// out every field name, so it is several times the protobuf; longer lines are skipped unread.
const LINE_BYTES_PER_PROTOBUF_BYTE: usize = 8;

/// Which receive time an imported report gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceivedTime {
    /// The collector's clock at import (`--received-now`).
    ImportTime,
    /// The report's own `timestamp_unix_ms` (the default; see [`crate::cmd::import`]).
    #[default]
    AgentTimestamp,
}

/// How lines are checked and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Receive time of stored reports.
    pub received: ReceivedTime,
    /// Largest report as protobuf (`limits.max_decompressed_bytes` of the config).
    pub max_decompressed_bytes: usize,
    /// When set, every report's `agent_id` must equal it.
    pub expect_agent: Option<String>,
    /// The input's name, recorded with the listening periods inferred from it.
    pub source: String,
}

impl ImportOptions {
    /// Options with the limits of `config` and the reports' own timestamps as receive time.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            received: ReceivedTime::AgentTimestamp,
            max_decompressed_bytes: crate::live::ingest::IngestLimits::from(config.limits)
                .max_decompressed_bytes,
            expect_agent: None,
            source: "<input>".into(),
        }
    }

    pub(super) fn max_line_bytes(&self) -> usize {
        self.max_decompressed_bytes
            .saturating_mul(LINE_BYTES_PER_PROTOBUF_BYTE)
            .max(1 << 20)
    }
}

/// Why one line was refused. The import goes on with the next line.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line is not JSON, or not JSON of a report (wrong type of a field, for example).
    #[error("not a JSON report: {0}")]
    Json(#[from] serde_json::Error),
    /// The line is only `{`: the input is pretty-printed JSON, one report over many lines.
    #[error(
        "a lone `{{`: this looks like pretty-printed JSON; import wants one report per line (compact it with `jq -c .`)"
    )]
    PrettyPrinted,
    /// The line is too long to be a report within the limits; it was skipped unread.
    #[error("line is longer than {limit} bytes")]
    LineTooLong {
        /// The longest accepted line.
        limit: usize,
    },
    /// The report fails a check of live ingest ([`crate::live::ingest::accept`]).
    #[error("{}", refusal_message(.0))]
    Refused(ReportRefusal),
}

/// A refusal worded for the operator of an import, who gave the expected agent id with
/// `--agent` (live ingest words the same refusals for an agent).
fn refusal_message(refusal: &ReportRefusal) -> String {
    match refusal {
        ReportRefusal::TooLarge {
            size: Some(size),
            limit,
        } => format!(
            "report is {size} bytes as protobuf, over limits.max_decompressed_bytes = {limit} bytes"
        ),
        ReportRefusal::TooLarge { size: None, limit } => {
            format!("report is over limits.max_decompressed_bytes = {limit} bytes")
        }
        // Not from a JSON line (only a compressed body is malformed this way), worded as is.
        ReportRefusal::Malformed(message) => message.clone(),
        ReportRefusal::Invalid(e) => e.to_string(),
        ReportRefusal::AgentIdMismatch { got, expected } => {
            format!("agent_id {got:?} differs from --agent {expected:?}")
        }
    }
}

impl LineError {
    /// The reason, with the names of the collector's ingest rejection counter.
    pub fn reason(&self) -> RejectReason {
        match self {
            LineError::Json(_) | LineError::PrettyPrinted => RejectReason::Malformed,
            LineError::LineTooLong { .. } => RejectReason::TooLarge,
            LineError::Refused(refusal) => refusal.reason(),
        }
    }
}

/// Checks one line and makes the row to store, with its listening evidence; `Ok(None)` for
/// a blank line. Pure apart from the given clock value.
pub fn parse_line(
    line: &[u8],
    opts: &ImportOptions,
    now_ms: i64,
) -> Result<Option<(StoredReport, Evidence)>, LineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if line.trim_ascii() == b"{" {
        return Err(LineError::PrettyPrinted);
    }
    let report: Report = serde_json::from_slice(line)?;
    let accepted = accept_report(
        report,
        opts.max_decompressed_bytes,
        opts.expect_agent.as_deref(),
    )
    .map_err(LineError::Refused)?;
    let received_ms = match opts.received {
        ReceivedTime::ImportTime => now_ms,
        ReceivedTime::AgentTimestamp => accepted.report.timestamp_unix_ms,
    };
    let evidence = Evidence::of(&accepted.report);
    Ok(Some((accepted.into_row(received_ms).0, evidence)))
}

/// Reads one line into `buf` without its `\n`, keeping at most `cap` bytes: a longer line is
/// consumed and dropped. Returns `None` at the end of input, else whether the line was too
/// long.
pub(super) fn read_line(
    input: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let newline = available.iter().position(|&b| b == b'\n');
        let chunk = &available[..newline.unwrap_or(available.len())];
        if !too_long {
            if buf.len() + chunk.len() > cap {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = chunk.len() + usize::from(newline.is_some());
        input.consume(used);
        if newline.is_some() {
            return Ok(Some(too_long));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ImportOptions {
        ImportOptions {
            received: ReceivedTime::ImportTime,
            max_decompressed_bytes: 8 << 20,
            expect_agent: None,
            source: "test".into(),
        }
    }

    const GOOD: &str = r#"{"protocol_version":1,"agent_id":"web-01","hostname":"web-01.example","boot_id":"b1","boot_time_unix_seconds":1700000000,"sequence":7,"timestamp_unix_ms":1700000100000,"interval_ms":15000}"#;

    #[test]
    fn blank_lines_are_ignored() {
        assert!(parse_line(b"", &opts(), 5).unwrap().is_none());
        assert!(parse_line(b"  \t\r", &opts(), 5).unwrap().is_none());
    }

    #[test]
    fn a_good_line_becomes_the_row_live_ingest_would_store() {
        let (row, evidence) = parse_line(GOOD.as_bytes(), &opts(), 5).unwrap().unwrap();
        assert_eq!(
            evidence,
            Evidence {
                at_ms: 1_700_000_100_000,
                interval_ms: 15_000,
                backlog: false
            }
        );
        assert_eq!(
            (row.agent_id.as_str(), row.boot_id.as_str(), row.sequence),
            ("web-01", "b1", 7)
        );
        assert_eq!(row.agent_timestamp_ms, 1_700_000_100_000);
        assert_eq!(row.received_ms, 5);
        assert!(!row.link_data);
        let decoded: Report = prost::Message::decode(row.body.as_slice()).unwrap();
        assert_eq!(decoded.hostname, "web-01.example");
        assert_eq!(decoded.interval_ms, 15_000);
    }

    #[test]
    fn received_time_can_be_the_agent_timestamp() {
        let o = ImportOptions {
            received: ReceivedTime::AgentTimestamp,
            ..opts()
        };
        let (row, _) = parse_line(GOOD.as_bytes(), &o, 5).unwrap().unwrap();
        assert_eq!(row.received_ms, 1_700_000_100_000);
    }

    #[test]
    fn a_crlf_line_is_accepted() {
        let line = format!("{GOOD}\r");
        assert!(parse_line(line.as_bytes(), &opts(), 5).unwrap().is_some());
    }

    #[test]
    fn refusals_carry_the_live_ingest_reason() {
        let e = parse_line(b"{not json", &opts(), 5).unwrap_err();
        assert_eq!(e.reason(), RejectReason::Malformed);
        let e = parse_line(b" {\r", &opts(), 5).unwrap_err();
        assert!(e.to_string().contains("jq -c"), "{e}");
        assert_eq!(e.reason(), RejectReason::Malformed);
        let e = parse_line(GOOD.replace("\"b1\"", "\"\"").as_bytes(), &opts(), 5).unwrap_err();
        assert_eq!(e.reason(), RejectReason::Invalid);
        assert!(e.to_string().contains("boot_id"), "{e}");
        let e =
            parse_line(GOOD.replace("web-01\"", "web 01\"").as_bytes(), &opts(), 5).unwrap_err();
        assert_eq!(e.reason(), RejectReason::Invalid);
        let small = ImportOptions {
            max_decompressed_bytes: 10,
            ..opts()
        };
        let e = parse_line(GOOD.as_bytes(), &small, 5).unwrap_err();
        assert_eq!(e.reason(), RejectReason::TooLarge);
        let other = ImportOptions {
            expect_agent: Some("db-01".into()),
            ..opts()
        };
        let e = parse_line(GOOD.as_bytes(), &other, 5).unwrap_err();
        assert_eq!(e.reason(), RejectReason::AgentIdMismatch);
    }

    #[test]
    fn read_line_splits_and_bounds_lines() {
        let mut input: &[u8] = b"abc\n\nabcdefgh\nxy";
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf, 4).unwrap(), Some(false));
        assert_eq!(buf, b"abc");
        assert_eq!(read_line(&mut input, &mut buf, 4).unwrap(), Some(false));
        assert_eq!(buf, b"");
        assert_eq!(read_line(&mut input, &mut buf, 4).unwrap(), Some(true));
        assert_eq!(read_line(&mut input, &mut buf, 4).unwrap(), Some(false));
        assert_eq!(buf, b"xy");
        assert_eq!(read_line(&mut input, &mut buf, 4).unwrap(), None);
    }

    #[test]
    fn a_report_made_with_a_backlog_is_evidence_of_not_delivering() {
        let line = GOOD.replace(
            r#""interval_ms":15000"#,
            r#""interval_ms":15000,"agent_stats":{"spool_reports":3,"oldest_unsent_unix_ms":1700000055000}"#,
        );
        let (_, e) = parse_line(line.as_bytes(), &opts(), 5).unwrap().unwrap();
        assert!(e.backlog);
        let line = GOOD.replace(
            r#""interval_ms":15000"#,
            r#""interval_ms":15000,"agent_stats":{"spool_reports":0}"#,
        );
        let (_, e) = parse_line(line.as_bytes(), &opts(), 5).unwrap().unwrap();
        assert!(!e.backlog);
    }
}
