//! The shell's command grammar: a line's words (see [`crate::words`]) become a [`Command`].

use lsmkv::debug::escape_bytes;

use crate::help::{canonical, usage};
use crate::words::{Word, split};

/// Sections of `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsSection {
    Memory,
    Disk,
    Wal,
    Cache,
    /// The statistics of the keyspace the shell is in (`--keyspace`).
    Keyspace,
}

/// One put or delete of a `batch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `put KEY VALUE [ttl=SECS]`.
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
        /// Seconds until the value expires (`ttl=SECS`).
        ttl: Option<u64>,
    },
    Get {
        key: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// `delete-range START END [--yes]`: the keys in `[start, end)`; an empty bound is no bound.
    DeleteRange {
        start: Vec<u8>,
        end: Vec<u8>,
        yes: bool,
    },
    /// `delete-prefix PREFIX [--yes]`: the keys starting with `prefix` (every key for "").
    DeletePrefix {
        prefix: Vec<u8>,
        yes: bool,
    },
    /// `scan` / `rscan`: keys in `[start, end)`, at most `limit`.
    Scan {
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
        limit: Option<usize>,
        reverse: bool,
    },
    Prefix {
        prefix: Vec<u8>,
        limit: Option<usize>,
    },
    Search {
        needle: Vec<u8>,
        limit: Option<usize>,
    },
    Count,
    /// `batch put K V delete K ...` on one line.
    Batch(Vec<BatchOp>),
    /// `batch` alone: the following puts and deletes are collected until `commit`.
    BatchBegin,
    Commit,
    Abort,
    Flush,
    Compact,
    Stats(Option<StatsSection>),
    Levels,
    /// `keyspaces`: every keyspace with its number of keys.
    Keyspaces,
    /// `use NAME`: the keyspace the other commands act on.
    Use(String),
    /// `create-keyspace NAME [OPTION=VALUE]...`.
    CreateKeyspace {
        name: String,
        options: Vec<String>,
    },
    /// `drop-keyspace NAME [--yes]`.
    DropKeyspace {
        name: String,
        yes: bool,
    },
    Help(Option<String>),
    Timer(bool),
    Exit,
}

/// Parses one line. `Ok(None)` for a blank line or a `#` comment.
///
/// # Errors
/// A message naming the problem: bad quoting, an unknown command, or the wrong arguments (with the
/// command's usage).
pub fn parse_line(line: &str) -> Result<Option<Command>, String> {
    if line.trim_start().starts_with('#') {
        return Ok(None);
    }
    let mut words = split(line)?.into_iter();
    let Some(name) = words.next() else {
        return Ok(None);
    };
    let args: Vec<Word> = words.collect();
    let lower = String::from_utf8_lossy(&name.bytes).to_ascii_lowercase();
    parse_command(canonical(&lower), args).map(Some)
}

