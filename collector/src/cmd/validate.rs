//! `zerofault-collector validate`: checks a configuration file, its TLS files included.

use std::path::PathBuf;

use crate::cmd::console::{EXIT_FAILED, EXIT_OK};
use crate::config::Config;

/// The `--config FILE` argument of `validate` and `serve`.
#[derive(Debug, clap::Args)]
pub struct ConfigArg {
    /// Collector configuration file (YAML); relative paths inside it are resolved against
    /// its directory.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

/// Runs `validate`: prints `OK: FILE` and returns [`EXIT_OK`], or prints every problem of
/// the file (one per line, `FILE:LINE:COL: key '...': ...`) and returns [`EXIT_FAILED`].
pub fn run(args: &ConfigArg) -> u8 {
    // Every problem of the file at once: `validate` promises it, and `serve` (whose
    // ExecStartPre= runs `validate`) refuses the same file with the same list.
    match Config::check(&args.config) {
        Ok(_) => {
            println!("OK: {}", args.config.display());
            EXIT_OK
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_FAILED
        }
    }
}
