//! `audit.syslog`: each record a collector writes, as one RFC 5424 message over UDP, for the
//! central audit system, and the outside anchor of the seals (`docs/security.md`).

use std::net::UdpSocket;

use super::chain::Record;
use super::settings::Syslog;

/// Largest message sent: RFC 5424 receivers must take 480 bytes and should take 2048; the
/// details of a record are cut to fit (the record in the database stays whole).
pub const MAX_MESSAGE_BYTES: usize = 2048;

/// The RFC 5424 message of `r`: `<PRI>1 TIMESTAMP HOST APP - MSGID - JSON`, severity
/// notice for a success, warning for a failure.
pub fn message(r: &Record, facility: u8, host: &str) -> String {
    let severity = if r.entry.outcome == "failure" { 4 } else { 5 };
    let pri = u32::from(facility) * 8 + severity;
    let at = jiff::Timestamp::from_millisecond(r.entry.at_ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "-".into());
    let mut details = r.entry.details.clone();
    let body = |details: &str| {
        serde_json::json!({
            "seq": r.seq,
            "instance": r.entry.instance,
            "actor": r.entry.actor,
            "source": r.entry.source,
            "event": r.entry.event,
            "outcome": r.entry.outcome,
            "details": details,
            "alg": r.alg.as_str(),
            "hash": r.hash,
        })
        .to_string()
    };
    let msgid: String = r
        .entry
        .event
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    let head = format!("<{pri}>1 {at} {host} zerofault-collector - {msgid} - ");
    let mut text = body(&details);
    while head.len() + text.len() > MAX_MESSAGE_BYTES && !details.is_empty() {
        let keep = details
            .len()
            .saturating_sub(head.len() + text.len() - MAX_MESSAGE_BYTES + 16);
        let mut cut = keep.min(details.len());
        while !details.is_char_boundary(cut) {
            cut -= 1;
        }
        details.truncate(cut);
        details.push_str("...");
        if cut == 0 {
            details.clear();
        }
        text = body(&details);
    }
    head + &text
}

/// Sends records to one syslog receiver.
#[derive(Debug)]
pub struct Sender {
    socket: UdpSocket,
    facility: u8,
    host: String,
}

impl Sender {
    /// A sender to `settings.address`, resolved now, naming `host` (the instance) as the
    /// messages' HOSTNAME.
    pub fn new(settings: &Syslog, host: &str) -> std::io::Result<Sender> {
        use std::net::ToSocketAddrs;
        let target = settings
            .address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
        let local: std::net::SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse().expect("literal")
        } else {
            "[::]:0".parse().expect("literal")
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(target)?;
        socket.set_nonblocking(true)?;
        let host = host
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect::<String>();
        Ok(Sender {
            socket,
            facility: settings.facility,
            host: if host.is_empty() { "-".into() } else { host },
        })
    }

    /// Sends `r`; a failure is the caller's to count (UDP: a lost datagram is not seen).
    pub fn send(&self, r: &Record) -> std::io::Result<()> {
        self.socket
            .send(message(r, self.facility, &self.host).as_bytes())
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::{Entry, HashAlg, link};

    #[test]
    fn a_message_is_rfc5424_and_bounded() {
        let entry = Entry {
            at_ms: 1_767_225_600_000,
            instance: "c1".into(),
            actor: "operator:root".into(),
            source: "local".into(),
            event: "cert.revoke".into(),
            outcome: "success".into(),
            details: r#"{"agent":"web-01"}"#.into(),
        };
        let r = link(None, entry.clone(), HashAlg::Sha256);
        let m = message(&r, 10, "host1");
        assert!(
            m.starts_with("<85>1 2026-01-01T00:00:00Z host1 zerofault-collector - cert.revoke - {"),
            "{m}"
        );
        assert!(m.contains(&r.hash));
        let big = link(
            None,
            Entry {
                details: "x".repeat(10_000),
                outcome: "failure".into(),
                ..entry
            },
            HashAlg::Sha256,
        );
        let m = message(&big, 10, "host1");
        assert!(m.len() <= MAX_MESSAGE_BYTES, "{}", m.len());
        assert!(m.starts_with("<84>1 "));
        assert!(m.contains(&big.hash));
    }
}