/// The command `name` (already lower-cased, aliases resolved) with its arguments.
fn parse_command(name: &str, args: Vec<Word>) -> Result<Command, String> {
    let bad = || usage_error(name);
    let cmd = match name {
        "put" => parse_put(args).ok_or_else(bad)??,
        "get" => Command::Get {
            key: one(args).ok_or_else(bad)?,
        },
        "delete" => Command::Delete {
            key: one(args).ok_or_else(bad)?,
        },
        "delete-range" | "delete-prefix" => parse_range_delete(name, args)?,
        "scan" | "rscan" => parse_scan(name, args)?,
        "prefix" | "search" => parse_prefix_or_search(name, args)?,
        "batch" if args.is_empty() => Command::BatchBegin,
        "batch" => Command::Batch(parse_batch_ops(args).map_err(|e| format!("{e}; {}", bad()))?),
        "commit" | "end" => nullary(&args, Command::Commit, name)?,
        "abort" => nullary(&args, Command::Abort, name)?,
        "count" => nullary(&args, Command::Count, name)?,
        "flush" => nullary(&args, Command::Flush, name)?,
        "compact" => nullary(&args, Command::Compact, name)?,
        "levels" => nullary(&args, Command::Levels, name)?,
        "keyspaces" => nullary(&args, Command::Keyspaces, name)?,
        "use" => Command::Use(keyspace_name(one(args).ok_or_else(bad)?)?),
        "create-keyspace" => {
            let mut words = args.into_iter();
            let ks = keyspace_name(words.next().ok_or_else(bad)?.bytes)?;
            let options = words
                .map(|w| String::from_utf8(w.bytes).map_err(|_| bad()))
                .collect::<Result<Vec<_>, _>>()?;
            // Checked here, so a bad option is a usage error before anything is sent.
            crate::backend::KeyspaceSpec::parse(&options).map_err(|e| format!("{e}; {}", bad()))?;
            Command::CreateKeyspace { name: ks, options }
        }
        "drop-keyspace" => {
            let (rest, yes) = split_yes(args);
            Command::DropKeyspace {
                name: keyspace_name(one(rest).ok_or_else(bad)?)?,
                yes,
            }
        }
        "exit" => nullary(&args, Command::Exit, name)?,
        "stats" => Command::Stats(parse_stats_section(args).ok_or_else(bad)?),
        "help" => Command::Help(
            one_or_none(args)
                .map_err(|()| bad())?
                .map(|w| String::from_utf8_lossy(&w).to_ascii_lowercase()),
        ),
        ".timer" => match one_or_none(args).map_err(|()| bad())?.as_deref() {
            Some(b"on") => Command::Timer(true),
            Some(b"off") => Command::Timer(false),
            _ => return Err(bad()),
        },
        _ => {
            return Err(format!(
                "unknown command \"{}\"; type help for the list",
                escape_bytes(name.as_bytes())
            ));
        }
    };
    Ok(cmd)
}

/// `put KEY VALUE [ttl=SECS]`: `None` for the wrong number of words; an error for a bad TTL.
fn parse_put(args: Vec<Word>) -> Option<Result<Command, String>> {
    let mut it = args.into_iter();
    let (key, value) = (it.next()?.bytes, it.next()?.bytes);
    let ttl = match it.next() {
        None => None,
        Some(w) if w.quoted => return None,
        Some(w) => {
            let text = String::from_utf8(w.bytes).ok()?;
            let secs = text.strip_prefix("ttl=")?;
            match parse_ttl(secs) {
                Ok(n) => Some(n),
                Err(e) => return Some(Err(e)),
            }
        }
    };
    if it.next().is_some() {
        return None;
    }
    Some(Ok(Command::Put { key, value, ttl }))
}

/// `delete-range START END [--yes]` / `delete-prefix PREFIX [--yes]`.
fn parse_range_delete(name: &str, args: Vec<Word>) -> Result<Command, String> {
    let (args, yes) = split_yes(args);
    if name == "delete-prefix" {
        let prefix = one(args).ok_or_else(|| usage_error(name))?;
        return Ok(Command::DeletePrefix { prefix, yes });
    }
    let Ok([s, e]) = <[Word; 2]>::try_from(args) else {
        return Err(usage_error(name));
    };
    check_range(&s.bytes, &e.bytes)?;
    Ok(Command::DeleteRange {
        start: s.bytes,
        end: e.bytes,
        yes,
    })
}

/// The SECS of `ttl=SECS`: a whole number of seconds, at least 1.
///
/// # Errors
/// A message saying what SECS must be.
pub fn parse_ttl(secs: &str) -> Result<u64, String> {
    secs.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
        format!("ttl={secs}: the time to live is a whole number of seconds, at least 1")
    })
}

/// The bounds of `delete-range`: an empty bound is no bound; otherwise START must be below END.
///
/// # Errors
/// START >= END.
pub fn check_range(start: &[u8], end: &[u8]) -> Result<(), String> {
    if !end.is_empty() && start >= end {
        return Err(
            "delete-range START END: START must be below END (END is exclusive; \"\" for no bound)"
                .to_string(),
        );
    }
    Ok(())
}

/// Takes an unquoted `--yes` out of `args`, and says whether there was one.
fn split_yes(args: Vec<Word>) -> (Vec<Word>, bool) {
    let yes = args.iter().any(|w| !w.quoted && w.bytes == b"--yes");
    let rest = args
        .into_iter()
        .filter(|w| w.quoted || w.bytes != b"--yes")
        .collect();
    (rest, yes)
}

