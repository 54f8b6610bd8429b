//! `zerofault-collector certs`: the command. The CA and the certificates it issues, with
//! the layout of the directory and the rules for existing files, are in [`ca`].

use std::path::PathBuf;

pub mod admin;
pub mod ca;
#[cfg(test)]
mod tests;

use ca::parse_agent_id;
pub use ca::{
    CA_DAYS, Ca, CertsError, DEFAULT_LEAF_DAYS, IssueOptions, Issued, Layout, Outcome,
    default_collector_names, ensure_ca, issue_agent, issue_collector,
};

/// Arguments of `zerofault-collector certs`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CertsArgs {
    /// Tokens and revocation, on the deployment's database (without one: issue from --dir).
    #[command(subcommand)]
    pub action: Option<admin::CertsAction>,
    /// Directory for the PEM files (created if missing). An existing CA in it is reused.
    #[arg(long, value_name = "DIR", required = true)]
    pub dir: Option<PathBuf>,
    /// Collector configuration file: record what is issued in the deployment's audit log.
    /// Without it nothing is recorded (e.g. a CA made before the collector is installed).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Issue a client certificate for this agent id (the certificate CN); repeatable.
    #[arg(long = "agent", value_name = "ID", value_parser = parse_agent_id)]
    pub agents: Vec<String>,
    /// DNS name or IP address for the collector's server certificate; repeatable.
    /// Default: localhost, 127.0.0.1, ::1 and this machine's host name.
    #[arg(long = "collector-name", value_name = "NAME", value_parser = parse_collector_name)]
    pub collector_names: Vec<String>,
    /// Validity of new collector and agent certificates, in days (a new CA gets 10 years).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LEAF_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub days: u32,
    /// Replace the existing certificates this command names: each `--agent`'s, and the
    /// collector's when `--collector-name` is given or no `--agent` is. Never the CA.
    #[arg(long)]
    pub force: bool,
}

/// `s` if it can be a subject alternative name of the collector's certificate.
fn parse_collector_name(s: &str) -> Result<String, CertsError> {
    ca::san(s).map(|_| s.to_owned())
}

/// Runs `zerofault-collector certs`.
pub fn run(args: &CertsArgs) -> anyhow::Result<()> {
    let opts = IssueOptions {
        days: args.days,
        force: args.force,
    };
    let dir = args
        .dir
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("--dir is required"))?;
    let ca = ensure_ca(dir)?;
    let layout = ca.layout().clone();
    match ca.outcome {
        Outcome::Written => println!(
            "CA:        wrote {} and {} (new CA, valid {CA_DAYS} days)",
            layout.ca_cert().display(),
            layout.ca_key().display()
        ),
        Outcome::Kept => println!(
            "CA:        reusing {} and {}",
            layout.ca_cert().display(),
            layout.ca_key().display()
        ),
    }

    let names = if args.collector_names.is_empty() {
        default_collector_names()
    } else {
        args.collector_names.clone()
    };
    // `--force` replaces only what the command names: adding an agent with `--force` must
    // not silently swap the collector's certificate for one with the default names (every
    // agent that connects by another name would fail TLS after the next restart).
    let collector_named = !args.collector_names.is_empty() || args.agents.is_empty();
    let collector_opts = IssueOptions {
        force: opts.force && collector_named,
        ..opts
    };
    let issued = ca.issue_collector(&names, &collector_opts)?;
    report(
        "collector",
        &issued,
        &format!("names: {}", names.join(", ")),
        opts.days,
    );

    let mut written = Vec::new();
    if issued.outcome == Outcome::Written {
        written.push(format!("collector {}", names.join(",")));
    }
    for id in &args.agents {
        let issued = ca.issue_agent(id, &opts)?;
        report(&format!("agent {id}"), &issued, "client", opts.days);
        if issued.outcome == Outcome::Written {
            written.push(format!("agent {id}"));
        }
    }
    if let Some(path) = &args.config
        && !written.is_empty()
    {
        record_issued(path, &written, opts.days)?;
    }
    if !args.agents.is_empty() {
        println!(
            "\nCopy ca.pem and agents/ID.pem, agents/ID.key to each agent host \
             (keys stay mode 0600, readable by the agent's user only)."
        );
    }
    Ok(())
}

/// Records `written` in the audit log of the deployment configured in `path`.
fn record_issued(path: &std::path::Path, written: &[String], days: u32) -> anyhow::Result<()> {
    let config = crate::config::Config::load(path)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = crate::store::open(&config.storage, &config.links.thresholds).await?;
        let audit =
            crate::audit::Audit::new(store.clone(), &config.audit, &config.instance_name())?;
        let result = audit
            .write(crate::audit::events::certs_issued(written, days))
            .await;
        store.close().await;
        result?;
        anyhow::Ok(())
    })
}

fn report(what: &str, issued: &Issued, detail: &str, days: u32) {
    match issued.outcome {
        Outcome::Written => println!(
            "{what}: wrote {} and {} ({detail}; valid {days} days)",
            issued.cert.display(),
            issued.key.display()
        ),
        Outcome::Kept => println!(
            "{what}: kept existing {} and {} (pass --force to replace)",
            issued.cert.display(),
            issued.key.display()
        ),
    }
}
