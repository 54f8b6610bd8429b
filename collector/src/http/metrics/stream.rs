//! A scrape's exposition as a streamed HTTP body.
//!
//! The encoder runs on the blocking pool and writes into a [`ChunkWriter`]; every
//! [`CHUNK_BYTES`] of text becomes one chunk (gzip-compressed when the scraper accepts it)
//! sent through a channel of [`CHUNKS_IN_FLIGHT`] to the [`StreamedBody`] that hyper sends.
//! A slow scraper makes the encoder wait (the channel is full), so a scrape holds at most
//! a few chunks beyond its snapshot of the shared state, never the whole exposition (at 10,000
//! hosts with full detail that is over 200 MB of text).
//!
//! A stream that stops early (the scraper hung up, `metrics.scrape_timeout` passed, or the
//! encoder failed) ends the body with an error, so hyper aborts the response instead of
//! ending it cleanly: a scraper never mistakes a cut exposition for a whole one.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::gzip::Gzip;

/// Text per chunk. Large enough that the per-chunk costs (a channel message, an HTTP chunk
/// header; gzip is not flushed per chunk, so the ratio does not suffer) vanish, small enough
/// that a few in flight are nothing beside the host table.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting for the socket at most; the encoder waits beyond.
pub(crate) const CHUNKS_IN_FLIGHT: usize = 4;
/// gzip level of `/metrics`: level 1 compresses an exposition 13.5 times at 700 MB/s,
/// level 3 18 times at 200 MB/s, level 6 21 times at 85 MB/s (one core, 42 MB exposition;
/// `docs/benchmarks.md`, "/metrics at province size"). Every 15 s, the CPU matters more than
/// the last third of the bytes on a management network.
pub(crate) const GZIP_LEVEL: u8 = 1;

/// One message of the channel.
#[derive(Debug)]
enum Msg {
    /// The next bytes of the body.
    Data(Bytes),
    /// The exposition is complete: the body ends cleanly.
    Done,
}

/// Why a stream stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// The body was dropped: the scraper closed the connection.
    Gone,
    /// `metrics.scrape_timeout` passed before the scraper took the rest.
    Timeout,
    /// The encoder reported an error of its own.
    Encoding,
}

/// The text sink of one scrape's encoder: cuts the text into chunks and sends them.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    text: String,
    gzip: Option<Gzip>,
    tx: mpsc::Sender<Msg>,
    deadline: Instant,
    runtime: Handle,
    sent_bytes: u64,
    stopped: Option<Stopped>,
}

/// A writer and the body it feeds. The writer must be used off the runtime (on the
/// blocking pool): it blocks while the channel is full. `gzip` compresses the body.
pub(crate) fn channel(
    deadline: Instant,
    gzip: bool,
    runtime: Handle,
) -> (ChunkWriter, StreamedBody) {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let writer = ChunkWriter {
        text: String::with_capacity(CHUNK_BYTES),
        gzip: gzip.then(|| Gzip::new(GZIP_LEVEL)),
        tx,
        deadline,
        runtime,
        sent_bytes: 0,
        stopped: None,
    };
    (writer, StreamedBody { rx, done: false })
}

impl fmt::Write for ChunkWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.stopped.is_some() {
            return Err(fmt::Error);
        }
        self.text.push_str(s);
        if self.text.len() >= CHUNK_BYTES {
            self.flush_chunk()?;
        }
        Ok(())
    }
}

impl ChunkWriter {
    /// Sends the text written so far (compressed, when gzip is on).
    fn flush_chunk(&mut self) -> fmt::Result {
        let bytes = match &mut self.gzip {
            None => Bytes::from(std::mem::replace(
                &mut self.text,
                String::with_capacity(CHUNK_BYTES),
            )),
            Some(gz) => {
                // What the compressor outputs for this text; it keeps its window and state.
                let mut out = Vec::new();
                if gz.write(self.text.as_bytes(), &mut out).is_err() {
                    return self.stop(Stopped::Encoding);
                }
                self.text.clear();
                Bytes::from(out)
            }
        };
        if bytes.is_empty() {
            return Ok(());
        }
        self.sent_bytes += bytes.len() as u64;
        self.send(Msg::Data(bytes))
    }

