//! Kept-alive agent connections that cost little while they wait: between two reports a
//! connection is *parked*, holding only its TLS session and socket, and gets an HTTP
//! connection again when the agent's next bytes arrive.
//!
//! Why: an agent sends one report per interval (15 s by default) and waits the rest of the
//! time. hyper keeps an 8 KiB read buffer and an 8 KiB header buffer for the whole life of a
//! connection, which made an idle agent connection cost 23 KB of the collector's memory, and
//! 50,000 agents 1.1 GiB before any work (`docs/benchmarks.md`). Here hyper serves the
//! connection while requests come, and is shut down gracefully once it is *idle*: its last
//! read found nothing to read and no request is in flight (every response body sent). hyper
//! then hands back the stream and any bytes it had read ahead ([`hyper::server::conn::http1::Parts`]),
//! and the connection waits for readability of its socket alone.
//!
//! Invariants:
//! - No byte is lost: bytes hyper read but did not use are given back first to the next
//!   HTTP connection ([`Resumed::prefix`]); the TLS layer holds no decrypted bytes when the
//!   connection is parked, because hyper's last read came back `Pending` (tokio-rustls
//!   returns that only when rustls has no plaintext left and the socket has nothing more).
//! - No response is cut: idleness requires every response body to have been dropped by
//!   hyper, which it does after writing it, and the graceful shutdown of an idle hyper
//!   connection closes it without writing anything.
//! - Time is bounded: a parked connection is closed after `idle_timeout`; one parked in
//!   the middle of a request head (bytes read ahead) gets [`HEADER_READ_TIMEOUT`] parked,
//!   and then hyper's own header timeout (the next HTTP connection cannot park before it
//!   has answered); while hyper holds the connection, it must receive a new request within
//!   `idle_timeout` + [`HEADER_READ_TIMEOUT`] ([`Closed::Stalled`]), as hyper has no write
//!   timeout.
//! - An exchange that ends the connection (HTTP/1.0, `connection: close` from either side)
//!   is never parked, and hyper is asked to close only when it is idle: otherwise (an
//!   answer still being written) it just stops keeping alive, finishes and closes with a
//!   TLS close_notify.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;

use super::ClientIdentity;

/// Time allowed for a request head once its first bytes arrived.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `headers` ask for the connection to end after this exchange.
fn asks_close(headers: &hyper::HeaderMap) -> bool {
    headers.get_all(hyper::header::CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    })
}

/// What the stream wrapper tells the connection loop: requests in flight, and whether
/// hyper's last read found nothing.
#[derive(Debug, Default)]
struct Activity {
    /// Requests whose response body hyper has not dropped yet.
    in_flight: AtomicUsize,
    /// hyper's last read came back `Pending` with no request in flight.
    idle: AtomicBool,
    /// The current HTTP connection has received a request. hyper treats a connection as
    /// busy until its first exchange is over, and a graceful shutdown before that would
    /// only disable keep-alive (the next answer would say `connection: close`).
    served: AtomicBool,
    /// The current exchange ends the connection (HTTP/1.0, or `connection: close` asked by
    /// either side): hyper closes it after the answer, and it must not be parked.
    closing: AtomicBool,
    /// Requests received since the connection began: progress, for the stall deadline.
    requests: AtomicU64,
}

