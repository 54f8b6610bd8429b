//! `zerofault-collector serve`: opens the store, warms the host table and runs both
//! listeners until shutdown. In the library so that tests can run a whole collector
//! in-process on ephemeral ports.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cmd::deployment::{self, Deployment};
use crate::config::Config;
use crate::http::audit_log;
use crate::inventory::{Inventory, InventoryError};
use crate::live::hosts::{HostTable, IngestCounters};
use crate::live::ingest::{self, IngestState};
use crate::live::links::LinkHub;
use crate::store::retention::{self, Retention};
use crate::store::{HEARTBEAT, Store};

mod listen;
mod security;

/// A collector whose listeners are bound but not yet serving.
#[derive(Debug)]
pub struct Server {
    config: Config,
    tls: Arc<rustls::ServerConfig>,
    /// The certificate `tls` presents, reloaded on SIGHUP or a changed file.
    server_cert: Arc<crate::tls::ServerCert>,
    ingest_listener: TcpListener,
    http_listener: TcpListener,
    /// `access.tls`: the HTTP listener's TLS, `None` for plain HTTP.
    http_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    store: Arc<dyn Store>,
    hosts: Arc<HostTable>,
    counters: Arc<IngestCounters>,
    links: Arc<LinkHub>,
    /// The inventory (defaults when none is configured), for `/api/v1/report`.
    inventory: Arc<Inventory>,
    /// This run in `collector_runs`.
    run_id: i64,
    /// This instance's name (`instance`), the holder of its runs and leases.
    instance: String,
    /// The deployment lease, tried once before serving.
    deployment: Deployment,
}

/// The ingest listener's caps: `limits.*` of the config, with `max_connections` lowered to
/// what the process's open-file limit allows after raising its soft limit to the hard one.
/// Both changes are logged, so an operator sees why fewer agents fit than configured.
fn connection_limits(
    limits: &crate::live::ingest::settings::Limits,
) -> ingest::connections::ConnectionLimits {
    let soft = raise_open_file_limit();
    let configured = limits.max_connections as usize;
    let max_connections = match soft {
        Some(soft) => ingest::connections::connections_within(configured, soft),
        None => configured,
    };
    if max_connections < configured {
        tracing::warn!(
            configured,
            max_connections,
            open_file_limit = soft,
            reserved = soft.map(ingest::connections::reserved_descriptors),
            "limits.max_connections lowered to what the open-file limit allows; raise LimitNOFILE (systemd) or ulimit -n to serve more agents"
        );
    }
    ingest::connections::ConnectionLimits {
        max_connections,
        max_handshakes_per_address: limits.max_handshakes_per_address as usize,
        max_connections_per_agent: limits.max_connections_per_agent as usize,
        new_connections_per_address_per_second: limits.new_connections_per_address_per_second,
    }
}

/// Raises the soft open-file limit to the hard limit (one connection is one descriptor) and
/// returns the soft limit in force; `None` when it is unlimited or cannot be read.
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        return None;
    };
    let target = hard.unwrap_or(u64::MAX);
    if target <= soft {
        return Some(soft);
    }
    match setrlimit(
        Resource::Nofile,
        rustix::process::Rlimit {
            current: hard,
            maximum: hard,
        },
    ) {
        Ok(()) => {
            tracing::info!(
                from = soft,
                to = target,
                "raised the open-file soft limit to the hard limit"
            );
            Some(target)
        }
        Err(e) => {
            tracing::warn!(error = %e, soft, hard = target, "cannot raise the open-file soft limit");
            Some(soft)
        }
    }
}

/// How long shutdown waits for in-flight HTTP requests (scrapes, API, report downloads).
const HTTP_DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reports read per page during the start-up replay: bounds the memory the replay holds.
const REPLAY_PAGE: usize = 1000;

/// What the start-up replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Reports read.
    pub reports: u64,
    /// Link windows among them.
    pub windows: u64,
    /// Faults found that were not stored yet.
    pub new_faults: usize,
}

