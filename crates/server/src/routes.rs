//! The router: a `match` on method and raw path. Route names double as metric labels.
//!
//! Paths are matched before percent-decoding, so `/keys/search%2Fprefix` is the key
//! `search/prefix`, while `/keys/search/prefix` is the search route. The key (or flag id) is the
//! rest of the path after `/keys/` (`/features/`), percent-decoded exactly once: `/`, `..`,
//! unicode and NUL are just bytes of the key.

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
    /// No route matched (404) or the method is not allowed (405).
    Unmatched,
}

impl RouteId {
    pub const ALL: [RouteId; 22] = [
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
        RouteId::Unmatched,
    ];

    /// Index into [`RouteId::ALL`].
    pub fn index(self) -> usize {
        self as usize
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
            RouteId::Unmatched => "unmatched",
        }
    }
}

/// The outcome of routing.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed {
    /// A route, with the decoded key or flag id when the path has one.
    Route(RouteId, Option<Vec<u8>>),
    NotFound,
    /// The path exists for these methods only.
    MethodNotAllowed(&'static str),
}

fn decode(raw: &str) -> Vec<u8> {
    percent_decode_str(raw).collect()
}

/// Routes a request by method and raw (still percent-encoded) path.
pub fn route(method: &Method, path: &str) -> Routed {
    use RouteId as R;
    // HEAD is answered wherever GET is (same status and headers, no body).
    let get = method == Method::GET || method == Method::HEAD;
    let one = |allowed: &'static str, want: &Method, id: RouteId| {
        if method == want || (*want == Method::GET && get) {
            Routed::Route(id, None)
        } else {
            Routed::MethodNotAllowed(allowed)
        }
    };
    match path {
        "/health" => one("GET", &Method::GET, R::Health),
        "/metrics" => one("GET", &Method::GET, R::Metrics),
        "/keys" => match *method {
            Method::GET | Method::HEAD => Routed::Route(R::List, None),
            Method::POST => Routed::Route(R::PostKey, None),
            _ => Routed::MethodNotAllowed("GET, POST"),
        },
        "/keys/batch" if method == Method::POST => Routed::Route(R::Batch, None),
        "/keys/get" if method == Method::POST => Routed::Route(R::MultiGet, None),
        "/keys/search/prefix" if get => Routed::Route(R::SearchPrefix, None),
        "/keys/search/substring" if get => Routed::Route(R::SearchSubstring, None),
        "/stats/all" => one("GET", &Method::GET, R::StatsAll),
        "/stats/memory" => one("GET", &Method::GET, R::StatsMemory),
        "/stats/disk" => one("GET", &Method::GET, R::StatsDisk),
        "/features" => one("GET", &Method::GET, R::ListFeatures),
        "/admin" => one("GET", &Method::GET, R::AdminPage),
        "/admin/tables" => one("GET", &Method::GET, R::AdminTables),
        "/admin/flush" => one("POST", &Method::POST, R::AdminFlush),
        "/admin/checkpoint" => one("POST", &Method::POST, R::AdminCheckpoint),
        _ => {
            if let Some(raw) = path.strip_prefix("/keys/") {
                let key = Some(decode(raw));
                match *method {
                    Method::GET | Method::HEAD => Routed::Route(R::GetKey, key),
                    Method::PUT => Routed::Route(R::PutKey, key),
                    Method::DELETE => Routed::Route(R::DeleteKey, key),
                    _ => Routed::MethodNotAllowed("GET, PUT, DELETE"),
                }
            } else if let Some(raw) = path.strip_prefix("/features/") {
                let id = Some(decode(raw));
                match *method {
                    Method::GET | Method::HEAD => Routed::Route(R::GetFeature, id),
                    Method::POST => Routed::Route(R::PostFeature, id),
                    _ => Routed::MethodNotAllowed("GET, POST"),
                }
            } else {
                Routed::NotFound
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Routed::Route(RouteId::GetKey, Some(b"a/b%25\0".to_vec()))
        );
        assert_eq!(
            route(&Method::GET, "/keys/../x"),
            Routed::Route(RouteId::GetKey, Some(b"../x".to_vec()))
        );
        assert_eq!(
            route(&Method::GET, "/keys/search%2Fprefix"),
            Routed::Route(RouteId::GetKey, Some(b"search/prefix".to_vec()))
        );
        assert_eq!(
            route(&Method::GET, "/keys/search/prefix"),
            Routed::Route(RouteId::SearchPrefix, None)
        );
        assert_eq!(
            route(&Method::GET, "/keys/batch"),
            Routed::Route(RouteId::GetKey, Some(b"batch".to_vec()))
        );
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
        assert_eq!(
            route(&Method::HEAD, "/health"),
            Routed::Route(RouteId::Health, None)
        );
    }
}
