//! `zerofault-collector import`: stores reports given as JSON lines, for migrations, replays
//! and tests.
//!
//! Each non-blank line is one report in the JSON form `zerofault-agent once --json` prints
//! (the protocol crate's serde form of [`Report`]; `jq -c .` turns the agent's pretty output
//! into one line). A line goes through the checks of live ingest, except the ones about
//! HTTP and TLS: the decoded report must fit `limits.max_decompressed_bytes` as protobuf and
//! pass [`Report::validate`] with the same [`Limits`]; with `--agent` its `agent_id` must
//! equal that id, as a live report's must equal its certificate's common name. It is then
//! stored exactly as live ingest stores it (the protobuf body, keyed by `(agent_id, boot_id,
//! sequence)`), so importing a report that is already stored counts as a duplicate and
//! changes nothing: an import can be repeated or resumed safely.
//!
//! A line is one report and one row, so a refused line leaves nothing behind. Good lines are
//! handed to the store in batches of [`BATCH`], which its group commit writes in one
//! transaction each.
//!
//! Receive time: by default an imported report's `received_ms` is its own
//! `timestamp_unix_ms`: history is imported as if it had been received live, so the monthly
//! SLA places it by the agent's clock (its clock offset reads as zero). Using the import time
//! instead (`--received-now`) would make every imported boot look received hours or months
//! late, and an agent that never reported live would have that delay taken for its clock
//! offset (docs/sla.md, "Known limits"). `--received-now` is for reports that really arrive
//! now, e.g. a spool copied off a host by hand; for a closed month they are late corrections
//! either way.
//!
//! The import opens the database like the collector does (WAL, 5 s busy timeout), so it can
//! run next to a running collector. That collector's in-memory host table and link engine
//! learn of imported reports only at its next start (the start-up replay reads them).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zerofault_protocol::{Limits, Report, ValidationError};

use crate::state::RejectReason;
use crate::store::{InsertOutcome, SqliteStore, Store, StoreError, StoredReport};

/// Reports handed to the store before waiting for their outcomes; the store's group commit
/// writes up to this many in one transaction.
pub const BATCH: usize = 512;
/// A batch is also flushed when it has waited this long, so that a slow input (a pipe) still
/// makes steady, visible progress.
const FLUSH_AFTER: Duration = Duration::from_millis(500);
/// Longest accepted JSON line, as a multiple of `limits.max_decompressed_bytes`: JSON spells
/// out every field name, so it is several times the protobuf; longer lines are skipped unread.
const LINE_BYTES_PER_PROTOBUF_BYTE: usize = 8;

/// Which receive time an imported report gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceivedTime {
    /// The collector's clock at import (`--received-now`).
    ImportTime,
    /// The report's own `timestamp_unix_ms` (the default; see the module docs).
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
}

impl ImportOptions {
    /// Options with the limits of `config` and the reports' own timestamps as receive time.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            received: ReceivedTime::AgentTimestamp,
            max_decompressed_bytes: crate::ingest::IngestLimits::from(config.limits)
                .max_decompressed_bytes,
            expect_agent: None,
        }
    }

    fn max_line_bytes(&self) -> usize {
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
    /// The report is larger than live ingest accepts after decompression.
    #[error(
        "report is {size} bytes as protobuf, over limits.max_decompressed_bytes = {limit} bytes"
    )]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A field is out of bounds, as live ingest would answer with 400.
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// The report's agent id is not the one given with `--agent`.
    #[error("agent_id {got:?} differs from --agent {expected:?}")]
    AgentIdMismatch {
        /// Agent id in the report.
        got: String,
        /// The expected id.
        expected: String,
    },
}

impl LineError {
    /// The reason, with the names of the collector's ingest rejection counter.
    pub fn reason(&self) -> RejectReason {
        match self {
            LineError::Json(_) | LineError::PrettyPrinted => RejectReason::Malformed,
            LineError::LineTooLong { .. } | LineError::TooLarge { .. } => RejectReason::TooLarge,
            LineError::Invalid(_) => RejectReason::Invalid,
            LineError::AgentIdMismatch { .. } => RejectReason::AgentIdMismatch,
        }
    }
}

/// Why an import stopped before the end of its input.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input could not be read.
    #[error("cannot read line {line}: {source}")]
    Read {
        /// The line being read (1-based).
        line: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed. Reports of earlier lines are committed; of the failed batch, some
    /// may be. Running the import again stores exactly what is missing.
    #[error("cannot store the reports of lines {first_line}..={last_line}: {source}")]
    Store {
        /// First line of the failed batch.
        first_line: u64,
        /// Last line of the failed batch.
        last_line: u64,
        /// The underlying error.
        #[source]
        source: StoreError,
        /// Counts up to the failure (the failed batch is not counted as stored).
        summary: ImportSummary,
    },
}

/// Counts of one import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Blank lines (ignored).
    pub blank: u64,
    /// Reports newly stored.
    pub stored: u64,
    /// Reports that were already stored.
    pub duplicates: u64,
    /// Refused lines by reason ([`RejectReason::as_str`]).
    pub rejected: BTreeMap<&'static str, u64>,
}

