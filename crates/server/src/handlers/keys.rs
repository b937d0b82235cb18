//! Single keys: `POST /keys`, `PUT /keys/{key}`, `GET /keys/{key}`, `DELETE /keys/{key}`, and
//! the same under `/keyspaces/{ks}/keys` (the handlers take the keyspace; `/keys` passes
//! `default`).
//!
//! Every value has a version, the engine's seqno of its write (`Keyspace::get_versioned`): `GET`
//! returns it as `ETag: "N"` and, in JSON, as `"version"` (304 when `If-None-Match` names it);
//! writes return the new one the same way and honour `If-Match` / `If-None-Match`
//! ([`super::precondition`]; 412 when they fail).
//!
//! A put may carry a time to live of its own (`ttl_seconds` in a `POST` body, `?ttl_seconds=N` on
//! a `PUT`): the engine's `put_with_ttl`. See [`put_expiring`] for what that does to versions.

use std::time::Duration;

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use lsmkv::{CasOutcome, Keyspace};

use super::context::{Ctx, Resp, empty, json_response};
use super::precondition::{Preconditions, set_etag};
use crate::errors::ApiError;
use crate::json;

/// `value` (`None`: delete) to `key`, under the request's preconditions; the write's version
/// (0 for a delete without preconditions) and, when `existed` is asked for, whether the key
/// existed just before the write.
async fn write(
    ctx: &Ctx,
    ks: &Keyspace,
    pre: Preconditions,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
    existed: bool,
) -> Result<(u64, bool), ApiError> {
    ctx.in_keyspace(ks, move |ks| {
        if !pre.is_empty() {
            return pre.write(ks, &key, value.as_deref());
        }
        match value {
            // (A put's `existed` is never asked for.)
            Some(v) => Ok((put_versioned(ks, &key, &v)?, false)),
            None if existed => delete_reporting(ks, &key),
            None => {
                ks.try_delete(&key)?;
                Ok((0, false))
            }
        }
    })
    .await
}

/// A put that returns the key's new version (a plain group-committed put; refused with 503
/// `write_stalled` rather than held while the engine stalls writes).
fn put_versioned(ks: &Keyspace, key: &[u8], value: &[u8]) -> Result<u64, ApiError> {
    Ok(ks.try_put_versioned(key, value)?)
}

/// A put of `value` that expires `ttl` from now, and the key's version after it if known.
///
/// The engine has no put with a TTL that returns its version, nor a conditional one, so
/// preconditions are refused with a TTL (400), and the version is read back right after the
/// write: it is this write's, unless another write of the very same bytes landed in between
/// (then it is that one's, of the same value). When the key holds something else by then (a
/// later write; or the value already expired), the version is unknown: `None`, answered as
/// `"version": null` without an `ETag`.
async fn put_expiring(
    ctx: &Ctx,
    ks: &Keyspace,
    pre: &Preconditions,
    key: Vec<u8>,
    value: Vec<u8>,
    ttl: Duration,
) -> Result<Option<u64>, ApiError> {
    if !pre.is_empty() {
        return Err(ApiError::bad_request(
            "`ttl_seconds` cannot be combined with If-Match / If-None-Match (the engine has no \
             conditional write with a time to live)",
        ));
    }
    ctx.in_keyspace(ks, move |ks| {
        ks.put_with_ttl(&key, &value, ttl)?;
        Ok(ks
            .get_versioned(&key)?
            .filter(|(now, _)| now[..] == value[..])
            .map(|(_, version)| version))
    })
    .await
}

/// Deletes `key` and says whether it existed: a compare-and-write of the version read, so the
/// answer is exact even with writers in between. An absent key is left as it is.
fn delete_reporting(ks: &Keyspace, key: &[u8]) -> Result<(u64, bool), ApiError> {
    let mut current = ks.get_versioned(key)?.map(|(_, v)| v);
    while let Some(version) = current {
        match ks.compare_and_write(key, Some(version), None)? {
            CasOutcome::Written { version } => return Ok((version, true)),
            CasOutcome::Mismatch { current: now } => current = now,
        }
    }
    Ok((0, false))
}

/// `{"key": ..., "value": ..., "version": N}` (`null` for a version that is not known).
fn versioned_item(key: &[u8], value: &[u8], version: Option<u64>) -> serde_json::Value {
    let mut item = json::item(key, value);
    if let Some(o) = item.as_object_mut() {
        o.insert("version".to_string(), version.into());
    }
    item
}

