//! `zerofault-collector demo` (issue 11, item 7): the collector and the agents it starts end
//! with it however it ends. Each case runs the real demo on free ports in a temporary
//! directory, waits until every agent's first report has arrived, ends the demo with one
//! signal, and then checks within a bounded time that no child (by pid) is left and that
//! both ports can be bound again.
//!
//! SIGHUP is what closing the terminal or the SSH session sends; SIGKILL leaves the demo no
//! chance to do anything, so only the kernel closing the demo's end of the children's stdin
//! can stop them; SIGTERM is the orderly path the demo handles itself.
//!
//! One case looks at the demo's world: the banner names the cockpit, the written configs
//! pass both binaries' `validate`, `/api/v1/links` lists the demo's links with the simulated
//! cut down, and the cut becomes a fault.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use zerofault_tests::{
    AGENT_BIN, COLLECTOR_BIN, ChildGuard, bin_path, free_addr, http_client, wait_until,
};

/// Time for the demo to make its certificates, start its children and see every agent's
/// first report (1 s agent interval); a healthy run takes a few seconds.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for the children to stop after the demo ended: a clean shutdown takes well under a
/// second; the demo's own bound on a child's stop is 10 s.
const GONE_TIMEOUT: Duration = Duration::from_secs(20);

/// A process as found in `/proc/PID/stat`: its start time (clock ticks since boot) tells it
/// apart from a later process that reuses the pid.
#[derive(Debug, Clone, PartialEq)]
struct ProcInfo {
    pid: u32,
    comm: String,
    state: char,
    ppid: u32,
    start_ticks: u64,
}

/// Parses `/proc/PID/stat`: `pid (comm) state ppid ... starttime(22nd field) ...`. The
/// command name may hold spaces and parentheses, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<ProcInfo> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let comm = text[open + 1..close].to_owned();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    Some(ProcInfo {
        pid,
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        // Field 22 of stat; `rest` starts at field 3.
        start_ticks: rest.get(19)?.parse().ok()?,
    })
}

fn proc_info(pid: u32) -> Option<ProcInfo> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The children of `parent`, from every `/proc/PID/stat`.
fn children_of(parent: u32) -> Vec<ProcInfo> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        if let Some(info) = proc_info(pid).filter(|p| p.ppid == parent) {
            found.push(info);
        }
    }
    found.sort_by(|a, b| a.comm.cmp(&b.comm));
    found
}

/// Whether the process is still running: it exists with the same start time and is not a
/// zombie (a zombie has exited and holds no socket; it waits for whoever adopted it to
/// reap it).
fn still_running(p: &ProcInfo) -> bool {
    proc_info(p.pid).is_some_and(|now| now.start_ticks == p.start_ticks && now.state != 'Z')
}

/// The demo's children, killed when dropped if they still run: a failing case must not
/// leave processes holding ports behind it.
struct Orphans(Vec<ProcInfo>);

impl Drop for Orphans {
    fn drop(&mut self) {
        for p in self.0.iter().filter(|p| still_running(p)) {
            let _ = Command::new("kill")
                .args(["-s", "KILL", &p.pid.to_string()])
                .status();
        }
    }
}

