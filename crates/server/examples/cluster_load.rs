//! Write load on a three-node replicated cluster beside a single-node server, on loopback.
//!
//! ```sh
//! cargo build --release -p lsmkv-server --bin lsmkv-server --example cluster_load
//! target/release/examples/cluster_load --secs 10
//! ```
//!
//! Starts `lsmkv-server` (the binary next to this example, or `--bin PATH`) as one single-node
//! server with `WAL_SYNC_MODE=always`, then as a three-node cluster (`RAFT_NODE_ID`,
//! `RAFT_PEERS`, default timeouts), each on fresh temporary data directories, and for 1 and 16
//! clients (`--clients 1,16`) runs `--secs` seconds of `PUT /keys/{key}` of 100-byte values
//! (each client one keep-alive connection, one request at a time) on the single node and on the
//! cluster's leader, then with the most clients spread over the three nodes (two thirds of the
//! writes forwarded by a follower). Then it kills the
//! cluster's leader (`kill -9`) and times the leader change: from the kill to the first
//! acknowledged write through a surviving node. Prints a Markdown table. Every process it starts
//! is killed when it ends.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Args {
    secs: u64,
    clients: Vec<usize>,
    bin: String,
}

fn usage() -> ! {
    eprintln!("usage: cluster_load [--secs N] [--clients 1,16] [--bin PATH-TO-lsmkv-server]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/examples/cluster_load -> target/<profile>/lsmkv-server
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("lsmkv-server").display().to_string())
        .unwrap_or_default();
    let mut a = Args {
        secs: 10,
        clients: vec![1, 16],
        bin,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--secs" => a.secs = val.parse().unwrap_or_else(|_| usage()),
            "--clients" => {
                a.clients = val
                    .split(',')
                    .map(|n| n.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            "--bin" => a.bin = val,
            _ => usage(),
        }
    }
    a
}

/// Servers this tool started; killed on drop.
struct Servers {
    addrs: Vec<String>,
    children: Vec<Option<Child>>,
    _root: tempfile::TempDir,
}

impl Drop for Servers {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<_> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn start(bin: &str, nodes: usize, vars: &[(&str, &str)]) -> Servers {
    let root = tempfile::tempdir().expect("tempdir");
    let ports = free_ports(nodes);
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let peers: Vec<String> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}={a}", i + 1))
        .collect();
    let mut children = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .current_dir(root.path())
            .env("DATA_DIR", root.path().join(format!("node{}", i + 1)))
            .env("SERVER_PORT", port.to_string())
            .env("LOG_LEVEL", "warn")
            .env("ACCESS_LOG", "false");
        if nodes > 1 {
            cmd.env("RAFT_NODE_ID", (i + 1).to_string())
                .env("RAFT_PEERS", peers.join(","));
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        children.push(Some(child));
    }
    let s = Servers {
        addrs,
        children,
        _root: root,
    };
    // Ready once a write is acknowledged (for a cluster: once it has a leader).
    let a = agent();
    let deadline = Instant::now() + Duration::from_secs(60);
    while put(&a, &s.addrs[0], "warmup", b"x") != 204 {
        assert!(Instant::now() < deadline, "the servers did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

fn put(a: &ureq::Agent, addr: &str, key: &str, value: &[u8]) -> u16 {
    a.put(format!("http://{addr}/keys/{key}"))
        .send(value)
        .map_or(0, |r| r.status().as_u16())
}

/// One measurement: writes per second, p50 and p99 latency in ms, failures.
struct Result {
    rate: f64,
    p50: f64,
    p99: f64,
    failed: usize,
}

/// `clients` clients writing for `secs` seconds, client `c` to `targets[c % len]`.
fn load(targets: &[String], clients: usize, secs: u64, tag: &str) -> Result {
    let stop = Arc::new(AtomicBool::new(false));
    let value = vec![b'v'; 100];
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (stop, value) = (stop.clone(), value.clone());
            let addr = targets[c % targets.len()].clone();
            let tag = tag.to_string();
            std::thread::spawn(move || {
                let a = agent();
                let (mut lat, mut failed) = (Vec::new(), 0usize);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let t = Instant::now();
                    if put(&a, &addr, &format!("{tag}-{c}-{n}"), &value) == 204 {
                        lat.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut failed = 0;
    for t in threads {
        let (lat, f) = t.join().expect("client thread");
        all.extend(lat);
        failed += f;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    Result {
        rate: all.len() as f64 / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        failed,
    }
}

/// Kills the leader and returns the time until a write through a surviving node is
/// acknowledged.
fn leader_change(s: &mut Servers) -> Duration {
    let a = agent();
    let leader = leader_of(s);
    let survivor = s.addrs[(leader + 1) % s.addrs.len()].clone();
    if let Some(mut c) = s.children[leader].take() {
        let t = Instant::now();
        let _ = c.kill();
        let _ = c.wait();
        let mut n = 0;
        loop {
            n += 1;
            if put(&a, &survivor, &format!("after-kill-{n}"), b"x") == 204 {
                return t.elapsed();
            }
            assert!(t.elapsed() < Duration::from_secs(60), "no new leader");
        }
    }
    Duration::ZERO
}

/// The index of the cluster's leader.
fn leader_of(s: &Servers) -> usize {
    let a = agent();
    (0..s.addrs.len())
        .find_map(|i| {
            let mut r = a
                .get(format!("http://{}/cluster", s.addrs[i]))
                .call()
                .ok()?;
            let v: serde_json::Value =
                serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
            (v["state"] == "leader").then_some(i)
        })
        .expect("a leader")
}

fn main() {
    let args = parse_args();
    println!("| server | clients | writes/s | p50 ms | p99 ms | failed |");
    println!("|---|---|---|---|---|---|");
    let row = |name: &str, clients: usize, r: &Result| {
        println!(
            "| {name} | {clients} | {:.0} | {:.2} | {:.2} | {} |",
            r.rate, r.p50, r.p99, r.failed
        );
    };
    {
        let single = start(&args.bin, 1, &[("WAL_SYNC_MODE", "always")]);
        for &c in &args.clients {
            let r = load(&single.addrs, c, args.secs, &format!("s{c}"));
            row("single node, WAL_SYNC_MODE=always", c, &r);
        }
    }
    let mut cluster = start(&args.bin, 3, &[]);
    let leader = vec![cluster.addrs[leader_of(&cluster)].clone()];
    for &c in &args.clients {
        let r = load(&leader, c, args.secs, &format!("r{c}"));
        row("3-node cluster, clients on the leader", c, &r);
    }
    if let Some(&c) = args.clients.iter().max() {
        let r = load(&cluster.addrs, c, args.secs, &format!("f{c}"));
        row("3-node cluster, clients on all nodes", c, &r);
    }
    let t = leader_change(&mut cluster);
    println!();
    println!(
        "leader change (kill -9 of the leader to the first acknowledged write): {:.0} ms",
        t.as_secs_f64() * 1000.0
    );
}
