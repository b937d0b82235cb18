//! Client mode: a [`Client`] runs the shell's commands against a running `lsmkv-server` over its
//! REST API (plain HTTP, blocking, no TLS), so the data can be looked at without stopping the
//! server.
//!
//! Keys travel percent-encoded in paths (`/keys/{key}`) or as `key`/`key_base64` in JSON bodies,
//! so every byte round-trips. A client acts on one keyspace ([`Client::with_keyspace`]): the
//! `default` keyspace through `/keys...`, any other through `/keyspaces/{ks}/keys...`. Listings follow the server's `next` cursor page by page. Query
//! parameters the server reads as text (`start`, `end`, `q`) must be UTF-8; a scan bound that is
//! not is applied through the cursor or on this side instead.
//!
//! Errors: a server that cannot be reached is [`exit::CONNECTION`]; a rejected token is
//! [`exit::UNAUTHORIZED`]; the server's error `code` picks the rest (see [`failure_for`]).

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value as Json, json};

use crate::failure::{Failure, exit};
use crate::output::get_json_bytes;

/// The keyspace of `/keys` (and of `Db`'s own methods).
pub const DEFAULT_KEYSPACE: &str = "default";

/// Entries asked for per page of a listing (the server caps it at its SEARCH_MAX_LIMIT).
const PAGE: usize = 1000;

/// Longest path sent with a key in it; a longer key goes in a JSON body instead.
const MAX_PATH: usize = 2048;

/// Longest a request may take (connect, send, answer) before it fails.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A connection to a running `lsmkv-server` (clones share the connection pool), acting on one
/// keyspace.
#[derive(Clone)]
pub struct Client {
    /// `http://host:port`, without a trailing slash.
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// The keyspace of the key commands (`default` unless [`Client::with_keyspace`] says).
    keyspace: String,
    /// The path of its keys: `/keys` or `/keyspaces/{ks}/keys`.
    keys: String,
}

/// An HTTP answer: status and body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// One key/value pair of a listing.
pub type Entry = (Vec<u8>, Vec<u8>);

impl Client {
    /// A client of the server at `url` (`http://HOST:PORT`, optionally with a path prefix),
    /// sending `token` as a bearer token when given. Nothing is sent yet.
    ///
    /// # Errors
    /// A usage error for a URL that is not `http://...` (there is no TLS support).
    pub fn new(url: &str, token: Option<String>) -> Result<Client, Failure> {
        let base = url.trim_end_matches('/');
        let Some(rest) = base.strip_prefix("http://") else {
            return Err(Failure::usage(format!(
                "--url {url}: only http:// URLs are supported (no TLS; use a loopback or LAN \
                 address, or a TLS-terminating proxy's plain side)"
            )));
        };
        if rest.is_empty() || rest.starts_with('/') {
            return Err(Failure::usage(format!("--url {url}: no host")));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(TIMEOUT))
            .build()
            .into();
        Ok(Client {
            base: base.to_string(),
            token: token.filter(|t| !t.is_empty()),
            agent,
            keyspace: DEFAULT_KEYSPACE.to_string(),
            keys: "/keys".to_string(),
        })
    }

    /// The same server, acting on keyspace `name` (nothing is sent: a keyspace that does not
    /// exist fails the first request with the server's `keyspace_not_found`).
    pub fn with_keyspace(&self, name: &str) -> Client {
        let keys = if name == DEFAULT_KEYSPACE {
            "/keys".to_string()
        } else {
            format!("/keyspaces/{}/keys", enc(name.as_bytes()))
        };
        Client {
            keyspace: name.to_string(),
            keys,
            ..self.clone()
        }
    }

