//! The shell's line syntax: words, quoting and escapes, and the commands they form.
//!
//! Words are separated by blanks; a word may be double-quoted to hold blanks or be empty. Inside
//! any word these escapes are understood: `\\`, `\"`, `\n`, `\r`, `\t` and `\xHH` (a raw byte),
//! which is exactly what [`crate::value::escape_bytes`] produces, so every key and value the shell
//! prints can be pasted back in.

use lsmkv::debug::escape_bytes;

/// One word of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub bytes: Vec<u8>,
    /// Written in double quotes: never taken for a number (`scan "10"` scans from key `10`).
    pub quoted: bool,
}

/// Splits a line into words, honouring double quotes and backslash escapes.
///
/// # Errors
/// A message for an unterminated quote, a quote glued to a following word, a trailing backslash or
/// an unknown escape.
pub fn split_words(line: &str) -> Result<Vec<Vec<u8>>, String> {
    Ok(split(line)?.into_iter().map(|w| w.bytes).collect())
}

/// As [`split_words`], keeping whether each word was quoted.
///
/// # Errors
/// As [`split_words`].
pub fn split(line: &str) -> Result<Vec<Word>, String> {
    let mut words = Vec::new();
    let mut it = line.bytes().peekable();
    loop {
        while it.next_if(|b| b.is_ascii_whitespace()).is_some() {}
        let Some(&first) = it.peek() else {
            return Ok(words);
        };
        let mut word = Vec::new();
        let quoted = first == b'"';
        if quoted {
            it.next();
            loop {
                match it.next() {
                    None => return Err("unterminated double quote".into()),
                    Some(b'"') => break,
                    Some(b'\\') => word.push(unescape(&mut it)?),
                    Some(b) => word.push(b),
                }
            }
            if it.peek().is_some_and(|b| !b.is_ascii_whitespace()) {
                return Err("a closing quote must be followed by a blank".into());
            }
        } else {
            while let Some(b) = it.next_if(|b| !b.is_ascii_whitespace()) {
                if b == b'\\' {
                    word.push(unescape(&mut it)?);
                } else {
                    word.push(b);
                }
            }
        }
        words.push(Word {
            bytes: word,
            quoted,
        });
    }
}

