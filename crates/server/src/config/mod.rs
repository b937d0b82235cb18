//! Server configuration: command-line flags and environment variables, in six groups.
//!
//! Precedence: flag > environment variable > `.env` (the binary loads it with dotenvy before
//! parsing, without overriding variables already set) > built-in default. Every variable has a
//! flag of the same name in kebab case, so `lsmkv-server --help` lists them all.
//!
//! The server's own variables (groups "Server HTTP", "Advanced tuning", "Monitoring") are a clap
//! derive struct; the engine's (groups "LSM engine", "Compaction") are the table [`ENGINE_VARS`],
//! turned into clap arguments and handed to [`lsmkv::Options::from_lookup`], which owns their
//! parsing and validation. A bad value of either kind is an error naming the variable and what it
//! accepts.

//!
//! - `vars`: the engine's variables as a table; `args`: the server's own variables;
//!   `command`: the clap command made of both; this module: parsing and validation.

mod args;
mod command;
mod raft;
mod vars;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{ArgMatches, FromArgMatches};

use lsmkv::Options;

pub use args::{LogFormat, ServerArgs};
pub use command::command;
pub use raft::RaftSettings;
pub use vars::{ENGINE_VARS, EngineVar};

/// The complete, validated configuration of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub server: ServerArgs,
    pub engine: Options,
    /// The replicated mode's settings; `None`: a single-node server.
    pub raft: Option<RaftSettings>,
}

