//! Headless Chromium for whole-system page tests (the collector's HTML cockpit), driven by
//! Debian's chromedriver over the W3C WebDriver HTTP protocol.
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use zerofault_tests::browser::{Browser, artifacts_dir};
//! if let Some(why) = Browser::why_unavailable() {
//!     eprintln!("skipped: {why}");
//!     return Ok(());
//! }
//! let browser = Browser::launch().await?;
//! let visit = browser.visit("http://127.0.0.1:9464/cockpit?lang=en").await?;
//! assert!(visit.errors().is_empty(), "{:#?}", visit.errors());
//! assert!(visit.external_requests("http://127.0.0.1:9464").is_empty());
//! assert!(visit.fits(1920, 1080));
//! browser.screenshot(&artifacts_dir("cockpit").join("en.png")).await?;
//! # Ok(()) }
//! ```
//!
//! Why WebDriver and not the DevTools protocol directly: chromedriver is a Debian package
//! next to chromium, speaks plain HTTP+JSON (reqwest is already here; DevTools needs a
//! WebSocket client), and its `browser` and `performance` logs already collect the console
//! and the network events a page test asserts on.
//!
//! The browser cannot reach anything but loopback: every host name except `127.0.0.1` and
//! `localhost` resolves to "not found", so a page that pulls a font or a script from the
//! internet shows it as a failed request ([`Visit::external_requests`]) instead of quietly
//! depending on the network of the machine that runs the tests.

mod procs;
mod visit;
mod wire;

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::ca::http_client;
use crate::harness::{free_addr, wait_until};
use crate::process::ChildGuard;
use wire::{base64_decode, delete_session, request};

pub use procs::ProcessProbe;
pub use visit::{ConsoleEntry, RequestSeen, Visit};

/// Debian's `chromium` (a shell wrapper that execs /usr/lib/chromium/chromium).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`, the same version as `chromium` by packaging.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The viewport every page is seen in, in CSS pixels: the cockpit's target screen (a
/// 1080p wall display). Device scale factor 1, so a screenshot is this many pixels.
pub const VIEWPORT_WIDTH: u64 = 1920;
/// See [`VIEWPORT_WIDTH`].
pub const VIEWPORT_HEIGHT: u64 = 1080;

/// Environment variable naming where screenshots are kept ([`artifacts_dir`]).
pub const ARTIFACTS_ENV: &str = "ZEROFAULT_ARTIFACTS";

/// chromedriver answers `/status` within ~0.1 s on an idle machine; the margin is for a
/// 2-core machine busy compiling other tests.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// The port is free when picked but another process may take it before chromedriver binds
/// it; then chromedriver exits and a new port is tried.
const DRIVER_PORT_ATTEMPTS: usize = 3;
/// Starting Chromium (`POST /session`) takes ~1 s idle; ten times that under load is seen.
const SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// The session's page-load timeout: a loopback page loads in milliseconds, so 30 s means a
/// hung page, and the visit fails saying so.
const PAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// The session's script timeout, for [`Browser::eval`].
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP request to chromedriver outlives chromedriver's own timeout by this much, so
/// chromedriver's error (which says what timed out) arrives instead of a bare client timeout.
const HTTP_MARGIN: Duration = Duration::from_secs(10);
/// Other commands (logs, screenshots, window size) answer in well under a second.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// `POST /url` returns after the load event; `readyState` is normally `complete` at once.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// After the load, requests the load starts (the favicon ~0.1 s later, a first fetch of the
/// page's data) are given this long to begin before the network is judged idle.
const SETTLE: Duration = Duration::from_millis(300);
/// How long a visit waits for every request it saw to finish. A page with a stream that
/// never ends (SSE, long polling) reaches it: the visit then returns with that request
/// still open (no status yet) and says so on stderr, rather than failing.
const NETWORK_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Polling interval of every wait here (`/status`, `readyState`, the network, `wait_for`).
const POLL: Duration = Duration::from_millis(50);

