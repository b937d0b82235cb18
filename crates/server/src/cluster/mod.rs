//! The replicated mode: this node's openraft [`Raft`] on the lsmkv-raft log store and state
//! machine (both in the server's database), the transport ([`network`]), the `/raft/` and
//! `/cluster` routes ([`rpc`]), and the two things the HTTP handlers ask of it:
//!
//! - [`Cluster::write`]: a write, as `lsmkv_raft` ops, proposed through Raft and answered once
//!   it is committed and applied. On a follower it goes to the leader (`POST /raft/write`); a
//!   leader change or a lost connection is retried with the same client id and sequence number
//!   (the state machine applies a (client, seq) once), up to RAFT_WRITE_TIMEOUT_MS, after which
//!   the answer is 503 `no_quorum` and nothing was acknowledged.
//!   On the leader, writes go through a group commit ([`batch_loop`]): those that arrive while
//!   earlier proposals commit become one log entry.
//! - [`Cluster::linearize`]: the read barrier of a linearizable read: the leader confirms its
//!   leadership with a quorum (openraft's read index) and this node waits until it has applied
//!   that index; a follower asks the leader for the index (`POST /raft/read_index`).
//!
//! Client ids: each write takes a session from a pool (`{node}-{random}-{n}`, its next sequence
//! number), so a session has one request in flight at a time as the state machine requires, and
//! the number of sessions (deduplication records) stays the number of concurrent writes.
//!
//! Forming the cluster: the lowest id of RAFT_PEERS initialises the membership (every peer as a
//! voter) once, when neither it nor any peer has Raft state; it waits until every peer answers
//! before deciding, and never initialises a node with state.

mod network;
pub(crate) mod rpc;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::StatusCode;
use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{Config, Raft, ServerState, SnapshotPolicy};
use tokio::time::Instant;

use lsmkv::Db;
use lsmkv_raft::{
    LogStore, Node, NodeId, Op, ReplicatedData, Request, Response, StateMachineStore, TypeConfig,
};

use crate::config::RaftSettings;
use crate::errors::ApiError;
use network::{Network, PeerClient, PeerError};

/// How long to wait before asking again when no leader is known or it just changed.
const RETRY: Duration = Duration::from_millis(30);

/// This node of the replicated cluster.
pub struct Cluster {
    pub(crate) raft: Raft<TypeConfig>,
    pub(crate) id: NodeId,
    settings: RaftSettings,
    client: Arc<PeerClient>,
    data: ReplicatedData,
    sessions: parking_lot::Mutex<Vec<Session>>,
    session_prefix: String,
    next_session: AtomicU64,
    /// Serialises the leader's flag updates (read, compare, propose).
    pub(crate) flag_lock: tokio::sync::Mutex<()>,
    /// The leader's group commit ([`batch_loop`]).
    proposals: tokio::sync::mpsc::UnboundedSender<Proposal>,
}

/// A request waiting in the leader's group commit, and where its outcome goes.
type Proposal = (Request, tokio::sync::oneshot::Sender<Proposed>);

/// The outcome of a proposal.
enum Proposed {
    Applied(Response),
    /// This node does not lead (any more): ask again.
    NotLeader,
    Failed,
}

/// Proposals in flight at once: while they commit, new requests collect into the next group.
const MAX_IN_FLIGHT: usize = 2;

/// The most requests one log entry carries.
const MAX_GROUP: usize = 256;

/// The leader's group commit. openraft 0.9 appends each proposal to the log and waits for its
/// fsync before it takes the next one, so proposals are serial; here the requests that arrive
/// while [`MAX_IN_FLIGHT`] proposals commit are proposed together as one entry
/// ([`Request::group`]): one append, one fsync and one replication for all of them.
async fn batch_loop(
    raft: Raft<TypeConfig>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Proposal>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(p) => group.push(p),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            propose_group(&raft, group).await;
            drop(slot);
        });
    }
}

