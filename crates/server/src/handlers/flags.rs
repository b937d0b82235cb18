//! Feature flags with optimistic versioning: `GET /features`, `GET /features/{id}`,
//! `POST /features/{id}`. They live in the keyspace `flags` (see [`crate::layout`]), flag `id`
//! as the key `id`.

use hyper::Request;
use hyper::StatusCode;
use hyper::body::Incoming;
use serde_json::{Value as Json, json};

use lsmkv::Keyspace;

use super::context::{Ctx, Resp, json_response};
use crate::errors::ApiError;
use crate::json;
use crate::layout::FLAGS;

/// The keyspace the flags are read from: the server's own, or on a node of a replicated cluster
/// the replicated one, after the linearizable read barrier.
async fn flags_keyspace(ctx: &Ctx) -> Result<Keyspace, ApiError> {
    match &ctx.state.cluster {
        None => Ok(ctx.state.flags.clone()),
        Some(cluster) => {
            cluster.linearize().await?;
            super::replicated::replicated_keyspace(ctx, cluster, Some(FLAGS))
        }
    }
}

pub(super) fn flag_json(id: &[u8], enabled: bool, version: u64) -> Json {
    json!({ "id": String::from_utf8_lossy(id), "enabled": enabled, "version": version })
}

/// The update of a flag at version `current` (0: absent) to `enabled`, checked against the
/// client's `expected` version: the new version and the value to store, or 409 with
/// `current_version` when `expected` is stale.
pub(super) fn next_flag(
    current: u64,
    expected: Option<u64>,
    enabled: bool,
) -> Result<(u64, Vec<u8>), ApiError> {
    if let Some(expected) = expected
        && current != expected
    {
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
    let value = serde_json::to_vec(&stored).map_err(|_| ApiError::internal())?;
    Ok((next, value))
}

/// Decodes a stored flag value.
pub(super) fn read_flag(raw: &[u8]) -> Result<(bool, u64), ApiError> {
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

pub(super) fn check_flag_id(id: &[u8]) -> Result<(), ApiError> {
    json::check_key(id).map_err(|e| ApiError::bad_request(e.message.replace("key", "flag id")))?;
    if std::str::from_utf8(id).is_err() {
        return Err(ApiError::bad_request("flag id must be UTF-8"));
    }
    Ok(())
}

pub async fn list_features(ctx: &Ctx) -> Result<Resp, ApiError> {
    let ks = flags_keyspace(ctx).await?;
    let flags = ctx
        .in_keyspace(&ks, |ks| {
            let mut out = Vec::new();
            for kv in ks.range::<&[u8], _>(..) {
                let (k, v) = kv?;
                // Flag ids are UTF-8; the layout marker is not and is no flag.
                if std::str::from_utf8(&k).is_err() {
                    continue;
                }
                let (enabled, version) = read_flag(&v)?;
                out.push(flag_json(&k, enabled, version));
            }
            Ok(out)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "features": flags })))
}

pub async fn get_feature(ctx: &Ctx, id: Vec<u8>) -> Result<Resp, ApiError> {
    check_flag_id(&id)?;
    let k = id.clone();
    let ks = flags_keyspace(ctx).await?;
    let found = ctx.in_keyspace(&ks, move |ks| Ok(ks.get(&k)?)).await?;
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
/// Without `version` the flag is created or overwritten unconditionally (same statuses).
/// The read-compare-write runs under one mutex, so of two racing writers of the same version
/// exactly one wins.
pub async fn post_feature(
    ctx: &Ctx,
    req: Request<Incoming>,
    id: Vec<u8>,
) -> Result<Resp, ApiError> {
    if let Some(cluster) = ctx.state.cluster.clone() {
        return super::replicated::post_feature(ctx, &cluster, req, id).await;
    }
    check_flag_id(&id)?;
    let v = ctx.json_body(req).await?;
    let (enabled, expected) = json::flag_update(&v)?;
    let state = ctx.state.clone();
    let k = id.clone();
    let (status, version) = ctx
        .in_keyspace(&ctx.state.flags, move |ks| {
            let _serialised = state.flag_lock.lock();
            let current = match ks.get(&k)? {
                None => 0,
                Some(raw) => read_flag(&raw)?.1,
            };
            let (next, value) = next_flag(current, expected, enabled)?;
            ks.put(&k, value)?;
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
