//! The one-shot subcommands of the `lsmkv` binary (`lsmkv get KEY`, `lsmkv scan`, ...): each runs
//! one operation on one keyspace (the [`Backend`]'s), prints it in the chosen [`OutputMode`] and
//! returns the exit status.

use std::io::Write;

use serde::Serialize;
use serde_json::json;

use crate::backend::{Backend, KeyspaceSpec, open_keyspace};
use crate::exec::effective_limit;
use crate::failure::{Failure, exit};
use crate::output::{
    OutputMode, json_entry, levels_json, levels_text, quoted, stats_json_value, write_entry,
};
use crate::parse::StatsSection;

/// Prints the outcome of a write: `OK`, `{"ok":true}`, or nothing with `--raw`.
fn ok(out: &mut dyn Write, mode: OutputMode) -> Result<u8, Failure> {
    match mode {
        OutputMode::Text => writeln!(out, "OK")?,
        OutputMode::Json => writeln!(out, "{}", json!({"ok": true}))?,
        OutputMode::Raw => {}
    }
    Ok(exit::OK)
}

/// `lsmkv get KEY`: exit status 1 when the key does not exist.
///
/// # Errors
/// The engine's (or the server's) error.
pub fn get<'a>(
    db: impl Into<Backend<'a>>,
    key: &[u8],
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    let value = db.get(key)?;
    match (mode, &value) {
        (OutputMode::Text, Some(v)) => writeln!(out, "{}", quoted(v))?,
        (OutputMode::Text, None) => writeln!(out, "(nil)")?,
        (OutputMode::Json, v) => writeln!(out, "{}", json_entry(key, v.as_deref()))?,
        (OutputMode::Raw, Some(v)) => out.write_all(v)?,
        (OutputMode::Raw, None) => {}
    }
    Ok(if value.is_some() {
        exit::OK
    } else {
        exit::NOT_FOUND
    })
}

/// `lsmkv put KEY VALUE [ttl=SECS]`: with `ttl`, the value expires that many seconds after the
/// write.
///
/// # Errors
/// The engine's error.
pub fn put<'a>(
    db: impl Into<Backend<'a>>,
    key: &[u8],
    value: &[u8],
    ttl: Option<u64>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    match ttl {
        Some(secs) => db.put_with_ttl(key, value, std::time::Duration::from_secs(secs))?,
        None => db.put(key, value)?,
    }
    ok(out, mode)
}

/// `lsmkv delete-range START END --yes` (the caller has asked for confirmation): one range
/// delete of `[start, end)`, an empty bound being no bound.
///
/// # Errors
/// START >= END (a usage error); the engine's or the server's error.
pub fn delete_range<'a>(
    db: impl Into<Backend<'a>>,
    start: &[u8],
    end: &[u8],
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    crate::parse::check_range(start, end).map_err(Failure::usage)?;
    db.delete_range(start, end)?;
    ok(out, mode)
}

/// `lsmkv delete-prefix PREFIX --yes` (the caller has asked for confirmation): one range delete
/// of the keys starting with `prefix` (every key for an empty one).
///
/// # Errors
/// The engine's or the server's error.
pub fn delete_prefix<'a>(
    db: impl Into<Backend<'a>>,
    prefix: &[u8],
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    db.delete_prefix(prefix)?;
    ok(out, mode)
}

/// The question `delete-range` and `delete-prefix` ask before deleting.
pub fn range_question(what: &RangeDelete<'_>, keyspace: &str) -> String {
    let ks = quoted(keyspace.as_bytes());
    match what {
        RangeDelete::Prefix([]) => format!("delete every key of keyspace {ks}? [y/N] "),
        RangeDelete::Prefix(p) => {
            format!(
                "delete every key starting with {} in keyspace {ks}? [y/N] ",
                quoted(p)
            )
        }
        RangeDelete::Range([], []) => format!("delete every key of keyspace {ks}? [y/N] "),
        RangeDelete::Range(s, e) => {
            let bound = |b: &[u8], none: &str| {
                if b.is_empty() {
                    none.to_string()
                } else {
                    quoted(b)
                }
            };
            format!(
                "delete every key in [{}, {}) of keyspace {ks}? [y/N] ",
                bound(s, "first key"),
                bound(e, "end")
            )
        }
    }
}

/// What `delete-range` or `delete-prefix` deletes.
#[derive(Debug, Clone, Copy)]
pub enum RangeDelete<'a> {
    Range(&'a [u8], &'a [u8]),
    Prefix(&'a [u8]),
}

