//! `server`: starts `lsmkv-server` on 127.0.0.1 (port 0, its own data directory) and drives it
//! with a steady mixed load (PUT, GET, DELETE, batches, listings; about 800 requests/s from four
//! clients) whose connections close after a random number of requests (connection churn), while
//! a fifth client sends hostile input (garbage, oversized headers and bodies, bad encodings,
//! truncated bodies, bad JSON) that must get a 4xx or a closed connection, never a 5xx or a
//! dead server. Every interval (a tenth of the run, at least 5 s) it records the p99 latency of
//! the load, the server's RSS split into anonymous and file-backed (`/proc/<pid>/status`) and the
//! engine's own account of its memory (`GET /stats/memory`: memtables, block cache, pinned index
//! and filters). The server runs with a 4 MiB memtable and an 8 MiB block cache, so a run of
//! minutes goes through many flushes and compactions and its memory must level off within the
//! run. Counted: requests, errors (5xx, I/O errors and wrong answers in the load; 5xx or no
//! server in the hostile part).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Run;
use super::common::rng::Rng;

const CLIENTS: u64 = 4;
/// Pause between two requests of one load client (about 200 requests/s each).
const PACE: Duration = Duration::from_millis(5);

fn start_server(run: &Run) -> Result<(Child, SocketAddr), String> {
    super::cargo_build(&["-p", "lsmkv-server"])?;
    let bin = super::examples_dir()
        .parent()
        .map(|p| p.join("lsmkv-server"))
        .ok_or("no target directory")?;
    let data = run.work_dir("server-data");
    let mut child = Command::new(&bin)
        .env("DATA_DIR", &data)
        .env("SERVER_PORT", "0")
        .env("LOG_LEVEL", "warn")
        // Small buffers: many flush and compaction cycles in a run of minutes.
        .env("MEMTABLE_MAX_SIZE", "4MiB")
        .env("BLOCK_CACHE_SIZE_MB", "8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(out).lines();
    let addr = lines.by_ref().map_while(Result::ok).find_map(|l| {
        l.strip_prefix("lsmkv-server listening on ")?
            .trim()
            .parse()
            .ok()
    });
    // Keep reading its stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    match addr {
        Some(a) => Ok((child, a)),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err("the server printed no address".into())
        }
    }
}

/// The server's resident memory (KiB) from `/proc/<pid>/status`: total, anonymous, file-backed.
fn rss_kib(pid: u32) -> [u64; 3] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(name)?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    [field("VmRSS:"), field("RssAnon:"), field("RssFile:")]
}

/// The engine's own account of its memory (`GET /stats/memory`, `memory.total_bytes`), in KiB.
fn engine_kib(addr: SocketAddr) -> u64 {
    let body = connect(addr)
        .and_then(|(mut s, mut r)| {
            s.write_all(&request("GET", "/stats/memory", b""))?;
            read_response(&mut r)
        })
        .map(|(_, b)| b)
        .unwrap_or_default();
    serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["memory"]["total_bytes"].as_u64())
        .map_or(0, |b| b / 1024)
}

/// One response: status (0: the connection closed first) and body.
fn read_response(r: &mut BufReader<TcpStream>) -> std::io::Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok((0, vec![]));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (mut len, mut chunked) = (0usize, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            } else if k.eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0u8; n + 2];
            r.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    }
    Ok((status, body))
}

fn connect(addr: SocketAddr) -> std::io::Result<(TcpStream, BufReader<TcpStream>)> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let r = BufReader::new(s.try_clone()?);
    Ok((s, r))
}

/// Shared counters of the run.
#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    errors: AtomicU64,
    connections: AtomicU64,
    hostile: AtomicU64,
    hostile_errors: AtomicU64,
    /// Latencies (microseconds) of the current interval.
    lat: Mutex<Vec<u32>>,
    first_errors: Mutex<Vec<String>>,
}

impl Stats {
    fn error(&self, hostile: bool, what: String) {
        let c = if hostile {
            &self.hostile_errors
        } else {
            &self.errors
        };
        c.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut v) = self.first_errors.lock()
            && v.len() < 20
        {
            v.push(what);
        }
    }
}

