//! [`JsonParseErrors`]: the connection's I/O as hyper sees it, which gives the answers hyper
//! sends by itself to requests it cannot parse (400, 414 URI Too Long, 431), before any handler
//! runs and with an empty body, the JSON error body every other error has.

use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

/// The JSON answer that replaces hyper's empty one of `status`.
fn replacement(status: u16) -> Option<Vec<u8>> {
    let (reason, body): (&str, &[u8]) = match status {
        400 => (
            "Bad Request",
            br#"{"error":"malformed HTTP request","code":"bad_request"}"#,
        ),
        414 => (
            "URI Too Long",
            br#"{"error":"request URI too long (the limit is 65534 bytes); read long keys with POST /keys/get","code":"uri_too_long"}"#,
        ),
        431 => (
            "Request Header Fields Too Large",
            br#"{"error":"too many or too large header fields","code":"headers_too_large"}"#,
        ),
        _ => return None,
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    Some(out)
}

/// hyper's own answer to a request it could not parse: a 400, 414 or 431 head without
/// `content-type` (every answer of the handlers has one, so they are left alone), and what
/// replaces it.
fn automatic(buf: &[u8]) -> Option<Vec<u8>> {
    let rest = buf.strip_prefix(b"HTTP/1.1 ")?;
    let status: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    if !matches!(status, 400 | 414 | 431) {
        return None;
    }
    let head_end = memchr::memmem::find(buf, b"\r\n\r\n")?;
    let head = buf.get(..head_end)?.to_ascii_lowercase();
    if memchr::memmem::find(&head, b"\r\ncontent-type:").is_some() {
        return None;
    }
    replacement(status)
}

/// Passes everything through, except hyper's automatic answers to requests it cannot parse
/// (see [`automatic`]), which are replaced as a whole.
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
        if this.pending.is_none()
            && let Some(out) = automatic(buf)
        {
            this.pending = Some((out, 0));
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