/// Runs a confirmed range delete.
///
/// # Errors
/// As [`delete_range`] and [`delete_prefix`].
pub fn run_range_delete<'a>(
    db: impl Into<Backend<'a>>,
    what: RangeDelete<'_>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    match what {
        RangeDelete::Range(s, e) => delete_range(db, s, e, mode, out),
        RangeDelete::Prefix(p) => delete_prefix(db, p, mode, out),
    }
}

/// `lsmkv delete KEY`.
///
/// # Errors
/// The engine's error.
pub fn delete<'a>(
    db: impl Into<Backend<'a>>,
    key: &[u8],
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    db.delete(key)?;
    ok(out, mode)
}

/// `lsmkv flush`.
///
/// # Errors
/// The engine's error; a usage error in client mode.
pub fn flush<'a>(
    db: impl Into<Backend<'a>>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    db.local("flush")?.flush()?;
    ok(out, mode)
}

/// `lsmkv compact`.
///
/// # Errors
/// The engine's error; a usage error in client mode.
pub fn compact<'a>(
    db: impl Into<Backend<'a>>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    db.local("compact")?.compact()?;
    ok(out, mode)
}

/// `lsmkv checkpoint DIR`: a consistent copy of the database in `dir` (see `Db::checkpoint`).
///
/// # Errors
/// The engine's error (a non-empty `dir`, another file system: usage errors); a usage error in
/// client mode.
pub fn checkpoint<'a>(
    db: impl Into<Backend<'a>>,
    dir: &std::path::Path,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    db.local("checkpoint")?.db().checkpoint(dir)?;
    ok(out, mode)
}

/// Which keys `scan`, `prefix` and `search` list.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub start: Option<Vec<u8>>,
    pub end: Option<Vec<u8>>,
    pub prefix: Option<Vec<u8>>,
    pub search: Option<Vec<u8>>,
    pub limit: Option<usize>,
    pub reverse: bool,
}

/// `lsmkv scan|prefix|search`: one entry per line (JSON lines with `--json`, `KEY<TAB>VALUE`
/// with `--raw`), at most `limit` ([`DEFAULT_LIMIT`](crate::exec::DEFAULT_LIMIT) if not given, all
/// for 0); a note on `err` when the limit cut the listing.
///
/// # Errors
/// The engine's error, I/O errors of `out`.
pub fn list<'a>(
    db: impl Into<Backend<'a>>,
    l: &Listing,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    let limit = effective_limit(l.limit);
    let ks = match db {
        Backend::Local(ks) => ks,
        Backend::Remote(c) => {
            let pages = match (&l.search, &l.prefix) {
                (Some(needle), _) => c.search(needle)?,
                (None, Some(p)) => c.prefix(p, l.reverse)?,
                (None, None) => c.range(l.start.as_deref(), l.end.as_deref(), l.reverse)?,
            };
            return emit(
                pages.with_page(limit.saturating_add(1)),
                limit,
                mode,
                out,
                err,
            );
        }
    };
    if let Some(needle) = &l.search {
        let found = ks.search_substring(needle, limit.saturating_add(1))?;
        return emit(
            found.into_iter().map(Ok::<_, Failure>),
            limit,
            mode,
            out,
            err,
        );
    }
    let it = match (&l.prefix, &l.start, &l.end) {
        (Some(p), _, _) => ks.prefix(p),
        (None, Some(s), Some(e)) => ks.range(s.as_slice()..e.as_slice()),
        (None, Some(s), None) => ks.range(s.as_slice()..),
        (None, None, Some(e)) => ks.range(..e.as_slice()),
        (None, None, None) => ks.range::<&[u8], _>(..),
    };
    if l.reverse {
        emit(it.rev(), limit, mode, out, err)
    } else {
        emit(it, limit, mode, out, err)
    }
}

/// Writes up to `limit` entries of `it`; a note on `err` if more follow.
fn emit<I, K, V, E>(
    it: I,
    limit: usize,
    mode: OutputMode,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8, Failure>
where
    I: Iterator<Item = Result<(K, V), E>>,
    K: AsRef<[u8]>,
    V: AsRef<[u8]>,
    Failure: From<E>,
{
    for (n, kv) in it.enumerate() {
        let (k, v) = kv?;
        if n == limit {
            out.flush()?;
            writeln!(
                err,
                "(limit of {limit} reached; --limit N for more, --limit 0 for all)"
            )?;
            break;
        }
        write_entry(out, mode, k.as_ref(), v.as_ref())?;
    }
    Ok(exit::OK)
}

/// `lsmkv count`: the exact count (a full scan) and the estimate.
///
/// # Errors
/// The engine's (or the server's) error.
pub fn count<'a>(
    db: impl Into<Backend<'a>>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    let (exact, estimate) = db.count()?;
    match mode {
        OutputMode::Text => writeln!(out, "{exact} (estimate {estimate})")?,
        OutputMode::Json => writeln!(out, "{}", json!({"count": exact, "estimate": estimate}))?,
        OutputMode::Raw => writeln!(out, "{exact}")?,
    }
    Ok(exit::OK)
}

