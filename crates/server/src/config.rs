//! Server configuration: command-line flags and environment variables, in five groups.
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

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Arg, ArgAction, Args, Command, FromArgMatches};

use lsmkv::Options;

/// Where an engine variable is listed in `--help`.
const ENGINE: &str = "LSM engine";
const COMPACTION: &str = "Compaction";
const ADVANCED: &str = "Advanced tuning";
const HTTP: &str = "Server HTTP";
const MONITORING: &str = "Monitoring";

/// One engine variable: name (also the clap id), flag, `--help` group, default, meaning.
pub struct EngineVar {
    pub name: &'static str,
    pub flag: &'static str,
    pub group: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

macro_rules! ev {
    ($name:literal, $flag:literal, $group:expr, $default:literal, $help:literal) => {
        EngineVar {
            name: $name,
            flag: $flag,
            group: $group,
            default: $default,
            help: $help,
        }
    };
}

/// Every variable that [`Options::from_lookup`] reads, as listed in `.env.example`.
pub const ENGINE_VARS: &[EngineVar] = &[
    ev!(
        "DATA_DIR",
        "data-dir",
        ENGINE,
        "./data",
        "Directory of the database"
    ),
    ev!(
        "MEMTABLE_MAX_SIZE",
        "memtable-max-size",
        ENGINE,
        "64MiB",
        "Memtable bytes before it is flushed to an SSTable"
    ),
    ev!(
        "BLOCK_SIZE",
        "block-size",
        ENGINE,
        "4096",
        "Target uncompressed size of an SSTable data block"
    ),
    ev!(
        "PREFIX_BLOOM_LENGTH",
        "prefix-bloom-length",
        ENGINE,
        "0",
        "Bloom filters also hold each key's first N bytes, for prefix scans (0 = off)"
    ),
    ev!(
        "BLOCK_CACHE_SIZE_MB",
        "block-cache-size-mb",
        ENGINE,
        "64",
        "Block cache capacity in MiB"
    ),
    ev!(
        "SPARSE_INDEX_INTERVAL",
        "sparse-index-interval",
        ENGINE,
        "16",
        "Every Nth block entry is a restart point (1-1024)"
    ),
    ev!(
        "BLOOM_FALSE_POSITIVE_RATE",
        "bloom-false-positive-rate",
        ENGINE,
        "0.01",
        "Bloom filter false-positive rate in [0, 1); 0 disables"
    ),
    ev!(
        "WAL_SYNC_MODE",
        "wal-sync-mode",
        ENGINE,
        "async_batch",
        "always | async_batch | none"
    ),
    ev!(
        "WAL_SYNC_INTERVAL_MS",
        "wal-sync-interval-ms",
        ENGINE,
        "100",
        "How often async_batch fsyncs the WAL"
    ),
    ev!(
        "WAL_RECOVERY_MODE",
        "wal-recovery-mode",
        ENGINE,
        "strict",
        "strict | point_in_time: what recovery does with damage in the WAL"
    ),
    ev!(
        "MAX_WAL_SIZE",
        "max-wal-size",
        ENGINE,
        "256MiB",
        "WAL bytes after which a flush is forced"
    ),
    ev!(
        "MAX_IMMUTABLE_MEMTABLES",
        "max-immutable-memtables",
        ENGINE,
        "2",
        "Frozen memtables before writers stall"
    ),
    ev!(
        "COMPRESSION",
        "compression",
        ENGINE,
        "lz4",
        "Block compression: lz4 | none"
    ),
    ev!(
        "MAX_VALUE_SIZE",
        "max-value-size",
        ENGINE,
        "64MiB",
        "Largest value accepted (at most 1GiB)"
    ),
    ev!(
        "COMPACTION_STRATEGY",
        "compaction-strategy",
        COMPACTION,
        "leveled",
        "leveled | tiered | lazy_leveling"
    ),
    ev!(
        "COMPACTION_THREADS",
        "compaction-threads",
        COMPACTION,
        "1",
        "Background compaction threads (1-64)"
    ),
    ev!(
        "L0_COMPACTION_TRIGGER",
        "l0-compaction-trigger",
        COMPACTION,
        "4",
        "Level-0 files that start a compaction"
    ),
    ev!(
        "L0_SLOWDOWN_WRITES_TRIGGER",
        "l0-slowdown-writes-trigger",
        COMPACTION,
        "20",
        "Level-0 files at which writes slow down"
    ),
    ev!(
        "L0_STOP_WRITES_TRIGGER",
        "l0-stop-writes-trigger",
        COMPACTION,
        "36",
        "Level-0 files at which writes wait"
    ),
    ev!(
        "LEVEL_SIZE_RATIO",
        "level-size-ratio",
        COMPACTION,
        "10",
        "Size ratio between adjacent levels (2-1000)"
    ),
    ev!(
        "LEVEL_BASE_SIZE",
        "level-base-size",
        COMPACTION,
        "256MiB",
        "Target size of the first level below L0"
    ),
    ev!(
        "TARGET_FILE_SIZE",
        "target-file-size",
        COMPACTION,
        "64MiB",
        "Compaction output file size"
    ),
    ev!(
        "MAX_LEVELS",
        "max-levels",
        COMPACTION,
        "7",
        "Number of levels including L0 (2-16)"
    ),
    ev!(
        "TIERED_MIN_MERGE_WIDTH",
        "tiered-min-merge-width",
        COMPACTION,
        "4",
        "Sorted runs merged at once (tiered, lazy leveling)"
    ),
    ev!(
        "COMPACTION_MAX_BYTES_PER_SEC",
        "compaction-max-bytes-per-sec",
        COMPACTION,
        "0",
        "Compaction write rate limit; 0 = unlimited"
    ),
    ev!(
        "SOFT_PENDING_COMPACTION_BYTES",
        "soft-pending-compaction-bytes",
        COMPACTION,
        "64GiB",
        "Pending compaction bytes that slow writes"
    ),
    ev!(
        "HARD_PENDING_COMPACTION_BYTES",
        "hard-pending-compaction-bytes",
        COMPACTION,
        "256GiB",
        "Pending compaction bytes that stop writes"
    ),
    ev!(
        "PARANOID_CHECKS",
        "paranoid-checks",
        ADVANCED,
        "false",
        "Verify block checksums on every read, cached blocks too"
    ),
];

fn size(s: &str) -> Result<usize, String> {
    let n = Options::parse_size(s)?;
    usize::try_from(n).map_err(|_| "byte size too large for this machine".to_string())
}

fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

fn log_format(s: &str) -> Result<LogFormat, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "text" | "pretty" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err("expected text or json".into()),
    }
}

