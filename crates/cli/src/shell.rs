//! The shell's two front ends: a script read line by line (stdin not a terminal) and the
//! interactive rustyline editor with history, completion and hints.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;

use lsmkv::Db;

use crate::editor;
use crate::exec::{Flow, Session, operations};
use crate::failure::Failure;
use crate::output::OutputMode;
use crate::signals;

/// How a shell run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunSummary {
    /// Lines that failed.
    pub failures: usize,
    /// Exit status of the first failure (0 if none).
    pub first_code: u8,
    /// The signal (SIGTERM, SIGHUP; SIGINT for a script) that ended the shell, if one did.
    pub signal: Option<i32>,
}

impl RunSummary {
    fn record(&mut self, f: &Failure) {
        if self.failures == 0 {
            self.first_code = f.code;
        }
        self.failures += 1;
    }
}

/// What the shell's loop receives: a line, the end of the input, or a signal that ends it.
enum Input<L> {
    Line(L),
    End,
    Signal(i32),
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
    script(db, input.lines().map(Input::Line), out, err, bail, mode)
}

/// [`run_script`] over lines that may be cut short by a signal.
fn script(
    db: &Db,
    input: impl Iterator<Item = Input<io::Result<String>>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
    bail: bool,
    mode: OutputMode,
) -> io::Result<RunSummary> {
    let mut session = Session::new(db, mode);
    let mut summary = RunSummary::default();
    for (n, item) in input.enumerate() {
        summary.signal = signals::terminated();
        let line = match item {
            _ if summary.signal.is_some() => break,
            Input::Line(line) => line?,
            Input::End => break,
            Input::Signal(sig) => {
                summary.signal = Some(sig);
                break;
            }
        };
        match session.run_line(&line, out, err) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit) => break,
            // The reader of stdout went away (`| head -1`): stop quietly.
            Err(f) if f.is_closed_output() => break,
            // A signal stopped the command: end here.
            Err(_) if signals::terminated().is_some() => {
                summary.signal = signals::terminated();
                break;
            }
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
        if summary.signal.is_some() {
            writeln!(
                err,
                "warning: ended by a signal inside a batch; its {} not applied",
                were(n)
            )?;
        } else {
            let f = Failure::usage(format!(
                "input ended inside a batch (no commit); its {} not applied",
                were(n)
            ));
            writeln!(err, "error: {f}")?;
            summary.record(&f);
        }
    }
    Ok(summary)
}

