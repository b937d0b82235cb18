//! The key routes and flag updates of a node of a replicated cluster (`RAFT_NODE_ID`), its
//! `/raft/` and `/cluster` routes, and the refusal of what it does not replicate. Writes become
//! `lsmkv_raft` ops proposed through Raft ([`Cluster::write`], answered once committed and
//! applied, forwarded to the leader from a follower); reads pass the linearizable read barrier
//! ([`Cluster::linearize`]) unless `?consistency=local`, then run the single-node read handlers
//! on the state machine's keyspace.
//!
//! What differs from the single-node server: a write answers `"version": null` and no `ETag`
//! (versions are each node's own sequence numbers); `If-Match` / `If-None-Match` on a write are
//! refused (400 `not_replicated`); a JSON delete's `deleted` says whether the key existed on this
//! node just before the write was proposed. A keyspace of `/keyspaces/{ks}/keys` exists once
//! written (404 `keyspace_not_found` before); `default` reads as empty until then.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{IF_MATCH, IF_NONE_MATCH};
use hyper::{Request, StatusCode};
use serde_json::{Value as Json, json};

use lsmkv::Keyspace;
use lsmkv_raft::Op;

use super::context::{Ctx, Resp, empty, json_response};
use super::keys::accepts;
use super::listing::{Query, Requested};
use super::{batch, flags, keys, listing, range_delete};
use crate::cluster::Cluster;
use crate::cluster::rpc::{self, RaftRoute};
use crate::errors::ApiError;
use crate::json;
use crate::layout::{self, DEFAULT, FLAGS};
use crate::routes::{KeyOp, Params, RouteId};

/// The keyspace every read of a user keyspace not written yet goes to: a server keyspace that is
/// never written.
pub(crate) const EMPTY: &str = "__server/empty";

/// Runs key operation `op` of a cluster node.
pub async fn key_route(
    ctx: &Ctx,
    cluster: &Arc<Cluster>,
    op: KeyOp,
    params: Params,
    req: Request<Incoming>,
) -> Result<Resp, ApiError> {
    let name = match params.keyspace {
        None => None,
        Some(raw) => Some(
            String::from_utf8(raw)
                .map_err(|_| ApiError::bad_request("a keyspace name must be UTF-8"))?,
        ),
    };
    let key = params.param.unwrap_or_default();
    if op.writes() {
        let n = name.as_deref().unwrap_or(DEFAULT);
        if n == FLAGS || !layout::writable_by_key_routes(n) {
            return Err(ApiError::keyspace_reserved(format!(
                "keyspace {n:?} is read-only here"
            )));
        }
        return write(ctx, cluster, op, name, key, req).await;
    }
    if Query::parse(&req).get("consistency") != Some("local") {
        cluster.linearize().await?;
    }
    let ks = read_keyspace(ctx, cluster, name.as_deref())?;
    match op {
        KeyOp::MultiGet => batch::multi_get(ctx, &ks, req).await,
        KeyOp::List => listing::list(ctx, &ks, &req).await,
        KeyOp::SearchPrefix => listing::search_prefix(ctx, &ks, &req).await,
        KeyOp::SearchSubstring => listing::search_substring(ctx, &ks, &req).await,
        KeyOp::Get => keys::get_key(ctx, &ks, &req, key).await,
        _ => Err(ApiError::not_found("no such route")),
    }
}

/// The state machine's keyspace `name` (`None`: default) for a read.
pub(super) fn replicated_keyspace(
    ctx: &Ctx,
    cluster: &Cluster,
    name: Option<&str>,
) -> Result<Keyspace, ApiError> {
    match cluster.data().keyspace(name)? {
        Some(ks) => Ok(ks),
        None => Ok(ctx.state.db.keyspace(EMPTY)?),
    }
}

/// The state machine's keyspace `name` (`None`: default) for a read of a key route.
fn read_keyspace(ctx: &Ctx, cluster: &Cluster, name: Option<&str>) -> Result<Keyspace, ApiError> {
    match cluster.data().keyspace(name)? {
        Some(ks) => Ok(ks),
        None => match name {
            Some(n) if n != DEFAULT => Err(ApiError::keyspace_not_found(n)),
            _ => Ok(ctx.state.db.keyspace(EMPTY)?),
        },
    }
}

fn refuse_preconditions(req: &Request<Incoming>) -> Result<(), ApiError> {
    let h = req.headers();
    if h.contains_key(IF_MATCH) || h.contains_key(IF_NONE_MATCH) {
        return Err(ApiError::bad_request(
            "If-Match / If-None-Match are not supported by a replicated cluster",
        )
        .with_code("not_replicated"));
    }
    Ok(())
}