/// Counts a request in flight until the response body is dropped.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.idle.store(false, Ordering::Relaxed);
        activity.served.store(true, Ordering::Relaxed);
        activity.requests.fetch_add(1, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted in flight until hyper drops it.
struct Tracked {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The TLS stream as hyper sees it: first the bytes an earlier HTTP connection read ahead,
/// then the stream; its reads tell [`Activity`] when the connection went idle.
struct Resumed {
    prefix: Bytes,
    inner: Box<TlsStream<TcpStream>>,
    activity: Arc<Activity>,
}

impl AsyncRead for Resumed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            this.activity.idle.store(false, Ordering::Relaxed);
            return Poll::Ready(Ok(()));
        }
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let idle = polled.is_pending()
            && this.activity.served.load(Ordering::Relaxed)
            && this.activity.in_flight.load(Ordering::Relaxed) == 0;
        this.activity.idle.store(idle, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Resumed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Logs an HTTP connection that ended with an error; the connection is over.
fn break_err(identity: &ClientIdentity, e: hyper::Error) -> bool {
    tracing::debug!(peer = %identity.peer_addr, error = %e, "ingest connection ended with an error");
    false
}

/// How one HTTP connection over the stream ended.
enum Step {
    /// hyper finished (the agent closed, or an error); the connection is over.
    Ended(hyper::Result<()>),
    /// hyper went idle: shut it down and park.
    Idle,
}

/// Why [`serve`] returned, for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// The agent closed the connection, or an HTTP error ended it.
    ByPeer,
    /// Parked for longer than `idle_timeout` (or a parked request head ran out of time).
    IdleTimeout,
    /// No new request for `idle_timeout` plus [`HEADER_READ_TIMEOUT`] while hyper held the
    /// connection (e.g. a client that sends requests and never reads the answers).
    Stalled,
    /// The collector is shutting down.
    Shutdown,
}

/// Serves an authenticated agent's connection until the agent closes it, it stays idle for
/// `idle_timeout`, it makes no progress (see [`Closed::Stalled`]), or `stop` completes
/// (in-flight requests are finished first).
///
/// The stream comes boxed: an argument of an async fn keeps its room in the task for the
/// task's whole life, even once moved away, and the TLS state is 1.2 KB.
pub async fn serve<F>(
    stream: Box<TlsStream<TcpStream>>,
    identity: ClientIdentity,
    app: axum::Router,
    idle_timeout: Duration,
    stop: F,
) -> Closed
where
    F: Future<Output = ()>,
{
    let activity = Arc::new(Activity::default());
    let mut io = Resumed {
        prefix: Bytes::new(),
        inner: stream,
        activity: activity.clone(),
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    tokio::pin!(stop);
    // The first request follows the handshake at once: serve it without parking (rustls may
    // already hold its bytes, read together with the handshake).
    let mut park = false;
    loop {
        if park {
            // Bytes read ahead are the start of a head: it gets the header time.
            let deadline = Instant::now()
                + if io.prefix.is_empty() {
                    idle_timeout
                } else {
                    HEADER_READ_TIMEOUT
                };
            // Wait for the agent's next bytes; a wake-up that brings only TLS records (or
            // part of one) parks again, with the same deadline.
            loop {
                let readable = io.inner.get_ref().0.readable();
                tokio::select! {
                    woke = tokio::time::timeout_at(deadline, readable) => match woke {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return Closed::ByPeer,
                        Err(_) => return Closed::IdleTimeout,
                    },
                    () = &mut stop => return Closed::Shutdown,
                }
                // Read the first bytes here, so that hyper starts with a request to serve:
                // an HTTP connection that has served nothing cannot be parked again.
                // On the heap: an array here would be part of the parked task's size.
                let mut first = vec![0u8; 512];
                let mut buf = ReadBuf::new(&mut first);
                let polled = std::future::poll_fn(|cx| {
                    Poll::Ready(Pin::new(&mut io.inner).poll_read(cx, &mut buf))
                })
                .await;
                match polled {
                    Poll::Pending => continue,
                    Poll::Ready(Err(_)) => return Closed::ByPeer,
                    Poll::Ready(Ok(())) if buf.filled().is_empty() => return Closed::ByPeer,
                    Poll::Ready(Ok(())) => {
                        let n = buf.filled().len();
                        first.truncate(n);
                        io.prefix = if io.prefix.is_empty() {
                            Bytes::from(first)
                        } else {
                            [&io.prefix[..], &first[..]].concat().into()
                        };
                        break;
                    }
                }
            }
        }
        activity.served.store(false, Ordering::Relaxed);
        activity.idle.store(false, Ordering::Relaxed);
        let (app, for_requests, activity_s) = (app.clone(), identity.clone(), activity.clone());
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            let in_flight = InFlight::start(&activity_s);
            if request.version() != hyper::Version::HTTP_11 || asks_close(request.headers()) {
                activity_s.closing.store(true, Ordering::Relaxed);
            }
            request.extensions_mut().insert(for_requests.clone());
            let answer = app.clone().oneshot(request);
            let activity_r = activity_s.clone();
            // Boxed: poll_without_shutdown needs an Unpin service future.
            Box::pin(async move {
                let response = answer.await?;
                if asks_close(response.headers()) {
                    activity_r.closing.store(true, Ordering::Relaxed);
                }
                Ok::<_, std::convert::Infallible>(response.map(|inner| Tracked {
                    inner,
                    _in_flight: in_flight,
                }))
            })
        });
        // Boxed, as the handshake is: the connection task keeps the room of its largest
        // state for its whole life, and a parked connection should hold only its stream.
        let mut conn = Box::new(builder.serve_connection(TokioIo::new(io), service));
        // hyper has no write timeout: a client that stops reading the answers would keep
        // the connection forever. It must make progress (a new request) within this.
        let stall_window = idle_timeout + HEADER_READ_TIMEOUT;
        let mut stall_at = Instant::now() + stall_window;
        let mut requests_seen = activity.requests.load(Ordering::Relaxed);
        // Set once hyper was asked to finish: by the collector's stop, or on going idle
        // when hyper turned out not to be (it then closes after the exchange).
        let mut stopping = false;
        let mut closing = false;
        let parked = loop {
            let step = tokio::select! {
                // With shutdown (flush, TLS close_notify) when the connection ends here.
                step = std::future::poll_fn(|cx| match Pin::new(&mut *conn).poll(cx) {
                    Poll::Ready(r) => Poll::Ready(Step::Ended(r)),
                    Poll::Pending
                        if !closing
                            && !stopping
                            && activity.idle.load(Ordering::Relaxed)
                            && !activity.closing.load(Ordering::Relaxed) =>
                    {
                        Poll::Ready(Step::Idle)
                    }
                    Poll::Pending => Poll::Pending,
                }) => step,
                () = &mut stop, if !stopping => {
                    // Finish the request in flight, then close instead of keeping alive.
                    stopping = true;
                    Pin::new(&mut *conn).graceful_shutdown();
                    continue;
                }
                () = tokio::time::sleep_until(stall_at) => {
                    let seen = activity.requests.load(Ordering::Relaxed);
                    if seen == requests_seen {
                        return Closed::Stalled;
                    }
                    requests_seen = seen;
                    stall_at = Instant::now() + stall_window;
                    continue;
                }
            };
            match step {
                Step::Idle => {
                    // An idle hyper connection closes at once, writing nothing; one that is
                    // not (an answer still being written) only stops keeping alive, and is
                    // then left to finish and close.
                    Pin::new(&mut *conn).graceful_shutdown();
                    match std::future::poll_fn(|cx| Poll::Ready(conn.poll_without_shutdown(cx)))
                        .await
                    {
                        Poll::Ready(Ok(())) => break true,
                        Poll::Ready(Err(e)) => break break_err(&identity, e),
                        Poll::Pending => closing = true,
                    }
                }
                Step::Ended(Ok(())) => break false,
                Step::Ended(Err(e)) => break break_err(&identity, e),
            }
        };
        match parked {
            true => {
                let parts = conn.into_parts();
                io = parts.io.into_inner();
                // Copied: the bytes share hyper's 8 KiB read buffer, which an empty slice
                // of it would keep allocated for the whole park. They can only be the start
                // of a head (hyper parsed nothing of them), which gets HEADER_READ_TIMEOUT
                // parked; the next HTTP connection cannot park before answering it.
                io.prefix = if parts.read_buf.is_empty() {
                    Bytes::new()
                } else {
                    Bytes::copy_from_slice(&parts.read_buf)
                };
                park = true;
            }
            false if stopping => return Closed::Shutdown,
            false => return Closed::ByPeer,
        }
    }
}
