//! Shared helpers of the `server_*` tests: an in-process server on 127.0.0.1:0 with a temporary
//! data directory, a real HTTP client (ureq), and a raw TCP client for malformed or slow requests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lsmkv_server::{RunningServer, ServerConfig};

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub vars: Vec<(String, String)>,
    pub server: Option<RunningServer>,
    pub agent: ureq::Agent,
    pub token: Option<String>,
}

pub fn config(dir: &std::path::Path, vars: &[(String, String)]) -> ServerConfig {
    let mut m: HashMap<String, String> = HashMap::new();
    m.insert("DATA_DIR".into(), dir.display().to_string());
    m.insert("SERVER_PORT".into(), "0".into());
    m.insert("SERVER_WORKERS".into(), "2".into());
    for (k, v) in vars {
        m.insert(k.clone(), v.clone());
    }
    ServerConfig::parse_from_lookup(&|k| m.get(k).cloned()).expect("valid test config")
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A response: status, body text, and selected headers.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
    pub headers: HashMap<String, String>,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn to_resp(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Resp {
    let mut r = r.expect("HTTP request failed");
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = r.status().as_u16();
    let bytes = r.body_mut().read_to_vec().expect("read body");
    Resp {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        headers,
    }
}

impl TestServer {
    pub fn start(vars: &[(&str, &str)]) -> TestServer {
        TestServer::start_in(tempfile::tempdir().expect("tempdir"), vars)
    }

    /// A server on an existing data directory.
    pub fn start_in(dir: tempfile::TempDir, vars: &[(&str, &str)]) -> TestServer {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let token = vars
            .iter()
            .find(|(k, _)| k == "API_TOKEN")
            .map(|(_, v)| v.clone());
        let server = RunningServer::start(config(dir.path(), &vars)).expect("server starts");
        TestServer {
            dir,
            vars,
            server: Some(server),
            agent: agent(),
            token,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").addr()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    fn auth<B>(&self, r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => r.header("Authorization", format!("Bearer {t}")),
            None => r,
        }
    }

    pub fn get(&self, path: &str) -> Resp {
        to_resp(self.auth(self.agent.get(self.url(path))).call())
    }

    pub fn get_with(&self, path: &str, header: (&str, &str)) -> Resp {
        to_resp(
            self.auth(self.agent.get(self.url(path)))
                .header(header.0, header.1)
                .call(),
        )
    }

    pub fn post(&self, path: &str, body: &str) -> Resp {
        to_resp(
            self.auth(self.agent.post(self.url(path)))
                .header("Content-Type", "application/json")
                .send(body),
        )
    }

    pub fn put_raw(&self, path: &str, body: &[u8]) -> Resp {
        to_resp(
            self.auth(self.agent.put(self.url(path)))
                .header("Content-Type", "application/octet-stream")
                .send(body),
        )
    }

    /// `method` on `path` with extra `headers` and, for POST and PUT, `body`.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        let url = self.url(path);
        macro_rules! with_headers {
            ($r:expr) => {{
                let mut r = self.auth($r);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                r
            }};
        }
        to_resp(match method {
            "GET" => with_headers!(self.agent.get(url)).call(),
            "DELETE" => with_headers!(self.agent.delete(url)).call(),
            "POST" => with_headers!(self.agent.post(url)).send(body),
            "PUT" => with_headers!(self.agent.put(url)).send(body),
            other => panic!("unsupported method {other}"),
        })
    }

    pub fn delete(&self, path: &str) -> Resp {
        to_resp(self.auth(self.agent.delete(self.url(path))).call())
    }

    /// Stops the server gracefully and starts a new one on the same data directory.
    pub fn restart(&mut self) {
        self.stop();
        let server = RunningServer::start(config(self.dir.path(), &self.vars)).expect("restart");
        self.server = Some(server);
        self.agent = agent();
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.stop().expect("clean stop");
        }
    }
}

/// Percent-encodes every byte that is not unreserved.
pub fn enc(s: &[u8]) -> String {
    s.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A raw TCP connection for requests a normal client will not send.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

/// Reads one response (head + Content-Length body) from `s`; status 0 when the server closed
/// the connection without answering.
pub fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return (0, String::from_utf8_lossy(&buf).into_owned()),
        }
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    let _ = s.read_exact(&mut body);
    (status, format!("{head}{}", String::from_utf8_lossy(&body)))
}

/// Sends `bytes` on a new connection and reads one response.
pub fn raw(addr: SocketAddr, bytes: &[u8]) -> (u16, String) {
    let mut s = connect(addr);
    let _ = s.write_all(bytes);
    read_response(&mut s)
}