/// Proposes `group` as one entry (a single request as itself) and answers each request.
async fn propose_group(raft: &Raft<TypeConfig>, mut group: Vec<Proposal>) {
    let single = group.len() == 1;
    let req = if single {
        group[0].0.clone()
    } else {
        Request::group(group.iter().map(|(r, _)| r.clone()).collect())
    };
    let outcome = raft.client_write(req).await;
    let mut answers: Vec<Proposed> = match outcome {
        Ok(done) if single => vec![Proposed::Applied(done.data)],
        Ok(done) => done.data.batch.into_iter().map(Proposed::Applied).collect(),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Vec::new(),
        Err(e) => {
            tracing::warn!(error = %e, "a replicated write failed");
            group.drain(..).for_each(|(_, tx)| {
                let _ = tx.send(Proposed::Failed);
            });
            return;
        }
    };
    answers.reverse();
    for (_, tx) in group {
        // No answer (a leader change): the writer asks again with the same sequence number.
        let _ = tx.send(answers.pop().unwrap_or(Proposed::NotLeader));
    }
}

/// A client id of the state machine's deduplication and its next sequence number.
struct Session {
    client: String,
    seq: u64,
}

/// 503 `no_quorum`: no leader with a quorum answered within RAFT_WRITE_TIMEOUT_MS.
pub(crate) fn no_quorum(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "{what}: no leader with a quorum answered within RAFT_WRITE_TIMEOUT_MS; nothing was \
             acknowledged"
        ),
    )
    .with_code("no_quorum")
}

/// 503 `not_leader`: sent by a node that was asked to lead a forwarded request but does not.
pub(crate) fn not_leader() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "this node is not the leader",
    )
    .with_code("not_leader")
}

fn storage_error(e: lsmkv::Error) -> String {
    format!("cannot open the Raft storage: {e}")
}

impl Cluster {
    /// Starts this node's Raft on `db` and the task that forms the cluster when it is new.
    /// Call inside the runtime.
    ///
    /// # Errors
    /// A message ready to print: bad timeouts, or the storage could not be opened.
    pub(crate) async fn start(
        db: &Db,
        settings: RaftSettings,
        token: Option<&str>,
    ) -> Result<Arc<Cluster>, String> {
        let config = Config {
            cluster_name: "lsmkv".into(),
            heartbeat_interval: settings.heartbeat.as_millis() as u64,
            election_timeout_min: settings.election_timeout.as_millis() as u64,
            // 1.5x, not 2x: a follower refuses votes for election_timeout_max after it last heard
            // the leader (openraft's leader lease), so a candidate's first timeout is always
            // refused and the election takes two timeouts; a narrower range keeps that under 2 s.
            election_timeout_max: settings.election_timeout.as_millis() as u64 * 3 / 2 + 1,
            install_snapshot_timeout: 10_000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_logs),
            max_in_snapshot_log_to_keep: settings.snapshot_logs,
            snapshot_max_chunk_size: 1 << 20,
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("RAFT_HEARTBEAT_MS / RAFT_ELECTION_TIMEOUT_MS: {e}"))?;
        let log = LogStore::open(db).map_err(storage_error)?;
        let has_state = log.has_state().map_err(storage_error)?;
        let sm = StateMachineStore::open(db).map_err(storage_error)?;
        let data = sm.data();
        let client = Arc::new(PeerClient::new(token));
        let network = Network {
            client: client.clone(),
            peers: Arc::new(settings.peers.clone()),
        };
        let id = settings.id;
        let raft = Raft::new(id, Arc::new(config), network, log, sm)
            .await
            .map_err(|e| format!("cannot start Raft: {e}"))?;
        let (proposals, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(batch_loop(raft.clone(), rx));
        let cluster = Arc::new(Cluster {
            raft,
            id,
            client,
            data,
            sessions: parking_lot::Mutex::new(Vec::new()),
            session_prefix: format!("{id}-{:016x}", random_u64()),
            next_session: AtomicU64::new(0),
            flag_lock: tokio::sync::Mutex::new(()),
            proposals,
            settings,
        });
        let lowest = cluster.settings.peers.keys().next() == Some(&id);
        if lowest && !has_state {
            tokio::spawn(cluster.clone().form());
        }
        Ok(cluster)
    }

