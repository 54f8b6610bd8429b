//! What every command shares on the console: its exit codes and the progress line.
//!
//! Results go to stdout, everything else to stderr. The exit codes are part of the command
//! line's contract (scripts and systemd units test them; each command's `--help` names
//! its meaning of 1 and 2).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::Config;

/// Exit code: done (`import`: every line stored or a duplicate; `verify`: the signature and
/// every file are good; `validate`: `OK: FILE`).
pub const EXIT_OK: u8 = 0;
/// Exit code: the command ran and said no, or failed. `report`: refused (month not over,
/// already closed, ...) or failed; `import`: some lines were refused (the others are
/// stored); `verify`: a bad signature or chain, an unparsable manifest, or a changed or
/// missing file; `validate`: the configuration has problems; `serve`, `certs`, `demo`: any
/// error.
pub const EXIT_FAILED: u8 = 1;
/// Exit code: the command could not run as asked. `report`: usage or configuration error;
/// `import`: usage, config, input or database error (it stopped); `verify`: the manifest,
/// `--cert` or `--ca` could not be read.
pub const EXIT_ERROR: u8 = 2;

/// A progress line on stderr, redrawn in place at most once per `every`, and only on a
/// terminal: a log file or a pipe gets the messages and the results, not the redraws.
#[derive(Debug)]
pub struct ProgressLine {
    terminal: bool,
    every: Duration,
    last_shown: Option<Instant>,
    shown: bool,
}

impl ProgressLine {
    /// A line on stderr, redrawn at most once per `every`.
    pub fn new(every: Duration) -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            every,
            last_shown: None,
            shown: false,
        }
    }

    /// Redraws the line with `text()`, unless stderr is not a terminal or the line was drawn
    /// less than `every` ago (then `text` is not called).
    pub fn show(&mut self, text: impl FnOnce() -> String) {
        if !self.terminal || self.last_shown.is_some_and(|t| t.elapsed() < self.every) {
            return;
        }
        self.last_shown = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{}", text());
        let _ = err.flush();
        self.shown = true;
    }

    /// Removes the line, so that a message printed next starts on a clean line.
    pub fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }

    /// Replaces the line with `what`, which stays (a finished step); nothing when stderr is
    /// not a terminal.
    pub fn step(&mut self, what: &str) {
        if self.terminal {
            eprintln!("\r\x1b[K{what}");
            self.shown = false;
        }
    }
}

/// Loads the collector configuration `path` for a command that works beside a running
/// collector (`report`, `backup`): parsed and its structure checked (not its TLS files,
/// which these commands do not use). On failure prints the problems and gives
/// [`EXIT_ERROR`].
pub fn load_config(path: &Path) -> Result<Config, u8> {
    Config::load(path)
        .and_then(|c| c.validate_structure().map(|()| c))
        .map_err(|e| {
            eprintln!("{e}");
            EXIT_ERROR
        })
}

/// Refuses a configuration whose database does not exist (a typo in the path would
/// otherwise create an empty one): prints where it looked and `what_then`, and gives
/// [`EXIT_ERROR`].
pub fn require_database(config: &Config, config_path: &Path, what_then: &str) -> Result<(), u8> {
    match config.storage.missing_database() {
        Some((key, db)) => {
            eprintln!(
                "error: no database at {} ({key} in {}): {what_then}, or fix the path",
                db.display(),
                config_path.display()
            );
            Err(EXIT_ERROR)
        }
        None => Ok(()),
    }
}

/// The single-threaded runtime of a command; on failure prints why and gives
/// [`EXIT_FAILED`].
pub fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the runtime: {e}");
            EXIT_FAILED
        })
}

/// Loads the configuration at `path`, opens its store on a one-thread runtime, runs `work`
/// with both and closes the store: the frame of the commands that work on the database
/// (`audit`, `certs token|revoke|...`). The exit code is `work`'s, or [`EXIT_ERROR`] when
/// the configuration or the store cannot be opened (the message printed).
pub fn with_store<F, Fut>(path: &Path, work: F) -> u8
where
    F: FnOnce(Config, std::sync::Arc<dyn crate::store::Store>) -> Fut,
    Fut: std::future::Future<Output = u8>,
{
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    rt.block_on(async {
        let store = match crate::store::open(&config.storage, &config.links.thresholds).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_ERROR;
            }
        };
        let code = work(config, store.clone()).await;
        store.close().await;
        code
    })
}
