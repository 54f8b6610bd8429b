//! The WebDriver wire: one JSON request to chromedriver, the session's DELETE when the
//! browser is dropped, and the base64 of screenshots.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;

/// How long the DELETE of a session may take (Chromium closes its windows and exits, ~0.2 s
/// idle): the connect, and the whole answer.
const QUIT_TIMEOUT: Duration = Duration::from_secs(10);

/// One WebDriver HTTP request; returns the answer's `value`, or its error as an error.
pub(super) async fn request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
    timeout: Duration,
) -> anyhow::Result<Value> {
    let mut req = client.request(method.clone(), url).timeout(timeout);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string());
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = resp.status();
    let bytes = resp.bytes().await?;
    let answer: Value = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "{method} {url}: {status}, not JSON: {}",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    let value = answer["value"].clone();
    if !status.is_success() || value.get("error").is_some_and(|e| e.is_string()) {
        anyhow::bail!(
            "{method} {url}: {status}: {}: {}",
            value["error"].as_str().unwrap_or("error"),
            value["message"].as_str().unwrap_or_default()
        );
    }
    Ok(value)
}

/// `DELETE /session/{id}` over a plain TCP stream: drop cannot await the async client, and
/// a runtime made inside a drop that runs on a runtime's thread panics.
pub(super) fn delete_session(addr: SocketAddr, id: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, QUIT_TIMEOUT)?;
    stream.set_read_timeout(Some(QUIT_TIMEOUT))?;
    stream.set_write_timeout(Some(QUIT_TIMEOUT))?;
    write!(
        stream,
        "DELETE /session/{id} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    // The answer comes once Chromium has quit. chromedriver keeps the connection open
    // (even when asked to close it), so the head is read up to its blank line and the
    // status judged from it; reading to the end would wait for the read timeout.
    let deadline = Instant::now() + QUIT_TIMEOUT;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if Instant::now() > deadline {
            return Err(std::io::Error::other("no answer in time"));
        }
        if stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("answer: {status:?}")))
    }
}

/// Decodes standard base64 (the screenshot's encoding); a few lines instead of a crate.
pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_known_values() {
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("Zg==").unwrap(), b"f");
        assert_eq!(base64_decode("Zm8=").unwrap(), b"fo");
        assert_eq!(base64_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64_decode("iVBORw0KGgo=").unwrap(), b"\x89PNG\r\n\x1a\n");
        assert_eq!(base64_decode("+/+/").unwrap(), [0xfb, 0xff, 0xbf]);
        assert!(base64_decode("Zm9v!").is_none());
    }
}
