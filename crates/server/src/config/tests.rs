//! Parsing of flags and variables: defaults, precedence, and errors that name the variable.

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
fn every_variable_is_an_argument_in_six_groups() {
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
    assert_eq!(groups.len(), 6, "{groups:?}");
}

#[test]
fn defaults_are_valid() {
    let c = lookup(&[]).unwrap();
    assert_eq!(c.server.server_port, 8080);
    assert_eq!(c.server.server_host, "127.0.0.1");
    assert_eq!(c.server.max_json_payload_size, 1 << 20);
    assert!(c.api_token().is_none());
    assert!(c.server.keep_alive);
    assert_eq!(c.server.max_watchers, 64);
    assert_eq!(c.server.watch_keepalive_secs, 15);
    let c = lookup(&[("MAX_WATCHERS", "3"), ("WATCH_KEEPALIVE_SECS", "2")]).unwrap();
    assert_eq!(
        (c.server.max_watchers, c.server.watch_keepalive_secs),
        (3, 2)
    );
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
        ("MAX_WATCHERS", "0"),
        ("WATCH_KEEPALIVE_SECS", "0"),
        ("WATCH_KEEPALIVE_SECS", "soon"),
        ("RAFT_NODE_ID", "one"),
        ("RAFT_PEERS", "1=127.0.0.1:8081"),
        ("RAFT_WRITE_TIMEOUT_MS", "0"),
        ("RAFT_ELECTION_TIMEOUT_MS", "50"),
        ("RAFT_SNAPSHOT_LOGS", "0"),
    ] {
        let e = lookup(&[(k, v)]).unwrap_err().to_string();
        assert!(e.contains(k), "{k}: {e}");
    }
}

#[test]
fn raft_settings_are_parsed_and_checked() {
    let peers = "1=127.0.0.1:8081, 2=127.0.0.1:8082,3=127.0.0.1:8083";
    let c = lookup(&[("RAFT_NODE_ID", "2"), ("RAFT_PEERS", peers)]).unwrap();
    let r = c.raft.as_ref().unwrap();
    assert_eq!(r.id, 2);
    assert_eq!(r.peers.len(), 3);
    assert_eq!(r.own_addr(), "127.0.0.1:8082");
    assert_eq!(r.write_timeout, Duration::from_millis(5000));
    assert_eq!(r.election_timeout, Duration::from_millis(500));
    assert_eq!(r.heartbeat, Duration::from_millis(100));
    assert_eq!(r.snapshot_logs, 10_000);
    // The node listens on its own address unless SERVER_PORT says otherwise.
    assert_eq!(c.bind_addr().unwrap(), "127.0.0.1:8082".parse().unwrap());
    let c = lookup(&[
        ("RAFT_NODE_ID", "2"),
        ("RAFT_PEERS", peers),
        ("SERVER_PORT", "9999"),
        ("RAFT_WRITE_TIMEOUT_MS", "700"),
        ("RAFT_SNAPSHOT_LOGS", "20"),
    ])
    .unwrap();
    assert_eq!(c.bind_addr().unwrap().port(), 9999);
    let r = c.raft.unwrap();
    assert_eq!((r.write_timeout.as_millis(), r.snapshot_logs), (700, 20));
    // Without both variables: the single-node server.
    assert!(lookup(&[]).unwrap().raft.is_none());
    for (vars, names) in [
        (vec![("RAFT_NODE_ID", "1")], "RAFT_PEERS"),
        (vec![("RAFT_PEERS", peers)], "RAFT_NODE_ID"),
        (
            vec![("RAFT_NODE_ID", "4"), ("RAFT_PEERS", peers)],
            "RAFT_NODE_ID",
        ),
        (
            vec![("RAFT_NODE_ID", "0"), ("RAFT_PEERS", peers)],
            "RAFT_NODE_ID",
        ),
        (
            vec![("RAFT_NODE_ID", "1"), ("RAFT_PEERS", "1=127.0.0.1")],
            "RAFT_PEERS",
        ),
        (
            vec![
                ("RAFT_NODE_ID", "1"),
                ("RAFT_PEERS", "1=127.0.0.1:1,1=127.0.0.1:2"),
            ],
            "RAFT_PEERS",
        ),
        (
            vec![("RAFT_NODE_ID", "1"), ("RAFT_PEERS", "x=127.0.0.1:1")],
            "RAFT_PEERS",
        ),
        (
            vec![("RAFT_NODE_ID", "1"), ("RAFT_PEERS", "127.0.0.1:1")],
            "RAFT_PEERS",
        ),
    ] {
        let e = lookup(&vars).unwrap_err().to_string();
        assert!(e.contains(names), "{vars:?}: {e}");
    }
}