impl ImportSummary {
    /// Refused lines of every reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} lines read ({} blank): {} stored, {} duplicates, {} rejected",
            self.lines,
            self.blank,
            self.stored,
            self.duplicates,
            self.rejected_total()
        )?;
        if !self.rejected.is_empty() {
            let parts: Vec<String> = self
                .rejected
                .iter()
                .map(|(reason, n)| format!("{reason}: {n}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// Checks one line and makes the row to store; `Ok(None)` for a blank line. Pure apart from
/// the given clock value.
pub fn parse_line(
    line: &[u8],
    opts: &ImportOptions,
    now_ms: i64,
) -> Result<Option<StoredReport>, LineError> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if line.trim_ascii() == b"{" {
        return Err(LineError::PrettyPrinted);
    }
    let report: Report = serde_json::from_slice(line)?;
    // Live ingest caps the decompressed body, which is this encoding.
    let body = prost::Message::encode_to_vec(&report);
    if body.len() > opts.max_decompressed_bytes {
        return Err(LineError::TooLarge {
            size: body.len(),
            limit: opts.max_decompressed_bytes,
        });
    }
    report.validate(&Limits::default())?;
    if let Some(expected) = &opts.expect_agent
        && report.agent_id != *expected
    {
        return Err(LineError::AgentIdMismatch {
            got: report.agent_id,
            expected: expected.clone(),
        });
    }
    let received_ms = match opts.received {
        ReceivedTime::ImportTime => now_ms,
        ReceivedTime::AgentTimestamp => report.timestamp_unix_ms,
    };
    Ok(Some(StoredReport {
        link_data: !report.links.is_empty() || !report.interface_transitions.is_empty(),
        agent_id: report.agent_id,
        boot_id: report.boot_id,
        sequence: report.sequence,
        agent_timestamp_ms: report.timestamp_unix_ms,
        received_ms,
        body,
    }))
}

/// Reads one line into `buf` without its `\n`, keeping at most `cap` bytes: a longer line is
/// consumed and dropped. Returns `None` at the end of input, else whether the line was too
/// long.
fn read_line(
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

/// What the caller sees while an import runs.
pub trait ImportObserver {
    /// Line `line` (1-based) was refused and skipped.
    fn rejected(&mut self, line: u64, error: &LineError);
    /// A batch was committed; `summary` holds the counts so far.
    fn progress(&mut self, _summary: &ImportSummary) {}
}

/// Imports every line of `input` into `store` (see the module docs).
pub async fn import(
    store: Arc<dyn Store>,
    input: &mut dyn BufRead,
    opts: &ImportOptions,
    observer: &mut dyn ImportObserver,
) -> Result<ImportSummary, ImportError> {
    let mut summary = ImportSummary::default();
    let mut batch: Vec<(u64, StoredReport)> = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    let cap = opts.max_line_bytes();
    let mut last_flush = Instant::now();
    loop {
        let line_no = summary.lines + 1;
        let read = read_line(input, &mut buf, cap).map_err(|source| ImportError::Read {
            line: line_no,
            source,
        })?;
        let Some(too_long) = read else { break };
        summary.lines = line_no;
        let parsed = if too_long {
            Err(LineError::LineTooLong { limit: cap })
        } else {
            parse_line(&buf, opts, crate::ingest::now_unix_ms())
        };
        match parsed {
            Ok(None) => summary.blank += 1,
            Ok(Some(report)) => batch.push((line_no, report)),
            Err(e) => {
                *summary.rejected.entry(e.reason().as_str()).or_default() += 1;
                observer.rejected(line_no, &e);
            }
        }
        if batch.len() >= BATCH || (!batch.is_empty() && last_flush.elapsed() >= FLUSH_AFTER) {
            flush(&store, &mut batch, &mut summary).await?;
            last_flush = Instant::now();
            observer.progress(&summary);
        }
    }
    flush(&store, &mut batch, &mut summary).await?;
    observer.progress(&summary);
    Ok(summary)
}

/// Stores a batch. The inserts are all queued before any is awaited, so the store's group
/// commit writes them together.
async fn flush(
    store: &Arc<dyn Store>,
    batch: &mut Vec<(u64, StoredReport)>,
    summary: &mut ImportSummary,
) -> Result<(), ImportError> {
    if batch.is_empty() {
        return Ok(());
    }
    let first_line = batch[0].0;
    let last_line = batch[batch.len() - 1].0;
    let mut tasks = tokio::task::JoinSet::new();
    for (_, report) in batch.drain(..) {
        let store = store.clone();
        tasks.spawn(async move { store.insert(report).await });
    }
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(InsertOutcome::Stored)) => summary.stored += 1,
            Ok(Ok(InsertOutcome::Duplicate)) => summary.duplicates += 1,
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            // The insert task panicked: the store cannot be trusted to go on.
            Err(_) => {
                failure.get_or_insert(StoreError::Closed);
            }
        }
    }
    match failure {
        None => Ok(()),
        Some(source) => Err(ImportError::Store {
            first_line,
            last_line,
            source,
            summary: summary.clone(),
        }),
    }
}