/// Chromium's command line. Each flag is here for the test's sake:
const CHROMIUM_ARGS: &[&str] = &[
    // The new headless mode is the real browser without a window (the old one is a
    // separate implementation that renders differently).
    "--headless=new",
    // Tests run as root in containers, where Chromium's sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    // Not --disable-crashpad-for-testing, which would keep the crash handler from escaping
    // the process group: with it Chromium 148 silently never navigates to an http:// URL.
    // procs.rs finds and stops the handler instead.
    // Nothing of the browser's own traffic (QUIC probes, component and sync updates,
    // first-run pages, default apps) mixes into what the page under test requests.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    // The window is resized to an exact 1920x1080 viewport after start (Browser::launch).
    "--window-size=1920,1080",
    "--force-device-scale-factor=1",
    // performance.memory in exact bytes (otherwise bucketed and delayed), and window.gc()
    // for a stable reading.
    "--enable-precise-memory-info",
    "--js-flags=--expose-gc",
    // No request leaves the machine: every name but loopback's is "not found". Address
    // literals are mapped too (http://192.0.2.1/ fails as ERR_NAME_NOT_RESOLVED, checked
    // by tests/tests/browser.rs), so nothing waits on a connect timeout either.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
];

/// Why page tests cannot run on this machine, or `None` when they can. A test prints it and
/// skips: Chromium is a test-only package (scripts/test installs it).
pub fn why_unavailable() -> Option<String> {
    let missing: Vec<&str> = [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")]
        .into_iter()
        .filter(|(path, _)| !Path::new(path).is_file())
        .map(|(_, package)| package)
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "headless Chromium page tests need {CHROMIUM} and {CHROMEDRIVER}: \
             apt-get install {} (scripts/test does)",
            missing.join(" ")
        )
    })
}

/// Where a test keeps its screenshots, created if needed and printed so a human can look:
/// `$ZEROFAULT_ARTIFACTS/<test_name>/`, else `<target dir>/test-artifacts/<test_name>/`.
/// The target dir is `$CARGO_TARGET_DIR`, else the one the test executable was built in
/// (`<target>/<profile>/deps/<test>`), else `../target` (tests run in the package dir).
pub fn artifacts_dir(test_name: &str) -> PathBuf {
    let root = match std::env::var_os(ARTIFACTS_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    let exe = std::env::current_exe().ok()?;
                    let deps = exe.parent()?;
                    if deps.file_name()? != "deps" {
                        return None;
                    }
                    Some(deps.parent()?.parent()?.to_path_buf())
                })
                .unwrap_or_else(|| PathBuf::from("../target"));
            target.join("test-artifacts")
        }
    };
    let dir = root.join(test_name);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create artifacts dir {}: {e}", dir.display()));
    eprintln!("test artifacts of {test_name}: {}", dir.display());
    dir
}

/// A headless Chromium in a fresh profile, driven through its own chromedriver.
///
/// Dropping it deletes the session and stops chromedriver and every Chromium process it
/// started (see [`ProcessProbe`]).
#[derive(Debug)]
pub struct Browser {
    client: reqwest::Client,
    driver_addr: SocketAddr,
    /// `None` until the session exists (and if creating it failed): drop still cleans up.
    session: Option<String>,
    /// Chromium's browser process (`goog:processID`), for a test's own checks.
    browser_pid: Option<u32>,
    probe: ProcessProbe,
    // Dropped after `drop` has stopped every process: chromedriver's handle (reaps it and
    // prints its log on a panic), then the profile directory.
    driver: ChildGuard,
    dir: TempDir,
}

impl Browser {
    /// [`why_unavailable`], as an associated function for `Browser::why_unavailable()`.
    pub fn why_unavailable() -> Option<String> {
        why_unavailable()
    }

