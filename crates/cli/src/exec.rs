//! Running commands against a database: a [`Session`] holds the shell's state (the keyspace it
//! is in, the `.timer` switch and a multi-line `batch` being collected) and writes results as
//! they are produced, so a long scan streams instead of being buffered.

use std::io::Write;
use std::time::Instant;

use lsmkv::Keyspace;

use serde_json::json;

use crate::backend::{Backend, open_keyspace};
use crate::cli;
use crate::failure::Failure;
use crate::help::{help_for, help_text};
use crate::output::{OutputMode, quoted, write_entry};
use crate::parse::{BatchOp, Command, parse_line};
use crate::remote::{Client, DEFAULT_KEYSPACE};

/// Entries shown by `scan`, `prefix` and `search` (in the shell and as subcommands) when no
/// LIMIT is given. A LIMIT of 0 means no limit.
pub const DEFAULT_LIMIT: usize = 100;

/// The entry count a LIMIT asks for: `None` for the default, 0 for all.
pub fn effective_limit(limit: Option<usize>) -> usize {
    match limit {
        None => DEFAULT_LIMIT,
        Some(0) => usize::MAX,
        Some(n) => n,
    }
}

/// `n operations` / `1 operation`.
pub fn operations(n: usize) -> String {
    if n == 1 {
        "1 operation".to_string()
    } else {
        format!("{n} operations")
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

/// What a session runs against: a keyspace of a local database, or a server's (its client acts
/// on one keyspace). `use` replaces it.
enum Target {
    Local(Keyspace),
    Remote(Client),
}

/// Asks the user a yes/no question (on a terminal); `Ok(true)` for yes.
pub type Confirm = Box<dyn FnMut(&str) -> std::io::Result<bool>>;

/// The shell's state across lines.
pub struct Session {
    target: Target,
    mode: OutputMode,
    timer: bool,
    /// A `batch` being collected line by line.
    pending: Option<Vec<BatchOp>>,
    /// How `drop-keyspace` without `--yes` asks (interactive shells only).
    confirm: Option<Confirm>,
}

impl Session {
    /// A session on `db` (a keyspace of a [`lsmkv::Db`], or a [`Client`]) printing results as
    /// `mode` says.
    pub fn new<'a>(db: impl Into<Backend<'a>>, mode: OutputMode) -> Self {
        let target = match db.into() {
            Backend::Local(ks) => Target::Local(ks.clone()),
            Backend::Remote(c) => Target::Remote(c.clone()),
        };
        Session {
            target,
            mode,
            timer: false,
            pending: None,
            confirm: None,
        }
    }

    /// Lets `drop-keyspace` ask through `confirm` instead of requiring `--yes`.
    pub fn set_confirm(&mut self, confirm: Confirm) {
        self.confirm = Some(confirm);
    }

    /// What the session runs against.
    pub fn backend(&self) -> Backend<'_> {
        match &self.target {
            Target::Local(ks) => Backend::Local(ks),
            Target::Remote(c) => Backend::Remote(c),
        }
    }

    /// The keyspace the commands act on.
    pub fn keyspace(&self) -> &str {
        self.backend().keyspace()
    }

    /// The prompt for the next line: `lsmkv> `, or `batch> ` while a batch is being collected;
    /// outside the default keyspace with its name (`lsmkv:logs> `).
    pub fn prompt(&self) -> String {
        let what = if self.pending.is_some() {
            "batch"
        } else {
            "lsmkv"
        };
        match self.keyspace() {
            DEFAULT_KEYSPACE => format!("{what}> "),
            ks => format!("{what}:{ks}> "),
        }
    }

    /// Number of operations in an unfinished `batch`, if one is open.
    pub fn pending_ops(&self) -> Option<usize> {
        self.pending.as_ref().map(Vec::len)
    }

    /// Drops an unfinished `batch` (Ctrl-C, end of input).
    pub fn abort_batch(&mut self) -> Option<usize> {
        self.pending.take().map(|b| b.len())
    }

    /// Parses and runs one line, writing its results to `out` and notes (the batch banner, "limit
    /// reached") to `err`.
    ///
    /// # Errors
    /// A [`Failure`] to show the user; the session stays usable.
    pub fn run_line(
        &mut self,
        line: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<Flow, Failure> {
        let Some(cmd) = parse_line(line).map_err(Failure::usage)? else {
            return Ok(Flow::Continue);
        };
        let started = Instant::now();
        let flow = self.execute(&cmd, out, err)?;
        if self.timer && !matches!(cmd, Command::Timer(_)) {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            if self.mode == OutputMode::Text {
                writeln!(out, "Time: {ms:.3} ms")?;
            } else {
                writeln!(err, "Time: {ms:.3} ms")?;
            }
        }
        out.flush()?;
        Ok(flow)
    }

    /// Runs one command.
    ///
    /// # Errors
    /// The engine's error or a usage error, as a [`Failure`].
    pub fn execute(
        &mut self,
        cmd: &Command,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<Flow, Failure> {
        if self.pending.is_some() && self.collect(cmd, out)? {
            return Ok(Flow::Continue);
        }
        if self.with_session(cmd, out, err)? {
            return Ok(Flow::Continue);
        }
        let mode = self.mode;
        let db = self.backend();
        let lister = Lister { mode, out, err };
        match cmd {
            Command::Put { key, value, ttl } => {
                _ = cli::put(db, key, value, *ttl, mode, lister.out)?;
            }
            Command::Get { key } => _ = cli::get(db, key, mode, lister.out)?,
            Command::Delete { key } => _ = cli::delete(db, key, mode, lister.out)?,
            Command::Scan {
                start,
                end,
                limit,
                reverse,
            } => scan(
                db,
                start.as_deref(),
                end.as_deref(),
                *limit,
                *reverse,
                lister,
            )?,
            Command::Prefix { prefix, limit } => match db {
                Backend::Local(ks) => lister.list(ks.prefix(prefix), effective_limit(*limit))?,
                Backend::Remote(c) => {
                    let limit = effective_limit(*limit);
                    let pages = c.prefix(prefix, false)?.with_page(limit.saturating_add(1));
                    lister.list(pages, limit)?
                }
            },
            Command::Search { needle, limit } => search(db, needle, *limit, lister)?,
            Command::Count => _ = cli::count(db, mode, lister.out)?,
            Command::Batch(ops) => write_batch(db, ops, mode, lister.out)?,
            Command::BatchBegin => {
                self.pending = Some(Vec::new());
                writeln!(
                    lister.err,
                    "batch: enter put/delete lines, then commit (or abort)"
                )?;
            }
            Command::Commit | Command::Abort => {
                return Err(Failure::usage("no batch is open; start one with batch"));
            }
            Command::Flush => _ = cli::flush(db, mode, lister.out)?,
            Command::Compact => _ = cli::compact(db, mode, lister.out)?,
            Command::Stats(section) => _ = cli::stats(db, *section, mode, lister.out)?,
            Command::Levels => _ = cli::levels(db, mode, lister.out)?,
            Command::Keyspaces => _ = cli::keyspaces(db, mode, lister.out)?,
            Command::CreateKeyspace { name, options } => {
                _ = cli::create_keyspace(db, name, options, mode, lister.out)?;
            }
            // Handled above: they change the session, or ask first.
            Command::Use(_)
            | Command::DropKeyspace { .. }
            | Command::DeleteRange { .. }
            | Command::DeletePrefix { .. } => {}
            Command::Help(name) => help(name.as_deref(), out)?,
            Command::Timer(on) => {
                self.timer = *on;
                writeln!(out, "timer {}", if *on { "on" } else { "off" })?;
            }
            Command::Exit => return Ok(Flow::Exit),
        }
        Ok(Flow::Continue)
    }

    /// Inside an open `batch`: collects a put or delete, or ends the batch with `commit` or
    /// `abort`. Returns whether `cmd` was handled; `help` and `.timer` are not and run as usual.
    ///
    /// # Errors
    /// Any other command (a usage error), or the engine's error on `commit`.
    fn collect(&mut self, cmd: &Command, out: &mut dyn Write) -> Result<bool, Failure> {
        let Some(batch) = &mut self.pending else {
            return Ok(false);
        };
        match cmd {
            Command::Put { ttl: Some(_), .. } => {
                return Err(Failure::usage(
                    "ttl= is not taken inside a batch; put the expiring value outside it",
                ));
            }
            Command::Put { key, value, .. } => {
                batch.push(BatchOp::Put(key.clone(), value.clone()));
            }
            Command::Delete { key } => batch.push(BatchOp::Delete(key.clone())),
            Command::Commit => {
                let batch = self.pending.take().unwrap_or_default();
                let n = batch.len();
                self.backend().write(&batch)?;
                batch_ok(n, self.mode, out)?;
            }
            Command::Abort => {
                let n = self.abort_batch().unwrap_or(0);
                match self.mode {
                    OutputMode::Text => {
                        writeln!(out, "aborted ({} discarded)", operations(n))?;
                    }
                    OutputMode::Json => writeln!(out, "{}", json!({"aborted": n}))?,
                    OutputMode::Raw => {}
                }
            }
            Command::Help(_) | Command::Timer(_) => return Ok(false),
            _ => {
                return Err(Failure::usage(
                    "inside a batch only put, delete, commit and abort are allowed",
                ));
            }
        }
        Ok(true)
    }
}

impl Session {
    /// `use NAME`: the keyspace must exist (locally; on the server, asked for its statistics).
    ///
    /// # Errors
    /// It does not exist; the engine's or the server's error.
    fn switch(&mut self, name: &str) -> Result<(), Failure> {
        self.target = match &self.target {
            Target::Local(ks) => Target::Local(open_keyspace(ks.db(), name)?),
            Target::Remote(c) => {
                let c = c.with_keyspace(name);
                c.keyspace_stats(name)?;
                Target::Remote(c)
            }
        };
        Ok(())
    }

    /// `drop-keyspace NAME [--yes]`: without `--yes`, asks through the session's confirmation
    /// (an interactive shell) or refuses (a script). Dropping the current keyspace goes back to
    /// `default`.
    ///
    /// # Errors
    /// No `--yes` and nobody to ask; the engine's or the server's error.
    fn drop_keyspace(
        &mut self,
        name: &str,
        yes: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<(), Failure> {
        if !yes {
            let Some(confirm) = self.confirm.as_mut() else {
                return Err(Failure::usage(format!(
                    "drop-keyspace deletes {} and all its keys: add --yes to confirm",
                    quoted(name.as_bytes())
                )));
            };
            let question = format!(
                "drop keyspace {} and all its keys? [y/N] ",
                quoted(name.as_bytes())
            );
            if !confirm(&question)? {
                writeln!(err, "not dropped")?;
                return Ok(());
            }
        }
        cli::drop_keyspace(self.backend(), name, self.mode, out)?;
        if self.keyspace() == name {
            self.switch(DEFAULT_KEYSPACE)?;
            writeln!(err, "(back in keyspace \"default\")")?;
        }
        Ok(())
    }
}

impl Session {
    /// The commands that change the session or ask first: `use`, `drop-keyspace`,
    /// `delete-range`, `delete-prefix`. Returns whether `cmd` was one of them.
    ///
    /// # Errors
    /// As the command's.
    fn with_session(
        &mut self,
        cmd: &Command,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<bool, Failure> {
        match cmd {
            Command::Use(name) => self.switch(name)?,
            Command::DropKeyspace { name, yes } => self.drop_keyspace(name, *yes, out, err)?,
            Command::DeleteRange { start, end, yes } => {
                self.range_delete(cli::RangeDelete::Range(start, end), *yes, out, err)?;
            }
            Command::DeletePrefix { prefix, yes } => {
                self.range_delete(cli::RangeDelete::Prefix(prefix), *yes, out, err)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `delete-range` / `delete-prefix` without `--yes`: asks through the session's
    /// confirmation (an interactive shell) or refuses (a script), as `drop-keyspace` does.
    ///
    /// # Errors
    /// No `--yes` and nobody to ask; the engine's or the server's error.
    fn range_delete(
        &mut self,
        what: cli::RangeDelete<'_>,
        yes: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<(), Failure> {
        if !yes {
            let question = cli::range_question(&what, self.keyspace());
            let Some(confirm) = self.confirm.as_mut() else {
                let name = match what {
                    cli::RangeDelete::Range(..) => "delete-range",
                    cli::RangeDelete::Prefix(_) => "delete-prefix",
                };
                return Err(Failure::usage(format!(
                    "{name} deletes every key it covers: add --yes to confirm"
                )));
            };
            if !confirm(&question)? {
                writeln!(err, "not deleted")?;
                return Ok(());
            }
        }
        cli::run_range_delete(self.backend(), what, self.mode, out)?;
        Ok(())
    }
}

/// `scan` / `rscan`: keys in `[start, end)`, at most `limit` (default [`DEFAULT_LIMIT`]).
fn scan(
    db: Backend<'_>,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    limit: Option<usize>,
    reverse: bool,
    lister: Lister<'_>,
) -> Result<(), Failure> {
    let ks = match db {
        Backend::Local(ks) => ks,
        Backend::Remote(c) => {
            let limit = effective_limit(limit);
            let pages = c.range(start, end, reverse)?;
            return lister.list(pages.with_page(limit.saturating_add(1)), limit);
        }
    };
    let it = match (start, end) {
        (Some(s), Some(e)) => ks.range(s..e),
        (Some(s), None) => ks.range(s..),
        (None, _) => ks.range::<&[u8], _>(..),
    };
    let limit = effective_limit(limit);
    if reverse {
        lister.list(it.rev(), limit)
    } else {
        lister.list(it, limit)
    }
}

/// `search`: entries whose key or value contains `needle`.
fn search(
    db: Backend<'_>,
    needle: &[u8],
    limit: Option<usize>,
    lister: Lister<'_>,
) -> Result<(), Failure> {
    let limit = effective_limit(limit);
    let ks = match db {
        Backend::Local(ks) => ks,
        Backend::Remote(c) => {
            let pages = c.search(needle)?.with_page(limit.saturating_add(1));
            return lister.list(pages, limit);
        }
    };
    let found = ks.search_substring(needle, limit.saturating_add(1))?;
    lister.list(found.into_iter().map(Ok::<_, Failure>), limit)
}

/// `OK (n operations)`, `{"ok":true,"operations":n}`, or nothing with `--raw`.
fn batch_ok(n: usize, mode: OutputMode, out: &mut dyn Write) -> Result<(), Failure> {
    match mode {
        OutputMode::Text => writeln!(out, "OK ({})", operations(n))?,
        OutputMode::Json => writeln!(out, "{}", json!({"ok": true, "operations": n}))?,
        OutputMode::Raw => {}
    }
    Ok(())
}

/// A one-line `batch`: applies its puts and deletes atomically.
fn write_batch(
    db: Backend<'_>,
    ops: &[BatchOp],
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    db.write(ops)?;
    batch_ok(ops.len(), mode, out)
}

/// `help` (the list) or `help NAME` (one command).
fn help(name: Option<&str>, out: &mut dyn Write) -> Result<(), Failure> {
    let Some(name) = name else {
        writeln!(out, "{}", help_text())?;
        return Ok(());
    };
    match help_for(name) {
        Some(text) => writeln!(out, "{text}")?,
        None => {
            return Err(Failure::usage(format!(
                "no command named {}; type help for the list",
                quoted(name.as_bytes())
            )));
        }
    }
    Ok(())
}

/// Where a listing goes: entries to `out` in `mode`, notes to `err`.
pub struct Lister<'w> {
    pub mode: OutputMode,
    pub out: &'w mut dyn Write,
    pub err: &'w mut dyn Write,
}

impl Lister<'_> {
    /// Prints up to `limit` entries of `it`, then a note (on `err`) if more follow. An empty
    /// listing prints `(empty)` in text mode and nothing otherwise.
    ///
    /// # Errors
    /// The engine's error, I/O errors of `out`/`err`.
    pub fn list<I, K, V, E>(self, it: I, limit: usize) -> Result<(), Failure>
    where
        I: Iterator<Item = Result<(K, V), E>>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
        Failure: From<E>,
    {
        let mut n = 0usize;
        for kv in it {
            if crate::signals::interrupted() {
                self.out.flush()?;
                return Err(Failure::interrupted());
            }
            let (k, v) = kv?;
            if n == limit {
                self.out.flush()?;
                writeln!(
                    self.err,
                    "(limit of {limit} reached; give a larger LIMIT, or 0 for all)"
                )?;
                return Ok(());
            }
            write_entry(self.out, self.mode, k.as_ref(), v.as_ref())?;
            n += 1;
        }
        if n == 0 && self.mode == OutputMode::Text {
            writeln!(self.out, "(empty)")?;
        }
        Ok(())
    }
}

/// Live keys of keyspace `ks`, by a full scan.
///
/// # Errors
/// A damaged block on the way, or Ctrl-C in the shell ([`Failure::interrupted`]).
pub fn count_keys(ks: &Keyspace) -> Result<u64, Failure> {
    let mut n = 0u64;
    // Borrowed entries: counting takes no reference count per key.
    let mut it = ks.range::<&[u8], _>(..);
    while let Some(kv) = it.next_ref() {
        if crate::signals::interrupted() {
            return Err(Failure::interrupted());
        }
        kv?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals;

    #[test]
    fn ctrl_c_stops_listings_and_count() {
        let d = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let db = lsmkv::Db::open(d.path(), lsmkv::Options::default())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let ks = db
            .keyspace("default")
            .unwrap_or_else(|e| unreachable!("{e}"));
        for i in 0..10 {
            db.put(format!("k{i}"), "v")
                .unwrap_or_else(|e| unreachable!("{e}"));
        }
        signals::interrupt();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let listed = Lister {
            mode: OutputMode::Text,
            out: &mut out,
            err: &mut err,
        }
        .list(db.prefix("k"), 100);
        let counted = count_keys(&ks);
        signals::clear_interrupt();
        assert_eq!(listed, Err(Failure::interrupted()));
        assert_eq!(counted, Err(Failure::interrupted()));
        assert_eq!(count_keys(&ks), Ok(10));
        drop(ks);
        db.close().unwrap_or_else(|e| unreachable!("{e}"));
    }
}
