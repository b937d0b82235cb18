//! `lsmkv-server`: the HTTP server. Argument parsing and wiring only; see the `lsmkv_server` library.
//!
//! Configuration precedence: flag > environment variable > `.env` > default (`--help` lists every
//! variable). A bad value stops start-up with a message naming the variable (exit status 2).
//! SIGTERM or SIGINT: stop accepting, finish requests in flight, sync the WAL, exit 0.

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use lsmkv_server::{self as server, ConfigError, ServerConfig};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `.env` fills in variables that are not already set; a missing file is fine.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("lsmkv-server: ignoring .env: {e}");
    }
    let cfg = match ServerConfig::parse_from(std::env::args_os()) {
        Ok(c) => c,
        Err(ConfigError::Clap(e)) => e.exit(),
        Err(e @ ConfigError::Invalid(_)) => {
            eprintln!("lsmkv-server: {e}");
            return ExitCode::from(2);
        }
    };
    server::init_logging(&cfg);
    // The bound address goes to stdout whatever LOG_LEVEL says, for scripts (and SERVER_PORT=0).
    let ready = |addr| println!("lsmkv-server listening on {addr}");
    match server::run(cfg, server::shutdown_signal, ready) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, on stderr, whatever LOG_LEVEL says (not also through the log).
            eprintln!("lsmkv-server: {e}");
            ExitCode::FAILURE
        }
    }
}
