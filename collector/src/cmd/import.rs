//! `zerofault-collector import`: stores reports given as JSON lines, for migrations, replays
//! and tests.
//!
//! Each non-blank line is one report in the JSON form `zerofault-agent once --json` prints
//! (the protocol crate's serde form of [`Report`]; `jq -c .` turns the agent's pretty output
//! into one line). A line goes through the checks of live ingest
//! ([`crate::live::ingest::accept`], the one rule of both), except the ones about
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
//! **Listening periods.** Imported history has no recorded collector runs, and the SLA
//! engine charges a silent host or a reboot gap as `down` only where the collector is known
//! to have been listening (docs/sla.md § 4). So an import (with the default receive time)
//! infers, from the reports it reads, where their source was hearing agents
//! ([`ListeningInference`]) and stores those spans as **listening periods**
//! (`imported_listening`), which the monthly report uses as it uses collector runs. The
//! rule: a report covers `[t - interval, t]` of its agent's time; it is evidence that the
//! agent was *delivering* then, unless its `agent_stats` say earlier reports were still
//! unacknowledged when it was made (`spool_reports > 0`): then the agent was *not
//! delivering* (it was filling its spool: this report is backfill). The source was listening
//! where more agents were delivering than not. A majority, not "any agent", so that one agent
//! with a wrong clock cannot open a listening period inside an outage of the source; a
//! report without `agent_stats` (older agents) counts as delivering. The periods are printed
//! with the summary and listed by `GET /api/v1/collector/runs`; they are keyed by their span,
//! so importing the same file again adds nothing. With `--received-now` the reports are
//! backfill arriving now, evidence of nothing about the past: no period is inferred.
//!
//! The import opens the database like the collector does (WAL, 5 s busy timeout), so it can
//! run next to a running collector. That collector's in-memory host table and link engine
//! learn of imported reports only at its next start (the start-up replay reads them).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use zerofault_protocol::Report;

use crate::cmd::console::{EXIT_ERROR, EXIT_FAILED, EXIT_OK, ProgressLine};
use crate::live::hosts::RejectReason;
use crate::live::ingest::accept::{ReportRefusal, accept_report};
use crate::store::{InsertOutcome, ListeningPeriod, Store, StoreError, StoredReport};

/// Reports handed to the store before waiting for their outcomes; the store's group commit
/// writes up to this many in one transaction.
pub const BATCH: usize = 512;
/// A batch is also flushed when it has waited this long, so that a slow input (a pipe) still
/// makes steady, visible progress.
const FLUSH_AFTER: Duration = Duration::from_millis(500);
/// Longest accepted JSON line, as a multiple of `limits.max_decompressed_bytes`: JSON spells
/// out every field name, so it is several times the protobuf; longer lines are skipped unread.
const LINE_BYTES_PER_PROTOBUF_BYTE: usize = 8;
/// Evidence spans closer than this are one span: consecutive reports of an agent abut only
/// to within its timer's jitter, and a hole that small is not an outage of the source (the
/// SLA engine's own placement noise, `TOUCH_MS`, is 2 s too).
pub const LISTENING_JOIN_MS: i64 = 2_000;

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
    /// Every report is stored, but the listening periods inferred from them could not be.
    /// Running the same import again stores them (the reports are then duplicates).
    #[error("cannot store the listening periods inferred from the input: {source}")]
    Listening {
        /// The underlying error.
        #[source]
        source: StoreError,
        /// Counts of the import.
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
    /// Listening periods inferred from the good lines (`[start, end)`, Unix ms), in order.
    pub listening: Vec<(i64, i64)>,
    /// How many of them were not stored before.
    pub listening_new: usize,
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

/// What one report says about its source's listening (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evidence {
    /// When it was made, its own `timestamp_unix_ms`.
    pub at_ms: i64,
    /// Its `interval_ms`: it covers `[at - interval, at]`.
    pub interval_ms: i64,
    /// Earlier reports of its agent were still unacknowledged when it was made
    /// (`agent_stats.spool_reports > 0`): the agent could not deliver then.
    pub backlog: bool,
}

impl Evidence {
    /// The evidence of `report`.
    pub fn of(report: &Report) -> Evidence {
        Evidence {
            at_ms: report.timestamp_unix_ms,
            interval_ms: i64::from(report.interval_ms),
            backlog: report
                .agent_stats
                .as_ref()
                .is_some_and(|s| s.spool_reports > 0),
        }
    }
}

/// Disjoint spans `start -> end`, joined when closer than [`LISTENING_JOIN_MS`]; memory is
/// one entry per stretch, not per report.
#[derive(Debug, Default)]
struct Spans(BTreeMap<i64, i64>);

impl Spans {
    fn insert(&mut self, mut a: i64, mut b: i64) {
        if b <= a {
            return;
        }
        let mut joined = Vec::new();
        // Spans are disjoint, so their ends grow with their starts: walk back from the last
        // span starting near `b` while it still reaches `a`.
        for (&s, &e) in self.0.range(..=b.saturating_add(LISTENING_JOIN_MS)).rev() {
            if e < a.saturating_sub(LISTENING_JOIN_MS) {
                break;
            }
            a = a.min(s);
            b = b.max(e);
            joined.push(s);
        }
        for s in joined {
            self.0.remove(&s);
        }
        self.0.insert(a, b);
    }
}