/// A keyspace name: UTF-8, not empty.
fn keyspace_name(b: Vec<u8>) -> Result<String, String> {
    match String::from_utf8(b) {
        Ok(s) if !s.is_empty() => Ok(s),
        Ok(_) => Err("a keyspace name must not be empty".into()),
        Err(_) => Err("a keyspace name must be UTF-8".into()),
    }
}

/// The error for wrong arguments: the command's usage line.
fn usage_error(name: &str) -> String {
    format!("usage: {}", usage(name))
}

/// `scan` / `rscan` `[START [END]] [LIMIT]`.
fn parse_scan(name: &str, args: Vec<Word>) -> Result<Command, String> {
    let (mut args, limit) = split_limit(args)?;
    if args.len() > 2 {
        return Err(usage_error(name));
    }
    let end = if args.len() == 2 {
        args.pop().map(|w| w.bytes)
    } else {
        None
    };
    Ok(Command::Scan {
        start: args.pop().map(|w| w.bytes),
        end,
        limit,
        reverse: name == "rscan",
    })
}

/// `prefix P [LIMIT]` / `search TEXT [LIMIT]`.
fn parse_prefix_or_search(name: &str, args: Vec<Word>) -> Result<Command, String> {
    let (args, limit) = split_limit(args)?;
    let word = one(args).ok_or_else(|| usage_error(name))?;
    Ok(if name == "prefix" {
        Command::Prefix {
            prefix: word,
            limit,
        }
    } else {
        Command::Search {
            needle: word,
            limit,
        }
    })
}

/// `stats [SECTION]`: `None` for more than one word or an unknown section.
fn parse_stats_section(args: Vec<Word>) -> Option<Option<StatsSection>> {
    match one_or_none(args).ok()?.as_deref() {
        None => Some(None),
        Some(b"memory" | b"mem") => Some(Some(StatsSection::Memory)),
        Some(b"disk") => Some(Some(StatsSection::Disk)),
        Some(b"wal") => Some(Some(StatsSection::Wal)),
        Some(b"cache") => Some(Some(StatsSection::Cache)),
        Some(b"keyspace") => Some(Some(StatsSection::Keyspace)),
        Some(_) => None,
    }
}

/// Puts and deletes of a one-line batch: `put K V` / `delete K` repeated. Errors name the
/// operation counting from 1 (as script lines and import records are).
fn parse_batch_ops(args: Vec<Word>) -> Result<Vec<BatchOp>, String> {
    let mut ops = Vec::new();
    let mut it = args.into_iter();
    while let Some(op) = it.next() {
        let n = ops.len() + 1;
        let name = String::from_utf8_lossy(&op.bytes).to_ascii_lowercase();
        match canonical(&name) {
            "put" => match (it.next(), it.next()) {
                (Some(k), Some(v)) => ops.push(BatchOp::Put(k.bytes, v.bytes)),
                _ => return Err(format!("operation {n}: put needs a key and a value")),
            },
            "delete" => match it.next() {
                Some(k) => ops.push(BatchOp::Delete(k.bytes)),
                None => return Err(format!("operation {n}: delete needs a key")),
            },
            _ => {
                return Err(format!(
                    "operation {n}: expected put or delete, found \"{}\"",
                    escape_bytes(&op.bytes)
                ));
            }
        }
    }
    Ok(ops)
}

/// Splits off a trailing LIMIT: an unquoted word of digits.
fn split_limit(mut args: Vec<Word>) -> Result<(Vec<Word>, Option<usize>), String> {
    let is_limit = args.last().is_some_and(|w| {
        !w.quoted && !w.bytes.is_empty() && w.bytes.iter().all(u8::is_ascii_digit)
    });
    if !is_limit {
        return Ok((args, None));
    }
    let word = args.pop().map(|w| w.bytes).unwrap_or_default();
    let limit = String::from_utf8_lossy(&word)
        .parse::<usize>()
        .map_err(|_| "LIMIT is too large".to_string())?;
    Ok((args, Some(limit)))
}

