//! Receivers of the collector's remote write: Debian's real VictoriaMetrics, and a stub that
//! answers what a test tells it to (a 400 for one series, 503 for a while) and records what
//! it took.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use tempfile::TempDir;
use zerofault_protocol::remote_write::WriteRequest;

use crate::{ChildGuard, free_addr, http_client, percent_encode};

/// Where Debian's `victoria-metrics` package installs the single-node server.
pub const VICTORIA_METRICS_BIN: &str = "/usr/bin/victoria-metrics";

/// Most bytes a pushed body may expand to in these receivers.
const MAX_DECODED: usize = 64 << 20;

/// A series by its labels (`__name__` included).
pub type SeriesKey = BTreeMap<String, String>;

/// Decodes a remote-write 1.0 body (snappy block, protobuf), bounded before decompressing.
pub fn decode_body(body: &[u8]) -> anyhow::Result<WriteRequest> {
    let len = snap::raw::decompress_len(body)?;
    anyhow::ensure!(len <= MAX_DECODED, "body expands to {len} bytes");
    let bytes = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(prost::Message::decode(bytes.as_slice())?)
}

/// A running VictoriaMetrics single node on a fixed port and data directory, so that it can
/// be stopped and started again with its data.
#[derive(Debug)]
pub struct VictoriaMetrics {
    child: Option<ChildGuard>,
    addr: SocketAddr,
    dir: TempDir,
}

impl VictoriaMetrics {
    /// Starts it (with `-search.disableCache`, so every query reads what is stored) and
    /// waits until it answers.
    pub async fn spawn() -> anyhow::Result<Self> {
        let bin = PathBuf::from(VICTORIA_METRICS_BIN);
        assert!(
            bin.is_file(),
            "{VICTORIA_METRICS_BIN} is missing: run the test command `./scripts/test` (as root it \
             installs Debian's `victoria-metrics` package with apt-get), or `sudo apt-get install victoria-metrics`"
        );
        let dir = tempfile::Builder::new().prefix("zf-vm-").tempdir()?;
        let mut vm = Self {
            child: None,
            addr: free_addr(),
            dir,
        };
        vm.start().await?;
        Ok(vm)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its remote-write URL.
    pub fn write_url(&self) -> String {
        format!("{}/api/v1/write", self.url())
    }

    /// (Re)starts the server on the same port and data.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let mut cmd = Command::new(VICTORIA_METRICS_BIN);
        cmd.arg(format!(
            "-storageDataPath={}",
            self.dir.path().join("data").display()
        ))
        .arg(format!("-httpListenAddr={}", self.addr))
        .arg("-search.disableCache")
        .arg("-retentionPeriod=1y")
        .arg("-loggerLevel=WARN");
        let log = self.dir.path().join(format!("vm-{}.log", now_nanos()));
        self.child = Some(ChildGuard::spawn("victoria-metrics", cmd, &log)?);
        let client = http_client();
        let start = Instant::now();
        // Bounded: 60 s of 100 ms polls.
        while start.elapsed() < Duration::from_secs(60) {
            if let Ok(r) = client.get(format!("{}/health", self.url())).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(ChildGuard::exited) {
                anyhow::bail!("victoria-metrics exited with {status}: {}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("victoria-metrics not healthy after 60 s: {}", self.output())
    }

    /// Stops it with SIGTERM (it flushes what it holds), as an operator would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.terminate(Duration::from_secs(30));
        }
    }

    /// What it logged in its current run.
    pub fn output(&self) -> String {
        self.child
            .as_ref()
            .map_or_else(String::new, ChildGuard::output)
    }

    /// Every sample of the series matching `selector`, from `/api/v1/export` (raw samples,
    /// no deduplication or interpolation): series labels to `(timestamp ms, value)` in time
    /// order.
    pub async fn export(
        &self,
        selector: &str,
    ) -> anyhow::Result<BTreeMap<SeriesKey, Vec<(i64, f64)>>> {
        let url = format!(
            "{}/api/v1/export?match[]={}&start=0",
            self.url(),
            percent_encode(selector)
        );
        let body = http_client().get(&url).send().await?.text().await?;
        let mut out: BTreeMap<SeriesKey, Vec<(i64, f64)>> = BTreeMap::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("export line {line:?}: {e}"))?;
            let labels: SeriesKey = v["metric"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let values = v["values"].as_array().cloned().unwrap_or_default();
            let times = v["timestamps"].as_array().cloned().unwrap_or_default();
            let samples = out.entry(labels).or_default();
            for (t, x) in times.iter().zip(values.iter()) {
                samples.push((
                    t.as_i64().unwrap_or_default(),
                    x.as_f64().unwrap_or(f64::NAN),
                ));
            }
            samples.sort_by_key(|s| s.0);
        }
        Ok(out)
    }

