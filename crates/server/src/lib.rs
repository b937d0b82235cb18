//! `lsmkv-server`: the REST API over hyper 1 and tokio (no web framework).
//!
//! - `config.rs`: flags and environment variables (five groups, `--help` lists them all).
//! - `routes.rs`: a `match` router on method and raw path; `handlers.rs`: one function per route.
//! - `json.rs`: strict request parsing and response encoding; `keyspace.rs`: how user keys and
//!   feature flags share the engine's key space without colliding.
//! - `auth.rs`: bearer token, constant-time compare; `errors.rs`: `ApiError` -> status + JSON;
//!   `metrics.rs`: Prometheus text.
//!
//! Invariants: engine calls run on the blocking pool, never on an async worker; every response
//! that is not a success is JSON `{"error": ...}`; engine faults are a generic 500 whose details
//! are logged only.
//!
//! Embedding: [`run`] serves until a shutdown future completes; [`RunningServer`] runs one on its
//! own thread (tests use it).

pub mod auth;
pub mod config;
pub mod errors;
pub mod handlers;
pub mod json;
pub mod keyspace;
pub mod metrics;
pub mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

pub use config::{ConfigError, LogFormat, ServerArgs, ServerConfig};
use errors::ApiError;
use handlers::{Ctx, Resp};
use metrics::Metrics;
use routes::{RouteId, Routed};

use lsmkv::Db;

/// State shared by every connection.
pub struct AppState {
    pub db: Db,
    pub cfg: ServerConfig,
    pub metrics: Metrics,
    /// Serialises feature-flag updates so that version checks are atomic.
    pub flag_lock: parking_lot::Mutex<()>,
    pub started: Instant,
}

impl AppState {
    pub fn new(db: Db, cfg: ServerConfig) -> AppState {
        AppState {
            db,
            cfg,
            metrics: Metrics::default(),
            flag_lock: parking_lot::Mutex::new(()),
            started: Instant::now(),
        }
    }
}

/// Installs the global `tracing` subscriber: LOG_LEVEL filter, LOG_FORMAT text or json, to
/// stderr. Does nothing when one is already installed.
pub fn init_logging(cfg: &ServerConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.server.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match cfg.server.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

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
async fn handle(state: Arc<AppState>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let start = Instant::now();
    let in_flight = InFlight::new(&state);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let (route, mut resp) = dispatch(&state, req).await;
    if method == hyper::Method::HEAD {
        // Same headers as GET, no body.
        *resp.body_mut() = http_body_util::Full::new(bytes::Bytes::new());
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
    Ok(resp)
}

async fn dispatch(state: &Arc<AppState>, req: Request<Incoming>) -> (RouteId, Resp) {
    let routed = routes::route(req.method(), req.uri().path());
    let route = match &routed {
        Routed::Route(r, _) => *r,
        _ => RouteId::Unmatched,
    };
    if route != RouteId::Health
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
        Routed::Route(id, param) => {
            let p = param.unwrap_or_default();
            match id {
                RouteId::Health => handlers::health(&ctx).await,
                RouteId::Metrics => handlers::metrics(&ctx).await,
                RouteId::PostKey => handlers::post_key(&ctx, req).await,
                RouteId::Batch => handlers::batch(&ctx, req).await,
                RouteId::List => handlers::list(&ctx, &req).await,
                RouteId::SearchPrefix => handlers::search_prefix(&ctx, &req).await,
                RouteId::SearchSubstring => handlers::search_substring(&ctx, &req).await,
                RouteId::GetKey => handlers::get_key(&ctx, &req, p).await,
                RouteId::PutKey => handlers::put_raw(&ctx, req, p).await,
                RouteId::DeleteKey => handlers::delete_key(&ctx, p).await,
                RouteId::StatsAll => handlers::stats(&ctx, "all").await,
                RouteId::StatsMemory => handlers::stats(&ctx, "memory").await,
                RouteId::StatsDisk => handlers::stats(&ctx, "disk").await,
                RouteId::ListFeatures => handlers::list_features(&ctx).await,
                RouteId::GetFeature => handlers::get_feature(&ctx, p).await,
                RouteId::PostFeature => handlers::post_feature(&ctx, req, p).await,
                RouteId::Unmatched => Err(ApiError::not_found("no such route")),
            }
        }
    };
    (
        route,
        result.unwrap_or_else(|e| handlers::error_response(&e)),
    )
}

/// Answers a connection past MAX_CONNECTIONS with 503 and closes it.
async fn reject(mut stream: TcpStream) {
    let body = br#"{"error":"too many connections (MAX_CONNECTIONS)"}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
    // Drain what the client sent, briefly, so that closing does not reset the connection before
    // the client has read the answer.
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Accepts connections on `listener` until `shutdown` completes, then stops accepting, lets
/// requests in flight finish (up to SHUTDOWN_GRACE_MS) and returns.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let s = &state.cfg.server;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(s.header_read_timeout_ms))
        .keep_alive(s.keep_alive);
    let limit = Arc::new(Semaphore::new(s.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let m = &state.metrics;
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            m.connections_rejected.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(reject(stream));
            continue;
        };
        m.connections_total.fetch_add(1, Ordering::Relaxed);
        m.connections_open.fetch_add(1, Ordering::Relaxed);
        let st = state.clone();
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| handle(st.clone(), req)),
        );
        let conn = graceful.watch(conn);
        let st = state.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            st.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    let grace = Duration::from_millis(state.cfg.server.shutdown_grace_ms);
    tracing::info!("shutting down: finishing requests in flight");
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period (SHUTDOWN_GRACE_MS) passed; dropping connections");
    }
}

