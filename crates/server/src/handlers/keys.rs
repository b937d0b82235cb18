//! Single keys: `POST /keys`, `PUT /keys/{key}`, `GET /keys/{key}`, `DELETE /keys/{key}`.

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

use super::context::{Ctx, Resp, empty, json_response};
use crate::errors::ApiError;
use crate::json;
use crate::keyspace::user_key;

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
