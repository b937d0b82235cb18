//! lsmkv as the log store and the state machine of an [openraft](openraft) node.
//!
//! One lsmkv [`Db`] holds everything a node keeps: the Raft log (keyspace `raft.log`, keys are
//! big-endian indexes), the vote and the committed/purged marks (`raft.meta`), and the replicated
//! state machine in a *generation* of keyspaces (`raft.g<N>.sm` for the applied log id,
//! membership, deduplication table and last snapshot; `raft.g<N>.d.<name>` for each user
//! keyspace). User keyspace names never collide with the adapter's keyspaces.
//!
//! openraft is 0.9.25, the newest stable release, with the `storage-v2` traits
//! ([`openraft::storage::RaftLogStorage`], [`openraft::storage::RaftStateMachine`]) and
//! `serde`. The crate re-exports it ([`openraft`]) so that a user links the same version.
//!
//! # Using it (what `lsmkv-server`'s replicated mode does)
//!
//! ```no_run
//! # async fn node(network: impl openraft::RaftNetworkFactory<lsmkv_raft::TypeConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use lsmkv_raft::{Node, Op, Request, TypeConfig};
//!
//! let db = lsmkv::Db::open("data", lsmkv::Options::default())?;
//! let (log_store, state_machine) = lsmkv_raft::open(&db)?;
//! let fresh = !log_store.has_state()?; // the lowest id initialises membership once, if fresh
//! let data = state_machine.data(); // reads: data.get(None, b"key"), data.keyspace(Some("flags"))
//! let config = Arc::new(openraft::Config::default().validate()?);
//! let raft = lsmkv_raft::Raft::new(1, config, network, log_store, state_machine).await?;
//! if fresh {
//!     let members = [(1, Node { addr: "127.0.0.1:8081".into() })];
//!     raft.initialize(members.into_iter().collect::<std::collections::BTreeMap<_, _>>()).await?;
//! }
//! let put = Op::Put { keyspace: None, key: b"k".to_vec(), value: b"v".to_vec(), ttl_ms: None };
//! let reply = raft.client_write(Request::new("client-7", 1, vec![put])).await?;
//! assert!(reply.data.error.is_none());
//! raft.ensure_linearizable().await?; // before a linearizable read from `data`
//! # Ok(()) }
//! ```
//!
//! - Writes are [`Request`]s: a client id and sequence number (deduplication: the same
//!   (client, seq) applied twice takes effect once and answers the stored [`Response`]) and
//!   [`Op`]s (put with optional TTL, delete, delete-range, delete-prefix), each naming a user
//!   keyspace or `None` for `default`. The ops of one request are one atomic batch. Every type is
//!   serde-serializable (the server sends requests, and openraft's RPCs, as JSON over HTTP).
//! - Reads go through [`ReplicatedData`] ([`StateMachineStore::data`]), after
//!   `raft.ensure_linearizable()` for linearizable reads, or directly for node-local reads. Never
//!   write to the `raft.*` keyspaces directly.
//! - [`Node`] is openraft's `BasicNode`: `addr` is the node's HTTP address (`host:port`).
//!
//! # Durability
//! The vote is fsynced before `save_vote` returns; appended entries are reported flushed to
//! openraft only when the fsync covering them is done, through [`lsmkv::Db::write_with_ticket`]
//! (so any [`lsmkv::SyncMode`] is safe for the log; under `always` each append fsyncs in the
//! write path). State-machine writes are not fsynced on their own: the WAL keeps commit order,
//! so a crash loses at most a suffix of applies, which openraft re-applies from the log.
//!
//! # Snapshots
//! A snapshot is a consistent read (one lsmkv snapshot seqno) of the live generation: user data,
//! deduplication table, and, in openraft's `SnapshotMeta`, the applied log id and membership. Its
//! bytes ([`SnapshotData`], openraft 0.9's default `Cursor<Vec<u8>>`) are held in memory while
//! built, sent or installed, so the state machine must fit in memory. A value written with a TTL
//! travels with its remaining TTL (the adapter records each TTL put's expiry beside the data).
//! A TTL's expiry is stamped by each node's clock when it applies the entry. Installing writes a new
//! generation and switches to it with one durable batch: a crash during the install leaves the old
//! state (the partial generation is dropped at the next open).

#![warn(clippy::unwrap_used, clippy::expect_used)]
#![allow(
    clippy::result_large_err,
    reason = "openraft's storage traits return its StorageError by value; the helpers return what the traits return"
)]

mod layout;
mod log_store;
mod snapshot;
mod state_machine;
mod types;

use std::io::Cursor;

pub use openraft;

pub use log_store::LogStore;
pub use snapshot::SnapshotBuilder;
pub use state_machine::{ReplicatedData, StateMachineStore};
pub use types::{Op, Request, Response};

use lsmkv::Db;

/// A node's id.
pub type NodeId = u64;

/// A node's address book entry: `addr` is its HTTP address (`host:port`).
pub type Node = openraft::BasicNode;

/// What a snapshot's bytes are kept in (openraft 0.9's default; see the crate docs).
pub type SnapshotData = Cursor<Vec<u8>>;

openraft::declare_raft_types!(
    /// The openraft type configuration of an lsmkv node.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
        Responder = openraft::impls::OneshotResponder<TypeConfig>,
);

/// A Raft log entry of this configuration.
pub type Entry = openraft::Entry<TypeConfig>;

/// A log id of this configuration.
pub type LogId = openraft::LogId<NodeId>;

/// The openraft node type of this configuration.
pub type Raft = openraft::Raft<TypeConfig>;

/// Opens the log store and the state machine of a node on `db` (creating their keyspaces on a
/// fresh database; dropping what an interrupted snapshot install left).
///
/// # Errors
/// The engine's error opening the keyspaces or reading the state machine's generation.
pub fn open(db: &Db) -> Result<(LogStore, StateMachineStore), lsmkv::Error> {
    Ok((LogStore::open(db)?, StateMachineStore::open(db)?))
}
