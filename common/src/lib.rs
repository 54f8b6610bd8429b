//! Small pieces the agent and the collector share, so that an operator writes a duration the
//! same way in both config files, both name a wrong value and an unusable PEM file the same
//! way, and both sides read the clock the same way.
#![forbid(unsafe_code)]

pub mod assets;
pub mod duration;
pub mod pem;
pub mod problem;
pub mod yaml;

/// The subject common name of a DER certificate; `None` when it has none or does not parse.
/// The collector uses it as the verified agent identity; the agent's `validate` compares it
/// with `agent.id`, so a mismatch is caught before every report is refused with 403.
pub fn certificate_common_name(der: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(der).ok()?;
    subject_common_name(&parsed)
}

/// The subject common name of a parsed certificate, for callers that read more of it.
pub fn subject_common_name(cert: &x509_parser::certificate::X509Certificate<'_>) -> Option<String> {
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// Wall-clock time in milliseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Calls `on_eof` once `input` reaches end of file (or fails), from a thread of its own.
///
/// The hidden `--exit-with-stdin` of `zerofault-collector serve` and `zerofault-agent run`
/// uses it on stdin: `demo` gives each child a pipe as stdin and keeps the write end, and the
/// kernel closes that end however the demo ends (Ctrl-C, closed terminal, SIGKILL), so the
/// children stop with it without any signal being forwarded. A plain thread rather than
/// tokio's stdin: a blocking read in tokio's pool would hold up the runtime's shutdown when
/// the process stops for another reason while stdin is still open.
pub fn on_eof(
    mut input: impl std::io::Read + Send + 'static,
    on_eof: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("zerofault-eof".into())
        .spawn(move || {
            let mut buf = [0u8; 256];
            loop {
                match input.read(&mut buf) {
                    Ok(0) => break,
                    // Whatever is written is not a command: only the end matters.
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // An unreadable stdin cannot tell when the parent ends: stop now
                    // rather than outlive it.
                    Err(_) => break,
                }
            }
            on_eof();
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn on_eof_fires_when_the_write_end_closes_and_not_before() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let (tx, rx) = mpsc::channel();
        super::on_eof(reader, move || tx.send(()).unwrap()).unwrap();
        writer.write_all(b"data is ignored\n").unwrap();
        assert_eq!(
            rx.recv_timeout(Duration::from_millis(300)),
            Err(mpsc::RecvTimeoutError::Timeout),
            "fired while the write end was open"
        );
        drop(writer);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("fired after the write end closed");
    }
}
