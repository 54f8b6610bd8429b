//! `zf-listen ADDR [MAX_SECONDS]`: a TCP listener for TCP probes in a test namespace.
//!
//! It accepts connections and closes them at once: a TCP connect probe only needs the
//! handshake. It prints `listening on ADDR` once bound (the harness waits for that line) and
//! exits by itself after MAX_SECONDS (default 900), so even a listener whose test process was
//! killed does not run for ever and keep its namespace alive.
#![forbid(unsafe_code)]

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next() else {
        eprintln!("usage: zf-listen ADDR [MAX_SECONDS]");
        std::process::exit(2);
    };
    let max_seconds: u64 = match args.next().map(|s| s.parse()) {
        None => 900,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("MAX_SECONDS: {e}");
            std::process::exit(2);
        }
    };
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(max_seconds));
        std::process::exit(0);
    });
    println!("listening on {addr}");
    // stdout is a file (the harness's log): flush so the harness sees the line now.
    let _ = std::io::stdout().flush();
    // Ends with the process (killed by the harness, or the timer thread above).
    for conn in listener.incoming() {
        // Dropping the stream closes it; accept errors (e.g. a reset before accept) are
        // the client's business.
        drop(conn);
    }
}
