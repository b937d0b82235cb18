//! `DELETE /keys?prefix=P` and `DELETE /keys?start=A&end=B` (and the same under
//! `/keyspaces/{ks}/keys`): one engine range delete, a single range tombstone whatever it
//! covers. The range is parsed as listings parse it ([`listing::requested`]: `end` exclusive,
//! `..._base64` forms for bytes that are not UTF-8).
//!
//! Deleting more than meant is hard to undo, so: a request that names no range deletes nothing
//! (400 `range_required`), a range that covers every key (`prefix=`, or no bound at all) needs
//! `all=true` as well (400 `range_required` without it), and a reversed range (`start` >= `end`)
//! is a 400. `If-Match` / `If-None-Match` are about one key's version and are refused here.

use hyper::body::Incoming;
use hyper::header::{IF_MATCH, IF_NONE_MATCH};
use hyper::{Request, StatusCode};
use serde_json::{Value as Json, json};

use lsmkv::Keyspace;

use super::context::{Ctx, Resp, json_response};
use super::listing::{self, Query, Requested};
use crate::errors::ApiError;

/// 400 `range_required`.
fn range_required(message: &str) -> ApiError {
    ApiError::bad_request(message).with_code("range_required")
}

/// The range a `DELETE /keys` request deletes (see the module's rules).
pub(super) fn deleted_range(q: &Query) -> Result<Requested, ApiError> {
    let all = q.flag("all")?;
    let requested = match listing::requested(q)? {
        Some(r) => r,
        None if all => Requested::default(),
        None => {
            return Err(range_required(
                "DELETE /keys deletes a range: give `prefix=P`, or `start=` and/or `end=` \
                 (every key: `all=true`)",
            ));
        }
    };
    if requested.is_everything() && !all {
        return Err(range_required(
            "this range covers every key of the keyspace: add `all=true` to delete them all",
        ));
    }
    if let Requested::Bounds {
        start: Some(s),
        end: Some(e),
    } = &requested
        && !e.is_empty()
        && s >= e
    {
        return Err(ApiError::bad_request(
            "`start` must be below `end` (`end` is exclusive)",
        ));
    }
    Ok(requested)
}

/// `DELETE /keys?...`: `{"deleted_range": {"keyspace": KS, "prefix": P}}` or
/// `{"deleted_range": {"keyspace": KS, "start": S, "end": E}}` (null for no bound).
pub async fn delete_range(
    ctx: &Ctx,
    ks: &Keyspace,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    let h = req.headers();
    if h.contains_key(IF_MATCH) || h.contains_key(IF_NONE_MATCH) {
        return Err(ApiError::bad_request(
            "If-Match / If-None-Match apply to one key (DELETE /keys/{key}), not to a range",
        ));
    }
    let requested = deleted_range(&Query::parse(req))?;
    let range = requested.range();
    ctx.in_keyspace(ks, move |ks| Ok(ks.delete_range(range)?))
        .await?;
    let mut described = requested.describe();
    if let Some(o) = described.as_object_mut() {
        o.insert("keyspace".into(), Json::String(ks.name().to_string()));
    }
    tracing::info!(keyspace = %ks.name(), range = %described, "range deleted through the API");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deleted_range": described }),
    ))
}
