//! [`JsonParseErrors`]: the connection's I/O as hyper sees it, which gives hyper's automatic
//! `414 URI Too Long` (sent by hyper itself, before any handler runs, with an empty body) the
//! JSON error body every other error has.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

/// What replaces hyper's empty 414.
fn uri_too_long() -> Vec<u8> {
    let body = br#"{"error":"request URI too long (the limit is 65534 bytes); read long keys with POST /keys/get","code":"uri_too_long"}"#;
    let mut out = format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Passes everything through, except a response head that starts with `HTTP/1.1 414 `: the
/// server's handlers never answer 414, so that is hyper's automatic answer to a request line too
/// long to parse, and it is replaced as a whole.
pub struct JsonParseErrors<I> {
    inner: I,
    /// The replacement being written, and how much of it is.
    pending: Option<(Vec<u8>, usize)>,
}

impl<I> JsonParseErrors<I> {
    pub fn new(inner: I) -> Self {
        JsonParseErrors {
            inner,
            pending: None,
        }
    }
}

impl<I: Read + Unpin> Read for JsonParseErrors<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for JsonParseErrors<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.pending.is_none() && buf.starts_with(b"HTTP/1.1 414 ") {
            this.pending = Some((uri_too_long(), 0));
        }
        let Some((out, done)) = &mut this.pending else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        while *done < out.len() {
            match Pin::new(&mut this.inner).poll_write(cx, &out[*done..]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => *done += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        this.pending = None;
        // hyper's head counts as written: it was replaced.
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
