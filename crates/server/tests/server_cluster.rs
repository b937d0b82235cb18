//! The replicated server: three `lsmkv-server` processes on 127.0.0.1 (`RAFT_NODE_ID`,
//! `RAFT_PEERS`) form a cluster by themselves; acknowledged writes survive `kill -9` of the
//! leader, a wiped node catches up through a snapshot, a minority cannot commit, and 16
//! concurrent clients lose nothing and apply nothing twice across a leader change.

mod cluster_common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_common::Cluster;
use serde_json::json;

/// Writes `key{n}` = `v{n}` for `n` in `range` through node `i`, each acknowledged (retried
/// while no leader is elected).
fn write_all(c: &Cluster, i: usize, range: std::ops::Range<u32>) {
    for n in range {
        c.wait_for(&format!("key{n} acknowledged"), || {
            (c.put(i, &format!("key{n}"), &format!("v{n}")) == 204).then_some(())
        });
    }
}

/// Every `key{n}` of `range` reads `v{n}` on node `i`.
fn check_all(c: &Cluster, i: usize, range: std::ops::Range<u32>, local: bool) {
    for n in range {
        let v = c.value(i, &format!("key{n}"), local);
        if v.as_deref() != Some(format!("v{n}").as_str()) {
            c.fail(&format!("node {}: key{n} = {v:?}", i + 1));
        }
    }
}

