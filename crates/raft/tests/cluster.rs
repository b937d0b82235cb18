//! The adapter under a real openraft cluster in one process (an in-memory network calling the
//! other nodes' `Raft` handles): three nodes elect a leader and replicate writes to every state
//! machine; once the leader has snapshotted and purged its log, a fourth node joining as a learner
//! catches up through a snapshot install.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lsmkv::{Db, Options, SyncMode};
use lsmkv_raft::openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError,
};
use lsmkv_raft::openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use lsmkv_raft::openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use lsmkv_raft::openraft::{AnyError, Config, SnapshotPolicy};
use lsmkv_raft::{Node, NodeId, Op, Raft, ReplicatedData, Request, TypeConfig};

/// Bound of every wait (a hang, not a timing assert).
const HANG: Duration = Duration::from_secs(60);

#[derive(Clone, Default)]
struct Router {
    nodes: Arc<Mutex<BTreeMap<NodeId, Raft>>>,
}

impl Router {
    fn get(&self, id: NodeId) -> Result<Raft, NetworkError> {
        self.nodes
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .ok_or_else(|| NetworkError::new(&AnyError::error(format!("no node {id}"))))
    }
}

struct Conn {
    target: NodeId,
    router: Router,
}

type Rpc<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, Node, E>>;

fn remote<E: std::error::Error>(target: NodeId, e: E) -> RPCError<NodeId, Node, E> {
    RPCError::RemoteError(RemoteError::new(target, e))
}

impl RaftNetwork<TypeConfig> for Conn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>> {
        let raft = self.router.get(self.target).map_err(RPCError::Network)?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| remote(self.target, e))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        let raft = self.router.get(self.target).map_err(RPCError::Network)?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| remote(self.target, e))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Rpc<VoteResponse<NodeId>> {
        let raft = self.router.get(self.target).map_err(RPCError::Network)?;
        raft.vote(rpc).await.map_err(|e| remote(self.target, e))
    }
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Conn;

    async fn new_client(&mut self, target: NodeId, _node: &Node) -> Conn {
        Conn {
            target,
            router: self.clone(),
        }
    }
}

struct TestNode {
    raft: Raft,
    data: ReplicatedData,
    db: Db,
    _dir: tempfile::TempDir,
}

async fn start(id: NodeId, router: &Router) -> TestNode {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        sync_mode: SyncMode::Always,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let (log, sm) = lsmkv_raft::open(&db).unwrap();
    let data = sm.data();
    let config = Config {
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(40),
        max_in_snapshot_log_to_keep: 0,
        purge_batch_size: 1,
        ..Config::default()
    };
    let raft = Raft::new(
        id,
        Arc::new(config.validate().unwrap()),
        router.clone(),
        log,
        sm,
    )
    .await
    .unwrap();
    router.nodes.lock().unwrap().insert(id, raft.clone());
    TestNode {
        raft,
        data,
        db,
        _dir: dir,
    }
}

fn node(id: NodeId) -> Node {
    Node::new(format!("node-{id}"))
}

fn request(i: u64) -> Request {
    let put = Op::Put {
        keyspace: if i.is_multiple_of(2) {
            Some("flags".into())
        } else {
            None
        },
        key: format!("k{i:04}").into_bytes(),
        value: format!("v{i}").into_bytes(),
        ttl_ms: None,
    };
    Request::new(format!("client-{}", i % 4), i, vec![put])
}

fn check_data(n: &TestNode, writes: u64) {
    for i in 1..=writes {
        let ks = if i.is_multiple_of(2) {
            Some("flags")
        } else {
            None
        };
        let v = n.data.get(ks, format!("k{i:04}")).unwrap();
        assert_eq!(v.as_deref(), Some(format!("v{i}").as_bytes()), "k{i:04}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_and_a_new_node_catches_up_by_snapshot() {
    let router = Router::default();
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(start(id, &router).await);
    }
    let members: BTreeMap<NodeId, Node> = (1..=3).map(|id| (id, node(id))).collect();
    nodes[0].raft.initialize(members).await.unwrap();
    let m = nodes[0]
        .raft
        .wait(Some(HANG))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await
        .unwrap();
    let leader = router.get(m.current_leader.unwrap()).unwrap();

    let writes = 120u64;
    for i in 1..=writes {
        let reply = leader.client_write(request(i)).await.unwrap();
        assert_eq!(reply.data.error, None);
        if i == 7 {
            // A retried request is answered from the deduplication table.
            let again = leader.client_write(request(i)).await.unwrap();
            assert_eq!(again.data, reply.data);
        }
    }
    let last = leader.metrics().borrow().last_log_index;
    for n in &nodes {
        n.raft
            .wait(Some(HANG))
            .applied_index_at_least(last, "all applied")
            .await
            .unwrap();
        check_data(n, writes);
    }
    // The leader snapshots and purges its log, so a new node can only catch up by snapshot.
    leader.trigger().snapshot().await.unwrap();
    leader
        .wait(Some(HANG))
        .metrics(|m| m.purged.map(|p| p.index) >= last, "snapshot and purge")
        .await
        .unwrap();

    let fourth = start(4, &router).await;
    leader.add_learner(4, node(4), true).await.unwrap();
    fourth
        .raft
        .wait(Some(HANG))
        .applied_index_at_least(last, "learner caught up")
        .await
        .unwrap();
    check_data(&fourth, writes);
    // It got there by installing a snapshot: its state lives in generation 1.
    let names: BTreeSet<String> = fourth.db.keyspaces().unwrap().into_iter().collect();
    assert!(names.contains("raft.g1.sm"), "{names:?}");
    assert!(!names.contains("raft.g0.sm"), "{names:?}");

    for n in nodes.iter().chain([&fourth]) {
        n.raft.shutdown().await.unwrap();
    }
}
