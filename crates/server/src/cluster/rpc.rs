//! The cluster's routes: openraft's RPCs (`POST /raft/append`, `/raft/vote`, `/raft/snapshot`),
//! the leader's side of forwarded writes and read barriers (`POST /raft/write`,
//! `/raft/read_index`), `POST /raft/state` (asked before forming the cluster) and
//! `GET /cluster`. Bodies are JSON; an RPC's answer is the JSON of openraft's `Result`.

use std::sync::Arc;

use bytes::Bytes;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use lsmkv_raft::{Request, TypeConfig};

use super::Cluster;
use crate::errors::ApiError;

/// Which cluster route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RaftRoute {
    Append,
    Vote,
    Snapshot,
    Write,
    ReadIndex,
    State,
}

/// The answer of `POST /raft/state`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NodeState {
    pub has_state: bool,
}

/// The answer of `POST /raft/read_index`: the index a linearizable read waits for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ReadIndex {
    pub index: Option<u64>,
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("not a valid Raft message: {e}")))
}

fn ok<T: Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(|_| ApiError::internal())
}

/// Runs cluster route `route` with request body `body`; the answer's JSON (status 200).
pub(crate) async fn handle(
    cluster: &Arc<Cluster>,
    route: RaftRoute,
    body: Bytes,
) -> Result<serde_json::Value, ApiError> {
    let raft = &cluster.raft;
    match route {
        RaftRoute::Append => {
            let rpc: AppendEntriesRequest<TypeConfig> = parse(&body)?;
            ok(&raft.append_entries(rpc).await)
        }
        RaftRoute::Vote => {
            let rpc: VoteRequest<u64> = parse(&body)?;
            ok(&raft.vote(rpc).await)
        }
        RaftRoute::Snapshot => {
            let rpc: InstallSnapshotRequest<TypeConfig> = parse(&body)?;
            ok(&raft.install_snapshot(rpc).await)
        }
        RaftRoute::Write => {
            let req: Request = parse(&body)?;
            let deadline = Instant::now() + cluster.settings.write_timeout;
            ok(&cluster.propose(req, deadline, false).await?)
        }
        RaftRoute::ReadIndex => {
            let deadline = Instant::now() + cluster.settings.write_timeout;
            let index = cluster.read_index(deadline, false).await?;
            ok(&ReadIndex { index })
        }
        RaftRoute::State => ok(&NodeState {
            has_state: cluster.has_state(),
        }),
    }
}
