//! Debian's real Prometheus server and promtool, run against a test collector.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{ChildGuard, free_addr, http_client, percent_encode};

/// Where Debian's `prometheus` package installs the server.
pub const PROMETHEUS_BIN: &str = "/usr/bin/prometheus";
/// Where Debian's `prometheus` package installs promtool.
pub const PROMTOOL_BIN: &str = "/usr/bin/promtool";

/// How long Prometheus may take to become ready (it opens an empty TSDB and replays no WAL).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `path` if it exists.
///
/// # Panics
///
/// When it does not: these tests are part of the suite and must fail, not skip, on a machine
/// without Prometheus; the message says how to get it.
pub fn require_tool(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    assert!(
        p.is_file(),
        "{path} is missing: run the test command `./scripts/test` (as root it installs Debian's \
         `prometheus` package with apt-get), or `sudo apt-get install prometheus`"
    );
    p
}

/// prometheus.yml scraping `target`'s `/metrics` every `interval` as job `job`.
pub fn scrape_config_yaml(job: &str, target: SocketAddr, interval: &str) -> String {
    format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  \
         evaluation_interval: {interval}\nscrape_configs:\n  - job_name: {job}\n    \
         metrics_path: /metrics\n    static_configs:\n      - targets: ['{target}']\n"
    )
}

/// One series of an instant-vector query result.
pub type QuerySeries = (BTreeMap<String, String>, f64);

/// The series of a `/api/v1/query` answer (`resultType` `vector`), or an error quoting
/// Prometheus' own error.
pub fn parse_query_response(body: &str) -> anyhow::Result<Vec<QuerySeries>> {
    let v: serde_json::Value = serde_json::from_str(body)?;
    anyhow::ensure!(
        v["status"] == "success",
        "query failed: {} {}",
        v["errorType"],
        v["error"]
    );
    anyhow::ensure!(
        v["data"]["resultType"] == "vector",
        "expected a vector result, got {}",
        v["data"]["resultType"]
    );
    let mut out = Vec::new();
    for series in v["data"]["result"].as_array().into_iter().flatten() {
        let labels = series["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        // Values are `[unix_time, "string"]`: strings keep float precision.
        let value = series["value"][1]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("series without a value: {series}"))?;
        let value = match value {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse()?,
        };
        out.push((labels, value));
    }
    Ok(out)
}

/// A running Prometheus server; killed, and its TSDB removed, on drop.
#[derive(Debug)]
pub struct Prometheus {
    // Declared first so that it is dropped (killed) before its directory is removed.
    child: ChildGuard,
    addr: SocketAddr,
    dir: TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `target` every second as job `job`, and waits until it is
    /// ready. A start that lost its port to another test is retried with a new port.
    pub async fn spawn(job: &str, target: SocketAddr) -> anyhow::Result<Self> {
        Self::spawn_with(&scrape_config_yaml(job, target, "1s"), &[]).await
    }

    /// Starts Prometheus with its remote-write receiver on (`/api/v1/write`), scraping
    /// nothing, with `config` as its prometheus.yml (e.g. an out-of-order window).
    pub async fn spawn_receiver(config: &str) -> anyhow::Result<Self> {
        Self::spawn_with(config, &["--web.enable-remote-write-receiver"]).await
    }

