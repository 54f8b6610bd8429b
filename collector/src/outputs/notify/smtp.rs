//! A small SMTP client (RFC 5321) for one message at a time to a relay: plain, STARTTLS or
//! implicit TLS (rustls with ring, the configured CA only), AUTH PLAIN, one `MAIL FROM`, a
//! `RCPT TO` per recipient, `DATA`. The message is UTF-8 text, base64-encoded, so no line of
//! the body can be read as the end of the data and no 8-bit path is needed. Every reply is
//! read with a bound on its size; the whole dialogue is bounded by the caller's timeout.

use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::settings::{Email, SmtpTls};

/// Longest reply line read from the relay.
const MAX_LINE: usize = 4096;
/// Most lines of one (multi-line) reply.
const MAX_REPLY_LINES: usize = 64;

/// Standard base64 with padding (RFC 4648).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The whole message (headers and body, CRLF line ends), ready for `DATA`.
pub fn message(
    from: &str,
    to: &[String],
    subject: &str,
    body: &str,
    date: &str,
    id: &str,
) -> String {
    let mut m = String::new();
    m.push_str(&format!("From: {from}\r\n"));
    m.push_str(&format!("To: {}\r\n", to.join(", ")));
    m.push_str(&format!(
        "Subject: =?UTF-8?B?{}?=\r\n",
        base64(subject.as_bytes())
    ));
    m.push_str(&format!("Date: {date}\r\n"));
    m.push_str(&format!("Message-ID: <{id}>\r\n"));
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str("Content-Type: text/plain; charset=UTF-8\r\n");
    m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
    let encoded = base64(body.as_bytes());
    for line in encoded.as_bytes().chunks(76) {
        m.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        m.push_str("\r\n");
    }
    m
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Conn {
    io: BufReader<Box<dyn Stream>>,
}

impl Conn {
    /// Reads one reply: its code and its text (lines joined).
    async fn reply(&mut self) -> Result<(u16, String), String> {
        let mut text = String::new();
        for _ in 0..MAX_REPLY_LINES {
            let mut line = Vec::new();
            let n = (&mut self.io)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| format!("reading the relay's reply: {e}"))?;
            if n == 0 {
                return Err("the relay closed the connection".into());
            }
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            if line.len() < 3 {
                return Err(format!("not an SMTP reply: {line:?}"));
            }
            // `get`: a reply is not trusted to have ASCII in its first three bytes.
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| format!("not an SMTP reply: {line:?}"))?;
            text.push_str(line.get(4..).unwrap_or(""));
            text.push(' ');
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text.trim_end().to_owned()));
            }
        }
        Err("the relay's reply has too many lines".into())
    }

    async fn send(&mut self, line: &str) -> Result<(), String> {
        self.io
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| format!("writing to the relay: {e}"))
    }

    /// Sends `line` and expects a reply code in `ok`.
    async fn command(&mut self, line: &str, ok: &[u16], what: &str) -> Result<String, Outcome> {
        self.send(line).await.map_err(Outcome::Temporary)?;
        let (code, text) = self.reply().await.map_err(Outcome::Temporary)?;
        if ok.contains(&code) {
            Ok(text)
        } else if (400..500).contains(&code) {
            Err(Outcome::Temporary(format!("{what}: {code} {text}")))
        } else {
            Err(Outcome::Permanent(format!("{what}: {code} {text}")))
        }
    }
}

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Worth retrying: no connection, a 4xx reply, a timeout.
    Temporary(String),
    /// The relay refused for good (5xx): retrying the same message gets the same answer.
    Permanent(String),
}

fn tls_connector(email: &Email) -> Result<tokio_rustls::TlsConnector, String> {
    let ca = email
        .ca
        .as_deref()
        .ok_or("notifications.email.ca is required for TLS")?;
    let config = crate::tls::client_config(crate::tls::ClientFiles {
        ca: ("notifications.email.ca", ca),
        identity: None,
    })?;
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn upgrade(
    stream: Box<dyn Stream>,
    email: &Email,
    host: &str,
) -> Result<Box<dyn Stream>, Outcome> {
    let connector = tls_connector(email).map_err(Outcome::Permanent)?;
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| Outcome::Permanent(format!("{host}: {e}")))?;
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| Outcome::Temporary(format!("TLS with the relay: {e}")))?;
    Ok(Box::new(tls))
}

