//! What every handler uses: the request context [`Ctx`] (engine calls on the blocking pool under
//! the request's deadline, bounded body reads) and the response builders.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::Value as Json;
use tokio::time::{Instant, timeout_at};

use lsmkv::{Db, Keyspace};

use crate::errors::ApiError;
use crate::json;
use crate::state::AppState;

pub type Resp = Response<Full<Bytes>>;

/// One request's context.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub deadline: Instant,
}

impl Ctx {
    /// Runs `f` on the blocking pool; 503 when the request's deadline passes first.
    pub(super) async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    {
        match timeout_at(self.deadline, tokio::task::spawn_blocking(f)).await {
            Err(_) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "request timed out (REQUEST_TIMEOUT_MS)",
            )
            .with_code("timeout")),
            Ok(Err(join)) => Err(join.into()),
            Ok(Ok(r)) => r,
        }
    }

    /// Runs `f` with the database on the blocking pool (see [`Ctx::blocking`]).
    pub(super) async fn engine<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
    {
        let db = self.state.db.clone();
        self.blocking(move || f(&db)).await
    }

    /// Runs `f` with keyspace `ks` on the blocking pool (see [`Ctx::blocking`]).
    pub(super) async fn in_keyspace<T, F>(&self, ks: &Keyspace, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Keyspace) -> Result<T, ApiError> + Send + 'static,
    {
        let ks = ks.clone();
        self.blocking(move || f(&ks)).await
    }

    /// Reads the whole body, refusing it past `limit` bytes while reading (413) and when the
    /// deadline passes (408).
    pub(super) async fn body(
        &self,
        req: Request<Incoming>,
        limit: usize,
    ) -> Result<Bytes, ApiError> {
        if let Some(len) = req.headers().get(CONTENT_LENGTH)
            && let Some(len) = len.to_str().ok().and_then(|s| s.parse::<u64>().ok())
            && len > limit as u64
        {
            return Err(ApiError::too_large(limit));
        }
        let body = Limited::new(req.into_body(), limit);
        match timeout_at(self.deadline, body.collect()).await {
            Err(_) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "timed out reading the request body (REQUEST_TIMEOUT_MS)",
            )),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                Err(ApiError::too_large(limit))
            }
            Ok(Err(_)) => Err(ApiError::bad_request("could not read the request body")),
            Ok(Ok(c)) => Ok(c.to_bytes()),
        }
    }

    pub(super) async fn json_body(&self, req: Request<Incoming>) -> Result<Json, ApiError> {
        let limit = self.state.cfg.server.max_json_payload_size;
        let body = self.body(req, limit).await?;
        json::parse(&body)
    }
}

/// A JSON response.
pub fn json_response(status: StatusCode, v: &Json) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub(super) fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub fn error_response(e: &ApiError) -> Resp {
    let mut r = json_response(e.status, &e.body());
    if e.code == "index_building" {
        // Building takes a while; a second is a fair first guess.
        r.headers_mut()
            .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    if let Some(secs) = e
        .extra
        .as_ref()
        .and_then(|x| x["retry_after_seconds"].as_u64())
    {
        r.headers_mut()
            .insert(hyper::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}
