//! `zerofault-collector sla adjust|withdraw|adjustments`: exclude a period from a host's, a
//! link's or a group's SLA after the fact (`month/adjustments.rs`, docs/sla-operations.md),
//! each an audit record written in the same transaction as the adjustment.
//!
//! Who may: whoever can run the collector's commands against its database (the collector's
//! user or root on its host, `sudo -u zerofault`): the administrator role of
//! docs/security.md. The HTTP listener stays read-only; the cockpit and the API only show
//! adjustments, in the month's report.

use std::path::PathBuf;

use crate::audit::{Audit, events};
use crate::cmd::console::{EXIT_ERROR, EXIT_FAILED, EXIT_OK};
use crate::config::Config;
use crate::inventory::{Inventory, Scope};
use crate::store::Store;
use crate::store::adjustments::NewAdjustment;

/// Longest adjustment: a longer one is almost surely a typo in a date.
pub const MAX_SPAN_MS: i64 = 31 * 86_400_000;
/// Longest reason, characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Arguments of `zerofault-collector sla`.
#[derive(Debug, clap::Args)]
pub struct SlaArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: SlaAction,
}

/// `sla adjust`, `sla withdraw`, `sla adjustments`.
#[derive(Debug, clap::Subcommand)]
pub enum SlaAction {
    /// Exclude a past period from the SLA of one host, link or group (e.g. a power cut
    /// agreed as force majeure): its time counts as maintenance, never as down. Recorded in
    /// the audit log and listed in the month's report with who, when and why; in a closed
    /// month it is a late correction. Exit codes: 0 recorded, 1 the database refused, 2
    /// usage or configuration error (nothing recorded).
    Adjust(AdjustArgs),
    /// Withdraw an adjustment: from now on it excludes nothing; it stays listed, marked
    /// withdrawn, with who and why. Exit codes: 0 withdrawn, 1 no such adjustment in force
    /// or the database refused, 2 usage or configuration error.
    Withdraw(WithdrawArgs),
    /// List the adjustments (tab-separated: id, state, scope, code, from, to, by, recorded,
    /// reason), all or those touching --month. Exit codes: 0 listed, 2 could not read.
    Adjustments(ListArgs),
}

/// What an adjustment covers: exactly one of these.
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// One host, by agent id.
    #[arg(long, value_name = "AGENT_ID")]
    pub host: Option<String>,
    /// One link, by id (an inventory link).
    #[arg(long, value_name = "LINK_ID")]
    pub link: Option<String>,
    /// Every host of a department (inventory code).
    #[arg(long, value_name = "CODE")]
    pub department: Option<String>,
    /// Every host of a business system (inventory code).
    #[arg(long, value_name = "CODE")]
    pub business_system: Option<String>,
    /// Every host in a data center (inventory code).
    #[arg(long, value_name = "CODE")]
    pub data_center: Option<String>,
    /// A site: its hosts and the links that reach it (inventory code).
    #[arg(long, value_name = "CODE")]
    pub site: Option<String>,
}

impl ScopeArgs {
    /// The scope given (clap requires exactly one).
    fn scope(&self) -> Scope {
        let all = [
            (&self.host, Scope::Host as fn(String) -> Scope),
            (&self.link, Scope::Link),
            (&self.department, Scope::Department),
            (&self.business_system, Scope::BusinessSystem),
            (&self.data_center, Scope::DataCenter),
            (&self.site, Scope::Site),
        ];
        all.into_iter()
            .find_map(|(v, make)| v.clone().map(make))
            .unwrap_or(Scope::Host(String::new()))
    }
}

