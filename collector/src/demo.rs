//! `zerofault-collector demo`: certificates, configs, a collector and one agent process.
// PLACEHOLDER SIGNATURES (owned by the expose/certs/demo helper; replace the bodies).

use std::path::PathBuf;

/// Arguments of `zerofault-collector demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for certificates, configs and the SQLite database.
    #[arg(long)]
    pub dir: PathBuf,
}

/// Runs the demo until Ctrl-C.
pub async fn run(_args: &DemoArgs) -> anyhow::Result<()> {
    todo!("demo::run")
}
