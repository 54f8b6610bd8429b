//! `zerofault-agent probe TARGET`: runs one link probe by hand, like a better `ping`, with
//! the same probe code and the same statistics as the agent's reports.

use std::path::PathBuf;
use std::pin::pin;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use zerofault_common::duration::{format_duration, parse_duration};
use zerofault_common::now_unix_ms;
use zerofault_protocol::LinkResult;

use crate::probe::link::scheduler::max_in_flight;
use crate::probe::link::settings::{MAX_PROBE_TIMEOUT, MIN_PROBE_INTERVAL};
use crate::probe::link::target::{guess_kind, parse_target};
use crate::probe::link::{
    LinkKind, ProbeContext, ProbeResult, ProbeSpec, Target, default_timeout, make_probe,
};
use crate::probe::link_stats::{Outcome, compute};
use crate::ticks::missed_ticks;

/// Most probes one `probe` command sends.
pub const MAX_COUNT: u32 = 100_000;
/// Longest `--interval`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// Probe kind on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// ICMP echo.
    Icmp,
    /// TCP connect.
    Tcp,
    /// HTTP(S) GET.
    Http,
}

impl From<KindArg> for LinkKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Icmp => LinkKind::Icmp,
            KindArg::Tcp => LinkKind::Tcp,
            KindArg::Http => LinkKind::Http,
        }
    }
}

/// Arguments of `probe`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// Address or host name (icmp), host:port or [v6]:port (tcp), or http(s):// URL (http).
    pub target: String,
    /// Probe kind; default: http for a URL, tcp for host:port, else icmp.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Number of probes to send (1-100000).
    #[arg(long, short = 'c', default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_COUNT)))]
    pub count: u32,
    /// Time between probes, 10ms to 1h.
    #[arg(long, short = 'i', default_value = "1s", value_parser = parse_interval_arg)]
    pub interval: Duration,
    /// Time after which a probe is lost, 1ms to 60s; default the interval, at most 1s.
    #[arg(long, short = 'W', value_parser = parse_timeout_arg)]
    pub timeout: Option<Duration>,
    /// https only: PEM file of the CA the target's certificate chains to (no other root is
    /// trusted: closed networks have no public roots).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Print one JSON object (the protocol's LinkResult) instead of per-probe lines.
    #[arg(long)]
    pub json: bool,
}

fn parse_interval_arg(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    if d < MIN_PROBE_INTERVAL {
        return Err(format!(
            "{s:?} is too short; use at least {}",
            format_duration(MIN_PROBE_INTERVAL)
        ));
    }
    if d > MAX_INTERVAL {
        return Err(format!(
            "{s:?} is too long; use at most {}",
            format_duration(MAX_INTERVAL)
        ));
    }
    Ok(d)
}

fn parse_timeout_arg(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!("{s:?} must be more than 0, e.g. 1s"));
    }
    if d > MAX_PROBE_TIMEOUT {
        return Err(format!(
            "{s:?} is too long; use at most {}",
            format_duration(MAX_PROBE_TIMEOUT)
        ));
    }
    Ok(d)
}

