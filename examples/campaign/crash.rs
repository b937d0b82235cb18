//! `crash`: kill -9 during writes. Rounds cycle through every sync mode x compaction strategy x
//! layout (one keyspace; two keyspaces; two keyspaces with transactions), each layout with its
//! own database that lives across rounds. A round starts `examples/stress.rs` on it (which first
//! verifies every key against the expected state: no acknowledged write lost, no partial batch,
//! no value never written), lets it write for 0.2 to 1.5 s and SIGKILLs it. The last verification
//! of each database runs with `--verify-only` at the end.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::Run;
use super::common::rng::Rng;

const SYNC: &[&str] = &["none", "async_batch", "always"];
const COMPACTION: &[&str] = &["leveled", "tiered", "lazy_leveling"];
const LAYOUT: &[&[&str]] = &[&[], &["--keyspaces"], &["--keyspaces", "--txn"]];
/// A start (with its verification) that prints nothing for this long is a hang.
const START_TIMEOUT: Duration = Duration::from_secs(120);

fn config(c: usize) -> Vec<String> {
    let (s, rest) = (c % SYNC.len(), c / SYNC.len());
    let (k, l) = (rest % COMPACTION.len(), rest / COMPACTION.len());
    let mut v: Vec<String> = ["--sync", SYNC[s], "--compaction", COMPACTION[k]]
        .iter()
        .map(|x| x.to_string())
        .collect();
    v.extend(LAYOUT[l % LAYOUT.len()].iter().map(|x| x.to_string()));
    v
}

/// What a start of the stress tool reported.
enum Start {
    /// Writing (after a verification when `verified` is Some: applied, dropped in-flight).
    Running(Child, Option<(u64, u64, u64)>),
    /// It exited: its output.
    Exited(String),
}

fn start(
    bin: &Path,
    db: &Path,
    args: &[String],
    seed: u64,
    extra: &[&str],
) -> Result<Start, String> {
    let err_path = db.with_extension("stderr");
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&err_path)
        .map_err(|e| format!("{}: {e}", err_path.display()))?;
    let mut child = Command::new(bin)
        .arg("--dir")
        .arg(db)
        .args(["--seconds", "3600", "--threads", "3", "--keys", "6000"])
        .args(["--seed", &seed.max(1).to_string()])
        .args(args)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut verified = None;
    let mut seen = String::new();
    loop {
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if let Some(v) = parse_verified(&line) {
                    verified = Some(v);
                }
                if line.starts_with("stress: seed") {
                    return Ok(Start::Running(child, verified));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "stress printed nothing for {START_TIMEOUT:?} (hang)"
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let st = child.wait().map_err(|e| e.to_string())?;
                let errs = std::fs::read_to_string(&err_path).unwrap_or_default();
                let tail: String = errs.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                return Ok(Start::Exited(format!("{st}: {seen}{tail}")));
            }
        }
    }
}

/// `(applied, dropped, older)` from "stress: verified ... (in-flight writes: A applied, D not; K
/// keys at an older value...)".
fn parse_verified(line: &str) -> Option<(u64, u64, u64)> {
    let rest = line.strip_prefix("stress: verified")?;
    let tail = rest.split("in-flight writes: ").nth(1)?;
    let mut nums = tail
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().unwrap_or(0));
    Some((nums.next()?, nums.next()?, nums.next()?))
}

/// Sorts a verification failure into the campaign's counters.
fn classify(run: &mut Run, msg: &str) {
    let what = if msg.contains("partial batch") {
        "partial_batches"
    } else if msg.contains("not one this tool writes") || msg.contains("foreign key") {
        "phantoms"
    } else if msg.contains("expected committed")
        || msg.contains("disagrees")
        || msg.contains("scan saw")
    {
        "acked_writes_lost"
    } else {
        "other_failures"
    };
    run.count(what, 1);
}

pub fn run(run: &mut Run) {
    if let Err(e) = super::cargo_build(&["--example", "stress"]) {
        run.fail(e);
        return;
    }
    let bin = super::examples_dir().join("stress");
    let work = run.work_dir("dbs");
    let n_configs = SYNC.len() * COMPACTION.len() * LAYOUT.len();
    for k in [
        "rounds",
        "acked_writes_lost",
        "partial_batches",
        "phantoms",
        "other_failures",
    ] {
        run.set(k, 0);
    }
    let mut r = Rng::new(run.seed);
    let mut used = vec![false; n_configs];
    let mut round = 0u64;
    while run.budget.more(round) && !run.failed() {
        let c = ((run.seed as usize) + round as usize) % n_configs;
        let args = config(c);
        let db = work.join(format!("db-{c}"));
        let seed = r.next_u64();
        match start(&bin, &db, &args, seed, &[]) {
            Err(e) => {
                run.count("other_failures", 1);
                run.fail(format!("round {round} config {args:?}: {e}"));
            }
            Ok(Start::Exited(out)) => {
                classify(run, &out);
                run.fail(format!(
                    "round {round} config {args:?} seed {seed}: stress ended by itself: {out}"
                ));
            }
            Ok(Start::Running(mut child, verified)) => {
                if let Some((a, d, older)) = verified {
                    run.count("verified_restarts", 1);
                    run.count("inflight_applied", a);
                    run.count("inflight_dropped", d);
                    run.count("sync_none_keys_at_older_value", older);
                }
                std::thread::sleep(Duration::from_millis(200 + r.below(1300)));
                match child.try_wait() {
                    Ok(None) => {
                        let _ = child.kill();
                        let _ = child.wait();
                        run.count("kills", 1);
                        used[c] = true;
                    }
                    _ => {
                        run.fail(format!("round {round} config {args:?} seed {seed}: stress failed while running (see {})", db.with_extension("stderr").display()));
                        run.count("other_failures", 1);
                    }
                }
            }
        }
        round += 1;
        if round.is_multiple_of(50) {
            run.log(format!("{round} rounds"));
        }
    }
    // The last kill of each database is verified here.
    for (c, _) in used.iter().enumerate().filter(|(_, u)| **u) {
        let args = config(c);
        let db = work.join(format!("db-{c}"));
        match start(&bin, &db, &args, 1, &["--verify-only"]) {
            Ok(Start::Exited(out)) if out.starts_with("exit status: 0") => {
                run.count("verified_restarts", 1);
            }
            Ok(Start::Exited(out)) => {
                classify(run, &out);
                run.fail(format!("final verification of config {args:?}: {out}"));
            }
            Ok(Start::Running(mut child, _)) => {
                let _ = child.kill();
                let _ = child.wait();
                run.fail(format!(
                    "final verification of config {args:?} did not stop"
                ));
            }
            Err(e) => run.fail(format!("final verification of config {args:?}: {e}")),
        }
    }
    run.set("rounds", run_rounds(round, run.failed()));
    run.set("configs", used.iter().filter(|u| **u).count() as u64);
    if !run.failed() {
        // Passing databases are not evidence worth keeping (they are large); failing ones are.
        let _ = std::fs::remove_dir_all(&work);
    }
}

/// Consecutive passing rounds.
fn run_rounds(round: u64, failed: bool) -> u64 {
    if failed {
        round.saturating_sub(1)
    } else {
        round
    }
}
