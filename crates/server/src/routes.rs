//! The router: a `match` on method and raw path. Route names double as metric labels.
//!
//! Paths are matched before percent-decoding, so `/keys/search%2Fprefix` is the key
//! `search/prefix`, while `/keys/search/prefix` is the search route. The key (or flag id) is the
//! rest of the path after `/keys/` (`/features/`), percent-decoded exactly once: `/`, `..`,
//! unicode and NUL are just bytes of the key. A keyspace name (and an index name,
//! `/indexes/{name}`) is one path segment (`/`-free before decoding, so `%2F` puts a slash in a
//! name).
//!
//! `/keyspaces/{ks}/keys...` has every route of `/keys...`, matched by the same function
//! ([`key_route`]); `/keys...` is the keyspace `default`. The two families have their own route
//! ids (so their own metric labels) and share their handlers ([`RouteId::key_op`]).

use hyper::Method;
use percent_encoding::percent_decode_str;

/// A route without its parameters: what metrics count by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteId {
    Health,
    Metrics,
    PostKey,
    Batch,
    MultiGet,
    List,
    SearchPrefix,
    SearchSubstring,
    GetKey,
    PutKey,
    DeleteKey,
    StatsAll,
    StatsMemory,
    StatsDisk,
    ListFeatures,
    GetFeature,
    PostFeature,
    AdminPage,
    AdminTables,
    AdminFlush,
    AdminCheckpoint,
    ListKeyspaces,
    PostKeyspace,
    GetKeyspace,
    PutKeyspace,
    DeleteKeyspace,
    KsPostKey,
    KsBatch,
    KsMultiGet,
    KsList,
    KsSearchPrefix,
    KsSearchSubstring,
    KsGetKey,
    KsPutKey,
    KsDeleteKey,
    DeleteRange,
    KsDeleteRange,
    ListIndexes,
    PostIndex,
    QueryIndex,
    DeleteIndex,
    Watch,
    KsWatch,
    /// `GET /cluster` (a node of a replicated cluster).
    Cluster,
    RaftAppend,
    RaftVote,
    RaftSnapshot,
    RaftWrite,
    RaftReadIndex,
    RaftState,
    /// No route matched (404) or the method is not allowed (405).
    Unmatched,
}

/// What a key route does, whichever keyspace it names: the handler to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOp {
    Post,
    Batch,
    MultiGet,
    List,
    SearchPrefix,
    SearchSubstring,
    Get,
    Put,
    Delete,
    /// `DELETE /keys?prefix=|start=&end=`: one range delete.
    DeleteRange,
}

impl KeyOp {
    /// Whether the route writes (refused on the server's own keyspace).
    pub fn writes(self) -> bool {
        matches!(
            self,
            KeyOp::Post | KeyOp::Batch | KeyOp::Put | KeyOp::Delete | KeyOp::DeleteRange
        )
    }

    /// The route id of this operation under `/keys` or, `scoped`, `/keyspaces/{ks}/keys`.
    fn route(self, scoped: bool) -> RouteId {
        use RouteId as R;
        match (self, scoped) {
            (KeyOp::Post, false) => R::PostKey,
            (KeyOp::Batch, false) => R::Batch,
            (KeyOp::MultiGet, false) => R::MultiGet,
            (KeyOp::List, false) => R::List,
            (KeyOp::SearchPrefix, false) => R::SearchPrefix,
            (KeyOp::SearchSubstring, false) => R::SearchSubstring,
            (KeyOp::Get, false) => R::GetKey,
            (KeyOp::Put, false) => R::PutKey,
            (KeyOp::Delete, false) => R::DeleteKey,
            (KeyOp::Post, true) => R::KsPostKey,
            (KeyOp::Batch, true) => R::KsBatch,
            (KeyOp::MultiGet, true) => R::KsMultiGet,
            (KeyOp::List, true) => R::KsList,
            (KeyOp::SearchPrefix, true) => R::KsSearchPrefix,
            (KeyOp::SearchSubstring, true) => R::KsSearchSubstring,
            (KeyOp::Get, true) => R::KsGetKey,
            (KeyOp::Put, true) => R::KsPutKey,
            (KeyOp::Delete, true) => R::KsDeleteKey,
            (KeyOp::DeleteRange, false) => R::DeleteRange,
            (KeyOp::DeleteRange, true) => R::KsDeleteRange,
        }
    }
}