    /// Initialises the membership once every peer answers and none has Raft state (see the
    /// module); gives up as soon as this node has state (a leader reached it first).
    async fn form(self: Arc<Cluster>) {
        let members: BTreeMap<NodeId, Node> = self
            .settings
            .peers
            .iter()
            .map(|(id, addr)| (*id, Node { addr: addr.clone() }))
            .collect();
        loop {
            if self.has_state() {
                return;
            }
            match self.peers_are_new().await {
                Ok(true) => break,
                Ok(false) => {
                    tracing::info!("a peer has Raft state: joining its cluster, not forming one");
                    return;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "waiting for every peer before forming the cluster")
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        match self.raft.initialize(members).await {
            Ok(()) => tracing::info!(
                peers = self.settings.peers.len(),
                "formed the cluster (initialised the membership)"
            ),
            Err(e) => tracing::info!(error = %e, "the cluster is already formed"),
        }
    }

    /// Whether this node has Raft state (a vote, a log, a membership).
    fn has_state(&self) -> bool {
        let m = self.raft.metrics().borrow().clone();
        m.current_term > 0 || m.last_log_index.is_some() || m.last_applied.is_some()
    }

    /// `Ok(true)` when every other peer answers `/raft/state` without Raft state.
    async fn peers_are_new(&self) -> Result<bool, String> {
        for (id, addr) in &self.settings.peers {
            if *id == self.id {
                continue;
            }
            let state: rpc::NodeState = self
                .client
                .call(addr, "/raft/state", &(), Duration::from_secs(1))
                .await
                .map_err(|e| format!("node {id}: {e:?}"))?;
            if state.has_state {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The replicated data (the state machine's keyspaces), for reads.
    pub(crate) fn data(&self) -> &ReplicatedData {
        &self.data
    }

    /// Whether this node leads (as far as it knows).
    pub(crate) fn is_leader(&self) -> bool {
        self.leader() == Some(self.id)
    }

    /// Sends a request (`POST path` with JSON `body`, marked with header `mark`) to the leader,
    /// waiting for one up to RAFT_WRITE_TIMEOUT_MS: the leader's status and body.
    pub(crate) async fn forward(
        &self,
        path: &str,
        mark: &'static str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, bytes::Bytes), ApiError> {
        let deadline = Instant::now() + self.settings.write_timeout;
        loop {
            if Instant::now() >= deadline {
                return Err(no_quorum("write"));
            }
            match self.leader() {
                Some(l) if l == self.id => return Err(not_leader()),
                Some(l) => {
                    let addr = self.addr_of(l).unwrap_or_default();
                    let left = deadline.saturating_duration_since(Instant::now());
                    let r = self
                        .client
                        .post_marked(addr, path, body.clone(), left, Some(mark))
                        .await;
                    match r {
                        Ok(answer) => return Ok(answer),
                        Err(e) => {
                            tracing::debug!(error = ?e, "forwarding to the leader failed; retrying")
                        }
                    }
                    let pause = RETRY.min(deadline.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(pause).await;
                }
                None => self.wait_for_change(deadline).await,
            }
        }
    }

    fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow().current_leader
    }

    fn addr_of(&self, id: NodeId) -> Option<&str> {
        self.settings.peers.get(&id).map(String::as_str)
    }

    /// Waits briefly for the metrics to change (a leader elected), bounded by `deadline`.
    async fn wait_for_change(&self, deadline: Instant) {
        let mut rx = self.raft.metrics();
        let until = deadline.min(Instant::now() + RETRY * 10);
        let _ = tokio::time::timeout_at(until, rx.changed()).await;
    }

    fn take_session(&self) -> Session {
        if let Some(s) = self.sessions.lock().pop() {
            return s;
        }
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        Session {
            client: format!("{}-{n}", self.session_prefix),
            seq: 1,
        }
    }

    /// Proposes `ops` as one atomic write and returns the state machine's response once it is
    /// committed and applied (see the module). The response's `error` is the state machine's
    /// refusal (a bad keyspace name, key or value), applied as a no-op on every node.
    pub(crate) async fn write(&self, ops: Vec<Op>) -> Result<Response, ApiError> {
        let mut session = self.take_session();
        let req = Request::new(session.client.clone(), session.seq, ops);
        let deadline = Instant::now() + self.settings.write_timeout;
        let result = self.propose(req, deadline, true).await;
        // The next request of this session gets the next number whatever happened to this one
        // (if this one commits later, it is applied once; the next one is newer).
        session.seq += 1;
        self.sessions.lock().push(session);
        result
    }

    /// Proposes `req` here when this node leads, else (when `forward`) through the leader,
    /// retrying on leader changes until `deadline`.
    async fn propose(
        &self,
        req: Request,
        deadline: Instant,
        forward: bool,
    ) -> Result<Response, ApiError> {
        loop {
            if Instant::now() >= deadline {
                return Err(no_quorum("write"));
            }
            let leader = self.leader();
            if leader == Some(self.id) {
                let (tx, rx) = tokio::sync::oneshot::channel();
                if self.proposals.send((req.clone(), tx)).is_err() {
                    return Err(ApiError::internal());
                }
                match tokio::time::timeout_at(deadline, rx).await {
                    Err(_) => return Err(no_quorum("write")),
                    Ok(Ok(Proposed::Applied(r))) => return Ok(r),
                    Ok(Ok(Proposed::NotLeader)) => {}
                    Ok(Ok(Proposed::Failed) | Err(_)) => return Err(ApiError::internal()),
                }
            } else if !forward {
                return Err(not_leader());
            } else if let Some(addr) = leader.and_then(|l| self.addr_of(l)) {
                let left = deadline.saturating_duration_since(Instant::now());
                let r: Result<Response, PeerError> =
                    self.client.call(addr, "/raft/write", &req, left).await;
                match r {
                    Ok(resp) => return Ok(resp),
                    Err(e) => {
                        tracing::debug!(error = ?e, "forwarding a write to the leader failed; retrying")
                    }
                }
                tokio::time::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now())))
                    .await;
                continue;
            }
            self.wait_for_change(deadline).await;
        }
    }

    /// The read barrier of a linearizable read (see the module), bounded by
    /// RAFT_WRITE_TIMEOUT_MS: 503 `no_quorum` past it.
    pub(crate) async fn linearize(&self) -> Result<(), ApiError> {
        let deadline = Instant::now() + self.settings.write_timeout;
        let index = self.read_index(deadline, true).await?;
        let left = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(left))
            .applied_index_at_least(index, "linearizable read")
            .await
            .map(|_| ())
            .map_err(|_| no_quorum("read"))
    }

    /// The index a linearizable read must wait for: the leader's read index, confirmed with a
    /// quorum; asked of the leader when `forward` and this node does not lead.
    async fn read_index(&self, deadline: Instant, forward: bool) -> Result<Option<u64>, ApiError> {
        loop {
            if Instant::now() >= deadline {
                return Err(no_quorum("read"));
            }
            let leader = self.leader();
            if leader == Some(self.id) {
                let r = tokio::time::timeout_at(deadline, self.raft.get_read_log_id()).await;
                match r {
                    Err(_) => return Err(no_quorum("read")),
                    Ok(Ok((read, _applied))) => return Ok(read.map(|l| l.index)),
                    Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)))) => {}
                    Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_)))) => {
                        return Err(no_quorum("read"));
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "a read barrier failed");
                        return Err(ApiError::internal());
                    }
                }
            } else if !forward {
                return Err(not_leader());
            } else if let Some(addr) = leader.and_then(|l| self.addr_of(l)) {
                let left = deadline.saturating_duration_since(Instant::now());
                let r: Result<rpc::ReadIndex, PeerError> =
                    self.client.call(addr, "/raft/read_index", &(), left).await;
                match r {
                    Ok(ri) => return Ok(ri.index),
                    Err(e) => {
                        tracing::debug!(error = ?e, "asking the leader for a read index failed; retrying")
                    }
                }
                tokio::time::sleep(RETRY.min(deadline.saturating_duration_since(Instant::now())))
                    .await;
                continue;
            }
            self.wait_for_change(deadline).await;
        }
    }

    /// `GET /cluster`: `{"id", "leader", "term", "members", "last_log_index", "last_applied"}`,
    /// plus `state` (leader, follower, candidate or learner), `snapshot` (the index the last
    /// snapshot covers) and `purged` (the last index removed from the log).
    pub(crate) fn status(&self) -> serde_json::Value {
        let m = self.raft.metrics().borrow().clone();
        let members: BTreeMap<String, String> = m
            .membership_config
            .nodes()
            .map(|(id, n)| (id.to_string(), n.addr.clone()))
            .collect();
        let state = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        serde_json::json!({
            "id": self.id,
            "leader": m.current_leader,
            "term": m.current_term,
            "members": members,
            "last_log_index": m.last_log_index,
            "last_applied": m.last_applied.map(|l| l.index),
            "state": state,
            "snapshot": m.snapshot.map(|l| l.index),
            "purged": m.purged.map(|l| l.index),
        })
    }

    /// Stops Raft (before the database is closed).
    pub(crate) async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "stopping Raft");
        }
    }
}

/// A random 64-bit number (std's randomly seeded hasher; no extra crate).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
}
