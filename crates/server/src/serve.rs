//! Serving: the accept loop with its connection limit and graceful shutdown, [`run`] (runtime,
//! listener, database, final sync) and the shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use lsmkv::Db;

use crate::config::ServerConfig;
use crate::conn_io::JsonParseErrors;
use crate::dispatch::handle;
use crate::state::AppState;

/// Answers a connection past MAX_CONNECTIONS with 503 and closes it.
async fn reject(mut stream: TcpStream) {
    let body = br#"{"error":"too many connections (MAX_CONNECTIONS)","code":"unavailable"}"#;
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
            JsonParseErrors::new(TokioIo::new(stream)),
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
    // Watch streams never end on their own: end them, so that their connections can close.
    state.watchers.close();
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
    log_recovery(&db.recovery_report());
    crate::migrate::run(&db).map_err(|e| {
        format!(
            "cannot bring the database in {} (DATA_DIR) to the keyspace layout: {e}",
            dir.display()
        )
    })?;
    let mut state = AppState::new(db.clone(), cfg).map_err(|e| {
        format!(
            "cannot open the keyspaces and indexes of {}: {e}",
            dir.display()
        )
    })?;
    if let Some(settings) = state.cfg.raft.clone() {
        db.keyspace(crate::handlers::EMPTY)
            .map_err(|e| format!("cannot create the server's keyspaces: {e}"))?;
        let token = state.cfg.api_token().map(str::to_string);
        let cluster = rt.block_on(crate::cluster::Cluster::start(
            &db,
            settings,
            token.as_deref(),
        ))?;
        state.cluster = Some(cluster);
    }
    tracing::info!(addr = %local, data_dir = %dir.display(), "lsmkv-server listening on {local}");
    let grace = Duration::from_millis(state.cfg.server.shutdown_grace_ms);
    let state = Arc::new(state);
    // The shutdown future (and with it the signal handlers) exists before anyone is told the
    // server is up.
    let stop = {
        let _runtime = rt.enter();
        shutdown()
    };
    ready(local);
    rt.block_on(serve(listener, state.clone(), stop));
    if let Some(cluster) = &state.cluster {
        rt.block_on(cluster.shutdown());
    }
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

/// One warning per WAL region recovery dropped (also shown under `recovery` in `/health`).
fn log_recovery(report: &lsmkv::RecoveryReport) {
    for d in &report.dropped {
        tracing::warn!(
            file = %d.file,
            offset = d.offset,
            bytes = d.bytes,
            records = d.records,
            reason = %d.reason,
            "recovery dropped {d}"
        );
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed when this is called, not
/// when the future is first polled, so a signal that arrives right after start-up reports
/// "listening" still stops the server cleanly. Call it inside the runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate()).and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
    };
    async move {
        #[cfg(unix)]
        match signals {
            Ok((mut term, mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received");
    }
}
