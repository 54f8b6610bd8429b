//! In-memory latest state per host, and the ingest counters that `/metrics` shows.
//!
//! The store is the record; this table is a cache of the newest report of each agent so
//! that a scrape never touches the database. It is warmed from the store at start-up.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Deserialize;

use zerofault_protocol::Report;

use crate::inventory::{Inventory, UnknownLabel};
use crate::live::delivery::{Delivery, Ledger};
use crate::live::ingest::connections::Refusal;

/// A host is `up` while its newest report was received within this many of its own
/// collection intervals.
pub const DEFAULT_DOWN_AFTER_INTERVALS: u32 = 3;

/// Host liveness (`hosts.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hosts {
    /// A host is up while its newest report arrived within this many of its own intervals.
    #[serde(default = "default_down_after_intervals")]
    pub down_after_intervals: u32,
}

impl Default for Hosts {
    fn default() -> Self {
        Self {
            down_after_intervals: default_down_after_intervals(),
        }
    }
}

fn default_down_after_intervals() -> u32 {
    DEFAULT_DOWN_AFTER_INTERVALS
}

impl Hosts {
    /// Every wrong value, each as (dotted key, message).
    pub fn problems(&self, problem: &mut dyn FnMut(&'static str, String)) {
        if self.down_after_intervals == 0 {
            problem(
                "hosts.down_after_intervals",
                format!(
                    "0 would mark every host down; use 1 or more (default {DEFAULT_DOWN_AFTER_INTERVALS})"
                ),
            );
        }
    }
}

/// The newest report of one agent and when the collector received it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostEntry {
    /// The newest report. Shared, never changed in place (a newer report replaces it): a
    /// scrape's snapshot holds the reports without copying them, so serving `/metrics` does
    /// not double the memory of the host table.
    pub report: Arc<Report>,
    /// Collector clock at receipt, ms since the Unix epoch. Liveness uses this clock, never
    /// the agent's, so a skewed agent clock cannot make a host look up or down.
    pub received_unix_ms: i64,
    /// What is stored of this agent and its clock offset; filled by
    /// [`HostTable::snapshot`], `None` in an entry built by hand.
    pub delivery: Option<Delivery>,
}

impl HostEntry {
    /// Whether the host counts as up at `now_unix_ms`: its newest report arrived within
    /// `down_after_intervals` of its own interval.
    pub fn is_up(&self, now_unix_ms: i64, down_after_intervals: u32) -> bool {
        let window = i64::from(self.report.interval_ms) * i64::from(down_after_intervals);
        now_unix_ms.saturating_sub(self.received_unix_ms) <= window
    }
}

/// Newest report per agent id, the delivery ledger of each agent, and the inventory the
/// agents' labels are checked against.
#[derive(Debug, Default)]
pub struct HostTable {
    hosts: RwLock<HashMap<String, HostEntry>>,
    ledger: Ledger,
    labels: Option<LabelCheck>,
}

/// The inventory, and the unknown label values already logged in this run.
#[derive(Debug)]
struct LabelCheck {
    inventory: Arc<Inventory>,
    /// The `(label, value)` pairs warned about, per agent: one warning each per run, however
    /// many reports carry them. Bounded by the label values the agents ever sent. Keyed by
    /// agent so that a report whose values were already warned about allocates nothing.
    warned: Mutex<HashMap<String, Vec<(&'static str, String)>>>,
}

/// The inventory list that declares codes of `label` (a [`UnknownLabel::label`]) and the
/// agent configuration key that sets it.
fn label_keys(label: &str) -> (&'static str, &'static str) {
    match label {
        "department" => ("departments", "labels.department"),
        "business_system" => ("business_systems", "labels.business_system"),
        "data_center" => ("data_centers", "labels.datacenter"),
        _ => ("sites", "labels.site"),
    }
}

/// Whether `new` should replace `old` as the host's newest state. A replay or a late
/// backfilled report (lower sequence, older timestamp, possibly of an earlier boot) must not
/// roll the state back. The sequence is persisted by the agent and increases across boots;
/// the timestamp covers an agent whose state directory was wiped (sequence restarted).
fn supersedes(old: &HostEntry, new: &Report) -> bool {
    new.sequence > old.report.sequence || new.timestamp_unix_ms > old.report.timestamp_unix_ms
}

/// Whether a superseding `new` report is live evidence, i.e. may move the receive time that
/// liveness reads. A report of the same boot with a higher sequence always is: the sequence
/// is the agent's own order, so a clock stepped back cannot make a fresh report look old and
/// create fake down time. Otherwise (new boot, or a sequence restarted by a wiped state
/// directory) the agent timestamp is all we have; a report more than `down_after` intervals
/// older than the newest timestamp seen is backfill from a spool and must not make the host
/// look "up now" just because it arrived now.
fn is_live(old: &HostEntry, new: &Report) -> bool {
    if new.boot_id == old.report.boot_id && new.sequence > old.report.sequence {
        return true;
    }
    let slack = i64::from(new.interval_ms.max(old.report.interval_ms))
        * i64::from(DEFAULT_DOWN_AFTER_INTERVALS);
    new.timestamp_unix_ms >= old.report.timestamp_unix_ms.saturating_sub(slack)
}

impl HostTable {
    /// An empty table flagging agent clocks more than `max_skew_ms` off.
    pub fn new(max_skew_ms: i64) -> Self {
        Self {
            hosts: RwLock::default(),
            ledger: Ledger::new(max_skew_ms),
            labels: None,
        }
    }

