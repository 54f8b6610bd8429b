//! `zerofault-collector import`: stores reports given as JSON lines, for migrations, replays
//! and tests.
//!
//! Each non-blank line is one report in the JSON form `zerofault-agent once --json` prints
//! (the protocol crate's serde form of `Report`; `jq -c .` turns the agent's pretty output
//! into one line). A line goes through the checks of live ingest
//! ([`crate::live::ingest::accept`], the one rule of both), except the ones about
//! HTTP and TLS: the decoded report must fit `limits.max_decompressed_bytes` as protobuf and
//! pass `Report::validate` with the same `Limits`; with `--agent` its `agent_id` must
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
//! **Listening periods.** Imported history has no recorded collector runs, so an import
//! (with the default receive time) infers from the reports where their source was hearing
//! agents and stores those spans as listening periods ([`listening`]).
//!
//! The import opens the database like the collector does (WAL, 5 s busy timeout), so it can
//! run next to a running collector. That collector's in-memory host table and link engine
//! learn of imported reports only at its next start (the start-up replay reads them).
//!
//! The files: [`lines`] reads and checks one line, [`listening`] infers the listening
//! periods, [`batches`] runs an import into a store; this file is the command.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use crate::cmd::console::{EXIT_ERROR, EXIT_FAILED, EXIT_OK, ProgressLine};
use crate::store::StoreError;

pub mod batches;
pub mod lines;
pub mod listening;

pub use batches::{BATCH, ImportError, ImportObserver, ImportSummary, import};
pub use lines::{ImportOptions, LineError, ReceivedTime, parse_line};
pub use listening::{Evidence, LISTENING_JOIN_MS, ListeningInference};

/// Arguments of `zerofault-collector import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Collector configuration file (YAML): the database (`storage.sqlite` or `storage.postgres`) and the size
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
        line: ProgressLine::new(batches::FLUSH_AFTER),
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
        let store = crate::store::open(&config.storage, &config.links.thresholds).await?;
        let result = import(store.clone(), &mut input, &opts, &mut console).await;
        let summary = match &result {
            Ok(s) => Some(s),
            Err(ImportError::Store { summary, .. } | ImportError::Listening { summary, .. }) => {
                Some(summary)
            }
            Err(ImportError::Read { .. }) => None,
        };
        if let Some(summary) = summary {
            let event = crate::audit::events::imported(
                &args.file.display().to_string(),
                args.agent.as_deref(),
                summary.stored,
                summary.rejected_total(),
            );
            if let Err(e) = crate::audit::record_now(
                store.as_ref(),
                &config.audit,
                &config.instance_name(),
                event,
            )
            .await
            {
                eprintln!(
                    "error: the import is stored, but its audit record could not be written: {e:#}"
                );
            }
        }
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