    /// Starts Prometheus with `config` as prometheus.yml and `args` added.
    pub async fn spawn_with(config_yaml: &str, args: &[&str]) -> anyhow::Result<Self> {
        let bin = require_tool(PROMETHEUS_BIN);
        let mut last = String::new();
        for _attempt in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("zf-prometheus-")
                .tempdir()?;
            let config = dir.path().join("prometheus.yml");
            let addr = free_addr();
            // `PORT` in the config is its own port (a job scraping Prometheus itself).
            std::fs::write(
                &config,
                config_yaml.replace("PORT", &addr.port().to_string()),
            )?;
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .args(args)
                .current_dir(dir.path());
            let child = ChildGuard::spawn("prometheus", cmd, &dir.path().join("prometheus.log"))?;
            let mut p = Self { child, addr, dir };
            match p.wait_ready().await? {
                Ready::Yes => return Ok(p),
                Ready::PortTaken(out) => last = out,
            }
        }
        anyhow::bail!("prometheus could not bind a free port 3 times:\n{last}")
    }

    async fn wait_ready(&mut self) -> anyhow::Result<Ready> {
        let client = http_client();
        let url = format!("{}/-/ready", self.url());
        let start = Instant::now();
        let mut last = String::from("not asked yet");
        // Bounded: READY_TIMEOUT / 100 ms polls at most.
        while start.elapsed() < READY_TIMEOUT {
            if let Some(status) = self.child.exited() {
                let out = self.child.output();
                if out.contains("address already in use") {
                    return Ok(Ready::PortTaken(out));
                }
                anyhow::bail!("prometheus exited with {status}; output:\n{out}");
            }
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => return Ok(Ready::Yes),
                Ok(r) => last = format!("HTTP {}", r.status()),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!(
            "prometheus not ready after {READY_TIMEOUT:?} (last: {last}); output:\n{}",
            self.child.output()
        )
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its temporary directory (config and TSDB).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything it has logged so far.
    pub fn output(&self) -> String {
        self.child.output()
    }

    /// Runs an instant query through the HTTP API.
    pub async fn query(&self, promql: &str) -> anyhow::Result<Vec<QuerySeries>> {
        let url = format!(
            "{}/api/v1/query?query={}",
            self.url(),
            percent_encode(promql)
        );
        let body = http_client().get(&url).send().await?.text().await?;
        parse_query_response(&body)
    }

    /// The state of every scrape target, as `/api/v1/targets` reports it
    /// (`health` and `lastError`), for failure messages.
    pub async fn targets(&self) -> String {
        let url = format!("{}/api/v1/targets", self.url());
        match http_client().get(&url).send().await {
            Ok(r) => r.text().await.unwrap_or_else(|e| e.to_string()),
            Err(e) => e.to_string(),
        }
    }
}

enum Ready {
    Yes,
    PortTaken(String),
}

/// Runs `promtool check metrics` with `exposition` on stdin; returns whether it passed and
/// what it printed.
pub fn promtool_check_metrics(exposition: &str) -> anyhow::Result<(bool, String)> {
    let mut child = Command::new(require_tool(PROMTOOL_BIN))
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        // Dropping stdin closes it, which ends promtool's input.
        let mut stdin = child.stdin.take().expect("stdin was piped");
        stdin.write_all(exposition.as_bytes())?;
    }
    // promtool reads stdin to its end and exits; it does not wait on anything else.
    let out = child.wait_with_output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_config_targets_the_collector() {
        let y = scrape_config_yaml("zf", "127.0.0.1:9464".parse().unwrap(), "1s");
        assert!(y.contains("scrape_interval: 1s"));
        assert!(y.contains("- job_name: zf"));
        assert!(y.contains("targets: ['127.0.0.1:9464']"));
    }

    #[test]
    fn parses_a_vector_answer() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"zf"},"value":[1700000000.1,"1"]},
            {"metric":{"department":"d1"},"value":[1700000000.1,"17179869184"]}]}}"#;
        let r = parse_query_response(body).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].0["job"], "zf");
        assert_eq!(r[0].1, 1.0);
        assert_eq!(r[1].1, 17_179_869_184.0);
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse_query_response(empty).unwrap().is_empty());
    }

    #[test]
    fn a_query_error_is_an_error_with_the_reason() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        let err = parse_query_response(body).unwrap_err().to_string();
        assert!(err.contains("parse error"), "{err}");
    }

    #[test]
    fn promtool_accepts_good_and_refuses_bad_metrics() {
        assert!(
            Path::new(PROMTOOL_BIN).is_file(),
            "{PROMTOOL_BIN} is missing: run ./scripts/test, which installs Debian's prometheus"
        );
        let good = "# HELP x_total Things.\n# TYPE x_total counter\nx_total 1\n";
        let (ok, out) = promtool_check_metrics(good).unwrap();
        assert!(ok, "{out}");
        // A counter without the _total suffix is a lint problem promtool reports.
        let bad = "# HELP x Things.\n# TYPE x counter\nx 1\n";
        let (ok, _) = promtool_check_metrics(bad).unwrap();
        assert!(!ok);
    }
}
