//! Man pages and shell completions of a binary, generated from its real clap command line,
//! for the packages (`packaging/build.sh` runs `zerofault-agent generate-assets --out DIR`
//! and `zerofault-collector generate-assets --out DIR`, a hidden subcommand of each).
//!
//! One implementation for both binaries, so the pages and completions cannot drift from
//! `--help`. The generator is added to the parser only ([`with_subcommand`]), never to the
//! command the pages and completions are made from, so it appears in neither.

use std::io;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgMatches, Command};
use clap_complete::Shell;

/// Name of the hidden subcommand.
pub const SUBCOMMAND: &str = "generate-assets";

/// `cmd` plus the hidden `generate-assets --out DIR` subcommand, for parsing.
pub fn with_subcommand(cmd: Command) -> Command {
    cmd.subcommand(
        Command::new(SUBCOMMAND)
            .hide(true)
            .about("Write the man pages and shell completions into DIR (for the packages)")
            .arg(
                Arg::new("out")
                    .long("out")
                    .value_name("DIR")
                    .required(true)
                    .value_parser(clap::value_parser!(PathBuf)),
            ),
    )
}

/// When `matches` (parsed by [`with_subcommand`]) is `generate-assets`: writes the assets of
/// `cmd` (the binary's command line without the generator), prints the files written and
/// returns the exit code. `None` for every other subcommand.
pub fn run(matches: &ArgMatches, cmd: Command) -> Option<i32> {
    let (SUBCOMMAND, sub) = matches.subcommand()? else {
        return None;
    };
    let out = sub.get_one::<PathBuf>("out").expect("--out is required");
    Some(match generate(cmd, out) {
        Ok(files) => {
            for f in files {
                println!("{}", f.display());
            }
            0
        }
        Err(e) => {
            eprintln!("error: cannot write into {}: {e}", out.display());
            1
        }
    })
}

/// The shells whose completions the packages ship.
pub const SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes the man pages (section 1: one for the binary, one per visible subcommand, e.g.
/// `zerofault-agent-run.1`) into `out/man/`, and the completions into `out/completions/`
/// (`NAME.bash`, `_NAME` for zsh, `NAME.fish`). Creates the directories; returns every file
/// written, sorted.
pub fn generate(cmd: Command, out: &Path) -> io::Result<Vec<PathBuf>> {
    let man = out.join("man");
    let completions = out.join("completions");
    std::fs::create_dir_all(&man)?;
    std::fs::create_dir_all(&completions)?;
    let name = cmd.get_name().to_owned();
    clap_mangen::generate_to(cmd.clone(), &man)?;
    let mut cmd = cmd;
    for shell in SHELLS {
        clap_complete::generate_to(shell, &mut cmd, &name, &completions)?;
    }
    let mut files = Vec::new();
    for dir in [&man, &completions] {
        for entry in std::fs::read_dir(dir)? {
            files.push(entry?.path());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Command {
        Command::new("zf-demo")
            .version("1.0")
            .about("demo")
            .subcommand_required(true)
            .subcommand(
                Command::new("run")
                    .about("run it")
                    .arg(Arg::new("config").long("config").required(true)),
            )
    }

    #[test]
    fn the_generator_is_parsed_but_in_no_page_or_completion() {
        let dir = tempfile_dir();
        let parser = with_subcommand(demo());
        let m = parser
            .clone()
            .try_get_matches_from(["zf-demo", "run", "--config", "x"])
            .unwrap();
        assert_eq!(run(&m, demo()), None);
        let m = parser
            .try_get_matches_from(["zf-demo", SUBCOMMAND, "--out", dir.to_str().unwrap()])
            .unwrap();
        assert_eq!(run(&m, demo()), Some(0));
        let files: Vec<PathBuf> = ["man", "completions"]
            .iter()
            .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap())
            .map(|e| e.unwrap().path())
            .collect();
        let mut names: Vec<String> = files
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "completions/_zf-demo",
                "completions/zf-demo.bash",
                "completions/zf-demo.fish",
                "man/zf-demo-run.1",
                "man/zf-demo.1",
            ]
        );
        let page = std::fs::read_to_string(dir.join("man/zf-demo.1")).unwrap();
        assert!(page.contains("run it"), "{page}");
        let fish = std::fs::read_to_string(dir.join("completions/zf-demo.fish")).unwrap();
        assert!(fish.contains("-l config"), "{fish}");
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(
                !text.contains(SUBCOMMAND),
                "{} mentions the generator",
                f.display()
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh directory under the system temp dir (common has no tempfile dependency).
    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "zf-assets-test-{}-{}",
            std::process::id(),
            crate::now_unix_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
