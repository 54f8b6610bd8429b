//! The sinks: one durable queue and one sender task per target. Ingest appends the series of
//! each stored report to every queue ([`Sinks::observe_report`]); the state task appends the
//! derived series every `state_interval`; each sender reads rounds from its queue, splits
//! them over its shards by series and acknowledges a round once every shard is done.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use zerofault_protocol::Report;

use super::queue::{Batch, Queue};
use super::samples::{self, SeriesOut};
use super::send::{self, Decision, Outcome, Sender};
use super::settings::{RemoteWrite, Target};
use super::stats::{DropReason, SinkStats};
use super::wire::{Label, TimeSeries, WriteRequest};
use crate::live::hosts::{HostTable, IngestCounters};
use crate::live::links::LinkHub;

/// zstd level of queue records: level 1 already shrinks a report's series about tenfold
/// (label values repeat in every series) at a small cost on the ingest path.
const ZSTD_LEVEL: i32 = 1;
/// Longest a round waits to fill before it is sent anyway (Prometheus' batch_send_deadline).
const BATCH_WAIT: Duration = Duration::from_secs(1);
/// Most bytes a queue record expands to: a record is at most one state push.
const MAX_RECORD_DECODED: usize = 512 << 20;
/// Most series in one queue record.
const RECORD_SERIES: usize = 2_000;
/// How long a stopping collector waits for requests in flight.
const STOP_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct TargetQueue {
    settings: Target,
    queue: Queue,
    stats: Arc<SinkStats>,
    sender: Sender,
    wake: Notify,
}

/// Every target's queue. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    targets: Arc<Vec<Arc<TargetQueue>>>,
}

/// Where the state push reads what is now.
#[derive(Debug, Clone)]
pub struct StateSource {
    /// Newest report per agent.
    pub hosts: Arc<HostTable>,
    /// Link engine.
    pub links: Arc<LinkHub>,
    /// Whether this collector holds the deployment lease (`standby()` false).
    pub counters: Arc<IngestCounters>,
    /// `hosts.down_after_intervals`.
    pub down_after_intervals: u32,
    /// Live states and slot counters (`live::slots`).
    pub slots: Arc<crate::live::slots::SlotCounters>,
    /// Targets of the slot counters' groups.
    pub inventory: Arc<crate::inventory::Inventory>,
}

/// The running tasks, to stop at shutdown.
#[derive(Debug)]
pub struct Running {
    sinks: Sinks,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn now_ms() -> i64 {
    zerofault_common::now_unix_ms()
}

impl Sinks {
    /// Opens every target's queue and client. Errors name the target, key and file.
    pub fn open(settings: &RemoteWrite) -> anyhow::Result<Sinks> {
        let mut targets = Vec::new();
        for t in &settings.targets {
            let dir = settings.queue_dir.join(&t.name);
            let (queue, opened) = Queue::open(&dir, t.max_queue_bytes).map_err(|e| {
                anyhow::anyhow!(
                    "remote_write target {:?}: cannot open its queue in {}: {e}",
                    t.name,
                    dir.display()
                )
            })?;
            if opened.truncated_bytes > 0 {
                tracing::warn!(target_name = %t.name, bytes = opened.truncated_bytes, "remote_write queue: cut a torn record at the end (a crash while appending)");
            }
            if opened.samples > 0 {
                tracing::info!(target_name = %t.name, samples = opened.samples, bytes = opened.bytes, "remote_write queue: resuming with samples not yet delivered");
            }
            let sender = Sender::new(t)
                .map_err(|e| anyhow::anyhow!("remote_write target {:?}: {e}", t.name))?;
            let stats = Arc::new(SinkStats::new(&t.name));
            let (samples, bytes, oldest) = queue.stats();
            stats.set_queue(samples, bytes);
            stats.set_oldest(oldest);
            targets.push(Arc::new(TargetQueue {
                settings: t.clone(),
                queue,
                stats,
                sender,
                wake: Notify::new(),
            }));
        }
        Ok(Sinks {
            targets: Arc::new(targets),
        })
    }

