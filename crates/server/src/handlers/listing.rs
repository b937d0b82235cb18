//! Listings and searches, one page at a time with a `next` cursor: `GET /keys` (a range or a
//! prefix; `keys_only=true` leaves the values out, `count=true` counts instead of listing),
//! `GET /keys/search/prefix`, `GET /keys/search/substring`; the same under
//! `/keyspaces/{ks}/keys`. [`requested`] parses the range a request names, for listings, counts
//! and range deletes alike.

use std::ops::Bound;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lsmkv::Keyspace;
use serde_json::{Value as Json, json};

use super::context::{Ctx, Resp, json_response};
use crate::errors::ApiError;
use crate::json;
use crate::state::AppState;

type Items = Vec<(Vec<u8>, Vec<u8>)>;
/// A range of keys: lower and upper bound.
type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// Query parameters of the listing and search routes.
pub(super) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(super) fn parse(req: &Request<Incoming>) -> Query {
        let q = req.uri().query().unwrap_or("");
        Query {
            pairs: form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        }
    }
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn limit(&self, state: &AppState) -> Result<usize, ApiError> {
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
    pub(super) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(_) => Err(ApiError::bad_request(format!(
                "`{name}` must be true or false"
            ))),
        }
    }
    /// The bytes of parameter `name` given as text (`name`) or as standard base64
    /// (`name_base64`, for bytes that are not UTF-8), not both; `None` when neither is given.
    pub(super) fn bytes(&self, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
        let b64 = format!("{name}_base64");
        match (self.get(name), self.get(&b64)) {
            (Some(_), Some(_)) => Err(ApiError::bad_request(format!(
                "give `{name}` or `{b64}`, not both"
            ))),
            (Some(s), None) => Ok(Some(s.as_bytes().to_vec())),
            (None, Some(s)) => STANDARD.decode(s.as_bytes()).map(Some).map_err(|_| {
                ApiError::bad_request(format!(
                    "`{b64}` is not valid standard base64 (percent-encode its `+`, `/` and `=`)"
                ))
            }),
            (None, None) => Ok(None),
        }
    }
    fn cursor(&self) -> Result<Option<Vec<u8>>, ApiError> {
        self.get("cursor")
            .filter(|c| !c.is_empty())
            .map(json::decode_cursor)
            .transpose()
    }
}

/// Up to `limit` entries of `ks` between `lower` and `upper`, and the cursor of the next page.
fn scan(
    ks: &Keyspace,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    limit: usize,
) -> Result<(Items, Option<Vec<u8>>), ApiError> {
    let it = ks.range((lower, upper));
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
        items.push((k.to_vec(), v.to_vec()));
    }
    let next = if more {
        items.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    Ok((items, next))
}

/// A bound of a range; an empty one is no bound.
fn bound(v: Option<&[u8]>, inclusive: bool) -> Bound<Vec<u8>> {
    match v {
        None | Some([]) => Bound::Unbounded,
        Some(s) if inclusive => Bound::Included(s.to_vec()),
        Some(s) => Bound::Excluded(s.to_vec()),
    }
}

/// Applies a cursor (the last key of the previous page) to bounds.
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

/// The bounds of the keys starting with `prefix`.
pub(super) fn prefix_bounds(prefix: &[u8]) -> Range {
    let upper = lsmkv::prefix_upper_bound(prefix).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(prefix.to_vec()), upper)
}

/// One page of entries of `ks` between `lower` and `upper`.
async fn page(
    ctx: &Ctx,
    ks: &Keyspace,
    (lower, upper): (Bound<Vec<u8>>, Bound<Vec<u8>>),
    reverse: bool,
    limit: usize,
    keys_only: bool,
) -> Result<Resp, ApiError> {
    let (items, next) = ctx
        .in_keyspace(ks, move |ks| scan(ks, lower, upper, reverse, limit))
        .await?;
    Ok(page_response(&items, next.as_deref(), keys_only))
}