impl RouteId {
    pub const ALL: [RouteId; 51] = [
        RouteId::Health,
        RouteId::Metrics,
        RouteId::PostKey,
        RouteId::Batch,
        RouteId::MultiGet,
        RouteId::List,
        RouteId::SearchPrefix,
        RouteId::SearchSubstring,
        RouteId::GetKey,
        RouteId::PutKey,
        RouteId::DeleteKey,
        RouteId::StatsAll,
        RouteId::StatsMemory,
        RouteId::StatsDisk,
        RouteId::ListFeatures,
        RouteId::GetFeature,
        RouteId::PostFeature,
        RouteId::AdminPage,
        RouteId::AdminTables,
        RouteId::AdminFlush,
        RouteId::AdminCheckpoint,
        RouteId::ListKeyspaces,
        RouteId::PostKeyspace,
        RouteId::GetKeyspace,
        RouteId::PutKeyspace,
        RouteId::DeleteKeyspace,
        RouteId::KsPostKey,
        RouteId::KsBatch,
        RouteId::KsMultiGet,
        RouteId::KsList,
        RouteId::KsSearchPrefix,
        RouteId::KsSearchSubstring,
        RouteId::KsGetKey,
        RouteId::KsPutKey,
        RouteId::KsDeleteKey,
        RouteId::DeleteRange,
        RouteId::KsDeleteRange,
        RouteId::ListIndexes,
        RouteId::PostIndex,
        RouteId::QueryIndex,
        RouteId::DeleteIndex,
        RouteId::Watch,
        RouteId::KsWatch,
        RouteId::Cluster,
        RouteId::RaftAppend,
        RouteId::RaftVote,
        RouteId::RaftSnapshot,
        RouteId::RaftWrite,
        RouteId::RaftReadIndex,
        RouteId::RaftState,
        RouteId::Unmatched,
    ];

    /// Index into [`RouteId::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The key operation of a key route (of either family).
    pub fn key_op(self) -> Option<KeyOp> {
        use RouteId as R;
        Some(match self {
            R::PostKey | R::KsPostKey => KeyOp::Post,
            R::Batch | R::KsBatch => KeyOp::Batch,
            R::MultiGet | R::KsMultiGet => KeyOp::MultiGet,
            R::List | R::KsList => KeyOp::List,
            R::SearchPrefix | R::KsSearchPrefix => KeyOp::SearchPrefix,
            R::SearchSubstring | R::KsSearchSubstring => KeyOp::SearchSubstring,
            R::GetKey | R::KsGetKey => KeyOp::Get,
            R::PutKey | R::KsPutKey => KeyOp::Put,
            R::DeleteKey | R::KsDeleteKey => KeyOp::Delete,
            R::DeleteRange | R::KsDeleteRange => KeyOp::DeleteRange,
            _ => return None,
        })
    }

    /// Whether it is `GET /cluster` or a `/raft/` route.
    pub fn is_cluster(self) -> bool {
        use RouteId as R;
        matches!(
            self,
            R::Cluster
                | R::RaftAppend
                | R::RaftVote
                | R::RaftSnapshot
                | R::RaftWrite
                | R::RaftReadIndex
                | R::RaftState
        )
    }

