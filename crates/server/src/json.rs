//! JSON request parsing (strict: right types, required fields, no empty or oversized keys) and
//! response encoding.
//!
//! Keys and values travel as JSON strings. Bytes that are not UTF-8 (stored through
//! `PUT /keys/{key}` with a raw body) are returned as `key_base64` / `value_base64` instead, and
//! request bodies accept the same fields, so what a listing returns can be written back.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value as Json, json};

use crate::errors::ApiError;
use crate::layout::MAX_USER_KEY;

/// A user key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Parses a body as JSON.
pub fn parse(body: &[u8]) -> Result<Json, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "request body is empty; expected JSON",
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))
}

/// Checks a user key: not empty, at most [`MAX_USER_KEY`] bytes.
pub fn check_key(key: &[u8]) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad_request("key must not be empty"));
    }
    if key.len() > MAX_USER_KEY {
        return Err(ApiError::bad_request(format!(
            "key of {} bytes exceeds the maximum of {MAX_USER_KEY} bytes",
            key.len()
        )));
    }
    Ok(())
}

fn object<'a>(v: &'a Json, what: &str) -> Result<&'a Map<String, Json>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::bad_request(format!("{what} must be a JSON object")))
}

fn string_field<'a>(o: &'a Map<String, Json>, name: &str, at: &str) -> Result<&'a str, ApiError> {
    match o.get(name) {
        None => Err(ApiError::bad_request(format!("{at}missing field `{name}`"))),
        Some(Json::String(s)) => Ok(s),
        Some(_) => Err(ApiError::bad_request(format!(
            "{at}field `{name}` must be a string"
        ))),
    }
}

/// The bytes of field `name` given as a string (`name`) or as standard base64 (`name_base64`),
/// exactly one of the two.
fn bytes_field(o: &Map<String, Json>, name: &str, at: &str) -> Result<Vec<u8>, ApiError> {
    let b64 = format!("{name}_base64");
    match (o.contains_key(name), o.get(&b64)) {
        (true, Some(_)) => Err(ApiError::bad_request(format!(
            "{at}give `{name}` or `{b64}`, not both"
        ))),
        (false, None) => Err(ApiError::bad_request(format!(
            "{at}missing field `{name}` (or `{b64}`)"
        ))),
        (true, None) => Ok(string_field(o, name, at)?.as_bytes().to_vec()),
        (false, Some(Json::String(s))) => STANDARD
            .decode(s.as_bytes())
            .map_err(|_| ApiError::bad_request(format!("{at}field `{b64}` is not valid base64"))),
        (false, Some(_)) => Err(ApiError::bad_request(format!(
            "{at}field `{b64}` must be a string"
        ))),
    }
}

/// A key given as `key` or `key_base64` in `o`, checked.
pub fn key_field(o: &Map<String, Json>, at: &str) -> Result<Vec<u8>, ApiError> {
    let key = bytes_field(o, "key", at)?;
    check_key(&key).map_err(|e| ApiError::bad_request(format!("{at}{}", e.message)))?;
    Ok(key)
}

/// A `{"key": "...", "value": "..."}` object; `key_base64` / `value_base64` (as in responses)
/// stand for bytes that are not UTF-8.
pub fn key_value(v: &Json, at: &str) -> Result<(Vec<u8>, Vec<u8>), ApiError> {
    let o = object(
        v,
        if at.is_empty() {
            "body"
        } else {
            at.trim_end_matches(": ")
        },
    )?;
    let key = key_field(o, at)?;
    let value = bytes_field(o, "value", at)?;
    Ok((key, value))
}

/// A `[{"key": ..., "value": ...}, ...]` array of at most `max` entries.
pub fn batch(v: &Json, max: usize) -> Result<Vec<KeyValue>, ApiError> {
    let arr = v.as_array().ok_or_else(|| {
        ApiError::bad_request("body must be a JSON array of {key, value} objects")
    })?;
    if arr.is_empty() {
        return Err(ApiError::bad_request("batch must not be empty"));
    }
    if arr.len() > max {
        return Err(ApiError::bad_request(format!(
            "batch of {} entries exceeds the maximum of {max} (MAX_BATCH_ENTRIES)",
            arr.len()
        )));
    }
    arr.iter()
        .enumerate()
        .map(|(i, e)| key_value(e, &format!("entry {i}: ")))
        .collect()
}

/// A `{"keys": [{"key": ...} | {"key_base64": ...}, ...]}` body of at most `max` keys.
pub fn key_list(v: &Json, max: usize) -> Result<Vec<Vec<u8>>, ApiError> {
    let arr = object(v, "body")?
        .get("keys")
        .and_then(Json::as_array)
        .ok_or_else(|| ApiError::bad_request("body must be {\"keys\": [{\"key\": ...}, ...]}"))?;
    if arr.is_empty() {
        return Err(ApiError::bad_request("`keys` must not be empty"));
    }
    if arr.len() > max {
        return Err(ApiError::bad_request(format!(
            "{} keys exceed the maximum of {max} (MAX_BATCH_ENTRIES)",
            arr.len()
        )));
    }
    arr.iter()
        .enumerate()
        .map(|(i, e)| {
            let at = format!("key {i}: ");
            key_field(object(e, &format!("key {i}"))?, &at)
        })
        .collect()
}

/// A `{"enabled": bool, "version": N}` flag update; `version` is optional (None: no check).
pub fn flag_update(v: &Json) -> Result<(bool, Option<u64>), ApiError> {
    let o = object(v, "body")?;
    let enabled = match o.get("enabled") {
        None => return Err(ApiError::bad_request("missing field `enabled`")),
        Some(Json::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "field `enabled` must be true or false",
            ));
        }
    };
    let version = match o.get("version") {
        None => None,
        Some(n) => Some(n.as_u64().ok_or_else(|| {
            ApiError::bad_request("field `version` must be a non-negative whole number")
        })?),
    };
    Ok((enabled, version))
}

