//! The interactive shell and command-line tools behind the `lsmkv` binary.
//!
//! - [`words`]: the line syntax (words, quotes, `\xHH` escapes); `help`: the command list.
//! - [`parse`]: the commands a line's words form.
//! - `exec`: a [`Session`] runs commands against a [`Backend`] (a keyspace of a
//!   [`Db`](lsmkv::Db), or a server's), streaming results; `use` switches the keyspace.
//! - `shell`: the script and interactive front ends; `editor`: rustyline completion (commands,
//!   keys from the database) and hints; `signals`: Ctrl-C stops a command, SIGTERM and SIGHUP
//!   end the shell cleanly.
//! - [`cli`]: the one-shot subcommands; [`Failure`] and [`exit`]: how they fail.
//! - [`output`]: text / JSON / raw rendering shared by the shell and the subcommands.
//! - [`inspect`]: text rendering of the read-only dumps of [`lsmkv::debug`].
//! - [`transfer`]: `import` and `export` (JSON lines or CSV) with a progress bar.
//! - [`server_indexes`]: the secondary indexes an `lsmkv-server` made in its database, which the
//!   shell declares before writing to it (the engine refuses writes to an indexed keyspace
//!   whose indexes the process has not declared).
//! - [`backend`]: what commands run against, a keyspace of a local [`Db`](lsmkv::Db) or, in
//!   client mode (`--url`), a [`remote::Client`] of a running `lsmkv-server` over its REST API
//!   (acting on one keyspace too); keyspaces are looked up, never created by a typo.
//!
//! Uses the public API and [`lsmkv::debug`] only. Two front ends: a rustyline editor with a
//! history file when stdin is a terminal, plain lines otherwise (so `printf 'put a 1\n' | lsmkv`
//! works in scripts). Results go to stdout, errors to stderr as `error: ...`.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod backend;
pub mod cli;
mod editor;
mod exec;
mod failure;
mod help;
pub mod inspect;
pub mod output;
pub mod parse;
pub mod remote;
/// The server's secondary indexes on a JSON field: their stored definitions and extractor, the
/// very source file `lsmkv-server` compiles (`crates/server/src/index_def.rs`), so that the
/// shell computes the same index keys when it declares them (see
/// [`backend::declare_server_indexes`]).
#[path = "../../server/src/index_def.rs"]
pub mod server_indexes;
mod shell;
mod signals;
pub mod transfer;
pub mod words;

pub use backend::Backend;
pub use exec::{Flow, Session};
pub use failure::{EXIT_CODES_HELP, Failure, exit, exit_code};
pub use help::help_text;
pub use parse::{Command, parse_line};
pub use shell::{RunSummary, run, run_interactive, run_script};
pub use words::split_words;