fn request(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("content-type: application/json\r\n");
    }
    req.push_str("\r\n");
    let mut b = req.into_bytes();
    b.extend_from_slice(body);
    b
}

/// One load client: its own keys (`c{client}-{n}`), checked on read.
fn load_client(addr: SocketAddr, client: u64, seed: u64, stop: &AtomicBool, st: &Stats) {
    let mut r = Rng::salted(seed, client);
    let mut model = std::collections::HashMap::<u64, u64>::new();
    while !stop.load(Ordering::Relaxed) {
        let Ok((mut s, mut rd)) = connect(addr) else {
            st.error(false, "connect failed".into());
            std::thread::sleep(Duration::from_millis(100));
            continue;
        };
        st.connections.fetch_add(1, Ordering::Relaxed);
        for _ in 0..1 + r.below(50) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let k = r.below(500);
            let path = format!("/keys/c{client}-{k}");
            let (req, want) = match r.below(10) {
                0..=3 => {
                    let v = r.next_u64();
                    model.insert(k, v);
                    (request("PUT", &path, format!("{v}").as_bytes()), None)
                }
                4..=7 => (request("GET", &path, b""), Some(model.get(&k).copied())),
                8 => {
                    model.remove(&k);
                    (request("DELETE", &path, b""), None)
                }
                _ => (
                    request("GET", &format!("/keys?prefix=c{client}-&limit=20"), b""),
                    None,
                ),
            };
            let t = Instant::now();
            let res = s.write_all(&req).and_then(|()| read_response(&mut rd));
            let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
            st.requests.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut l) = st.lat.lock() {
                l.push(us);
            }
            match res {
                Ok((status, body)) if status >= 500 || status == 0 => {
                    st.error(
                        false,
                        format!("{status} {}", String::from_utf8_lossy(&body)),
                    );
                    break;
                }
                Ok((status, body)) => {
                    if let Some(want) = want {
                        let ok = match want {
                            None => status == 404,
                            Some(v) => {
                                status == 200
                                    && serde_json::from_slice::<serde_json::Value>(&body)
                                        .is_ok_and(|j| j["value"] == format!("{v}"))
                            }
                        };
                        if !ok {
                            st.error(
                                false,
                                format!(
                                    "GET {path}: {status} {:?}, want {want:?}",
                                    String::from_utf8_lossy(&body)
                                ),
                            );
                        }
                    }
                }
                Err(e) => {
                    st.error(false, format!("{path}: {e}"));
                    break;
                }
            }
            std::thread::sleep(PACE);
        }
    }
}