fn bindable(addr: SocketAddr) -> Result<(), String> {
    TcpListener::bind(addr)
        .map(drop)
        .map_err(|e| format!("{addr}: {e}"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The demo's agents (`collector/src/cmd/demo/world.rs`).
const AGENTS: [&str; 4] = [
    "zj-dsj-portal-01",
    "zj-gat-police-01",
    "zj-wjw-health-01",
    "zj-wjw-clinic-01",
];
/// The links the agents probe, and the one the demo cuts.
const LINKS: [&str; 5] = [
    "adm-dq-qy",
    "adm-hz-dq",
    "adm-zj-hz",
    "adm-zj-jx",
    "pub-zj-hz",
];
const CUT_LINK: &str = "adm-dq-qy";

/// A demo that is running: every agent has reported.
struct RunningDemo {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    ingest: SocketAddr,
    http: SocketAddr,
    log: PathBuf,
    demo: ChildGuard,
    children: Orphans,
}

/// Starts the demo and waits for every agent's first report; checks that its children are
/// the collector and one process per agent, and that it holds both ports.
async fn start_demo() -> RunningDemo {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let (ingest, http) = (free_addr(), free_addr());
    let mut cmd = Command::new(bin_path(COLLECTOR_BIN));
    cmd.arg("demo")
        .arg("--dir")
        .arg(&dir)
        .args(["--ingest-listen", &ingest.to_string()])
        .args(["--http-listen", &http.to_string()])
        .args(["--interval", "1s"]);
    let log = tmp.path().join("demo.log");
    let mut demo = ChildGuard::spawn("demo", cmd, &log).unwrap();

    wait_until(
        "the first report of every demo agent",
        READY_TIMEOUT,
        Duration::from_millis(200),
        || {
            let out = read(&log);
            let status = demo.exited();
            async move {
                if let Some(status) = status {
                    panic!("the demo exited ({status}):\n{out}");
                }
                if out.contains("has received a first report from each of the 4 agents") {
                    Ok(())
                } else {
                    Err(format!("demo output so far: {out:?}"))
                }
            }
        },
    )
    .await
    .unwrap();

    let children = children_of(demo.id());
    let names: Vec<&str> = children.iter().map(|c| c.comm.as_str()).collect();
    // /proc truncates command names to 15 bytes: "zerofault-colle".
    assert_eq!(
        names,
        [
            "zerofault-agent",
            "zerofault-agent",
            "zerofault-agent",
            "zerofault-agent",
            "zerofault-colle"
        ],
        "children of the demo: {children:?}"
    );
    let children = Orphans(children);
    assert!(bindable(ingest).is_err() && bindable(http).is_err());
    RunningDemo {
        _tmp: tmp,
        dir,
        ingest,
        http,
        log,
        demo,
        children,
    }
}

/// Ends the demo with `signal` (a `kill -s` name), and checks that its children and its
/// ports are gone. Returns how the demo exited.
async fn end_demo(running: RunningDemo, signal: &str) -> ExitStatus {
    let RunningDemo {
        dir,
        ingest,
        http,
        mut demo,
        children,
        ..
    } = running;
    if signal == "KILL" {
        demo.kill();
    } else {
        let sent = Command::new("kill")
            .args(["-s", signal, &demo.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -s {signal}");
    }
    let status = wait_until(
        "the demo to exit",
        GONE_TIMEOUT,
        Duration::from_millis(50),
        || {
            let status = demo.exited();
            async move { status.ok_or_else(|| "still running".to_owned()) }
        },
    )
    .await
    .unwrap();

    wait_until(
        "the collector and the agents to end and the ports to be free",
        GONE_TIMEOUT,
        Duration::from_millis(100),
        || {
            let left: Vec<&ProcInfo> = children.0.iter().filter(|c| still_running(c)).collect();
            let ports = bindable(ingest).and_then(|()| bindable(http));
            let result = match (left.is_empty(), ports) {
                (true, Ok(())) => Ok(()),
                (_, ports) => Err(format!("still running: {left:?}; ports: {ports:?}")),
            };
            async move { result }
        },
    )
    .await
    .unwrap();

    // Every child stopped cleanly (not killed by the demo's fallback): the collector
    // recorded a clean stop and each agent flushed its state.
    let collector_log = read(&dir.join("collector.log"));
    assert!(
        collector_log.contains("shutting down"),
        "collector log:\n{collector_log}"
    );
    if signal != "TERM" {
        // Nobody told them to stop: they saw the end of their stdin.
        assert!(
            collector_log.contains("stdin closed"),
            "collector log:\n{collector_log}"
        );
    }
    for id in AGENTS {
        let agent_log = read(&dir.join(format!("agent-{id}.log")));
        assert!(
            agent_log.contains("zerofault agent stopped"),
            "agent {id} log:\n{agent_log}"
        );
        if signal != "TERM" {
            assert!(
                agent_log.contains("stdin closed"),
                "agent {id} log:\n{agent_log}"
            );
        }
    }
    status
}

async fn demo_ended_by(signal: &str) -> ExitStatus {
    end_demo(start_demo().await, signal).await
}

/// The JSON of `GET http://{http}{path}`.
async fn get_json(http: SocketAddr, path: &str) -> Result<serde_json::Value, String> {
    let response = http_client()
        .get(format!("http://{http}{path}"))
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {path}: {}", response.status()));
    }
    let body = response
        .text()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    serde_json::from_str(&body).map_err(|e| format!("GET {path}: {e}: {body}"))
}

#[tokio::test]
async fn demo_killed_by_sighup_leaves_no_process_and_no_port() {
    assert_eq!(demo_ended_by("HUP").await.signal(), Some(1));
}

#[tokio::test]
async fn demo_killed_by_sigkill_leaves_no_process_and_no_port() {
    assert_eq!(demo_ended_by("KILL").await.signal(), Some(9));
}

#[tokio::test]
async fn demo_stopped_by_sigterm_stops_every_child() {
    // The demo handles SIGTERM itself and exits 0 after stopping its children.
    assert_eq!(demo_ended_by("TERM").await.code(), Some(0));
}

#[tokio::test]
async fn demo_world_has_links_a_simulated_cut_and_its_fault() {
    let running = start_demo().await;
    let (dir, http) = (running.dir.clone(), running.http);
    let banner = read(&running.log);
    let cockpit = format!("Cockpit:   http://{http}/");
    assert!(banner.contains(&cockpit), "{cockpit} in\n{banner}");
    // The cockpit's URL comes before everything else the banner lists.
    assert!(banner.find(&cockpit) < banner.find("metrics:"), "{banner}");

    // The written files are what the binaries' own `validate` accepts.
    let collector_config = dir.join("collector.yaml");
    let inventory = read(&dir.join("inventory.yaml"));
    assert!(inventory.contains("浙江省大数据发展管理局"), "{inventory}");
    let mut configs = vec![(COLLECTOR_BIN, collector_config)];
    configs.extend(AGENTS.map(|id| (AGENT_BIN, dir.join(format!("agent-{id}.yaml")))));
    for (bin, config) in configs {
        let out = Command::new(bin_path(bin))
            .arg("validate")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{bin} validate --config {}: {}{}",
            config.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Every probed link is listed; the cut is down from its one vantage point, the others
    // are not.
    wait_until(
        "the demo's links, with the cut down",
        Duration::from_secs(30),
        Duration::from_millis(500),
        || async move {
            let v = get_json(http, "/api/v1/links").await?;
            let links = v["links"].as_array().ok_or("no links array")?;
            let mut ids: Vec<&str> = links.iter().filter_map(|l| l["link"].as_str()).collect();
            ids.sort_unstable();
            if ids != LINKS {
                return Err(format!("links so far: {ids:?}"));
            }
            for l in links {
                let (id, state) = (l["link"].as_str().unwrap(), &l["state"]);
                if (id == CUT_LINK) != (state == "down") {
                    return Err(format!("{id} is {state}: {v}"));
                }
            }
            let cut = links.iter().find(|l| l["link"] == CUT_LINK).unwrap();
            assert_eq!(cut["level"], "county-township", "{cut}");
            assert_eq!(cut["domain"], "administrative", "{cut}");
            assert_eq!(cut["vantages"][0]["agent"], "zj-wjw-health-01", "{cut}");
            Ok(())
        },
    )
    .await
    .unwrap();

    // Down for the inventory's and the collector's fault_min (30 s), the cut is a fault.
    wait_until(
        "a fault of the cut link",
        Duration::from_secs(60),
        Duration::from_secs(1),
        || async move {
            let v = get_json(http, &format!("/api/v1/faults?link={CUT_LINK}")).await?;
            match v["faults"].as_array() {
                Some(faults) if !faults.is_empty() => Ok(()),
                _ => Err(format!("faults so far: {v}")),
            }
        },
    )
    .await
    .unwrap();
    let log = running.log.clone();
    wait_until(
        "the demo to announce the cut and its fault",
        Duration::from_secs(10),
        Duration::from_millis(200),
        || {
            let out = read(&log);
            async move {
                if out.contains(&format!("A fault of link {CUT_LINK} is recorded")) {
                    Ok(())
                } else {
                    Err(out)
                }
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(end_demo(running, "TERM").await.code(), Some(0));
}

#[test]
fn stat_lines_are_parsed_after_the_last_parenthesis() {
    let line = "4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 3 0 987654 1000 10 \
                18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
    assert_eq!(
        parse_stat(line),
        Some(ProcInfo {
            pid: 4242,
            comm: "a (b) c".into(),
            state: 'S',
            ppid: 17,
            start_ticks: 987654,
        })
    );
    assert_eq!(parse_stat("garbage"), None);
}