fn one(args: Vec<Word>) -> Option<Vec<u8>> {
    match <[Word; 1]>::try_from(args) {
        Ok([w]) => Some(w.bytes),
        Err(_) => None,
    }
}

fn one_or_none(args: Vec<Word>) -> Result<Option<Vec<u8>>, ()> {
    match args.len() {
        0 => Ok(None),
        1 => Ok(one(args)),
        _ => Err(()),
    }
}

/// A command without arguments.
fn nullary(args: &[Word], cmd: Command, name: &str) -> Result<Command, String> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err(format!("usage: {name} (takes no arguments)"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Command {
        parse_line(s).unwrap().unwrap()
    }

    #[test]
    fn simple_commands_parse() {
        assert_eq!(
            parse("put k v"),
            Command::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ttl: None,
            }
        );
        assert_eq!(
            parse("SET \"\" \"\""),
            Command::Put {
                key: vec![],
                value: vec![],
                ttl: None,
            }
        );
        assert_eq!(parse("get k"), Command::Get { key: b"k".to_vec() });
        assert_eq!(parse("del k"), Command::Delete { key: b"k".to_vec() });
        assert_eq!(parse("flush"), Command::Flush);
        assert_eq!(parse("compact"), Command::Compact);
        assert_eq!(parse("count"), Command::Count);
        assert_eq!(parse("levels"), Command::Levels);
        assert_eq!(parse("stats"), Command::Stats(None));
        assert_eq!(parse("stats wal"), Command::Stats(Some(StatsSection::Wal)));
        assert_eq!(parse("help"), Command::Help(None));
        assert_eq!(parse("help SCAN"), Command::Help(Some("scan".into())));
        assert_eq!(parse(".timer on"), Command::Timer(true));
        assert_eq!(parse("quit"), Command::Exit);
        assert_eq!(parse_line("").unwrap(), None);
        assert_eq!(parse_line("  # a comment").unwrap(), None);
    }

    #[test]
    fn scan_arguments() {
        let scan = |start: Option<&str>, end: Option<&str>, limit, reverse| Command::Scan {
            start: start.map(|s| s.as_bytes().to_vec()),
            end: end.map(|s| s.as_bytes().to_vec()),
            limit,
            reverse,
        };
        assert_eq!(parse("scan"), scan(None, None, None, false));
        assert_eq!(parse("scan 10"), scan(None, None, Some(10), false));
        assert_eq!(parse("scan \"10\""), scan(Some("10"), None, None, false));
        assert_eq!(parse("scan a"), scan(Some("a"), None, None, false));
        assert_eq!(parse("scan a 5"), scan(Some("a"), None, Some(5), false));
        assert_eq!(parse("rscan a z"), scan(Some("a"), Some("z"), None, true));
        assert_eq!(
            parse("scan a z 3"),
            scan(Some("a"), Some("z"), Some(3), false)
        );
        assert!(parse_line("scan a b c").is_err());
        assert!(parse_line("scan 99999999999999999999999").is_err());
        assert_eq!(
            parse("prefix user: 2"),
            Command::Prefix {
                prefix: b"user:".to_vec(),
                limit: Some(2)
            }
        );
        assert_eq!(
            parse("search \"x y\""),
            Command::Search {
                needle: b"x y".to_vec(),
                limit: None
            }
        );
    }

    #[test]
    fn batch_forms() {
        assert_eq!(parse("batch"), Command::BatchBegin);
        assert_eq!(
            parse("batch put a 1 del b set c 3"),
            Command::Batch(vec![
                BatchOp::Put(b"a".to_vec(), b"1".to_vec()),
                BatchOp::Delete(b"b".to_vec()),
                BatchOp::Put(b"c".to_vec(), b"3".to_vec()),
            ])
        );
        assert!(parse_line("batch put a").is_err());
        assert!(parse_line("batch get a").is_err());
        assert_eq!(parse("commit"), Command::Commit);
        assert_eq!(parse("abort"), Command::Abort);
    }

    #[test]
    fn keyspace_commands() {
        assert_eq!(parse("keyspaces"), Command::Keyspaces);
        assert_eq!(parse("use logs"), Command::Use("logs".into()));
        assert_eq!(parse("use \"a b\""), Command::Use("a b".into()));
        assert_eq!(
            parse("create-keyspace logs compression=none ttl_seconds=60"),
            Command::CreateKeyspace {
                name: "logs".into(),
                options: vec!["compression=none".into(), "ttl_seconds=60".into()],
            }
        );
        assert_eq!(
            parse("drop-keyspace logs --yes"),
            Command::DropKeyspace {
                name: "logs".into(),
                yes: true
            }
        );
        assert_eq!(
            parse("drop-keyspace \"--yes\""),
            Command::DropKeyspace {
                name: "--yes".into(),
                yes: false
            }
        );
        assert_eq!(
            parse("stats keyspace"),
            Command::Stats(Some(StatsSection::Keyspace))
        );
        for bad in [
            "use",
            "use a b",
            "use \"\"",
            "use \"\\xff\"",
            "create-keyspace",
            "create-keyspace x size=1",
            "drop-keyspace",
            "keyspaces x",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ttls() {
        assert_eq!(
            parse("put k v ttl=60"),
            Command::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                ttl: Some(60),
            }
        );
        // A quoted third word is no option.
        assert!(parse_line("put k v \"ttl=60\"").is_err());
        // `ttl=60` as a value is still a value.
        assert_eq!(
            parse("put k ttl=60"),
            Command::Put {
                key: b"k".to_vec(),
                value: b"ttl=60".to_vec(),
                ttl: None,
            }
        );
        for bad in [
            "put k v ttl=0",
            "put k v ttl=-1",
            "put k v ttl=x",
            "put k v ttl=",
        ] {
            assert!(
                parse_line(bad).unwrap_err().contains("whole number"),
                "{bad}"
            );
        }
        for bad in ["put k v x=1", "put k v ttl=1 more"] {
            assert!(parse_line(bad).unwrap_err().contains("usage: put"), "{bad}");
        }
    }

    #[test]
    fn range_deletes() {
        assert_eq!(
            parse("delete-range a c"),
            Command::DeleteRange {
                start: b"a".to_vec(),
                end: b"c".to_vec(),
                yes: false
            }
        );
        assert_eq!(
            parse("delete-range --yes \"\" \"\""),
            Command::DeleteRange {
                start: vec![],
                end: vec![],
                yes: true
            }
        );
        assert_eq!(
            parse("delete-prefix user: --yes"),
            Command::DeletePrefix {
                prefix: b"user:".to_vec(),
                yes: true
            }
        );
        assert_eq!(
            parse("delete-prefix \"--yes\""),
            Command::DeletePrefix {
                prefix: b"--yes".to_vec(),
                yes: false
            }
        );
        for bad in [
            "delete-range a",
            "delete-range a b c",
            "delete-prefix",
            "delete-prefix a b",
        ] {
            assert!(parse_line(bad).unwrap_err().contains("usage"), "{bad}");
        }
        assert!(
            parse_line("delete-range b a")
                .unwrap_err()
                .contains("below")
        );
        assert!(
            parse_line("delete-range b b")
                .unwrap_err()
                .contains("below")
        );
        assert!(parse_line("delete-range b \"\"").is_ok());
    }

    #[test]
    fn wrong_arity_shows_usage() {
        assert!(
            parse_line("put k")
                .unwrap_err()
                .contains("usage: put KEY VALUE")
        );
        assert!(parse_line("put k v w").unwrap_err().contains("usage"));
        assert!(parse_line("get").unwrap_err().contains("usage: get KEY"));
        assert!(parse_line("delete a b").unwrap_err().contains("usage"));
        assert!(parse_line("flush now").unwrap_err().contains("usage"));
        assert!(parse_line("stats bogus").unwrap_err().contains("usage"));
        assert!(parse_line(".timer").unwrap_err().contains("usage"));
        assert!(
            parse_line("frobnicate")
                .unwrap_err()
                .contains("unknown command")
        );
    }
}
