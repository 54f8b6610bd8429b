//! `zerofault-collector backup`: an online, consistent copy of the store while the collector
//! runs (restore: `docs/sla-operations.md`, "Backup and restore").
//!
//! The copy is made by the store itself ([`crate::store::Store::backup`]) on this command's
//! own connection: a running collector keeps ingesting on its connection meanwhile, and the
//! copy is the database as of one moment.

use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cmd::console::{
    EXIT_ERROR, EXIT_FAILED, EXIT_OK, load_config, require_database, runtime,
};
use crate::store::Backend;
use crate::store::sqlite::DB_FILE_MODE;

/// Arguments of `zerofault-collector backup`.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Collector configuration file: the database to copy (`storage.sqlite.path`; a
    /// PostgreSQL database, `storage.postgres`, is copied with `pg_dump` instead).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// The copy to write: a new file in an existing directory (an existing file is refused,
    /// never overwritten). Written with mode 0600.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Runs `zerofault-collector backup`; returns the exit code ([`EXIT_OK`]; [`EXIT_FAILED`]
/// when the copy failed, and the partial file is removed; [`EXIT_ERROR`] for a configuration
/// error, a missing database, an unusable `--out`, or a PostgreSQL store, which is backed
/// up with PostgreSQL's own tools).
pub fn run(args: &BackupArgs) -> u8 {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Refused before `--out` is made or the database is reached: the answer does not depend
    // on either, and an empty file left behind could pass for a backup.
    if let Backend::Postgres(_) = config.storage.backend() {
        eprintln!(
            "error: {}",
            crate::store::postgres::backup_refused(&args.out)
        );
        return EXIT_ERROR;
    }
    if let Err(code) = require_database(&config, &args.config, "nothing to back up") {
        return code;
    }
    if let Err(e) = create_target(&args.out) {
        eprintln!("error: {e}");
        return EXIT_ERROR;
    }
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => {
            let _ = std::fs::remove_file(&args.out);
            return code;
        }
    };
    let started = Instant::now();
    let result = runtime.block_on(async {
        let store = crate::store::open(&config.storage, &config.links.thresholds).await?;
        eprintln!("backing up to {} ...", args.out.display());
        let copied = store.backup(args.out.clone()).await;
        store.close().await;
        copied
    });
    match result {
        Ok(bytes) => {
            println!(
                "backed up to {} ({bytes} bytes) in {:.1} s",
                args.out.display(),
                started.elapsed().as_secs_f64()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            // A partial copy must not be mistaken for a backup.
            let _ = std::fs::remove_file(&args.out);
            EXIT_FAILED
        }
    }
}

/// Creates `path` empty with the database's own mode ([`DB_FILE_MODE`]: the copy holds
/// every stored report), refusing an existing file.
fn create_target(path: &Path) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(DB_FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => format!(
                "{} exists; a backup never overwrites a file: give a new name or remove it",
                path.display()
            ),
            _ => format!("cannot create {}: {e}", path.display()),
        })
}
