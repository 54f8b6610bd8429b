//! Reads one month from the store and the inventory through the SLA engine, agent by agent:
//! each host goes to the engine as soon as its buckets are read, so memory holds one host's
//! buckets at a time (plus the month's link windows, compacted, until the last agent).
//!
//! - **Hosts** are read from the host rollup buckets (`crate::rollup`) the store keeps as
//!   reports arrive, agent by agent (the store's key order), from those last received up to
//!   [`SCAN_MARGIN_MS`] before the previous month (a report cannot be received before it
//!   was made; backfill is received later, so it is always included). Each boot is placed
//!   on the collector's clock by [`placement`] (`month/host_buckets.rs`); buckets placed
//!   within [`EDGE_MS`] of the month are given to the engine, so a reboot or a silence
//!   across the month's edges is seen. [`HostSource::Raw`] makes the same buckets from the
//!   stored report bodies instead, to check the stored ones.
//! - **Link windows** (`month/link_windows.rs`) are read from the reports with link data,
//!   moved to the collector's clock by their boot's placement, and replayed per link through
//!   the live link engine (same hysteresis, vantage-point and staleness rules as
//!   `/metrics`), which yields every link-level down period; the SLA engine applies the
//!   inventory's fault minimum itself.
//! - **Capacity** samples are one per host and hour (a bucket's first report), read for the
//!   previous month too: its mean used storage per data center and department is the base
//!   of this month's storage growth.

use std::collections::BTreeMap;

use super::host_buckets::{Window, agent_month};
use super::link_windows::{LinkWindows, add_agent_links, link_inputs};
use crate::inventory::{Inventory, LinkLevel, Named, Scope};
use crate::live::links::Links;
use crate::month::sla::MonthBuilder;
use crate::month::sla::input::{
    GroupNames, GroupTargets, HostInput, Interval, Labels, Period, PreviousCapacity,
};
use crate::month::sla::model::{MonthReport, UnknownLabel};
use crate::rollup::{BucketKey, HostBucket, StoredBucket};
use crate::store::{CollectorRun, ReportKey, Store, StoreError};

/// Reports received this long before the month are read too (a report received before the
/// month cannot be made in it; the margin covers the newest report before the month).
pub const SCAN_MARGIN_MS: i64 = 3 * 86_400_000;
/// Reports placed within this of the month's edges are given to the engine.
pub const EDGE_MS: i64 = 86_400_000;
/// Rows read per store call.
const PAGE: usize = 2_000;

/// What [`compute_month`] needs besides the store and the inventory.
#[derive(Debug, Clone)]
pub struct MonthRequest {
    /// `YYYY-MM`.
    pub month: String,
    /// `en` or `zh-CN`.
    pub lang: String,
    /// Now, collector clock.
    pub now_ms: i64,
    /// The report is for closing the month.
    pub closed: bool,
    /// Where the hosts are read from.
    pub hosts: HostSource,
}

/// Why a month could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The month is not `YYYY-MM` or is out of range.
    #[error("--month {month:?}: {message}")]
    Month {
        /// What was given.
        month: String,
        /// Why it is refused.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine refused its input (a bug, or an inventory the validation let through).
    #[error("SLA engine: {0}")]
    Sla(#[from] crate::month::sla::SlaError),
}

/// Progress of a read: rows read so far (rollup buckets, or reports for
/// [`HostSource::Raw`]) and agents done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Rows read.
    pub rows: u64,
    /// Agents finished.
    pub agents: u64,
}

/// When the collectors ran: from each start to its stop, or to its last heartbeat for a run
/// that crashed; a run still going (no stop, heartbeat fresh) runs until now. Every
/// instance's runs count (docs/scale-out.md): several may be running at once, each start
/// closes only its own instance's crashed run, so an open run with a fresh heartbeat is a
/// live one whichever instance it is.
pub fn run_intervals(runs: &[CollectorRun], now_ms: i64, heartbeat_ms: i64) -> Vec<Interval> {
    runs.iter()
        .map(|r| {
            let end = match r.stopped_unix_ms {
                Some(s) => s,
                // Running now if its heartbeat is fresh; otherwise it died (its instance's
                // next start will close it at that heartbeat).
                None if now_ms - r.last_heartbeat_unix_ms <= 3 * heartbeat_ms => now_ms,
                None => r.last_heartbeat_unix_ms,
            };
            Interval::new(r.started_unix_ms, end)
        })
        .collect()
}

