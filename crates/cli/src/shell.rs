//! The shell's two front ends: a script read line by line (stdin not a terminal) and the
//! interactive rustyline editor with history, completion and hints.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;

use lsmkv::Db;

use crate::editor;
use crate::exec::{Flow, Session, operations};
use crate::failure::Failure;
use crate::output::OutputMode;

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

/// Runs commands read line by line from `input` (no prompt, no history), results in `mode`. With
/// `bail`, stops at the first failing line. Input ending inside a `batch` is a failure (status 2)
/// and applies none of it.
///
/// # Errors
/// Only I/O errors reading `input` or writing `out`/`err`.
pub fn run_script(
    db: &Db,
    input: impl BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
    bail: bool,
    mode: OutputMode,
) -> io::Result<RunSummary> {
    let mut session = Session::new(db, mode);
    let mut summary = RunSummary::default();
    for (n, line) in input.lines().enumerate() {
        match session.run_line(&line?, out, err) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit) => break,
            // The reader of stdout went away (`| head -1`): stop quietly.
            Err(f) if f.is_closed_output() => break,
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
        let f = Failure::usage(format!(
            "input ended inside a batch (no commit); its {} not applied",
            were(n)
        ));
        writeln!(err, "error: {f}")?;
        summary.record(&f);
    }
    Ok(summary)
}

/// Interactive shell with line editing, completion and hints; history is loaded from and saved
/// to `history` if given. Pasted text runs line by line (a plain paste keeps the lines typed
/// ahead; a bracketed paste, one "line" holding newlines, is split). Ctrl-C clears the line (or
/// aborts an open batch), Ctrl-D leaves.
///
/// # Errors
/// I/O errors of the terminal.
pub fn run_interactive(
    db: &Db,
    history: Option<&Path>,
    mode: OutputMode,
) -> io::Result<RunSummary> {
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
    let mut session = Session::new(db, mode);
    loop {
        match rl.readline(session.prompt()) {
            Ok(text) => {
                // A bracketed paste arrives as one "line" holding newlines: run each line.
                let mut exit = false;
                for line in text.split(['\n', '\r']) {
                    if !line.trim().is_empty() {
                        let _ = rl.add_history_entry(line);
                    }
                    match session.run_line(line, &mut stdout, &mut stderr) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Exit) => {
                            exit = true;
                            break;
                        }
                        Err(f) => writeln!(stderr, "error: {f}")?,
                    }
                }
                if exit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => {
                if let Some(n) = session.abort_batch() {
                    writeln!(stderr, "batch aborted ({} discarded)", operations(n))?;
                }
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(to_io(e)),
        }
    }
    if let Some(n) = session.abort_batch() {
        writeln!(
            stderr,
            "warning: left inside a batch; its {} not applied",
            were(n)
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
pub fn run(
    db: &Db,
    history: Option<&Path>,
    bail: bool,
    mode: OutputMode,
) -> io::Result<RunSummary> {
    if io::stdin().is_terminal() {
        run_interactive(db, history, mode)
    } else {
        run_script(
            db,
            io::stdin().lock(),
            &mut io::stdout().lock(),
            &mut io::stderr(),
            bail,
            mode,
        )
    }
}

/// `1 operation was` / `n operations were`.
fn were(n: usize) -> String {
    if n == 1 {
        "1 operation was".to_string()
    } else {
        format!("{n} operations were")
    }
}