    /// Whether any target is configured.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Each target's figures.
    pub fn stats(&self) -> Vec<Arc<SinkStats>> {
        self.targets.iter().map(|t| t.stats.clone()).collect()
    }

    /// Queues the series of a report that was just stored for the first time.
    pub fn observe_report(&self, report: &Report, received_ms: i64, clock_offset_ms: Option<i64>) {
        if self.targets.is_empty() {
            return;
        }
        self.enqueue(
            samples::of_report(report, received_ms, clock_offset_ms),
            now_ms(),
        );
    }

    /// Appends `out` as one record to every target's queue. A queue that cannot be written
    /// (disk full, I/O error) loses this record: logged and counted as dropped, never
    /// blocking ingest.
    pub fn enqueue(&self, out: SeriesOut, now_ms: i64) {
        if self.targets.is_empty() || out.series.is_empty() {
            return;
        }
        // A state push of a province is 100,000 series and more: as records of at most
        // RECORD_SERIES, so that a round (which takes at least one record) and its
        // sharding stay small in memory.
        let mut series = out.series;
        while !series.is_empty() {
            let rest = series.split_off(series.len().min(RECORD_SERIES));
            self.enqueue_record(series, now_ms);
            series = rest;
        }
    }

    fn enqueue_record(&self, series: Vec<TimeSeries>, now_ms: i64) {
        let samples = u32::try_from(series.iter().map(|s| s.samples.len()).sum::<usize>())
            .unwrap_or(u32::MAX);
        let request = WriteRequest { timeseries: series };
        let bytes = prost::Message::encode_to_vec(&request);
        let payload = match zstd::bulk::compress(&bytes, ZSTD_LEVEL) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "remote_write: cannot compress a record; dropped");
                return;
            }
        };
        for t in self.targets.iter() {
            match t.queue.append(samples, now_ms, &payload) {
                Ok(appended) => {
                    if appended.dropped_samples > 0 {
                        tracing::warn!(
                            target_name = %t.settings.name,
                            samples = appended.dropped_samples,
                            segments = appended.dropped_segments,
                            max_queue_bytes = t.settings.max_queue_bytes,
                            "remote_write queue full: dropped the oldest samples; the receiver is behind or down (raise max_queue_bytes to hold a longer outage)"
                        );
                        t.stats
                            .dropped(DropReason::QueueFull, appended.dropped_samples);
                    }
                }
                Err(e) => {
                    tracing::error!(target_name = %t.settings.name, error = %e, "remote_write: cannot append to the queue; these samples are lost");
                    t.stats.dropped(DropReason::QueueFull, u64::from(samples));
                }
            }
            let (s, b, _) = t.queue.stats();
            t.stats.set_queue(s, b);
            t.wake.notify_one();
        }
    }

    /// Starts one sender per target, the flush timer and (with `state`) the state push.
    pub fn start(&self, state: Option<(StateSource, Duration)>) -> Running {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for t in self.targets.iter() {
            tasks.push(tokio::spawn(send_loop(t.clone(), stop_rx.clone())));
        }
        if !self.targets.is_empty() {
            let sinks = self.clone();
            let mut sync_stop = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(super::queue::SYNC_EVERY) => {}
                        _ = sync_stop.wait_for(|s| *s) => return,
                    }
                    sinks.sync().await;
                }
            }));
            if let Some((source, every)) = state {
                tasks.push(tokio::spawn(state_loop(
                    self.clone(),
                    source,
                    every,
                    stop_rx,
                )));
            }
        }
        Running {
            sinks: self.clone(),
            stop,
            tasks,
        }
    }

    /// Flushes every queue to disk.
    async fn sync(&self) {
        let targets = self.targets.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for t in targets.iter() {
                if let Err(e) = t.queue.sync() {
                    tracing::error!(target_name = %t.settings.name, error = %e, "remote_write: cannot flush the queue to disk");
                }
            }
        })
        .await;
    }
}

