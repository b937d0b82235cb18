//! The replicated mode's settings: RAFT_NODE_ID, RAFT_PEERS and the timeouts, validated.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use super::args::ServerArgs;

/// The validated settings of a node of a replicated cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftSettings {
    /// This node's id (RAFT_NODE_ID).
    pub id: u64,
    /// Every node's HTTP address as given (`host:port`), by id (RAFT_PEERS).
    pub peers: BTreeMap<u64, String>,
    /// RAFT_WRITE_TIMEOUT_MS.
    pub write_timeout: Duration,
    /// RAFT_HEARTBEAT_MS.
    pub heartbeat: Duration,
    /// RAFT_ELECTION_TIMEOUT_MS (the shortest; the longest is 1.5 times it).
    pub election_timeout: Duration,
    /// RAFT_SNAPSHOT_LOGS.
    pub snapshot_logs: u64,
}

impl RaftSettings {
    /// This node's own address in RAFT_PEERS.
    pub fn own_addr(&self) -> &str {
        self.peers.get(&self.id).map_or("", String::as_str)
    }

    /// This node's address resolved, to bind when SERVER_PORT is not given.
    pub fn own_socket(&self) -> Result<SocketAddr, String> {
        resolve(self.own_addr())
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("RAFT_PEERS: cannot resolve {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("RAFT_PEERS: {addr:?} resolves to no address"))
}

/// `1=127.0.0.1:8081,2=127.0.0.1:8082,...` to addresses by id.
pub(super) fn parse_peers(s: &str) -> Result<BTreeMap<u64, String>, String> {
    let bad = |why: String| Err(format!("RAFT_PEERS: {why}"));
    let mut peers = BTreeMap::new();
    for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((id, addr)) = entry.split_once('=') else {
            return bad(format!("{entry:?} is not id=host:port"));
        };
        let id = match id.trim().parse::<u64>() {
            Ok(id) if id > 0 => id,
            _ => return bad(format!("{id:?} is not a node id (a positive integer)")),
        };
        let addr = addr.trim();
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !port_ok || addr.contains('/') {
            return bad(format!(
                "{addr:?} (node {id}) is not host:port, e.g. 127.0.0.1:8081"
            ));
        }
        if peers.insert(id, addr.to_string()).is_some() {
            return bad(format!("node {id} is listed twice"));
        }
    }
    if peers.is_empty() {
        return bad("lists no node".into());
    }
    Ok(peers)
}

/// The replicated mode's settings, or `None` for a single-node server (neither RAFT_NODE_ID
/// nor RAFT_PEERS set).
pub(super) fn settings(s: &ServerArgs) -> Result<Option<RaftSettings>, String> {
    let (id, peers) = (s.raft_node_id.trim(), s.raft_peers.trim());
    if s.raft_write_timeout_ms == 0 {
        return Err("RAFT_WRITE_TIMEOUT_MS: must be at least 1".into());
    }
    if s.raft_heartbeat_ms == 0 {
        return Err("RAFT_HEARTBEAT_MS: must be at least 1".into());
    }
    if s.raft_election_timeout_ms <= s.raft_heartbeat_ms {
        return Err("RAFT_ELECTION_TIMEOUT_MS: must be above RAFT_HEARTBEAT_MS".into());
    }
    if s.raft_snapshot_logs == 0 {
        return Err("RAFT_SNAPSHOT_LOGS: must be at least 1".into());
    }
    // Each value given is checked, then that both are given.
    let id = match id {
        "" => None,
        id => match id.parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(format!("RAFT_NODE_ID: {id:?} is not a positive integer")),
        },
    };
    let peers = match peers {
        "" => None,
        p => Some(parse_peers(p)?),
    };
    let (id, peers) = match (id, peers) {
        (None, None) => return Ok(None),
        (None, Some(_)) => return Err("RAFT_NODE_ID: required with RAFT_PEERS".into()),
        (Some(_), None) => return Err("RAFT_PEERS: required with RAFT_NODE_ID".into()),
        (Some(id), Some(peers)) => (id, peers),
    };
    if !peers.contains_key(&id) {
        return Err(format!(
            "RAFT_NODE_ID: node {id} is not listed in RAFT_PEERS"
        ));
    }
    Ok(Some(RaftSettings {
        id,
        peers,
        write_timeout: Duration::from_millis(s.raft_write_timeout_ms),
        heartbeat: Duration::from_millis(s.raft_heartbeat_ms),
        election_timeout: Duration::from_millis(s.raft_election_timeout_ms),
        snapshot_logs: s.raft_snapshot_logs,
    }))
}
