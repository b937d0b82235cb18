//! The shell's words: splitting a line on blanks, double quotes, and the backslash escapes.
//!
//! Words are separated by blanks; a word may be double-quoted to hold blanks or be empty. Inside
//! any word these escapes are understood: `\\`, `\"`, `\n`, `\r`, `\t` and `\xHH` (a raw byte),
//! which is exactly what [`lsmkv::debug::escape_bytes`] produces, so every key and value the shell
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
}