    /// The keyspace the key commands act on.
    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sends one request with `body` (and its content type) when given.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Answer, Failure> {
        let url = format!("{}{path}", self.base);
        let mut b = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            b = b.header("Authorization", format!("Bearer {t}"));
        }
        let built = match body {
            Some((content_type, bytes)) => b
                .header("Content-Type", content_type)
                .body(bytes)
                .map(|r| self.agent.run(r)),
            None => b.body(()).map(|r| self.agent.run(r)),
        };
        let result = built.map_err(|e| Failure::usage(format!("bad request to {url}: {e}")))?;
        let mut resp = result.map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| self.unreachable(&e))?;
        Ok(Answer { status, body })
    }

    fn unreachable(&self, e: &ureq::Error) -> Failure {
        Failure {
            code: exit::CONNECTION,
            message: format!("cannot reach the server at {}: {e}", self.base),
        }
    }

    /// Sends a request and parses a successful answer's JSON (`Json::Null` for an empty body).
    fn call(&self, method: &str, path: &str, body: Option<Json>) -> Result<Json, Failure> {
        let body = body.map(|b| ("application/json", b.to_string().into_bytes()));
        self.call_with(method, path, body)
    }

    /// [`Client::call`] with a body of any content type.
    fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Result<Json, Failure> {
        let a = self.send(method, path, body)?;
        if !(200..300).contains(&a.status) {
            return Err(failure_for(a.status, &a.body));
        }
        if a.body.is_empty() {
            return Ok(Json::Null);
        }
        serde_json::from_slice(&a.body).map_err(|e| {
            Failure::other(format!(
                "the server at {} answered {} with a body that is not JSON: {e}",
                self.base, a.status
            ))
        })
    }

    /// Whether the server answers and accepts the token: `GET /stats/memory`, a cheap
    /// authenticated read (`/health` needs no token).
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn check(&self) -> Result<(), Failure> {
        self.call("GET", "/stats/memory", None).map(|_| ())
    }

    /// `POST /keys/get` with one key: its value, `None` when absent.
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
        let body = json!({ "keys": [bytes_object("key", key)] });
        let v = self.call("POST", &format!("{}/get", self.keys), Some(body))?;
        let item = v
            .get("items")
            .and_then(Json::as_array)
            .and_then(|a| a.first())
            .and_then(Json::as_object)
            .ok_or_else(|| bad_answer("POST /keys/get"))?;
        if item.get("value").is_some_and(Json::is_null) {
            return Ok(None);
        }
        get_json_bytes(item, "value")
            .map_err(|_| bad_answer("POST /keys/get"))?
            .map(Some)
            .ok_or_else(|| bad_answer("POST /keys/get"))
    }

    /// `PUT /keys/{key}` with the value as the raw body (bounded by the server's MAX_VALUE_SIZE,
    /// not its JSON limit); `POST /keys` `{key, value}` for a key too long for a path.
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), Failure> {
        let path = format!("{}/{}", self.keys, enc(key));
        if path.len() > MAX_PATH {
            return self
                .call("POST", &self.keys, Some(entry_json(key, value)))
                .map(|_| ());
        }
        let body = Some(("application/octet-stream", value.to_vec()));
        self.call_with("PUT", &path, body).map(|_| ())
    }

    /// `PUT /keys/{key}?ttl_seconds=N` with the value as the raw body; `POST /keys` `{key,
    /// value, ttl_seconds}` for a key too long for a path.
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn put_with_ttl(&self, key: &[u8], value: &[u8], ttl_seconds: u64) -> Result<(), Failure> {
        let path = format!("{}/{}?ttl_seconds={ttl_seconds}", self.keys, enc(key));
        if path.len() > MAX_PATH {
            let mut body = entry_json(key, value);
            if let Some(o) = body.as_object_mut() {
                o.insert("ttl_seconds".into(), ttl_seconds.into());
            }
            return self.call("POST", &self.keys, Some(body)).map(|_| ());
        }
        let body = Some(("application/octet-stream", value.to_vec()));
        self.call_with("PUT", &path, body).map(|_| ())
    }

    /// `DELETE /keys?start=&end=`: one range delete of `[start, end)`, an empty bound being no
    /// bound (`start_base64` / `end_base64` for bytes that are not UTF-8; `all=true` when both are
    /// empty, which the caller has confirmed).
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn delete_range(&self, start: &[u8], end: &[u8]) -> Result<(), Failure> {
        let mut q = Vec::new();
        for (name, b) in [("start", start), ("end", end)] {
            if !b.is_empty() {
                q.push(query_bytes(name, b));
            }
        }
        if q.is_empty() {
            q.push("all=true".to_string());
        }
        self.call("DELETE", &format!("{}?{}", self.keys, q.join("&")), None)
            .map(|_| ())
    }

    /// `DELETE /keys?prefix=P`: one range delete of the keys starting with `prefix` (`all=true`
    /// as well for an empty one, which the caller has confirmed).
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn delete_prefix(&self, prefix: &[u8]) -> Result<(), Failure> {
        let mut q = query_bytes("prefix", prefix);
        if prefix.is_empty() {
            q.push_str("&all=true");
        }
        self.call("DELETE", &format!("{}?{q}", self.keys), None)
            .map(|_| ())
    }

    /// `DELETE /keys/{key}`.
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn delete(&self, key: &[u8]) -> Result<(), Failure> {
        self.call("DELETE", &format!("{}/{}", self.keys, enc(key)), None)
            .map(|_| ())
    }

    /// `POST /keys/batch`: puts written as one atomic batch. The server's batch holds puts only.
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn put_batch(&self, entries: &[(&[u8], &[u8])]) -> Result<(), Failure> {
        let arr: Vec<Json> = entries.iter().map(|(k, v)| entry_json(k, v)).collect();
        self.call(
            "POST",
            &format!("{}/batch", self.keys),
            Some(Json::Array(arr)),
        )
        .map(|_| ())
    }

    /// The number of keys of the keyspace: `GET /keys?count=true`, resumed until the server's
    /// count is complete.
    ///
    /// # Errors
    /// The connection or the server's error, or Ctrl-C ([`Failure::interrupted`]).
    pub fn count(&self) -> Result<u64, Failure> {
        let what = format!("GET {}?count=true", self.keys);
        let mut total = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            if crate::signals::interrupted() {
                return Err(Failure::interrupted());
            }
            let mut path = format!("{}?count=true", self.keys);
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let v = self.call("GET", &path, None)?;
            let n = v
                .get("count")
                .and_then(Json::as_u64)
                .ok_or_else(|| bad_answer(&what))?;
            total = total.saturating_add(n);
            match v.get("next") {
                Some(Json::String(c)) => cursor = Some(c.clone()),
                _ => return Ok(total),
            }
        }
    }

    /// `GET /keyspaces`: every keyspace's statistics, by name.
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn keyspaces(&self) -> Result<Vec<Json>, Failure> {
        let v = self.call("GET", "/keyspaces", None)?;
        match v.get("keyspaces") {
            Some(Json::Array(a)) => Ok(a.clone()),
            _ => Err(bad_answer("GET /keyspaces")),
        }
    }

    /// `GET /keyspaces/{name}`: one keyspace's statistics (the engine's `KeyspaceStats`).
    ///
    /// # Errors
    /// The connection or the server's error (`keyspace_not_found`: a usage error).
    pub fn keyspace_stats(&self, name: &str) -> Result<Json, Failure> {
        let mut v = self.call("GET", &format!("/keyspaces/{}", enc(name.as_bytes())), None)?;
        // The server's own field; the local statistics have no such thing.
        if let Some(o) = v.as_object_mut() {
            o.remove("reserved");
        }
        Ok(v)
    }

    /// `POST /keyspaces` `{"name": NAME, ...options}`: creates a keyspace (`keyspace_exists`
    /// when it exists).
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn create_keyspace(&self, name: &str, options: Map<String, Json>) -> Result<(), Failure> {
        let mut body = options;
        body.insert("name".into(), Json::String(name.to_string()));
        self.call("POST", "/keyspaces", Some(Json::Object(body)))
            .map(|_| ())
    }

    /// `DELETE /keyspaces/{name}`: drops it with all its data.
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn drop_keyspace(&self, name: &str) -> Result<(), Failure> {
        self.call(
            "DELETE",
            &format!("/keyspaces/{}", enc(name.as_bytes())),
            None,
        )
        .map(|_| ())
    }

    /// `GET /stats/all`: the engine's statistics (its `engine` object).
    ///
    /// # Errors
    /// The connection or the server's error.
    pub fn engine_stats(&self) -> Result<Json, Failure> {
        let mut v = self.call("GET", "/stats/all", None)?;
        match v.get_mut("engine").map(Json::take) {
            Some(e @ Json::Object(_)) => Ok(e),
            _ => Err(bad_answer("GET /stats/all")),
        }
    }

    /// Keys in `[start, end)`, in key order or reversed, page by page.
    pub fn range(
        &self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        reverse: bool,
    ) -> Result<Pages<'_>, Failure> {
        let mut p = Pages::new(self, self.keys.clone());
        if reverse {
            p.params.push(("reverse".into(), b"true".to_vec()));
        }
        // A bound the server cannot take as text: the forward scan's start becomes a cursor
        // (after a read of the start key itself), the reverse scan's end a cursor (exclusive,
        // as `end` is); the other bound is checked here.
        match start.map(|s| (s, std::str::from_utf8(s).is_ok())) {
            None => {}
            Some((s, true)) => p.params.push(("start".into(), s.to_vec())),
            Some((s, false)) if !reverse => {
                if let Some(v) = self.get(s)?
                    && end.is_none_or(|e| s < e)
                {
                    p.buf.push_back((s.to_vec(), v));
                }
                p.cursor = Some(URL_SAFE_NO_PAD.encode(s));
            }
            Some((s, false)) => p.stop_below = Some(s.to_vec()),
        }
        match end.map(|e| (e, std::str::from_utf8(e).is_ok())) {
            None => {}
            Some((e, true)) => p.params.push(("end".into(), e.to_vec())),
            Some((e, false)) if reverse => p.cursor = Some(URL_SAFE_NO_PAD.encode(e)),
            Some((e, false)) => p.stop_at = Some(e.to_vec()),
        }
        Ok(p)
    }

    /// Keys starting with `prefix`: `GET /keys/search/prefix`, or a range scan when the prefix
    /// is not UTF-8.
    pub fn prefix(&self, prefix: &[u8], reverse: bool) -> Result<Pages<'_>, Failure> {
        if std::str::from_utf8(prefix).is_err() {
            return self.range(
                Some(prefix),
                lsmkv::prefix_upper_bound(prefix).as_deref(),
                reverse,
            );
        }
        let mut p = Pages::new(self, format!("{}/search/prefix", self.keys));
        p.params.push(("q".into(), prefix.to_vec()));
        if reverse {
            p.params.push(("reverse".into(), b"true".to_vec()));
        }
        Ok(p)
    }

    /// Entries whose key or value contains `text`: `GET /keys/search/substring`.
    ///
    /// # Errors
    /// A usage error when `text` is not UTF-8 (the server takes it as text).
    pub fn search(&self, text: &[u8]) -> Result<Pages<'_>, Failure> {
        if std::str::from_utf8(text).is_err() {
            return Err(Failure::usage(
                "in client mode the search text must be UTF-8 (the server takes it as text)",
            ));
        }
        let mut p = Pages::new(self, format!("{}/search/substring", self.keys));
        p.params.push(("q".into(), text.to_vec()));
        Ok(p)
    }
}

