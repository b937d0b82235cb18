//! The interactive shell and command-line tools behind the `lsmkv` binary.
//!
//! - [`parse`]: the line syntax (words, quotes, `\xHH` escapes) and the commands.
//! - [`exec`]: a [`Session`] runs commands against a [`Db`], streaming results.
//! - [`editor`]: rustyline completion (commands, keys from the database) and hints.
//! - [`output`]: text / JSON / raw rendering shared by the shell and the subcommands.
//! - [`inspect`]: text rendering of the read-only dumps of [`crate::debug`].
//! - [`transfer`]: `import` and `export` (JSON lines or CSV) with a progress bar.
//!
//! Uses the public API and [`crate::debug`] only. Two front ends: a rustyline editor with a
//! history file when stdin is a terminal, plain lines otherwise (so `printf 'put a 1\n' | lsmkv`
//! works in scripts). Results go to stdout, errors to stderr as `error: ...`.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod cli;
pub mod editor;
pub mod exec;
pub mod inspect;
pub mod output;
pub mod parse;
pub mod transfer;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;

pub use exec::Session;
pub use parse::{Command, help_text, parse_line, split_words};

use lsmkv::{Db, Error};

/// Exit statuses of the `lsmkv` binary.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// `get`: the key does not exist.
    pub const NOT_FOUND: u8 = 1;
    /// Bad command line, bad shell command, or an argument the engine rejects.
    pub const USAGE: u8 = 2;
    /// Damage found (`verify`, `inspect`, or any command that read a damaged file).
    pub const CORRUPTION: u8 = 3;
    /// Anything else (I/O, a locked directory, ...).
    pub const OTHER: u8 = 4;
}

/// Text of the exit statuses, for `--help` and the README.
pub const EXIT_CODES_HELP: &str = "\
exit status:
  0  success
  1  get: the key does not exist
  2  usage error (bad arguments, bad shell command, key or value too large)
  3  corruption found (verify, inspect, or a read that hit a damaged file)
  4  any other error (I/O, database locked by another process, ...)";

/// A command that failed: the message for stderr and the exit status it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A usage error (exit status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }

    /// Any other error (exit status 4).
    pub fn other(message: impl Into<String>) -> Self {
        Failure {
            code: exit::OTHER,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit status for an engine error.
pub fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Corruption { .. } | Error::UnsupportedVersion { .. } => exit::CORRUPTION,
        Error::InvalidArgument(_) | Error::KeyTooLarge { .. } | Error::ValueTooLarge { .. } => {
            exit::USAGE
        }
        _ => exit::OTHER,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            code: exit_code(&e),
            message: e.to_string(),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::other(e.to_string())
    }
}

/// Whether the shell goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave the shell.
    Exit,
}

/// How a shell run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunSummary {
    /// Lines that failed.
    pub failures: usize,
    /// Exit status of the first failure (0 if none).
    pub first_code: u8,
}

impl RunSummary {
    fn record(&mut self, f: &Failure) {
        if self.failures == 0 {
            self.first_code = f.code;
        }
        self.failures += 1;
    }
}

/// Runs commands read line by line from `input` (no prompt, no history). With `bail`, stops at
/// the first failing line.
///
/// # Errors
/// Only I/O errors reading `input` or writing `out`/`err`.
pub fn run_script(
    db: &Db,
    input: impl BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
    bail: bool,
) -> io::Result<RunSummary> {
    let mut session = Session::new(db);
    let mut summary = RunSummary::default();
    for (n, line) in input.lines().enumerate() {
        match session.run_line(&line?, out) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit) => break,
            Err(f) => {
                out.flush()?;
                writeln!(err, "error: line {}: {f}", n + 1)?;
                summary.record(&f);
                if bail {
                    break;
                }
            }
        }
    }
    if let Some(n) = session.abort_batch() {
        writeln!(
            err,
            "warning: input ended inside a batch; {n} operations were not applied"
        )?;
    }
    Ok(summary)
}

/// Interactive shell with line editing, completion and hints; history is loaded from and saved
/// to `history` if given. Ctrl-C clears the line (or aborts an open batch), Ctrl-D leaves.
///
/// # Errors
/// I/O errors of the terminal.
pub fn run_interactive(db: &Db, history: Option<&Path>) -> io::Result<RunSummary> {
    use rustyline::error::ReadlineError;
    let to_io = |e: ReadlineError| match e {
        ReadlineError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    };
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_err(to_io)?
        .build();
    let mut rl: rustyline::Editor<editor::ShellHelper, rustyline::history::DefaultHistory> =
        rustyline::Editor::with_config(config).map_err(to_io)?;
    rl.set_helper(Some(editor::ShellHelper::new(db.clone())));
    if let Some(h) = history {
        // A missing history file is normal on first use.
        let _ = rl.load_history(h);
    }
    let (mut stdout, mut stderr) = (io::stdout(), io::stderr());
    let mut session = Session::new(db);
    loop {
        match rl.readline(session.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                match session.run_line(&line, &mut stdout) {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Exit) => break,
                    Err(f) => writeln!(stderr, "error: {f}")?,
                }
            }
            Err(ReadlineError::Interrupted) => {
                if let Some(n) = session.abort_batch() {
                    writeln!(stderr, "batch aborted ({n} operations discarded)")?;
                }
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(to_io(e)),
        }
    }
    if let Some(n) = session.abort_batch() {
        writeln!(
            stderr,
            "warning: left inside a batch; {n} operations were not applied"
        )?;
    }
    if let Some(h) = history
        && let Err(e) = rl.save_history(h)
    {
        writeln!(
            stderr,
            "warning: could not save history to {}: {e}",
            h.display()
        )?;
    }
    // Failures in an interactive session were seen by the user; they do not fail the process.
    Ok(RunSummary::default())
}

/// Runs the shell on the process's stdin: interactive when it is a terminal, a script otherwise.
///
/// # Errors
/// I/O errors of stdin/stdout/stderr.
pub fn run(db: &Db, history: Option<&Path>, bail: bool) -> io::Result<RunSummary> {
    if io::stdin().is_terminal() {
        run_interactive(db, history)
    } else {
        run_script(
            db,
            io::stdin().lock(),
            &mut io::stdout().lock(),
            &mut io::stderr(),
            bail,
        )
    }
}