/// Opens the database, serves on the configured address until `shutdown()` completes, then
/// syncs the WAL and closes the database. `ready` is called with the bound address.
///
/// # Errors
/// A message ready to print: the database could not be opened, the address not bound, or the
/// final sync or close failed.
pub fn run<F, Fut>(
    cfg: ServerConfig,
    shutdown: F,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), String>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let addr = cfg.bind_addr()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.workers())
        .thread_name("lsmkv-http")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let listener = rt
        .block_on(TcpListener::bind(addr))
        .map_err(|e| format!("cannot listen on {addr} (SERVER_HOST, SERVER_PORT): {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let dir = cfg.engine.data_dir.clone();
    let db = Db::open(&dir, cfg.engine.clone()).map_err(|e| {
        format!(
            "cannot open the database in {} (DATA_DIR): {e}",
            dir.display()
        )
    })?;
    tracing::info!(addr = %local, data_dir = %dir.display(), "lsmkv-server listening on {local}");
    let grace = Duration::from_millis(cfg.server.shutdown_grace_ms);
    let state = Arc::new(AppState::new(db.clone(), cfg));
    ready(local);
    rt.block_on(async {
        let stop = shutdown();
        serve(listener, state.clone(), stop).await;
    });
    // Requests are finished (or dropped after the grace period): make every acknowledged write
    // durable, then wait for stray blocking tasks before closing.
    let synced = db.sync();
    rt.shutdown_timeout(grace);
    drop(state);
    let closed = db.close();
    tracing::info!("lsmkv-server stopped");
    synced
        .and(closed)
        .map_err(|e| format!("closing the database: {e}"))
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}

/// A server running on its own thread; for tests and embedding.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl RunningServer {
    /// Starts a server with `cfg` (use port 0 for a free port) and returns once it listens.
    ///
    /// # Errors
    /// As [`run`].
    pub fn start(cfg: ServerConfig) -> Result<RunningServer, String> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lsmkv-server".into())
            .spawn(move || {
                run(
                    cfg,
                    || async move {
                        let _ = stop_rx.await;
                    },
                    move |a| {
                        let _ = addr_tx.send(a);
                    },
                )
            })
            .map_err(|e| format!("cannot spawn the server thread: {e}"))?;
        match addr_rx.recv() {
            Ok(addr) => Ok(RunningServer {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            // The thread ended before binding: report its error.
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                Ok(Ok(())) => "server stopped before listening".into(),
                Err(_) => "server thread panicked".into(),
            }),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful shutdown: stop accepting, finish requests in flight, sync and close the database.
    ///
    /// # Errors
    /// As [`run`].
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