/// What is kept while agents are read: hosts go to the engine one by one (their buckets are
/// dropped once added), link windows wait for the last agent (a link's vantage points are
/// different agents, replayed together in time order).
struct Collected {
    builder: MonthBuilder,
    /// (agent id, site label) of every host added: who is behind which link.
    host_sites: Vec<(String, String)>,
    agents: Vec<String>,
    windows: BTreeMap<String, LinkWindows>,
    unknown: Vec<UnknownLabel>,
    previous: PreviousCapacity,
}

/// Where the hosts of a month are read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostSource {
    /// The rollup buckets the store keeps as reports arrive (`crate::rollup`).
    #[default]
    Rollups,
    /// The stored report bodies, summarised into buckets here, agent by agent, by the same
    /// rules: to check the rollups, or to compute a month whose buckets are missing.
    Raw,
}

/// What a month is computed with besides the store and the inventory.
struct Context<'a> {
    period: Period,
    previous_bounds: Option<(i64, i64)>,
    scan_from: i64,
    window: Window,
    inventory: &'a Inventory,
    maintenance: Vec<crate::inventory::MaintenanceInterval>,
    /// The `links` settings: [`HostSource::Raw`] judges degraded windows by them.
    links: &'a Links,
}

/// Reads the month from the store, agent by agent, and computes its report.
pub async fn compute_month(
    store: &dyn Store,
    inventory: &Inventory,
    links_config: &Links,
    req: &MonthRequest,
    heartbeat_ms: i64,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<MonthReport, SourceError> {
    let (start_ms, end_ms) =
        inventory
            .month_bounds(&req.month)
            .map_err(|e| SourceError::Month {
                month: req.month.clone(),
                message: e.to_string(),
            })?;
    let period = Period {
        month: req.month.clone(),
        time_zone: inventory.time_zone_name().to_owned(),
        lang: req.lang.clone(),
        organisation: inventory.organisation_name(&req.lang).to_owned(),
        start_ms,
        end_ms,
        slot_ms: inventory.slot.as_millis() as i64,
        fault_min_ms: inventory.fault_min.as_millis() as i64,
        now_ms: req.now_ms,
        generated_ms: req.now_ms,
        closed: req.closed,
    };
    // The previous month, for storage growth; a month before any data simply has none.
    let previous_bounds =
        previous_month_of(&req.month).and_then(|m| inventory.month_bounds(&m).ok());
    let sample_from = previous_bounds.map_or(start_ms, |(s, _)| s);
    let scan_from = sample_from - SCAN_MARGIN_MS;
    let runs = store.collector_runs().await?;
    let mut collector_runs = run_intervals(&runs, req.now_ms, heartbeat_ms);
    // Imported history has no runs: the listening periods its import inferred are the same
    // evidence (the source heard agents then), so the engine keeps one rule for both.
    collector_runs.extend(
        store
            .listening_periods()
            .await?
            .iter()
            .map(|p| Interval::new(p.start_unix_ms, p.end_unix_ms)),
    );
    // The operators' adjustments exclude time by the same rule as the inventory's
    // maintenance windows (`month/adjustments.rs`).
    let (lo, hi) = (start_ms - EDGE_MS, end_ms + EDGE_MS);
    let adjustments = store.adjustments(lo, hi).await?;
    let mut maintenance = inventory.maintenance_intervals(lo, hi);
    maintenance.extend(super::adjustments::exclusions(&adjustments, lo, hi));
    maintenance.sort();
    let cx = Context {
        window: Window {
            lo: start_ms - EDGE_MS,
            hi: end_ms + EDGE_MS,
            start: start_ms,
            end: end_ms,
            sample_from,
        },
        maintenance,
        period: period.clone(),
        previous_bounds,
        scan_from,
        inventory,
        links: links_config,
    };

    let mut c = Collected {
        builder: MonthBuilder::new(period, &collector_runs)?,
        host_sites: Vec::new(),
        agents: Vec::new(),
        windows: BTreeMap::new(),
        unknown: Vec::new(),
        previous: PreviousCapacity::default(),
    };
    let mut p = Progress::default();
    match req.hosts {
        HostSource::Rollups => read_buckets(store, &cx, &mut c, &mut p, progress).await?,
        HostSource::Raw => read_raw(store, &cx, &mut c, &mut p, progress).await?,
    }

    for link in link_inputs(
        inventory,
        links_config,
        &req.lang,
        &cx.maintenance,
        std::mem::take(&mut c.windows),
        &c.agents,
        &c.host_sites,
    ) {
        c.builder.add_link(&link)?;
    }
    let names = GroupNames {
        departments: inventory
            .departments
            .iter()
            .map(|d| (d.code.clone(), name_or_code(d.name(&req.lang), &d.code)))
            .collect(),
        business_systems: inventory
            .business_systems
            .iter()
            .map(|b| (b.code.clone(), name_or_code(b.name(&req.lang), &b.code)))
            .collect(),
        data_centers: inventory
            .data_centers
            .iter()
            .map(|d| (d.code.clone(), name_or_code(d.name(&req.lang), &d.code)))
            .collect(),
        targets: group_targets(inventory),
    };
    c.unknown
        .sort_by(|a, b| (&a.agent_id, &a.label, &a.value).cmp(&(&b.agent_id, &b.label, &b.value)));
    let mut report = c.builder.finish(&names, &c.previous, &c.unknown);
    report.adjustments = super::adjustments::rows(&adjustments, start_ms, end_ms);
    Ok(report)
}

/// Reads the hosts from the store's rollup buckets, one agent after the other.
async fn read_buckets(
    store: &dyn Store,
    cx: &Context<'_>,
    c: &mut Collected,
    p: &mut Progress,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), SourceError> {
    let mut after: Option<BucketKey> = None;
    let mut agent: Vec<StoredBucket> = Vec::new();
    loop {
        let page = store
            .scan_buckets(cx.scan_from, after.clone(), PAGE)
            .await?;
        let done = page.len() < PAGE;
        if let Some(last) = page.last() {
            after = Some(last.key.clone());
        }
        p.rows += page.len() as u64;
        for b in page {
            if agent
                .first()
                .is_some_and(|f| f.key.agent_id != b.key.agent_id)
            {
                add_agent(&std::mem::take(&mut agent), cx, c)?;
                p.agents += 1;
            }
            agent.push(b);
        }
        progress(*p);
        if done {
            break;
        }
    }
    if !agent.is_empty() {
        add_agent(&agent, cx, c)?;
        p.agents += 1;
        progress(*p);
    }
    Ok(())
}

/// Reads the hosts from every stored report, summarised into buckets here agent by agent
/// (by `crate::rollup`'s rules, whatever the stored buckets say), then kept as the store
/// would keep them for this month (last received since `scan_from`).
async fn read_raw(
    store: &dyn Store,
    cx: &Context<'_>,
    c: &mut Collected,
    p: &mut Progress,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), SourceError> {
    let mut after: Option<ReportKey> = None;
    let mut agent: BTreeMap<BucketKey, HostBucket> = BTreeMap::new();
    let flush = |agent: BTreeMap<BucketKey, HostBucket>,
                 c: &mut Collected,
                 p: &mut Progress|
     -> Result<(), SourceError> {
        let buckets: Vec<StoredBucket> = agent
            .into_iter()
            .filter(|(_, b)| b.received_max_ms >= cx.scan_from)
            .map(|(key, bucket)| StoredBucket { key, bucket })
            .collect();
        if !buckets.is_empty() {
            add_agent(&buckets, cx, c)?;
            p.agents += 1;
        }
        Ok(())
    };
    loop {
        let page = store
            .scan_reports(i64::MIN, after.clone(), PAGE, false)
            .await?;
        let done = page.len() < PAGE;
        if let Some(last) = page.last() {
            after = Some(ReportKey::of(last));
        }
        p.rows += page.len() as u64;
        for row in page {
            if agent
                .keys()
                .next()
                .is_some_and(|k| k.agent_id != row.agent_id)
            {
                flush(std::mem::take(&mut agent), c, p)?;
            }
            if let Some((bucket, summary)) = row.rollup(&cx.links.thresholds) {
                agent
                    .entry(BucketKey {
                        agent_id: row.agent_id,
                        boot_id: row.boot_id,
                        bucket,
                    })
                    .or_default()
                    .merge(&summary);
            }
        }
        progress(*p);
        if done {
            break;
        }
    }
    flush(agent, c, p)?;
    progress(*p);
    Ok(())
}

/// The targets of the report's group rows, from the inventory: a department's is its
/// `target`, else `targets.host` (the target its hosts get by default); a business system's
/// is its hosts' default ([`Inventory::host_target`]: its own, else its department's, else
/// `targets.host`); a backbone row's is its level's `targets.link.<level>`. Data centers
/// have no target key in the inventory, so their rows have none.
pub fn group_targets(inventory: &Inventory) -> GroupTargets {
    GroupTargets {
        departments: inventory
            .departments
            .iter()
            .map(|d| (d.code.clone(), d.target.unwrap_or(inventory.targets.host)))
            .collect(),
        business_systems: inventory
            .business_systems
            .iter()
            .map(|b| {
                (
                    b.code.clone(),
                    inventory.host_target(&b.department, &b.code),
                )
            })
            .collect(),
        data_centers: BTreeMap::new(),
        backbone_levels: [
            LinkLevel::ProvinceCity,
            LinkLevel::CityCounty,
            LinkLevel::CountyTownship,
        ]
        .into_iter()
        .map(|l| (l.as_str().to_owned(), inventory.targets.link.for_level(l)))
        .collect(),
    }
}

/// `YYYY-MM` of the month before `month` (`None` when `month` is not `YYYY-MM`).
pub fn previous_month_of(month: &str) -> Option<String> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
    (1..=12).contains(&m).then(|| month_before(y, m))
}