fn log_level(s: &str) -> Result<String, String> {
    // Accept a plain level or a full `tracing` filter (`info,lsmkv=debug`).
    let t = s.trim();
    match tracing_subscriber::EnvFilter::try_new(t) {
        Ok(_) if !t.is_empty() => Ok(t.to_string()),
        _ => Err("expected trace, debug, info, warn, error, off or a tracing filter".into()),
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The server's own variables. Engine variables are added from [`ENGINE_VARS`] by [`command`].
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "SERVER_HOST", default_value = "127.0.0.1", help_heading = HTTP)]
    pub server_host: String,
    /// Port to listen on (0 picks a free port; the log says which).
    #[arg(long, env = "SERVER_PORT", default_value_t = 8080, help_heading = HTTP)]
    pub server_port: u16,
    /// Async worker threads; 0 = one per CPU core.
    #[arg(long, env = "SERVER_WORKERS", default_value_t = 0, help_heading = HTTP)]
    pub server_workers: usize,
    /// Largest request body accepted (413 past it), checked while reading. Sizes take K/M/G.
    #[arg(long, env = "MAX_JSON_PAYLOAD_SIZE", default_value = "1MiB", value_parser = size, help_heading = HTTP)]
    pub max_json_payload_size: usize,
    /// Bearer token required on every route but /health; empty = no authentication.
    #[arg(long, env = "API_TOKEN", default_value = "", hide_env_values = true, help_heading = HTTP)]
    pub api_token: String,
    /// Deadline of one request, body included: 408 while reading the body, 503 after.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000, help_heading = HTTP)]
    pub request_timeout_ms: u64,
    /// Time a client has to send a request's headers; also closes idle keep-alive connections.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = 30_000, help_heading = HTTP)]
    pub header_read_timeout_ms: u64,
    /// Open connections served at once; a connection past it gets 503 and is closed.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024, help_heading = HTTP)]
    pub max_connections: usize,
    /// HTTP keep-alive: true | false (false answers every request with `Connection: close`).
    #[arg(long, env = "KEEP_ALIVE", default_value = "true", value_parser = boolean, action = ArgAction::Set, help_heading = HTTP)]
    pub keep_alive: bool,
    /// On SIGTERM/SIGINT, how long requests in flight may take before connections are dropped.
    #[arg(long, env = "SHUTDOWN_GRACE_MS", default_value_t = 10_000, help_heading = HTTP)]
    pub shutdown_grace_ms: u64,
    /// Most entries in one POST /keys/batch (400 past it).
    #[arg(long, env = "MAX_BATCH_ENTRIES", default_value_t = 10_000, help_heading = ADVANCED)]
    pub max_batch_entries: usize,
    /// Page size of listings and searches when the request gives no `limit`.
    #[arg(long, env = "DEFAULT_PAGE_LIMIT", default_value_t = 100, help_heading = ADVANCED)]
    pub default_page_limit: usize,
    /// Largest `limit` honoured by listings and searches (larger ones are clamped).
    #[arg(long, env = "SEARCH_MAX_LIMIT", default_value_t = 1000, help_heading = ADVANCED)]
    pub search_max_limit: usize,
    /// Entries a substring search examines per request before it returns a `next` cursor.
    #[arg(long, env = "SEARCH_SCAN_LIMIT", default_value_t = 100_000, help_heading = ADVANCED)]
    pub search_scan_limit: usize,
    /// Log level or tracing filter (`RUST_LOG` syntax): trace | debug | info | warn | error | off.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log_level, help_heading = MONITORING)]
    pub log_level: String,
    /// Log format: text | json.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_parser = log_format, help_heading = MONITORING)]
    pub log_format: LogFormat,
    /// Serve Prometheus metrics at /metrics: true | false.
    #[arg(long, env = "METRICS_ENABLED", default_value = "true", value_parser = boolean, action = ArgAction::Set, help_heading = MONITORING)]
    pub metrics_enabled: bool,
    /// Log one line per request (method, path, status, latency): true | false.
    #[arg(long, env = "ACCESS_LOG", default_value = "true", value_parser = boolean, action = ArgAction::Set, help_heading = MONITORING)]
    pub access_log: bool,
    /// Requests slower than this are logged at WARN (and counted); 0 disables.
    #[arg(long, env = "SLOW_REQUEST_MS", default_value_t = 1000, help_heading = MONITORING)]
    pub slow_request_ms: u64,
}