impl Server {
    /// Loads the inventory, opens the store, warms the host table from it and binds both
    /// listeners. `config` should have passed [`Config::validate`]; TLS and inventory errors
    /// are reported here too.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        let (tls, server_cert) = crate::tls::server_config_and_cert(&config.tls)
            .map_err(|e| anyhow::anyhow!("{}: `{}`: {e}", config.source.display(), e.key()))?;
        let inventory = load_inventory(&config)?.map(Arc::new);
        let store = crate::store::open(&config.storage, &config.links.thresholds).await?;
        let max_skew_ms = i64::try_from(config.clock.max_skew.as_millis()).unwrap_or(i64::MAX);
        let mut hosts = HostTable::new(max_skew_ms);
        if let Some(inventory) = &inventory {
            tracing::info!(
                path = %inventory.source.display(),
                departments = inventory.departments.len(),
                business_systems = inventory.business_systems.len(),
                data_centers = inventory.data_centers.len(),
                sites = inventory.sites.len(),
                links = inventory.links.len(),
                "inventory loaded"
            );
            hosts = hosts.with_inventory(inventory.clone());
        } else {
            tracing::info!("no inventory configured: agents' label values are not checked");
        }
        let hosts = Arc::new(hosts);
        let warmed = warm(store.as_ref(), &hosts).await?;
        // The newest labels of the warmed hosts, so that a restart after editing the
        // inventory shows at once which values are still missing.
        let flagged = hosts.warn_current_unknown_labels();
        if flagged > 0 {
            tracing::warn!(
                hosts = flagged,
                "hosts whose newest report has label values the inventory does not declare"
            );
        }
        // Completeness comes from what is stored, so it survives this restart.
        hosts.ledger().load(
            store
                .boot_spans()
                .await
                .context("cannot summarise the stored sequence numbers")?,
        );
        let counters = Arc::new(IngestCounters::default());
        let started_unix_ms = ingest::now_unix_ms();
        // Recorded before listening: no report is acknowledged outside a recorded run.
        let instance = config.instance_name();
        let run_id = store
            .start_run(instance.clone(), started_unix_ms)
            .await
            .context("cannot record the collector run")?;
        let runs_total = store
            .collector_runs()
            .await
            .context("cannot read the collector runs")?
            .len() as u64;
        counters.set_run(started_unix_ms, runs_total);
        tracing::info!(
            hosts = warmed,
            instance,
            store = %config.storage,
            "store opened, host table warmed"
        );
        // Before serving: a collector alone on its store holds the lease from its first
        // scrape on; one of several on standby never shows hosts another one shows.
        let mut deployment = Deployment::new(
            store.clone(),
            hosts.clone(),
            counters.clone(),
            instance.clone(),
            started_unix_ms,
        );
        deployment.step(ingest::now_unix_ms()).await;
        let links = Arc::new(LinkHub::new(config.links.clone()));
        let horizon = i64::try_from(config.links.replay.as_millis()).unwrap_or(i64::MAX);
        if horizon > 0 {
            let started = std::time::Instant::now();
            let since = ingest::now_unix_ms().saturating_sub(horizon);
            let stats = replay(store.as_ref(), &links, since).await?;
            tracing::info!(
                reports = stats.reports,
                windows = stats.windows,
                new_faults = stats.new_faults,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "link engine rebuilt from stored reports"
            );
        }
        let ingest_listener = listen::bind(config.listen.ingest, "listen.ingest")?;
        // Loaded before binding: a certificate that cannot be used stops the start with
        // the key and the file named, not the first browser's handshake.
        let http_tls = match &config.access.tls {
            Some(t) => Some(crate::http::https::server_config(&t.cert, &t.key)?),
            None => None,
        };
        let http_listener = listen::bind(config.listen.http, "listen.http")?;
        Ok(Server {
            config,
            tls,
            server_cert,
            ingest_listener,
            http_listener,
            http_tls,
            store,
            hosts,
            counters,
            links,
            // The report of a collector without an inventory uses the defaults, as the
            // `report` command does.
            inventory: inventory.unwrap_or_default(),
            run_id,
            instance,
            deployment,
        })
    }

    /// Bound address of the mTLS ingest listener (the real port when configured as 0).
    pub fn ingest_addr(&self) -> SocketAddr {
        self.ingest_listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Bound address of the plain-HTTP listener.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The host table.
    pub fn hosts(&self) -> Arc<HostTable> {
        self.hosts.clone()
    }

    /// The ingest counters.
    pub fn counters(&self) -> Arc<IngestCounters> {
        self.counters.clone()
    }

    /// The link engine and interface tracker.
    pub fn links(&self) -> Arc<LinkHub> {
        self.links.clone()
    }

    /// The store.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves until `shutdown` completes, then drains in-flight requests and closes the
    /// store, so that every acknowledged report is on disk when this returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let ingest_addr = self.ingest_addr();
        let http_addr = self.http_addr();
        let (stop_tx, stop_rx) = watch::channel(false);
        // Before anything is served: the revocation list read, the audit log writing.
        let security = security::Security::start(
            &self.config,
            self.store.clone(),
            &self.instance,
            self.server_cert.clone(),
        )
        .await?;
        let series = Arc::<crate::series::Accumulator>::default();
        let series_tasks = crate::series::flush::Tasks::start(
            self.store.clone(),
            series.clone(),
            &self.instance,
            self.run_id,
            ingest::now_unix_ms(),
        )
        .await;
        // Built-in notifications (webhooks, e-mail), fed by the live tick below.
        let notifier = crate::outputs::notify::Notifier::open(
            &self.config.notifications,
            self.inventory.clone(),
        )?;
        let notify_task = notifier.clone().map(|n| tokio::spawn(n.run()));
        // Live slot counters (burn-rate alerts), advanced every 10 s on the lease holder.
        let slots = Arc::<crate::live::slots::SlotCounters>::default();
        let slots_task = tokio::spawn(crate::live::slots::run(
            slots.clone(),
            crate::live::slots::Sources {
                hosts: self.hosts.clone(),
                links: self.links.clone(),
                counters: self.counters.clone(),
                inventory: self.inventory.clone(),
                down_after_intervals: self.config.hosts.down_after_intervals,
                silent_after_ms: i64::try_from(self.config.cockpit.silent_after.as_millis())
                    .unwrap_or(i64::MAX),
            },
            notifier,
        ));
        // remote_write: the queues open before ingest starts, so no stored report misses them.
        let sinks = crate::outputs::remote_write::Sinks::open(&self.config.remote_write)?;
        self.counters.set_remote_write(sinks.stats());
        let sink_tasks = sinks.start(Some((
            crate::outputs::remote_write::StateSource {
                hosts: self.hosts.clone(),
                links: self.links.clone(),
                counters: self.counters.clone(),
                down_after_intervals: self.config.hosts.down_after_intervals,
                slots: slots.clone(),
                inventory: self.inventory.clone(),
            },
            self.config.remote_write.state_interval,
        )));
        let app = ingest::router(IngestState {
            store: self.store.clone(),
            hosts: self.hosts.clone(),
            counters: self.counters.clone(),
            links: self.links.clone(),
            limits: self.config.limits.into(),
            series: series.clone(),
            sinks,
            revocations: security.revocations.clone(),
            audit: Some(security.audit.clone()),
        })
        .merge(crate::live::enroll::router(security.enroll.clone()));
        let connection_limits = connection_limits(&self.config.limits);
        let ingest_task = tokio::spawn(ingest::listener::serve(
            self.ingest_listener,
            self.tls,
            app,
            connection_limits,
            self.config.limits.connection_idle_timeout,
            ingest::listener::Observers {
                counters: self.counters.clone(),
                audit: Some(security.audit.clone()),
            },
            stop_rx.clone(),
        ));
        let sla_state = crate::http::sla_report::SlaReportState::new(
            self.store.clone(),
            self.inventory.clone(),
            self.config.links.clone(),
        )
        .with_audit(security.audit.clone());
        let month_to_date = crate::month::to_date::Runner {
            store: self.store.clone(),
            inventory: self.inventory.clone(),
            links: std::sync::Arc::new(self.config.links.clone()),
            settings: self.config.month_to_date.clone(),
            computations: sla_state.computations(),
            latest: crate::month::to_date::Latest::default(),
        };
        let audit = security.audit.clone();
        let expose = crate::http::router(crate::http::HttpState {
            hosts: self.hosts.clone(),
            counters: self.counters.clone(),
            links: self.links.clone(),
            slots: slots.clone(),
            store: self.store.clone(),
            down_after_intervals: self.config.hosts.down_after_intervals,
            metrics: self.config.metrics,
        })
        .merge(crate::http::sla_report::router(sla_state.clone()))
        .merge(audit_log::router(self.store.clone(), audit))
        .merge(crate::http::month_to_date::router(
            month_to_date.latest.clone(),
        ))
        .merge(crate::http::cockpit::router(
            crate::http::cockpit::CockpitState {
                hosts: self.hosts.clone(),
                links: self.links.clone(),
                store: self.store.clone(),
                inventory: self.inventory.clone(),
                month: month_to_date.latest.clone(),
                down_after_intervals: self.config.hosts.down_after_intervals,
                settings: self.config.cockpit.clone(),
                closed: crate::http::cockpit::ClosedMonths::default(),
            },
        ));
        // Who may read (`access.users`): checked before any route; off without users.
        let gate = std::sync::Arc::new(
            crate::http::access::Gate::new(self.config.access.clone())
                .with_audit(security.audit.clone()),
        );
        let expose = if gate.enabled() {
            expose.layer(axum::middleware::from_fn_with_state(
                gate,
                crate::http::access::middleware,
            ))
        } else {
            expose
        };
        let mut http_stop = stop_rx;
        let http_task = match &self.http_tls {
            Some(tls) => tokio::spawn(crate::http::https::serve(
                self.http_listener,
                tls.clone(),
                expose,
                http_stop,
            )),
            None => tokio::spawn(
                axum::serve(
                    self.http_listener,
                    // The peer address, for the audit records of logins and downloads.
                    expose.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .with_graceful_shutdown(async move {
                    let _ = http_stop.wait_for(|stop| *stop).await;
                })
                .into_future(),
            ),
        };
        tracing::info!("ingest listening on {ingest_addr}, http listening on {http_addr}");

        let heartbeat_store = self.store.clone();
        let run_id = self.run_id;
        let heartbeat_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = heartbeat_store
                    .heartbeat_run(run_id, ingest::now_unix_ms())
                    .await
                {
                    // Only the precision of a crash's recorded end suffers; keep serving.
                    tracing::warn!(error = %e, "cannot write the collector heartbeat");
                }
            }
        });

        let deployment_task = tokio::spawn(deployment::run(self.deployment));

        // The month to date, for pages and the API; off, the route answers 503.
        let month_to_date_task = self
            .config
            .month_to_date
            .enabled
            .then(|| tokio::spawn(month_to_date.run()));

        let retention_task = tokio::spawn(retention_loop(
            self.store.clone(),
            self.config.retention.clone(),
            security.audit.clone(),
        ));

        shutdown.await;
        heartbeat_task.abort();
        slots_task.abort();
        if let Some(t) = &notify_task {
            t.abort();
        }
        retention_task.abort();
        deployment_task.abort();
        if let Some(t) = &month_to_date_task {
            t.abort();
        }
        tracing::info!("shutting down");
        let _ = stop_tx.send(true);
        let ingest_result = ingest_task.await;
        // Bounded like the ingest drain: a slow or stuck HTTP client (a long report download)
        // must not keep a stopping collector, and its ports, alive.
        let http_result = match tokio::time::timeout(HTTP_DRAIN_TIMEOUT, http_task).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    "http requests still open after {HTTP_DRAIN_TIMEOUT:?}; stopping without them"
                );
                Ok(Ok(()))
            }
        };
        // After the listeners drained, before the clean stop is recorded: a clean run leaves
        // no series slot in memory only, so the next start has nothing to rebuild.
        series_tasks.stop(self.store.as_ref(), &series).await;
        // After ingest drained: every stored report is in the queues, flushed to disk here.
        sink_tasks.stop().await;
        // After the listeners drained: the refused identities counted until the end.
        security.stop().await;
        // After the listeners drained: every acknowledged report is inside this run.
        if let Err(e) = self
            .store
            .stop_run(self.run_id, ingest::now_unix_ms())
            .await
        {
            tracing::error!(error = %e, "cannot record the clean stop of this collector run");
        }
        deployment::release(self.store.as_ref(), &self.instance).await;
        self.store.close().await;
        ingest_result.context("ingest listener task failed")?;
        http_result
            .context("http listener task failed")?
            .context("http listener failed")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The configured inventory, `None` without one. An inventory that cannot be used is refused