/// Adds `name` (or `name_base64` when not UTF-8) to `o`.
pub fn put_bytes(o: &mut Map<String, Json>, name: &str, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => o.insert(name.to_string(), Json::String(s.to_string())),
        Err(_) => o.insert(format!("{name}_base64"), Json::String(STANDARD.encode(b))),
    };
}

/// `{"key": ..., "value": ...}`.
pub fn item(key: &[u8], value: &[u8]) -> Json {
    let mut o = Map::new();
    put_bytes(&mut o, "key", key);
    put_bytes(&mut o, "value", value);
    Json::Object(o)
}

/// `{"key": ..., "value": null}`: a key that is absent.
pub fn absent_item(key: &[u8]) -> Json {
    let mut o = Map::new();
    put_bytes(&mut o, "key", key);
    o.insert("value".to_string(), Json::Null);
    Json::Object(o)
}

/// `{"items": [...], "next": cursor-or-null}`.
pub fn page(items: &[(Vec<u8>, Vec<u8>)], next: Option<&[u8]>) -> Json {
    json!({
        "items": items.iter().map(|(k, v)| item(k, v)).collect::<Vec<_>>(),
        "next": next.map(encode_cursor),
    })
}

/// `{"items": [{"key": ...}, ...], "next": cursor-or-null}`: a page without values.
pub fn key_page<'a>(keys: impl Iterator<Item = &'a [u8]>, next: Option<&[u8]>) -> Json {
    let items: Vec<Json> = keys
        .map(|k| {
            let mut o = Map::new();
            put_bytes(&mut o, "key", k);
            Json::Object(o)
        })
        .collect();
    json!({ "items": items, "next": next.map(encode_cursor) })
}

/// A cursor is the last key returned, base64url without padding: opaque to clients.
pub fn encode_cursor(key: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

pub fn decode_cursor(s: &str) -> Result<Vec<u8>, ApiError> {
    URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| ApiError::bad_request("`cursor` is not a cursor returned by this server"))
}

/// The fields of a keyspace's options in request bodies (`PUT /keyspaces/{ks}`,
/// `POST /keyspaces`).
pub const KEYSPACE_OPTION_FIELDS: &[&str] = &[
    "compression",
    "block_size",
    "bloom_false_positive_rate",
    "prefix_bloom_length",
    "compaction_strategy",
    "ttl_seconds",
];

/// A keyspace's options from the object `o` (only the fields of [`KEYSPACE_OPTION_FIELDS`], plus
/// those in `also`); unknown fields are refused. The engine checks the values' ranges.
pub fn keyspace_options(
    o: &Map<String, Json>,
    also: &[&str],
) -> Result<lsmkv::KeyspaceOptions, ApiError> {
    use std::str::FromStr as _;
    if let Some(k) = o
        .keys()
        .find(|k| !KEYSPACE_OPTION_FIELDS.contains(&k.as_str()) && !also.contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown keyspace option `{k}` (known: {})",
            KEYSPACE_OPTION_FIELDS.join(", ")
        )));
    }
    let whole = |name: &str| -> Result<Option<u64>, ApiError> {
        o.get(name)
            .map(|v| {
                v.as_u64().ok_or_else(|| {
                    ApiError::bad_request(format!("`{name}` must be a non-negative whole number"))
                })
            })
            .transpose()
    };
    let text = |name: &str| -> Result<Option<&str>, ApiError> {
        o.get(name)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| ApiError::bad_request(format!("`{name}` must be a string")))
            })
            .transpose()
    };
    let size = |name: &str| -> Result<Option<usize>, ApiError> {
        whole(name)?
            .map(|n| {
                usize::try_from(n)
                    .map_err(|_| ApiError::bad_request(format!("`{name}` is too large")))
            })
            .transpose()
    };
    let mut opts = lsmkv::KeyspaceOptions::default();
    if let Some(c) = text("compression")? {
        let c = lsmkv::Compression::from_str(c)
            .map_err(|e| ApiError::bad_request(format!("`compression`: {e}")))?;
        opts = opts.compression(c);
    }
    if let Some(n) = size("block_size")? {
        opts = opts.block_size(n);
    }
    if let Some(v) = o.get("bloom_false_positive_rate") {
        let r = v
            .as_f64()
            .ok_or_else(|| ApiError::bad_request("`bloom_false_positive_rate` must be a number"))?;
        opts = opts.bloom_false_positive_rate(r);
    }
    if let Some(n) = size("prefix_bloom_length")? {
        opts = opts.prefix_bloom_length(n);
    }
    if let Some(s) = text("compaction_strategy")? {
        let s = lsmkv::CompactionStrategy::from_str(s)
            .map_err(|e| ApiError::bad_request(format!("`compaction_strategy`: {e}")))?;
        opts = opts.compaction_strategy(s);
    }
    if let Some(secs) = whole("ttl_seconds")? {
        if secs == 0 {
            return Err(ApiError::bad_request(
                "`ttl_seconds` must be at least 1 (leave it out for no TTL)",
            ));
        }
        opts = opts.ttl(std::time::Duration::from_secs(secs));
    }
    Ok(opts)
}

/// The object `v` (a request body), or 400.
pub fn body_object(v: &Json) -> Result<&Map<String, Json>, ApiError> {
    object(v, "body")
}
