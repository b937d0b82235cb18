//! How a command fails: [`Failure`] (message and exit status) and the exit statuses of the
//! `lsmkv` binary, with the mapping from engine errors.

use std::io;

use lsmkv::Error;

/// Exit statuses of the `lsmkv` binary.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// `get`: the key does not exist.
    pub const NOT_FOUND: u8 = 1;
    /// Bad command line, bad shell command, or an argument the engine rejects.
    pub const USAGE: u8 = 2;
    /// Damage found (`verify`, `inspect`, or any command that read a damaged file).
    pub const CORRUPTION: u8 = 3;
    /// Anything else (I/O, a locked directory, ...).
    pub const OTHER: u8 = 4;
    /// `verify` / `inspect`: the file or directory given does not exist.
    pub const NO_SUCH_PATH: u8 = 5;
    /// Client mode (`--url`): the server cannot be reached (refused, timed out, not HTTP).
    pub const CONNECTION: u8 = 6;
    /// Client mode (`--url`): the server rejected the token (`--token` / `API_TOKEN`).
    pub const UNAUTHORIZED: u8 = 7;
}

/// Text of the exit statuses, for `--help` and the README.
pub const EXIT_CODES_HELP: &str = "\
exit status:
  0  success
  1  get: the key does not exist
  2  usage error (bad arguments, bad shell command, key or value too large)
  3  corruption found (verify, inspect, or a read that hit a damaged file)
  4  any other error (I/O, database locked by another process, ...)
  6  client mode (--url): the server cannot be reached
  7  client mode (--url): the server rejected the token
A closed stdout (lsmkv scan | head -1) ends a command quietly with status 0.";

/// A command that failed: the message for stderr and the exit status it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    /// A usage error (exit status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: exit::USAGE,
            message: message.into(),
        }
    }

    /// Any other error (exit status 4).
    pub fn other(message: impl Into<String>) -> Self {
        Failure {
            code: exit::OTHER,
            message: message.into(),
        }
    }

    /// `verify` / `inspect` on a path that does not exist (exit status 5).
    pub fn no_such_path(path: &std::path::Path) -> Self {
        Failure {
            code: exit::NO_SUCH_PATH,
            message: format!("{}: no such file or directory", path.display()),
        }
    }

    /// Ctrl-C (or a signal ending the shell) stopped the command (exit status 130).
    pub fn interrupted() -> Self {
        Failure {
            code: 130,
            message: "interrupted".to_string(),
        }
    }

    /// Stdout was closed by the reader (`lsmkv scan | head -1`): the command stops quietly with
    /// status 0, as `cat` does.
    pub fn closed_output() -> Self {
        Failure {
            code: exit::OK,
            message: String::new(),
        }
    }

    /// Whether this is [`Failure::closed_output`]: nothing to report.
    pub fn is_closed_output(&self) -> bool {
        self.code == exit::OK && self.message.is_empty()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The exit status for an engine error.
pub fn exit_code(e: &Error) -> u8 {
    match e {
        Error::Corruption { .. } | Error::UnsupportedVersion { .. } => exit::CORRUPTION,
        Error::InvalidArgument(_)
        | Error::KeyTooLarge { .. }
        | Error::ValueTooLarge { .. }
        | Error::KeyspaceNotFound { .. } => exit::USAGE,
        _ => exit::OTHER,
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure {
            code: exit_code(&e),
            message: e.to_string(),
        }
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::closed_output()
        } else {
            Failure::other(e.to_string())
        }
    }
}
