//! Reliability campaigns: each runs for a time or a number of rounds, keeps its evidence in a
//! directory and prints a one-line count summary (RELIABILITY.md records the figures reached).
//!
//! ```text
//! cargo run --release --example campaign -- <campaign> (--seconds N | --rounds N) [--seed S] [--out DIR] [--ops N] [--large] [--no-build]
//! ```
//!
//! Campaigns: `crash`, `power-loss`, `io-error`, `disk-full`, `metamorphic`, `corruption`,
//! `server`. `--large` runs `corruption` on a large database (multi-MiB tables and WAL segments,
//! random trials counted per file type). The evidence directory (default `target/campaigns/<campaign>-<unix time>`) holds
//! `summary.json` (counts, seed, commit, duration, failures) and `log.txt`; failing cases keep
//! their seed and, where there is one, their database directory there. Exit status 1 on any
//! failure, 2 on bad arguments.

#[path = "../../tests/common/mod.rs"]
mod common;

mod corruption;
mod corruption_large;
mod crash;
mod disk_full;
mod io_error;
mod metamorphic;
mod power_loss;
mod server;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CAMPAIGNS: &[&str] = &[
    "crash",
    "power-loss",
    "io-error",
    "disk-full",
    "metamorphic",
    "corruption",
    "server",
];

/// How long a campaign runs: until a deadline, or for a number of rounds (whichever is given).
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    deadline: Option<Instant>,
    rounds: Option<u64>,
}

impl Budget {
    /// True while round `done` (0-based count of rounds finished) may start.
    pub fn more(&self, done: u64) -> bool {
        self.rounds.is_none_or(|r| done < r) && self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// Time left before the deadline (a day when there is none).
    pub fn left(&self) -> Duration {
        self.deadline.map_or(Duration::from_secs(86_400), |d| {
            d.saturating_duration_since(Instant::now())
        })
    }
}

/// A running campaign: its evidence directory, seed, counters and failures.
pub struct Run {
    pub name: String,
    pub seed: u64,
    pub out: PathBuf,
    pub budget: Budget,
    /// `--ops`: operations per run, for campaigns that have runs of a size (metamorphic).
    pub ops: Option<u64>,
    /// `--large`: `corruption` on a large database (`corruption_large.rs`).
    pub large: bool,
    /// The commit measured (taken at the start: the tree may move on during a long run).
    commit: String,
    started: Instant,
    log: std::fs::File,
    counts: BTreeMap<String, u64>,
    figures: BTreeMap<String, serde_json::Value>,
    failures: Vec<String>,
}

impl Run {
    /// Adds `n` to the counter `what`.
    pub fn count(&mut self, what: &str, n: u64) {
        *self.counts.entry(what.to_string()).or_default() += n;
    }

    /// Sets the counter `what` (zero counters still appear in the summary).
    pub fn set(&mut self, what: &str, n: u64) {
        self.counts.insert(what.to_string(), n);
    }

    /// Records a non-count figure (a list of RSS samples, p99 per interval...).
    pub fn figure(&mut self, what: &str, v: serde_json::Value) {
        self.figures.insert(what.to_string(), v);
    }

    /// One line in `log.txt` (and on stderr).
    pub fn log(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        eprintln!("{}: {line}", self.name);
        let _ = writeln!(
            self.log,
            "{:>8.1}s {line}",
            self.started.elapsed().as_secs_f64()
        );
    }

    /// Records a failing case (kept in the summary; the campaign exits 1).
    pub fn fail(&mut self, what: impl Into<String>) {
        let what = what.into();
        self.log(format!("FAILURE: {what}"));
        self.failures.push(what);
    }

    pub fn failed(&self) -> bool {
        !self.failures.is_empty()
    }

    /// A fresh directory under the evidence directory.
    pub fn work_dir(&self, name: &str) -> PathBuf {
        let d = self.out.join(name);
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::create_dir_all(&d);
        d
    }

