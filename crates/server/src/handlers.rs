//! Request handlers. Each engine call runs on tokio's blocking pool (`Ctx::engine`), never on an
//! async worker, under the request's deadline.

use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value as Json, json};
use tokio::time::{Instant, timeout_at};

use crate::errors::ApiError;
use crate::json;
use crate::keyspace::{self, FLAG, USER, flag_key, strip, user_key};
use crate::state::AppState;
use lsmkv::{Db, WriteBatch};

pub type Resp = Response<Full<Bytes>>;
type Items = Vec<(Vec<u8>, Vec<u8>)>;

/// One request's context.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub deadline: Instant,
}

impl Ctx {
    /// Runs `f` on the blocking pool; 503 when the request's deadline passes first.
    async fn engine<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
    {
        let db = self.state.db.clone();
        match timeout_at(self.deadline, tokio::task::spawn_blocking(move || f(&db))).await {
            Err(_) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request timed out (REQUEST_TIMEOUT_MS)",
            )),
            Ok(Err(join)) => Err(join.into()),
            Ok(Ok(r)) => r,
        }
    }

    /// Reads the whole body, refusing it past `limit` bytes while reading (413) and when the
    /// deadline passes (408).
    async fn body(&self, req: Request<Incoming>, limit: usize) -> Result<Bytes, ApiError> {
        if let Some(len) = req.headers().get(CONTENT_LENGTH)
            && let Some(len) = len.to_str().ok().and_then(|s| s.parse::<u64>().ok())
            && len > limit as u64
        {
            return Err(ApiError::too_large(limit));
        }
        let body = Limited::new(req.into_body(), limit);
        match timeout_at(self.deadline, body.collect()).await {
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timed out reading the request body (REQUEST_TIMEOUT_MS)",
            )),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                Err(ApiError::too_large(limit))
            }
            Ok(Err(_)) => Err(ApiError::bad_request("could not read the request body")),
            Ok(Ok(c)) => Ok(c.to_bytes()),
        }
    }

    async fn json_body(&self, req: Request<Incoming>) -> Result<Json, ApiError> {
        let limit = self.state.cfg.server.max_json_payload_size;
        let body = self.body(req, limit).await?;
        json::parse(&body)
    }
}

/// A JSON response.
pub fn json_response(status: StatusCode, v: &Json) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub fn error_response(e: &ApiError) -> Resp {
    json_response(e.status, &e.body())
}

// ---- keys ----

pub async fn post_key(ctx: &Ctx, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let v = ctx.json_body(req).await?;
    let (key, value) = json::key_value(&v, "")?;
    let out = json::item(&key, &value);
    ctx.engine(move |db| Ok(db.put(user_key(&key), value)?))
        .await?;
    Ok(json_response(StatusCode::OK, &out))
}

pub async fn put_raw(ctx: &Ctx, req: Request<Incoming>, key: Vec<u8>) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    // Raw values are bounded by the engine's MAX_VALUE_SIZE rather than the JSON limit.
    let limit = ctx.state.db.options().max_value_size;
    let value = ctx.body(req, limit).await?;
    ctx.engine(move |db| Ok(db.put(user_key(&key), value)?))
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn get_key(ctx: &Ctx, req: &Request<Incoming>, key: Vec<u8>) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let raw = req
        .headers()
        .get(ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/octet-stream"));
    let k = key.clone();
    let found = ctx.engine(move |db| Ok(db.get(user_key(&k))?)).await?;
    let Some(value) = found else {
        return Err(ApiError::not_found("key not found"));
    };
    if raw {
        let mut r = Response::new(Full::new(value.into_bytes()));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        return Ok(r);
    }
    Ok(json_response(StatusCode::OK, &json::item(&key, &value)))
}

