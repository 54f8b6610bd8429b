//! `zerofault-collector verify`: checks a closed month's signed manifest and the files it
//! lists (the checks themselves are in `crate::month::manifest`).

use std::path::PathBuf;

use crate::cmd::console::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};
use crate::month::manifest::{report, verify_manifest};

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
    if v.ok() { EXIT_OK } else { EXIT_FAILED }
}