/// `{"items": [...], "next": cursor}`; with `keys_only`, items are `{"key": ...}`.
fn page_response(items: &[(Vec<u8>, Vec<u8>)], next: Option<&[u8]>, keys_only: bool) -> Resp {
    let body = if keys_only {
        json::key_page(items.iter().map(|(k, _)| k.as_slice()), next)
    } else {
        json::page(items, next)
    };
    json_response(StatusCode::OK, &body)
}

/// `GET /keys?start=&end=&prefix=&limit=&reverse=&cursor=&keys_only=&count=`: `start` inclusive,
/// `end` exclusive, or the keys starting with `prefix` (not with `start` or `end`).
/// `keys_only=true`: items without values. `count=true`: `{"count": N, "next": cursor}`, the
/// number of keys in range; one request examines at most SEARCH_SCAN_LIMIT entries, and a
/// non-null `next` resumes the count (add the pages' counts up).
pub async fn list(ctx: &Ctx, ks: &Keyspace, req: &Request<Incoming>) -> Result<Resp, ApiError> {
    let q = Query::parse(req);
    let reverse = q.flag("reverse")?;
    let keys_only = q.flag("keys_only")?;
    let range = requested(&q)?.unwrap_or_default().range();
    if q.flag("count")? {
        return count(ctx, ks, range, q.cursor()?).await;
    }
    let limit = q.limit(&ctx.state)?;
    let range = resume(range.0, range.1, q.cursor()?, reverse);
    page(ctx, ks, range, reverse, limit, keys_only).await
}

/// The keys a request names (see [`requested`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Requested {
    /// The keys starting with this (every key for an empty prefix).
    Prefix(Vec<u8>),
    /// `[start, end)`; an absent or empty bound is no bound.
    Bounds {
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
    },
}

impl Default for Requested {
    /// Every key.
    fn default() -> Self {
        Requested::Bounds {
            start: None,
            end: None,
        }
    }
}

impl Requested {
    /// The engine's bounds.
    pub(super) fn range(&self) -> Range {
        match self {
            Requested::Prefix(p) => prefix_bounds(p),
            Requested::Bounds { start, end } => {
                (bound(start.as_deref(), true), bound(end.as_deref(), false))
            }
        }
    }

    /// Whether it names every key (an empty prefix, or no bound at all).
    pub(super) fn is_everything(&self) -> bool {
        match self {
            Requested::Prefix(p) => p.is_empty(),
            Requested::Bounds { start, end } => [start, end]
                .iter()
                .all(|b| b.as_deref().is_none_or(<[u8]>::is_empty)),
        }
    }

    /// `{"prefix": P}` or `{"start": S, "end": E}` (null for no bound), bytes that are not UTF-8
    /// as `..._base64`.
    pub(super) fn describe(&self) -> Json {
        let mut o = serde_json::Map::new();
        match self {
            Requested::Prefix(p) => json::put_bytes(&mut o, "prefix", p),
            Requested::Bounds { start, end } => {
                for (name, b) in [("start", start), ("end", end)] {
                    match b.as_deref().filter(|b| !b.is_empty()) {
                        Some(b) => json::put_bytes(&mut o, name, b),
                        None => _ = o.insert(name.to_string(), Json::Null),
                    }
                }
            }
        }
        Json::Object(o)
    }
}

/// The keys a request names: `prefix=P`, or `start=` (inclusive) and `end=` (exclusive), either
/// bound optional; not both forms; each also as `..._base64` (standard base64) for bytes that
/// are not UTF-8. `None` when it names none of them. (The one parser of a range of keys in a
/// query, for listings, counts and range deletes.)
pub(super) fn requested(q: &Query) -> Result<Option<Requested>, ApiError> {
    let (prefix, start, end) = (q.bytes("prefix")?, q.bytes("start")?, q.bytes("end")?);
    match prefix {
        Some(_) if start.is_some() || end.is_some() => Err(ApiError::bad_request(
            "give `prefix` or `start` / `end`, not both",
        )),
        Some(p) => Ok(Some(Requested::Prefix(p))),
        None if start.is_none() && end.is_none() => Ok(None),
        None => Ok(Some(Requested::Bounds { start, end })),
    }
}

