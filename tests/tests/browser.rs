//! The headless-Chromium harness's own test (tests/src/browser.rs): a tiny page served from
//! a thread, with one of each thing a page test asserts on (a title, Chinese text, a console
//! error, an external request, a 404), must read back as exactly that; a clean page must
//! read back clean; the screenshot must be a real 1920x1080 picture; and no process of the
//! browser may outlive it. Skipped, saying why, only when Chromium or chromedriver is not
//! installed.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use zerofault_tests::browser::{Browser, VIEWPORT_HEIGHT, VIEWPORT_WIDTH, artifacts_dir};

/// The page with one of everything. The favicon is inline so that the browser's own
/// `/favicon.ico` request does not add a 404 of its own. 192.0.2.1 (TEST-NET-1) is an
/// address literal, which no DNS lookup is needed for: it must fail as fast as a name.
const PAGE: &str = r#"<!doctype html>
<html lang="zh"><head><meta charset="utf-8">
<title>zerofault 浏览器测试</title>
<link rel="icon" href="data:,">
<style>body { font-family: sans-serif; font-size: 64px; margin: 48px; }</style>
<script src="/missing.js"></script>
</head><body>
<h1>你好，世界</h1>
<p>zerofault cockpit harness</p>
<img src="http://example.invalid/x.png" alt="">
<img src="http://192.0.2.1/y.png" alt="">
<script>console.error("boom"); console.log("quiet");</script>
</body></html>
"#;

/// A page with nothing wrong, to show that errors are per visit and can be none.
const CLEAN: &str = r#"<!doctype html><html><head><meta charset="utf-8"><title>clean</title>
<link rel="icon" href="data:,"></head><body><p>all good</p></body></html>
"#;

/// How long the page server waits for a request line: Chromium opens speculative
/// connections it may never use, and each gets its own thread, which must end.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `PAGE` at `/`, `CLEAN` at `/clean` and 404 for anything else, on a free loopback
/// port, from a thread per connection; returns the origin (`http://127.0.0.1:PORT`).
fn serve() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(stream));
        }
    });
    origin
}

fn answer(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(REQUEST_READ_TIMEOUT));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The rest of the head; the body of a GET is empty.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/" => ("200 OK", PAGE),
        "/clean" => ("200 OK", CLEAN),
        _ => ("404 Not Found", "not found\n"),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Width and height from a PNG's IHDR chunk, which the format puts first: 8 bytes of
/// signature, 4 of length, `IHDR`, then width and height as big-endian u32.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24, "PNG of {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

/// True while `pid` runs (a zombie, exited and waiting to be reaped, does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat[stat.rfind(')').unwrap() + 1..].trim_start();
        !state.starts_with('Z') && !state.starts_with('X')
    })
}

