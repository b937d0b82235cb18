//! Keyspaces: `GET /keyspaces` (every keyspace with its statistics), `POST /keyspaces` and
//! `PUT /keyspaces/{ks}` (create, with options), `GET /keyspaces/{ks}`, `DELETE /keyspaces/{ks}`
//! (drop, with all its data); and [`key_route`], which runs a key route (`/keys...` or
//! `/keyspaces/{ks}/keys...`) on its keyspace.
//!
//! Names are UTF-8, 1 to 255 bytes, one path segment (percent-encoded). `default` cannot be
//! dropped; `flags` (the feature flags), the server's `__server/...` keyspaces and the engine's
//! index keyspaces `__index/...` cannot be created, dropped or written through the key routes,
//! nor can the migration's staging keyspace be created: 403 `keyspace_reserved`. A keyspace
//! with indexes cannot be dropped before them: 409 `keyspace_indexed`.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Value as Json, json};

use lsmkv::Keyspace;

use super::context::{Ctx, Resp, json_response};
use super::{batch, keys, listing, range_delete};
use crate::errors::ApiError;
use crate::json;
use crate::layout::{self, DEFAULT, FLAGS};
use crate::registry::Created;
use crate::routes::{KeyOp, Params};

/// A keyspace name from a path segment: UTF-8.
fn name_of(raw: Option<Vec<u8>>) -> Result<String, ApiError> {
    String::from_utf8(raw.unwrap_or_default())
        .map_err(|_| ApiError::bad_request("a keyspace name must be UTF-8"))
}

/// 403 when `name` may not be created or dropped through the API.
fn check_managed(name: &str, dropping: bool) -> Result<(), ApiError> {
    if name == FLAGS {
        return Err(ApiError::keyspace_reserved(format!(
            "keyspace {FLAGS:?} holds the server's feature flags (use /features)"
        )));
    }
    if layout::is_reserved(name) {
        return Err(ApiError::keyspace_reserved(format!(
            "keyspace names starting with {:?} or {:?} belong to the server's indexes (use \
             /indexes)",
            layout::SERVER_PREFIX,
            layout::INDEX_PREFIX
        )));
    }
    if name == crate::migrate::STAGING {
        return Err(ApiError::keyspace_reserved(format!(
            "keyspace {name:?} is used by the server's layout migration"
        )));
    }
    if dropping && name == DEFAULT {
        return Err(ApiError::keyspace_reserved(
            "the default keyspace cannot be dropped",
        ));
    }
    Ok(())
}

/// The keyspace a key route acts on: `default` for `/keys`, else the one named (404 when it does
/// not exist).
fn resolve(ctx: &Ctx, raw: Option<Vec<u8>>) -> Result<Keyspace, ApiError> {
    let Some(raw) = raw else {
        return ctx.state.keyspaces.default_keyspace();
    };
    let name = name_of(Some(raw))?;
    ctx.state
        .keyspaces
        .get(&name)
        .ok_or_else(|| ApiError::keyspace_not_found(&name))
}

/// Runs key operation `op` on the keyspace of `params` (`default` for `/keys`).
pub async fn key_route(
    ctx: &Ctx,
    op: KeyOp,
    params: Params,
    req: Request<Incoming>,
) -> Result<Resp, ApiError> {
    if let Some(cluster) = &ctx.state.cluster {
        return super::replicated::key_route(ctx, cluster, op, params, req).await;
    }
    let ks = resolve(ctx, params.keyspace)?;
    if op.writes() && !layout::writable_by_key_routes(ks.name()) {
        let why = if ks.name() == FLAGS {
            "it holds the server's feature flags (use /features)"
        } else {
            "it belongs to the server's indexes (use /indexes)"
        };
        return Err(ApiError::keyspace_reserved(format!(
            "keyspace {:?} is read-only here: {why}",
            ks.name()
        )));
    }
    let key = params.param.unwrap_or_default();
    match op {
        KeyOp::Post => keys::post_key(ctx, &ks, req).await,
        KeyOp::Batch => batch::batch(ctx, &ks, req).await,
        KeyOp::MultiGet => batch::multi_get(ctx, &ks, req).await,
        KeyOp::List => listing::list(ctx, &ks, &req).await,
        KeyOp::SearchPrefix => listing::search_prefix(ctx, &ks, &req).await,
        KeyOp::SearchSubstring => listing::search_substring(ctx, &ks, &req).await,
        KeyOp::Get => keys::get_key(ctx, &ks, &req, key).await,
        KeyOp::Put => keys::put_raw(ctx, &ks, req, key).await,
        KeyOp::Delete => keys::delete_key(ctx, &ks, &req, key).await,
        KeyOp::DeleteRange => range_delete::delete_range(ctx, &ks, &req).await,
    }
}

