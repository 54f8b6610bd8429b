//! The audit log of a process: writing records (at once or queued), the authentication
//! failure counts, seals and retention (see the module doc of `audit`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::chain::{self, Entry, HashAlg, Record};
use super::events::{self, Event};
use super::{seal, settings, syslog};
use crate::store::adjustments::{Adjustment, NewAdjustment};
use crate::store::{Store, StoreError};

/// Records queued for the writer before [`Audit::record`] drops (and counts) them.
const QUEUE: usize = 4096;
/// Most sources whose authentication failures are counted apart in one minute; the rest are
/// counted under `other`. Bounds the memory a flood from many addresses takes.
const MAX_FAILURE_SOURCES: usize = 1024;
/// How often the failure counts become records.
const FAILURE_FLUSH: Duration = Duration::from_secs(60);
/// How often retention looks for records older than `audit.retention`.
const RETENTION_EVERY: Duration = Duration::from_secs(6 * 3600);
/// Records deleted by one retention transaction.
const RETENTION_BATCH: usize = 10_000;

/// The audit log of one process.
#[derive(Debug, Clone)]
pub struct Audit {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    instance: String,
    alg: HashAlg,
    queue: mpsc::Sender<Entry>,
    receiver: Mutex<Option<mpsc::Receiver<Entry>>>,
    /// Authentication failures since the last flush: (source, reason) -> count.
    failures: Mutex<BTreeMap<(String, &'static str), u64>>,
    dropped: AtomicU64,
    syslog: Option<syslog::Sender>,
    syslog_errors: AtomicU64,
}

impl Audit {
    /// The log of `instance` in `store`, with `settings.hash` and syslog forwarding. A syslog
    /// address that does not resolve is an error: records would silently not leave.
    pub fn new(
        store: Arc<dyn Store>,
        settings: &settings::AuditSettings,
        instance: &str,
    ) -> anyhow::Result<Audit> {
        let syslog = match &settings.syslog {
            Some(s) => Some(
                syslog::Sender::new(s, instance)
                    .map_err(|e| anyhow::anyhow!("audit.syslog.address {:?}: {e}", s.address))?,
            ),
            None => None,
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        Ok(Audit {
            inner: Arc::new(Inner {
                store,
                instance: instance.to_owned(),
                alg: settings.hash,
                queue,
                receiver: Mutex::new(Some(receiver)),
                failures: Mutex::default(),
                dropped: AtomicU64::new(0),
                syslog,
                syslog_errors: AtomicU64::new(0),
            }),
        })
    }

    fn entry(&self, e: Event) -> Entry {
        entry_of(&self.inner.instance, e)
    }

    /// Records `event` and waits until it is committed.
    pub async fn write(&self, event: Event) -> Result<Record, StoreError> {
        let entry = self.entry(event);
        let mut written = self.append(vec![entry]).await?;
        Ok(written.pop().expect("one entry appended"))
    }

    /// Queues `event` for the writer task (started by [`Audit::start`]).
    pub fn record(&self, event: Event) {
        let entry = self.entry(event);
        if self.inner.queue.try_send(entry).is_err() {
            let n = self.inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::error!(
                    dropped = n,
                    "audit records dropped: the audit queue is full (the database is not keeping up); logged at every power of two"
                );
            }
        }
    }

    /// Counts an authentication failure from `source` (recorded once a minute per source and
    /// reason).
    pub fn auth_failure(&self, source: IpAddr, reason: &'static str) {
        let mut f = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (source.to_string(), reason);
        let key = if f.len() >= MAX_FAILURE_SOURCES && !f.contains_key(&key) {
            ("other".to_owned(), reason)
        } else {
            key
        };
        *f.entry(key).or_insert(0) += 1;
    }

    /// Records dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    async fn append(&self, entries: Vec<Entry>) -> Result<Vec<Record>, StoreError> {
        let written = self
            .inner
            .store
            .append_audit(entries, self.inner.alg)
            .await?;
        self.forward(&written);
        Ok(written)
    }

