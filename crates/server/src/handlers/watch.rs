//! `GET /watch?prefix=` and `GET /keyspaces/{ks}/watch?prefix=`: the engine's change feed as
//! server-sent events (`text/event-stream`).
//!
//! Each watcher is one [`lsmkv::Subscription`] read by a thread of its own (`lsmkv-watch`):
//! `recv_timeout` blocks, so it never runs on an async worker, and a long-lived watcher does not
//! hold a thread of the blocking pool that engine calls share. The thread turns events into SSE
//! frames and hands them to the response body through a bounded channel; when the channel is
//! full (a slow client) the thread waits, the subscription's own queue fills up, and the client
//! gets `event: lagged` once it catches up. Writers never wait for a watcher.
//!
//! The thread ends, dropping the subscription (which unsubscribes) and then its [`Permit`], when
//! the client goes away (the body, the channel's receiver, is dropped), when the subscription
//! disconnects (keyspace dropped, database closed), or when the server shuts down
//! ([`Watchers::close`]): the stream then finishes, so graceful shutdown does not wait for it.
//!
//! Handlers return [`Resp`], whose body is a whole buffer; a watch response carries its stream
//! as a [`PendingStream`] extension instead, which [`into_body`] swaps in after the access log.
//! That keeps the other handlers' type as it is.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value as Json};
use tokio::sync::mpsc::{self, error::TrySendError};

use lsmkv::{Event, Subscription};

use super::context::{Ctx, Resp};
use crate::errors::ApiError;
use crate::json;

/// How often a watcher thread looks up from `recv_timeout` to notice a client that went away
/// or a server that is shutting down: the longest a shutdown waits for a watcher.
const TICK: Duration = Duration::from_millis(100);
/// Frames buffered between a watcher's thread and its connection.
const CHANNEL_FRAMES: usize = 64;
/// Largest `buffer` a client may ask for (events the subscription queues before it lags).
pub const MAX_BUFFER: usize = 65_536;

/// The watchers of a server: how many are open (bounded by `MAX_WATCHERS`), and whether the
/// server is shutting down.
#[derive(Debug, Default)]
pub struct Watchers {
    active: AtomicUsize,
    closing: AtomicBool,
}

impl Watchers {
    /// Open watch streams.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Ends every watch stream (within [`TICK`]) and refuses new ones: the server is shutting
    /// down.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// A place for one more watcher: 503 `too_many_watchers` past `max`, 503 `unavailable` while
    /// shutting down.
    fn acquire(self: &Arc<Self>, max: usize) -> Result<Permit, ApiError> {
        if self.closing() {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            ));
        }
        let taken = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            });
        match taken {
            Ok(_) => Ok(Permit(self.clone())),
            Err(_) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("too many open watch streams (MAX_WATCHERS = {max})"),
            )
            .with_code("too_many_watchers")),
        }
    }
}

/// One open watcher; counted in [`Watchers::active`] until dropped.
#[derive(Debug)]
struct Permit(Arc<Watchers>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The body of a watch response: SSE frames as the watcher's thread sends them; ends when the
/// thread does.
pub struct EventStream(mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|f| f.map(|b| Ok(Frame::data(b))))
    }
}

/// What the server sends: a whole body, or a watch stream.
pub type Body = Either<Full<Bytes>, EventStream>;

/// The stream of a watch response, carried as a response extension until [`into_body`]
/// (extensions must be `Clone`, hence the shared slot).
#[derive(Clone)]
pub struct PendingStream(Arc<parking_lot::Mutex<Option<mpsc::Receiver<Bytes>>>>);

/// The response as sent: its stream as the body when it has one (not for `HEAD`, whose
/// stream is dropped, ending its watcher).
pub fn into_body(mut resp: Resp, head: bool) -> Response<Body> {
    let stream = resp
        .extensions_mut()
        .remove::<PendingStream>()
        .and_then(|p| p.0.lock().take())
        .filter(|_| !head);
    resp.map(|full| match stream {
        Some(rx) => Either::Right(EventStream(rx)),
        None => Either::Left(full),
    })
}

