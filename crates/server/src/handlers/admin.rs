//! Operations routes: `GET /health`, `GET /stats/{all,memory,disk}`, `GET /metrics`.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::{Value as Json, json};

use super::context::{Ctx, Resp, json_response};
use crate::errors::ApiError;

fn pick(stats: &Json, fields: &[&str]) -> Json {
    let mut o = serde_json::Map::new();
    for f in fields {
        if let Some(v) = stats.get(*f) {
            o.insert((*f).to_string(), v.clone());
        }
    }
    Json::Object(o)
}

const MEMORY_FIELDS: &[&str] = &[
    "memtable_bytes",
    "memtable_entries",
    "immutable_memtables",
    "immutable_memtable_bytes",
    "block_cache",
    "memory",
];
const DISK_FIELDS: &[&str] = &[
    "levels",
    "sst_files",
    "sst_bytes",
    "wal_segments",
    "wal_bytes",
    "wal_current_segment",
    "flushes",
    "flush_bytes_written",
    "wal_bytes_written",
    "wal_syncs",
];

pub async fn stats(ctx: &Ctx, which: &'static str) -> Result<Resp, ApiError> {
    let (engine, options, subscribers) = ctx
        .engine(|db| {
            let s = serde_json::to_value(db.stats()).map_err(|_| ApiError::internal())?;
            let o = serde_json::to_value(db.options()).map_err(|_| ApiError::internal())?;
            Ok((s, o, db.subscriber_count()))
        })
        .await?;
    let body = match which {
        "memory" => pick(&engine, MEMORY_FIELDS),
        "disk" => pick(&engine, DISK_FIELDS),
        _ => {
            let st = &ctx.state;
            let m = &st.metrics;
            let ld =
                |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            json!({
                "engine": engine,
                "memory": pick(&engine, MEMORY_FIELDS),
                "disk": pick(&engine, DISK_FIELDS),
                "server": {
                    "uptime_ms": st.started.elapsed().as_millis() as u64,
                    "workers": tokio::runtime::Handle::current().metrics().num_workers(),
                    "requests_total": m.requests_total(),
                    "connections_open": ld(&m.connections_open),
                    "connections_total": ld(&m.connections_total),
                    "connections_rejected": ld(&m.connections_rejected),
                    "watchers": st.watchers.active(),
                    "subscribers": subscribers,
                    "config": st.cfg.to_json(),
                },
                "options": options,
            })
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

pub async fn metrics(ctx: &Ctx) -> Result<Resp, ApiError> {
    if !ctx.state.cfg.server.metrics_enabled {
        return Err(ApiError::not_found(
            "metrics are disabled (METRICS_ENABLED)",
        ));
    }
    let engine = ctx
        .engine(|db| serde_json::to_value(db.stats()).map_err(|_| ApiError::internal()))
        .await?;
    let text = ctx
        .state
        .metrics
        .render(&engine, ctx.state.started.elapsed());
    let mut r = Response::new(Full::new(Bytes::from(text)));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(r)
}

/// `{"status": "ok", "recovery": Db::recovery_report()}`: what WAL replay at start-up dropped
/// stays visible for as long as the server runs.
pub async fn health(ctx: &Ctx) -> Result<Resp, ApiError> {
    let recovery =
        serde_json::to_value(ctx.state.db.recovery_report()).map_err(|_| ApiError::internal())?;
    let (status, body) = health_body(ctx.state.db.stats().poisoned, recovery);
    Ok(json_response(status, &body))
}

/// `/health`'s answer: 200 `{"status":"ok"}`, or 503 `{"status":"poisoned","cause":...}` once a
/// fatal failure (a failed write or fsync, a full disk, a panic in a background thread) made the
/// database read-only: writes fail until a restart, reads go on.
fn health_body(poisoned: Option<String>, recovery: Json) -> (StatusCode, Json) {
    match poisoned {
        None => (
            StatusCode::OK,
            json!({ "status": "ok", "recovery": recovery }),
        ),
        Some(cause) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "poisoned", "cause": cause, "recovery": recovery }),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_503_with_the_cause_once_poisoned() {
        let (st, body) = health_body(None, json!({}));
        assert_eq!(st, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        let (st, body) = health_body(Some("fsync failed: EIO".into()), json!({}));
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "poisoned");
        assert_eq!(body["cause"], "fsync failed: EIO");
    }
}