    /// This table, checking the agents' labels against `inventory`: stored reports with
    /// label values it does not declare are logged (see [`Self::record_stored`]) and
    /// [`Self::unknown_labels`] finds them. Without an inventory nothing is unknown.
    pub fn with_inventory(mut self, inventory: Arc<Inventory>) -> Self {
        self.labels = Some(LabelCheck {
            inventory,
            warned: Mutex::default(),
        });
        self
    }

    /// The inventory the labels are checked against, if the collector has one.
    pub fn inventory(&self) -> Option<&Inventory> {
        self.labels.as_ref().map(|l| l.inventory.as_ref())
    }

    /// [`Self::inventory`] shared, for a reader that outlives this borrow (a scrape on the
    /// blocking pool) without copying the inventory.
    pub fn inventory_shared(&self) -> Option<Arc<Inventory>> {
        self.labels.as_ref().map(|l| l.inventory.clone())
    }

    /// The label values of `report` that the inventory does not declare, in the order
    /// department, business system, data center, site; none without an inventory or labels.
    pub fn unknown_labels(&self, report: &Report) -> Vec<UnknownLabel> {
        match (self.inventory(), &report.labels) {
            (Some(inventory), Some(labels)) => inventory.unknown_labels(labels),
            _ => Vec::new(),
        }
    }

    /// Logs a warning for each of `unknown`, the unknown label values of a report of
    /// `agent`, not yet logged for that agent in this run. The report itself is kept
    /// whatever its labels: an unknown value is a configuration mistake to fix, not a reason
    /// to lose data.
    fn warn_unknown_labels(&self, agent: &str, unknown: Vec<UnknownLabel>) {
        let Some(check) = &self.labels else {
            return;
        };
        if unknown.is_empty() {
            return;
        }
        let mut warned = check.warned.lock().expect("label warning lock poisoned");
        for u in unknown {
            let seen = warned
                .get(agent)
                .is_some_and(|w| w.iter().any(|(l, v)| *l == u.label && *v == u.value));
            if seen {
                continue;
            }
            let (list, agent_key) = label_keys(u.label);
            // Debug formatting quotes and escapes the agent's strings, so that a value cannot
            // forge log lines.
            tracing::warn!(
                agent = ?agent,
                label = u.label,
                value = ?u.value,
                "label value not declared in the inventory; its reports are stored and counted \
                 under it. Fix: add it to the inventory file {} under {list}, or correct \
                 {agent_key} in the agent's configuration",
                check.inventory.source.display(),
            );
            warned
                .entry(agent.to_owned())
                .or_default()
                .push((u.label, u.value));
        }
    }

    /// Logs the unknown label values of every host's newest report (at start-up, after the
    /// table was warmed, so that a restart with an edited inventory shows what is still
    /// missing); returns how many hosts have any.
    pub fn warn_current_unknown_labels(&self) -> usize {
        if self.labels.is_none() {
            return 0;
        }
        let flagged: Vec<(String, Vec<UnknownLabel>)> = {
            let hosts = self.hosts.read().expect("host table lock poisoned");
            let mut flagged: Vec<_> = hosts
                .values()
                .map(|e| (e.report.agent_id.clone(), self.unknown_labels(&e.report)))
                .filter(|(_, unknown)| !unknown.is_empty())
                .collect();
            flagged.sort_by(|a, b| a.0.cmp(&b.0));
            flagged
        };
        let n = flagged.len();
        for (agent, unknown) in flagged {
            self.warn_unknown_labels(&agent, unknown);
        }
        n
    }

    /// The per-agent delivery ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Records a report that was just stored for the first time (never a duplicate): counts
    /// it in the ledger, logs its label values the inventory does not know (once per agent,
    /// label and value), then offers it to the newest-report table.
    pub fn record_stored(&self, report: Report, received_unix_ms: i64) {
        self.warn_unknown_labels(&report.agent_id, self.unknown_labels(&report));
        self.ledger.observe(
            &report.agent_id,
            &report.boot_id,
            report.sequence,
            report.timestamp_unix_ms,
            received_unix_ms,
        );
        self.update(report, received_unix_ms);
    }