/// `lsmkv stats [SECTION]`: pretty JSON, or one line with `--json`/`--raw`; `keyspace`: the
/// statistics of the backend's keyspace.
///
/// # Errors
/// I/O errors of `out`; the server's error.
pub fn stats<'a>(
    db: impl Into<Backend<'a>>,
    section: Option<StatsSection>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    let j = if section == Some(StatsSection::Keyspace) {
        db.keyspace_stats()?
    } else {
        stats_json_value(db.stats()?, section)
    };
    let text = if mode == OutputMode::Text {
        serde_json::to_string_pretty(&j)
    } else {
        serde_json::to_string(&j)
    };
    writeln!(out, "{}", text.unwrap_or_default())?;
    Ok(exit::OK)
}

/// `lsmkv levels`: the tables of the backend's keyspace.
///
/// # Errors
/// I/O errors of `out`; a usage error in client mode.
pub fn levels<'a>(
    db: impl Into<Backend<'a>>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    let ks = db.local("levels")?;
    let tables = ks.tables();
    match mode {
        OutputMode::Text => writeln!(out, "{}", levels_text(ks.name(), &tables))?,
        _ => writeln!(out, "{}", levels_json(&tables))?,
    }
    Ok(exit::OK)
}

/// `lsmkv keyspaces`: every keyspace with its number of keys (exact, by a full scan of each):
/// `"NAME" N keys`, `{"keyspace": NAME, "keys": N}` lines with `--json`, `NAME<TAB>N` with
/// `--raw`.
///
/// # Errors
/// The engine's or the server's error, Ctrl-C.
pub fn keyspaces<'a>(
    db: impl Into<Backend<'a>>,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    for name in db.keyspace_names()? {
        let n = match db {
            Backend::Local(ks) => crate::exec::count_keys(&open_keyspace(ks.db(), &name)?)?,
            Backend::Remote(c) => c.with_keyspace(&name).count()?,
        };
        match mode {
            OutputMode::Text => {
                let unit = if n == 1 { "key" } else { "keys" };
                writeln!(out, "{} {n} {unit}", quoted(name.as_bytes()))?;
            }
            OutputMode::Json => writeln!(out, "{}", json!({"keyspace": name, "keys": n}))?,
            OutputMode::Raw => writeln!(out, "{name}\t{n}")?,
        }
    }
    Ok(exit::OK)
}

/// `lsmkv create-keyspace NAME [OPTION=VALUE]...`.
///
/// # Errors
/// A keyspace of that name exists, a bad option (usage errors); the engine's or the server's
/// error.
pub fn create_keyspace<'a>(
    db: impl Into<Backend<'a>>,
    name: &str,
    options: &[String],
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    let spec = KeyspaceSpec::parse(options).map_err(Failure::usage)?;
    db.create_keyspace(name, &spec)?;
    ok(out, mode)
}

/// `lsmkv drop-keyspace NAME --yes` (the caller has asked for confirmation).
///
/// # Errors
/// `default`, or a keyspace that does not exist (usage errors); the engine's or the server's
/// error.
pub fn drop_keyspace<'a>(
    db: impl Into<Backend<'a>>,
    name: &str,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let db: Backend<'a> = db.into();
    db.drop_keyspace(name)?;
    ok(out, mode)
}

/// Prints a dump or report (text via `text`, JSON by serializing it); exit status 3 if it found
/// problems.
///
/// # Errors
/// I/O errors of `out`.
pub fn report<T: Serialize>(
    value: &T,
    problems: usize,
    text: impl FnOnce(&T) -> String,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    match mode {
        OutputMode::Text => write!(out, "{}", text(value))?,
        OutputMode::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        )?,
        OutputMode::Raw => writeln!(out, "{}", serde_json::to_string(value).unwrap_or_default())?,
    }
    Ok(if problems == 0 {
        exit::OK
    } else {
        exit::CORRUPTION
    })
}