/// `count=true` of [`list`]: counts forward from the cursor, at most SEARCH_SCAN_LIMIT keys.
async fn count(
    ctx: &Ctx,
    ks: &Keyspace,
    (lower, upper): (Bound<Vec<u8>>, Bound<Vec<u8>>),
    cursor: Option<Vec<u8>>,
) -> Result<Resp, ApiError> {
    let budget = ctx.state.cfg.server.search_scan_limit;
    let (lower, upper) = resume(lower, upper, cursor, false);
    let (n, next) = ctx
        .in_keyspace(ks, move |ks| {
            // Borrowed entries, and the last key counted kept in one reused buffer: no
            // allocation or reference count per key.
            let mut n = 0u64;
            let mut last: Vec<u8> = Vec::new();
            let mut it = ks.range((lower, upper));
            while let Some(kv) = it.next_ref() {
                let (k, _) = kv?;
                if n as usize == budget {
                    return Ok((n, Some(last)));
                }
                n += 1;
                last.clear();
                last.extend_from_slice(k);
            }
            Ok((n, None))
        })
        .await?;
    let next = next.as_deref().map(json::encode_cursor);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "count": n, "next": next }),
    ))
}

/// `GET /keys/search/prefix?q=&limit=&cursor=&reverse=&keys_only=`.
pub async fn search_prefix(
    ctx: &Ctx,
    ks: &Keyspace,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    let q = Query::parse(req);
    let prefix = q
        .get("q")
        .ok_or_else(|| ApiError::bad_request("missing query parameter `q`"))?
        .as_bytes()
        .to_vec();
    let limit = q.limit(&ctx.state)?;
    let reverse = q.flag("reverse")?;
    let keys_only = q.flag("keys_only")?;
    let (lower, upper) = prefix_bounds(&prefix);
    let range = resume(lower, upper, q.cursor()?, reverse);
    page(ctx, ks, range, reverse, limit, keys_only).await
}

/// `GET /keys/search/substring?q=&limit=&cursor=&keys_only=`: keys or values containing `q`, in
/// key order. One request examines at most SEARCH_SCAN_LIMIT entries; when it stops early,
/// `next` resumes the scan (the page may then hold fewer than `limit` items, even none).
pub async fn search_substring(
    ctx: &Ctx,
    ks: &Keyspace,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    let q = Query::parse(req);
    let needle = match q.get("q") {
        None | Some("") => return Err(ApiError::bad_request("missing query parameter `q`")),
        Some(s) => s.as_bytes().to_vec(),
    };
    let limit = q.limit(&ctx.state)?;
    let keys_only = q.flag("keys_only")?;
    let budget = ctx.state.cfg.server.search_scan_limit;
    let lower = q.cursor()?.map_or(Bound::Unbounded, Bound::Excluded);
    let (items, next) = ctx
        .in_keyspace(ks, move |ks| {
            let finder = memchr::memmem::Finder::new(&needle);
            let mut items: Items = Vec::new();
            let mut last: Option<Vec<u8>> = None;
            for (scanned, kv) in ks.range((lower, Bound::Unbounded)).enumerate() {
                let (k, v) = kv?;
                if items.len() == limit || scanned == budget {
                    // More entries exist: resume after the last one examined.
                    return Ok((items, last));
                }
                if finder.find(&k).is_some() || finder.find(&v).is_some() {
                    items.push((k.to_vec(), v.to_vec()));
                }
                last = Some(k.to_vec());
            }
            Ok((items, None))
        })
        .await?;
    Ok(page_response(&items, next.as_deref(), keys_only))
}
