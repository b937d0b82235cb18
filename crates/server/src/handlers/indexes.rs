//! Secondary indexes on a JSON field (see [`crate::index_def`] and [`crate::indexes`]): `GET /indexes` (every index with
//! its build progress), `POST /indexes` (create), `GET /indexes/{name}` (the entries whose
//! field equals a value, or lies in a range, a page at a time), `DELETE /indexes/{name}`.
//!
//! Queries return the primary entries with their current value and version: the engine's index
//! iterator gives (key, value) at one snapshot, and each hit is read again with its version
//! (`get_versioned`); a hit whose indexed field changed in between is left out, so every item
//! answered has the queried field value. Items come in (index key, key) order; the cursor is
//! that pair. While an index is being built its queries are refused (503 `index_building`).

use std::ops::Bound;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::{Map, Value as Json, json};

use lsmkv::Index;

use super::context::{Ctx, Resp, json_response};
use super::listing::{self, Query};
use crate::errors::ApiError;
use crate::index_def::{IndexDef, MAX_INDEX_NAME, index_key};
use crate::json;
use crate::layout::{self, DEFAULT};

/// An index name from the path: UTF-8.
fn name_of(raw: Vec<u8>) -> Result<String, ApiError> {
    String::from_utf8(raw).map_err(|_| ApiError::bad_request("an index name must be UTF-8"))
}

/// `{"name", "keyspace", "field", "declared", "ready", "built_keys"}` of `def`.
fn describe(def: &IndexDef, stats: &[lsmkv::IndexStats]) -> Json {
    let s = stats.iter().find(|s| s.name == def.name);
    json!({
        "name": def.name,
        "keyspace": def.keyspace,
        "field": def.field,
        "declared": true,
        "ready": s.is_some_and(|s| s.ready),
        "built_keys": s.map_or(0, |s| s.built_keys),
    })
}

/// `GET /indexes`: `{"indexes": [...]}`, by name: the server's indexes with their build progress
/// (`ready`, `built_keys`), and engine indexes it has no definition of (`"declared": false`,
/// which block writes to their keyspace until dropped).
pub async fn list_indexes(ctx: &Ctx) -> Result<Resp, ApiError> {
    let state = ctx.state.clone();
    let out = ctx
        .blocking(move || {
            let stats = state.db.stats().indexes;
            let mut out: Vec<(String, Json)> = state
                .indexes
                .defs()
                .iter()
                .map(|d| (d.name.clone(), describe(d, &stats)))
                .collect();
            for name in state.indexes.undeclared()? {
                let entry = json!({
                    "name": name, "keyspace": null, "field": null,
                    "declared": false, "ready": false, "built_keys": 0,
                });
                out.push((name, entry));
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out.into_iter().map(|(_, v)| v).collect::<Vec<_>>())
        })
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "indexes": out })))
}

/// The definition in a `POST /indexes` body: `{"name", "field", "keyspace"?}`.
fn parse_def(v: &Json) -> Result<IndexDef, ApiError> {
    let o = json::body_object(v)?;
    if let Some(k) = o
        .keys()
        .find(|k| !["name", "field", "keyspace"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field `{k}` (known: name, field, keyspace)"
        )));
    }
    let text = |name: &str, required: bool| -> Result<Option<String>, ApiError> {
        match o.get(name) {
            None if required => Err(ApiError::bad_request(format!("missing field `{name}`"))),
            None => Ok(None),
            Some(Json::String(s)) if s.is_empty() => Err(ApiError::bad_request(format!(
                "field `{name}` must not be empty"
            ))),
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(format!(
                "field `{name}` must be a string"
            ))),
        }
    };
    let name = text("name", true)?.unwrap_or_default();
    if name.len() > MAX_INDEX_NAME {
        return Err(ApiError::bad_request(format!(
            "an index name has 1 to {MAX_INDEX_NAME} bytes, not {}",
            name.len()
        )));
    }
    Ok(IndexDef {
        name,
        field: text("field", true)?.unwrap_or_default(),
        keyspace: text("keyspace", false)?.unwrap_or_else(|| DEFAULT.to_string()),
    })
}