    /// Records `report`, received at `received_unix_ms`, if it is newer than what is held.
    /// The receive time only moves for live evidence (see [`is_live`]).
    pub fn update(&self, report: Report, received_unix_ms: i64) {
        let mut hosts = self.hosts.write().expect("host table lock poisoned");
        match hosts.get_mut(&report.agent_id) {
            Some(old) if !supersedes(old, &report) => {}
            Some(old) => {
                let received_unix_ms = if is_live(old, &report) {
                    received_unix_ms
                } else {
                    old.received_unix_ms
                };
                *old = HostEntry {
                    report: Arc::new(report),
                    received_unix_ms,
                    delivery: None,
                }
            }
            None => {
                hosts.insert(
                    report.agent_id.clone(),
                    HostEntry {
                        report: Arc::new(report),
                        received_unix_ms,
                        delivery: None,
                    },
                );
            }
        }
    }

    /// The boot id and sequence of `agent_id`'s newest report held, if any.
    pub fn newest_of(&self, agent_id: &str) -> Option<(String, u64)> {
        let hosts = self.hosts.read().expect("host table lock poisoned");
        hosts
            .get(agent_id)
            .map(|e| (e.report.boot_id.clone(), e.report.sequence))
    }

    /// A copy of every entry, sorted by agent id (stable output for `/metrics`); the reports
    /// are shared with the table, not copied.
    pub fn snapshot(&self) -> Vec<HostEntry> {
        let hosts = self.hosts.read().expect("host table lock poisoned");
        let mut out: Vec<HostEntry> = hosts
            .values()
            .map(|e| HostEntry {
                delivery: self.ledger.get(&e.report.agent_id),
                ..e.clone()
            })
            .collect();
        out.sort_by(|a, b| a.report.agent_id.cmp(&b.report.agent_id));
        out
    }

    /// One host's entry as [`Self::snapshot`] has it (delivery filled), without copying
    /// the table: the cockpit's host page.
    pub fn get(&self, agent_id: &str) -> Option<HostEntry> {
        let hosts = self.hosts.read().expect("host table lock poisoned");
        hosts.get(agent_id).map(|e| HostEntry {
            delivery: self.ledger.get(agent_id),
            ..e.clone()
        })
    }

    /// Number of known hosts.
    pub fn len(&self) -> usize {
        self.hosts.read().expect("host table lock poisoned").len()
    }

    /// True when no host is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a report was refused; the label value of `zerofault_collector_reports_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RejectReason {
    /// No client certificate was presented (401).
    NoClientCertificate,
    /// The report's agent id differs from the certificate's common name (403).
    AgentIdMismatch,
    /// The body exceeds the size cap, before or after decompression (413).
    TooLarge,
    /// Body not zstd/protobuf, or a header/content type is wrong (400).
    Malformed,
    /// A field is out of bounds or the protocol version is unknown (400).
    Invalid,
    /// The report could not be committed to storage (503).
    Storage,
    /// The body was not received within the body time limits (408).
    Timeout,
    /// The agent identity is revoked (`certs revoke`) (403).
    Revoked,
    /// The agent sent more than `limits.requests_per_agent_per_second` (429).
    RateLimited,
}

impl RejectReason {
    /// Every reason, for exposing zeroes before the first rejection.
    pub const ALL: [RejectReason; 9] = [
        RejectReason::NoClientCertificate,
        RejectReason::AgentIdMismatch,
        RejectReason::TooLarge,
        RejectReason::Malformed,
        RejectReason::Invalid,
        RejectReason::Storage,
        RejectReason::Timeout,
        RejectReason::Revoked,
        RejectReason::RateLimited,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NoClientCertificate => "no_client_certificate",
            RejectReason::AgentIdMismatch => "agent_id_mismatch",
            RejectReason::TooLarge => "too_large",
            RejectReason::Malformed => "malformed",
            RejectReason::Invalid => "invalid",
            RejectReason::Storage => "storage",
            RejectReason::Timeout => "timeout",
            RejectReason::Revoked => "revoked",
            RejectReason::RateLimited => "rate_limited",
        }
    }
}

