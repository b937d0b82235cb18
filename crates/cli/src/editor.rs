//! The rustyline helper of the interactive shell: tab completion of command names, of keys (by
//! prefix, read from the keyspace the shell is in) and of keyspace names, and greyed hints of a
//! command's arguments.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, PoisonError};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use lsmkv::Db;
use lsmkv::debug::escape_bytes;

use crate::help::{COMMANDS, usage};
use crate::remote::{Client, DEFAULT_KEYSPACE};
use crate::words::{split, unescape_word};

/// Most keys listed by one completion (the completed text itself comes from all matching keys).
pub const MAX_KEY_CANDIDATES: usize = 64;

/// Completion and hints for the shell.
pub struct ShellHelper {
    /// The database, until the shell takes this handle back to close it.
    db: Arc<Mutex<Option<Db>>>,
    /// Client mode: keys are read from the server instead.
    remote: Option<Client>,
    /// The keyspace keys are completed from (the shell's, set before each line).
    keyspace: String,
}

impl ShellHelper {
    /// A helper reading keys from `db`.
    pub fn new(db: Arc<Mutex<Option<Db>>>) -> Self {
        ShellHelper {
            db,
            remote: None,
            keyspace: DEFAULT_KEYSPACE.to_string(),
        }
    }

    /// A helper reading keys from the server `client` talks to.
    pub fn remote(client: Client) -> Self {
        ShellHelper {
            db: Arc::new(Mutex::new(None)),
            keyspace: client.keyspace().to_string(),
            remote: Some(client),
        }
    }

    /// Completes keys from keyspace `name` from now on.
    pub fn set_keyspace(&mut self, name: &str) {
        if self.keyspace != name {
            self.keyspace = name.to_string();
            if let Some(c) = &self.remote {
                self.remote = Some(c.with_keyspace(name));
            }
        }
    }

    /// Every keyspace name starting with `prefix` (for `use` and `drop-keyspace`).
    fn keyspace_candidates(&self, prefix: &str) -> Vec<Pair> {
        let names: Vec<String> = match &self.remote {
            Some(c) => c
                .keyspaces()
                .unwrap_or_default()
                .iter()
                .filter_map(|k| k.get("name").and_then(|n| n.as_str()).map(str::to_string))
                .collect(),
            None => {
                let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
                db.as_ref()
                    .and_then(|db| db.keyspaces().ok())
                    .unwrap_or_default()
            }
        };
        names
            .iter()
            .filter(|n| n.starts_with(prefix))
            .map(|n| {
                let word = render_word(n.as_bytes());
                Pair {
                    replacement: format!("{word} "),
                    display: word,
                }
            })
            .collect()
    }

    /// [`ShellHelper::key_candidates`] in client mode: three small requests (the first and the
    /// last matching key, then the first few); a failed request completes nothing.
    fn remote_candidates(c: &Client, prefix: &[u8], quoted: bool) -> Vec<Pair> {
        let keys = |reverse: bool, n: usize| -> Option<Vec<Vec<u8>>> {
            let pages = c.prefix(prefix, reverse).ok()?.with_page(n);
            pages.take(n).map(|kv| kv.ok().map(|(k, _)| k)).collect()
        };
        let (Some(first), Some(last)) = (keys(false, 1), keys(true, 1)) else {
            return Vec::new();
        };
        let (Some(first), Some(last)) = (first.first(), last.first()) else {
            return Vec::new();
        };
        if first == last {
            return candidates(first, last, Vec::new(), quoted);
        }
        let listed = keys(false, MAX_KEY_CANDIDATES + 1).unwrap_or_default();
        candidates(first, last, listed, quoted)
    }

