//! The server's own variables: a clap derive struct with the parsers of its values.

use clap::{ArgAction, Args};

use lsmkv::Options;

use super::vars::{ADVANCED, HTTP, MONITORING, REPLICATION};

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

// The server's own variables; engine variables are added from `ENGINE_VARS` by `command`,
// which also sets the program's description (a doc comment here would become `--help`'s).
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
    /// Open GET /watch streams served at once; one more gets 503 `too_many_watchers`.
    #[arg(long, env = "MAX_WATCHERS", default_value_t = 64, help_heading = HTTP)]
    pub max_watchers: usize,
    /// Seconds without an event after which a GET /watch stream sends a `: keep-alive` comment.
    #[arg(long, env = "WATCH_KEEPALIVE_SECS", default_value_t = 15, help_heading = HTTP)]
    pub watch_keepalive_secs: u64,
    /// Root of POST /admin/checkpoint targets (a checkpoint goes to a new directory under it, on
    /// the data directory's file system); empty = the route is disabled (403).
    #[arg(long, env = "BACKUP_DIR", default_value = "", help_heading = ADVANCED)]
    pub backup_dir: String,
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
    /// This node's id in the replicated cluster (a positive integer listed in RAFT_PEERS); empty =
    /// single-node server.
    #[arg(long, env = "RAFT_NODE_ID", default_value = "", help_heading = REPLICATION)]
    pub raft_node_id: String,
    /// Every node of the cluster as id=host:port, comma-separated, each node's own HTTP address
    /// (1=127.0.0.1:8081,2=127.0.0.1:8082,3=127.0.0.1:8083); the same on every node.
    #[arg(long, env = "RAFT_PEERS", default_value = "", help_heading = REPLICATION)]
    pub raft_peers: String,
    /// How long a replicated write waits for a leader and a quorum before 503 `no_quorum`.
    #[arg(long, env = "RAFT_WRITE_TIMEOUT_MS", default_value_t = 5_000, help_heading = REPLICATION)]
    pub raft_write_timeout_ms: u64,
    /// Leader heartbeat interval; followers start an election after RAFT_ELECTION_TIMEOUT_MS to
    /// twice that without one.
    #[arg(long, env = "RAFT_HEARTBEAT_MS", default_value_t = 100, help_heading = REPLICATION)]
    pub raft_heartbeat_ms: u64,
    /// Shortest election timeout (a random one up to 1.5 times this is used); above the heartbeat.
    #[arg(long, env = "RAFT_ELECTION_TIMEOUT_MS", default_value_t = 500, help_heading = REPLICATION)]
    pub raft_election_timeout_ms: u64,
    /// Log entries applied between two snapshots; the log keeps as many before the last one (a
    /// follower further behind catches up through a snapshot install).
    #[arg(long, env = "RAFT_SNAPSHOT_LOGS", default_value_t = 10_000, help_heading = REPLICATION)]
    pub raft_snapshot_logs: u64,
}
