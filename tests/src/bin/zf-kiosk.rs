//! `zf-kiosk URL MINUTES`: a wall screen in headless Chromium for `bench/cockpit-kiosk.sh`.
//!
//! Opens URL (a cockpit page with `?kiosk=1`) at 1920x1080 and leaves it alone for MINUTES
//! minutes while the page refreshes itself. Once a minute, after a garbage collection, it
//! prints the page's JS heap (`performance.memory.usedJSHeapSize`, exact with
//! `--enable-precise-memory-info`), its DOM element count and the page's "as of" time (it
//! changes when a refresh landed), then the heap at the end against the heap at minute 10:
//! a page that keeps what each refresh brings grows; one that replaces it stays flat.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use zerofault_tests::browser::Browser;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(minutes)) = (args.get(1), args.get(2).and_then(|m| m.parse::<u64>().ok()))
    else {
        anyhow::bail!("usage: zf-kiosk URL MINUTES");
    };
    if let Some(why) = Browser::why_unavailable() {
        anyhow::bail!("{why}");
    }
    let browser = Browser::launch().await?;
    let visit = browser.visit(url).await?;
    println!(
        "opened {url}: {}x{} (fits 1920x1080: {}), errors {:?}",
        visit.scroll_width,
        visit.scroll_height,
        visit.fits(1920, 1080),
        visit.errors()
    );
    let started = Instant::now();
    let mut at_10 = None;
    let mut last = 0;
    println!("minute heap_bytes dom_elements as_of");
    for minute in 0..=minutes {
        let due = Duration::from_secs(minute * 60);
        tokio::time::sleep(due.saturating_sub(started.elapsed())).await;
        browser.collect_garbage().await?;
        let heap = browser.js_heap_used().await?.unwrap_or(0);
        let dom = browser
            .eval("return document.getElementsByTagName('*').length")
            .await?;
        let as_of = browser
            .eval("return document.getElementById('asof').textContent")
            .await?;
        println!("{minute} {heap} {dom} {as_of}");
        if minute == 10 {
            at_10 = Some(heap);
        }
        last = heap;
    }
    let errors: Vec<_> = browser
        .console()
        .await?
        .into_iter()
        .filter(|e| e.level == "SEVERE")
        .collect();
    println!("console errors over the run: {errors:?}");
    if let Some(h10) = at_10.filter(|h| *h > 0) {
        println!(
            "heap at minute 10: {h10} B, at minute {minutes}: {last} B, change {:+.1}%",
            (last as f64 / h10 as f64 - 1.0) * 100.0
        );
    }
    Ok(())
}