/// Ingest counters, shown as collector self-metrics.
#[derive(Debug, Default)]
pub struct IngestCounters {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    rejected: Mutex<BTreeMap<RejectReason, u64>>,
    /// Start of this collector run (collector clock, ms); 0 until [`Self::set_run`].
    started_unix_ms: AtomicI64,
    /// Runs recorded in the store, this one included.
    runs_total: AtomicU64,
    /// Open ingest connections (in handshake or not).
    connections_open: AtomicU64,
    /// `limits.max_connections` as lowered to the descriptor limit; 0 until the listener runs.
    connections_limit: AtomicU64,
    /// Connections closed by the connection table, by [`Refusal`] (in `Refusal::ALL` order).
    connections_refused: [AtomicU64; Refusal::ALL.len()],
    /// Another collector of the deployment holds the deployment lease (`cmd::deployment`):
    /// this one exposes only its own process metrics. False (the default) for a collector
    /// alone on its store, which always holds it.
    standby: AtomicBool,
    /// The remote_write targets' figures (`outputs::remote_write`), shown on `/metrics`.
    remote_write: Mutex<Vec<std::sync::Arc<crate::outputs::remote_write::stats::SinkStats>>>,
}

impl IngestCounters {
    /// Shows `stats` (one remote_write target each) on `/metrics`.
    pub fn set_remote_write(
        &self,
        stats: Vec<std::sync::Arc<crate::outputs::remote_write::stats::SinkStats>>,
    ) {
        *self.remote_write.lock().unwrap_or_else(|e| e.into_inner()) = stats;
    }

    /// The remote_write targets' figures, read now.
    pub fn remote_write(&self) -> Vec<crate::outputs::remote_write::stats::SinkReading> {
        self.remote_write
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| s.read())
            .collect()
    }

    /// Records this run's start time and the number of runs recorded in the store, shown
    /// as `zerofault_collector_start_time_seconds` and `zerofault_collector_runs_total`.
    pub fn set_run(&self, started_unix_ms: i64, runs_total: u64) {
        self.started_unix_ms
            .store(started_unix_ms, Ordering::Relaxed);
        self.runs_total.store(runs_total, Ordering::Relaxed);
    }
    /// Records whether another collector holds the deployment lease, so that `/metrics`
    /// leaves the deployment-wide series (hosts, aggregates, links) to it.
    pub fn set_standby(&self, standby: bool) {
        self.standby.store(standby, Ordering::Relaxed);
    }
    /// Whether another collector holds the deployment lease.
    pub fn standby(&self) -> bool {
        self.standby.load(Ordering::Relaxed)
    }
    /// Start of this run, ms since the Unix epoch (0 when not recorded).
    pub fn started_unix_ms(&self) -> i64 {
        self.started_unix_ms.load(Ordering::Relaxed)
    }
    /// Runs recorded in the store, this one included.
    pub fn runs_total(&self) -> u64 {
        self.runs_total.load(Ordering::Relaxed)
    }
    /// Counts a report that was stored (a new one).
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a report that was acknowledged but already stored (a replay).
    pub fn duplicate(&self) {
        self.duplicates.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts a refused report.
    pub fn rejected(&self, reason: RejectReason) {
        *self
            .rejected
            .lock()
            .expect("counter lock poisoned")
            .entry(reason)
            .or_default() += 1;
    }
    /// Reports stored so far.
    pub fn accepted_total(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
    /// Replays acknowledged without storing again.
    pub fn duplicates_total(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }
    /// Sets the open ingest connections and the cap in force.
    pub fn set_connections(&self, open: usize, limit: usize) {
        self.connections_open.store(open as u64, Ordering::Relaxed);
        self.connections_limit
            .store(limit as u64, Ordering::Relaxed);
    }
    /// Open ingest connections and the cap in force.
    pub fn connections(&self) -> (u64, u64) {
        (
            self.connections_open.load(Ordering::Relaxed),
            self.connections_limit.load(Ordering::Relaxed),
        )
    }
    /// Counts a connection closed by the connection table; returns the new total for that
    /// reason (the listener logs the first of each burst).
    pub fn connection_refused(&self, reason: Refusal) -> u64 {
        let i = Refusal::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.connections_refused[i].fetch_add(1, Ordering::Relaxed) + 1
    }
    /// Connections closed by the connection table, by reason, every reason present.
    pub fn connections_refused_totals(&self) -> Vec<(Refusal, u64)> {
        Refusal::ALL
            .iter()
            .zip(&self.connections_refused)
            .map(|(r, n)| (*r, n.load(Ordering::Relaxed)))
            .collect()
    }
    /// Refusals by reason, every reason present (zero when none).
    pub fn rejected_totals(&self) -> Vec<(RejectReason, u64)> {
        let map = self.rejected.lock().expect("counter lock poisoned");
        RejectReason::ALL
            .iter()
            .map(|r| (*r, map.get(r).copied().unwrap_or(0)))
            .collect()
    }
}

#[cfg(test)]
mod tests;
