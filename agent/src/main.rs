//! `zerofault-agent`: command line and logging; the work is in the library.
#![forbid(unsafe_code)]

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    let cli = zerofault_agent::Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into journald or log files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    std::process::exit(zerofault_agent::main_with(cli));
}
