//! `zerofault-collector`: command line (see `docs/architecture.md` for the stable contract).
#![forbid(unsafe_code)]

use std::pin::Pin;
use std::process::ExitCode;

use anyhow::Context;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use zerofault_collector::cmd::console::{EXIT_FAILED, EXIT_OK};
use zerofault_collector::cmd::validate::{self, ConfigArg};
use zerofault_collector::cmd::{backup, certs, demo, hash_password, import, report, serve, verify};
use zerofault_collector::config::Config;
use zerofault_common::assets;

/// zerofault collector: receives agent reports over mutual TLS, stores them in SQLite and
/// exposes Prometheus metrics.
#[derive(Debug, Parser)]
#[command(name = "zerofault-collector", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector (mTLS ingest and the /metrics listener) until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Check a configuration file, including its TLS files; print `OK: FILE` or every
    /// problem and exit 1.
    Validate(ConfigArg),
    /// Create or extend a CA, the collector's server certificate and agent client
    /// certificates (an existing CA in DIR is reused).
    Certs(certs::CertsArgs),
    /// Run a local demonstration: certificates, an inventory, configs, a collector and four
    /// agents on loopback, one of them probing a link the demo keeps cut.
    Demo(demo::DemoArgs),
    /// Store reports from a JSON lines file with the checks and idempotency of live ingest.
    ///
    /// One report per line in the form `zerofault-agent once --json` prints (compacted with
    /// `jq -c .`); `-` reads stdin. Refused lines are printed as FILE:LINE and skipped. Exit codes: 0 every line stored or a duplicate,
    /// 1 some lines refused (the rest is stored), 2 usage, config, input or database error.
    Import(import::ImportArgs),
    /// Check a closed month's signed manifest (MANIFEST.sha256) and the files it lists.
    ///
    /// Checks the manifest's signature (with --cert, else the enclosed MANIFEST.cert.pem),
    /// with --ca that the signer certificate was issued by that CA, then every listed
    /// file's SHA-256. Exit codes: 0 all OK,
    /// 1 a check failed (each failure names its file), 2 a file given could not be read.
    Verify(verify::VerifyArgs),
    /// Export a month's SLA report (hosts, links, groups, zero-fault backbone, incidents,
    /// capacity) as CSV, JSON, XLSX, HTML and PDF, in Chinese or English; --close freezes
    /// and signs it. Without --month: the previous month (for the month so far, give
    /// --month with the current month: it is reported up to now, marked "not final").
    ///
    /// Reads the database and the inventory named in the config; works while the
    /// collector runs. Exit codes: 0 done, 1 refused or failed (the message says why),
    /// 2 usage or configuration error.
    Report(report::ReportArgs),
    /// Write a consistent copy of the database while the collector runs (online backup).
    ///
    /// The copy is the database as of one moment, compacted; ingest goes on meanwhile. To
    /// restore: stop the collector, put the copy at `storage.sqlite.path` (owned by the
    /// collector's user, mode 0600) with no `-wal`/`-shm` files beside it, start it.
    /// A PostgreSQL store is backed up with `pg_dump` or `pg_basebackup` instead (exit 2).
    /// Exit codes: 0 done, 1 the copy failed (the partial file is removed), 2 usage,
    /// configuration error, no database, an existing --out or a PostgreSQL store.
    Backup(backup::BackupArgs),
    /// Print the password_hash of an `access.users` entry for the password on stdin's first
    /// line (PBKDF2-HMAC-SHA256, random salt). Exit codes: 0 printed, 2 no password or a
    /// bad --iterations.
    HashPassword(hash_password::HashPasswordArgs),
    /// Verify or export the tamper-evident audit log (docs/security.md).
    Audit(zerofault_collector::cmd::audit::AuditArgs),
    /// Exclude a past period from a host's, link's or group's SLA after the fact (force
    /// majeure), withdraw one, list them (docs/sla-operations.md); each an audit record.
    Sla(zerofault_collector::cmd::sla::SlaArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Also stop (cleanly) when stdin reaches end of file. For `demo`, which keeps the other
    /// end of a pipe: its children then end with it however it ends, SIGKILL included.
    #[arg(long, hide = true)]
    exit_with_stdin: bool,
}

/// mimalloc instead of glibc's allocator: at 3,333 reports/s glibc's malloc and free were
/// about 30% of the collector's CPU samples (perf), and with mimalloc the collector used
/// 71% of a core instead of 94%, with a lower peak RSS (docs/benchmarks.md, "On
/// PostgreSQL"). The agent keeps the system allocator: its goal is a small footprint.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The hidden `generate-assets` (man pages, completions for the packages) is known to the
    // parser only, so it is in neither --help nor the pages and completions it writes.
    let matches = assets::with_subcommand(Cli::command()).get_matches();
    if let Some(code) = assets::run(&matches, Cli::command()) {
        return ExitCode::from(u8::try_from(code).unwrap_or(EXIT_FAILED));
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Validate(args) => return ExitCode::from(validate::run(&args)),
        Command::Serve(args) => {
            init_tracing();
            // The same check as `validate`, so that a file `validate` passes starts.
            match Config::check(&args.config.config) {
                Ok(config) => runtime().and_then(|rt| {
                    rt.block_on(async {
                        let stdin_closed = stdin_closed(args.exit_with_stdin)?;
                        let shutdown = async {
                            tokio::select! {
                                () = serve::shutdown_signal() => {}
                                () = stdin_closed => {
                                    tracing::info!("stdin closed (the process that started this collector ended); stopping");
                                }
                            }
                        };
                        serve::serve(config, shutdown).await
                    })
                }),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_FAILED);
                }
            }
        }
        Command::Certs(args) => match &args.action {
            Some(action) => return ExitCode::from(certs::admin::run(action)),
            None => certs::run(&args),
        },
        Command::Import(args) => return ExitCode::from(import::run(&args)),
        Command::Verify(args) => return ExitCode::from(verify::run(&args)),
        Command::Report(args) => return ExitCode::from(report::run(&args)),
        Command::Backup(args) => return ExitCode::from(backup::run(&args)),
        Command::Audit(args) => {
            return ExitCode::from(zerofault_collector::cmd::audit::run(&args));
        }
        Command::Sla(args) => {
            return ExitCode::from(zerofault_collector::cmd::sla::run(&args));
        }
        Command::HashPassword(args) => {
            return ExitCode::from(hash_password::run(&args, &mut std::io::stdin().lock()));
        }
        Command::Demo(args) => {
            init_tracing();
            runtime().and_then(|rt| rt.block_on(demo::run(&args)))
        }
    };
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// With `--exit-with-stdin`: completes when stdin reaches end of file; otherwise never.
fn stdin_closed(watch: bool) -> anyhow::Result<Pin<Box<dyn Future<Output = ()> + Send>>> {
    if !watch {
        return Ok(Box::pin(std::future::pending()));
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    zerofault_common::on_eof(std::io::stdin(), move || {
        let _ = tx.send(());
    })
    .context("starting the stdin watcher")?;
    Ok(Box::pin(async move {
        // An error means the watcher thread ended without sending: treated as the end too.
        let _ = rx.await;
    }))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Logs to stderr (journald and container runtimes collect it), filtered by `RUST_LOG`.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for people: journald and log files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