/// A listing read page by page; yields entries until the server's `next` cursor runs out.
pub struct Pages<'a> {
    client: &'a Client,
    path: String,
    params: Vec<(String, Vec<u8>)>,
    cursor: Option<String>,
    buf: VecDeque<Entry>,
    /// The last page was read.
    done: bool,
    /// Forward scans: end here (exclusive).
    stop_at: Option<Vec<u8>>,
    /// Reverse scans: end below this key.
    stop_below: Option<Vec<u8>>,
    /// Entries asked for per page.
    page: usize,
}

impl<'a> Pages<'a> {
    fn new(client: &'a Client, path: String) -> Pages<'a> {
        Pages {
            client,
            path,
            params: Vec::new(),
            cursor: None,
            buf: VecDeque::new(),
            done: false,
            stop_at: None,
            stop_below: None,
            page: PAGE,
        }
    }

    /// Asks for `n` entries per page (1 to 1000; 1000 by default): a listing that stops after
    /// LIMIT entries asks for no more than LIMIT + 1.
    pub fn with_page(mut self, n: usize) -> Self {
        self.page = n.clamp(1, PAGE);
        self
    }

    fn fetch(&mut self) -> Result<(), Failure> {
        let mut q = format!("?limit={}", self.page);
        for (k, v) in &self.params {
            q.push_str(&format!("&{k}={}", enc(v)));
        }
        if let Some(c) = &self.cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let what = format!("GET {}", self.path);
        let v = self
            .client
            .call("GET", &format!("{}{q}", self.path), None)?;
        let items = v
            .get("items")
            .and_then(Json::as_array)
            .ok_or_else(|| bad_answer(&what))?;
        for item in items {
            let o = item.as_object().ok_or_else(|| bad_answer(&what))?;
            let k = get_json_bytes(o, "key").ok().flatten();
            let v = get_json_bytes(o, "value").ok().flatten();
            let (Some(k), Some(v)) = (k, v) else {
                return Err(bad_answer(&what));
            };
            self.buf.push_back((k, v));
        }
        match v.get("next") {
            Some(Json::String(c)) => self.cursor = Some(c.clone()),
            _ => self.done = true,
        }
        Ok(())
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<Entry, Failure>;

    fn next(&mut self) -> Option<Self::Item> {
        // A substring search may answer a page with no items but a `next` cursor.
        while self.buf.is_empty() && !self.done {
            if crate::signals::interrupted() {
                self.done = true;
                return Some(Err(Failure::interrupted()));
            }
            if let Err(f) = self.fetch() {
                self.done = true;
                return Some(Err(f));
            }
        }
        let (k, v) = self.buf.pop_front()?;
        let past_end = self.stop_at.as_ref().is_some_and(|e| k >= *e)
            || self.stop_below.as_ref().is_some_and(|s| k < *s);
        if past_end {
            self.buf.clear();
            self.done = true;
            return None;
        }
        Some(Ok((k, v)))
    }
}

/// The failure for an HTTP error answer: the server's `error` message, and an exit status from
/// its `code` (`unauthorized` -> 7, `corruption` -> 3, request errors -> 2, `not_found` -> 1,
/// anything else -> 4).
pub fn failure_for(status: u16, body: &[u8]) -> Failure {
    let v: Json = serde_json::from_slice(body).unwrap_or(Json::Null);
    let code = v.get("code").and_then(Json::as_str).unwrap_or("");
    let message = v
        .get("error")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
    let exit_code = match (code, status) {
        ("unauthorized", _) | (_, 401) => exit::UNAUTHORIZED,
        ("corruption", _) => exit::CORRUPTION,
        ("not_found", _) => exit::NOT_FOUND,
        (
            "bad_request" | "payload_too_large" | "uri_too_long" | "headers_too_large"
            | "method_not_allowed" | "keyspace_not_found" | "keyspace_reserved" | "keyspace_exists"
            | "keyspace_indexed" | "range_required" | "index_not_found" | "index_exists",
            _,
        ) => exit::USAGE,
        _ => exit::OTHER,
    };
    let mut text = format!("server: {message}");
    if !code.is_empty() {
        text.push_str(&format!(" ({code}, HTTP {status})"));
    } else {
        text.push_str(&format!(" (HTTP {status})"));
    }
    if exit_code == exit::UNAUTHORIZED {
        text.push_str("; give the server's token with --token or API_TOKEN");
    }
    Failure {
        code: exit_code,
        message: text,
    }
}

fn bad_answer(what: &str) -> Failure {
    Failure::other(format!("unexpected answer from the server to {what}"))
}

/// `{"NAME": text}` or `{"NAME_base64": ...}` for bytes that are not UTF-8.
fn bytes_object(name: &str, b: &[u8]) -> Json {
    let mut o = Map::new();
    put_bytes(&mut o, name, b);
    Json::Object(o)
}

fn put_bytes(o: &mut Map<String, Json>, name: &str, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => o.insert(name.to_string(), Json::String(s.to_string())),
        Err(_) => o.insert(format!("{name}_base64"), Json::String(STANDARD.encode(b))),
    };
}

/// The query parameter `name=TEXT`, or `name_base64=...` for bytes that are not UTF-8 (both
/// percent-encoded).
fn query_bytes(name: &str, b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(_) => format!("{name}={}", enc(b)),
        Err(_) => format!("{name}_base64={}", enc(STANDARD.encode(b).as_bytes())),
    }
}

