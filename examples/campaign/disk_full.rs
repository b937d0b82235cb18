//! `disk-full`: ENOSPC on a real small file system made by the campaign (tmpfs with `size=8m`;
//! if mounting tmpfs is not permitted, a loop-mounted ext4 image; else the campaign reports a
//! skip). A round fills it with a filler file and a database written until a write fails: the
//! failure must be an I/O error (or Poisoned), `stats().poisoned` must name it, later writes
//! must fail and reads of every acknowledged write must go on. Then the filler is deleted, the
//! database reopened: every acknowledged write is there, it verifies, and it takes writes again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use lsmkv::{Db, Error, Options, SyncMode};

use super::Run;

/// A round that has not finished after this long is a hang.
const ROUND_TIMEOUT: Duration = Duration::from_secs(180);

fn sh(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Mounts a small file system on `mnt`; returns how it was made.
fn mount_small(mnt: &Path, work: &Path) -> Result<String, String> {
    let m = mnt.to_string_lossy().to_string();
    let tmpfs = sh("mount", &["-t", "tmpfs", "-o", "size=8m", "tmpfs", &m]);
    if tmpfs.is_ok() {
        return Ok("tmpfs size=8m".into());
    }
    let img = work.join("small.img").to_string_lossy().to_string();
    let loop_fs = sh("truncate", &["-s", "16M", &img])
        .and_then(|()| sh("mkfs.ext4", &["-q", "-F", &img]))
        .and_then(|()| sh("mount", &["-o", "loop", &img, &m]));
    match loop_fs {
        Ok(()) => Ok("loop-mounted ext4 image of 16 MiB".into()),
        Err(e) => Err(format!(
            "tmpfs: {}; loop image: {e}",
            tmpfs.err().unwrap_or_default()
        )),
    }
}

fn value(i: u64) -> Vec<u8> {
    format!("{i:08}").into_bytes().repeat(128)
}

fn key(i: u64) -> String {
    format!("k{i:08}")
}

fn is_io(e: &Error) -> bool {
    matches!(e, Error::Io { .. } | Error::Poisoned { .. })
}

/// One fill / check / free / reopen cycle on `root` (the mounted file system). Returns the
/// number of acknowledged writes; pushes onto `lost_tail` how many of them a `SyncMode::None`
/// database lost from its unwritten buffer.
fn round(root: &Path, sync: SyncMode, lost_tail: &mut Vec<u64>) -> Result<u64, String> {
    let dir = root.join("db");
    let filler = root.join("filler");
    std::fs::write(&filler, vec![7u8; 2 << 20]).map_err(|e| format!("filler: {e}"))?;
    let opts = Options {
        sync_mode: sync,
        memtable_max_size: 256 << 10,
        block_cache_size_mb: 1,
        ..Options::default()
    };
    let db = Db::open(&dir, opts.clone()).map_err(|e| format!("open: {e}"))?;
    let mut acked = 0u64;
    let err = loop {
        match db.put(key(acked), value(acked)) {
            Ok(()) => acked += 1,
            Err(e) => break e,
        }
        if acked > 1_000_000 {
            return Err("a million writes and no ENOSPC".into());
        }
    };
    if !is_io(&err) {
        return Err(format!(
            "the write that hit the full disk failed with {err:?}"
        ));
    }
    let cause = db
        .stats()
        .poisoned
        .ok_or("stats().poisoned is None after ENOSPC")?;
    match db.put("after", "x") {
        Err(Error::Poisoned { .. }) => {}
        other => return Err(format!("a write after ENOSPC: {other:?} (cause {cause})")),
    }
    for i in 0..acked {
        let got = db
            .get(key(i))
            .map_err(|e| format!("read of {} after ENOSPC: {e}", key(i)))?;
        if got.as_deref() != Some(value(i).as_slice()) {
            return Err(format!("read of {} after ENOSPC: wrong value", key(i)));
        }
    }
    // Close may fail (the final sync has no room): the outcome that matters is the reopen.
    let _ = db.close();
    std::fs::remove_file(&filler).map_err(|e| format!("freeing space: {e}"))?;
    let db = Db::open(&dir, opts).map_err(|e| format!("reopen after freeing space: {e}"))?;
    // `SyncMode::None` may lose the acknowledged writes still in its WAL buffer (documented):
    // what survives must be a prefix of the writes. Other modes lose nothing.
    let mut kept = acked;
    for i in 0..acked {
        let got = db
            .get(key(i))
            .map_err(|e| format!("read after reopen: {e}"))?;
        let present = got.as_deref() == Some(value(i).as_slice());
        if !present && got.is_some() {
            return Err(format!("{} holds a wrong value after reopen", key(i)));
        }
        if present && kept < i {
            return Err(format!(
                "{} is present after the lost {}: not a prefix",
                key(i),
                key(kept)
            ));
        }
        if !present && sync != SyncMode::None {
            return Err(format!("acknowledged write {} lost after reopen", key(i)));
        }
        if !present && kept == acked {
            kept = i;
        }
    }
    lost_tail.push(acked - kept);
    if db.get("after").map_err(|e| e.to_string())?.is_some() {
        return Err("a write that failed is present after reopen".into());
    }
    db.verify()
        .map_err(|e| format!("verify after reopen: {e}"))?;
    db.put("after-reopen", "ok")
        .map_err(|e| format!("a write after reopen: {e}"))?;
    db.close().map_err(|e| format!("close: {e}"))?;
    std::fs::remove_dir_all(&dir).map_err(|e| format!("cleanup: {e}"))?;
    Ok(acked)
}

pub fn run(run: &mut Run) {
    let mnt: PathBuf = run.work_dir("mnt");
    let how = match mount_small(&mnt, &run.out) {
        Ok(how) => how,
        Err(e) => {
            run.log(format!(
                "SKIPPED: cannot mount a small file system here: {e}"
            ));
            run.set("skipped", 1);
            run.figure("skip_reason", serde_json::json!(e));
            return;
        }
    };
    run.log(format!("file system: {how} on {}", mnt.display()));
    run.figure("file_system", serde_json::json!(how));
    for k in ["acked_writes_lost", "rounds"] {
        run.set(k, 0);
    }
    let modes = [SyncMode::Always, SyncMode::AsyncBatch, SyncMode::None];
    let mut rounds = 0u64;
    while run.budget.more(rounds) {
        let sync = modes[(rounds % 3) as usize];
        let (tx, rx) = mpsc::channel();
        let root = mnt.clone();
        std::thread::spawn(move || {
            let mut lost = Vec::new();
            let _ = tx.send(round(&root, sync, &mut lost).map(|a| (a, lost.iter().sum::<u64>())));
        });
        match rx.recv_timeout(ROUND_TIMEOUT) {
            Ok(Ok((acked, lost))) => {
                run.count("rounds", 1);
                run.count("acked_writes_checked", acked);
                run.count("sync_none_unwritten_tail_lost", lost);
                run.log(format!(
                    "round {rounds} ({sync:?}): ENOSPC after {acked} writes; clean ({lost} sync-none writes in the unwritten buffer lost)"
                ));
            }
            Ok(Err(e)) => {
                if e.contains("lost") {
                    run.count("acked_writes_lost", 1);
                }
                run.fail(format!(
                    "round {rounds} ({sync:?}): {e} (file system contents left in {})",
                    mnt.display()
                ));
                break;
            }
            Err(_) => {
                run.fail(format!(
                    "round {rounds} ({sync:?}): no result after {ROUND_TIMEOUT:?} (hang)"
                ));
                break;
            }
        }
        rounds += 1;
    }
    if !run.failed()
        && let Err(e) = sh("umount", &[&mnt.to_string_lossy()])
    {
        run.log(format!("umount: {e}"));
    }
}