#[test]
fn the_cluster_forms_and_answers_its_status() {
    let c = Cluster::start(&[]);
    let l = c.leader();
    let s = c.status(l).unwrap();
    assert_eq!(s["id"], json!(l as u64 + 1));
    assert_eq!(s["leader"], json!(l as u64 + 1));
    assert!(s["term"].as_u64().unwrap() >= 1);
    let members = s["members"].as_object().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members["2"], json!(c.addrs[1]));
    assert!(s["last_log_index"].as_u64().is_some());
    // The README's example starts nodes the way this kit does and shows these fields.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    assert!(readme.contains(
        "export RAFT_PEERS=1=127.0.0.1:8081,2=127.0.0.1:8082,3=127.0.0.1:8083\nRAFT_NODE_ID=1 DATA_DIR=/tmp/n1 target/release/lsmkv-server &"
    ));
    for field in [
        "id",
        "leader",
        "term",
        "members",
        "last_log_index",
        "last_applied",
    ] {
        assert!(s.get(field).is_some(), "/cluster lacks {field}: {s}");
        assert!(
            readme.contains(&format!("\"{field}\":")),
            "README lacks {field}"
        );
    }
    // A write through a follower is forwarded; every node reads it (linearizable by default).
    let f = (l + 1) % 3;
    assert_eq!(c.put(f, "greeting", "hello"), 204);
    for i in 0..3 {
        assert_eq!(c.value(i, "greeting", false).as_deref(), Some("hello"));
    }
    // The other write routes go through Raft too.
    let r = c.request(f, "POST", "/keys", br#"{"key":"a","value":"1"}"#);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["value"], "1");
    let batch = br#"[{"key":"b1","value":"x"},{"key":"b2","value":"y"},{"key":"c","value":"z"}]"#;
    let r = c.request(f, "POST", "/keys/batch", batch);
    assert_eq!(
        (r.status, r.json()["written"].clone()),
        (200, json!(3)),
        "{r:?}"
    );
    let r = c.request(l, "DELETE", "/keys?prefix=b", b"");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(c.request(f, "DELETE", "/keys/c", b"").status, 204);
    let r = c.request(f, "PUT", "/keyspaces/users/keys/u1", b"ann");
    assert_eq!(r.status, 204, "{r:?}");
    // Reads on any node, after the barrier, see all of it.
    for i in 0..3 {
        assert_eq!(c.value(i, "a", false).as_deref(), Some("1"));
        assert_eq!(c.value(i, "b1", false), None);
        assert_eq!(c.value(i, "c", false), None);
        let r = c.get(i, "/keyspaces/users/keys/u1");
        assert_eq!((r.status, r.json()["value"].clone()), (200, json!("ann")));
        let r = c.get(i, "/keys?keys_only=true");
        assert_eq!(r.status, 200, "{r:?}");
    }
    // Every node lists the replicated keyspaces under their users' names, not the Raft
    // adapter's keyspaces they live in.
    for i in 0..3 {
        let r = c.get(i, "/keyspaces");
        assert_eq!(r.status, 200, "{r:?}");
        let names: Vec<String> = r.json()["keyspaces"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(names, ["default", "users"], "{r:?}");
        let r = c.get(i, "/keyspaces/users");
        assert_eq!(
            (r.status, r.json()["name"].clone()),
            (200, json!("users")),
            "{r:?}"
        );
        assert_eq!(c.get(i, "/keyspaces/raft.log").status, 404);
    }
    // Every node has applied the same log.
    let applied = c.applied(l);
    for i in 0..3 {
        c.wait_applied(i, applied);
    }
    // Feature flags are replicated: updated through a follower (forwarded to the leader, which
    // checks the version), read on every node.
    let r = c.request(
        f,
        "POST",
        "/features/dark-mode",
        br#"{"enabled":true,"version":0}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.json()["version"], 1);
    let r = c.request(
        l,
        "POST",
        "/features/dark-mode",
        br#"{"enabled":false,"version":0}"#,
    );
    assert_eq!(
        (r.status, r.json()["current_version"].clone()),
        (409, json!(1)),
        "{r:?}"
    );
    let r = c.request(
        f,
        "POST",
        "/features/dark-mode",
        br#"{"enabled":false,"version":1}"#,
    );
    assert_eq!(
        (r.status, r.json()["version"].clone()),
        (200, json!(2)),
        "{r:?}"
    );
    for i in 0..3 {
        let r = c.get(i, "/features/dark-mode");
        assert_eq!(
            r.json(),
            json!({"id": "dark-mode", "enabled": false, "version": 2})
        );
        let r = c.get(i, "/features");
        assert_eq!(r.json()["features"].as_array().unwrap().len(), 1, "{r:?}");
    }
    // What a cluster does not replicate is refused with a stable code.
    for (method, path) in [
        ("PUT", "/keyspaces/logs"),
        ("POST", "/indexes"),
        ("GET", "/watch"),
    ] {
        let r = c.request(f, method, path, b"{}");
        let code = r.json()["code"].clone();
        assert_eq!((r.status, code), (400, json!("not_replicated")), "{path}");
    }
    let r = c.request(f, "PUT", "/keys/k", br#"{"v":1}"#);
    assert_eq!(r.status, 204);
    let r = c.request(l, "GET", "/keys/k", b"");
    assert_eq!(r.json()["value"], r#"{"v":1}"#);
    let r = c.request(f, "GET", "/keyspaces/nothing/keys/x", b"");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (404, json!("keyspace_not_found"))
    );
}

#[test]
fn acknowledged_writes_survive_kill_9_of_the_leader() {
    let mut c = Cluster::start(&[]);
    let l = c.leader();
    // Half through the leader, half through a follower.
    write_all(&c, l, 0..40);
    write_all(&c, (l + 1) % 3, 40..80);
    c.kill(l);
    let l2 = c.leader();
    assert_ne!(l2, l, "a new leader is elected");
    // The new leader serves reads and writes; nothing acknowledged is lost.
    check_all(&c, l2, 0..80, false);
    write_all(&c, l2, 80..120);
    let other = (0..3).find(|&i| i != l && i != l2).unwrap();
    check_all(&c, other, 0..120, false);
    // The killed node catches up when restarted.
    let applied = c.applied(l2);
    c.spawn(l);
    c.wait_healthy(l);
    c.wait_applied(l, applied);
    check_all(&c, l, 0..120, true);
}

#[test]
fn a_wiped_node_catches_up_through_a_snapshot() {
    // A snapshot every 20 entries, 20 kept before it: a node 100 entries behind needs one.
    let mut c = Cluster::start(&[("RAFT_SNAPSHOT_LOGS", "20")]);
    let l = c.leader();
    let f = (l + 1) % 3;
    write_all(&c, l, 0..50);
    c.wipe(f);
    write_all(&c, l, 50..150);
    // The leader has purged the log the wiped node would need.
    let l = c.leader();
    let purged = c.wait_for("the leader to purge its log", || {
        let p = c.status(l)?["purged"].as_u64()?;
        (p > 0).then_some(p)
    });
    assert!(purged > 0);
    c.spawn(f);
    c.wait_healthy(f);
    let applied = c.applied(l);
    c.wait_applied(f, applied);
    let s = c.status(f).unwrap();
    assert!(
        s["snapshot"].as_u64().is_some_and(|i| i >= purged),
        "node {} installed no snapshot: {s}",
        f + 1
    );
    check_all(&c, f, 0..150, true);
    assert_eq!(
        c.status(f).unwrap()["members"].as_object().unwrap().len(),
        3
    );
}

#[test]
fn a_minority_cannot_commit_and_loses_nothing() {
    let mut c = Cluster::start(&[("RAFT_WRITE_TIMEOUT_MS", "1500")]);
    let l = c.leader();
    write_all(&c, l, 0..20);
    let others: Vec<usize> = (0..3).filter(|&i| i != l).collect();
    for &i in &others {
        c.kill(i);
    }
    // Alone, the old leader acknowledges nothing: 503 no_quorum, for writes and reads.
    for n in 20..23 {
        let r = c.request(l, "PUT", &format!("/keys/key{n}"), b"lost?");
        assert_eq!(r.status, 503, "{r:?}");
        assert_eq!(r.json()["code"], "no_quorum", "{r:?}");
    }
    let r = c.request(l, "POST", "/keys/batch", br#"[{"key":"x","value":"y"}]"#);
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("no_quorum")),
        "{r:?}"
    );
    let r = c.get(l, "/keys/key1");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("no_quorum")),
        "{r:?}"
    );
    // Its own state still answers a local read.
    assert_eq!(c.value(l, "key1", true).as_deref(), Some("v1"));
    // A lone follower cannot commit either.
    c.kill(l);
    c.spawn(others[0]);
    c.wait_healthy(others[0]);
    let r = c.request(others[0], "PUT", "/keys/key30", b"lost?");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("no_quorum")),
        "{r:?}"
    );
    // When the others return, nothing acknowledged is lost and writes work again.
    c.spawn(l);
    c.spawn(others[1]);
    let l = c.leader();
    for i in 0..3 {
        c.wait_healthy(i);
        check_all(&c, i, 0..20, false);
    }
    write_all(&c, l, 40..45);
    check_all(&c, others[0], 40..45, false);
}