/// Runs the command; returns the exit code: 0 when any probe was answered, 1 when all were
/// lost (like ping) or the probe cannot run, 2 for a usage error.
pub fn main(args: ProbeArgs) -> i32 {
    let kind = args
        .kind
        .map_or_else(|| guess_kind(&args.target), LinkKind::from);
    let target = match parse_target(kind, &args.target) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {kind} target: {e}");
            return 2;
        }
    };
    let https = matches!(&target, Target::Http(u) if u.scheme() == "https");
    if args.ca.is_some() && !https {
        eprintln!("error: --ca is only used by https targets");
        return 2;
    }
    if https && args.ca.is_none() && !args.json {
        eprintln!(
            "note: no --ca: the target's certificate is trusted only if it chains to a CA given with --ca (no public roots)"
        );
    }
    let spec = ProbeSpec {
        link: String::new(),
        kind,
        target_text: args.target.trim().to_owned(),
        target,
        interval: args.interval,
        timeout: args
            .timeout
            .unwrap_or_else(|| default_timeout(args.interval)),
        level: String::new(),
        domain: String::new(),
        trusted_cas: args.ca.into_iter().collect(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match runtime.block_on(run(&spec, args.count, args.json)) {
        Ok(result) => {
            if args.json {
                match serde_json::to_string_pretty(&result) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                }
            } else {
                print!("{}", summary(&spec, &result));
            }
            i32::from(result.received == 0)
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// Sends `count` probes (or until Ctrl-C) and returns their statistics.
async fn run(spec: &ProbeSpec, count: u32, json: bool) -> Result<LinkResult, String> {
    let ctx = ProbeContext::default();
    let probe = make_probe(spec, &ctx).map_err(|e| e.to_string())?;
    if !json {
        println!(
            "PROBE {} ({}) {} probes every {}, timeout {}",
            spec.target_text,
            spec.kind,
            count,
            format_duration(spec.interval),
            format_duration(spec.timeout)
        );
    }
    let bound = max_in_flight(spec.interval, spec.timeout);
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut in_flight: JoinSet<(u16, i64, ProbeResult)> = JoinSet::new();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut sent: u32 = 0;
    let mut missed: u64 = 0;
    let mut previous: Option<Instant> = None;
    let window_start = now_unix_ms();
    let mut ctrl_c = pin!(tokio::signal::ctrl_c());
    loop {
        if sent >= count && in_flight.is_empty() {
            break;
        }
        tokio::select! {
            _ = &mut ctrl_c => break,
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                let Ok((seq, sent_unix_ms, r)) = done else { continue };
                if !json {
                    println!("{}", probe_line(seq, &r));
                }
                outcomes.push(Outcome { sent_unix_ms, rtt: r.rtt, http_status: r.http_status });
            }
            scheduled = ticker.tick(), if sent < count => {
                if let Some(p) = previous {
                    missed += missed_ticks(p, scheduled, spec.interval);
                }
                previous = Some(scheduled);
                if in_flight.len() >= bound {
                    missed += 1;
                    continue;
                }
                sent += 1;
                let seq = u16::try_from(sent % 65_536).unwrap_or(0);
                let probe = probe.clone();
                in_flight.spawn(async move {
                    let at = now_unix_ms();
                    (seq, at, probe.probe(seq).await)
                });
            }
        }
    }
    // Probes still in flight after Ctrl-C have no outcome: they are not counted.
    in_flight.abort_all();
    let mut r = compute(&mut outcomes);
    r.kind = spec.kind.as_str().to_owned();
    r.target = spec.target_text.clone();
    r.window_start_unix_ms = window_start;
    r.window_end_unix_ms = now_unix_ms().max(window_start);
    r.probe_interval_ms = u32::try_from(spec.interval.as_millis()).unwrap_or(u32::MAX);
    r.missed_ticks = u32::try_from(missed).unwrap_or(u32::MAX);
    Ok(r)
}

fn ms(seconds: f64) -> String {
    format!("{:.3}", seconds * 1000.0)
}

/// One line per finished probe: `seq=1 rtt=0.412 ms`, `seq=2 timeout`.
pub fn probe_line(seq: u16, r: &ProbeResult) -> String {
    let mut line = match r.rtt {
        Ok(d) => format!("seq={seq} rtt={} ms", ms(d.as_secs_f64())),
        Err(k) => format!("seq={seq} {k}"),
    };
    if r.http_status != 0 {
        line.push_str(&format!(" status={}", r.http_status));
    }
    if let (Err(_), Some(d)) = (&r.rtt, &r.detail) {
        line.push_str(&format!(" ({d})"));
    }
    line
}

/// The closing summary, like ping's.
pub fn summary(spec: &ProbeSpec, r: &LinkResult) -> String {
    let mut s = format!(
        "--- {} {} statistics ---\n{} sent, {} received, {:.1}% loss",
        spec.target_text,
        spec.kind,
        r.sent,
        r.received,
        r.loss_ratio * 100.0
    );
    if r.missed_ticks > 0 {
        s.push_str(&format!(", {} missed ticks", r.missed_ticks));
    }
    s.push('\n');
    if r.received > 0 {
        s.push_str(&format!(
            "rtt min/avg/max/p50/p95 = {}/{}/{}/{}/{} ms, jitter {} ms\n",
            ms(r.rtt_min_seconds),
            ms(r.rtt_avg_seconds),
            ms(r.rtt_max_seconds),
            ms(r.rtt_p50_seconds),
            ms(r.rtt_p95_seconds),
            ms(r.jitter_seconds)
        ));
    }
    if !r.errors.is_empty() {
        let e: Vec<String> = r
            .errors
            .iter()
            .map(|e| format!("{} {}", e.kind, e.count))
            .collect();
        s.push_str(&format!("errors: {}\n", e.join(", ")));
    }
    if r.http_status != 0 {
        s.push_str(&format!("last HTTP status: {}\n", r.http_status));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::link::ErrorKind;

    #[test]
    fn lines_look_like_ping() {
        assert_eq!(
            probe_line(1, &ProbeResult::ok(Duration::from_micros(412))),
            "seq=1 rtt=0.412 ms"
        );
        let mut r = ProbeResult::lost(ErrorKind::Timeout, "no echo reply in time");
        assert_eq!(probe_line(2, &r), "seq=2 timeout (no echo reply in time)");
        r.detail = None;
        assert_eq!(probe_line(2, &r), "seq=2 timeout");
    }

    #[test]
    fn argument_bounds() {
        assert!(parse_interval_arg("5ms").is_err());
        assert_eq!(parse_interval_arg("50ms"), Ok(Duration::from_millis(50)));
        assert!(parse_timeout_arg("0s").is_err());
        assert!(parse_timeout_arg("2m").is_err());
    }
}