/// Whether the request's `Accept` names `media` (a type given explicitly, not through `*/*`).
pub(super) fn accepts(h: &HeaderMap, media: &str) -> bool {
    h.get_all(ACCEPT)
        .iter()
        .filter_map(|a| a.to_str().ok())
        .flat_map(|a| a.split(','))
        .any(|m| {
            m.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(media))
        })
}

/// `POST /keys` `{"key", "value", "ttl_seconds"?}`: 200 with the item and its new version
/// (`ttl_seconds` echoed when given).
pub async fn post_key(ctx: &Ctx, ks: &Keyspace, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let pre = Preconditions::from_headers(req.headers())?;
    let v = ctx.json_body(req).await?;
    let (key, value, ttl) = json::key_value(&v, "")?;
    let version = match ttl {
        Some(ttl) => put_expiring(ctx, ks, &pre, key.clone(), value.clone(), ttl).await?,
        None => {
            let (version, _) = write(ctx, ks, pre, key.clone(), Some(value.clone()), false).await?;
            Some(version)
        }
    };
    let mut item = versioned_item(&key, &value, version);
    if let (Some(ttl), Some(o)) = (ttl, item.as_object_mut()) {
        o.insert("ttl_seconds".to_string(), ttl.as_secs().into());
    }
    let mut r = json_response(StatusCode::OK, &item);
    if let Some(version) = version {
        set_etag(&mut r, version);
    }
    Ok(r)
}

/// `?ttl_seconds=N` of a `PUT`, if given.
fn ttl_query(req: &Request<Incoming>) -> Result<Option<Duration>, ApiError> {
    let q = req.uri().query().unwrap_or("");
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "ttl_seconds")
        .map(|(_, v)| json::ttl_seconds(v.parse::<u64>().ok(), "`ttl_seconds`"))
        .transpose()
}

pub async fn put_raw(
    ctx: &Ctx,
    ks: &Keyspace,
    req: Request<Incoming>,
    key: Vec<u8>,
) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let pre = Preconditions::from_headers(req.headers())?;
    let ttl = ttl_query(&req)?;
    // Raw values are bounded by the engine's MAX_VALUE_SIZE rather than the JSON limit.
    let limit = ctx.state.db.options().max_value_size;
    let value = ctx.body(req, limit).await?;
    let version = match ttl {
        Some(ttl) => put_expiring(ctx, ks, &pre, key, value.to_vec(), ttl).await?,
        None => {
            let (version, _) = write(ctx, ks, pre, key, Some(value.to_vec()), false).await?;
            Some(version)
        }
    };
    let mut r = empty(StatusCode::NO_CONTENT);
    if let Some(version) = version {
        set_etag(&mut r, version);
    }
    Ok(r)
}

pub async fn get_key(
    ctx: &Ctx,
    ks: &Keyspace,
    req: &Request<Incoming>,
    key: Vec<u8>,
) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let raw = accepts(req.headers(), "application/octet-stream");
    let pre = Preconditions::from_headers(req.headers())?;
    let k = key.clone();
    let found = ctx
        .in_keyspace(ks, move |ks| Ok(ks.get_versioned(&k)?))
        .await?;
    let Some((value, version)) = found else {
        return Err(ApiError::not_found("key not found"));
    };
    if let Some(status) = pre.read(version) {
        let mut r = empty(status?);
        set_etag(&mut r, version);
        return Ok(r);
    }
    let mut r = if raw {
        let mut r = Response::new(Full::new(value.into_bytes()));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        r
    } else {
        json_response(StatusCode::OK, &versioned_item(&key, &value, Some(version)))
    };
    set_etag(&mut r, version);
    Ok(r)
}

/// `DELETE`: 204 without a body, or, when the client accepts `application/json`, 200
/// `{"deleted": true|false}`: whether the key existed.
pub async fn delete_key(
    ctx: &Ctx,
    ks: &Keyspace,
    req: &Request<Incoming>,
    key: Vec<u8>,
) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let pre = Preconditions::from_headers(req.headers())?;
    let report = accepts(req.headers(), "application/json");
    let (_, existed) = write(ctx, ks, pre, key, None, report).await?;
    Ok(if report {
        json_response(StatusCode::OK, &json!({ "deleted": existed }))
    } else {
        empty(StatusCode::NO_CONTENT)
    })
}