/// Decodes the escapes of one unquoted word (for command-line arguments given with `--escapes`).
///
/// # Errors
/// As [`split_words`].
pub fn unescape_word(word: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(word.len());
    let mut it = word.iter().copied();
    while let Some(b) = it.next() {
        if b == b'\\' {
            out.push(unescape(&mut it)?);
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Decodes the escape after a backslash.
fn unescape(it: &mut impl Iterator<Item = u8>) -> Result<u8, String> {
    match it.next() {
        None => Err("a backslash at the end of the line escapes nothing".into()),
        Some(b'\\') => Ok(b'\\'),
        Some(b'"') => Ok(b'"'),
        Some(b'n') => Ok(b'\n'),
        Some(b'r') => Ok(b'\r'),
        Some(b't') => Ok(b'\t'),
        Some(b'x') => {
            let hi = it.next().and_then(hex_digit);
            let lo = it.next().and_then(hex_digit);
            match (hi, lo) {
                (Some(h), Some(l)) => Ok(h << 4 | l),
                _ => Err("\\x must be followed by two hex digits".into()),
            }
        }
        Some(other) => Err(format!(
            "unknown escape \\{}; use \\\\ \\\" \\n \\r \\t or \\xHH",
            escape_bytes(&[other])
        )),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Sections of `stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsSection {
    Memory,
    Disk,
    Wal,
    Cache,
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
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Get {
        key: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
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
    Help(Option<String>),
    Timer(bool),
    Exit,
}

/// Name, usage and one-line description of every command, in `help` order.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("put", "put KEY VALUE", "insert or replace KEY (alias: set)"),
    ("get", "get KEY", "print the value of KEY, or (nil)"),
    ("delete", "delete KEY", "delete KEY (alias: del)"),
    (
        "scan",
        "scan [START [END]] [LIMIT]",
        "keys in [START, END) in order, at most LIMIT (default 100)",
    ),
    (
        "rscan",
        "rscan [START [END]] [LIMIT]",
        "as scan, in reverse order",
    ),
    ("prefix", "prefix P [LIMIT]", "keys starting with P"),
    (
        "search",
        "search TEXT [LIMIT]",
        "entries whose key or value contains TEXT",
    ),
    (
        "count",
        "count",
        "number of live keys (exact, by a full scan) and the estimate",
    ),
    (
        "batch",
        "batch [put K V | delete K]...",
        "apply several writes atomically; alone, collect lines until commit (or abort)",
    ),
    ("flush", "flush", "write the memtable to an SSTable"),
    ("compact", "compact", "compact the whole database"),
    (
        "stats",
        "stats [memory|disk|wal|cache]",
        "engine statistics as JSON",
    ),
    (
        "levels",
        "levels",
        "the LSM tree's shape: tables per level, sizes, key ranges",
    ),
    (
        ".timer",
        ".timer on|off",
        "print how long each command took",
    ),
    (
        "help",
        "help [COMMAND]",
        "this list, or one command's usage",
    ),
    ("exit", "exit", "leave (alias: quit; Ctrl-D works too)"),
];

/// Extra text shown by `help COMMAND`.
fn details(name: &str) -> &'static str {
    match name {
        "scan" | "rscan" => {
            "A last word of digits is the LIMIT; quote it to use it as a key (scan \"10\").\n\
             START \"\" starts at the first key. Output lines are KEY VALUE, quoted and escaped,\n\
             so they can be pasted back into put."
        }
        "batch" => {
            "One line:   batch put a 1 put b 2 delete c\n\
             Several:    batch, then put/delete lines, then commit (or abort)."
        }
        "stats" => {
            "memory: memtables and block cache; disk: levels and SSTables; wal: the log;\n\
             cache: the block cache. Without a section: everything."
        }
        "search" => "Scans every entry; stops after LIMIT matches (default 100).",
        _ => "",
    }
}

/// Text printed by `help`.
pub fn help_text() -> String {
    let mut s = String::from("commands:\n");
    for (_, usage, about) in COMMANDS {
        s.push_str(&format!("  {usage:<32} {about}\n"));
    }
    s.push_str(
        "words may be double-quoted; escapes: \\\\ \\\" \\n \\r \\t \\xHH (binary output is shown the same way)",
    );
    s
}

/// Text printed by `help NAME`, or `None` for an unknown command.
pub fn help_for(name: &str) -> Option<String> {
    let name = canonical(name);
    let (_, usage, about) = COMMANDS.iter().find(|(n, _, _)| *n == name)?;
    let more = details(name);
    Some(if more.is_empty() {
        format!("usage: {usage}\n{about}")
    } else {
        format!("usage: {usage}\n{about}\n{more}")
    })
}

/// The usage line of a command.
pub fn usage(name: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(n, _, _)| *n == canonical(name))
        .map_or("", |(_, u, _)| u)
}

/// Maps aliases to command names.
fn canonical(name: &str) -> &str {
    match name {
        "set" => "put",
        "del" => "delete",
        "quit" => "exit",
        "?" => "help",
        "timer" => ".timer",
        other => other,
    }
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
    let name = canonical(&lower);
    let bad = || format!("usage: {}", usage(name));
    let cmd = match name {
        "put" => match <[Word; 2]>::try_from(args) {
            Ok([k, v]) => Command::Put {
                key: k.bytes,
                value: v.bytes,
            },
            Err(_) => return Err(bad()),
        },
        "get" => Command::Get {
            key: one(args).ok_or_else(bad)?,
        },
        "delete" => Command::Delete {
            key: one(args).ok_or_else(bad)?,
        },
        "scan" | "rscan" => {
            let (mut args, limit) = split_limit(args)?;
            if args.len() > 2 {
                return Err(bad());
            }
            let end = if args.len() == 2 {
                args.pop().map(|w| w.bytes)
            } else {
                None
            };
            Command::Scan {
                start: args.pop().map(|w| w.bytes),
                end,
                limit,
                reverse: name == "rscan",
            }
        }
        "prefix" | "search" => {
            let (args, limit) = split_limit(args)?;
            let word = one(args).ok_or_else(bad)?;
            if name == "prefix" {
                Command::Prefix {
                    prefix: word,
                    limit,
                }
            } else {
                Command::Search {
                    needle: word,
                    limit,
                }
            }
        }
        "batch" if args.is_empty() => Command::BatchBegin,
        "batch" => Command::Batch(parse_batch_ops(args).map_err(|e| format!("{e}; {}", bad()))?),
        "commit" | "end" => nullary(&args, Command::Commit, name)?,
        "abort" => nullary(&args, Command::Abort, name)?,
        "count" => nullary(&args, Command::Count, name)?,
        "flush" => nullary(&args, Command::Flush, name)?,
        "compact" => nullary(&args, Command::Compact, name)?,
        "levels" => nullary(&args, Command::Levels, name)?,
        "exit" => nullary(&args, Command::Exit, name)?,
        "stats" => {
            let section = match one_or_none(args).map_err(|()| bad())?.as_deref() {
                None => None,
                Some(b"memory" | b"mem") => Some(StatsSection::Memory),
                Some(b"disk") => Some(StatsSection::Disk),
                Some(b"wal") => Some(StatsSection::Wal),
                Some(b"cache") => Some(StatsSection::Cache),
                Some(_) => return Err(bad()),
            };
            Command::Stats(section)
        }
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
    Ok(Some(cmd))
}

/// Puts and deletes of a one-line batch: `put K V` / `delete K` repeated.
fn parse_batch_ops(args: Vec<Word>) -> Result<Vec<BatchOp>, String> {
    let mut ops = Vec::new();
    let mut it = args.into_iter();
    while let Some(op) = it.next() {
        let name = String::from_utf8_lossy(&op.bytes).to_ascii_lowercase();
        match canonical(&name) {
            "put" => match (it.next(), it.next()) {
                (Some(k), Some(v)) => ops.push(BatchOp::Put(k.bytes, v.bytes)),
                _ => return Err("put needs a key and a value".into()),
            },
            "delete" => match it.next() {
                Some(k) => ops.push(BatchOp::Delete(k.bytes)),
                None => return Err("delete needs a key".into()),
            },
            _ => {
                return Err(format!(
                    "expected put or delete, found \"{}\"",
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

    fn words(s: &str) -> Vec<Vec<u8>> {
        split_words(s).unwrap()
    }

    fn parse(s: &str) -> Command {
        parse_line(s).unwrap().unwrap()
    }

    #[test]
    fn splits_on_blanks() {
        assert_eq!(
            words("  put  a\tb  "),
            vec![b"put".to_vec(), b"a".to_vec(), b"b".to_vec()]
        );
        assert!(words("").is_empty());
        assert!(words("   ").is_empty());
    }

    #[test]
    fn quotes_hold_blanks_and_empty_words() {
        assert_eq!(
            words(r#"put "a b" """#),
            vec![b"put".to_vec(), b"a b".to_vec(), vec![]]
        );
    }

    #[test]
    fn escapes_decode() {
        assert_eq!(
            words(r#""\x00\n\"\\\r\t\xfF""#),
            vec![b"\x00\n\"\\\r\t\xff".to_vec()]
        );
        assert_eq!(words(r"a\x20b"), vec![b"a b".to_vec()]);
        assert_eq!(unescape_word(br"a\x00\\").unwrap(), b"a\x00\\".to_vec());
        assert!(unescape_word(br"a\q").is_err());
    }

    #[test]
    fn bad_quoting_is_an_error() {
        assert!(split_words(r#"put "abc"#).is_err());
        assert!(split_words(r#"put "a"b"#).is_err());
        assert!(split_words(r"put a\").is_err());
        assert!(split_words(r"put \q").is_err());
        assert!(split_words(r"put \x4").is_err());
        assert!(split_words(r"put \xzz").is_err());
    }

    #[test]
    fn escape_bytes_round_trips() {
        let all: Vec<u8> = (0..=255u8).collect();
        let line = format!("\"{}\"", escape_bytes(&all));
        assert_eq!(words(&line), vec![all]);
    }

    #[test]
    fn simple_commands_parse() {
        assert_eq!(
            parse("put k v"),
            Command::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec()
            }
        );
        assert_eq!(
            parse("SET \"\" \"\""),
            Command::Put {
                key: vec![],
                value: vec![]
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

    #[test]
    fn help_covers_every_command() {
        let h = help_text();
        for (name, _, _) in COMMANDS {
            assert!(h.contains(name), "{name}");
            assert!(help_for(name).is_some(), "{name}");
        }
        assert!(help_for("del").unwrap().contains("usage: delete KEY"));
        assert!(help_for("nope").is_none());
    }
}