    fn finish(mut self) -> bool {
        let secs = self.started.elapsed().as_secs_f64();
        let summary = serde_json::json!({
            "campaign": self.name,
            "ok": self.failures.is_empty(),
            "seed": self.seed,
            "commit": self.commit,
            "started_unix": unix_now() - secs as u64,
            "duration_seconds": (secs * 10.0).round() / 10.0,
            "counts": self.counts,
            "figures": self.figures,
            "failures": self.failures,
            "command": std::env::args().collect::<Vec<_>>().join(" "),
        });
        let path = self.out.join("summary.json");
        let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text + "\n") {
            eprintln!("campaign: cannot write {}: {e}", path.display());
        }
        let mut line = format!(
            "campaign {}: {} in {secs:.0}s:",
            self.name,
            if self.failures.is_empty() {
                "OK"
            } else {
                "FAILED"
            }
        );
        for (k, v) in &self.counts {
            let _ = write!(line, " {k}={v}");
        }
        let _ = write!(
            line,
            "; seed {}, commit {}, evidence {}",
            self.seed,
            self.commit,
            self.out.display()
        );
        self.log(&line);
        println!("{line}");
        self.failures.is_empty()
    }
}

/// The commit checked out (`git rev-parse HEAD`), with `-dirty` when the tree has changes.
pub fn git_head() -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = out(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        out(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head}-dirty") } else { head }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The directory holding this executable's sibling examples (`target/<profile>/examples`).
pub fn examples_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default()
}

/// `cargo build` in this executable's profile with `args` (an example, a package), so that a
/// campaign driving another program runs the current code. Skipped with `--no-build` (a long run
/// of a copied build uses the programs beside it as they are).
pub fn cargo_build(args: &[&str]) -> Result<(), String> {
    if std::env::args().any(|a| a == "--no-build") {
        return Ok(());
    }
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.arg("build").arg("--quiet").args(args);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let st = cmd
        .status()
        .map_err(|e| format!("cargo build {args:?}: {e}"))?;
    st.success()
        .then_some(())
        .ok_or_else(|| format!("cargo build {args:?}: {st}"))
}

struct Args {
    campaign: String,
    budget: Budget,
    seed: u64,
    ops: Option<u64>,
    large: bool,
    out: Option<PathBuf>,
}

const USAGE: &str = "usage: campaign <crash|power-loss|io-error|disk-full|metamorphic|corruption|server> \
(--seconds N | --rounds N) [--seed S] [--out DIR] [--ops N] [--large] [--no-build]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let campaign = it.next().ok_or(USAGE)?;
    if campaign == "-h" || campaign == "--help" {
        return Err(USAGE.into());
    }
    if !CAMPAIGNS.contains(&campaign.as_str()) {
        return Err(format!("unknown campaign {campaign}; {USAGE}"));
    }
    let mut a = Args {
        campaign,
        budget: Budget {
            deadline: None,
            rounds: None,
        },
        seed: unix_now() ^ u64::from(std::process::id()),
        ops: None,
        large: false,
        out: None,
    };
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--seconds" => {
                a.budget.deadline = Some(Instant::now() + Duration::from_secs(num(val()?)?));
            }
            "--rounds" => a.budget.rounds = Some(num(val()?)?),
            "--seed" => a.seed = num(val()?)?,
            "--out" => a.out = Some(PathBuf::from(val()?)),
            "--ops" => a.ops = Some(num(val()?)?),
            "--large" if a.campaign == "corruption" => a.large = true,
            "--no-build" => {}
            _ => return Err(format!("unknown flag {flag}; {USAGE}")),
        }
    }
    if a.budget.deadline.is_none() && a.budget.rounds.is_none() {
        return Err(format!("give --seconds or --rounds; {USAGE}"));
    }
    Ok(a)
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("campaign: {e}");
            return ExitCode::from(2);
        }
    };
    let out = a.out.unwrap_or_else(|| {
        PathBuf::from(format!("target/campaigns/{}-{}", a.campaign, unix_now()))
    });
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("campaign: cannot create {}: {e}", out.display());
        return ExitCode::from(2);
    }
    let log = match std::fs::File::create(out.join("log.txt")) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("campaign: cannot create the log in {}: {e}", out.display());
            return ExitCode::from(2);
        }
    };
    let mut run = Run {
        name: a.campaign.clone(),
        seed: a.seed,
        out,
        budget: a.budget,
        ops: a.ops,
        large: a.large,
        commit: git_head(),
        started: Instant::now(),
        log,
        counts: BTreeMap::new(),
        figures: BTreeMap::new(),
        failures: Vec::new(),
    };
    run.log(format!("seed {}, commit {}", run.seed, run.commit));
    match a.campaign.as_str() {
        "crash" => crash::run(&mut run),
        "power-loss" => power_loss::run(&mut run),
        "io-error" => io_error::run(&mut run),
        "disk-full" => disk_full::run(&mut run),
        "metamorphic" => metamorphic::run(&mut run),
        "corruption" => corruption::run(&mut run),
        _ => server::run(&mut run),
    }
    if run.finish() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