    /// Completion of a key argument that starts with `prefix` (`quoted`: the user opened a
    /// quote). One matching key completes in full. With several, every candidate's replacement
    /// is the longest prefix that all matching keys share, found from the first and the last
    /// matching key (in key order they bound all the others), so Tab extends the word exactly
    /// that far; a second Tab lists the first [`MAX_KEY_CANDIDATES`] keys (and `...` when more
    /// match).
    fn key_candidates(&self, prefix: &[u8], quoted: bool) -> Vec<Pair> {
        if let Some(c) = &self.remote {
            return Self::remote_candidates(c, prefix, quoted);
        }
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(db) = db.as_ref() else {
            return Vec::new();
        };
        // Looked up, not created: the keyspace may have been dropped meanwhile.
        let Ok(ks) = crate::backend::open_keyspace(db, &self.keyspace) else {
            return Vec::new();
        };
        let Some(Ok((first, _))) = ks.prefix(prefix).next() else {
            return Vec::new();
        };
        let Some(Ok((last, _))) = ks.prefix(prefix).next_back() else {
            return Vec::new();
        };
        if first == last {
            return candidates(&first, &last, Vec::new(), quoted);
        }
        let listed: Vec<Vec<u8>> = ks
            .prefix(prefix)
            .take(MAX_KEY_CANDIDATES + 1)
            .filter_map(Result::ok)
            .map(|(k, _)| k.to_vec())
            .collect();
        candidates(&first, &last, listed, quoted)
    }
}

/// The completions of a key word from the `first` and `last` matching keys and the first of
/// them `listed` (up to [`MAX_KEY_CANDIDATES`] + 1; unused when `first == last`).
fn candidates(first: &[u8], last: &[u8], listed: Vec<Vec<u8>>, quoted: bool) -> Vec<Pair> {
    if first == last {
        let word = render_word(first);
        return vec![Pair {
            replacement: format!("{word} "),
            display: word,
        }];
    }
    let shared = first
        .iter()
        .zip(last.iter())
        .take_while(|(a, b)| a == b)
        .count();
    let replacement = render_partial(first.get(..shared).unwrap_or_default(), quoted);
    let mut listed: Vec<Pair> = listed
        .iter()
        .map(|k| Pair {
            display: render_word(k),
            replacement: replacement.clone(),
        })
        .collect();
    if listed.len() > MAX_KEY_CANDIDATES {
        listed.truncate(MAX_KEY_CANDIDATES);
        listed.push(Pair {
            display: "...".to_string(),
            replacement: replacement.clone(),
        });
    }
    listed
}

/// The start of a word, for completion: bare when that is unambiguous (and no quote was
/// opened), else an opened quote and the escaped bytes (the quote stays open).
fn render_partial(b: &[u8], quoted: bool) -> String {
    let bare = b
        .iter()
        .all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\\' && c != b'#');
    if bare && !quoted {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!("\"{}", escape_bytes(b))
    }
}

/// A word as the user would type it: bare when that is unambiguous, else quoted and escaped.
pub fn render_word(b: &[u8]) -> String {
    let bare = !b.is_empty()
        && b.iter()
            .all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'\\' && c != b'#');
    if bare {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!("\"{}\"", escape_bytes(b))
    }
}

/// Where the word under the cursor starts, and how many words come before it.
fn current_word(line: &str) -> (usize, usize) {
    let mut in_quote = false;
    let mut escaped = false;
    let mut start = 0;
    let mut words_before = 0;
    let mut in_word = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => {
                if !in_word {
                    in_word = true;
                    start = i;
                }
                in_quote = !in_quote;
            }
            c if c.is_ascii_whitespace() && !in_quote => {
                if in_word {
                    words_before += 1;
                    in_word = false;
                }
                start = i + c.len_utf8();
            }
            _ => {
                if !in_word {
                    in_word = true;
                    start = i;
                }
            }
        }
    }
    (start, words_before)
}

/// Decodes a partly typed word (an open quote is allowed).
fn partial_bytes(word: &str) -> Option<Vec<u8>> {
    let body = word.strip_prefix('"').unwrap_or(word);
    let body = body.strip_suffix('"').unwrap_or(body);
    unescape_word(body.as_bytes()).ok()
}

