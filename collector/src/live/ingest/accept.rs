//! What makes a report acceptable, whichever way it arrives: live ingest
//! (`POST /api/v1/report`, a zstd body from a certified agent) and `import` (a JSON line)
//! store only what passes these checks, and refuse with the same reasons
//! ([`RejectReason`], the names of the rejection counter).
//!
//! Pure: no clock, no store, no HTTP. Each caller words a refusal for its own user (an
//! HTTP status and a message for the agent; `FILE:LINE` for the operator of an import),
//! from the data a [`ReportRefusal`] carries.
//!
//! The checks, cheapest first: the size of the report's protobuf encoding
//! (`limits.max_decompressed_bytes`), for a body its compression and its wire bytes
//! (entries and string bytes counted before anything is allocated per entry), then
//! [`Report::validate`] with the protocol's [`Limits`], then the agent id against the one
//! expected (the client certificate's common name, or `import --agent`).

use zerofault_protocol::{DecodeError, Limits, Report, ValidationError, WireError, WireSummary};

use crate::live::hosts::RejectReason;
use crate::store::StoredReport;

/// Why a report is not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportRefusal {
    /// Larger than `limits.max_decompressed_bytes` as protobuf. `size` is the report's
    /// encoded size when known: a body is refused while decompressing, before it is.
    TooLarge {
        /// The report's protobuf size, when known.
        size: Option<usize>,
        /// `limits.max_decompressed_bytes`.
        limit: usize,
    },
    /// Not a report at all: not zstd, not protobuf of the report's schema.
    Malformed(String),
    /// A field is out of the protocol's bounds, counted on the wire or found by
    /// [`Report::validate`].
    Invalid(ValidationError),
    /// The report's `agent_id` is not the one expected.
    AgentIdMismatch {
        /// Agent id in the report.
        got: String,
        /// The expected id.
        expected: String,
    },
}

impl ReportRefusal {
    /// The reason, with the names of the collector's ingest rejection counter.
    pub fn reason(&self) -> RejectReason {
        match self {
            ReportRefusal::TooLarge { .. } => RejectReason::TooLarge,
            ReportRefusal::Malformed(_) => RejectReason::Malformed,
            ReportRefusal::Invalid(_) => RejectReason::Invalid,
            ReportRefusal::AgentIdMismatch { .. } => RejectReason::AgentIdMismatch,
        }
    }
}

/// A report that passed every check, with the bytes to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The decoded report.
    pub report: Report,
    /// What is stored: the report's protobuf encoding.
    pub body: Vec<u8>,
}

impl Accepted {
    /// The row to store, received at `received_ms`, and the report for the in-memory
    /// figures.
    pub fn into_row(self, received_ms: i64) -> (StoredReport, Report) {
        let report = self.report;
        let row = StoredReport {
            agent_id: report.agent_id.clone(),
            boot_id: report.boot_id.clone(),
            sequence: report.sequence,
            agent_timestamp_ms: report.timestamp_unix_ms,
            received_ms,
            body: self.body,
            // Lets the start-up replay of links and interfaces skip the reports without.
            link_data: !report.links.is_empty() || !report.interface_transitions.is_empty(),
        };
        (row, report)
    }
}

/// Checks a live ingest body (zstd of a protobuf report): decompresses it within
/// `max_decompressed_bytes`, checks the wire bytes against the protocol limits before
/// anything is allocated per entry, decodes, validates and compares the agent id with
/// `expected_agent`. Also returns what the wire check saw, for the memory the decoded
/// report holds. CPU-bound: live ingest runs it on the blocking pool.
pub fn accept_body(
    body: &[u8],
    max_decompressed_bytes: usize,
    expected_agent: &str,
) -> Result<(Accepted, WireSummary), ReportRefusal> {
    let raw = zerofault_protocol::decompress_bounded(body, max_decompressed_bytes).map_err(
        |e| match e {
            DecodeError::TooLarge { limit_bytes } => ReportRefusal::TooLarge {
                size: None,
                limit: limit_bytes,
            },
            other => ReportRefusal::Malformed(other.to_string()),
        },
    )?;
    let protocol_limits = Limits::default();
    // Counts entries and string bytes on the wire before prost allocates them: a few bytes
    // of empty entries would otherwise decode to gigabytes (protocol/src/wire.rs).
    let wire = zerofault_protocol::check_wire(&raw, &protocol_limits).map_err(|e| match e {
        WireError::Malformed(_) => ReportRefusal::Malformed(e.to_string()),
        WireError::Limit(e) => ReportRefusal::Invalid(e),
    })?;
    let report = <Report as prost::Message>::decode(raw.as_slice())
        .map_err(|e| ReportRefusal::Malformed(DecodeError::Protobuf(e).to_string()))?;
    check(&report, &protocol_limits, Some(expected_agent))?;
    // Only what this protocol version defines is stored, in its own encoding: anything
    // else in the bytes (unknown fields, a singular field sent many times, overlong
    // varints) would be kept without ever being read, at any size up to the cap.
    let body = if prost::Message::encoded_len(&report) != raw.len() {
        tracing::debug!(
            agent = %report.agent_id,
            unknown_fields = wire.unknown_fields,
            unknown_bytes = wire.unknown_bytes,
            received_bytes = raw.len(),
            "report bytes carry more than the report; its own encoding is stored"
        );
        prost::Message::encode_to_vec(&report)
    } else {
        raw
    };
    Ok((Accepted { report, body }, wire))
}