/// The query of a watch route: the key prefix and the subscription's buffer.
fn parse_query(query: &str) -> Result<(Vec<u8>, usize), ApiError> {
    let mut prefix = None;
    let mut buffer = lsmkv::DEFAULT_FEED_CAPACITY;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let bytes = match k.as_ref() {
            "prefix" => v.as_bytes().to_vec(),
            "prefix_base64" => STANDARD
                .decode(v.as_bytes())
                .map_err(|_| ApiError::bad_request("`prefix_base64` is not valid base64"))?,
            "buffer" => {
                buffer = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_BUFFER).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "`buffer` must be a whole number from 1 to {MAX_BUFFER}"
                        ))
                    })?;
                continue;
            }
            _ => continue,
        };
        if prefix.replace(bytes).is_some() {
            return Err(ApiError::bad_request(
                "give one of `prefix` and `prefix_base64`",
            ));
        }
    }
    Ok((prefix.unwrap_or_default(), buffer))
}

/// `GET /watch` (`keyspace` is `None`: keyspace `default`) and
/// `GET /keyspaces/{ks}/watch`.
pub async fn watch(
    ctx: &Ctx,
    keyspace: Option<Vec<u8>>,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    let (prefix, buffer) = parse_query(req.uri().query().unwrap_or(""))?;
    let st = &ctx.state;
    let ks = match keyspace {
        None => st.keyspaces.default_keyspace()?,
        Some(raw) => {
            let name = String::from_utf8(raw)
                .map_err(|_| ApiError::bad_request("a keyspace name must be UTF-8"))?;
            st.keyspaces
                .get(&name)
                .ok_or_else(|| ApiError::keyspace_not_found(&name))?
        }
    };
    let permit = st.watchers.acquire(st.cfg.server.max_watchers)?;
    // `subscribe` may wait for a commit in progress: on the blocking pool.
    let sub = ctx
        .in_keyspace(&ks, move |ks| {
            Ok(ks.subscribe(prefix).with_capacity(buffer))
        })
        .await?;
    let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
    // A first comment, so that the client sees the stream open (the subscription is live).
    let _ = tx.try_send(Bytes::from_static(b": watching\n\n"));
    let keepalive = Duration::from_secs(st.cfg.server.watch_keepalive_secs);
    let watchers = st.watchers.clone();
    std::thread::Builder::new()
        .name("lsmkv-watch".into())
        .spawn(move || pump(sub, tx, &watchers, keepalive, permit))
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot start a watcher thread");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "cannot start a watcher")
        })?;
    let mut r = Response::new(Full::new(Bytes::new()));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) would otherwise buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r.extensions_mut()
        .insert(PendingStream(Arc::new(parking_lot::Mutex::new(Some(rx)))));
    Ok(r)
}

