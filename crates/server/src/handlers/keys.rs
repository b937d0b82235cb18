//! Single keys: `POST /keys`, `PUT /keys/{key}`, `GET /keys/{key}`, `DELETE /keys/{key}`, and
//! the same under `/keyspaces/{ks}/keys` (the handlers take the keyspace; `/keys` passes
//! `default`).
//!
//! Every value has a version, the engine's seqno of its write (`Keyspace::get_versioned`): `GET`
//! returns it as `ETag: "N"` and, in JSON, as `"version"` (304 when `If-None-Match` names it);
//! writes return the new one the same way and honour `If-Match` / `If-None-Match`
//! ([`super::precondition`]; 412 when they fail).

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
                ks.delete(&key)?;
                Ok((0, false))
            }
        }
    })
    .await
}

/// A put that returns the key's new version. The engine has `Db::put_versioned` for `default`
/// (a plain group-committed put) but no `Keyspace::put_versioned` yet, so in another keyspace
/// the put is a compare-and-write of the version just read, retried until it lands: exact, but
/// it commits alone instead of joining a group commit.
fn put_versioned(ks: &Keyspace, key: &[u8], value: &[u8]) -> Result<u64, ApiError> {
    if ks.id() == 0 {
        return Ok(ks.db().put_versioned(key, value)?);
    }
    let mut current = ks.get_versioned(key)?.map(|(_, v)| v);
    loop {
        match ks.compare_and_write(key, current, Some(value))? {
            CasOutcome::Written { version } => return Ok(version),
            CasOutcome::Mismatch { current: now } => current = now,
        }
    }
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

/// `{"key": ..., "value": ..., "version": N}`.
fn versioned_item(key: &[u8], value: &[u8], version: u64) -> serde_json::Value {
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

pub async fn post_key(ctx: &Ctx, ks: &Keyspace, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let pre = Preconditions::from_headers(req.headers())?;
    let v = ctx.json_body(req).await?;
    let (key, value) = json::key_value(&v, "")?;
    let (version, _) = write(ctx, ks, pre, key.clone(), Some(value.clone()), false).await?;
    let mut r = json_response(StatusCode::OK, &versioned_item(&key, &value, version));
    set_etag(&mut r, version);
    Ok(r)
}

pub async fn put_raw(
    ctx: &Ctx,
    ks: &Keyspace,
    req: Request<Incoming>,
    key: Vec<u8>,
) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let pre = Preconditions::from_headers(req.headers())?;
    // Raw values are bounded by the engine's MAX_VALUE_SIZE rather than the JSON limit.
    let limit = ctx.state.db.options().max_value_size;
    let value = ctx.body(req, limit).await?;
    let (version, _) = write(ctx, ks, pre, key, Some(value.to_vec()), false).await?;
    let mut r = empty(StatusCode::NO_CONTENT);
    set_etag(&mut r, version);
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
        json_response(StatusCode::OK, &versioned_item(&key, &value, version))
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