    /// Metric label.
    pub fn name(self) -> &'static str {
        match self {
            RouteId::Health => "GET /health",
            RouteId::Metrics => "GET /metrics",
            RouteId::PostKey => "POST /keys",
            RouteId::Batch => "POST /keys/batch",
            RouteId::MultiGet => "POST /keys/get",
            RouteId::List => "GET /keys",
            RouteId::SearchPrefix => "GET /keys/search/prefix",
            RouteId::SearchSubstring => "GET /keys/search/substring",
            RouteId::GetKey => "GET /keys/{key}",
            RouteId::PutKey => "PUT /keys/{key}",
            RouteId::DeleteKey => "DELETE /keys/{key}",
            RouteId::StatsAll => "GET /stats/all",
            RouteId::StatsMemory => "GET /stats/memory",
            RouteId::StatsDisk => "GET /stats/disk",
            RouteId::ListFeatures => "GET /features",
            RouteId::GetFeature => "GET /features/{id}",
            RouteId::PostFeature => "POST /features/{id}",
            RouteId::AdminPage => "GET /admin",
            RouteId::AdminTables => "GET /admin/tables",
            RouteId::AdminFlush => "POST /admin/flush",
            RouteId::AdminCheckpoint => "POST /admin/checkpoint",
            RouteId::ListKeyspaces => "GET /keyspaces",
            RouteId::PostKeyspace => "POST /keyspaces",
            RouteId::GetKeyspace => "GET /keyspaces/{ks}",
            RouteId::PutKeyspace => "PUT /keyspaces/{ks}",
            RouteId::DeleteKeyspace => "DELETE /keyspaces/{ks}",
            RouteId::KsPostKey => "POST /keyspaces/{ks}/keys",
            RouteId::KsBatch => "POST /keyspaces/{ks}/keys/batch",
            RouteId::KsMultiGet => "POST /keyspaces/{ks}/keys/get",
            RouteId::KsList => "GET /keyspaces/{ks}/keys",
            RouteId::KsSearchPrefix => "GET /keyspaces/{ks}/keys/search/prefix",
            RouteId::KsSearchSubstring => "GET /keyspaces/{ks}/keys/search/substring",
            RouteId::KsGetKey => "GET /keyspaces/{ks}/keys/{key}",
            RouteId::KsPutKey => "PUT /keyspaces/{ks}/keys/{key}",
            RouteId::KsDeleteKey => "DELETE /keyspaces/{ks}/keys/{key}",
            RouteId::DeleteRange => "DELETE /keys",
            RouteId::KsDeleteRange => "DELETE /keyspaces/{ks}/keys",
            RouteId::ListIndexes => "GET /indexes",
            RouteId::PostIndex => "POST /indexes",
            RouteId::QueryIndex => "GET /indexes/{name}",
            RouteId::DeleteIndex => "DELETE /indexes/{name}",
            RouteId::Watch => "GET /watch",
            RouteId::KsWatch => "GET /keyspaces/{ks}/watch",
            RouteId::Cluster => "GET /cluster",
            RouteId::RaftAppend => "POST /raft/append",
            RouteId::RaftVote => "POST /raft/vote",
            RouteId::RaftSnapshot => "POST /raft/snapshot",
            RouteId::RaftWrite => "POST /raft/write",
            RouteId::RaftReadIndex => "POST /raft/read_index",
            RouteId::RaftState => "POST /raft/state",
            RouteId::Unmatched => "unmatched",
        }
    }
}

/// The decoded parameters of a route.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params {
    /// The keyspace name of `/keyspaces/{ks}...` (`None` on other routes: `/keys` is `default`).
    pub keyspace: Option<Vec<u8>>,
    /// The key or flag id of the path, when it has one.
    pub param: Option<Vec<u8>>,
}

/// The outcome of routing.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// A route, with its decoded parameters.
    Route(RouteId, Params),
    NotFound,
    /// The path exists for these methods only.
    MethodNotAllowed(&'static str),
}

fn decode(raw: &str) -> Vec<u8> {
    percent_decode_str(raw).collect()
}

fn params_of(keyspace: Option<Vec<u8>>) -> Params {
    Params {
        keyspace,
        param: None,
    }
}

fn plain(id: RouteId) -> Routed {
    Routed::Route(id, Params::default())
}