pub async fn delete_key(ctx: &Ctx, key: Vec<u8>) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    ctx.engine(move |db| Ok(db.delete(user_key(&key))?)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub async fn batch(ctx: &Ctx, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let v = ctx.json_body(req).await?;
    let entries = json::batch(&v, ctx.state.cfg.server.max_batch_entries)?;
    let n = entries.len();
    ctx.engine(move |db| {
        let mut b = WriteBatch::new();
        for (k, v) in entries {
            b.put(user_key(&k), v);
        }
        Ok(db.write(b)?)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!({ "written": n })))
}

// ---- listing and search ----

/// Query parameters of the listing and search routes.
struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    fn parse(req: &Request<Incoming>) -> Query {
        let q = req.uri().query().unwrap_or("");
        Query {
            pairs: form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        }
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn limit(&self, state: &AppState) -> Result<usize, ApiError> {
        let s = &state.cfg.server;
        match self.get("limit") {
            None | Some("") => Ok(s.default_page_limit),
            Some(v) => match v.parse::<usize>() {
                Ok(0) | Err(_) => Err(ApiError::bad_request(
                    "`limit` must be a whole number of at least 1",
                )),
                Ok(n) => Ok(n.min(s.search_max_limit)),
            },
        }
    }
    fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(ApiError::bad_request(format!(
                "`{name}` must be true or false"
            ))),
        }
    }
    fn cursor(&self) -> Result<Option<Vec<u8>>, ApiError> {
        self.get("cursor")
            .filter(|c| !c.is_empty())
            .map(json::decode_cursor)
            .transpose()
    }
}

