//! The interactive shell behind the `lsmkv` binary: a line parser, the commands, and two front
//! ends -- a rustyline editor with a history file when stdin is a terminal, plain lines otherwise
//! (so `printf 'put a 1\nget a\n' | lsmkv` works in scripts).
//!
//! Uses the public API only. Words are separated by blanks; a word may be double-quoted to hold
//! blanks. Inside any word these escapes are understood: `\\`, `\"`, `\n`, `\r`, `\t` and `\xHH`
//! (a raw byte), which is exactly what [`crate::value::escape_bytes`] produces, so every value the
//! shell prints can be pasted back in.
//!
//! Output: `get` prints the value quoted and escaped (`"1"`) or `(nil)`; writes print `OK`;
//! `stats` prints pretty JSON. Errors go to stderr as `error: ...` and the shell goes on.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;

use crate::Db;
use crate::value::escape_bytes;

/// Text printed by `help`.
pub const HELP: &str = "\
commands:
  put KEY VALUE   insert or replace KEY
  get KEY         print the value of KEY, or (nil)
  delete KEY      delete KEY (alias: del)
  flush           write the memtable to an SSTable
  stats           print engine statistics as JSON
  help            this text
  exit | quit     leave (Ctrl-D works too)
words may be double-quoted; escapes: \\\\ \\\" \\n \\r \\t \\xHH";

/// One parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `put KEY VALUE`
    Put { key: Vec<u8>, value: Vec<u8> },
    /// `get KEY`
    Get { key: Vec<u8> },
    /// `delete KEY`
    Delete { key: Vec<u8> },
    /// `flush`
    Flush,
    /// `stats`
    Stats,
    /// `help`
    Help,
    /// `exit` or `quit`
    Exit,
}

/// Whether the shell goes on after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next line.
    Continue,
    /// Leave the shell.
    Exit,
}

/// Splits a line into words, honouring double quotes and backslash escapes.
///
/// # Errors
/// A message for an unterminated quote, a quote glued to a following word, a trailing backslash or
/// an unknown escape.
pub fn split_words(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut words = Vec::new();
    let mut it = line.bytes().peekable();
    loop {
        while it.next_if(|b| b.is_ascii_whitespace()).is_some() {}
        let Some(&first) = it.peek() else {
            return Ok(words);
        };
        let mut word = Vec::new();
        if first == b'"' {
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
        words.push(word);
    }
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

/// Parses one line. `Ok(None)` for a blank line or a `#` comment.
///
/// # Errors
/// A message naming the problem: bad quoting, an unknown command, or the wrong number of words
/// (with the command's usage).
pub fn parse_line(line: &str) -> Result<Option<Command>, String> {
    if line.trim_start().starts_with('#') {
        return Ok(None);
    }
    let mut words = split_words(line)?.into_iter();
    let Some(name) = words.next() else {
        return Ok(None);
    };
    let args: Vec<Vec<u8>> = words.collect();
    let name = String::from_utf8_lossy(&name).to_ascii_lowercase();
    let cmd = match name.as_str() {
        "put" | "set" => match <[Vec<u8>; 2]>::try_from(args) {
            Ok([key, value]) => Command::Put { key, value },
            Err(_) => return Err("usage: put KEY VALUE".into()),
        },
        "get" => match <[Vec<u8>; 1]>::try_from(args) {
            Ok([key]) => Command::Get { key },
            Err(_) => return Err("usage: get KEY".into()),
        },
        "delete" | "del" => match <[Vec<u8>; 1]>::try_from(args) {
            Ok([key]) => Command::Delete { key },
            Err(_) => return Err("usage: delete KEY".into()),
        },
        "flush" => nullary(&args, Command::Flush, &name)?,
        "stats" => nullary(&args, Command::Stats, &name)?,
        "help" | "?" => nullary(&args, Command::Help, &name)?,
        "exit" | "quit" => nullary(&args, Command::Exit, &name)?,
        other => {
            return Err(format!(
                "unknown command \"{}\"; type help for the list",
                escape_bytes(other.as_bytes())
            ));
        }
    };
    Ok(Some(cmd))
}

/// A command without arguments.
fn nullary(args: &[Vec<u8>], cmd: Command, name: &str) -> Result<Command, String> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err(format!("usage: {name} (takes no arguments)"))
    }
}

/// Runs one command and returns what to print on stdout (without a trailing newline).
///
/// # Errors
/// The engine's error, to be shown to the user; the shell keeps going.
pub fn execute(db: &Db, cmd: &Command) -> crate::Result<(Flow, String)> {
    let text = match cmd {
        Command::Put { key, value } => {
            db.put(key, value)?;
            "OK".to_string()
        }
        Command::Get { key } => match db.get(key)? {
            Some(v) => format!("\"{}\"", escape_bytes(&v)),
            None => "(nil)".to_string(),
        },
        Command::Delete { key } => {
            db.delete(key)?;
            "OK".to_string()
        }
        Command::Flush => {
            db.flush()?;
            "OK".to_string()
        }
        Command::Stats => serde_json::to_string_pretty(&db.stats())
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")),
        Command::Help => HELP.to_string(),
        Command::Exit => return Ok((Flow::Exit, String::new())),
    };
    Ok((Flow::Continue, text))
}