impl Running {
    /// Stops the senders (a round in flight is abandoned and sent again at the next start)
    /// and flushes the queues. Call after ingest stopped, so every stored report is queued.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + STOP_WAIT;
        for mut task in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                task.abort();
                tracing::warn!(
                    "remote_write: a sender did not stop within 10 s; its round is sent again at the next start"
                );
            }
        }
        self.sinks.sync().await;
    }
}

async fn state_loop(
    sinks: Sinks,
    source: StateSource,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        // A collector on standby exposes no deployment-wide series, and pushes none.
        if source.counters.standby() {
            continue;
        }
        let now = now_ms();
        let out = super::state::of_state(
            &source.hosts.snapshot(),
            &source.links.links(),
            &source.slots.read(),
            &source.inventory,
            now,
            source.down_after_intervals,
        );
        sinks.enqueue(out, now);
    }
}

/// Decodes the records of a round into series (damaged records counted and skipped).
fn decode(batch: &Batch, stats: &SinkStats) -> Vec<TimeSeries> {
    let mut series = Vec::new();
    for r in &batch.records {
        let request = zstd::bulk::decompress(&r.payload, MAX_RECORD_DECODED)
            .ok()
            .and_then(|bytes| <WriteRequest as prost::Message>::decode(bytes.as_slice()).ok());
        match request {
            Some(request) => series.extend(request.timeseries),
            None => stats.dropped(DropReason::Corrupt, u64::from(r.samples)),
        }
    }
    series
}

/// Adds the target's extra labels (a series' own label wins) and keeps labels sorted.
fn with_extra_labels(series: &mut TimeSeries, extra: &std::collections::BTreeMap<String, String>) {
    if extra.is_empty() {
        return;
    }
    for (name, value) in extra {
        if series.labels.iter().all(|l| &l.name != name) {
            series.labels.push(Label {
                name: name.clone(),
                value: value.clone(),
            });
        }
    }
    series.labels.sort_by(|a, b| a.name.cmp(&b.name));
}

fn shard_of(labels: &[Label], shards: usize) -> usize {
    let mut h = std::hash::DefaultHasher::new();
    labels.hash(&mut h);
    (h.finish() % shards as u64) as usize
}

/// Splits a round's series over `shards` by series, merging the samples of one series (in
/// time order) and cutting each shard into requests of at most `max_samples` samples.
pub fn shard_requests(
    series: Vec<TimeSeries>,
    shards: usize,
    max_samples: usize,
) -> Vec<Vec<WriteRequest>> {
    // Per shard: its series, and where each series (by labels) is in that list.
    type Shard = (Vec<TimeSeries>, HashMap<Vec<Label>, usize>);
    let mut per_shard: Vec<Shard> = (0..shards).map(|_| Default::default()).collect();
    for s in series {
        let (list, index) = &mut per_shard[shard_of(&s.labels, shards)];
        match index.get(&s.labels) {
            Some(&i) => list[i].samples.extend(s.samples),
            None => {
                index.insert(s.labels.clone(), list.len());
                list.push(s);
            }
        }
    }
    per_shard
        .into_iter()
        .map(|(mut list, _)| {
            let mut requests = Vec::new();
            let mut current = WriteRequest::default();
            let mut n = 0;
            for s in &mut list {
                // Stable: samples of one timestamp keep their queue order.
                s.samples.sort_by_key(|x| x.timestamp);
            }
            for s in list {
                let mut rest = s.samples.as_slice();
                while !rest.is_empty() {
                    let room = max_samples - n;
                    let (now, later) = rest.split_at(rest.len().min(room));
                    current.timeseries.push(TimeSeries {
                        labels: s.labels.clone(),
                        samples: now.to_vec(),
                    });
                    n += now.len();
                    rest = later;
                    if n == max_samples {
                        requests.push(std::mem::take(&mut current));
                        n = 0;
                    }
                }
            }
            if n > 0 {
                requests.push(current);
            }
            requests
        })
        .collect()
}

