//! `zf-listen ADDR [MAX_SECONDS] [http]`: a TCP listener for TCP probes in a test
//! namespace.
//!
//! It accepts connections and closes them at once: a TCP connect probe only needs the
//! handshake. With `http` it answers each connection's request `200 OK` first (one request
//! per connection, its head read up to 8 KiB or 2 s), for HTTP probes. It prints `listening on ADDR` once bound (the harness waits for that line) and
//! exits by itself after MAX_SECONDS (default 900), so even a listener whose test process was
//! killed does not run for ever and keep its namespace alive.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next() else {
        eprintln!("usage: zf-listen ADDR [MAX_SECONDS] [http]");
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
    let http = match args.next().as_deref() {
        None => false,
        Some("http") => true,
        Some(other) => {
            eprintln!("unknown mode {other:?}: the only one is http");
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
        if let (true, Ok(stream)) = (http, conn) {
            answer_ok(stream);
        }
    }
}

/// Reads one request head (bounded) and answers `200 OK`; errors end the connection.
fn answer_ok(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    // Bounded: each read adds at least a byte, up to 8 KiB, and waits at most 2 s.
    while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ =
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}