    /// Starts chromedriver on a free loopback port and a Chromium session with a
    /// [`VIEWPORT_WIDTH`] x [`VIEWPORT_HEIGHT`] viewport.
    pub async fn launch() -> anyhow::Result<Browser> {
        if let Some(why) = why_unavailable() {
            anyhow::bail!(why);
        }
        let dir = tempfile::Builder::new().prefix("zf-chromium-").tempdir()?;
        let client = http_client();
        let mut attempt = 0;
        let (driver, driver_addr) = loop {
            attempt += 1;
            let addr = free_addr();
            let mut driver = spawn_driver(addr, dir.path())?;
            if driver_ready(&client, &mut driver, addr).await? {
                break (driver, addr);
            }
            anyhow::ensure!(
                attempt < DRIVER_PORT_ATTEMPTS,
                "chromedriver exited at start {attempt} times; last output:\n{}",
                driver.output()
            );
        };
        let mut browser = Browser {
            client,
            driver_addr,
            session: None,
            browser_pid: None,
            probe: ProcessProbe::new(driver.id(), dir.path()),
            driver,
            dir,
        };
        browser.start_session().await?;
        browser.fit_viewport().await?;
        // Chromium starts on its new-tab page, which is still loading its own resources
        // when launch returns; leaving it for a blank page ends that before the first visit.
        browser
            .command(
                reqwest::Method::POST,
                "/url",
                Some(json!({"url": "about:blank"})),
                PAGE_LOAD_TIMEOUT + HTTP_MARGIN,
            )
            .await
            .context("leaving the new-tab page")?;
        Ok(browser)
    }