impl ServerConfig {
    /// Parses flags (`args[0]` is the program name) and the process environment.
    ///
    /// # Errors
    /// A clap error (bad flag or server variable; `--help` and `--version` arrive here too) or an
    /// engine error naming the variable, both as a message ready to print.
    pub fn parse_from<I, T>(args: I) -> Result<ServerConfig, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let m = command()
            .try_get_matches_from(args)
            .map_err(ConfigError::Clap)?;
        ServerConfig::from_matches(&m)
    }

    /// Like [`ServerConfig::parse_from`] with no flags, reading variables through `lookup`
    /// instead of the environment.
    ///
    /// # Errors
    /// As [`ServerConfig::parse_from`].
    pub fn parse_from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ServerConfig, ConfigError> {
        // Turn the variables into flags so that one parser handles both paths.
        let mut args = vec!["lsmkv-server".to_string()];
        let cmd = command();
        for a in cmd.get_arguments() {
            if let (Some(env), Some(long)) = (a.get_env(), a.get_long())
                && let Some(v) = env.to_str().and_then(lookup)
            {
                args.push(format!("--{long}={v}"));
            }
        }
        let m = cmd.try_get_matches_from(args).map_err(ConfigError::Clap)?;
        ServerConfig::from_matches(&m)
    }

    /// The server's values from the derive struct, the engine's through
    /// [`Options::from_lookup`], then the range checks of `validate`.
    fn from_matches(m: &ArgMatches) -> Result<ServerConfig, ConfigError> {
        let mut server = ServerArgs::from_arg_matches(m).map_err(ConfigError::Clap)?;
        let engine = Options::from_lookup(&|k| m.try_get_one::<String>(k).ok().flatten().cloned())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let raft = raft::settings(&server).map_err(ConfigError::Invalid)?;
        if let Some(r) = &raft {
            // A node listens on its own RAFT_PEERS address unless SERVER_HOST / SERVER_PORT say
            // otherwise.
            let defaulted =
                |id| m.value_source(id) == Some(clap::parser::ValueSource::DefaultValue);
            let own = r.own_socket().map_err(ConfigError::Invalid)?;
            if defaulted("server_port") {
                server.server_port = own.port();
                if defaulted("server_host") {
                    server.server_host = own.ip().to_string();
                }
            }
        }
        let cfg = ServerConfig {
            server,
            engine,
            raft,
        };
        cfg.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        let s = &self.server;
        let bad = |name: &str, why: &str| Err(format!("{name}: {why}"));
        if s.max_json_payload_size == 0 {
            return bad("MAX_JSON_PAYLOAD_SIZE", "must be at least 1 byte");
        }
        if s.request_timeout_ms == 0 {
            return bad("REQUEST_TIMEOUT_MS", "must be at least 1");
        }
        if s.header_read_timeout_ms == 0 {
            return bad("HEADER_READ_TIMEOUT_MS", "must be at least 1");
        }
        if s.max_connections == 0 {
            return bad("MAX_CONNECTIONS", "must be at least 1");
        }
        if s.max_watchers == 0 {
            return bad("MAX_WATCHERS", "must be at least 1");
        }
        if s.watch_keepalive_secs == 0 || s.watch_keepalive_secs > 3600 {
            return bad("WATCH_KEEPALIVE_SECS", "must be between 1 and 3600");
        }
        if s.max_batch_entries == 0 {
            return bad("MAX_BATCH_ENTRIES", "must be at least 1");
        }
        if s.search_max_limit == 0 {
            return bad("SEARCH_MAX_LIMIT", "must be at least 1");
        }
        if s.default_page_limit == 0 || s.default_page_limit > s.search_max_limit {
            return bad(
                "DEFAULT_PAGE_LIMIT",
                "must be between 1 and SEARCH_MAX_LIMIT",
            );
        }
        if s.search_scan_limit == 0 {
            return bad("SEARCH_SCAN_LIMIT", "must be at least 1");
        }
        if s.server_workers > 1024 {
            return bad(
                "SERVER_WORKERS",
                "must be between 0 (one per core) and 1024",
            );
        }
        if !valid_host(&s.server_host) {
            return bad(
                "SERVER_HOST",
                "expected an IP address such as 127.0.0.1 or 0.0.0.0, or a host name such as localhost",
            );
        }
        self.bind_addr()?;
        Ok(())
    }

    /// The address to bind: SERVER_HOST (an IP address, or a host name resolved to its first
    /// address) and SERVER_PORT.
    pub fn bind_addr(&self) -> Result<SocketAddr, String> {
        use std::net::{IpAddr, ToSocketAddrs};
        let (host, port) = (&self.server.server_host, self.server.server_port);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let mut addrs = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|e| format!("SERVER_HOST: cannot resolve {host:?}: {e}"))?;
        addrs
            .next()
            .ok_or_else(|| format!("SERVER_HOST: {host:?} resolves to no address"))
    }

    /// The async worker count actually used (resolving 0 to the number of cores).
    pub fn workers(&self) -> usize {
        match self.server.server_workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.server.request_timeout_ms)
    }

    /// The API token, if authentication is on.
    pub fn api_token(&self) -> Option<&str> {
        Some(self.server.api_token.as_str()).filter(|t| !t.is_empty())
    }

    /// The configuration as JSON for `/stats/all`, without the API token.
    pub fn to_json(&self) -> serde_json::Value {
        let s = &self.server;
        serde_json::json!({
            "server_host": s.server_host,
            "server_port": s.server_port,
            "server_workers": self.workers(),
            "max_json_payload_size": s.max_json_payload_size,
            "api_token_set": self.api_token().is_some(),
            "request_timeout_ms": s.request_timeout_ms,
            "header_read_timeout_ms": s.header_read_timeout_ms,
            "max_connections": s.max_connections,
            "keep_alive": s.keep_alive,
            "shutdown_grace_ms": s.shutdown_grace_ms,
            "max_watchers": s.max_watchers,
            "watch_keepalive_secs": s.watch_keepalive_secs,
            "backup_dir": s.backup_dir,
            "max_batch_entries": s.max_batch_entries,
            "default_page_limit": s.default_page_limit,
            "search_max_limit": s.search_max_limit,
            "search_scan_limit": s.search_scan_limit,
            "log_level": s.log_level,
            "log_format": s.log_format,
            "metrics_enabled": s.metrics_enabled,
            "access_log": s.access_log,
            "slow_request_ms": s.slow_request_ms,
            "raft_node_id": self.raft.as_ref().map(|r| r.id),
            "raft_peers": self.raft.as_ref().map(|r| &r.peers),
            "raft_write_timeout_ms": s.raft_write_timeout_ms,
            "raft_heartbeat_ms": s.raft_heartbeat_ms,
            "raft_election_timeout_ms": s.raft_election_timeout_ms,
            "raft_snapshot_logs": s.raft_snapshot_logs,
        })
    }
}

/// An IP address (IPv6 optionally in brackets) or a DNS host name: labels of ASCII letters,
/// digits and hyphens, separated by dots.
fn valid_host(h: &str) -> bool {
    let bare = h.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !h.is_empty()
        && h.len() <= 253
        && h.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Why the configuration was rejected.
#[derive(Debug)]
pub enum ConfigError {
    /// From clap: a bad flag or server variable, or `--help` / `--version` (exit code 0).
    Clap(clap::Error),
    /// A value out of range, naming the variable.
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Clap(e) => write!(f, "{e}"),
            ConfigError::Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests;
