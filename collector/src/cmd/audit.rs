//! `zerofault-collector audit`: verify the audit log's chain and seals, export it.

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::audit::verify::{VerifyError, export, verify, verify_lines};
use crate::cmd::console::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};

/// Arguments of `zerofault-collector audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: AuditAction,
}

/// `audit verify` and `audit export`.
#[derive(Debug, clap::Subcommand)]
pub enum AuditAction {
    /// Check the whole audit log: every record's hash, the links between records (a
    /// deleted, changed or reordered record is named), where it starts (only retention may
    /// delete the oldest), and every seal's signature and certificate (issued by the CA).
    /// Records after the newest seal are checked against --anchor values from syslog.
    /// Exit codes: 0 intact, 1 a check failed (the record is named), 2 could not read.
    Verify(VerifyArgs),
    /// Write the audit log as JSON lines (one record per line, with its hashes).
    /// Exit codes: 0 written, 2 could not read or write.
    Export(ExportArgs),
}

/// Arguments of `audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Collector configuration file: the database, and `tls.ca`, the CA the seals'
    /// certificates must chain to.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// CA certificate(s) the seals' signers must be issued by, instead of `tls.ca`.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Verify this exported file (`audit export`) instead of the database.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// With --file: the file may start after record SEQ, whose hash is HASH (an export made
    /// with --after or --since; the hash from the earlier export or syslog).
    #[arg(long, value_name = "SEQ:HASH", value_parser = parse_anchor, requires = "file")]
    pub start_after: Option<(u64, String)>,
    /// An outside anchor `SEQ:HASH` (a seal's head as syslog received it); repeatable.
    #[arg(long = "anchor", value_name = "SEQ:HASH", value_parser = parse_anchor)]
    pub anchors: Vec<(u64, String)>,
}

/// Arguments of `audit export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Collector configuration file: the database.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Only records after this sequence number.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub after: u64,
    /// Only records at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00+08:00).
    #[arg(long, value_name = "TIME")]
    pub since: Option<jiff::Timestamp>,
    /// Write to this new file (mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn parse_anchor(s: &str) -> Result<(u64, String), String> {
    let (seq, hash) = s
        .split_once(':')
        .ok_or("give SEQ:HASH, e.g. 1042:9f86d0...")?;
    let seq = seq
        .parse()
        .map_err(|_| format!("{seq:?} is not a sequence number"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the hash is 64 hex digits".into());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

/// Runs `zerofault-collector audit`; returns the exit code.
pub fn run(args: &AuditArgs) -> u8 {
    let path = match &args.action {
        AuditAction::Verify(a) => &a.config,
        AuditAction::Export(a) => &a.config,
    };
    crate::cmd::console::with_store(path, |config, store| async move {
        match &args.action {
            AuditAction::Verify(a) => {
                let ca_path = a.ca.clone().unwrap_or_else(|| config.tls.ca.clone());
                let cas = match zerofault_common::pem::load_certs("tls.ca", &ca_path) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return EXIT_ERROR;
                    }
                };
                let tty = std::io::stderr().is_terminal();
                let result = match &a.file {
                    Some(f) => match std::fs::File::open(f) {
                        Ok(file) => verify_lines(
                            &mut std::io::BufReader::new(file),
                            &cas,
                            a.anchors.clone(),
                            a.start_after.clone(),
                        ),
                        Err(e) => {
                            eprintln!("error: cannot read {}: {e}", f.display());
                            return EXIT_ERROR;
                        }
                    },
                    None => {
                        verify(store.as_ref(), &cas, a.anchors.clone(), |n| {
                            if tty {
                                eprint!("\rverified {n} records ...");
                            }
                        })
                        .await
                    }
                };
                if tty {
                    eprintln!();
                }
                match result {
                    Ok(v) => {
                        println!("OK: {v}");
                        if let Some((head, _)) = &v.head
                            && v.sealed_through < *head
                        {
                            println!(
                                "note: records after {} are not sealed yet; only an outside anchor (--anchor from syslog) shows whether newer records were deleted",
                                v.sealed_through
                            );
                        }
                        if a.file.is_none()
                            && let Some(note) = crate::audit::verify::seal_age_note(
                                &v,
                                config.audit.seal_interval,
                                zerofault_common::now_unix_ms(),
                            )
                        {
                            println!("note: {note}");
                        }
                        EXIT_OK
                    }
                    Err(VerifyError::Break(b)) => {
                        println!("FAILED: {b}");
                        EXIT_FAILED
                    }
                    Err(e @ (VerifyError::Line { .. } | VerifyError::Adjustment { .. })) => {
                        println!("FAILED: {e}");
                        EXIT_FAILED
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        EXIT_ERROR
                    }
                }
            }
            AuditAction::Export(a) => {
                let since = a.since.map_or(i64::MIN, |t| t.as_millisecond());
                let mut out: Box<dyn std::io::Write> = match &a.out {
                    Some(p) => {
                        use std::os::unix::fs::OpenOptionsExt;
                        match std::fs::OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .mode(0o600)
                            .open(p)
                        {
                            Ok(f) => Box::new(std::io::BufWriter::new(f)),
                            Err(e) => {
                                eprintln!("error: cannot create {}: {e}", p.display());
                                return EXIT_ERROR;
                            }
                        }
                    }
                    None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
                };
                match export(store.as_ref(), a.after, since, &mut out).await {
                    Ok(n) => {
                        eprintln!("exported {n} records");
                        EXIT_OK
                    }
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        EXIT_ERROR
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn anchors_parse_or_say_what_is_wrong() {
        let h = "A".repeat(64);
        assert_eq!(
            super::parse_anchor(&format!("12:{h}")).unwrap(),
            (12, h.to_ascii_lowercase())
        );
        assert!(super::parse_anchor("12").unwrap_err().contains("SEQ:HASH"));
        assert!(super::parse_anchor("x:ab").is_err());
        assert!(super::parse_anchor("1:abc").unwrap_err().contains("64 hex"));
    }
}