/// Up to `limit` user entries in the engine range `(lo, hi)`, and the cursor of the next page.
fn scan(
    db: &Db,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    reverse: bool,
    limit: usize,
) -> Result<(Items, Option<Vec<u8>>), ApiError> {
    let it = db.range((lo, hi));
    let it: Box<dyn Iterator<Item = lsmkv::Result<(lsmkv::Key, lsmkv::Value)>>> = if reverse {
        Box::new(it.rev())
    } else {
        Box::new(it)
    };
    let mut items = Vec::new();
    let mut more = false;
    for kv in it {
        let (k, v) = kv?;
        if items.len() == limit {
            more = true;
            break;
        }
        items.push((strip(&k).to_vec(), v.to_vec()));
    }
    let next = if more {
        items.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    Ok((items, next))
}

fn bound_param(v: Option<&str>, inclusive: bool) -> Bound<Vec<u8>> {
    match v {
        None | Some("") => Bound::Unbounded,
        Some(s) if inclusive => Bound::Included(s.as_bytes().to_vec()),
        Some(s) => Bound::Excluded(s.as_bytes().to_vec()),
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Applies a cursor (the last key of the previous page) to user bounds.
fn resume(
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    cursor: Option<Vec<u8>>,
    reverse: bool,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    match (cursor, reverse) {
        (None, _) => (lower, upper),
        (Some(c), false) => (Bound::Excluded(c), upper),
        (Some(c), true) => (lower, Bound::Excluded(c)),
    }
}

/// `GET /keys?start=&end=&limit=&reverse=&cursor=`: `start` inclusive, `end` exclusive.
pub async fn list(ctx: &Ctx, req: &Request<Incoming>) -> Result<Resp, ApiError> {
    let q = Query::parse(req);
    let limit = q.limit(&ctx.state)?;
    let reverse = q.flag("reverse")?;
    let (lower, upper) = resume(
        bound_param(q.get("start"), true),
        bound_param(q.get("end"), false),
        q.cursor()?,
        reverse,
    );
    let (items, next) = ctx
        .engine(move |db| {
            let (lo, hi) = keyspace::bounds(USER, as_ref(&lower), as_ref(&upper));
            scan(db, lo, hi, reverse, limit)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json::page(&items, next.as_deref()),
    ))
}

/// `GET /keys/search/prefix?q=&limit=&cursor=&reverse=`.
pub async fn search_prefix(ctx: &Ctx, req: &Request<Incoming>) -> Result<Resp, ApiError> {
    let q = Query::parse(req);
    let prefix = q
        .get("q")
        .ok_or_else(|| ApiError::bad_request("missing query parameter `q`"))?
        .as_bytes()
        .to_vec();
    let limit = q.limit(&ctx.state)?;
    let reverse = q.flag("reverse")?;
    let upper = keyspace::prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let (lower, upper) = resume(Bound::Included(prefix), upper, q.cursor()?, reverse);
    let (items, next) = ctx
        .engine(move |db| {
            let (lo, hi) = keyspace::bounds(USER, as_ref(&lower), as_ref(&upper));
            scan(db, lo, hi, reverse, limit)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json::page(&items, next.as_deref()),
    ))
}

/// `GET /keys/search/substring?q=&limit=&cursor=`: keys or values containing `q`, in key order.
/// One request examines at most SEARCH_SCAN_LIMIT entries; when it stops early, `next` resumes
/// the scan (the page may then hold fewer than `limit` items, even none).
pub async fn search_substring(ctx: &Ctx, req: &Request<Incoming>) -> Result<Resp, ApiError> {
    let q = Query::parse(req);
    let needle = match q.get("q") {
        None | Some("") => return Err(ApiError::bad_request("missing query parameter `q`")),
        Some(s) => s.as_bytes().to_vec(),
    };
    let limit = q.limit(&ctx.state)?;
    let budget = ctx.state.cfg.server.search_scan_limit;
    let lower = q.cursor()?.map_or(Bound::Unbounded, Bound::Excluded);
    let (items, next) = ctx
        .engine(move |db| {
            let finder = memchr::memmem::Finder::new(&needle);
            let (lo, hi) = keyspace::bounds(USER, as_ref(&lower), Bound::Unbounded);
            let mut items: Items = Vec::new();
            let mut last: Option<Vec<u8>> = None;
            for (scanned, kv) in db.range((lo, hi)).enumerate() {
                let (k, v) = kv?;
                if items.len() == limit || scanned == budget {
                    // More entries exist: resume after the last one examined.
                    return Ok((items, last));
                }
                let user = strip(&k);
                if finder.find(user).is_some() || finder.find(&v).is_some() {
                    items.push((user.to_vec(), v.to_vec()));
                }
                last = Some(user.to_vec());
            }
            Ok((items, None))
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json::page(&items, next.as_deref()),
    ))
}

// ---- stats ----

fn pick(stats: &Json, fields: &[&str]) -> Json {
    let mut o = serde_json::Map::new();
    for f in fields {
        if let Some(v) = stats.get(*f) {
            o.insert((*f).to_string(), v.clone());
        }
    }
    Json::Object(o)
}

const MEMORY_FIELDS: &[&str] = &[
    "memtable_bytes",
    "memtable_entries",
    "immutable_memtables",
    "immutable_memtable_bytes",
    "block_cache",
];
const DISK_FIELDS: &[&str] = &[
    "levels",
    "sst_files",
    "sst_bytes",
    "wal_segments",
    "wal_bytes",
    "wal_current_segment",
    "flushes",
    "flush_bytes_written",
    "wal_bytes_written",
    "wal_syncs",
];

pub async fn stats(ctx: &Ctx, which: &'static str) -> Result<Resp, ApiError> {
    let (engine, options) = ctx
        .engine(|db| {
            let s = serde_json::to_value(db.stats()).map_err(|_| ApiError::internal())?;
            let o = serde_json::to_value(db.options()).map_err(|_| ApiError::internal())?;
            Ok((s, o))
        })
        .await?;
    let body = match which {
        "memory" => pick(&engine, MEMORY_FIELDS),
        "disk" => pick(&engine, DISK_FIELDS),
        _ => {
            let st = &ctx.state;
            let m = &st.metrics;
            let ld =
                |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            json!({
                "engine": engine,
                "memory": pick(&engine, MEMORY_FIELDS),
                "disk": pick(&engine, DISK_FIELDS),
                "server": {
                    "uptime_ms": st.started.elapsed().as_millis() as u64,
                    "workers": tokio::runtime::Handle::current().metrics().num_workers(),
                    "requests_total": m.requests_total(),
                    "connections_open": ld(&m.connections_open),
                    "connections_total": ld(&m.connections_total),
                    "connections_rejected": ld(&m.connections_rejected),
                    "config": st.cfg.to_json(),
                },
                "options": options,
            })
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

pub async fn metrics(ctx: &Ctx) -> Result<Resp, ApiError> {
    if !ctx.state.cfg.server.metrics_enabled {
        return Err(ApiError::not_found(
            "metrics are disabled (METRICS_ENABLED)",
        ));
    }
    let engine = ctx
        .engine(|db| serde_json::to_value(db.stats()).map_err(|_| ApiError::internal()))
        .await?;
    let text = ctx
        .state
        .metrics
        .render(&engine, ctx.state.started.elapsed());
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

// ---- feature flags ----

fn flag_json(id: &[u8], enabled: bool, version: u64) -> Json {
    json!({ "id": String::from_utf8_lossy(id), "enabled": enabled, "version": version })
}

/// Decodes a stored flag value.
fn read_flag(raw: &[u8]) -> Result<(bool, u64), ApiError> {
    let v: Json = serde_json::from_slice(raw).map_err(|e| {
        tracing::error!(error = %e, "stored feature flag is not valid JSON");
        ApiError::internal()
    })?;
    match (
        v.get("enabled").and_then(Json::as_bool),
        v.get("version").and_then(Json::as_u64),
    ) {
        (Some(e), Some(n)) => Ok((e, n)),
        _ => {
            tracing::error!("stored feature flag lacks `enabled` or `version`");
            Err(ApiError::internal())
        }
    }
}

fn check_flag_id(id: &[u8]) -> Result<(), ApiError> {
    json::check_key(id).map_err(|e| ApiError::bad_request(e.message.replace("key", "flag id")))?;
    if std::str::from_utf8(id).is_err() {
        return Err(ApiError::bad_request("flag id must be UTF-8"));
    }
    Ok(())
}

pub async fn list_features(ctx: &Ctx) -> Result<Resp, ApiError> {
    let flags = ctx
        .engine(|db| {
            let (lo, hi) = keyspace::bounds(FLAG, Bound::Unbounded, Bound::Unbounded);
            let mut out = Vec::new();
            for kv in db.range((lo, hi)) {
                let (k, v) = kv?;
                let (enabled, version) = read_flag(&v)?;
                out.push(flag_json(strip(&k), enabled, version));
            }
            Ok(out)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "features": flags })))
}

pub async fn get_feature(ctx: &Ctx, id: Vec<u8>) -> Result<Resp, ApiError> {
    check_flag_id(&id)?;
    let k = flag_key(&id);
    let found = ctx.engine(move |db| Ok(db.get(&k)?)).await?;
    match found {
        None => Err(ApiError::not_found("feature flag not found")),
        Some(v) => {
            let (enabled, version) = read_flag(&v)?;
            Ok(json_response(
                StatusCode::OK,
                &flag_json(&id, enabled, version),
            ))
        }
    }
}

/// `POST /features/{id}` `{"enabled": bool, "version": N}`: `N` is the version the client last
/// read (0 for a flag that does not exist yet). When it is current, the flag is written with
/// version `N + 1` (201 when created, 200 when updated); otherwise 409 with `current_version`.
/// The read-compare-write runs under one mutex, so of two racing writers of the same version
/// exactly one wins.
pub async fn post_feature(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: Vec<u8>,
) -> Result<Resp, ApiError> {
    check_flag_id(&id)?;
    let v = ctx.json_body(req).await?;
    let (enabled, expected) = json::flag_update(&v)?;
    let state = ctx.state.clone();
    let k = flag_key(&id);
    let (status, version) = ctx
        .engine(move |db| {
            let _serialised = state.flag_lock.lock();
            let current = match db.get(&k)? {
                None => 0,
                Some(raw) => read_flag(&raw)?.1,
            };
            if current != expected {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    format!("version conflict: the flag is at version {current}, not {expected}"),
                );
                e.extra = Some(json!({ "current_version": current }));
                return Err(e);
            }
            let next = current
                .checked_add(1)
                .ok_or_else(|| ApiError::bad_request("flag version overflow"))?;
            let stored = json!({ "enabled": enabled, "version": next });
            db.put(
                &k,
                serde_json::to_vec(&stored).map_err(|_| ApiError::internal())?,
            )?;
            let status = if current == 0 {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, next))
        })
        .await?;
    Ok(json_response(status, &flag_json(&id, enabled, version)))
}

pub async fn health(ctx: &Ctx) -> Result<Resp, ApiError> {
    let _ = ctx;
    Ok(json_response(StatusCode::OK, &json!({ "status": "ok" })))
}
