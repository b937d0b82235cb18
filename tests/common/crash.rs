//! Child processes: the test binary re-executed to run one `#[ignore]`d test as the child.
//!
//! The crash harness: the parent [`run_until_killed`] starts the child with the database
//! directory and its parameters in the environment; the child (its test returns at once unless
//! [`child`] finds it is the child) writes and, after each acknowledged write, calls [`ack`],
//! which prints one line on stdout. The parent SIGKILLs the child once it has read the number of
//! acks it chose, and returns every ack the child printed, including those printed while the kill
//! was on its way (they were acknowledged too).
//!
//! ```ignore
//! #[test]
//! #[ignore = "child process of the crash tests"]
//! fn crash_child() {
//!     let Some(child) = crash::child() else { return };
//!     let db = Db::open(child.dir(), options(child.param("mode"))).unwrap();
//!     crash::write_and_ack(4, 0..100_000, |t, i| {
//!         db.put(key(t, i), value(t, i)).unwrap();
//!         key(t, i) // the ack
//!     });
//! }
//!
//! let acked = crash::run_until_killed("crash_child", dir, &[("mode", "always".into())], 500);
//! ```

use std::fmt::Display;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Holds the database directory in the child's environment; its presence makes the child run.
const DIR_VAR: &str = "LSMKV_CRASH_CHILD";
/// Prefix of the child's parameters in its environment.
const PARAM_VAR: &str = "LSMKV_CRASH_PARAM_";
const ACK: &str = "@@ACK@@ ";
/// A child that prints no ack for this long is hung (generous: a slow, loaded machine).
const HANG_TIMEOUT: Duration = Duration::from_secs(120);

/// A command that runs only the `#[ignore]`d test `test` of this test binary.
pub fn self_test_command(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--ignored", "--test-threads=1"]);
    cmd
}

/// What the parent passed to the child.
pub struct Child {
    dir: PathBuf,
}

impl Child {
    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parameter `name` the parent passed.
    pub fn param(&self, name: &str) -> String {
        std::env::var(format!("{PARAM_VAR}{name}"))
            .unwrap_or_else(|_| panic!("crash child: no parameter {name}"))
    }

    /// The parameter `name`, parsed.
    pub fn parse<T: std::str::FromStr>(&self, name: &str) -> T
    where
        T::Err: std::fmt::Debug,
    {
        self.param(name).parse().unwrap()
    }
}

/// `Some` in a child started by [`run_until_killed`], `None` in a plain test run.
pub fn child() -> Option<Child> {
    let dir = std::env::var_os(DIR_VAR)?;
    Some(Child { dir: dir.into() })
}

/// In the child: reports one acknowledged write (a line without a newline). False when the
/// parent is gone (the pipe is closed): stop writing.
pub fn ack(what: impl Display) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{ACK}{what}")
        .and_then(|()| out.flush())
        .is_ok()
}

/// In the child: `threads` writer threads; thread `t` calls `write(t, i)` for each `i` in
/// `writes` (bounded, so an orphaned child ends by itself) and acks what it returns. A thread
/// stops when the parent is gone.
pub fn write_and_ack<A: Display>(
    threads: u64,
    writes: std::ops::Range<u64>,
    write: impl Fn(u64, u64) -> A + Sync,
) {
    std::thread::scope(|s| {
        for t in 0..threads {
            let (write, writes) = (&write, writes.clone());
            s.spawn(move || {
                for i in writes {
                    if !ack(write(t, i)) {
                        return;
                    }
                }
            });
        }
    });
}

/// Runs the child test `test` on `dir` with `params` until it has acknowledged `kill_after`
/// writes, SIGKILLs it and returns every ack it printed, in order. Panics if the child exits by
/// itself first or stops acknowledging for two minutes.
pub fn run_until_killed(
    test: &str,
    dir: &Path,
    params: &[(&str, String)],
    kill_after: usize,
) -> Vec<String> {
    let mut cmd = self_test_command(test);
    cmd.arg("--nocapture").env(DIR_VAR, dir);
    for (name, value) in params {
        cmd.env(format!("{PARAM_VAR}{name}"), value);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read on a thread so a hung child cannot hang the test.
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // Only whole lines count (a kill cannot cut a pipe write this small, but be strict).
            // The ack may follow libtest's "test crash_child ... " on the same line.
            let Some(l) = line.strip_suffix('\n') else {
                break;
            };
            if let Some(pos) = l.find(ACK)
                && tx.send(l[pos + ACK.len()..].to_string()).is_err()
            {
                break;
            }
        }
    });
    let mut acked = Vec::new();
    while acked.len() < kill_after {
        match rx.recv_timeout(HANG_TIMEOUT) {
            Ok(a) => acked.push(a),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("{test}: child printed no ack for {HANG_TIMEOUT:?}");
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                panic!(
                    "{test}: child exited ({status}) after {} acks, before the kill",
                    acked.len()
                );
            }
        }
    }
    // `Child::kill` is SIGKILL on Unix.
    child.kill().unwrap();
    child.wait().unwrap();
    // Acks printed before the kill took effect count too: they were acknowledged.
    reader.join().unwrap();
    acked.extend(rx.try_iter());
    acked
}