/// `{key, value}` as the server's write routes take it.
fn entry_json(key: &[u8], value: &[u8]) -> Json {
    let mut o = Map::new();
    put_bytes(&mut o, "key", key);
    put_bytes(&mut o, "value", value);
    Json::Object(o)
}

/// Percent-encodes every byte that is not unreserved (so `/`, `+`, `%` and any byte survive a
/// path segment or a query value).
pub fn enc(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            s.push(char::from(c));
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_plain_http() {
        assert!(Client::new("http://127.0.0.1:8080/", None).is_ok());
        assert_eq!(
            Client::new("https://x", None).err().map(|f| f.code),
            Some(exit::USAGE)
        );
        assert!(Client::new("http://", None).is_err());
        let c = Client::new("http://h:1/", Some(String::new())).unwrap();
        assert_eq!(c.url(), "http://h:1");
        assert!(c.token.is_none());
    }

    #[test]
    fn keyspaces_have_their_own_paths() {
        let c = Client::new("http://h:1", None).unwrap();
        assert_eq!(c.keys, "/keys");
        let k = c.with_keyspace("a/b c");
        assert_eq!(
            (k.keys.as_str(), k.keyspace()),
            ("/keyspaces/a%2Fb%20c/keys", "a/b c")
        );
        assert_eq!(k.with_keyspace("default").keys, "/keys");
    }

    #[test]
    fn binary_bounds_go_as_base64() {
        assert_eq!(query_bytes("start", b"a b"), "start=a%20b");
        assert_eq!(query_bytes("prefix", b""), "prefix=");
        assert_eq!(query_bytes("end", b"bin\xff"), "end_base64=Ymlu%2Fw%3D%3D");
    }

    #[test]
    fn path_encoding() {
        // (The prefix bound is the engine's `prefix_upper_bound`, tested there.)
        assert_eq!(enc(b"a/b %\xff~"), "a%2Fb%20%25%FF~");
    }

    #[test]
    fn server_codes_map_to_exit_statuses() {
        let f = |status, body: &str| failure_for(status, body.as_bytes());
        let e = f(
            401,
            r#"{"error":"missing or invalid token","code":"unauthorized"}"#,
        );
        assert_eq!(e.code, exit::UNAUTHORIZED);
        assert!(e.message.contains("missing or invalid token"), "{e}");
        assert_eq!(
            f(500, r#"{"error":"x","code":"corruption"}"#).code,
            exit::CORRUPTION
        );
        assert_eq!(
            f(400, r#"{"error":"x","code":"bad_request"}"#).code,
            exit::USAGE
        );
        assert_eq!(
            f(413, r#"{"error":"x","code":"payload_too_large"}"#).code,
            exit::USAGE
        );
        assert_eq!(f(500, r#"{"error":"x","code":"io"}"#).code, exit::OTHER);
        assert_eq!(
            f(404, r#"{"error":"x","code":"keyspace_not_found"}"#).code,
            exit::USAGE
        );
        assert_eq!(f(502, "bad gateway").code, exit::OTHER);
    }
}