/// `YYYY-MM` of the month before month `m` (1..=12) of year `y`.
pub(crate) fn month_before(y: i32, m: u32) -> String {
    if m == 1 {
        format!("{:04}-12", y - 1)
    } else {
        format!("{y:04}-{:02}", m - 1)
    }
}

/// Adds `host`'s mean used storage of the previous month to its data center's and
/// department's (the groups of its current labels): the base of this month's growth.
fn add_previous(
    previous: &mut PreviousCapacity,
    period: &Period,
    bounds: Option<(i64, i64)>,
    host: &HostInput,
) {
    let Some((start_ms, end_ms)) = bounds else {
        return;
    };
    let month = Period {
        start_ms,
        end_ms,
        ..period.clone()
    };
    let Some(used) =
        crate::month::sla::figures::host_capacity(&month, host).storage_used_mean_bytes
    else {
        return;
    };
    for (map, code) in [
        (&mut previous.data_centers, &host.labels.data_center),
        (&mut previous.departments, &host.labels.department),
    ] {
        if !code.is_empty() {
            *map.entry(code.clone()).or_default() += used;
        }
    }
}

fn name_or_code(name: &str, code: &str) -> String {
    if name.is_empty() {
        code.to_owned()
    } else {
        name.to_owned()
    }
}