/// Whether argument `arg` (0-based) of command `cmd` is a key.
fn is_key_arg(cmd: &str, arg: usize) -> bool {
    match cmd {
        "get" | "delete" | "del" | "prefix" | "delete-prefix" => arg == 0,
        "delete-range" => arg <= 1,
        "put" | "set" => arg == 0,
        "scan" | "rscan" => arg <= 1,
        _ => false,
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = line.get(..pos).unwrap_or(line);
        let (start, index) = current_word(before);
        let word = before.get(start..).unwrap_or("");
        let pair = |s: String| Pair {
            display: s.clone(),
            replacement: format!("{s} "),
        };
        if index == 0 {
            let lower = word.to_ascii_lowercase();
            let names = COMMANDS
                .iter()
                .map(|(n, _, _)| *n)
                .chain(["quit", "commit", "abort"])
                .filter(|n| n.starts_with(&lower))
                .map(|n| pair(n.to_string()))
                .collect();
            return Ok((start, names));
        }
        // The command name, from the complete words before the one being completed (the line
        // as a whole may not parse yet: `get "my k` has an open quote).
        let first = split(before.get(..start).unwrap_or(""))
            .ok()
            .and_then(|w| w.into_iter().next())
            .map(|w| String::from_utf8_lossy(&w.bytes).to_ascii_lowercase())
            .unwrap_or_default();
        let fixed: &[&str] = match (first.as_str(), index) {
            ("help", 1) => &[],
            ("stats", 1) => &["memory", "disk", "wal", "cache", "keyspace"],
            (".timer", 1) => &["on", "off"],
            _ => &[],
        };
        if first == "help" && index == 1 {
            let names = COMMANDS
                .iter()
                .map(|(n, _, _)| *n)
                .filter(|n| n.starts_with(word))
                .map(|n| pair(n.to_string()))
                .collect();
            return Ok((start, names));
        }
        if !fixed.is_empty() {
            let c = fixed
                .iter()
                .filter(|n| n.starts_with(word))
                .map(|n| pair((*n).to_string()))
                .collect();
            return Ok((start, c));
        }
        if matches!(first.as_str(), "use" | "drop-keyspace") && index == 1 {
            let prefix = partial_bytes(word).unwrap_or_default();
            let prefix = String::from_utf8_lossy(&prefix);
            return Ok((start, self.keyspace_candidates(&prefix)));
        }
        if is_key_arg(&first, index - 1) {
            let Some(prefix) = partial_bytes(word) else {
                return Ok((start, Vec::new()));
            };
            return Ok((start, self.key_candidates(&prefix, word.starts_with('"'))));
        }
        Ok((start, Vec::new()))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos != line.len() || line.trim().is_empty() {
            return None;
        }
        let trimmed = line.trim_start();
        let lower = trimmed.to_ascii_lowercase();
        match lower.split_once(char::is_whitespace) {
            // Still typing the command name: complete it if only one command fits.
            None => {
                let mut fits = COMMANDS.iter().filter(|(n, _, _)| n.starts_with(&lower));
                let (name, _, _) = fits.next()?;
                if fits.next().is_some() {
                    return None;
                }
                let rest = name.get(lower.len()..).unwrap_or("");
                let args = usage(name).split_once(' ').map(|(_, a)| a);
                Some(match args {
                    Some(a) => format!("{rest} {a}"),
                    None => rest.to_string(),
                })
            }
            // The name and nothing else yet: show the arguments.
            Some((name, rest)) if rest.trim().is_empty() => {
                let args = usage(name).split_once(' ').map(|(_, a)| a)?;
                Some(args.to_string())
            }
            Some(_) => None,
        }
    }
}

impl Highlighter for ShellHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
    }
}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_word_under_the_cursor() {
        assert_eq!(current_word(""), (0, 0));
        assert_eq!(current_word("ge"), (0, 0));
        assert_eq!(current_word("get "), (4, 1));
        assert_eq!(current_word("get us"), (4, 1));
        assert_eq!(current_word("put \"a b"), (4, 1));
        assert_eq!(current_word("put \"a b\" "), (10, 2));
        assert_eq!(current_word("put a\\ b"), (4, 1));
    }

    #[test]
    fn words_render_so_they_parse_back() {
        assert_eq!(render_word(b"user:1"), "user:1");
        assert_eq!(render_word(b"a b"), "\"a b\"");
        assert_eq!(render_word(b""), "\"\"");
        assert_eq!(render_word(b"\xff"), "\"\\xff\"");
        assert_eq!(partial_bytes("\"a\\x20"), Some(b"a ".to_vec()));
        assert_eq!(render_partial(b"user:", false), "user:");
        assert_eq!(render_partial(b"user:", true), "\"user:");
        assert_eq!(render_partial(b"my k", false), "\"my k");
        assert_eq!(render_partial(b"", false), "");
    }
}
