//! `metamorphic`: runs `tests/metamorphic.rs` (one seeded sequence of operations under every
//! option set, identical answers, and equal to a model) again and again with a new seed each
//! run, `--ops` operations per run (default 100,000). A run after the first still going at the
//! deadline is stopped and not counted.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Run;

/// Builds the test binary (in this executable's profile) and returns its path.
fn test_binary() -> Result<PathBuf, String> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.args([
        "test",
        "--test",
        "metamorphic",
        "--no-run",
        "--message-format=json",
        "--quiet",
    ]);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo test --no-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo test --no-run: {}", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"]["name"] == "metamorphic")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "no metamorphic test executable in cargo's output".into())
}

pub fn run(run: &mut Run) {
    let bin = match test_binary() {
        Ok(b) => b,
        Err(e) => return run.fail(e),
    };
    let ops = run.ops.unwrap_or(100_000);
    run.set("ops_per_run", ops);
    for k in ["runs", "differences"] {
        run.set(k, 0);
    }
    let mut runs = 0u64;
    while run.budget.more(runs) {
        let seed = run.seed.wrapping_add(runs);
        let started = Instant::now();
        let mut child = match Command::new(&bin)
            .args([
                "same_answers_under_every_option_set",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("LSMKV_SEED", seed.to_string())
            .env("LSMKV_METAMORPHIC_OPS", ops.to_string())
            .env("LSMKV_METAMORPHIC_RUNS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => return run.fail(format!("starting {}: {e}", bin.display())),
        };
        let err = child.stderr.take();
        let reader = std::thread::spawn(move || {
            err.map(|e| {
                BufReader::new(e)
                    .lines()
                    .map_while(Result::ok)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        });
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break Some(st),
                // The first run always finishes: every invocation checks something.
                Ok(None) if run.budget.left().is_zero() && runs > 0 => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => {
                    run.fail(format!("waiting for the run: {e}"));
                    break None;
                }
            }
        };
        let lines = reader.join().unwrap_or_default();
        match status {
            None => {
                run.log(format!(
                    "seed {seed}: stopped at the deadline after {:?} (not counted)",
                    started.elapsed()
                ));
                break;
            }
            Some(st) if st.success() => {
                let sets = lines
                    .iter()
                    .find_map(|l| {
                        l.split(" x ")
                            .nth(1)?
                            .split(' ')
                            .next()?
                            .parse::<u64>()
                            .ok()
                    })
                    .unwrap_or(0);
                runs += 1;
                run.count("runs", 1);
                run.set("option_sets", sets);
                run.count("ops_total", ops * sets);
                run.log(format!(
                    "seed {seed}: {ops} ops x {sets} option sets identical in {:?}",
                    started.elapsed()
                ));
            }
            Some(st) => {
                run.count("differences", 1);
                let kept = run.out.join(format!("seed-{seed}.stderr"));
                let _ = std::fs::write(&kept, lines.join("\n"));
                let why: Vec<&String> = lines
                    .iter()
                    .filter(|l| {
                        l.contains("panicked") || l.contains("differ") || l.contains("failed")
                    })
                    .take(4)
                    .collect();
                run.fail(format!("seed {seed} ({ops} ops): {st}: {why:?}, whole output in {} (replay: LSMKV_SEED={seed} LSMKV_METAMORPHIC_OPS={ops} cargo test --release --test metamorphic)", kept.display()));
                break;
            }
        }
    }
}