/// One client's record: the values of its counter key in the order acknowledged, and every
/// acknowledged unique key.
#[derive(Default)]
struct Record {
    acked_counter: Vec<u64>,
    attempted_counter: u64,
    acked_keys: Vec<String>,
}

#[test]
fn sixteen_clients_across_a_leader_change_lose_nothing_and_apply_nothing_twice() {
    let stop = Arc::new(AtomicBool::new(false));
    let records: Arc<Mutex<BTreeMap<usize, Record>>> = Arc::default();
    let mut cluster = Cluster::start(&[("RAFT_WRITE_TIMEOUT_MS", "3000")]);
    let addrs = cluster.addrs.clone();
    let l = cluster.leader();
    let mut threads = Vec::new();
    for client in 0..16 {
        let (stop, records, addrs) = (stop.clone(), records.clone(), addrs.clone());
        threads.push(std::thread::spawn(move || {
            let agent = cluster_common::agent(Duration::from_secs(10));
            let mut rec = Record::default();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // Each write goes to some node (followers forward to the leader).
                let node = &addrs[(client + n as usize) % 3];
                // A unique key per write, then the client's counter key, raised by one.
                let key = format!("c{client}-{n}");
                let ok = agent
                    .put(format!("http://{node}/keys/{key}"))
                    .send(n.to_string())
                    .is_ok_and(|r| r.status() == 204);
                if ok {
                    rec.acked_keys.push(key);
                }
                rec.attempted_counter = n;
                let ok = agent
                    .put(format!("http://{node}/keys/counter{client}"))
                    .send(n.to_string())
                    .is_ok_and(|r| r.status() == 204);
                if ok {
                    rec.acked_counter.push(n);
                }
            }
            records.lock().unwrap().insert(client, rec);
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    cluster.kill(l);
    assert_ne!(cluster.leader(), l, "a new leader is elected");
    std::thread::sleep(Duration::from_millis(1500));
    cluster.spawn(l);
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let l = cluster.leader();
    let applied = cluster.applied(l);
    for i in 0..3 {
        cluster.wait_applied(i, applied);
    }
    let records = records.lock().unwrap();
    let mut acked = 0;
    for (client, rec) in records.iter() {
        for key in &rec.acked_keys {
            let want = key.rsplit('-').next().unwrap().to_string();
            for i in 0..3 {
                let v = cluster.value(i, key, true);
                if v.as_deref() != Some(want.as_str()) {
                    cluster.fail(&format!(
                        "acknowledged {key} = {want} reads {v:?} on node {}",
                        i + 1
                    ));
                }
            }
        }
        acked += rec.acked_keys.len();
        // The counter only moves forward: a write applied a second time (a retry of an earlier
        // value after a later one) would move it back below the last acknowledged value.
        if let Some(&last) = rec.acked_counter.last() {
            let v: u64 = cluster
                .value(l, &format!("counter{client}"), false)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            assert!(
                v >= last && v <= rec.attempted_counter,
                "client {client}: counter {v}, last acknowledged {last}"
            );
        }
    }
    assert!(
        acked > 16,
        "the clients wrote too little ({acked} writes) to mean anything"
    );
}

#[test]
fn a_retried_request_is_applied_once() {
    let c = Cluster::start(&[]);
    let l = c.leader();
    let f = (l + 1) % 3;
    // The request a follower forwards to the leader.
    let req = |client: &str, seq: u64, value: &str| {
        let put = lsmkv_raft::Op::Put {
            keyspace: None,
            key: b"k".to_vec(),
            value: value.as_bytes().to_vec(),
            ttl_ms: None,
        };
        serde_json::to_string(&lsmkv_raft::Request::new(client, seq, vec![put])).unwrap()
    };
    // Client X writes k = 1, client Y then k = 2; X's request again (a retry after a lost
    // answer, as a follower sends it to a new leader) changes nothing.
    let first = c.request(l, "POST", "/raft/write", req("X", 1, "1").as_bytes());
    assert_eq!(first.status, 200, "{first:?}");
    let r = c.request(l, "POST", "/raft/write", req("Y", 1, "2").as_bytes());
    assert_eq!(r.status, 200, "{r:?}");
    let again = c.request(l, "POST", "/raft/write", req("X", 1, "1").as_bytes());
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.json()["log_index"], first.json()["log_index"]);
    assert_eq!(c.value(f, "k", false).as_deref(), Some("2"));
    // A follower does not lead: it refuses to propose a forwarded request itself.
    let r = c.request(f, "POST", "/raft/write", req("Z", 1, "3").as_bytes());
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (503, json!("not_leader"))
    );
}

#[test]
fn raft_routes_need_the_token_and_the_nodes_send_it() {
    let c = Cluster::start(&[("API_TOKEN", "s3cret")]);
    // The cluster formed, so its RPCs carry the token; writes and reads work.
    let l = c.leader();
    assert_eq!(c.put((l + 1) % 3, "k", "v"), 204);
    assert_eq!(c.value((l + 2) % 3, "k", false).as_deref(), Some("v"));
    // Without the token every /raft/ route and /cluster is refused.
    let agent = cluster_common::agent(Duration::from_secs(10));
    for path in [
        "/raft/append",
        "/raft/vote",
        "/raft/snapshot",
        "/raft/write",
        "/raft/read_index",
    ] {
        let r = agent.post(c.url(l, path)).send("{}").unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = agent.get(c.url(l, "/cluster")).call().unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn a_single_node_server_has_no_cluster_routes() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lsmkv-server"))
        .env_clear()
        .env("DATA_DIR", dir.path().join("d"))
        .env("SERVER_PORT", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("lsmkv-server listening on ")
        .unwrap()
        .to_string();
    let agent = cluster_common::agent(Duration::from_secs(10));
    let r = agent.get(format!("http://{addr}/cluster")).call().unwrap();
    let status = r.status();
    let r2 = agent
        .put(format!("http://{addr}/keys/k?consistency=local"))
        .send("v")
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 404);
    assert_eq!(r2.status(), 204);
}
