//! `zerofault-agent`: command line and logging; the work is in the library.
#![forbid(unsafe_code)]

use std::io::IsTerminal;

use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;
use zerofault_agent::Cli;
use zerofault_common::assets;

fn main() {
    // The hidden `generate-assets` (man pages, completions for the packages) is known to the
    // parser only, so it is in neither --help nor the pages and completions it writes.
    let matches = assets::with_subcommand(Cli::command()).get_matches();
    if let Some(code) = assets::run(&matches, Cli::command()) {
        std::process::exit(code);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into journald or log files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    std::process::exit(zerofault_agent::main_with(cli));
}