    async fn start_session(&mut self) -> anyhow::Result<()> {
        let profile = self.dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
            "timeouts": {
                "pageLoad": PAGE_LOAD_TIMEOUT.as_millis() as u64,
                "script": SCRIPT_TIMEOUT.as_millis() as u64,
            },
        }}});
        let url = format!("http://{}/session", self.driver_addr);
        let value = request(
            &self.client,
            reqwest::Method::POST,
            &url,
            Some(caps),
            SESSION_TIMEOUT,
        )
        .await
        .context("creating a Chromium session")?;
        let id = value["sessionId"]
            .as_str()
            .with_context(|| format!("no sessionId in {value}"))?;
        self.session = Some(id.to_string());
        self.browser_pid = value["capabilities"]["goog:processID"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok());
        Ok(())
    }

    /// Makes the viewport (`innerWidth` x `innerHeight`) exactly the target: headless
    /// Chromium's `--window-size` is the outer window, and the new headless mode keeps room
    /// for a toolbar (1080 outer gave 941 inner in Chromium 148), so the window is grown by
    /// the difference and then checked.
    async fn fit_viewport(&self) -> anyhow::Result<()> {
        let sizes = "return [innerWidth, innerHeight, outerWidth, outerHeight]";
        let read = |v: Value| -> anyhow::Result<[u64; 4]> {
            let n = |i: usize| v[i].as_u64().with_context(|| format!("window sizes {v}"));
            Ok([n(0)?, n(1)?, n(2)?, n(3)?])
        };
        let [iw, ih, ow, oh] = read(self.eval(sizes).await?)?;
        if (iw, ih) != (VIEWPORT_WIDTH, VIEWPORT_HEIGHT) {
            let width = VIEWPORT_WIDTH + ow.saturating_sub(iw);
            let height = VIEWPORT_HEIGHT + oh.saturating_sub(ih);
            self.command(
                reqwest::Method::POST,
                "/window/rect",
                Some(json!({"width": width, "height": height})),
                COMMAND_TIMEOUT,
            )
            .await
            .context("resizing the window")?;
        }
        let [iw, ih, ..] = read(self.eval(sizes).await?)?;
        anyhow::ensure!(
            (iw, ih) == (VIEWPORT_WIDTH, VIEWPORT_HEIGHT),
            "viewport is {iw}x{ih} after resizing, not {VIEWPORT_WIDTH}x{VIEWPORT_HEIGHT}"
        );
        Ok(())
    }

    /// Opens `url`, waits for the load (`document.readyState == "complete"`) and for the
    /// page's requests to finish (bounded), and reads what the page shows, logged and
    /// requested. Only what happened during this visit is reported: logs are drained first.
    pub async fn visit(&self, url: &str) -> anyhow::Result<Visit> {
        self.drain_log("browser").await?;
        self.drain_log("performance").await?;
        self.command(
            reqwest::Method::POST,
            "/url",
            Some(json!({ "url": url })),
            PAGE_LOAD_TIMEOUT + HTTP_MARGIN,
        )
        .await
        .with_context(|| format!("navigating to {url}"))?;
        self.wait_for("document.readyState === 'complete'", READY_TIMEOUT)
            .await?;
        tokio::time::sleep(SETTLE).await;

        // Each read drains the log, so the requests are built up across the polls.
        let requests = std::cell::RefCell::new(visit::Requests::default());
        let shared = &requests;
        let idle = wait_until(
            &format!("the requests of {url} to finish"),
            NETWORK_IDLE_TIMEOUT,
            POLL,
            move || async move {
                let log = self
                    .drain_log("performance")
                    .await
                    .map_err(|e| e.to_string())?;
                let mut requests = shared.borrow_mut();
                requests.apply_log(&log);
                match requests.open_urls() {
                    open if open.is_empty() => Ok(()),
                    open => Err(format!("still open: {open:?}")),
                }
            },
        )
        .await;
        if let Err(e) = idle {
            eprintln!("visit {url}: {e}");
        }

        let console = visit::console_entries(&self.drain_log("browser").await?);
        let page = self
            .eval(
                "const d = document.documentElement; return {url: location.href, \
                 title: document.title, text: document.body ? document.body.innerText : '', \
                 html: d.outerHTML, sw: d.scrollWidth, sh: d.scrollHeight}",
            )
            .await?;
        let text = |k: &str| page[k].as_str().unwrap_or_default().to_string();
        Ok(Visit {
            url: text("url"),
            title: text("title"),
            text: text("text"),
            html: text("html"),
            console,
            requests: requests.into_inner().into_seen(),
            scroll_width: page["sw"].as_u64().unwrap_or_default(),
            scroll_height: page["sh"].as_u64().unwrap_or_default(),
        })
    }

    /// Runs `js` as the body of a function in the page (`return ...` gives the value) and
    /// returns its result as JSON (WebDriver "execute script", synchronous).
    pub async fn eval(&self, js: &str) -> anyhow::Result<Value> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": js, "args": []})),
            SCRIPT_TIMEOUT + HTTP_MARGIN,
        )
        .await
        .with_context(|| format!("running script {js:?}"))
    }

    /// Waits until the JavaScript expression `condition` is truthy in the page, for pages
    /// that render after their data arrives. Fails after `timeout` with the last value.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> anyhow::Result<()> {
        let js = &format!("return !!({condition})");
        wait_until(
            &format!("`{condition}`"),
            timeout,
            POLL,
            move || async move {
                match self.eval(js).await {
                    Ok(Value::Bool(true)) => Ok(()),
                    Ok(other) => Err(format!("{other}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            },
        )
        .await
    }

    /// Console entries logged since the last visit or call (a page that logs later, after a
    /// poll of its data, shows them here).
    pub async fn console(&self) -> anyhow::Result<Vec<ConsoleEntry>> {
        Ok(visit::console_entries(&self.drain_log("browser").await?))
    }

    /// Saves a PNG of the viewport ([`VIEWPORT_WIDTH`] x [`VIEWPORT_HEIGHT`] pixels) to
    /// `path`, creating its directory.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let value = self
            .command(reqwest::Method::GET, "/screenshot", None, COMMAND_TIMEOUT)
            .await
            .context("taking a screenshot")?;
        let png = base64_decode(value.as_str().context("screenshot is not a string")?)
            .context("screenshot is not base64")?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// `performance.memory.usedJSHeapSize` in bytes (exact, thanks to
    /// `--enable-precise-memory-info`); `None` if the page cannot tell.
    pub async fn js_heap_used(&self) -> anyhow::Result<Option<u64>> {
        let v = self
            .eval("return performance.memory ? performance.memory.usedJSHeapSize : null")
            .await?;
        Ok(v.as_u64())
    }

    /// Runs a full garbage collection in the page (`window.gc()`, exposed by
    /// `--js-flags=--expose-gc`), so two heap readings compare live objects, not garbage
    /// not yet collected. Returns false when the page has no `gc` (the flag was refused).
    pub async fn collect_garbage(&self) -> anyhow::Result<bool> {
        let v = self
            .eval("if (typeof window.gc !== 'function') return false; window.gc(); return true")
            .await?;
        Ok(v == Value::Bool(true))
    }

    /// Chromium's browser process id, as chromedriver reports it.
    pub fn browser_pid(&self) -> Option<u32> {
        self.browser_pid
    }

    /// chromedriver's process id (the leader of the browser's process group).
    pub fn driver_pid(&self) -> u32 {
        self.driver.id()
    }

    /// A handle to list this browser's processes, usable after the browser is dropped
    /// (a test checks that none is left).
    pub fn process_probe(&self) -> ProcessProbe {
        self.probe.clone()
    }

    /// Reads (and so empties) one of chromedriver's logs: `browser` or `performance`.
    async fn drain_log(&self, kind: &str) -> anyhow::Result<Value> {
        self.command(
            reqwest::Method::POST,
            "/se/log",
            Some(json!({ "type": kind })),
            COMMAND_TIMEOUT,
        )
        .await
        .with_context(|| format!("reading the {kind} log"))
    }

    /// One WebDriver command of the session: `path` is relative to `/session/{id}`.
    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let id = self.session.as_deref().context("no WebDriver session")?;
        let url = format!("http://{}/session/{id}{path}", self.driver_addr);
        request(&self.client, method, &url, body, timeout).await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(id) = self.session.take()
            && let Err(e) = delete_session(self.driver_addr, &id)
        {
            eprintln!("browser: deleting WebDriver session {id}: {e}");
        }
        let left = self.probe.stop();
        if !left.is_empty() {
            eprintln!("browser: processes left after SIGKILL: {left:#?}");
        }
    }
}

/// Starts chromedriver on `addr` as the leader of a new process group (so every Chromium
/// process it starts can be signalled at once), with its log in `dir`.
fn spawn_driver(addr: SocketAddr, dir: &Path) -> anyhow::Result<ChildGuard> {
    let mut cmd = Command::new(CHROMEDRIVER);
    cmd.arg(format!("--port={}", addr.port()))
        // Chromium keeps its crash database and caches under XDG dirs, not the profile:
        // pointed here they stay out of $HOME and carry the marker procs.rs looks for.
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_CACHE_HOME", dir.join("xdg-cache"))
        .process_group(0);
    ChildGuard::spawn("chromedriver", cmd, &dir.join("chromedriver.log"))
}

/// Waits for chromedriver's `/status` to say ready: true when it does, false when
/// chromedriver exited (its port was taken), an error after [`DRIVER_START_TIMEOUT`].
async fn driver_ready(
    client: &reqwest::Client,
    driver: &mut ChildGuard,
    addr: SocketAddr,
) -> anyhow::Result<bool> {
    let url = format!("http://{addr}/status");
    wait_until(
        "chromedriver to answer /status",
        DRIVER_START_TIMEOUT,
        POLL,
        || {
            let exited = driver.exited();
            let url = url.clone();
            async move {
                if exited.is_some() {
                    return Ok(false);
                }
                match request(client, reqwest::Method::GET, &url, None, COMMAND_TIMEOUT).await {
                    Ok(v) if v["ready"] == Value::Bool(true) => Ok(true),
                    Ok(v) => Err(format!("not ready: {v}")),
                    Err(e) => Err(format!("{e:#}")),
                }
            }
        },
    )
    .await
    .with_context(|| driver.output())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn why_unavailable_names_the_packages() {
        // Either both are installed (None) or the message says what to install.
        if let Some(why) = why_unavailable() {
            assert!(why.contains("apt-get install"), "{why}");
        }
    }
}