/// Arguments of `sla adjust`.
#[derive(Debug, clap::Args)]
pub struct AdjustArgs {
    /// Collector configuration file: the database and the inventory (codes, time zone).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// What is excluded.
    #[command(flatten)]
    pub scope: ScopeArgs,
    /// Start of the period: `YYYY-MM-DD HH:MM` in the inventory's time zone, or RFC 3339
    /// with an offset (`2026-11-03T14:00:00+08:00`).
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// End of the period (exclusive), as --from; not after now, at most 31 days after --from.
    #[arg(long, value_name = "TIME")]
    pub to: String,
    /// Why (one line, at most 500 characters), e.g. the agreement's reference; shown in
    /// the month's report.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

/// Arguments of `sla withdraw`.
#[derive(Debug, clap::Args)]
pub struct WithdrawArgs {
    /// Collector configuration file: the database.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// The adjustment's id (`sla adjustments` lists them).
    #[arg(value_name = "ID")]
    pub id: u64,
    /// Why (one line, at most 500 characters).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

/// Arguments of `sla adjustments`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Collector configuration file: the database and the inventory (time zone).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Only those touching this month, YYYY-MM in the inventory's time zone.
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
}

/// A time as the operator wrote it: RFC 3339 with an offset, or local civil time in `tz`.
pub fn parse_time(s: &str, tz: &jiff::tz::TimeZone) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_millisecond());
    }
    let civil = s
        .replacen(' ', "T", 1)
        .parse::<jiff::civil::DateTime>()
        .map_err(|_| format!("{s:?} is not a time: give `YYYY-MM-DD HH:MM` (the inventory's time zone) or RFC 3339 such as 2026-11-03T14:00:00+08:00"))?;
    // A local time that a daylight-saving change skips or repeats is refused, not guessed.
    tz.to_ambiguous_timestamp(civil)
        .unambiguous()
        .map(|t| t.as_millisecond())
        .map_err(|e| format!("{s:?}: {e}; give it in RFC 3339 with its offset"))
}

/// Checks a reason: not empty, one line of printable text, at most [`MAX_REASON_CHARS`].
pub fn check_reason(reason: &str) -> Result<String, String> {
    let r = reason.trim();
    if r.is_empty() {
        return Err("--reason is empty: say why (e.g. the agreement's reference)".into());
    }
    if r.chars().count() > MAX_REASON_CHARS {
        return Err(format!(
            "--reason is longer than {MAX_REASON_CHARS} characters"
        ));
    }
    if r.chars().any(char::is_control) {
        return Err("--reason must be one line without control characters".into());
    }
    // The reason lands in CSV and XLSX files handed on: no cell that a spreadsheet would
    // take for a formula.
    if r.starts_with(['=', '+', '-', '@']) {
        return Err(
            "--reason must not start with =, +, - or @ (a spreadsheet would read it as a formula)"
                .into(),
        );
    }
    Ok(r.to_owned())
}

/// The adjustment `args` asks for, checked against the inventory and `now_ms`: the code
/// exists, the period is past, not empty and at most [`MAX_SPAN_MS`].
pub fn checked(
    args: &AdjustArgs,
    inventory: &Inventory,
    now_ms: i64,
) -> Result<NewAdjustment, String> {
    let scope = args.scope.scope();
    let (kind, code) = (scope.kind(), scope.value());
    if !inventory.knows(&scope) {
        let what = if kind == "host" {
            "is not a valid agent id".to_owned()
        } else {
            format!(
                "is not in the inventory ({}); adjustments name its codes",
                inventory.source.display()
            )
        };
        return Err(format!("--{} {code:?} {what}", kind.replace('_', "-")));
    }
    let from = parse_time(&args.from, &inventory.time_zone).map_err(|e| format!("--from {e}"))?;
    let to = parse_time(&args.to, &inventory.time_zone).map_err(|e| format!("--to {e}"))?;
    if to <= from {
        return Err("--to must be after --from".into());
    }
    if to > now_ms {
        return Err("--to is in the future: an adjustment excludes time after the fact; planned work is a maintenance window of the inventory".into());
    }
    if to - from > MAX_SPAN_MS {
        return Err(
            "the period is longer than 31 days; make one adjustment per month if it really is"
                .into(),
        );
    }
    Ok(NewAdjustment {
        kind: kind.to_owned(),
        code: code.to_owned(),
        start_ms: from,
        end_ms: to,
        reason: check_reason(&args.reason)?,
    })
}

/// Runs `zerofault-collector sla`; returns the exit code.
pub fn run(args: &SlaArgs) -> u8 {
    let path = match &args.action {
        SlaAction::Adjust(a) => &a.config,
        SlaAction::Withdraw(a) => &a.config,
        SlaAction::Adjustments(a) => &a.config,
    };
    crate::cmd::console::with_store(path, |config, store| async move {
        let inventory = match config.load_inventory() {
            Ok(Some(i)) => i,
            // Without an inventory file: hosts only, in the default time zone.
            Ok(None) => Inventory::default(),
            Err(e) => {
                eprintln!("{}: `inventory`: {e}", path.display());
                return EXIT_ERROR;
            }
        };
        let now_ms = zerofault_common::now_unix_ms();
        match &args.action {
            SlaAction::Adjust(a) => adjust(a, &config, &inventory, store, now_ms).await,
            SlaAction::Withdraw(a) => withdraw(a, &config, store).await,
            SlaAction::Adjustments(a) => list(a, &inventory, store.as_ref()).await,
        }
    })
}