/// Arguments of `zerofault-collector import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Collector configuration file (YAML): the database (`storage.sqlite.path`) and the size
    /// limits (`limits.max_decompressed_bytes`) are taken from it. The TLS files are not needed.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Store each report with the import time as its receive time, instead of its own
    /// `timestamp_unix_ms`: for reports that really arrive now (e.g. a spool copied off a
    /// host), not for history.
    #[arg(long)]
    pub received_now: bool,
    /// Refuse reports whose `agent_id` is not ID, as live ingest refuses a report whose
    /// agent id differs from the client certificate's common name.
    #[arg(long, value_name = "ID")]
    pub agent: Option<String>,
    /// JSON lines file, one report per line (`-` reads standard input).
    #[arg(value_name = "FILE.jsonl")]
    pub file: PathBuf,
}

/// Exit code: every line was stored or a duplicate.
pub const EXIT_OK: u8 = 0;
/// Exit code: some lines were refused (the others are stored).
pub const EXIT_REJECTED: u8 = 1;
/// Exit code: the import could not run or stopped (usage, config, input or database error).
pub const EXIT_ERROR: u8 = 2;

/// Shows refusals on stderr and, on a terminal, a progress line.
struct Console {
    file: String,
    terminal: bool,
    started: Instant,
    last_shown: Option<Instant>,
    line_shown: bool,
}

impl Console {
    fn clear(&mut self) {
        if self.line_shown {
            eprint!("\r\x1b[K");
            self.line_shown = false;
        }
    }
}

impl ImportObserver for Console {
    fn rejected(&mut self, line: u64, error: &LineError) {
        self.clear();
        eprintln!(
            "{}:{line}: rejected ({}): {error}",
            self.file,
            error.reason().as_str()
        );
    }

    fn progress(&mut self, s: &ImportSummary) {
        if !self.terminal || self.last_shown.is_some_and(|t| t.elapsed() < FLUSH_AFTER) {
            return;
        }
        self.last_shown = Some(Instant::now());
        let rate = s.lines as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\r\x1b[K{} lines, {} stored, {} duplicates, {} rejected, {rate:.0} lines/s",
            s.lines,
            s.stored,
            s.duplicates,
            s.rejected_total()
        );
        self.line_shown = true;
    }
}

/// Runs `zerofault-collector import` and returns its exit code ([`EXIT_OK`],
/// [`EXIT_REJECTED`], [`EXIT_ERROR`]). The summary goes to stdout, everything else to stderr.
pub fn run(args: &ImportArgs) -> u8 {
    let config = match crate::config::Config::load(&args.config)
        .and_then(|c| c.validate_structure().map(|()| c))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_ERROR;
        }
    };
    let mut opts = ImportOptions::from_config(&config);
    if args.received_now {
        opts.received = ReceivedTime::ImportTime;
    }
    if let Some(agent) = &args.agent {
        if !zerofault_protocol::is_valid_agent_id(agent) {
            eprintln!(
                "error: --agent {agent:?} is not a valid agent id (1..=128 of A-Z a-z 0-9 . _ -)"
            );
            return EXIT_ERROR;
        }
        opts.expect_agent = Some(agent.clone());
    }
    let stdin = args.file.as_os_str() == "-";
    let mut input: Box<dyn BufRead> = if stdin {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(&args.file) {
            Ok(f) => Box::new(std::io::BufReader::with_capacity(1 << 16, f)),
            Err(e) => {
                eprintln!("error: cannot open {}: {e}", args.file.display());
                return EXIT_ERROR;
            }
        }
    };
    let mut console = Console {
        file: if stdin {
            "<stdin>".into()
        } else {
            args.file.display().to_string()
        },
        terminal: std::io::stderr().is_terminal(),
        started: Instant::now(),
        last_shown: None,
        line_shown: false,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_ERROR;
        }
    };
    let result = runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&config.storage.sqlite.path).await?);
        let result = import(store.clone(), &mut input, &opts, &mut console).await;
        store.close().await;
        Ok::<_, StoreError>(result)
    });
    console.clear();
    match result {
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
        Ok(Err(e)) => {
            if let ImportError::Store { summary, .. } = &e {
                println!("{summary} (stopped early)");
            }
            eprintln!("error: {e}");
            EXIT_ERROR
        }
        Ok(Ok(summary)) => {
            println!("{summary}");
            if summary.rejected_total() == 0 {
                EXIT_OK
            } else {
                EXIT_REJECTED
            }
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
        let row = parse_line(GOOD.as_bytes(), &opts(), 5).unwrap().unwrap();
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
        let row = parse_line(GOOD.as_bytes(), &o, 5).unwrap().unwrap();
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
    fn summary_names_every_rejection_reason() {
        let mut s = ImportSummary {
            lines: 5,
            blank: 1,
            stored: 2,
            duplicates: 0,
            ..Default::default()
        };
        s.rejected.insert("invalid", 1);
        s.rejected.insert("malformed", 1);
        assert_eq!(
            s.to_string(),
            "5 lines read (1 blank): 2 stored, 0 duplicates, 2 rejected (invalid: 1, malformed: 1)"
        );
    }
}