/// Parses and runs one line, printing results to `out` and errors to `err`. Returns the flow and
/// whether the line failed.
fn run_line(
    db: &Db,
    line: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<(Flow, bool)> {
    let cmd = match parse_line(line) {
        Ok(Some(c)) => c,
        Ok(None) => return Ok((Flow::Continue, false)),
        Err(msg) => {
            writeln!(err, "error: {msg}")?;
            return Ok((Flow::Continue, true));
        }
    };
    match execute(db, &cmd) {
        Ok((flow, text)) => {
            if !text.is_empty() {
                writeln!(out, "{text}")?;
            }
            out.flush()?;
            Ok((flow, false))
        }
        Err(e) => {
            writeln!(err, "error: {e}")?;
            Ok((Flow::Continue, true))
        }
    }
}

/// Runs commands read line by line from `input` (no prompt, no history). Returns the number of
/// lines that failed.
///
/// # Errors
/// Only I/O errors reading `input` or writing `out`/`err`.
pub fn run_script(
    db: &Db,
    input: impl BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<usize> {
    let mut failures = 0;
    for line in input.lines() {
        let (flow, failed) = run_line(db, &line?, out, err)?;
        failures += usize::from(failed);
        if flow == Flow::Exit {
            break;
        }
    }
    Ok(failures)
}

/// Interactive shell with line editing; history is loaded from and saved to `history` if given.
/// Ctrl-C clears the line, Ctrl-D leaves. Returns the number of lines that failed.
///
/// # Errors
/// I/O errors of the terminal.
pub fn run_interactive(db: &Db, history: Option<&Path>) -> io::Result<usize> {
    use rustyline::error::ReadlineError;
    let to_io = |e: ReadlineError| match e {
        ReadlineError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    };
    let mut rl = rustyline::DefaultEditor::new().map_err(to_io)?;
    if let Some(h) = history {
        // A missing history file is normal on first use.
        let _ = rl.load_history(h);
    }
    let (mut stdout, mut stderr) = (io::stdout(), io::stderr());
    let mut failures = 0;
    loop {
        match rl.readline("lsmkv> ") {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = rl.add_history_entry(line.as_str());
                }
                let (flow, failed) = run_line(db, &line, &mut stdout, &mut stderr)?;
                failures += usize::from(failed);
                if flow == Flow::Exit {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(to_io(e)),
        }
    }
    if let Some(h) = history
        && let Err(e) = rl.save_history(h)
    {
        eprintln!("warning: could not save history to {}: {e}", h.display());
    }
    Ok(failures)
}

/// Runs the shell on the process's stdin: interactive when it is a terminal, a script otherwise.
/// Returns the number of lines that failed.
///
/// # Errors
/// I/O errors of stdin/stdout/stderr.
pub fn run(db: &Db, history: Option<&Path>) -> io::Result<usize> {
    if io::stdin().is_terminal() {
        run_interactive(db, history)
    } else {
        run_script(db, io::stdin().lock(), &mut io::stdout(), &mut io::stderr())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<u8>> {
        split_words(s).unwrap()
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
    fn commands_parse() {
        assert_eq!(
            parse_line("put k v").unwrap(),
            Some(Command::Put {
                key: b"k".to_vec(),
                value: b"v".to_vec()
            })
        );
        assert_eq!(
            parse_line("PUT \"\" \"\"").unwrap(),
            Some(Command::Put {
                key: vec![],
                value: vec![]
            })
        );
        assert_eq!(
            parse_line("get k").unwrap(),
            Some(Command::Get { key: b"k".to_vec() })
        );
        assert_eq!(
            parse_line("del k").unwrap(),
            Some(Command::Delete { key: b"k".to_vec() })
        );
        assert_eq!(
            parse_line("delete k").unwrap(),
            Some(Command::Delete { key: b"k".to_vec() })
        );
        assert_eq!(parse_line("flush").unwrap(), Some(Command::Flush));
        assert_eq!(parse_line("stats").unwrap(), Some(Command::Stats));
        assert_eq!(parse_line("help").unwrap(), Some(Command::Help));
        assert_eq!(parse_line("exit").unwrap(), Some(Command::Exit));
        assert_eq!(parse_line("quit").unwrap(), Some(Command::Exit));
        assert_eq!(parse_line("").unwrap(), None);
        assert_eq!(parse_line("  # a comment").unwrap(), None);
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
        assert!(
            parse_line("frobnicate")
                .unwrap_err()
                .contains("unknown command")
        );
    }
}