/// A watcher's thread: events of `sub` to `tx` as SSE frames, with a keep-alive comment after
/// `keepalive` without one, until the client, the subscription or the server ends it.
fn pump(
    sub: Subscription,
    tx: mpsc::Sender<Bytes>,
    watchers: &Watchers,
    keepalive: Duration,
    permit: Permit,
) {
    let mut last_sent = Instant::now();
    while !watchers.closing() && !tx.is_closed() {
        let frame = match sub.recv_timeout(TICK) {
            Ok(event) => match frame(&event) {
                Some(f) => f,
                None => continue,
            },
            Err(RecvTimeoutError::Timeout) if last_sent.elapsed() >= keepalive => {
                Bytes::from_static(b": keep-alive\n\n")
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if !send(&tx, frame, watchers) {
            break;
        }
        last_sent = Instant::now();
    }
    // Unsubscribe, end the body, then free the place: `Watchers::active` never counts less
    // than the live subscriptions.
    drop(sub);
    drop(tx);
    drop(permit);
}

/// Sends `frame`, waiting while the channel is full (a slow client) unless the server shuts
/// down. False when the stream is over.
fn send(tx: &mpsc::Sender<Bytes>, mut frame: Bytes, watchers: &Watchers) -> bool {
    loop {
        match tx.try_send(frame) {
            Ok(()) => return true,
            Err(TrySendError::Closed(_)) => return false,
            Err(TrySendError::Full(f)) => {
                if watchers.closing() {
                    return false;
                }
                frame = f;
                std::thread::sleep(TICK / 5);
            }
        }
    }
}

/// The SSE frame of `event`: `event:` kind, `id:` the version (not for `lagged`), `data:` one
/// line of JSON. `None` for an event kind this server does not know.
fn frame(event: &Event) -> Option<Bytes> {
    let (kind, id, data) = match event {
        Event::Change(c) => {
            let (kind, mut o) = match &c.value {
                Some(v) => ("put", json::item(&c.key, v)),
                None => ("delete", json::absent_item(&c.key)),
            };
            if let Json::Object(m) = &mut o {
                if c.value.is_none() {
                    m.remove("value");
                }
                m.insert("version".into(), c.seqno.into());
                m.insert("keyspace".into(), c.keyspace.clone().into());
                if let Some(at) = c.expires_at {
                    m.insert("expires_at".into(), at.into());
                }
            }
            (kind, Some(c.seqno), o)
        }
        Event::RangeDelete {
            seqno,
            keyspace,
            start,
            end,
        } => {
            let mut m = Map::new();
            json::put_bytes(&mut m, "start", start);
            match end {
                Some(e) => json::put_bytes(&mut m, "end", e),
                None => {
                    m.insert("end".into(), Json::Null);
                }
            }
            m.insert("version".into(), (*seqno).into());
            m.insert("keyspace".into(), keyspace.clone().into());
            ("range_delete", Some(*seqno), Json::Object(m))
        }
        Event::Lagged { missed } => ("lagged", None, serde_json::json!({ "missed": missed })),
        _ => return None,
    };
    // serde_json escapes control characters, so the data is one line.
    let mut out = format!("event: {kind}\n");
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    out.push_str(&format!("data: {data}\n\n"));
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query() {
        assert_eq!(
            parse_query("").unwrap(),
            (vec![], lsmkv::DEFAULT_FEED_CAPACITY)
        );
        assert_eq!(
            parse_query("prefix=a%2Fb&buffer=2").unwrap(),
            (b"a/b".to_vec(), 2)
        );
        assert_eq!(
            parse_query("prefix_base64=%2FwA%3D").unwrap().0,
            vec![0xff, 0]
        );
        assert!(parse_query("prefix=a&prefix_base64=YQ==").is_err());
        assert!(parse_query("buffer=0").is_err());
        assert!(parse_query("prefix_base64=!").is_err());
    }

    /// Frames of every kind of event, from the engine's own feed (no HTTP route writes range
    /// deletes or expiring puts yet; the stream itself is tested in `tests/server_watch.rs`).
    #[test]
    fn frames_of_the_engines_events() {
        let dir = tempfile::tempdir().unwrap();
        let db = lsmkv::Db::open(dir.path(), lsmkv::Options::default()).unwrap();
        let sub = db.subscribe(b"u").with_capacity(1);
        db.put(b"u1", b"v").unwrap();
        db.delete_range(&b"u"[..]..&b"u\xff"[..]).unwrap();
        db.delete_prefix(b"u").unwrap();
        let next = || {
            let e = sub.recv_timeout(Duration::from_secs(5)).unwrap();
            String::from_utf8(frame(&e).unwrap().to_vec()).unwrap()
        };
        assert_eq!(
            next(),
            "event: put\nid: 1\ndata: {\"key\":\"u1\",\"keyspace\":\"default\",\"value\":\"v\",\"version\":1}\n\n"
        );
        // The queue held one event: the others were counted.
        assert_eq!(next(), "event: lagged\ndata: {\"missed\":2}\n\n");
        db.delete_range(&b"u"[..]..&b"u\xff"[..]).unwrap();
        assert_eq!(
            next(),
            "event: range_delete\nid: 4\ndata: {\"end_base64\":\"df8=\",\"keyspace\":\"default\",\"start\":\"u\",\"version\":4}\n\n"
        );
        db.delete_prefix(b"u").unwrap();
        let f = next();
        assert!(f.starts_with("event: range_delete\nid: 5\n"), "{f}");
        assert!(f.contains("\"end\":\"v\""), "{f}");
        db.put_with_ttl(b"u2", b"w", Duration::from_secs(3600))
            .unwrap();
        let f = next();
        assert!(
            f.starts_with("event: put\nid: 6\n") && f.contains("\"expires_at\":"),
            "{f}"
        );
        db.delete(b"u2").unwrap();
        assert_eq!(
            next(),
            "event: delete\nid: 7\ndata: {\"key\":\"u2\",\"keyspace\":\"default\",\"version\":7}\n\n"
        );
    }

    #[test]
    fn permits_are_bounded_and_returned() {
        let w = Arc::new(Watchers::default());
        let a = w.acquire(1).unwrap();
        assert_eq!(w.acquire(1).unwrap_err().code, "too_many_watchers");
        drop(a);
        let _b = w.acquire(1).unwrap();
        w.close();
        assert_eq!(w.acquire(2).unwrap_err().code, "unavailable");
    }
}