/// Routes a request by method and raw (still percent-encoded) path.
pub fn route(method: &Method, path: &str) -> Routed {
    use RouteId as R;
    // HEAD is answered wherever GET is (same status and headers, no body).
    let get = method == Method::GET || method == Method::HEAD;
    let one = |allowed: &'static str, want: &Method, id: RouteId| {
        if method == want || (*want == Method::GET && get) {
            plain(id)
        } else {
            Routed::MethodNotAllowed(allowed)
        }
    };
    match path {
        "/health" => one("GET", &Method::GET, R::Health),
        "/metrics" => one("GET", &Method::GET, R::Metrics),
        "/stats/all" => one("GET", &Method::GET, R::StatsAll),
        "/stats/memory" => one("GET", &Method::GET, R::StatsMemory),
        "/stats/disk" => one("GET", &Method::GET, R::StatsDisk),
        "/features" => one("GET", &Method::GET, R::ListFeatures),
        "/admin" => one("GET", &Method::GET, R::AdminPage),
        "/admin/tables" => one("GET", &Method::GET, R::AdminTables),
        "/admin/flush" => one("POST", &Method::POST, R::AdminFlush),
        "/admin/checkpoint" => one("POST", &Method::POST, R::AdminCheckpoint),
        "/watch" => one("GET", &Method::GET, R::Watch),
        "/cluster" => one("GET", &Method::GET, R::Cluster),
        "/raft/append" => one("POST", &Method::POST, R::RaftAppend),
        "/raft/vote" => one("POST", &Method::POST, R::RaftVote),
        "/raft/snapshot" => one("POST", &Method::POST, R::RaftSnapshot),
        "/raft/write" => one("POST", &Method::POST, R::RaftWrite),
        "/raft/read_index" => one("POST", &Method::POST, R::RaftReadIndex),
        "/raft/state" => one("POST", &Method::POST, R::RaftState),
        "/keyspaces" => match *method {
            Method::GET | Method::HEAD => plain(R::ListKeyspaces),
            Method::POST => plain(R::PostKeyspace),
            _ => Routed::MethodNotAllowed("GET, POST"),
        },
        "/indexes" => match *method {
            Method::GET | Method::HEAD => plain(R::ListIndexes),
            Method::POST => plain(R::PostIndex),
            _ => Routed::MethodNotAllowed("GET, POST"),
        },
        _ => {
            // (`/keyspaces/` first: it starts with `/keys` too.)
            if let Some(rest) = path.strip_prefix("/keyspaces/") {
                keyspace_route(method, rest)
            } else if let Some(rest) = path.strip_prefix("/keys") {
                key_route(method, rest, None)
            } else if let Some(raw) = path.strip_prefix("/indexes/") {
                index_route(method, raw)
            } else if let Some(raw) = path.strip_prefix("/features/") {
                let param = Some(decode(raw));
                let params = Params {
                    keyspace: None,
                    param,
                };
                match *method {
                    Method::GET | Method::HEAD => Routed::Route(R::GetFeature, params),
                    Method::POST => Routed::Route(R::PostFeature, params),
                    _ => Routed::MethodNotAllowed("GET, POST"),
                }
            } else {
                Routed::NotFound
            }
        }
    }
}

