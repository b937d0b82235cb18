//! The shell's two front ends: a script read line by line (stdin not a terminal) and the
//! interactive rustyline editor with history, completion and hints.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::thread;

use lsmkv::Db;
use rustyline::error::ReadlineError;

use crate::backend::Backend;
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
pub fn run_script<'a>(
    db: impl Into<Backend<'a>>,
    input: impl BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
    bail: bool,
    mode: OutputMode,
) -> io::Result<RunSummary> {
    script(
        db.into(),
        input.lines().map(Input::Line),
        out,
        err,
        bail,
        mode,
    )
}

/// [`run_script`] over lines that may be cut short by a signal.
fn script(
    db: Backend<'_>,
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
pub fn run_interactive<'a>(
    db: impl Into<Backend<'a>>,
    history: Option<&Path>,
    mode: OutputMode,
) -> io::Result<RunSummary> {
    let db: Backend<'a> = db.into();
    let (rl, helper_db) = new_editor(db, history)?;
    #[cfg(unix)]
    let terminal_mode = nix::sys::termios::tcgetattr(io::stdin()).ok();

    let (tx, rx) = mpsc::channel::<Input<rustyline::Result<String>>>();
    let wake = tx.clone();
    signals::watch(true, move |sig| {
        let _ = wake.send(Input::Signal(sig));
    })?;
    let (prompts, editor) = spawn_editor(rl, history.map(Path::to_path_buf), tx)?;

    let mut stderr = io::stderr();
    let mut session = Session::new(db, mode);
    session.set_confirm(Box::new(ask));
    let ended = edit_loop(&mut session, &prompts, &rx)?;
    let (signal, reading, failed) = (ended.signal, ended.reading, ended.failed);
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
        #[cfg(unix)]
        release_terminal(&helper_db, terminal_mode);
        #[cfg(not(unix))]
        release_terminal(&helper_db);
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

/// Asks `question` on the terminal and reads the answer (the editor is not reading meanwhile: it
/// reads only when the loop sends it a prompt). Yes is `y` or `yes`.
fn ask(question: &str) -> io::Result<bool> {
    let mut err = io::stderr();
    write!(err, "{question}")?;
    err.flush()?;
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    let a = answer.trim().to_ascii_lowercase();
    Ok(a == "y" || a == "yes")
}

/// The editor waits for a key and keeps the terminal in its raw mode until the process ends:
/// take back its database handle (closing needs the last one) and restore the terminal's mode.
fn release_terminal(
    helper_db: &SharedDb,
    #[cfg(unix)] terminal_mode: Option<nix::sys::termios::Termios>,
) {
    helper_db
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    #[cfg(unix)]
    if let Some(mode) = terminal_mode {
        let _ =
            nix::sys::termios::tcsetattr(io::stdin(), nix::sys::termios::SetArg::TCSADRAIN, &mode);
    }
}

/// How the interactive loop ended.
struct Ended {
    /// The signal that ended it, if one did.
    signal: Option<i32>,
    /// Whether the editor was asked for a line it has not returned (it may wait for a key).
    reading: bool,
    /// A terminal error that ended it.
    failed: Option<io::Error>,
}

/// Prompts, reads and runs lines until `quit`, end of input, a terminating signal or a terminal
/// error. Ctrl-C at the prompt aborts an open batch.
fn edit_loop(
    session: &mut Session,
    prompts: &mpsc::Sender<Prompt>,
    lines: &mpsc::Receiver<Input<rustyline::Result<String>>>,
) -> io::Result<Ended> {
    let (mut stdout, mut stderr) = (io::stdout(), io::stderr());
    let mut ended = Ended {
        signal: None,
        reading: false,
        failed: None,
    };
    loop {
        ended.signal = signals::terminated();
        let prompt = Prompt {
            text: session.prompt(),
            keyspace: session.keyspace().to_string(),
        };
        if ended.signal.is_some() || prompts.send(prompt).is_err() {
            return Ok(ended);
        }
        ended.reading = true;
        let read = match lines.recv() {
            Ok(Input::Line(read)) => read,
            Ok(Input::Signal(sig)) => {
                ended.signal = Some(sig);
                return Ok(ended);
            }
            Ok(Input::End) | Err(_) => return Ok(ended),
        };
        ended.reading = false;
        match read {
            Ok(text) => {
                if run_pasted(session, &text, &mut stdout, &mut stderr)? == Flow::Exit {
                    return Ok(ended);
                }
            }
            Err(ReadlineError::Interrupted) => {
                if let Some(n) = session.abort_batch() {
                    writeln!(stderr, "batch aborted ({} discarded)", operations(n))?;
                }
            }
            Err(ReadlineError::Eof) => return Ok(ended),
            Err(e) => {
                ended.failed = Some(readline_io(e));
                return Ok(ended);
            }
        }
    }
}

type ShellEditor = rustyline::Editor<editor::ShellHelper, rustyline::history::DefaultHistory>;

/// What the loop asks the editor thread for: a line, with this prompt; keys are completed from
/// this keyspace.
struct Prompt {
    text: String,
    keyspace: String,
}

/// The editor's handle on the database (`None` once the shell took it back).
type SharedDb = Arc<Mutex<Option<Db>>>;

fn readline_io(e: ReadlineError) -> io::Error {
    match e {
        ReadlineError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// The line editor with completion and hints over `db` (keys read from the database or the
/// server), and its history loaded. Also returns the editor's handle on a local database, which
/// the shell takes back before the caller closes it.
fn new_editor(db: Backend<'_>, history: Option<&Path>) -> io::Result<(ShellEditor, SharedDb)> {
    let config = rustyline::Config::builder()
        .completion_type(rustyline::CompletionType::List)
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_err(readline_io)?
        .build();
    let mut rl = ShellEditor::with_config(config).map_err(readline_io)?;
    let helper_db = Arc::new(Mutex::new(db.db().cloned()));
    // (The helper holds the database, not a keyspace handle: `use` changes the keyspace.)
    let helper = match db {
        Backend::Local(_) => editor::ShellHelper::new(Arc::clone(&helper_db)),
        Backend::Remote(c) => editor::ShellHelper::remote(c.clone()),
    };
    rl.set_helper(Some(helper));
    if let Some(h) = history {
        // A missing history file is normal on first use.
        let _ = rl.load_history(h);
    }
    Ok((rl, helper_db))
}

/// Starts the editor thread: for each prompt it receives it reads a line, records it in the
/// history (appended to `history_file` line by line, so that a signal ending the shell loses
/// none) and sends it to `lines`. Returns the prompt sender and the thread.
fn spawn_editor(
    mut rl: ShellEditor,
    history_file: Option<PathBuf>,
    lines: mpsc::Sender<Input<rustyline::Result<String>>>,
) -> io::Result<(mpsc::Sender<Prompt>, thread::JoinHandle<()>)> {
    let (prompts, prompt_rx) = mpsc::channel::<Prompt>();
    let editor = thread::Builder::new()
        .name("lsmkv-editor".into())
        .spawn(move || {
            let mut warned = false;
            while let Ok(prompt) = prompt_rx.recv() {
                if let Some(h) = rl.helper_mut() {
                    h.set_keyspace(&prompt.keyspace);
                }
                let read = rl.readline(&prompt.text);
                if let Ok(text) = &read {
                    for line in text.split(['\n', '\r']) {
                        if !line.trim().is_empty() {
                            let _ = rl.add_history_entry(line);
                        }
                    }
                    if let Some(h) = &history_file
                        && let Err(e) = rl.append_history(h)
                        && !warned
                    {
                        warned = true;
                        eprintln!("warning: could not save history to {}: {e}", h.display());
                    }
                }
                if lines.send(Input::Line(read)).is_err() {
                    break;
                }
            }
        })?;
    Ok((prompts, editor))
}

/// Runs what the editor returned: one line, or a bracketed paste that arrives as one "line"
/// holding newlines, run line by line. Ctrl-C stops the running command and drops the rest of
/// the paste.
fn run_pasted(
    session: &mut Session,
    text: &str,
    stdout: &mut io::Stdout,
    stderr: &mut io::Stderr,
) -> io::Result<Flow> {
    for line in text.split(['\n', '\r']) {
        signals::clear_interrupt();
        match session.run_line(line, stdout, stderr) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit) => return Ok(Flow::Exit),
            Err(f) => writeln!(stderr, "error: {f}")?,
        }
        if signals::interrupted() {
            break;
        }
    }
    Ok(Flow::Continue)
}

/// Runs the shell on the process's stdin: interactive when it is a terminal, a script otherwise.
/// A script ends at SIGINT, SIGTERM or SIGHUP (the running command stops); the summary names the
/// signal.
///
/// # Errors
/// I/O errors of stdin/stdout/stderr.
pub fn run<'a>(
    db: impl Into<Backend<'a>>,
    history: Option<&Path>,
    bail: bool,
    mode: OutputMode,
) -> io::Result<RunSummary> {
    let db: Backend<'a> = db.into();
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