/// with the lines [`Config::validate`] gives: one per problem, under the `inventory` key.
pub fn load_inventory(config: &Config) -> anyhow::Result<Option<Inventory>> {
    config.load_inventory().map_err(|e| {
        let messages: Vec<String> = match e {
            InventoryError::Invalid { problems } => {
                problems.iter().map(ToString::to_string).collect()
            }
            other => vec![other.to_string()],
        };
        let problems: Vec<crate::config::Problem> = messages
            .into_iter()
            .map(|message| crate::config::Problem {
                file: config.source.clone(),
                key: "inventory",
                message,
            })
            .collect();
        anyhow::anyhow!(crate::config::Problems(&problems).to_string())
    })
}

/// Warms `hosts` from the store; returns how many hosts it holds.
///
/// The newest report of each boot is offered in receive order, so that the same
/// supersede and liveness rules as at runtime pick each host's report and receive time.
/// Taking each agent's most recently received report instead would pick backlog, which
/// arrives after the live report it precedes.
pub async fn warm(store: &dyn Store, hosts: &HostTable) -> anyhow::Result<usize> {
    let mut candidates = store
        .newest_per_boot()
        .await
        .context("cannot read the newest reports from the store")?;
    candidates.sort_by_key(|r| (r.received_ms, r.sequence));
    for row in candidates {
        if let Some(report) = row.decode() {
            hosts.update(report, row.received_ms);
        }
    }
    Ok(hosts.len())
}

