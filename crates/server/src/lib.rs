//! `lsmkv-server`: the REST API over hyper 1 and tokio (no web framework).
//!
//! - [`config`]: flags and environment variables (five groups, `--help` lists them all).
//! - `serve`: the accept loop and [`run`]; `running`: [`RunningServer`]; `state`: what every
//!   connection shares.
//! - `dispatch`: one request's way (auth, route, handler, access log, metrics); `routes`: a
//!   `match` router on method and raw path; `handlers`: one function per route, by resource.
//! - `json`: strict request parsing and response encoding; `layout`: where user keys and feature
//!   flags live (keyspaces `default` and `flags`); `migrate`: the one-time move of a database
//!   written in the old single-key-space layout; `registry`: the keyspaces served, by name.
//! - `index_def`: the JSON-field extractor of secondary indexes and their stored definition
//!   (one source file with the shell, which declares the server's indexes when it writes);
//!   `indexes`: the server's indexes and their declaration at start-up (before the first
//!   connection is accepted).
//! - `handlers::watch`: `GET /watch`, the change feed as server-sent events, one thread per
//!   stream (the only handler whose body is not one buffer).
//! - `conn_io`: gives hyper's own 414 a JSON body.
//! - `auth`: bearer token, constant-time compare; `errors`: `ApiError` -> status + JSON;
//!   `metrics`: Prometheus text.
//!
//! Invariants: engine calls run on the blocking pool, never on an async worker; every response
//! that is not a success is JSON `{"error": ..., "code": ...}` ([`ERROR_CODES`]); engine faults
//! are 500s coded `corruption`, `io`, `read_only` or `internal` whose details are logged only.
//!
//! Embedding: [`run`] serves until a shutdown future completes; [`RunningServer`] runs one on its
//! own thread (tests use it).

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cluster;
pub mod config;
mod conn_io;
mod dispatch;
mod errors;
mod handlers;
mod index_def;
mod indexes;
mod json;
mod layout;
mod metrics;
mod migrate;
mod registry;
mod routes;
mod running;
mod serve;
mod state;

pub use config::{ConfigError, LogFormat, ServerArgs, ServerConfig};
pub use errors::CODES as ERROR_CODES;
pub use running::RunningServer;
pub use serve::{run, shutdown_signal};

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
