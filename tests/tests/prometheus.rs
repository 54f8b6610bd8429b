//! Debian's real Prometheus scrapes the real collector: the exposition is valid for the
//! consumer that matters, and what Prometheus stores is what the collector says.

use std::time::Duration;

use zerofault_tests::prometheus::{
    PROMETHEUS_BIN, PROMTOOL_BIN, Prometheus, promtool_check_metrics, require_tool,
};
use zerofault_tests::{Collector, TestCa, scrape, wait_until};

/// Prometheus must have scraped at least once within this time (scrape interval 1 s).
const SCRAPED_TIMEOUT: Duration = Duration::from_secs(60);

const JOB: &str = "zerofault";

#[tokio::test]
async fn prometheus_scrapes_the_collector_and_sees_its_values() -> anyhow::Result<()> {
    // Fail early and clearly, before starting anything, on a machine without Prometheus.
    require_tool(PROMETHEUS_BIN);
    require_tool(PROMTOOL_BIN);

    let ca = TestCa::new(&["prom-a"])?;
    let collector = Collector::builder(&ca).spawn().await?;
    let _agent = collector
        .agent("prom-a")
        .department("d1")
        .datacenter("dc1")
        .interval("1s")
        .spawn()?;
    let m = collector
        .wait_hosts_up(&["prom-a"], Duration::from_secs(30))
        .await?;
    // Memory total does not change between scrapes, so Prometheus' sample and this one must
    // be equal, not merely close.
    let expected = m.get(
        "zerofault_department_memory_total_bytes",
        &[("department", "d1")],
    )?;

    let prometheus = Prometheus::spawn(JOB, collector.http_addr()).await?;
    let query = r#"zerofault_department_memory_total_bytes{department="d1"}"#;
    let series = wait_until(
        &format!("Prometheus to return {query}"),
        SCRAPED_TIMEOUT,
        Duration::from_millis(500),
        || async {
            match prometheus.query(query).await {
                Ok(s) if !s.is_empty() => Ok(s),
                Ok(_) => Err(format!(
                    "no series yet; targets: {}",
                    prometheus.targets().await
                )),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await?;
    assert_eq!(series.len(), 1, "{series:?}");
    assert_eq!(series[0].1, expected, "Prometheus vs collector /metrics");
    assert_eq!(series[0].0.get("job").map(String::as_str), Some(JOB));

    let up = prometheus.query(&format!(r#"up{{job="{JOB}"}}"#)).await?;
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(
        up[0].1,
        1.0,
        "scrape target health: {}",
        prometheus.targets().await
    );

    // The per-host labels are usable in PromQL: summing hosts by department in Prometheus
    // gives the collector's own aggregate.
    let by_dept = prometheus
        .query(r#"sum by (department) (zerofault_host_memory_total_bytes{department="d1"})"#)
        .await?;
    assert_eq!(by_dept.len(), 1, "{by_dept:?}");
    assert_eq!(by_dept[0].1, expected);

    // promtool's linter on a live exposition: names, types, HELP, suffixes.
    let text = scrape(&collector).await?;
    let (ok, out) = promtool_check_metrics(&text)?;
    assert!(
        ok,
        "promtool check metrics failed:\n{out}\n--- exposition ---\n{text}"
    );
    Ok(())
}