/// Delivers one message (`data` from [`message`]) through the relay of `email`; `password`
/// is the content of `password_file`, read by the caller.
pub async fn deliver(email: &Email, password: Option<&str>, data: &str) -> Result<(), Outcome> {
    let (host, _) = email
        .smtp
        .rsplit_once(':')
        .ok_or_else(|| Outcome::Permanent(format!("{:?} is not HOST:PORT", email.smtp)))?;
    let tcp = tokio::net::TcpStream::connect(&email.smtp)
        .await
        .map_err(|e| Outcome::Temporary(format!("connecting to {}: {e}", email.smtp)))?;
    let mut stream: Box<dyn Stream> = Box::new(tcp);
    if email.tls == SmtpTls::Tls {
        stream = upgrade(stream, email, host).await?;
    }
    let mut conn = Conn {
        io: BufReader::new(stream),
    };
    let (code, text) = conn.reply().await.map_err(Outcome::Temporary)?;
    if code != 220 {
        return Err(Outcome::Temporary(format!("greeting: {code} {text}")));
    }
    let me = "zerofault-collector";
    let mut features = conn.command(&format!("EHLO {me}"), &[250], "EHLO").await?;
    if email.tls == SmtpTls::Starttls {
        if !features.to_ascii_uppercase().contains("STARTTLS") {
            return Err(Outcome::Permanent(
                "the relay does not offer STARTTLS (set notifications.email.tls: none only for a relay on a trusted segment)".into(),
            ));
        }
        conn.command("STARTTLS", &[220], "STARTTLS").await?;
        let plain = conn.io.into_inner();
        conn = Conn {
            io: BufReader::new(upgrade(plain, email, host).await?),
        };
        features = conn.command(&format!("EHLO {me}"), &[250], "EHLO").await?;
    }
    if let (Some(user), Some(password)) = (&email.username, password) {
        if !features.to_ascii_uppercase().contains("AUTH") {
            return Err(Outcome::Permanent(
                "the relay offers no AUTH, but a username is set".into(),
            ));
        }
        let token = base64(format!("\0{user}\0{password}").as_bytes());
        conn.command(&format!("AUTH PLAIN {token}"), &[235], "AUTH")
            .await?;
    }
    conn.command(&format!("MAIL FROM:<{}>", email.from), &[250], "MAIL FROM")
        .await?;
    for to in &email.to {
        conn.command(&format!("RCPT TO:<{to}>"), &[250, 251], "RCPT TO")
            .await?;
    }
    conn.command("DATA", &[354], "DATA").await?;
    // Base64 lines never start with '.', so no dot-stuffing is needed.
    conn.io
        .get_mut()
        .write_all(data.as_bytes())
        .await
        .map_err(|e| Outcome::Temporary(format!("writing the message: {e}")))?;
    conn.command(".", &[250], "end of data").await?;
    let _ = conn.command("QUIT", &[221], "QUIT").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), output);
        }
    }

    #[test]
    fn the_message_is_crlf_base64_and_its_subject_encoded_words() {
        let m = message(
            "zerofault@example.internal",
            &["noc@example.internal".into()],
            "[zerofault] 故障",
            "第一行\n.second line starting with a dot\n",
            "Mon, 07 Dec 2026 06:00:00 +0800",
            "1.0@zerofault",
        );
        assert!(
            m.contains("Subject: =?UTF-8?B?W3plcm9mYXVsdF0g5pWF6Zqc?=\r\n"),
            "{m}"
        );
        let body = m.split("\r\n\r\n").nth(1).unwrap();
        assert!(body.lines().all(|l| l.len() <= 76 && !l.starts_with('.')));
        assert!(!m.replace("\r\n", "").contains('\n'), "bare LF");
    }
}