/// Proposes `ops` and maps the state machine's refusal to a 400.
async fn propose(cluster: &Cluster, ops: Vec<Op>) -> Result<u64, ApiError> {
    let r = cluster.write(ops).await?;
    match r.error {
        Some(why) => Err(ApiError::bad_request(why)),
        None => Ok(r.log_index),
    }
}

fn put(
    keyspace: &Option<String>,
    key: Vec<u8>,
    value: Vec<u8>,
    ttl: Option<std::time::Duration>,
) -> Op {
    Op::Put {
        keyspace: keyspace.clone(),
        key,
        value,
        ttl_ms: ttl.map(|t| t.as_millis() as u64),
    }
}

async fn write(
    ctx: &Ctx,
    cluster: &Arc<Cluster>,
    op: KeyOp,
    ks: Option<String>,
    key: Vec<u8>,
    req: Request<Incoming>,
) -> Result<Resp, ApiError> {
    refuse_preconditions(&req)?;
    match op {
        KeyOp::Post => {
            let v = ctx.json_body(req).await?;
            let (key, value, ttl) = json::key_value(&v, "")?;
            propose(cluster, vec![put(&ks, key.clone(), value.clone(), ttl)]).await?;
            let mut item = json::item(&key, &value);
            if let Some(o) = item.as_object_mut() {
                o.insert("version".into(), Json::Null);
                if let Some(ttl) = ttl {
                    o.insert("ttl_seconds".into(), ttl.as_secs().into());
                }
            }
            Ok(json_response(StatusCode::OK, &item))
        }
        KeyOp::Put => {
            json::check_key(&key)?;
            let ttl = Query::parse(&req)
                .get("ttl_seconds")
                .map(|v| json::ttl_seconds(v.parse::<u64>().ok(), "`ttl_seconds`"))
                .transpose()?;
            let limit = ctx.state.db.options().max_value_size;
            let value = ctx.body(req, limit).await?;
            propose(cluster, vec![put(&ks, key, value.to_vec(), ttl)]).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        KeyOp::Delete => delete(ctx, cluster, ks, key, &req).await,
        KeyOp::Batch => {
            let v = ctx.json_body(req).await?;
            let entries = json::batch(&v, ctx.state.cfg.server.max_batch_entries)?;
            let n = entries.len();
            let ops = entries
                .into_iter()
                .map(|(k, v, ttl)| put(&ks, k, v, ttl))
                .collect();
            propose(cluster, ops).await?;
            Ok(json_response(StatusCode::OK, &json!({ "written": n })))
        }
        KeyOp::DeleteRange => delete_range(cluster, ks, &req).await,
        _ => Err(ApiError::not_found("no such route")),
    }
}

/// `DELETE /keys/{key}` (see the module for `deleted`).
async fn delete(
    ctx: &Ctx,
    cluster: &Cluster,
    ks: Option<String>,
    key: Vec<u8>,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    json::check_key(&key)?;
    let report = accepts(req.headers(), "application/json");
    let existed = if report {
        let k = key.clone();
        let ks = cluster.data().keyspace(ks.as_deref())?;
        ctx.blocking(move || match ks {
            Some(ks) => Ok(ks.get(&k)?.is_some()),
            None => Ok(false),
        })
        .await?
    } else {
        false
    };
    propose(cluster, vec![Op::Delete { keyspace: ks, key }]).await?;
    Ok(if report {
        json_response(StatusCode::OK, &json!({ "deleted": existed }))
    } else {
        empty(StatusCode::NO_CONTENT)
    })
}

/// `DELETE /keys?prefix=|start=&end=`: one `DeletePrefix` or `DeleteRange` op.
async fn delete_range(
    cluster: &Cluster,
    ks: Option<String>,
    req: &Request<Incoming>,
) -> Result<Resp, ApiError> {
    let requested = range_delete::deleted_range(&Query::parse(req))?;
    let op = match &requested {
        Requested::Prefix(p) => Op::DeletePrefix {
            keyspace: ks.clone(),
            prefix: p.clone(),
        },
        Requested::Bounds { start, end } => Op::DeleteRange {
            keyspace: ks.clone(),
            start: start.clone().unwrap_or_default(),
            end: end.clone().filter(|e| !e.is_empty()),
        },
    };
    propose(cluster, vec![op]).await?;
    let mut described = requested.describe();
    if let Some(o) = described.as_object_mut() {
        o.insert(
            "keyspace".into(),
            Json::String(ks.unwrap_or_else(|| DEFAULT.into())),
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deleted_range": described }),
    ))
}

/// Largest body of a `/raft/` request: log entries in bulk and snapshot chunks (1 MiB each).
const RAFT_BODY_LIMIT: usize = 1 << 30;

/// `GET /cluster` and the `/raft/` routes (404 on a single-node server).
pub async fn cluster_route(
    ctx: &Ctx,
    id: RouteId,
    req: Request<Incoming>,
) -> Result<Resp, ApiError> {
    let Some(cluster) = ctx.state.cluster.clone() else {
        return Err(ApiError::not_found(
            "not a node of a replicated cluster (RAFT_NODE_ID is not set)",
        ));
    };
    let route = match id {
        RouteId::Cluster => return Ok(json_response(StatusCode::OK, &cluster.status())),
        RouteId::RaftAppend => RaftRoute::Append,
        RouteId::RaftVote => RaftRoute::Vote,
        RouteId::RaftSnapshot => RaftRoute::Snapshot,
        RouteId::RaftWrite => RaftRoute::Write,
        RouteId::RaftReadIndex => RaftRoute::ReadIndex,
        RouteId::RaftState => RaftRoute::State,
        _ => return Err(ApiError::not_found("no such route")),
    };
    let body = ctx.body(req, RAFT_BODY_LIMIT).await?;
    let answer = rpc::handle(&cluster, route, body).await?;
    Ok(json_response(StatusCode::OK, &answer))
}

/// 400 `not_replicated` for what a cluster does not replicate (keyspace options, indexes, change
/// feeds), `None` for every other route.
pub fn refused_in_cluster(ctx: &Ctx, id: RouteId) -> Option<ApiError> {
    ctx.state.cluster.as_ref()?;
    let what = match id {
        RouteId::PostKeyspace | RouteId::PutKeyspace | RouteId::DeleteKeyspace => {
            "creating and dropping keyspaces (a keyspace exists once a key is written to it)"
        }
        RouteId::PostIndex | RouteId::DeleteIndex => "secondary indexes",
        RouteId::Watch | RouteId::KsWatch => "change feeds (GET /watch)",
        _ => return None,
    };
    Some(
        ApiError::bad_request(format!("{what}: not supported by a replicated cluster"))
            .with_code("not_replicated"),
    )
}

/// The header of a flag update forwarded by a follower to the leader.
const FORWARDED: &str = "x-lsmkv-forwarded";

/// `POST /features/{id}` on a cluster node: the leader reads the flag after the read barrier,
/// checks the version and proposes the new value, all under one lock, so of two racing updates
/// of the same version exactly one wins; a follower forwards the request to the leader.
pub async fn post_feature(
    ctx: &Ctx,
    cluster: &Arc<Cluster>,
    req: Request<Incoming>,
    id: Vec<u8>,
) -> Result<Resp, ApiError> {
    flags::check_flag_id(&id)?;
    let forwarded = req.headers().contains_key(FORWARDED);
    let body = ctx
        .body(req, ctx.state.cfg.server.max_json_payload_size)
        .await?;
    if !cluster.is_leader() {
        if forwarded {
            return Err(crate::cluster::not_leader());
        }
        let encoded = percent_encoding::percent_encode(&id, percent_encoding::NON_ALPHANUMERIC);
        let path = format!("/features/{encoded}");
        let (status, answer) = cluster.forward(&path, FORWARDED, body.to_vec()).await?;
        let v: Json = serde_json::from_slice(&answer).map_err(|_| ApiError::internal())?;
        return Ok(json_response(status, &v));
    }
    let v = json::parse(&body)?;
    let (enabled, expected) = json::flag_update(&v)?;
    let _serialised = cluster.flag_lock.lock().await;
    cluster.linearize().await?;
    let ks = replicated_keyspace(ctx, cluster, Some(FLAGS))?;
    let k = id.clone();
    let current = ctx
        .in_keyspace(&ks, move |ks| match ks.get(&k)? {
            None => Ok(0),
            Some(raw) => Ok(flags::read_flag(&raw)?.1),
        })
        .await?;
    let (next, value) = flags::next_flag(current, expected, enabled)?;
    propose(
        cluster,
        vec![put(&Some(FLAGS.to_string()), id.clone(), value, None)],
    )
    .await?;
    let status = if current == 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(status, &flags::flag_json(&id, enabled, next)))
}
