//! `zerofault-collector verify`: checks a closed month's signed manifest and the files it
//! lists (the checks themselves are in `crate::month::manifest`).

use std::path::PathBuf;

use crate::cmd::console::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};
use crate::month::manifest::{FileStatus, Verification, report, verify_manifest};

/// Arguments of `zerofault-collector verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The manifest, `MANIFEST.sha256` in a closed month's export directory.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// The collector's certificate (PEM) to check the signature with; without it the copy
    /// `MANIFEST.cert.pem` next to the manifest is used, which proves nothing on its own
    /// unless `--ca` is given too.
    #[arg(long, value_name = "PEM")]
    pub cert: Option<PathBuf>,
    /// Also require the signer's certificate to be issued by this CA (PEM), e.g. the
    /// `ca.pem` of `zerofault-collector certs`.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
    /// Also record the result in the audit log of this collector configuration's database
    /// (`month.verify`): an assessment's check of a month, on record. Without it `verify`
    /// needs no database and runs anywhere.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The month a manifest's files are of (`zerofault-YYYY-MM-...`), "" when none says.
fn month_of(v: &Verification) -> String {
    v.files
        .iter()
        .find_map(|(name, _)| {
            let base = name.rsplit('/').next()?;
            let month = base.strip_prefix("zerofault-")?.get(..7)?;
            let b = month.as_bytes();
            (b[4] == b'-' && month.chars().filter(char::is_ascii_digit).count() == 6)
                .then(|| month.to_owned())
        })
        .unwrap_or_default()
}

/// Runs `zerofault-collector verify`: prints one line per check and returns the exit code
/// ([`EXIT_OK`]; [`EXIT_FAILED`] for a failed check; [`EXIT_ERROR`] when the manifest,
/// `--cert` or `--ca` could not be read).
pub fn run(args: &VerifyArgs) -> u8 {
    let v = match verify_manifest(&args.manifest, args.cert.as_deref(), args.ca.as_deref()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    print!("{}", report(&v, &args.manifest));
    if args.cert.is_none() && args.ca.is_none() {
        eprintln!(
            "note: the signature was checked with the certificate shipped next to the manifest; pass --cert or --ca to check that it is your collector's"
        );
    }
    let verdict = if v.ok() { EXIT_OK } else { EXIT_FAILED };
    match &args.config {
        None => verdict,
        Some(config) => record(config, &v, &args.manifest, verdict),
    }
}

/// Records the verification in the deployment's audit log; a failure to record is an
/// error (exit 2): the caller asked for it to be on record.
fn record(
    config: &std::path::Path,
    v: &Verification,
    manifest: &std::path::Path,
    verdict: u8,
) -> u8 {
    let good = v.files.iter().filter(|(_, s)| *s == FileStatus::Ok).count();
    let detail = format!(
        "{}: signature {}, {good} of {} files OK",
        manifest.display(),
        if v.signature.is_ok() { "good" } else { "bad" },
        v.files.len()
    );
    let event = crate::audit::events::month_verified(&month_of(v), v.ok(), &detail);
    crate::cmd::console::with_store(config, |config, store| async move {
        let written = match crate::audit::Audit::new(store, &config.audit, &config.instance_name())
        {
            Ok(audit) => audit.write(event).await.map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        match written {
            Ok(r) => {
                eprintln!("recorded as audit record {}", r.seq);
                verdict
            }
            Err(e) => {
                eprintln!("error: cannot record the verification in the audit log: {e:#}");
                EXIT_ERROR
            }
        }
    })
}

#[cfg(test)]
mod tests;
