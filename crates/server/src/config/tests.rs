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
    ] {
        let e = lookup(&[(k, v)]).unwrap_err().to_string();
        assert!(e.contains(k), "{k}: {e}");
    }
}
