//! `zerofault-agent`: command line and logging; the work is in the library.
#![forbid(unsafe_code)]

use std::io::IsTerminal;

use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use zerofault_agent::Cli;
use zerofault_common::assets;

fn main() {
    // Before any thread or name resolution: the files mapped now are the ones whose code
    // the agent may give back later (`zerofault_sys::mappings`).
    zerofault_sys::mappings::remember_startup_files();
    // The hidden `generate-assets` (man pages, completions for the packages) is known to the
    // parser only, so it is in neither --help nor the pages and completions it writes.
    let matches = assets::with_subcommand(Cli::command()).get_matches();
    if let Some(code) = assets::run(&matches, Cli::command()) {
        std::process::exit(code);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let (filter, problem) = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only for a person at a terminal, never into journald or files.
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
    if let Some(problem) = problem {
        tracing::warn!("{problem}");
    }
    std::process::exit(zerofault_agent::main_with(cli));
}

/// The log filter from `RUST_LOG` (`info` when unset): `level` or `target=level` directives
/// separated by commas, e.g. `info,zerofault_agent=debug`. `Targets` rather than
/// `EnvFilter`: the agent needs no span or field matching, and `EnvFilter`'s regular
/// expressions were 154 KB of the agent's code, all of it resident (docs/benchmarks.md).
/// A value it cannot read logs at `info` and says so.
fn log_filter(rust_log: Option<&str>) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => (info(), None),
        Some(v) => match v.parse::<Targets>() {
            Ok(t) => (t, None),
            Err(e) => (
                info(),
                Some(format!(
                    "RUST_LOG={v:?} is not a log filter ({e}); logging at info. Write a level \
                     (error, warn, info, debug, trace) or target=level pairs separated by commas"
                )),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing::level_filters::LevelFilter;

    use super::log_filter;

    #[test]
    fn rust_log_is_read_as_levels_and_targets() {
        let (t, problem) = log_filter(None);
        assert!(problem.is_none());
        assert!(t.would_enable("zerofault_agent", &Level::INFO));
        assert!(!t.would_enable("zerofault_agent", &Level::DEBUG));
        let (t, _) = log_filter(Some("warn,zerofault_agent::transport=debug"));
        assert!(t.would_enable("zerofault_agent::transport", &Level::DEBUG));
        assert!(!t.would_enable("zerofault_agent::spool", &Level::INFO));
        assert!(t.would_enable("hyper", &Level::WARN));
        let (t, problem) = log_filter(Some("zerofault_agent=loud"));
        assert!(problem.unwrap().contains("RUST_LOG"));
        assert_eq!(t.default_level(), Some(LevelFilter::INFO));
    }
}