    fn send(&mut self, msg: Msg) -> fmt::Result {
        let sent = self
            .runtime
            .block_on(async { tokio::time::timeout_at(self.deadline, self.tx.send(msg)).await });
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => self.stop(Stopped::Gone),
            Err(_) => self.stop(Stopped::Timeout),
        }
    }

    fn stop(&mut self, why: Stopped) -> fmt::Result {
        self.stopped = Some(why);
        Err(fmt::Error)
    }

    /// Ends the body after the encoder returned `encoded`: the rest of the text and the
    /// gzip trailer, then the clean end. Returns the body bytes sent, or why the stream
    /// stopped early (then the body ends with an error).
    pub(crate) fn finish(mut self, encoded: fmt::Result) -> Result<u64, Stopped> {
        if let Some(why) = self.stopped {
            return Err(why);
        }
        if encoded.is_err() {
            return Err(Stopped::Encoding);
        }
        let flushed = self.flush_chunk();
        if let Some(gz) = self.gzip.take() {
            if flushed.is_err() {
                return Err(self.stopped.unwrap_or(Stopped::Encoding));
            }
            let mut tail = Vec::new();
            if gz.finish(&mut tail).is_err() {
                return Err(Stopped::Encoding);
            }
            if !tail.is_empty() {
                self.sent_bytes += tail.len() as u64;
                let _ = self.send(Msg::Data(Bytes::from(tail)));
            }
        }
        if let Some(why) = self.stopped {
            return Err(why);
        }
        match self.send(Msg::Done) {
            Ok(()) => Ok(self.sent_bytes),
            Err(_) => Err(self.stopped.unwrap_or(Stopped::Encoding)),
        }
    }
}

/// The body of one scrape: the chunks as they come, an error if the writer went away
/// before the end.
#[derive(Debug)]
pub(crate) struct StreamedBody {
    rx: mpsc::Receiver<Msg>,
    done: bool,
}

impl Body for StreamedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match ready!(self.rx.poll_recv(cx)) {
            Some(Msg::Data(bytes)) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            Some(Msg::Done) => {
                self.done = true;
                Poll::Ready(None)
            }
            None => {
                self.done = true;
                Poll::Ready(Some(Err(std::io::Error::other(
                    "the /metrics exposition stopped before its end",
                ))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::io::Read as _;
    use std::time::Duration;

    use http_body_util::BodyExt;

    use super::*;

    /// Writes `pieces` from a blocking thread, as the encoder does, and collects the body.
    async fn run(
        pieces: Vec<String>,
        gzip: bool,
    ) -> (Result<u64, Stopped>, Result<Vec<u8>, std::io::Error>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut writer, body) = channel(deadline, gzip, Handle::current());
        let task = tokio::task::spawn_blocking(move || {
            let encoded = pieces.iter().try_for_each(|p| writer.write_str(p));
            writer.finish(encoded)
        });
        let collected = body.collect().await.map(|c| c.to_bytes().to_vec());
        (task.await.unwrap(), collected)
    }

    fn pieces() -> Vec<String> {
        // 3.2 MB in uneven pieces: many chunks, and pieces that cross chunk boundaries.
        (0..40_000)
            .map(|i| format!("zerofault_host_up{{agent=\"a-{i}\"}} {}\n", i % 2).repeat(1 + i % 3))
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn plain_chunks_are_the_text_in_order() {
        let text: String = pieces().concat();
        let (sent, body) = run(pieces(), false).await;
        let body = body.unwrap();
        assert_eq!(sent, Ok(text.len() as u64));
        assert_eq!(body, text.as_bytes());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gzip_chunks_decode_to_the_text() {
        let text: String = pieces().concat();
        let (sent, body) = run(pieces(), true).await;
        let body = body.unwrap();
        assert_eq!(sent, Ok(body.len() as u64));
        assert!(
            body.len() * 5 < text.len(),
            "{} -> {}",
            text.len(),
            body.len()
        );
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut decoded)
            .unwrap();
        assert_eq!(decoded, text);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_encoding_error_ends_the_body_with_an_error() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut writer, body) = channel(deadline, false, Handle::current());
        let task = tokio::task::spawn_blocking(move || {
            writer.write_str(&"x".repeat(3 * CHUNK_BYTES)).unwrap();
            writer.finish(Err(fmt::Error))
        });
        assert!(body.collect().await.is_err());
        assert_eq!(task.await.unwrap(), Err(Stopped::Encoding));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_body_stops_the_encoder() {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (mut writer, body) = channel(deadline, false, Handle::current());
        drop(body);
        let result = tokio::task::spawn_blocking(move || {
            let encoded = (0..100).try_for_each(|_| writer.write_str(&"y".repeat(CHUNK_BYTES)));
            assert!(
                encoded.is_err(),
                "the first full chunk finds nobody to take it"
            );
            writer.finish(encoded)
        })
        .await
        .unwrap();
        assert_eq!(result, Err(Stopped::Gone));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scraper_that_stops_reading_is_cut_off_at_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(300);
        let (mut writer, body) = channel(deadline, false, Handle::current());
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            // Never read: the channel fills after CHUNKS_IN_FLIGHT chunks.
            let encoded = (0..100).try_for_each(|_| writer.write_str(&"z".repeat(CHUNK_BYTES)));
            writer.finish(encoded)
        })
        .await
        .unwrap();
        assert_eq!(result, Err(Stopped::Timeout));
        assert!(started.elapsed() < Duration::from_secs(5));
        // What was queued is still there, then the error instead of a clean end.
        let mut body = body;
        let mut frames = 0;
        let end = loop {
            match body.frame().await {
                Some(Ok(_)) => frames += 1,
                other => break other,
            }
        };
        assert_eq!(frames, CHUNKS_IN_FLIGHT);
        assert!(matches!(end, Some(Err(_))), "{end:?}");
    }
}