/// Interactive shell with line editing, completion and hints; history is loaded from `history`
/// if given, and each line appended to it. Pasted text runs line by line (a plain paste keeps the lines typed
/// ahead; a bracketed paste, one "line" holding newlines, is split). Ctrl-C clears the line (or
/// aborts an open batch), or stops the running command; Ctrl-D leaves. SIGTERM and SIGHUP end
/// the shell too: the running command stops and the caller closes the database.
///
/// The line editor runs on its own thread and the commands on the caller's, so that a signal
/// ends the shell even while the editor waits for a key.
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
    // The editor's handle on the database, taken back before the caller closes it.
    let helper_db = Arc::new(Mutex::new(Some(db.clone())));
    rl.set_helper(Some(editor::ShellHelper::new(Arc::clone(&helper_db))));
    if let Some(h) = history {
        // A missing history file is normal on first use.
        let _ = rl.load_history(h);
    }
    #[cfg(unix)]
    let terminal_mode = nix::sys::termios::tcgetattr(io::stdin()).ok();

    let (tx, rx) = mpsc::channel::<Input<rustyline::Result<String>>>();
    let wake = tx.clone();
    signals::watch(true, move |sig| {
        let _ = wake.send(Input::Signal(sig));
    })?;
    let (prompts, prompt_rx) = mpsc::channel::<&'static str>();
    let history_file = history.map(Path::to_path_buf);
    let editor = thread::Builder::new()
        .name("lsmkv-editor".into())
        .spawn(move || {
            let mut warned = false;
            while let Ok(prompt) = prompt_rx.recv() {
                let read = rl.readline(prompt);
                if let Ok(text) = &read {
                    for line in text.split(['\n', '\r']) {
                        if !line.trim().is_empty() {
                            let _ = rl.add_history_entry(line);
                        }
                    }
                    // Saved line by line, so that a signal ending the shell loses none.
                    if let Some(h) = &history_file
                        && let Err(e) = rl.append_history(h)
                        && !warned
                    {
                        warned = true;
                        eprintln!("warning: could not save history to {}: {e}", h.display());
                    }
                }
                if tx.send(Input::Line(read)).is_err() {
                    break;
                }
            }
        })?;

    let (mut stdout, mut stderr) = (io::stdout(), io::stderr());
    let mut session = Session::new(db, mode);
    let mut signal: Option<i32>;
    // Whether the editor was asked for a line it has not returned (it may be waiting for a key).
    let mut reading = false;
    let mut failed = None;
    'shell: loop {
        signal = signals::terminated();
        if signal.is_some() || prompts.send(session.prompt()).is_err() {
            break;
        }
        reading = true;
        let read = match rx.recv() {
            Ok(Input::Line(read)) => read,
            Ok(Input::Signal(sig)) => {
                signal = Some(sig);
                break;
            }
            Ok(Input::End) | Err(_) => break,
        };
        reading = false;
        match read {
            Ok(text) => {
                // A bracketed paste arrives as one "line" holding newlines: run each line.
                for line in text.split(['\n', '\r']) {
                    signals::clear_interrupt();
                    match session.run_line(line, &mut stdout, &mut stderr) {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Exit) => break 'shell,
                        Err(f) => writeln!(stderr, "error: {f}")?,
                    }
                    // Ctrl-C also drops the rest of a paste.
                    if signals::interrupted() {
                        break;
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                if let Some(n) = session.abort_batch() {
                    writeln!(stderr, "batch aborted ({} discarded)", operations(n))?;
                }
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                failed = Some(to_io(e));
                break;
            }
        }
    }
    // After SIGHUP the terminal may be gone: what is left to say must not stop the shell from
    // returning (and the caller from closing the database).
    let signal = signal.or_else(signals::terminated);
    if let Some(n) = session.abort_batch() {
        let _ = writeln!(
            stderr,
            "warning: left inside a batch; its {} not applied",
            were(n)
        );
    }
    drop(prompts);
    if reading {
        // The editor waits for a key and keeps the terminal in its raw mode until the process
        // ends: give its database handle back (closing needs the last one) and restore the mode.
        helper_db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        #[cfg(unix)]
        if let Some(mode) = terminal_mode {
            let _ = nix::sys::termios::tcsetattr(
                io::stdin(),
                nix::sys::termios::SetArg::TCSADRAIN,
                &mode,
            );
        }
        let _ = writeln!(stderr);
    } else {
        let _ = editor.join();
    }
    if let Some(e) = failed
        && signal.is_none()
    {
        return Err(e);
    }
    // Failures in an interactive session were seen by the user; they do not fail the process.
    Ok(RunSummary {
        signal,
        ..RunSummary::default()
    })
}

/// Runs the shell on the process's stdin: interactive when it is a terminal, a script otherwise.
/// A script ends at SIGINT, SIGTERM or SIGHUP (the running command stops); the summary names the
/// signal.
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
        return run_interactive(db, history, mode);
    }
    // Lines are read on a thread so that a signal ends the shell while it waits for one.
    let (tx, rx) = mpsc::sync_channel::<Input<io::Result<String>>>(64);
    let wake = tx.clone();
    signals::watch(false, move |sig| {
        let _ = wake.try_send(Input::Signal(sig));
    })?;
    thread::Builder::new()
        .name("lsmkv-stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                if tx.send(Input::Line(line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Input::End);
        })?;
    script(
        db,
        rx.into_iter(),
        &mut io::stdout().lock(),
        &mut io::stderr(),
        bail,
        mode,
    )
}

/// `1 operation was` / `n operations were`.
fn were(n: usize) -> String {
    if n == 1 {
        "1 operation was".to_string()
    } else {
        format!("{n} operations were")
    }
}