/// Rebuilds the link engine and the interface tracker from the reports received since
/// `since_ms`, so that an outage in progress and the counters survive a restart; stores the
/// faults it finds that are not stored yet (a crash between a commit and storing its faults).
///
/// Reports are replayed in the order the collector received them, the order the live engine
/// saw them, rather than per agent: the link-level state is the intersection over vantage
/// points, which only comes out the same when their windows are interleaved as they arrived.
/// Within one agent this is its sequence order, except for late backfill, which the engine
/// ignores live as well.
pub async fn replay(
    store: &dyn Store,
    links: &LinkHub,
    since_ms: i64,
) -> anyhow::Result<ReplayStats> {
    let mut stats = ReplayStats::default();
    let mut after = None;
    loop {
        let page = store
            .reports_since(since_ms, after, REPLAY_PAGE)
            .await
            .context("cannot read stored reports to rebuild the link engine")?;
        let mut faults = Vec::new();
        for row in &page.reports {
            if let Some(report) = row.decode() {
                stats.reports += 1;
                stats.windows += report.links.len() as u64;
                faults.extend(links.observe_report(&report));
            }
        }
        if !faults.is_empty() {
            stats.new_faults += store
                .insert_faults(faults)
                .await
                .context("cannot store the link faults found while replaying")?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(stats),
        }
    }
}

