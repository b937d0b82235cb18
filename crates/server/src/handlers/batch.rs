//! `POST /keys/batch`: several puts written as one atomic batch.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use lsmkv::WriteBatch;

use super::context::{Ctx, Resp, json_response};
use crate::errors::ApiError;
use crate::json;
use crate::keyspace::user_key;

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