/// `POST /indexes` `{"name": N, "field": F, "keyspace": KS}` (`keyspace` defaults to `default`):
/// creates the index, 201 with its description. The existing data is indexed in the background
/// (`ready` false until then). 409 `index_exists`; 404 `keyspace_not_found`; 403
/// `keyspace_reserved` for the server's own keyspaces.
pub async fn post_index(ctx: &Ctx, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let v = ctx.json_body(req).await?;
    let def = parse_def(&v)?;
    if layout::is_reserved(&def.keyspace) {
        return Err(ApiError::keyspace_reserved(format!(
            "keyspace {:?} belongs to the server: it cannot be indexed",
            def.keyspace
        )));
    }
    let ks = ctx
        .state
        .keyspaces
        .get(&def.keyspace)
        .ok_or_else(|| ApiError::keyspace_not_found(&def.keyspace))?;
    let state = ctx.state.clone();
    let body = ctx
        .blocking(move || {
            state.indexes.create(def.clone(), &ks, &state.keyspaces)?;
            Ok(describe(&def, &state.db.stats().indexes))
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &body))
}

/// `DELETE /indexes/{name}`: drops the index (its entries; the indexed data stays):
/// `{"dropped": NAME}`; 404 `index_not_found`.
pub async fn delete_index(ctx: &Ctx, raw: Vec<u8>) -> Result<Resp, ApiError> {
    let name = name_of(raw)?;
    let state = ctx.state.clone();
    let n = name.clone();
    ctx.blocking(move || state.indexes.drop_index(&n, &state.keyspaces))
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "dropped": name })))
}

/// Lower and upper bound of index keys.
type Bounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The index keys a query names: `eq=V`, `prefix=P`, or `start=` (inclusive) / `end=`
/// (exclusive); every index key when none is given.
fn queried(q: &Query) -> Result<Bounds, ApiError> {
    let eq = q.bytes("eq")?;
    let range = listing::requested(q)?;
    match (eq, range) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give `eq`, `prefix` or `start` / `end`, not several",
        )),
        (Some(v), None) => Ok((Bound::Included(v.clone()), Bound::Included(v))),
        (None, range) => Ok(range.unwrap_or_default().range()),
    }
}

/// A query's position: (index key, primary key) of the last item answered.
type Position = (Vec<u8>, Vec<u8>);

/// The cursor of `pos`: base64url of the index key's length (4 bytes, big-endian), the index
/// key, the primary key.
fn encode_cursor((ix, pk): &Position) -> String {
    let mut b = Vec::with_capacity(4 + ix.len() + pk.len());
    b.extend_from_slice(&u32::try_from(ix.len()).unwrap_or(u32::MAX).to_be_bytes());
    b.extend_from_slice(ix);
    b.extend_from_slice(pk);
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_cursor(s: &str) -> Result<Position, ApiError> {
    let bad = || ApiError::bad_request("`cursor` is not a cursor returned by this server");
    let b = URL_SAFE_NO_PAD.decode(s.as_bytes()).map_err(|_| bad())?;
    let (len, rest) = b.split_first_chunk::<4>().ok_or_else(bad)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad())?;
    if len > rest.len() {
        return Err(bad());
    }
    let (ix, pk) = rest.split_at(len);
    Ok((ix.to_vec(), pk.to_vec()))
}

/// One answered item: key, value, version, and its position.
struct Hit {
    key: Vec<u8>,
    value: Vec<u8>,
    version: u64,
    index_key: Vec<u8>,
}

