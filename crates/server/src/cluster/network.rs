//! Raft's transport: openraft's `RaftNetworkFactory` / `RaftNetwork` as JSON POSTs to the
//! `/raft/` routes of the other nodes' HTTP servers (`/raft/append`, `/raft/vote`,
//! `/raft/snapshot`), over one pooled hyper client that also forwards writes and read-index
//! requests ([`PeerClient`]). The API_TOKEN, when set, goes with every request.
//!
//! A response body is the JSON of the remote `Result<reply, RaftError>`; a remote `Err` becomes
//! `RPCError::RemoteError`, a refused connection `Unreachable` (openraft backs off), anything
//! else on the way (a timeout, a non-200 status, bad JSON) `Network`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use lsmkv_raft::{Node, NodeId, TypeConfig};

/// Why a request to a peer failed.
#[derive(Debug)]
pub(crate) enum PeerError {
    /// No connection could be made (the peer is down or not listening yet).
    Unreachable(String),
    /// The request was sent but no usable answer came back in time.
    Failed(String),
}

impl PeerError {
    fn io(&self) -> std::io::Error {
        match self {
            PeerError::Unreachable(m) | PeerError::Failed(m) => std::io::Error::other(m.clone()),
        }
    }
}

/// One pooled HTTP/1 client for every request to the other nodes.
pub(crate) struct PeerClient {
    client: Client<HttpConnector, Full<Bytes>>,
    auth: Option<HeaderValue>,
}

impl PeerClient {
    pub(crate) fn new(token: Option<&str>) -> PeerClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(1)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(20))
            .build(connector);
        let auth = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok());
        PeerClient { client, auth }
    }

    /// POSTs `body` (JSON) to `http://{addr}{path}` and returns the status and body, within
    /// `timeout`.
    pub(crate) async fn post(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), PeerError> {
        self.post_marked(addr, path, body, timeout, None).await
    }

    /// [`PeerClient::post`] with header `mark: 1` when given.
    pub(crate) async fn post_marked(
        &self,
        addr: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
        mark: Option<&'static str>,
    ) -> Result<(StatusCode, Bytes), PeerError> {
        let uri = format!("http://{addr}{path}");
        let mut req = Request::post(uri)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| PeerError::Failed(format!("bad request to {addr}: {e}")))?;
        if let Some(a) = &self.auth {
            req.headers_mut().insert(AUTHORIZATION, a.clone());
        }
        if let Some(mark) = mark {
            req.headers_mut()
                .insert(mark, HeaderValue::from_static("1"));
        }
        let call = async {
            let resp = self.client.request(req).await.map_err(|e| {
                if e.is_connect() {
                    PeerError::Unreachable(format!("{addr}: {e}"))
                } else {
                    PeerError::Failed(format!("{addr}: {e}"))
                }
            })?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| PeerError::Failed(format!("{addr}: reading the answer: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or_else(|_| Err(PeerError::Failed(format!("{addr}: timed out"))))
    }

    /// POSTs `msg` as JSON and decodes a 200 answer as `T`.
    pub(crate) async fn call<M: Serialize, T: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        msg: &M,
        timeout: Duration,
    ) -> Result<T, PeerError> {
        let body = serde_json::to_vec(msg)
            .map_err(|e| PeerError::Failed(format!("encoding a message to {addr}: {e}")))?;
        let (status, body) = self.post(addr, path, body, timeout).await?;
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body);
            return Err(PeerError::Failed(format!(
                "{addr}{path} answered {status}: {text}"
            )));
        }
        serde_json::from_slice(&body)
            .map_err(|e| PeerError::Failed(format!("{addr}{path}: bad answer: {e}")))
    }
}

/// Makes one [`Connection`] per target node.
#[derive(Clone)]
pub(crate) struct Network {
    pub(crate) client: Arc<PeerClient>,
    /// RAFT_PEERS: the address of each node, used before the membership's own.
    pub(crate) peers: Arc<BTreeMap<NodeId, String>>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Connection {
        let addr = self
            .peers
            .get(&target)
            .cloned()
            .unwrap_or_else(|| node.addr.clone());
        Connection {
            client: self.client.clone(),
            target,
            addr,
        }
    }
}

/// The transport to one node.
pub(crate) struct Connection {
    client: Arc<PeerClient>,
    target: NodeId,
    addr: String,
}

impl Connection {
    /// Sends one RPC and maps the remote `Result` and transport failures to openraft's errors.
    async fn rpc<M, T, E>(
        &self,
        path: &str,
        msg: &M,
        option: &RPCOption,
    ) -> Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        M: Serialize,
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let answer: Result<Result<T, RaftError<NodeId, E>>, PeerError> = self
            .client
            .call(&self.addr, path, msg, option.hard_ttl())
            .await;
        match answer {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(remote)) => Err(RPCError::RemoteError(RemoteError::new(self.target, remote))),
            Err(e @ PeerError::Unreachable(_)) => {
                Err(RPCError::Unreachable(Unreachable::new(&e.io())))
            }
            Err(e) => Err(RPCError::Network(NetworkError::new(&e.io()))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.rpc("/raft/append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc("/raft/snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.rpc("/raft/vote", &rpc, &option).await
    }
}