/// Requests no client should send; each must get a 4xx or a closed connection.
fn hostile_inputs(r: &mut Rng) -> Vec<u8> {
    match r.below(9) {
        0 => {
            let n = 1 + r.index(2000);
            r.bytes(n)
        }
        1 => format!("GET /keys/x HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(200_000)).into_bytes(),
        2 => b"GET /keys/%zz%ff HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        3 => b"POST /keys/batch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"ops\": [{\"op\":1".to_vec(),
        4 => request("POST", "/keys/batch", b"{\"ops\": [{\"op\": \"put\", \"key\": 5}]}"),
        5 => b"PUT /keys/big HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999\r\n\r\nabc".to_vec(),
        6 => request("PUT", &format!("/keys/{}", "k".repeat(70_000)), b"v"),
        7 => b"BREW /keys HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
        _ => request("POST", "/keys/get", &r.bytes(300)),
    }
}

fn hostile_client(addr: SocketAddr, seed: u64, stop: &AtomicBool, st: &Stats) {
    let mut r = Rng::salted(seed, 1000);
    while !stop.load(Ordering::Relaxed) {
        let input = hostile_inputs(&mut r);
        if let Ok((mut s, mut rd)) = connect(addr) {
            let _ = s.write_all(&input);
            let _ = s.shutdown(std::net::Shutdown::Write);
            if let Ok((status, body)) = read_response(&mut rd)
                && status >= 500
            {
                st.error(
                    true,
                    format!(
                        "hostile input got {status}: {}",
                        String::from_utf8_lossy(&body)
                    ),
                );
            }
        }
        st.hostile.fetch_add(1, Ordering::Relaxed);
        // The server must still answer.
        let alive = connect(addr).and_then(|(mut s, mut rd)| {
            s.write_all(&request("GET", "/health", b""))?;
            read_response(&mut rd)
        });
        if !matches!(alive, Ok((200, _))) {
            st.error(
                true,
                format!("after a hostile input /health gave {alive:?}"),
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn p99(mut v: Vec<u32>) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

pub fn run(run: &mut Run) {
    let (mut child, addr) = match start_server(run) {
        Ok(x) => x,
        Err(e) => return run.fail(e),
    };
    let pid = child.id();
    run.log(format!("server pid {pid} on {addr}"));
    let st = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for c in 0..CLIENTS {
        let (st, stop, seed) = (st.clone(), stop.clone(), run.seed);
        handles.push(std::thread::spawn(move || {
            load_client(addr, c, seed, &stop, &st)
        }));
    }
    {
        let (st, stop, seed) = (st.clone(), stop.clone(), run.seed);
        handles.push(std::thread::spawn(move || {
            hostile_client(addr, seed, &stop, &st)
        }));
    }
    let interval = (run.budget.left() / 10).max(Duration::from_secs(5));
    let (mut rss, mut p99s) = (vec![rss_kib(pid)], Vec::new());
    let mut engine = vec![engine_kib(addr)];
    let mut intervals = 0u64;
    // At least one interval, however short the budget.
    while intervals == 0 || run.budget.more(intervals) {
        std::thread::sleep(interval.min(run.budget.left().max(Duration::from_millis(100))));
        let lat = st
            .lat
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        let (n, p) = (lat.len(), p99(lat));
        p99s.push(p);
        let [total, anon, file] = rss_kib(pid);
        rss.push([total, anon, file]);
        engine.push(engine_kib(addr));
        intervals += 1;
        run.log(format!(
            "interval {intervals}: {n} requests, p99 {p} us, rss {total} KiB \
             (anon {anon}, file {file}), engine {} KiB",
            engine.last().copied().unwrap_or(0)
        ));
        if matches!(child.try_wait(), Ok(Some(_))) {
            run.fail("the server exited during the run");
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let _ = child.kill();
    let _ = child.wait();
    report(run, &st, &rss, &engine, &p99s, intervals);
}

/// Puts the run's counts and per-interval figures into the summary; fails the run on any error.
fn report(
    run: &mut Run,
    st: &Stats,
    rss: &[[u64; 3]],
    engine: &[u64],
    p99s: &[u32],
    intervals: u64,
) {
    let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
    run.set("requests", g(&st.requests));
    run.set("errors", g(&st.errors));
    run.set("connections", g(&st.connections));
    run.set("hostile_inputs", g(&st.hostile));
    run.set("hostile_errors", g(&st.hostile_errors));
    run.set("intervals", intervals);
    let col = |i: usize| rss.iter().map(|r| r[i]).collect::<Vec<_>>();
    run.set("rss_start_kib", rss.first().map_or(0, |r| r[0]));
    run.set("rss_end_kib", rss.last().map_or(0, |r| r[0]));
    run.figure("rss_kib_per_interval", serde_json::json!(col(0)));
    run.figure("rss_anon_kib_per_interval", serde_json::json!(col(1)));
    run.figure("rss_file_kib_per_interval", serde_json::json!(col(2)));
    run.figure("engine_memory_kib_per_interval", serde_json::json!(engine));
    run.figure("p99_us_per_interval", serde_json::json!(p99s));
    let firsts = st
        .first_errors
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    if g(&st.errors) + g(&st.hostile_errors) > 0 {
        run.figure("first_errors", serde_json::json!(firsts));
        run.fail(format!(
            "{} load errors, {} hostile-input errors; first: {:?}",
            g(&st.errors),
            g(&st.hostile_errors),
            firsts.first()
        ));
    }
}