fn samples_in(r: &WriteRequest) -> u64 {
    r.timeseries.iter().map(|s| s.samples.len() as u64).sum()
}

/// Drops samples older than `max_age` (counted); true when something is left.
fn drop_too_old(r: &mut WriteRequest, max_age: Option<Duration>, stats: &SinkStats) -> bool {
    if let Some(max_age) = max_age {
        let oldest =
            now_ms().saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
        let before = samples_in(r);
        for s in &mut r.timeseries {
            s.samples.retain(|x| x.timestamp >= oldest);
        }
        r.timeseries.retain(|s| !s.samples.is_empty());
        stats.dropped(DropReason::TooOld, before - samples_in(r));
    }
    !r.timeseries.is_empty()
}

/// The round in flight: its progress, saved after every request done.
struct Round {
    progress: std::sync::Mutex<super::queue::Progress>,
}

/// Sends one shard's requests in order, retrying each until it is delivered, refused or
/// too old; the first `skip` were done before a restart. False when stopped meanwhile.
async fn send_shard(
    t: &TargetQueue,
    shard: usize,
    requests: Vec<WriteRequest>,
    skip: u32,
    round: &Round,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    for mut request in requests.into_iter().skip(skip as usize) {
        if *stop.borrow() {
            return false;
        }
        let mut attempt = 0u32;
        loop {
            if !drop_too_old(&mut request, t.settings.max_sample_age, &t.stats) {
                break;
            }
            let samples = samples_in(&request);
            let outcome = tokio::select! {
                o = t.sender.post(super::wire::body(&request)) => o,
                // A request cut off by the stop is sent again at the next start.
                _ = stop.wait_for(|s| *s) => return false,
            };
            match send::classify(&outcome) {
                Decision::Done => {
                    t.stats.sent(samples, now_ms());
                    break;
                }
                Decision::Drop => {
                    if let Outcome::Status { code, body, .. } = &outcome {
                        tracing::warn!(target_name = %t.settings.name, status = code, samples, answer = %body.trim(), "remote_write: the receiver refused a request for good; dropped, not retried");
                        t.stats.refused(*code);
                    }
                    t.stats.dropped(DropReason::Refused, samples);
                    break;
                }
                Decision::Retry => {
                    t.stats.retried();
                    let retry_after = match &outcome {
                        Outcome::Status { retry_after, .. } => *retry_after,
                        Outcome::Network(_) => None,
                    };
                    if attempt == 0 || attempt.is_power_of_two() {
                        let what = match &outcome {
                            Outcome::Status { code, body, .. } => {
                                format!("HTTP {code}: {}", body.trim())
                            }
                            Outcome::Network(e) => e.clone(),
                        };
                        tracing::warn!(target_name = %t.settings.name, attempt, error = %what, "remote_write: request failed; retrying");
                    }
                    let wait = send::backoff(
                        attempt,
                        retry_after,
                        t.settings.min_backoff,
                        t.settings.max_backoff,
                        send::jitter(),
                    );
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.wait_for(|s| *s) => return false,
                    }
                }
            }
        }
        // Done (delivered, refused or too old): on record before the next, so that a
        // restart does not send it again.
        let mut progress = round.progress.lock().unwrap_or_else(|e| e.into_inner());
        progress.delivered[shard] += 1;
        if let Err(e) = t.queue.save_progress(&progress) {
            tracing::warn!(target_name = %t.settings.name, error = %e, "remote_write: cannot save the round's progress; a restart may send part of it again");
        }
    }
    true
}

/// How a round is split into requests: another shard count, request size or set of extra
/// labels splits the same records otherwise, so a saved progress only holds for the same.
fn layout(settings: &Target) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    (
        settings.shards,
        settings.max_samples_per_send,
        &settings.extra_labels,
    )
        .hash(&mut h);
    h.finish() >> 1
}

