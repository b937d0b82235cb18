//! `POST /keys/batch`: several puts written as one atomic batch (each may carry a `ttl_seconds`
//! of its own); `POST /keys/get`: several
//! reads, keys in the body (so no key is too long to read). The same under
//! `/keyspaces/{ks}/keys`.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use lsmkv::{Keyspace, WriteBatch};

use super::context::{Ctx, Resp, json_response};
use crate::errors::ApiError;
use crate::json;

pub async fn batch(ctx: &Ctx, ks: &Keyspace, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let v = ctx.json_body(req).await?;
    let entries = json::batch(&v, ctx.state.cfg.server.max_batch_entries)?;
    let n = entries.len();
    ctx.in_keyspace(ks, move |ks| {
        let mut b = WriteBatch::new();
        for (k, v, ttl) in entries {
            match ttl {
                Some(ttl) => b.put_with_ttl_in(ks, k, v, ttl),
                None => b.put_in(ks, k, v),
            }
        }
        Ok(ks.db().try_write(b)?)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &json!({ "written": n })))
}

/// `POST /keys/get` `{"keys": [{"key": ...} | {"key_base64": ...}, ...]}`: `{"items": [...]}`,
/// one per requested key in request order, `value` null when the key is absent. At most
/// MAX_BATCH_ENTRIES keys; all read from one snapshot.
pub async fn multi_get(ctx: &Ctx, ks: &Keyspace, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let v = ctx.json_body(req).await?;
    let keys = json::key_list(&v, ctx.state.cfg.server.max_batch_entries)?;
    let values = ctx
        .in_keyspace(ks, move |ks| {
            let snap = ks.db().snapshot();
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                let v = snap.get_in(ks, &k)?;
                out.push((k, v));
            }
            Ok(out)
        })
        .await?;
    let items: Vec<_> = values
        .iter()
        .map(|(k, v)| match v {
            Some(v) => json::item(k, v),
            None => json::absent_item(k),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &json!({ "items": items })))
}