    /// Stores an SLA adjustment with its record `event`, in one transaction (the
    /// adjustment's id is the record's seq).
    pub async fn adjust(
        &self,
        what: NewAdjustment,
        event: Event,
    ) -> Result<(Adjustment, Record), StoreError> {
        let entry = self.entry(event);
        let (made, record) = self
            .inner
            .store
            .add_adjustment(what, entry, self.inner.alg)
            .await?;
        self.forward(std::slice::from_ref(&record));
        Ok((made, record))
    }

    /// Withdraws adjustment `id` with its record `event`, in one transaction; `None` when
    /// there is no such adjustment in force (nothing recorded).
    pub async fn withdraw(
        &self,
        id: u64,
        reason: String,
        event: Event,
    ) -> Result<Option<Adjustment>, StoreError> {
        let entry = self.entry(event);
        let done = self
            .inner
            .store
            .withdraw_adjustment(id, reason, entry, self.inner.alg)
            .await?;
        Ok(done.map(|(a, record)| {
            self.forward(std::slice::from_ref(&record));
            a
        }))
    }

    fn forward(&self, records: &[Record]) {
        if let Some(s) = &self.inner.syslog {
            for r in records {
                if let Err(e) = s.send(r) {
                    let n = self.inner.syslog_errors.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        tracing::warn!(error = %e, failures = n, "cannot send an audit record to syslog; logged at every power of two");
                    }
                }
            }
        }
    }

    /// The failure counts as events, emptying them.
    fn take_failures(&self) -> Vec<Event> {
        let taken = std::mem::take(
            &mut *self
                .inner
                .failures
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        taken
            .into_iter()
            .map(|((source, reason), count)| events::auth_failures(source, reason, count))
            .collect()
    }

    /// Starts the writer: queued records, the failure counts every minute, a seal every
    /// `seal_interval` (with `sealer`), retention every few hours. Stop it with
    /// [`Writer::stop`], which writes what is still queued.
    pub fn start(
        &self,
        sealer: Option<seal::Sealer>,
        settings: &settings::AuditSettings,
    ) -> Writer {
        let receiver = self
            .inner
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .expect("the audit writer is started once");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(run(
            self.clone(),
            receiver,
            sealer,
            settings.seal_interval,
            settings.retention,
            stopped,
        ));
        Writer { stop, task }
    }

    /// Seals the chain with `sealer` when its newest record is not a seal; returns the seal.
    pub async fn seal(&self, sealer: &seal::Sealer) -> Result<Option<Record>, StoreError> {
        let Some(head) = self.inner.store.audit_head().await? else {
            return Ok(None);
        };
        if head.entry.event == seal::SEAL_EVENT {
            return Ok(None);
        }
        let details = match sealer.seal(head.seq, &head.hash) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot sign an audit seal");
                return Ok(None);
            }
        };
        let record = self.write(events::seal(&details)).await?;
        // The outside anchor: journald (this line) and syslog (written above).
        tracing::info!(
            seq = details.through_seq,
            head = %details.head,
            seal = record.seq,
            "audit log sealed"
        );
        Ok(Some(record))
    }

    /// Deletes records older than `retention` (before `now_ms`), with a record saying so.
    pub async fn retire(&self, retention: Duration, now_ms: i64) -> Result<u64, StoreError> {
        let before =
            now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        let mut deleted = 0;
        loop {
            let note = self.entry(events::retention_placeholder());
            match self
                .inner
                .store
                .retire_audit(before, RETENTION_BATCH, note, self.inner.alg)
                .await?
            {
                Some(r) => {
                    let d: chain::RetentionDetails = serde_json::from_str(&r.entry.details)
                        .expect("the store writes retention details");
                    deleted += d.deleted;
                    self.forward(std::slice::from_ref(&r));
                    if (d.deleted as usize) < RETENTION_BATCH {
                        return Ok(deleted);
                    }
                }
                None => return Ok(deleted),
            }
        }
    }
}

