//! A three-node cluster of real `lsmkv-server` processes on 127.0.0.1 for the `server_cluster*`
//! tests: free ports, one temporary data directory per node, logs in the temporary root (printed
//! when a test fails), every process killed when the cluster is dropped (a failing test too).
//! Every wait is a poll with a bound.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

const BIN: &str = env!("CARGO_BIN_EXE_lsmkv-server");

/// How long any wait of these tests may take before the test fails.
pub const BOUND: Duration = Duration::from_secs(60);

pub struct Cluster {
    pub root: tempfile::TempDir,
    /// `127.0.0.1:port` of node `i + 1`.
    pub addrs: Vec<String>,
    children: Vec<Option<Child>>,
    vars: Vec<(String, String)>,
    agent: ureq::Agent,
}

/// A response: status and body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `n` free loopback ports (bound, read, released: the servers bind them right after).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

impl Cluster {
    /// Three nodes with `vars` added to each node's environment, started, with a leader.
    pub fn start(vars: &[(&str, &str)]) -> Cluster {
        let ports = free_ports(3);
        let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let mut c = Cluster {
            root: tempfile::tempdir().expect("tempdir"),
            addrs,
            children: vec![None, None, None],
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            agent: agent(Duration::from_secs(30)),
        };
        for i in 0..3 {
            c.spawn(i);
        }
        for i in 0..3 {
            c.wait_healthy(i);
        }
        c.leader();
        c
    }

    pub fn peers(&self) -> String {
        self.addrs
            .iter()
            .enumerate()
            .map(|(i, a)| format!("{}={a}", i + 1))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.root.path().join(format!("node{}", i + 1))
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.root.path().join(format!("node{}.log", i + 1))
    }

    /// Starts node `i` (0-based) on its data directory.
    pub fn spawn(&mut self, i: usize) {
        assert!(self.children[i].is_none(), "node {} runs", i + 1);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.env_clear()
            .current_dir(self.root.path())
            .env("DATA_DIR", self.data_dir(i))
            .env("RAFT_NODE_ID", (i + 1).to_string())
            .env("RAFT_PEERS", self.peers())
            .env("SERVER_WORKERS", "2")
            .env("LOG_LEVEL", "info,openraft=warn")
            .env("ACCESS_LOG", "false");
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn lsmkv-server");
        self.children[i] = Some(child);
    }

    /// `kill -9` of node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn running(&self, i: usize) -> bool {
        self.children[i].is_some()
    }

    /// Deletes node `i`'s data directory (stopped first).
    pub fn wipe(&mut self, i: usize) {
        self.kill(i);
        std::fs::remove_dir_all(self.data_dir(i)).expect("wipe");
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.addrs[i])
    }

    /// `method` `path` on node `i`; `None` when the node does not answer.
    pub fn try_request(&self, i: usize, method: &str, path: &str, body: &[u8]) -> Option<Resp> {
        let url = self.url(i, path);
        let a = &self.agent;
        // The API token, when the nodes have one.
        let token = self
            .vars
            .iter()
            .find(|(k, _)| k == "API_TOKEN")
            .map_or(String::new(), |(_, t)| format!("Bearer {t}"));
        let r = match method {
            "GET" => a.get(url).header("Authorization", &token).call(),
            "DELETE" => a.delete(url).header("Authorization", &token).call(),
            "POST" => a
                .post(url)
                .header("Authorization", &token)
                .header("Content-Type", "application/json")
                .send(body),
            "PUT" => a.put(url).header("Authorization", &token).send(body),
            other => panic!("unsupported method {other}"),
        };
        let mut r = r.ok()?;
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().ok()?;
        Some(Resp { status, body })
    }

    pub fn request(&self, i: usize, method: &str, path: &str, body: &[u8]) -> Resp {
        self.try_request(i, method, path, body).unwrap_or_else(|| {
            self.fail(&format!("node {} does not answer {method} {path}", i + 1))
        })
    }

    pub fn get(&self, i: usize, path: &str) -> Resp {
        self.request(i, "GET", path, b"")
    }

    /// `PUT /keys/{key}` on node `i`: the status (204 when acknowledged).
    pub fn put(&self, i: usize, key: &str, value: &str) -> u16 {
        self.try_request(i, "PUT", &format!("/keys/{key}"), value.as_bytes())
            .map_or(0, |r| r.status)
    }

    /// The value of `key` read from node `i` (`?consistency=local` when `local`).
    pub fn value(&self, i: usize, key: &str, local: bool) -> Option<String> {
        let q = if local { "?consistency=local" } else { "" };
        let r = self.get(i, &format!("/keys/{key}{q}"));
        match r.status {
            200 => Some(r.json()["value"].as_str().expect("value").to_string()),
            404 => None,
            _ => self.fail(&format!("GET /keys/{key}{q} on node {}: {r:?}", i + 1)),
        }
    }

    pub fn status(&self, i: usize) -> Option<Json> {
        self.try_request(i, "GET", "/cluster", b"")
            .filter(|r| r.status == 200)
            .map(|r| r.json())
    }

    /// Polls `f` until it returns `Some`, failing the test after [`BOUND`].
    pub fn wait_for<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(t) = f() {
                return t;
            }
            if start.elapsed() > BOUND {
                self.fail(&format!("timed out waiting for {what}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_healthy(&self, i: usize) {
        self.wait_for(&format!("node {} to answer /health", i + 1), || {
            self.try_request(i, "GET", "/health", b"")
                .filter(|r| r.status == 200)
        });
    }

    /// The 0-based index of the leader every running node agrees on (waits for one).
    pub fn leader(&self) -> usize {
        self.wait_for("a leader every running node agrees on", || {
            let mut seen = None;
            for i in (0..3).filter(|&i| self.running(i)) {
                let l = self.status(i)?["leader"].as_u64()?;
                if seen.is_some_and(|s| s != l) {
                    return None;
                }
                seen = Some(l);
            }
            let l = seen? as usize - 1;
            (self.running(l) && self.status(l)?["state"] == "leader").then_some(l)
        })
    }

    /// Waits until node `i` has applied at least `index`.
    pub fn wait_applied(&self, i: usize, index: u64) {
        self.wait_for(&format!("node {} to apply {index}", i + 1), || {
            let applied = self.status(i)?["last_applied"].as_u64()?;
            (applied >= index).then_some(())
        });
    }

    /// The last applied index of node `i`.
    pub fn applied(&self, i: usize) -> u64 {
        self.status(i)
            .and_then(|s| s["last_applied"].as_u64())
            .unwrap_or(0)
    }

    /// Fails the test with every node's log.
    pub fn fail(&self, why: &str) -> ! {
        let mut logs = String::new();
        for i in 0..3 {
            let text = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            logs.push_str(&format!("--- node {} ---\n", i + 1));
            for l in tail.iter().rev() {
                logs.push_str(l);
                logs.push('\n');
            }
        }
        panic!("{why}\n{logs}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
        }
    }
}
