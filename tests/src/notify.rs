//! Receivers of the collector's notifications: an SMTP relay and a webhook, each failing
//! its first deliveries on demand, recording what they took.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// What a stub received.
#[derive(Debug, Default)]
pub struct Received {
    /// Accepted messages (SMTP: the DATA; webhook: the JSON body), in order.
    pub accepted: Vec<String>,
    /// Deliveries refused with a temporary failure.
    pub refused: u32,
}

/// A plain-SMTP relay on loopback: answers the dialogue, refuses the first `fail_first`
/// messages with `451`, keeps the others.
#[derive(Debug)]
pub struct SmtpStub {
    addr: SocketAddr,
    /// What it received.
    pub received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpStub {
    /// Starts it.
    pub async fn spawn(fail_first: u32) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let r = received.clone();
        let fails = Arc::new(Mutex::new(fail_first));
        let task = tokio::spawn(async move {
            // Bounded by the test: aborted when the stub is dropped.
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, fails) = (r.clone(), fails.clone());
                tokio::spawn(async move {
                    let _ = session(stream, &r, &fails).await;
                });
            }
        });
        Ok(Self {
            addr,
            received,
            task,
        })
    }

    /// `HOST:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    received: &Mutex<Received>,
    fails: &Mutex<u32>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 stub ESMTP\r\n").await?;
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with("EHLO") {
            b"250-stub\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") || upper.starts_with("RCPT TO:") {
            b"250 ok\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 go on\r\n").await?;
            let mut data = String::new();
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                data.push_str(&l);
                data.push('\n');
            }
            let fail = {
                let mut f = fails.lock().unwrap();
                let fail = *f > 0;
                *f = f.saturating_sub(1);
                fail
            };
            let mut r = received.lock().unwrap();
            if fail {
                r.refused += 1;
                b"451 try again later\r\n"
            } else {
                r.accepted.push(data);
                b"250 queued\r\n"
            }
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(answer).await?;
    }
    Ok(())
}

/// A webhook on loopback: answers 503 to the first `fail_first` posts, 200 to the others.
#[derive(Debug)]
pub struct WebhookStub {
    addr: SocketAddr,
    /// What it received.
    pub received: Arc<Mutex<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WebhookStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WebhookStub {
    /// Starts it.
    pub async fn spawn(fail_first: u32) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let fails = Arc::new(Mutex::new(fail_first));
        let (r, f) = (received.clone(), fails.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (r, f) = (r.clone(), f.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: hyper::Request<hyper::body::Incoming>| {
                            let (r, f) = (r.clone(), f.clone());
                            async move {
                                let body = Limited::new(req.into_body(), 1 << 20)
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                let fail = {
                                    let mut f = f.lock().unwrap();
                                    let fail = *f > 0;
                                    *f = f.saturating_sub(1);
                                    fail
                                };
                                let mut r = r.lock().unwrap();
                                let status = if fail {
                                    r.refused += 1;
                                    503
                                } else {
                                    r.accepted.push(String::from_utf8_lossy(&body).into_owned());
                                    200
                                };
                                Ok::<_, std::convert::Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::new()))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            received,
            task,
        })
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}