/// Binds and runs a collector until `shutdown` completes.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    Server::bind(config).await?.run(shutdown).await
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// How often a retention pass starts again from the oldest report, to look again at the
/// rows it kept because they were the newest of their boot (see `store::retention::pass`).
const RETENTION_RESCAN: std::time::Duration = std::time::Duration::from_secs(86_400);

/// Runs a retention pass every `settings.interval` (the first one a minute after start, so
/// that start-up and the first reports go first), logging what each deleted.
async fn retention_loop(
    store: std::sync::Arc<dyn Store>,
    settings: Retention,
    audit: crate::audit::Audit,
) {
    tokio::time::sleep(std::time::Duration::from_secs(60).min(settings.interval)).await;
    let mut cursor = None;
    let mut rescan_at = std::time::Instant::now() + RETENTION_RESCAN;
    loop {
        if std::time::Instant::now() >= rescan_at {
            cursor = None;
            rescan_at = std::time::Instant::now() + RETENTION_RESCAN;
        }
        let started = std::time::Instant::now();
        match retention::pass(
            store.as_ref(),
            &settings,
            ingest::now_unix_ms(),
            &mut cursor,
        )
        .await
        {
            Ok(done) if done != retention::PassOutcome::default() => {
                tracing::info!(
                    reports = done.reports,
                    buckets = done.buckets,
                    series = done.series,
                    reclaimed_bytes = done.reclaimed_bytes,
                    seconds = started.elapsed().as_secs_f64(),
                    "retention pass"
                );
                audit.record(crate::audit::events::retention_deleted(
                    done.reports,
                    done.buckets,
                    done.series,
                ));
            }
            Ok(_) => {}
            // Nothing is lost by a failed pass: the next one deletes what this one did not.
            Err(e) => tracing::warn!(error = %e, "retention pass failed"),
        }
        tokio::time::sleep(settings.interval).await;
    }
}

#[cfg(test)]
mod tests;
