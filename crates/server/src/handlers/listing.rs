//! Listings and searches, one page at a time with a `next` cursor: `GET /keys`,
//! `GET /keys/search/prefix`, `GET /keys/search/substring`.

use std::ops::Bound;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use lsmkv::Db;

use super::context::{Ctx, Resp, json_response};
use crate::errors::ApiError;
use crate::json;
use crate::keyspace::{self, USER, strip};
use crate::state::AppState;

type Items = Vec<(Vec<u8>, Vec<u8>)>;

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

/// One page of user entries between the user bounds `lower` and `upper`.
async fn page(
    ctx: &Ctx,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    limit: usize,
) -> Result<Resp, ApiError> {
    let (items, next) = ctx
        .engine(move |db| {
            let (lo, hi) = keyspace::bounds(USER, as_ref(&lower), as_ref(&upper));
            scan(db, lo, hi, reverse, limit)
        })
        .await?;
    Ok(page_response(&items, next.as_deref()))
}

/// `{"items": [...], "next": cursor}`.
fn page_response(items: &[(Vec<u8>, Vec<u8>)], next: Option<&[u8]>) -> Resp {
    json_response(StatusCode::OK, &json::page(items, next))
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
    page(ctx, lower, upper, reverse, limit).await
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
    let upper = lsmkv::prefix_upper_bound(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let (lower, upper) = resume(Bound::Included(prefix), upper, q.cursor()?, reverse);
    page(ctx, lower, upper, reverse, limit).await
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
    Ok(page_response(&items, next.as_deref()))
}
