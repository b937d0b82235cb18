//! Running commands against a database: a [`Session`] holds the shell's state (the `.timer`
//! switch and a multi-line `batch` being collected) and writes results as they are produced, so
//! a long scan streams instead of being buffered.

use std::io::Write;
use std::time::Instant;

use lsmkv::{Db, WriteBatch};

use crate::failure::Failure;
use crate::help::{help_for, help_text};
use crate::output::{OutputMode, levels_text, quoted, stats_json, write_entry};
use crate::parse::{BatchOp, Command, parse_line};

/// Entries shown by `scan`, `prefix` and `search` when no LIMIT is given.
pub const DEFAULT_LIMIT: usize = 100;

/// Whether the shell goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave the shell.
    Exit,
}

/// The shell's state across lines.
pub struct Session<'a> {
    db: &'a Db,
    timer: bool,
    /// A `batch` being collected line by line.
    pending: Option<WriteBatch>,
}

impl<'a> Session<'a> {
    /// A session on `db`.
    pub fn new(db: &'a Db) -> Self {
        Session {
            db,
            timer: false,
            pending: None,
        }
    }

    /// The database.
    pub fn db(&self) -> &'a Db {
        self.db
    }

    /// The prompt for the next line: `batch> ` while a batch is being collected.
    pub fn prompt(&self) -> &'static str {
        if self.pending.is_some() {
            "batch> "
        } else {
            "lsmkv> "
        }
    }

    /// Number of operations in an unfinished `batch`, if one is open.
    pub fn pending_ops(&self) -> Option<usize> {
        self.pending.as_ref().map(WriteBatch::len)
    }

    /// Drops an unfinished `batch` (Ctrl-C, end of input).
    pub fn abort_batch(&mut self) -> Option<usize> {
        self.pending.take().map(|b| b.len())
    }

    /// Parses and runs one line, writing its output to `out`.
    ///
    /// # Errors
    /// A [`Failure`] to show the user; the session stays usable.
    pub fn run_line(&mut self, line: &str, out: &mut dyn Write) -> Result<Flow, Failure> {
        let Some(cmd) = parse_line(line).map_err(Failure::usage)? else {
            return Ok(Flow::Continue);
        };
        let started = Instant::now();
        let flow = self.execute(&cmd, out)?;
        if self.timer && !matches!(cmd, Command::Timer(_)) {
            writeln!(out, "Time: {:.3} ms", started.elapsed().as_secs_f64() * 1e3)?;
        }
        out.flush()?;
        Ok(flow)
    }

    /// Runs one command.
    ///
    /// # Errors
    /// The engine's error or a usage error, as a [`Failure`].
    pub fn execute(&mut self, cmd: &Command, out: &mut dyn Write) -> Result<Flow, Failure> {
        if self.pending.is_some() && self.collect(cmd, out)? {
            return Ok(Flow::Continue);
        }
        let db = self.db;
        match cmd {
            Command::Put { key, value } => {
                db.put(key, value)?;
                writeln!(out, "OK")?;
            }
            Command::Get { key } => match db.get(key)? {
                Some(v) => writeln!(out, "{}", quoted(&v))?,
                None => writeln!(out, "(nil)")?,
            },
            Command::Delete { key } => {
                db.delete(key)?;
                writeln!(out, "OK")?;
            }
            Command::Scan {
                start,
                end,
                limit,
                reverse,
            } => scan(db, start.as_deref(), end.as_deref(), *limit, *reverse, out)?,
            Command::Prefix { prefix, limit } => {
                list(db.prefix(prefix), limit.unwrap_or(DEFAULT_LIMIT), out)?;
            }
            Command::Search { needle, limit } => search(db, needle, *limit, out)?,
            Command::Count => {
                let exact = count_keys(db)?;
                writeln!(out, "{exact} (estimate {})", db.len_estimate())?;
            }
            Command::Batch(ops) => write_batch(db, ops, out)?,
            Command::BatchBegin => {
                self.pending = Some(WriteBatch::new());
                writeln!(out, "batch: enter put/delete lines, then commit (or abort)")?;
            }
            Command::Commit | Command::Abort => {
                return Err(Failure::usage("no batch is open; start one with batch"));
            }
            Command::Flush => {
                db.flush()?;
                writeln!(out, "OK")?;
            }
            Command::Compact => {
                db.compact()?;
                writeln!(out, "OK")?;
            }
            Command::Stats(section) => {
                let json = stats_json(&db.stats(), *section);
                let text = serde_json::to_string_pretty(&json).unwrap_or_default();
                writeln!(out, "{text}")?;
            }
            Command::Levels => writeln!(out, "{}", levels_text(&db.tables()))?,
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
            Command::Put { key, value } => batch.put(key, value),
            Command::Delete { key } => batch.delete(key),
            Command::Commit => {
                let batch = self.pending.take().unwrap_or_default();
                let n = batch.len();
                self.db.write(batch)?;
                writeln!(out, "OK ({n} operations)")?;
            }
            Command::Abort => {
                let n = self.abort_batch().unwrap_or(0);
                writeln!(out, "aborted ({n} operations discarded)")?;
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

/// `scan` / `rscan`: keys in `[start, end)`, at most `limit` (default [`DEFAULT_LIMIT`]).
fn scan(
    db: &Db,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
    limit: Option<usize>,
    reverse: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let it = match (start, end) {
        (Some(s), Some(e)) => db.range(s..e),
        (Some(s), None) => db.range(s..),
        (None, _) => db.range::<&[u8], _>(..),
    };
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if reverse {
        list(it.rev(), limit, out)
    } else {
        list(it, limit, out)
    }
}

/// `search`: entries whose key or value contains `needle`.
fn search(
    db: &Db,
    needle: &[u8],
    limit: Option<usize>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    let found = db.search_substring(needle, limit.saturating_add(1))?;
    list(found.into_iter().map(Ok), limit, out)
}

/// A one-line `batch`: applies its puts and deletes atomically.
fn write_batch(db: &Db, ops: &[BatchOp], out: &mut dyn Write) -> Result<(), Failure> {
    let mut b = WriteBatch::new();
    for op in ops {
        match op {
            BatchOp::Put(k, v) => b.put(k, v),
            BatchOp::Delete(k) => b.delete(k),
        }
    }
    let n = b.len();
    db.write(b)?;
    writeln!(out, "OK ({n} operations)")?;
    Ok(())
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

/// Prints up to `limit` entries of `it`, then a note if more follow.
fn list<I, K, V>(it: I, limit: usize, out: &mut dyn Write) -> Result<(), Failure>
where
    I: Iterator<Item = lsmkv::Result<(K, V)>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut n = 0usize;
    for kv in it {
        let (k, v) = kv?;
        if n == limit {
            writeln!(
                out,
                "(limit of {limit} reached; give a larger LIMIT for more)"
            )?;
            return Ok(());
        }
        write_entry(out, OutputMode::Text, k.as_ref(), v.as_ref())?;
        n += 1;
    }
    if n == 0 {
        writeln!(out, "(empty)")?;
    }
    Ok(())
}

/// Live keys, by a full scan.
///
/// # Errors
/// A damaged block on the way.
pub fn count_keys(db: &Db) -> lsmkv::Result<u64> {
    let mut n = 0u64;
    for kv in db.range::<&[u8], _>(..) {
        kv?;
        n += 1;
    }
    Ok(n)
}