#[tokio::test]
async fn a_page_reads_back_and_the_browser_leaves_nothing_behind() {
    if let Some(why) = Browser::why_unavailable() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let started = Instant::now();
    let origin = serve();
    let browser = Browser::launch().await.unwrap();
    eprintln!("launched in {:?}", started.elapsed());
    let probe = browser.process_probe();
    let browser_pid = browser
        .browser_pid()
        .expect("chromedriver reports Chromium's pid");
    let driver_pid = browser.driver_pid();
    // The probe sees the browser now, so an empty list after drop means something.
    let alive = probe.alive();
    eprintln!("processes of the browser: {alive:#?}");
    assert!(
        alive
            .iter()
            .any(|p| p.starts_with(&format!("{browser_pid} "))),
        "Chromium {browser_pid} not among {alive:#?}"
    );
    assert!(
        alive.len() >= 3,
        "chromedriver, Chromium and its children: {alive:#?}"
    );

    let t = Instant::now();
    let visit = browser.visit(&format!("{origin}/")).await.unwrap();
    eprintln!("visit in {:?}: {visit:#?}", t.elapsed());
    let errors = visit.errors();
    eprintln!("errors: {errors:#?}");

    assert_eq!(visit.title, "zerofault 浏览器测试");
    assert!(visit.text.contains("你好，世界"), "{:?}", visit.text);
    assert!(visit.html.contains("<h1>你好，世界</h1>"), "{}", visit.html);

    assert!(
        visit
            .console
            .iter()
            .any(|c| c.level == "SEVERE" && c.message.contains("\"boom\"")),
        "no console error boom: {:#?}",
        visit.console
    );
    assert!(
        visit
            .console
            .iter()
            .any(|c| c.message.contains("\"quiet\"") && c.level == "INFO"),
        "console.log is read too: {:#?}",
        visit.console
    );

    let external: Vec<_> = visit.external_requests(&origin);
    let urls: Vec<&str> = external.iter().map(|r| r.url.as_str()).collect();
    assert_eq!(
        urls,
        ["http://example.invalid/x.png", "http://192.0.2.1/y.png"],
        "{:#?}",
        visit.requests
    );
    for r in &external {
        assert_eq!(r.status, None, "no answer from outside: {r:?}");
        assert_eq!(
            r.error.as_deref(),
            Some("net::ERR_NAME_NOT_RESOLVED"),
            "the resolver rule, not the network, stopped it: {r:?}"
        );
    }

    let missing = visit
        .requests
        .iter()
        .find(|r| r.url == format!("{origin}/missing.js"))
        .unwrap_or_else(|| panic!("no /missing.js in {:#?}", visit.requests));
    assert_eq!(missing.status, Some(404));
    assert!(missing.failed());
    let page = &visit.requests[0];
    assert_eq!(
        (page.url.as_str(), page.status),
        (&*format!("{origin}/"), Some(200))
    );

    for expected in ["boom", "missing.js", "example.invalid", "192.0.2.1"] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected} not among the errors {errors:#?}"
        );
    }
    assert!(visit.fits(VIEWPORT_WIDTH, VIEWPORT_HEIGHT), "{visit:?}");
    assert_eq!(
        visit.scroll_width, VIEWPORT_WIDTH,
        "a small page fills the viewport's width"
    );

    let heap = browser.js_heap_used().await.unwrap();
    assert!(heap.is_some_and(|b| b > 0), "usedJSHeapSize: {heap:?}");
    assert!(
        browser.collect_garbage().await.unwrap(),
        "window.gc exposed"
    );

    let dir = artifacts_dir("browser");
    let shot = dir.join("page.png");
    browser.screenshot(&shot).await.unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(
        png_size(&png),
        (VIEWPORT_WIDTH as u32, VIEWPORT_HEIGHT as u32)
    );

    // Not blank: the same viewport with nothing drawn compresses to a fraction of the page
    // with 64 px text (no PNG decoder here, so the compressed size is the measure).
    let clean = browser.visit(&format!("{origin}/clean")).await.unwrap();
    assert!(clean.errors().is_empty(), "{:#?}", clean.errors());
    // The inline favicon may or may not show as a data: request; nothing else may.
    let fetched = clean
        .requests
        .iter()
        .filter(|r| !r.url.starts_with("data:"))
        .count();
    assert_eq!(fetched, 1, "only the page itself: {:#?}", clean.requests);
    assert!(
        clean.console.is_empty(),
        "nothing of the first visit: {:#?}",
        clean.console
    );
    browser.visit("about:blank").await.unwrap();
    let blank = dir.join("blank.png");
    browser.screenshot(&blank).await.unwrap();
    let blank_len = std::fs::read(&blank).unwrap().len();
    eprintln!("screenshot {} bytes, blank {blank_len} bytes", png.len());
    assert!(
        png.len() > 2 * blank_len,
        "screenshot {} bytes, a blank one {blank_len}: is {} blank?",
        png.len(),
        shot.display()
    );

    let t = Instant::now();
    drop(browser);
    eprintln!("closed in {:?}", t.elapsed());
    let left = probe.alive();
    assert!(left.is_empty(), "left behind: {left:#?}");
    assert!(!running(browser_pid) && !running(driver_pid));
    assert!(
        !Path::new(&format!("/proc/{driver_pid}")).exists(),
        "chromedriver reaped"
    );
    eprintln!("test took {:?}", started.elapsed());
}