    /// Its data directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// How the stub answers.
#[derive(Debug, Default, Clone)]
pub struct StubRules {
    /// A request holding a series with this label (name, value) gets 400.
    pub refuse_label: Option<(String, String)>,
    /// Until then every request gets 503 with `Retry-After: 1`.
    pub unavailable_until: Option<Instant>,
    /// A request holding a series with all these labels (name, value) gets 503 (a shard
    /// stuck while the others go through).
    pub unavailable_series: Option<Vec<(String, String)>>,
}

/// What the stub saw.
#[derive(Debug, Default)]
pub struct StubLog {
    /// Accepted samples by series.
    pub accepted: BTreeMap<SeriesKey, Vec<(i64, f64)>>,
    /// Answers given, by status.
    pub answers: BTreeMap<u16, u64>,
    /// How many times each refused body (by its hash) came.
    pub refused_bodies: HashMap<u64, u64>,
    /// Samples in the refused requests (each counted once).
    pub refused_samples: u64,
    /// Requests whose headers were not the spec's.
    pub bad_headers: Vec<String>,
    /// Series whose labels were unsorted or samples out of order within a request.
    pub disorder: Vec<String>,
}

/// A stub remote-write receiver on loopback.
#[derive(Debug)]
pub struct StubReceiver {
    addr: SocketAddr,
    /// Its answers; change them while it runs.
    pub rules: Arc<Mutex<StubRules>>,
    /// What it saw.
    pub log: Arc<Mutex<StubLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StubReceiver {
    /// Starts it.
    pub async fn spawn(rules: StubRules) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let rules = Arc::new(Mutex::new(rules));
        let log = Arc::new(Mutex::new(StubLog::default()));
        let (r, l) = (rules.clone(), log.clone());
        let task = tokio::spawn(async move {
            // Bounded by the test: the task is aborted when the stub is dropped.
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, l) = (r.clone(), l.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (r, l) = (r.clone(), l.clone());
                        async move { Ok::<_, std::convert::Infallible>(answer(req, &r, &l).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            rules,
            log,
            task,
        })
    }

    /// Its remote-write URL.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    rules: &Mutex<StubRules>,
    log: &Mutex<StubLog>,
) -> hyper::Response<Full<Bytes>> {
    let reply = |code: u16, retry_after: bool| {
        let mut b = hyper::Response::builder().status(code);
        if retry_after {
            b = b.header("Retry-After", "1");
        }
        b.body(Full::new(Bytes::from_static(b"stub"))).unwrap()
    };
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let headers = (
        header("content-encoding"),
        header("content-type"),
        header("x-prometheus-remote-write-version"),
        header("user-agent"),
    );
    let body = match Limited::new(req.into_body(), 32 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return reply(413, false),
    };
    let rules = rules.lock().unwrap().clone();
    let mut log = log.lock().unwrap();
    let count = |log: &mut StubLog, code: u16| *log.answers.entry(code).or_default() += 1;
    if headers.0 != "snappy"
        || headers.1 != "application/x-protobuf"
        || headers.2 != "0.1.0"
        || !headers.3.starts_with("zerofault-collector/")
    {
        log.bad_headers.push(format!("{headers:?}"));
    }
    if rules.unavailable_until.is_some_and(|t| Instant::now() < t) {
        count(&mut log, 503);
        return reply(503, true);
    }
    let Ok(request) = decode_body(&body) else {
        count(&mut log, 400);
        return reply(400, false);
    };
    if let Some(pairs) = &rules.unavailable_series
        && request.timeseries.iter().any(|s| {
            pairs.iter().all(|(name, value)| {
                s.labels
                    .iter()
                    .any(|l| &l.name == name && &l.value == value)
            })
        })
    {
        count(&mut log, 503);
        return reply(503, true);
    }
    if let Some((name, value)) = &rules.refuse_label
        && request.timeseries.iter().any(|s| {
            s.labels
                .iter()
                .any(|l| &l.name == name && &l.value == value)
        })
    {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        body.hash(&mut h);
        let seen = log.refused_bodies.entry(h.finish()).or_default();
        *seen += 1;
        if *seen == 1 {
            log.refused_samples += request
                .timeseries
                .iter()
                .map(|s| s.samples.len() as u64)
                .sum::<u64>();
        }
        count(&mut log, 400);
        return reply(400, false);
    }
    for s in request.timeseries {
        let sorted = s.labels.windows(2).all(|w| w[0].name < w[1].name);
        let ordered = s
            .samples
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp);
        let key: SeriesKey = s.labels.into_iter().map(|l| (l.name, l.value)).collect();
        if !sorted || !ordered {
            log.disorder.push(format!("{key:?}"));
        }
        log.accepted
            .entry(key)
            .or_default()
            .extend(s.samples.iter().map(|x| (x.timestamp, x.value)));
    }
    count(&mut log, 204);
    reply(204, false)
}
