//! Single keys: `POST /keys`, `PUT /keys/{key}`, `GET /keys/{key}`, `DELETE /keys/{key}`.
//!
//! Every value has a version, the engine's seqno of its write (`Db::get_versioned`): `GET` returns
//! it as `ETag: "N"` and, in JSON, as `"version"` (304 when `If-None-Match` names it); writes
//! return the new one the same way and honour `If-Match` / `If-None-Match`
//! ([`super::precondition`]; 412 when they fail).

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::context::{Ctx, Resp, empty, json_response};
use super::precondition::{Preconditions, set_etag};
use crate::errors::ApiError;
use crate::json;
use crate::keyspace::user_key;

/// `value` (`None`: delete) to `key`, under the request's preconditions; the write's version.
async fn write(
    ctx: &Ctx,
    pre: Preconditions,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
) -> Result<u64, ApiError> {
    ctx.engine(move |db| {
        let k = user_key(&key);
        if !pre.is_empty() {
            return pre.write(db, &k, value.as_deref());
        }
        Ok(match value {
            Some(v) => db.put_versioned(&k, v)?,
            None => {
                db.delete(&k)?;
                0
            }
        })
    })
    .await
}

/// `{"key": ..., "value": ..., "version": N}`.
fn versioned_item(key: &[u8], value: &[u8], version: u64) -> serde_json::Value {
    let mut item = json::item(key, value);
    if let Some(o) = item.as_object_mut() {
        o.insert("version".to_string(), version.into());
    }
    item
}

pub async fn post_key(ctx: &Ctx, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let pre = Preconditions::from_headers(req.headers())?;
    let v = ctx.json_body(req).await?;
    let (key, value) = json::key_value(&v, "")?;
    let version = write(ctx, pre, key.clone(), Some(value.clone())).await?;
    let mut r = json_response(StatusCode::OK, &versioned_item(&key, &value, version));
    set_etag(&mut r, version);
    Ok(r)
}

pub async fn put_raw(ctx: &Ctx, req: Request<Incoming>, key: Vec<u8>) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let pre = Preconditions::from_headers(req.headers())?;
    // Raw values are bounded by the engine's MAX_VALUE_SIZE rather than the JSON limit.
    let limit = ctx.state.db.options().max_value_size;
    let value = ctx.body(req, limit).await?;
    let version = write(ctx, pre, key, Some(value.to_vec())).await?;
    let mut r = empty(StatusCode::NO_CONTENT);
    set_etag(&mut r, version);
    Ok(r)
}

pub async fn get_key(ctx: &Ctx, req: &Request<Incoming>, key: Vec<u8>) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let raw = req
        .headers()
        .get(ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/octet-stream"));
    let pre = Preconditions::from_headers(req.headers())?;
    let k = key.clone();
    let found = ctx
        .engine(move |db| Ok(db.get_versioned(user_key(&k))?))
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

pub async fn delete_key(
    ctx: &Ctx,
    req: &Request<Incoming>,
    key: Vec<u8>,
) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let pre = Preconditions::from_headers(req.headers())?;
    write(ctx, pre, key, None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