async fn adjust(
    a: &AdjustArgs,
    config: &Config,
    inventory: &Inventory,
    store: std::sync::Arc<dyn Store>,
    now_ms: i64,
) -> u8 {
    let what = match checked(a, inventory, now_ms) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}; nothing recorded");
            return EXIT_ERROR;
        }
    };
    let closed = closed_months(inventory, store.as_ref(), what.start_ms, what.end_ms).await;
    let audit = match Audit::new(store, &config.audit, &config.instance_name()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_ERROR;
        }
    };
    let event = events::sla_adjusted(events::operator(), events::LOCAL.into(), &what);
    match audit.adjust(what, event).await {
        Ok((made, _)) => {
            println!(
                "adjustment {}: {} {} excluded from {} to {} ({})",
                made.id,
                made.what.kind,
                made.what.code,
                crate::month::local_time(inventory, made.what.start_ms),
                crate::month::local_time(inventory, made.what.end_ms),
                inventory.time_zone_name()
            );
            for m in closed {
                println!(
                    "note: {m} is closed: this is a late correction to it (`report --month {m}` writes it beside the frozen figures)"
                );
            }
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}; nothing recorded");
            EXIT_FAILED
        }
    }
}

/// The closed months that `[start_ms, end_ms)` touches.
async fn closed_months(
    inventory: &Inventory,
    store: &dyn Store,
    start_ms: i64,
    end_ms: i64,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut month = crate::month::current_month(inventory, start_ms);
    // At most two months: a period is at most 31 days.
    for _ in 0..3 {
        let Ok((s, e)) = inventory.month_bounds(&month) else {
            break;
        };
        if s >= end_ms {
            break;
        }
        match store.closed_month(month.clone()).await {
            Ok(Some(_)) => out.push(month.clone()),
            Ok(None) => {}
            Err(e) => eprintln!(
                "warning: cannot tell whether {month} is closed ({e}); if it is, this adjustment is a late correction to it"
            ),
        }
        month = crate::month::current_month(inventory, e);
    }
    out
}

async fn withdraw(a: &WithdrawArgs, config: &Config, store: std::sync::Arc<dyn Store>) -> u8 {
    let reason = match check_reason(&a.reason) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}; nothing recorded");
            return EXIT_ERROR;
        }
    };
    let audit = match Audit::new(store, &config.audit, &config.instance_name()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e:#}");
            return EXIT_ERROR;
        }
    };
    let event = events::sla_withdrawn(events::operator(), events::LOCAL.into(), a.id, &reason);
    match audit.withdraw(a.id, reason, event).await {
        Ok(Some(adj)) => {
            println!(
                "adjustment {} withdrawn: {} {} counts again as measured",
                adj.id, adj.what.kind, adj.what.code
            );
            EXIT_OK
        }
        Ok(None) => {
            eprintln!(
                "error: there is no adjustment {} in force (unknown, or withdrawn already); `sla adjustments` lists them",
                a.id
            );
            EXIT_FAILED
        }
        Err(e) => {
            eprintln!("error: {e}; nothing recorded");
            EXIT_FAILED
        }
    }
}

async fn list(a: &ListArgs, inventory: &Inventory, store: &dyn Store) -> u8 {
    let (from, to) = match &a.month {
        Some(m) => match inventory.month_bounds(m) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: --month {m:?}: {e}");
                return EXIT_ERROR;
            }
        },
        None => (i64::MIN, i64::MAX),
    };
    let all = match store.adjustments(from, to).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_ERROR;
        }
    };
    let t = |ms| crate::month::local_time(inventory, ms);
    println!(
        "# id\tstate\tscope\tcode\tfrom\tto\tby\trecorded\treason ({})",
        inventory.time_zone_name()
    );
    for x in all {
        let state = match &x.withdrawn {
            None => "in-force".to_owned(),
            Some(w) => format!("withdrawn {} by {}: {}", t(w.at_ms), w.actor, w.reason),
        };
        println!(
            "{}\t{state}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            x.id,
            x.what.kind,
            x.what.code,
            t(x.what.start_ms),
            t(x.what.end_ms),
            x.actor,
            t(x.created_ms),
            x.what.reason
        );
    }
    EXIT_OK
}

#[cfg(test)]
mod tests;