/// Checks a report decoded elsewhere (`import` reads JSON): its protobuf encoding, which
/// is what live ingest caps after decompression and what is stored, must fit
/// `max_decompressed_bytes`; then it is validated and, when `expected_agent` is given,
/// its agent id compared.
pub fn accept_report(
    report: Report,
    max_decompressed_bytes: usize,
    expected_agent: Option<&str>,
) -> Result<Accepted, ReportRefusal> {
    let body = prost::Message::encode_to_vec(&report);
    if body.len() > max_decompressed_bytes {
        return Err(ReportRefusal::TooLarge {
            size: Some(body.len()),
            limit: max_decompressed_bytes,
        });
    }
    check(&report, &Limits::default(), expected_agent)?;
    Ok(Accepted { report, body })
}

/// The checks of a decoded report: validation, then the agent id.
fn check(
    report: &Report,
    limits: &Limits,
    expected_agent: Option<&str>,
) -> Result<(), ReportRefusal> {
    report.validate(limits).map_err(ReportRefusal::Invalid)?;
    if let Some(expected) = expected_agent
        && report.agent_id != expected
    {
        return Err(ReportRefusal::AgentIdMismatch {
            got: report.agent_id.clone(),
            expected: expected.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerofault_protocol::{PROTOCOL_VERSION, encode_report};

    fn report() -> Report {
        Report {
            protocol_version: PROTOCOL_VERSION,
            agent_id: "web-01".into(),
            hostname: "web-01.example".into(),
            boot_id: "b1".into(),
            boot_time_unix_seconds: 1_700_000_000,
            sequence: 7,
            timestamp_unix_ms: 1_700_000_100_000,
            interval_ms: 15_000,
            ..Default::default()
        }
    }

    /// The point of one rule: a report arriving as a body (live ingest) and the same report
    /// decoded elsewhere (import) are accepted, or refused, alike.
    #[test]
    fn a_body_and_a_decoded_report_are_judged_alike() {
        let cap = 1 << 20;
        let (from_body, _) = accept_body(&encode_report(&report()), cap, "web-01").unwrap();
        let from_report = accept_report(report(), cap, Some("web-01")).unwrap();
        assert_eq!(from_body, from_report);
        let (row, back) = from_report.into_row(5);
        assert_eq!(back, report());
        assert_eq!((row.received_ms, row.link_data), (5, false));

        let refusals = |r: Report, expected: &str| {
            (
                accept_body(&encode_report(&r), cap, expected).unwrap_err(),
                accept_report(r, cap, Some(expected)).unwrap_err(),
            )
        };
        let (a, b) = refusals(report(), "db-01");
        assert_eq!(a, b);
        assert_eq!(a.reason(), RejectReason::AgentIdMismatch);
        let (a, b) = refusals(
            Report {
                boot_id: String::new(),
                ..report()
            },
            "web-01",
        );
        assert_eq!(a, b);
        assert_eq!(a.reason(), RejectReason::Invalid);
        // Too large either way; only the body does not know the report's size yet.
        let a = accept_body(&encode_report(&report()), 10, "web-01").unwrap_err();
        let b = accept_report(report(), 10, Some("web-01")).unwrap_err();
        assert_eq!(
            a,
            ReportRefusal::TooLarge {
                size: None,
                limit: 10
            }
        );
        assert!(matches!(
            b,
            ReportRefusal::TooLarge {
                size: Some(_),
                limit: 10
            }
        ));
    }
}