/// `/keyspaces/{ks}` and `/keyspaces/{ks}/keys...`; `rest` follows `/keyspaces/`.
fn keyspace_route(method: &Method, rest: &str) -> Routed {
    use RouteId as R;
    let (raw_name, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let name = Some(decode(raw_name));
    if tail.is_empty() {
        let params = Params {
            keyspace: name,
            param: None,
        };
        return match *method {
            Method::GET | Method::HEAD => Routed::Route(R::GetKeyspace, params),
            Method::PUT => Routed::Route(R::PutKeyspace, params),
            Method::DELETE => Routed::Route(R::DeleteKeyspace, params),
            _ => Routed::MethodNotAllowed("GET, PUT, DELETE"),
        };
    }
    match tail.strip_prefix("/keys") {
        Some(keys) => key_route(method, keys, name),
        None if tail == "/watch" => match *method {
            Method::GET | Method::HEAD => Routed::Route(R::KsWatch, params_of(name)),
            _ => Routed::MethodNotAllowed("GET"),
        },
        None => Routed::NotFound,
    }
}

/// `/indexes/{name}`; `raw` follows `/indexes/` (one path segment: `%2F` puts a slash in a name).
fn index_route(method: &Method, raw: &str) -> Routed {
    if raw.is_empty() || raw.contains('/') {
        return Routed::NotFound;
    }
    let params = Params {
        keyspace: None,
        param: Some(decode(raw)),
    };
    match *method {
        Method::GET | Method::HEAD => Routed::Route(RouteId::QueryIndex, params),
        Method::DELETE => Routed::Route(RouteId::DeleteIndex, params),
        _ => Routed::MethodNotAllowed("GET, DELETE"),
    }
}

/// The key routes; `rest` follows `/keys` (of `/keys`, or of `/keyspaces/{ks}` when `keyspace`
/// is given).
fn key_route(method: &Method, rest: &str, keyspace: Option<Vec<u8>>) -> Routed {
    let get = method == Method::GET || method == Method::HEAD;
    let scoped = keyspace.is_some();
    let route = |op: KeyOp, param: Option<Vec<u8>>| {
        Routed::Route(
            op.route(scoped),
            Params {
                keyspace: keyspace.clone(),
                param,
            },
        )
    };
    match rest {
        "" => match *method {
            Method::GET | Method::HEAD => route(KeyOp::List, None),
            Method::POST => route(KeyOp::Post, None),
            Method::DELETE => route(KeyOp::DeleteRange, None),
            _ => Routed::MethodNotAllowed("GET, POST, DELETE"),
        },
        "/batch" if method == Method::POST => route(KeyOp::Batch, None),
        "/get" if method == Method::POST => route(KeyOp::MultiGet, None),
        "/search/prefix" if get => route(KeyOp::SearchPrefix, None),
        "/search/substring" if get => route(KeyOp::SearchSubstring, None),
        _ => {
            // `/keysfoo` is no route; `/keys/` + key is one.
            let Some(raw) = rest.strip_prefix('/') else {
                return Routed::NotFound;
            };
            let key = Some(decode(raw));
            match *method {
                Method::GET | Method::HEAD => route(KeyOp::Get, key),
                Method::PUT => route(KeyOp::Put, key),
                Method::DELETE => route(KeyOp::Delete, key),
                _ => Routed::MethodNotAllowed("GET, PUT, DELETE"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_key(id: RouteId, key: &[u8]) -> Routed {
        Routed::Route(
            id,
            Params {
                keyspace: None,
                param: Some(key.to_vec()),
            },
        )
    }

    fn with_param(id: RouteId, p: &[u8]) -> Routed {
        with_key(id, p)
    }

    fn in_ks(id: RouteId, ks: &[u8], key: Option<&[u8]>) -> Routed {
        Routed::Route(
            id,
            Params {
                keyspace: Some(ks.to_vec()),
                param: key.map(<[u8]>::to_vec),
            },
        )
    }

    #[test]
    fn ids_index_all() {
        for (i, r) in RouteId::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn keys_are_decoded_once() {
        assert_eq!(
            route(&Method::GET, "/keys/a%2Fb%2525%00"),
            with_key(RouteId::GetKey, b"a/b%25\0")
        );
        assert_eq!(
            route(&Method::GET, "/keys/../x"),
            with_key(RouteId::GetKey, b"../x")
        );
        assert_eq!(
            route(&Method::GET, "/keys/search%2Fprefix"),
            with_key(RouteId::GetKey, b"search/prefix")
        );
        assert_eq!(
            route(&Method::GET, "/keys/search/prefix"),
            plain(RouteId::SearchPrefix)
        );
        assert_eq!(
            route(&Method::GET, "/keys/batch"),
            with_key(RouteId::GetKey, b"batch")
        );
        assert_eq!(route(&Method::GET, "/keysx"), Routed::NotFound);
    }

    #[test]
    fn keyspace_routes_mirror_the_key_routes() {
        assert_eq!(
            route(&Method::GET, "/keyspaces/logs/keys/a%2Fb"),
            in_ks(RouteId::KsGetKey, b"logs", Some(b"a/b"))
        );
        assert_eq!(
            route(&Method::GET, "/keyspaces/a%2Fb/keys"),
            in_ks(RouteId::KsList, b"a/b", None)
        );
        assert_eq!(
            route(&Method::POST, "/keyspaces/x/keys/batch"),
            in_ks(RouteId::KsBatch, b"x", None)
        );
        assert_eq!(
            route(&Method::GET, "/keyspaces/x/keys/batch"),
            in_ks(RouteId::KsGetKey, b"x", Some(b"batch"))
        );
        assert_eq!(
            route(&Method::DELETE, "/keyspaces/x"),
            in_ks(RouteId::DeleteKeyspace, b"x", None)
        );
        assert_eq!(
            route(&Method::GET, "/keyspaces"),
            plain(RouteId::ListKeyspaces)
        );
        assert_eq!(
            route(&Method::POST, "/keyspaces"),
            plain(RouteId::PostKeyspace)
        );
        assert_eq!(route(&Method::GET, "/keyspaces/x/nope"), Routed::NotFound);
        assert_eq!(
            route(&Method::GET, "/keyspaces/a%2Fb/watch"),
            in_ks(RouteId::KsWatch, b"a/b", None)
        );
        assert_eq!(route(&Method::GET, "/watch"), plain(RouteId::Watch));
        assert_eq!(route(&Method::GET, "/keyspaces/x/keysy"), Routed::NotFound);
        assert_eq!(
            route(&Method::POST, "/keyspaces/x"),
            Routed::MethodNotAllowed("GET, PUT, DELETE")
        );
        for id in RouteId::ALL {
            if let Some(op) = id.key_op() {
                assert!(op.route(false) == id || op.route(true) == id, "{id:?}");
            }
        }
    }

    #[test]
    fn methods() {
        assert_eq!(
            route(&Method::DELETE, "/stats/all"),
            Routed::MethodNotAllowed("GET")
        );
        assert_eq!(
            route(&Method::POST, "/keys/x"),
            Routed::MethodNotAllowed("GET, PUT, DELETE")
        );
        assert_eq!(route(&Method::GET, "/nope"), Routed::NotFound);
        assert_eq!(route(&Method::HEAD, "/health"), plain(RouteId::Health));
        assert_eq!(
            route(&Method::PUT, "/keys"),
            Routed::MethodNotAllowed("GET, POST, DELETE")
        );
    }

    #[test]
    fn range_deletes_and_indexes() {
        assert_eq!(route(&Method::DELETE, "/keys"), plain(RouteId::DeleteRange));
        assert_eq!(
            route(&Method::DELETE, "/keyspaces/x/keys"),
            in_ks(RouteId::KsDeleteRange, b"x", None)
        );
        assert_eq!(route(&Method::GET, "/indexes"), plain(RouteId::ListIndexes));
        assert_eq!(route(&Method::POST, "/indexes"), plain(RouteId::PostIndex));
        assert_eq!(
            route(&Method::GET, "/indexes/by%2Fmail"),
            with_param(RouteId::QueryIndex, b"by/mail")
        );
        assert_eq!(
            route(&Method::DELETE, "/indexes/x"),
            with_param(RouteId::DeleteIndex, b"x")
        );
        assert_eq!(
            route(&Method::PUT, "/indexes/x"),
            Routed::MethodNotAllowed("GET, DELETE")
        );
        assert_eq!(route(&Method::GET, "/indexes/x/y"), Routed::NotFound);
        assert_eq!(route(&Method::GET, "/indexes/"), Routed::NotFound);
    }
}