/// Records `event` in `store` now, for a command that holds no [`Audit`] (it writes one
/// record and exits): the same record, chain and syslog forwarding.
pub async fn record_now(
    store: &dyn Store,
    settings: &settings::AuditSettings,
    instance: &str,
    event: Event,
) -> anyhow::Result<Record> {
    let mut written = store
        .append_audit(vec![entry_of(instance, event)], settings.hash)
        .await?;
    let record = written.pop().expect("one entry appended");
    if let Some(s) = &settings.syslog {
        syslog::Sender::new(s, instance)?.send(&record)?;
    }
    Ok(record)
}

/// The running writer task.
#[derive(Debug)]
pub struct Writer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Writes what is queued and the failure counts, then ends.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn run(
    audit: Audit,
    mut receiver: mpsc::Receiver<Entry>,
    sealer: Option<seal::Sealer>,
    seal_interval: Duration,
    retention: Duration,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let mut failures = tokio::time::interval(FAILURE_FLUSH);
    let mut seals = tokio::time::interval(seal_interval);
    let mut retire = tokio::time::interval(RETENTION_EVERY);
    for t in [&mut failures, &mut seals, &mut retire] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            n = receiver.recv_many(&mut batch, 256) => {
                if n == 0 {
                    break;
                }
                write_batch(&audit, &mut batch).await;
            }
            _ = failures.tick() => {
                let entries: Vec<Entry> = audit.take_failures().into_iter().map(|e| audit.entry(e)).collect();
                batch.extend(entries);
                write_batch(&audit, &mut batch).await;
            }
            _ = seals.tick() => {
                if let Some(sealer) = &sealer
                    && let Err(e) = audit.seal(sealer).await
                {
                    tracing::warn!(error = %e, "cannot seal the audit log; trying again at the next interval");
                }
            }
            _ = retire.tick() => {
                match audit.retire(retention, zerofault_common::now_unix_ms()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(deleted = n, "audit retention deleted old records"),
                    Err(e) => tracing::warn!(error = %e, "audit retention failed; trying again later"),
                }
            }
        }
    }
    receiver.close();
    while let Ok(e) = receiver.try_recv() {
        batch.push(e);
    }
    batch.extend(audit.take_failures().into_iter().map(|e| audit.entry(e)));
    write_batch(&audit, &mut batch).await;
    if let Some(sealer) = &sealer
        && let Err(e) = audit.seal(sealer).await
    {
        tracing::warn!(error = %e, "cannot seal the audit log at shutdown");
    }
}

/// Writes `batch`, retrying a failed write a few times (the database restarting); what
/// still fails is logged with its count and dropped, so that the queue keeps moving.
async fn write_batch(audit: &Audit, batch: &mut Vec<Entry>) {
    if batch.is_empty() {
        return;
    }
    for attempt in 0..5u32 {
        match audit.append(batch.clone()).await {
            Ok(_) => {
                batch.clear();
                return;
            }
            Err(e) if attempt < 4 => {
                tracing::warn!(error = %e, records = batch.len(), "cannot write audit records; retrying");
                tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
            }
            Err(e) => {
                audit
                    .inner
                    .dropped
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                tracing::error!(error = %e, records = batch.len(), "audit records lost: the database refused them");
                batch.clear();
            }
        }
    }
}

/// `event` as written by `instance` now (the wall clock: a record's time).
fn entry_of(instance: &str, e: Event) -> Entry {
    Entry {
        at_ms: zerofault_common::now_unix_ms(),
        instance: instance.to_owned(),
        actor: e.actor,
        source: e.source,
        event: e.event.to_owned(),
        outcome: if e.ok { "success" } else { "failure" }.to_owned(),
        details: e.details.to_string(),
    }
}
