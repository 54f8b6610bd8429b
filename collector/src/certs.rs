//! `zerofault-collector certs`: CA, collector server certificate, agent client certificates.
// PLACEHOLDER SIGNATURES (owned by the expose/certs/demo helper; replace the bodies).

use std::path::PathBuf;

/// Arguments of `zerofault-collector certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Directory for the PEM files.
    #[arg(long)]
    pub dir: PathBuf,
}

/// Runs `zerofault-collector certs`.
pub fn run(_args: &CertsArgs) -> anyhow::Result<()> {
    todo!("certs::run")
}