async fn send_loop(t: Arc<TargetQueue>, mut stop: watch::Receiver<bool>) {
    let shards = t.settings.shards as usize;
    let max_samples = t.settings.max_samples_per_send as usize;
    let round = (shards * max_samples) as u64;
    let layout = layout(&t.settings);
    let mut from = t.queue.cursor();
    // A round a previous run stopped in: read it again to its end, skip what was done.
    let mut resume = t
        .queue
        .progress()
        .filter(|p| p.layout == layout && p.delivered.len() == shards);
    if let Some(p) = &resume {
        tracing::info!(target_name = %t.settings.name, done = ?p.delivered, "remote_write: resuming the round the last run stopped in");
    }
    loop {
        if *stop.borrow() {
            return;
        }
        let queue_target = t.clone();
        let (min, stop_at) = match &resume {
            Some(p) => (u64::MAX, Some(p.end)),
            None => (round, None),
        };
        let read =
            tokio::task::spawn_blocking(move || queue_target.queue.read(from, min, stop_at)).await;
        let batch = match read {
            Ok(Ok(batch)) => batch,
            Ok(Err(e)) => {
                tracing::error!(target_name = %t.settings.name, error = %e, "remote_write: cannot read the queue; trying again in 5 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                continue;
            }
            Err(_) => return,
        };
        let skip = match resume.take() {
            Some(p) if p.end == batch.next => p.delivered,
            _ => vec![0; shards],
        };
        if batch.corrupt > 0 {
            tracing::error!(target_name = %t.settings.name, places = batch.corrupt, "remote_write queue: damaged records skipped");
        }
        t.stats
            .set_oldest(batch.records.first().map_or(0, |r| r.enqueued_ms));
        let full = batch
            .records
            .iter()
            .map(|r| u64::from(r.samples))
            .sum::<u64>()
            >= round;
        if !batch.records.is_empty() {
            let mut series = decode(&batch, &t.stats);
            for s in &mut series {
                with_extra_labels(s, &t.settings.extra_labels);
            }
            let requests = shard_requests(series, shards, max_samples);
            let progress = Round {
                progress: std::sync::Mutex::new(super::queue::Progress {
                    start: from,
                    end: batch.next,
                    layout,
                    delivered: skip.clone(),
                }),
            };
            let results = futures_join(&t, requests, &skip, Arc::new(progress), &stop).await;
            if !results {
                // Stopped mid-round: the cursor stays, the round goes again next start.
                return;
            }
        }
        if batch.next != from {
            let queue_target = t.clone();
            let next = batch.next;
            match tokio::task::spawn_blocking(move || queue_target.queue.ack(next)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(target_name = %t.settings.name, error = %e, "remote_write: cannot save the queue cursor; a restart sends this round again")
                }
                Err(_) => return,
            }
            from = t.queue.cursor().max(next);
            let (s, b, _) = t.queue.stats();
            t.stats.set_queue(s, b);
        }
        if !full {
            // Let a round fill, or wait for new records.
            let wait = if batch.records.is_empty() {
                Duration::from_secs(3600)
            } else {
                BATCH_WAIT
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = t.wake.notified(), if batch.records.is_empty() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

/// Runs every shard of a round at once; true when all finished (not stopped).
async fn futures_join(
    t: &Arc<TargetQueue>,
    requests: Vec<Vec<WriteRequest>>,
    skip: &[u32],
    round: Arc<Round>,
    stop: &watch::Receiver<bool>,
) -> bool {
    let mut tasks = tokio::task::JoinSet::new();
    for (shard, requests) in requests.into_iter().enumerate() {
        let skip = skip.get(shard).copied().unwrap_or(0);
        if requests.len() <= skip as usize {
            continue;
        }
        let (t, round) = (t.clone(), round.clone());
        let mut stop = stop.clone();
        tasks.spawn(async move { send_shard(&t, shard, requests, skip, &round, &mut stop).await });
    }
    let mut all = true;
    while let Some(done) = tasks.join_next().await {
        all &= done.unwrap_or(false);
    }
    all
}

#[cfg(test)]
mod tests;