/// Infers where the source of imported reports was listening (see the module docs): where
/// more agents were delivering than not.
#[derive(Debug, Default)]
pub struct ListeningInference {
    /// Per agent: (delivering, not delivering).
    agents: HashMap<String, (Spans, Spans)>,
}

impl ListeningInference {
    /// Adds one report of `agent`.
    pub fn add(&mut self, agent: &str, e: Evidence) {
        if e.interval_ms <= 0 {
            return;
        }
        let spans = match self.agents.get_mut(agent) {
            Some(s) => s,
            None => self.agents.entry(agent.to_owned()).or_default(),
        };
        let target = if e.backlog {
            &mut spans.1
        } else {
            &mut spans.0
        };
        target.insert(e.at_ms.saturating_sub(e.interval_ms), e.at_ms);
    }

    /// The listening periods, `[start, end)`, sorted and disjoint.
    pub fn periods(&self) -> Vec<(i64, i64)> {
        // +1/-1 for delivering agents, +1/-1 for agents not delivering, at each span edge.
        let mut events: Vec<(i64, i32, i32)> = Vec::new();
        for (delivering, not) in self.agents.values() {
            for (&a, &b) in &delivering.0 {
                events.push((a, 1, 0));
                events.push((b, -1, 0));
            }
            for (&a, &b) in &not.0 {
                events.push((a, 0, 1));
                events.push((b, 0, -1));
            }
        }
        events.sort_unstable();
        let mut out: Vec<(i64, i64)> = Vec::new();
        let (mut d, mut n) = (0i32, 0i32);
        let mut i = 0;
        while i < events.len() {
            let t = events[i].0;
            while i < events.len() && events[i].0 == t {
                d += events[i].1;
                n += events[i].2;
                i += 1;
            }
            let Some(&(next, _, _)) = events.get(i) else {
                break;
            };
            if d > n {
                match out.last_mut() {
                    Some(last) if t - last.1 < LISTENING_JOIN_MS => last.1 = next,
                    _ => out.push((t, next)),
                }
            }
        }
        out
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
    // Reports that arrive now (`--received-now`) are backfill: no evidence of the past.
    let mut inference =
        (opts.received == ReceivedTime::AgentTimestamp).then(ListeningInference::default);
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
            parse_line(&buf, opts, crate::live::ingest::now_unix_ms())
        };
        match parsed {
            Ok(None) => summary.blank += 1,
            Ok(Some((report, evidence))) => {
                if let Some(inf) = &mut inference {
                    inf.add(&report.agent_id, evidence);
                }
                batch.push((line_no, report));
            }
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
    if let Some(inf) = inference {
        summary.listening = inf.periods();
        if !summary.listening.is_empty() {
            let imported_unix_ms = crate::live::ingest::now_unix_ms();
            let periods = summary
                .listening
                .iter()
                .map(|&(start_unix_ms, end_unix_ms)| ListeningPeriod {
                    start_unix_ms,
                    end_unix_ms,
                    source: opts.source.clone(),
                    imported_unix_ms,
                })
                .collect();
            summary.listening_new = match store.insert_listening(periods).await {
                Ok(n) => n,
                Err(source) => {
                    return Err(ImportError::Listening {
                        source,
                        summary: summary.clone(),
                    });
                }
            };
        }
    }
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

/// Shows refusals on stderr and, on a terminal, a progress line.
struct Console {
    file: String,
    line: ProgressLine,
    started: Instant,
}

impl ImportObserver for Console {
    fn rejected(&mut self, line: u64, error: &LineError) {
        self.line.clear();
        eprintln!(
            "{}:{line}: rejected ({}): {error}",
            self.file,
            error.reason().as_str()
        );
    }

    fn progress(&mut self, s: &ImportSummary) {
        let started = self.started;
        self.line.show(|| {
            let rate = s.lines as f64 / started.elapsed().as_secs_f64().max(1e-3);
            format!(
                "{} lines, {} stored, {} duplicates, {} rejected, {rate:.0} lines/s",
                s.lines,
                s.stored,
                s.duplicates,
                s.rejected_total()
            )
        });
    }
}

/// `unix_ms` as RFC 3339 UTC, for the summary.
fn utc(unix_ms: i64) -> String {
    jiff::Timestamp::from_millisecond(unix_ms)
        .map_or_else(|_| format!("{unix_ms} ms"), |t| t.to_string())
}

/// The listening periods of the summary, one per line, so that an operator sees what the
/// import inferred (docs/sla-operations.md).
fn print_listening(s: &ImportSummary, received_now: bool) {
    if received_now {
        println!("listening periods: none inferred (--received-now: the reports arrive now)");
        return;
    }
    println!(
        "listening periods inferred: {} ({} new)",
        s.listening.len(),
        s.listening_new
    );
    for &(a, b) in &s.listening {
        println!(
            "  listening {} .. {} ({:.1} min)",
            utc(a),
            utc(b),
            (b - a) as f64 / 60_000.0
        );
    }
}

/// Runs `zerofault-collector import` and returns its exit code ([`EXIT_OK`], [`EXIT_FAILED`]
/// when some lines were refused, [`EXIT_ERROR`]). The summary goes to stdout, everything else to stderr.
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
    opts.source = if stdin {
        "<stdin>".into()
    } else {
        args.file.display().to_string()
    };
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
        line: ProgressLine::new(FLUSH_AFTER),
        started: Instant::now(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_ERROR;
        }
    };
    let result = runtime.block_on(async {
        let store = crate::store::open(&config.storage).await?;
        let result = import(store.clone(), &mut input, &opts, &mut console).await;
        store.close().await;
        Ok::<_, StoreError>(result)
    });
    console.line.clear();
    match result {
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_ERROR
        }
        Ok(Err(e)) => {
            match &e {
                ImportError::Store { summary, .. } => println!("{summary} (stopped early)"),
                ImportError::Listening { summary, .. } => println!("{summary}"),
                ImportError::Read { .. } => {}
            }
            eprintln!("error: {e}");
            EXIT_ERROR
        }
        Ok(Ok(summary)) => {
            println!("{summary}");
            print_listening(&summary, args.received_now);
            if summary.rejected_total() == 0 {
                EXIT_OK
            } else {
                EXIT_FAILED
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

    const M: i64 = 60_000;

    /// Reports of `agent` every 5 minutes made at `from..=to` (minutes), with or without a
    /// backlog.
    fn every_5_min(inf: &mut ListeningInference, agent: &str, from: i64, to: i64, backlog: bool) {
        for t in (from..=to).step_by(5) {
            inf.add(
                agent,
                Evidence {
                    at_ms: t * M,
                    interval_ms: 5 * M,
                    backlog,
                },
            );
        }
    }

    #[test]
    fn agents_reporting_throughout_make_one_listening_period() {
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 600, false);
        every_5_min(&mut inf, "b", 5, 300, false);
        // Out of order and repeated: the same span.
        every_5_min(&mut inf, "b", 305, 600, false);
        every_5_min(&mut inf, "b", 100, 200, false);
        assert_eq!(inf.periods(), vec![(0, 600 * M)]);
    }

    #[test]
    fn an_outage_of_the_source_with_backfill_is_not_listening() {
        // Collector down 120..240: both agents keep their reports in their spool (each made
        // with a backlog) and deliver them afterwards; the import holds them all.
        let mut inf = ListeningInference::default();
        for agent in ["a", "b"] {
            every_5_min(&mut inf, agent, 5, 120, false);
            every_5_min(&mut inf, agent, 125, 240, true);
            every_5_min(&mut inf, agent, 245, 600, false);
        }
        assert_eq!(inf.periods(), vec![(0, 120 * M), (240 * M, 600 * M)]);
    }

    #[test]
    fn one_agent_with_a_wrong_clock_cannot_open_a_period_inside_an_outage() {
        // As above with three agents, and "c" an hour ahead: its evidence is 60 minutes late,
        // so its reports before the outage seem to cover 120..180. The majority is not
        // listening there.
        let mut inf = ListeningInference::default();
        for agent in ["a", "b"] {
            every_5_min(&mut inf, agent, 5, 120, false);
            every_5_min(&mut inf, agent, 125, 240, true);
            every_5_min(&mut inf, agent, 245, 600, false);
        }
        every_5_min(&mut inf, "c", 65, 180, false);
        every_5_min(&mut inf, "c", 185, 300, true);
        every_5_min(&mut inf, "c", 305, 660, false);
        assert_eq!(inf.periods(), vec![(0, 120 * M), (240 * M, 660 * M)]);
    }

    #[test]
    fn one_agent_cut_off_while_the_others_deliver_leaves_the_source_listening() {
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 600, false);
        every_5_min(&mut inf, "b", 5, 600, false);
        every_5_min(&mut inf, "c", 5, 100, false);
        every_5_min(&mut inf, "c", 105, 200, true);
        every_5_min(&mut inf, "c", 205, 600, false);
        assert_eq!(inf.periods(), vec![(0, 600 * M)]);
    }

    #[test]
    fn silence_of_every_agent_is_no_listening_and_jitter_is_no_gap() {
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 100, false);
        // Nobody reported 100..200 (an outage without backfill).
        every_5_min(&mut inf, "a", 205, 300, false);
        // A report made 1 s late leaves a 1 s hole: joined.
        inf.add(
            "a",
            Evidence {
                at_ms: 305 * M + 1_000,
                interval_ms: 5 * M,
                backlog: false,
            },
        );
        assert_eq!(
            inf.periods(),
            vec![(0, 100 * M), (200 * M, 305 * M + 1_000)]
        );
        // A tie (one delivering, one not) is not listening: no evidence either way.
        let mut inf = ListeningInference::default();
        every_5_min(&mut inf, "a", 5, 10, false);
        every_5_min(&mut inf, "b", 5, 10, true);
        assert_eq!(inf.periods(), vec![]);
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