/// Up to `limit` hits of `index` in `(lower, upper)` after `cursor`, and whether more follow.
///
/// The engine's index iterator starts at an index key, not at an (index key, primary key) pair,
/// so resuming within one index key skips the entries up to the cursor again (a cost that grows
/// with the number of keys sharing one index key).
fn run_query(
    index: &Index,
    def: &IndexDef,
    ks: &lsmkv::Keyspace,
    (mut lower, mut upper): Bounds,
    cursor: Option<Position>,
    reverse: bool,
    limit: usize,
) -> Result<(Vec<Hit>, bool), ApiError> {
    if let Some((ix, _)) = &cursor {
        if reverse {
            upper = Bound::Included(ix.clone());
        } else {
            lower = Bound::Included(ix.clone());
        }
    }
    let it = index.range((lower, upper));
    let it: Box<dyn Iterator<Item = lsmkv::Result<(lsmkv::Key, lsmkv::Value)>>> = if reverse {
        Box::new(it.rev())
    } else {
        Box::new(it)
    };
    let mut hits = Vec::new();
    for kv in it {
        let (pk, v) = kv?;
        let Some(ix) = index_key(&def.field, &pk, &v) else {
            continue;
        };
        if let Some((cix, cpk)) = &cursor {
            let pos = (ix.as_slice(), &pk[..]);
            let seen = if reverse {
                pos >= (cix.as_slice(), cpk.as_slice())
            } else {
                pos <= (cix.as_slice(), cpk.as_slice())
            };
            if seen {
                continue;
            }
        }
        if hits.len() == limit {
            return Ok((hits, true));
        }
        // The current value and its version; left out when its field changed since.
        if let Some((now, version)) = ks.get_versioned(&pk)?
            && index_key(&def.field, &pk, &now).as_deref() == Some(ix.as_slice())
        {
            hits.push(Hit {
                key: pk.to_vec(),
                value: now.to_vec(),
                version,
                index_key: ix,
            });
        }
    }
    Ok((hits, false))
}

/// `GET /indexes/{name}?eq=V` (or `prefix=P`, or `start=&end=`; nothing: every entry)
/// `&limit=&cursor=&reverse=`: `{"items": [{"key", "value", "version"}, ...], "next":
/// CURSOR-or-null}`. 404 `index_not_found`; 503 `index_building` while it is being built.
pub async fn query_index(
    ctx: &Ctx,
    req: &Request<Incoming>,
    raw: Vec<u8>,
) -> Result<Resp, ApiError> {
    let name = name_of(raw)?;
    let (def, index) = ctx
        .state
        .indexes
        .get(&name)
        .ok_or_else(|| ApiError::index_not_found(&name))?;
    let q = Query::parse(req);
    let range = queried(&q)?;
    let limit = q.limit(&ctx.state)?;
    let reverse = q.flag("reverse")?;
    let cursor = q
        .get("cursor")
        .filter(|c| !c.is_empty())
        .map(decode_cursor)
        .transpose()?;
    if !index.is_ready() {
        let n = name.clone();
        let built = ctx
            .engine(move |db| {
                Ok(db
                    .stats()
                    .indexes
                    .iter()
                    .find(|s| s.name == n)
                    .map_or(0, |s| s.built_keys))
            })
            .await?;
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("index {name:?} is still being built ({built} keys so far); retry shortly"),
        )
        .with_code("index_building");
        e.extra = Some(json!({ "built_keys": built }));
        return Err(e);
    }
    let ks = ctx
        .state
        .keyspaces
        .get(&def.keyspace)
        .ok_or_else(|| ApiError::keyspace_not_found(&def.keyspace))?;
    let (hits, more) = ctx
        .blocking(move || run_query(&index, &def, &ks, range, cursor, reverse, limit))
        .await?;
    let next = match hits.last() {
        Some(h) if more => Json::String(encode_cursor(&(h.index_key.clone(), h.key.clone()))),
        _ => Json::Null,
    };
    let items: Vec<Json> = hits
        .iter()
        .map(|h| {
            let mut o = Map::new();
            json::put_bytes(&mut o, "key", &h.key);
            json::put_bytes(&mut o, "value", &h.value);
            o.insert("version".into(), h.version.into());
            Json::Object(o)
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "items": items, "next": next }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for pos in [
            (b"a@x".to_vec(), b"u1".to_vec()),
            (Vec::new(), b"k".to_vec()),
            (b"\x00\xff".to_vec(), Vec::new()),
        ] {
            assert_eq!(decode_cursor(&encode_cursor(&pos)).ok(), Some(pos.clone()));
        }
        for bad in ["", "AAA", "!!", "AAAAEA"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
