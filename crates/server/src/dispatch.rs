//! One request's way through the server: bearer-token check, routing, the handler, then the
//! access log and the metrics.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Request, StatusCode};

use crate::auth;
use crate::errors::ApiError;
use crate::handlers::{self, Ctx, Resp, watch};
use crate::routes::{self, Params, RouteId, Routed};
use crate::state::AppState;

/// Counts a request in flight; the count drops also when hyper drops the request's future (the
/// client went away).
struct InFlight(Arc<AppState>);

impl InFlight {
    fn new(state: &Arc<AppState>) -> InFlight {
        state.metrics.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Handles one request: auth, routing, the handler, the access log and metrics.
pub(crate) async fn handle(
    state: Arc<AppState>,
    req: Request<Incoming>,
) -> Result<hyper::Response<watch::Body>, Infallible> {
    let start = Instant::now();
    let in_flight = InFlight::new(&state);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let has_body = !hyper::body::Body::is_end_stream(req.body());
    let (route, mut resp) = dispatch(&state, req).await;
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        // A refused request's body may be unread (refused before it was read, or only partly
        // read). hyper then drains what has already arrived and otherwise closes the connection
        // after the answer, possibly without saying so: a client that sent the body a moment
        // later and reuses the connection for its next request finds it closed. Saying so lets
        // the client open a new connection instead.
        resp.headers_mut()
            .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    }
    let head = method == hyper::Method::HEAD;
    if head {
        // Same headers as GET, Content-Length included, no body.
        let len = hyper::body::Body::size_hint(resp.body()).exact();
        *resp.body_mut() = http_body_util::Full::new(bytes::Bytes::new());
        if let Some(len) = len {
            resp.headers_mut()
                .insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
    }
    let latency = start.elapsed();
    let status = resp.status().as_u16();
    let m = &state.metrics;
    m.record(route, status, latency);
    drop(in_flight);
    let s = &state.cfg.server;
    let micros = latency.as_micros() as u64;
    if s.slow_request_ms > 0 && latency >= Duration::from_millis(s.slow_request_ms) {
        m.slow_requests.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(target: "lsmkv::access", %method, %path, status, latency_us = micros, "slow request");
    } else if s.access_log {
        tracing::info!(target: "lsmkv::access", %method, %path, status, latency_us = micros, "request");
    }
    Ok(watch::into_body(resp, head))
}

async fn dispatch(state: &Arc<AppState>, req: Request<Incoming>) -> (RouteId, Resp) {
    let routed = routes::route(req.method(), req.uri().path());
    let route = match &routed {
        Routed::Route(r, _) => *r,
        _ => RouteId::Unmatched,
    };
    // The admin page is static markup holding no data; the routes it calls need the token.
    if route != RouteId::Health
        && route != RouteId::AdminPage
        && let Some(token) = state.cfg.api_token()
        && !auth::authorized(req.headers(), token)
    {
        let mut r = handlers::error_response(&ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
        ));
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        return (route, r);
    }
    let ctx = Ctx {
        state: state.clone(),
        deadline: tokio::time::Instant::now() + state.cfg.request_timeout(),
    };
    if let Some(e) = handlers::refused_in_cluster(&ctx, route) {
        return (route, handlers::error_response(&e));
    }
    let result = match routed {
        Routed::NotFound => Err(ApiError::not_found("no such route")),
        Routed::MethodNotAllowed(allow) => {
            let mut r = handlers::error_response(&ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
            ));
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            return (route, r);
        }
        Routed::Route(id, _) if id.is_cluster() => handlers::cluster_route(&ctx, id, req).await,
        Routed::Route(id, params) => match id.key_op() {
            Some(op) => handlers::key_route(&ctx, op, params, req).await,
            None => {
                let Params { keyspace, param } = params;
                let p = param.unwrap_or_default();
                match id {
                    RouteId::Health => handlers::health(&ctx).await,
                    RouteId::Metrics => handlers::metrics(&ctx).await,
                    RouteId::StatsAll => handlers::stats(&ctx, "all").await,
                    RouteId::StatsMemory => handlers::stats(&ctx, "memory").await,
                    RouteId::StatsDisk => handlers::stats(&ctx, "disk").await,
                    RouteId::ListFeatures => handlers::list_features(&ctx).await,
                    RouteId::GetFeature => handlers::get_feature(&ctx, p).await,
                    RouteId::PostFeature => handlers::post_feature(&ctx, req, p).await,
                    RouteId::AdminPage => Ok(handlers::admin_page()),
                    RouteId::AdminTables => handlers::admin_tables(&ctx).await,
                    RouteId::AdminFlush => handlers::admin_flush(&ctx, &req).await,
                    RouteId::AdminCheckpoint => handlers::admin_checkpoint(&ctx, req).await,
                    RouteId::ListKeyspaces => handlers::list_keyspaces(&ctx).await,
                    RouteId::PostKeyspace => handlers::post_keyspace(&ctx, req).await,
                    RouteId::GetKeyspace => handlers::get_keyspace(&ctx, keyspace).await,
                    RouteId::PutKeyspace => handlers::put_keyspace(&ctx, req, keyspace).await,
                    RouteId::DeleteKeyspace => handlers::delete_keyspace(&ctx, keyspace).await,
                    RouteId::ListIndexes => handlers::list_indexes(&ctx).await,
                    RouteId::PostIndex => handlers::post_index(&ctx, req).await,
                    RouteId::QueryIndex => handlers::query_index(&ctx, &req, p).await,
                    RouteId::DeleteIndex => handlers::delete_index(&ctx, p).await,
                    RouteId::Watch | RouteId::KsWatch => {
                        handlers::watch(&ctx, keyspace, &req).await
                    }
                    // The key routes are handled above.
                    _ => Err(ApiError::not_found("no such route")),
                }
            }
        },
    };
    (
        route,
        result.unwrap_or_else(|e| handlers::error_response(&e)),
    )
}