fn applies_to_host(scope: &Scope, agent: &str, l: &Labels) -> bool {
    let matches = |v: &String, label: &str| !label.is_empty() && v == label;
    match scope {
        Scope::Host(v) => v == agent,
        Scope::BusinessSystem(v) => matches(v, &l.business_system),
        Scope::Department(v) => matches(v, &l.department),
        Scope::DataCenter(v) => matches(v, &l.data_center),
        Scope::Site(v) => matches(v, &l.site),
        Scope::Link(_) => false,
    }
}

/// Turns one agent's buckets (key order: boot, bucket) into a host.
fn add_agent(
    buckets: &[StoredBucket],
    cx: &Context<'_>,
    c: &mut Collected,
) -> Result<(), SourceError> {
    let agent_id = buckets[0].key.agent_id.clone();
    let m = agent_month(buckets, &cx.window);
    // Its windows are placed under this index whatever follows (a vantage point needs no
    // host row of its own).
    let index = c.agents.len() as u32;
    c.agents.push(agent_id.clone());
    add_agent_links(
        &mut c.windows,
        index,
        buckets,
        &m.placement,
        (cx.window.lo, cx.window.hi),
    );
    if m.boots.is_empty() {
        // Not in this month at all (only in the previous one): not a host of this report,
        // nor are its labels.
        return Ok(());
    }
    let mut host = HostInput {
        agent_id: agent_id.clone(),
        hostname: String::new(),
        labels: Labels::default(),
        target: None,
        maintenance: Vec::new(),
        boots: m.boots,
        mounts: m.mounts,
        capacity: m.capacity,
    };
    if let Some(id) = m.identity {
        host.hostname = id.hostname;
        if let Some(l) = &id.labels {
            host.labels = Labels {
                department: l.department.clone(),
                business_system: l.business_system.clone(),
                data_center: l.datacenter.clone(),
                site: l.site.clone(),
            };
            // Without an inventory file nothing is declared, so nothing is "unknown" (as on
            // /metrics).
            let declared = !cx.inventory.source.as_os_str().is_empty();
            for u in cx
                .inventory
                .unknown_labels(l)
                .into_iter()
                .filter(|_| declared)
            {
                c.unknown.push(UnknownLabel {
                    agent_id: agent_id.clone(),
                    label: u.label.to_owned(),
                    value: u.value,
                });
            }
        }
    }
    host.target = Some(
        cx.inventory
            .host_target(&host.labels.department, &host.labels.business_system),
    );
    host.maintenance = cx
        .maintenance
        .iter()
        .filter(|m| applies_to_host(&m.scope, &agent_id, &host.labels))
        .map(|m| Interval::new(m.start_unix_ms, m.end_unix_ms))
        .collect();
    add_previous(&mut c.previous, &cx.period, cx.previous_bounds, &host);
    c.builder.add_host(&host)?;
    c.host_sites.push((agent_id, host.labels.site.clone()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_targets_come_from_the_inventory() {
        let inv = Inventory::parse(
            "\
targets:
  host: 0.99
  link: {province-city: 0.9999, city-county: 0.9995}
departments:
  - {code: d1, name_zh: 一, name_en: One, target: 0.9995}
  - {code: d2, name_zh: 二, name_en: Two}
business_systems:
  - {code: b1, department: d1, name_zh: 甲, name_en: A, target: 0.9999}
  - {code: b2, department: d1, name_zh: 乙, name_en: B}
  - {code: b3, department: d2, name_zh: 丙, name_en: C}
data_centers:
  - {code: dc1, name_zh: 中心, name_en: DC, status: in-use}
",
            std::path::Path::new("/x/inv.yaml"),
        )
        .unwrap();
        inv.validate().unwrap();
        let t = group_targets(&inv);
        let pairs =
            |m: &BTreeMap<String, f64>| m.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>();
        assert_eq!(
            pairs(&t.departments),
            [("d1".into(), 0.9995), ("d2".into(), 0.99)]
        );
        assert_eq!(
            pairs(&t.business_systems),
            [
                ("b1".into(), 0.9999),
                ("b2".into(), 0.9995),
                ("b3".into(), 0.99)
            ]
        );
        assert!(t.data_centers.is_empty(), "the inventory sets none");
        assert_eq!(
            pairs(&t.backbone_levels),
            [
                ("city-county".into(), 0.9995),
                ("county-township".into(), crate::inventory::DEFAULT_TARGET),
                ("province-city".into(), 0.9999)
            ]
        );
    }

    fn run(id: i64, start: i64, heartbeat: i64, stopped: Option<i64>) -> CollectorRun {
        CollectorRun {
            id,
            started_unix_ms: start,
            last_heartbeat_unix_ms: heartbeat,
            stopped_unix_ms: stopped,
            clean: stopped.is_some(),
        }
    }

    #[test]
    fn the_previous_month_wraps_the_year() {
        assert_eq!(previous_month_of("2026-03").as_deref(), Some("2026-02"));
        assert_eq!(previous_month_of("2026-01").as_deref(), Some("2025-12"));
        assert_eq!(previous_month_of("2026-13"), None);
        assert_eq!(previous_month_of("march"), None);
    }

    #[test]
    fn runs_end_at_their_stop_their_last_heartbeat_or_now() {
        let runs = [
            run(1, 0, 90, Some(100)),
            run(2, 200, 290, None), // crashed: closed at the next start, in fact
            run(3, 400, 990, None), // this one, heartbeat fresh
        ];
        assert_eq!(
            run_intervals(&runs, 1_000, 10),
            vec![
                Interval::new(0, 100),
                Interval::new(200, 290),
                Interval::new(400, 1_000)
            ]
        );
        // The newest run's heartbeat is stale: it died, nobody restarted it yet.
        assert_eq!(run_intervals(&runs, 5_000, 10)[2], Interval::new(400, 990));
        // Two instances serving at once: both runs open, both heartbeats fresh, both live.
        let both = [run(7, 0, 995, None), run(8, 500, 990, None)];
        assert_eq!(
            run_intervals(&both, 1_000, 10),
            vec![Interval::new(0, 1_000), Interval::new(500, 1_000)]
        );
    }
}