/// The statistics of every keyspace (only `only` when given), by name: the engine's
/// `KeyspaceStats` plus `reserved` (true for `flags`). On a cluster node the keyspaces are the
/// replicated user keyspaces, under their users' names (each lives in an engine keyspace of the
/// Raft adapter's, `raft.g<N>.d.<name>`; the adapter's own keyspaces are not listed).
async fn keyspace_stats(ctx: &Ctx, only: Option<String>) -> Result<Vec<Json>, ApiError> {
    // (the name shown, the engine keyspace's name)
    let names: Vec<(String, String)> = match &ctx.state.cluster {
        Some(cluster) => {
            let data = cluster.data().clone();
            ctx.blocking(move || {
                let mut v = Vec::new();
                for user in data.keyspaces()? {
                    if let Some(ks) = data.keyspace(Some(&user))? {
                        v.push((user, ks.name().to_string()));
                    }
                }
                Ok(v)
            })
            .await?
        }
        None => ctx
            .state
            .keyspaces
            .all()
            .iter()
            .map(|k| (k.name().to_string(), k.name().to_string()))
            .collect(),
    };
    let stats = ctx.engine(|db| Ok(db.stats())).await?;
    let mut out: Vec<(String, Json)> = stats
        .keyspaces
        .iter()
        .filter_map(|k| {
            let (shown, _) = names.iter().find(|(_, engine)| *engine == k.name)?;
            if only.as_ref().is_some_and(|o| o != shown) {
                return None;
            }
            let mut v = serde_json::to_value(k).unwrap_or(Json::Null);
            if let Some(o) = v.as_object_mut() {
                o.insert("name".into(), Json::String(shown.clone()));
                o.insert("reserved".into(), Json::Bool(layout::is_reserved(shown)));
            }
            Some((shown.clone(), v))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

/// `GET /keyspaces`: `{"keyspaces": [{"name", "id", "memtable_bytes", ..., "len_estimate",
/// "reserved"}, ...]}`, by name.
pub async fn list_keyspaces(ctx: &Ctx) -> Result<Resp, ApiError> {
    let all = keyspace_stats(ctx, None).await?;
    Ok(json_response(StatusCode::OK, &json!({ "keyspaces": all })))
}

/// One keyspace's statistics, 404 when it does not exist.
async fn one(ctx: &Ctx, name: &str) -> Result<Json, ApiError> {
    keyspace_stats(ctx, Some(name.to_string()))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::keyspace_not_found(name))
}

/// `GET /keyspaces/{ks}`: its statistics.
pub async fn get_keyspace(ctx: &Ctx, raw: Option<Vec<u8>>) -> Result<Resp, ApiError> {
    let name = name_of(raw)?;
    Ok(json_response(StatusCode::OK, &one(ctx, &name).await?))
}

/// Creates `name` (or sets its options), answering 201 when new, 200 when it existed, with its
/// statistics.
async fn create(
    ctx: &Ctx,
    name: String,
    opts: Option<lsmkv::KeyspaceOptions>,
    must_be_new: bool,
) -> Result<Resp, ApiError> {
    check_managed(&name, false)?;
    let state = ctx.state.clone();
    let n = name.clone();
    let created = ctx
        .blocking(move || {
            let (_, created) = state.keyspaces.create(&n, opts, must_be_new)?;
            Ok(created)
        })
        .await?;
    if must_be_new && created == Created::Existed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("keyspace {name:?} already exists"),
        )
        .with_code("keyspace_exists"));
    }
    let status = match created {
        Created::New => StatusCode::CREATED,
        Created::Existed => StatusCode::OK,
    };
    Ok(json_response(status, &one(ctx, &name).await?))
}

/// `PUT /keyspaces/{ks}` with no body (create if absent) or a JSON object of options (create, or
/// set the options of an existing keyspace: new tables and writes use them). 201 created, 200
/// existed.
pub async fn put_keyspace(
    ctx: &Ctx,
    req: Request<Incoming>,
    raw: Option<Vec<u8>>,
) -> Result<Resp, ApiError> {
    let name = name_of(raw)?;
    check_managed(&name, false)?;
    let limit = ctx.state.cfg.server.max_json_payload_size;
    let body = ctx.body(req, limit).await?;
    let opts = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v = json::parse(&body)?;
        Some(json::keyspace_options(json::body_object(&v)?, &[])?)
    };
    create(ctx, name, opts, false).await
}

/// `POST /keyspaces` `{"name": NAME, ...options}`: creates NAME; 409 `keyspace_exists` when it
/// exists.
pub async fn post_keyspace(ctx: &Ctx, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let v = ctx.json_body(req).await?;
    let o = json::body_object(&v)?;
    let name = match o.get("name") {
        Some(Json::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("field `name` must be a string")),
        None => return Err(ApiError::bad_request("missing field `name`")),
    };
    let opts = json::keyspace_options(o, &["name"])?;
    create(ctx, name, Some(opts), true).await
}

/// `DELETE /keyspaces/{ks}`: drops it and all its data; `{"dropped": NAME}`.
pub async fn delete_keyspace(ctx: &Ctx, raw: Option<Vec<u8>>) -> Result<Resp, ApiError> {
    let name = name_of(raw)?;
    check_managed(&name, true)?;
    let state = ctx.state.clone();
    let n = name.clone();
    ctx.blocking(move || {
        let indexes = state.indexes.of_keyspace(&n);
        if !indexes.is_empty() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("keyspace {n:?} has indexes {indexes:?}: drop them first (DELETE /indexes/{{name}})"),
            )
            .with_code("keyspace_indexed"));
        }
        state.keyspaces.drop_keyspace(&n)
    })
    .await?;
    tracing::info!(keyspace = %name, "keyspace dropped through the API");
    Ok(json_response(StatusCode::OK, &json!({ "dropped": name })))
}