/// The complete, validated configuration of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub server: ServerArgs,
    pub engine: Options,
}

/// The clap command: the derive struct plus one argument per engine variable.
pub fn command() -> Command {
    let mut cmd = ServerArgs::augment_args(
        Command::new("lsmkv-server")
            .version(env!("CARGO_PKG_VERSION"))
            .about("HTTP server for an lsmkv database")
            .after_help(
                "Every option is also an environment variable (shown as [env: NAME]); \
                 a .env file in the working directory is loaded when present. \
                 Precedence: flag > environment > .env > default. See .env.example.",
            ),
    );
    for v in ENGINE_VARS {
        cmd = cmd.arg(
            Arg::new(v.name)
                .long(v.flag)
                .env(v.name)
                .value_name(v.name)
                .help(format!("{} [default: {}]", v.help, v.default))
                .help_heading(v.group)
                .action(ArgAction::Set),
        );
    }
    cmd
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
        let server = ServerArgs::from_arg_matches(&m).map_err(ConfigError::Clap)?;
        let engine = Options::from_lookup(&|k| m.try_get_one::<String>(k).ok().flatten().cloned())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let cfg = ServerConfig { server, engine };
        cfg.validate().map_err(ConfigError::Invalid)?;
        Ok(cfg)
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
        let server = ServerArgs::from_arg_matches(&m).map_err(ConfigError::Clap)?;
        let engine = Options::from_lookup(&|k| m.try_get_one::<String>(k).ok().flatten().cloned())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let cfg = ServerConfig { server, engine };
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
        if s.server_host.parse::<std::net::IpAddr>().is_err() {
            return bad(
                "SERVER_HOST",
                "expected an IP address such as 127.0.0.1 or 0.0.0.0",
            );
        }
        Ok(())
    }

    /// The address to bind.
    pub fn bind_addr(&self) -> Result<SocketAddr, String> {
        format!("{}:{}", self.server.server_host, self.server.server_port)
            .parse()
            .or_else(|_| {
                format!("[{}]:{}", self.server.server_host, self.server.server_port).parse()
            })
            .map_err(|_| {
                format!(
                    "SERVER_HOST: cannot listen on {:?}",
                    self.server.server_host
                )
            })
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
            "max_batch_entries": s.max_batch_entries,
            "default_page_limit": s.default_page_limit,
            "search_max_limit": s.search_max_limit,
            "search_scan_limit": s.search_scan_limit,
            "log_level": s.log_level,
            "log_format": s.log_format,
            "metrics_enabled": s.metrics_enabled,
            "access_log": s.access_log,
            "slow_request_ms": s.slow_request_ms,
        })
    }
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
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        let m: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ServerConfig::parse_from_lookup(&|k| m.get(k).cloned())
    }

    #[test]
    fn every_variable_is_an_argument_in_five_groups() {
        let cmd = command();
        let mut groups = std::collections::BTreeSet::new();
        let mut n = 0;
        for a in cmd.get_arguments() {
            if a.get_env().is_some() {
                n += 1;
                groups.insert(a.get_help_heading().unwrap_or("").to_string());
            }
        }
        assert!(n >= 35, "only {n} variables");
        assert_eq!(groups.len(), 5, "{groups:?}");
    }

    #[test]
    fn defaults_are_valid() {
        let c = lookup(&[]).unwrap();
        assert_eq!(c.server.server_port, 8080);
        assert_eq!(c.server.server_host, "127.0.0.1");
        assert_eq!(c.server.max_json_payload_size, 1 << 20);
        assert!(c.api_token().is_none());
        assert!(c.server.keep_alive);
    }

    #[test]
    fn flags_beat_variables() {
        // A flag given twice: the later one wins; engine flags reach the options.
        let c = ServerConfig::parse_from([
            "lsmkv-server",
            "--server-port",
            "9000",
            "--memtable-max-size",
            "2MiB",
            "--keep-alive",
            "false",
        ])
        .unwrap();
        assert_eq!(c.server.server_port, 9000);
        assert_eq!(c.engine.memtable_max_size, 2 << 20);
        assert!(!c.server.keep_alive);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("SERVER_PORT", "http"),
            ("MAX_JSON_PAYLOAD_SIZE", "lots"),
            ("KEEP_ALIVE", "maybe"),
            ("LOG_FORMAT", "xml"),
            ("WAL_SYNC_MODE", "sometimes"),
            ("COMPACTION_STRATEGY", "random"),
            ("DEFAULT_PAGE_LIMIT", "0"),
            ("SERVER_HOST", "not a host"),
        ] {
            let e = lookup(&[(k, v)]).unwrap_err().to_string();
            assert!(e.contains(k), "{k}: {e}");
        }
    }
}
