//! `lsmkv`: the shell (REPL) and command-line tools of an lsmkv database.
//!
//! Without a subcommand it opens the shell on `--data-dir`. Subcommands run one operation each
//! (`get`, `put`, `scan`, ...), inspect files without opening the database (`inspect`, `verify`),
//! or move data in and out (`import`, `export`). With `--url` (client mode) the shell and the
//! data subcommands run against a running `lsmkv-server` instead of opening the directory.
//! Argument parsing and wiring only; the work is in the `lsmkv_cli` library and `lsmkv::debug`.
//!
//! Configuration precedence: command-line flag > environment variable > `.env` file > default.
//! Every engine option is read from the environment by `Options::from_env` (see `.env.example`).

#![deny(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lsmkv::debug;
use lsmkv::{Db, Keyspace, Options};
use lsmkv_cli::backend::{Backend, not_remote, open_keyspace};
use lsmkv_cli::output::OutputMode;
use lsmkv_cli::parse::StatsSection;
use lsmkv_cli::remote::Client;
use lsmkv_cli::transfer::{self, Format};
use lsmkv_cli::words::unescape_word;
use lsmkv_cli::{Failure, cli, exit, inspect};

const AFTER_HELP: &str = "\
Without a subcommand, opens the interactive shell (type help there); with stdin not a terminal,
runs its lines as commands. Keys and values on the command line are taken literally; with
--escapes they may use the shell's escapes (\\xHH, \\n, \\t, \\\\, \\\").

keyspaces: every command that reads or writes keys (get, put, delete, delete-range,
delete-prefix, scan, prefix, search, count, levels, flush, compact, import, export, the shell)
acts on --keyspace NAME (default: default), which must exist; keyspaces lists them,
create-keyspace and drop-keyspace manage them.

client mode: with --url http://HOST:PORT (or LSMKV_URL) the shell and get, put, delete,
delete-range, delete-prefix, scan, prefix, search, count, stats and the keyspace commands run
against a running lsmkv-server over plain HTTP (no TLS), sending --token (or API_TOKEN) as its
bearer token; import and export work there too. levels, flush, compact, checkpoint, inspect,
verify and a batch with deletes are usage errors there.

exit status:
  0  success
  1  get: the key does not exist
  2  usage error (bad arguments, bad shell command, key or value too large, bad import record)
  3  corruption found (verify, inspect, or a read that hit a damaged file)
  4  any other error (I/O, database locked by another process, ...)
  5  verify, inspect: the file or directory given does not exist
  6  client mode (--url): the server cannot be reached
  7  client mode (--url): the server rejected the token
A closed stdout (lsmkv scan | head -1) ends a command quietly with status 0.
The shell ended by a signal (SIGTERM, SIGHUP; Ctrl-C when piped) closes the database and exits
with 128 + the signal's number.";

/// An embedded LSM-tree key-value store: shell and tools.
#[derive(Parser, Debug)]
#[command(name = "lsmkv", version, about, after_help = AFTER_HELP)]
struct Args {
    /// Directory of the database.
    #[arg(long, env = "DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// Machine-readable output: JSON (JSON lines for listings).
    #[arg(long, global = true, conflicts_with = "raw")]
    json: bool,
    /// Raw output: values as bytes, listings as KEY<TAB>VALUE lines.
    #[arg(long, global = true)]
    raw: bool,
    /// Decode the shell's escapes (\xHH ...) in keys and values given as arguments.
    #[arg(short = 'e', long, global = true)]
    escapes: bool,
    /// Shell with piped input: stop at the first failing line.
    #[arg(long)]
    bail: bool,
    /// Client mode: run against the lsmkv-server at this URL (http://HOST:PORT, plain HTTP)
    /// instead of opening --data-dir.
    #[arg(long, env = "LSMKV_URL", global = true, value_name = "URL")]
    url: Option<String>,
    /// The keyspace the key commands act on (it must exist; see create-keyspace).
    #[arg(
        long,
        short = 'k',
        global = true,
        default_value = "default",
        value_name = "NAME"
    )]
    keyspace: String,
    /// Client mode: the server's bearer token.
    #[arg(
        long,
        env = "API_TOKEN",
        global = true,
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    token: Option<String>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Open the interactive shell (the default).
    Repl,
    /// Print the value of KEY (exit status 1 if absent).
    Get { key: OsString },
    /// Insert or replace KEY; with ttl=SECS the value expires SECS seconds after the write.
    Put {
        key: OsString,
        value: OsString,
        /// ttl=SECS: a whole number of seconds, at least 1.
        #[arg(value_name = "ttl=SECS", value_parser = ttl_word)]
        ttl: Option<u64>,
    },
    /// Delete KEY.
    #[command(alias = "del")]
    Delete { key: OsString },
    /// Delete every key in [START, END) with one range delete ("" for no bound); asks on a
    /// terminal, elsewhere needs --yes.
    DeleteRange {
        start: OsString,
        end: OsString,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Delete every key starting with PREFIX with one range delete ("" for every key); asks on
    /// a terminal, elsewhere needs --yes.
    DeletePrefix {
        prefix: OsString,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// List keys in [START, END).
    Scan {
        start: Option<OsString>,
        end: Option<OsString>,
        /// At most this many entries (default 100; 0 or "all": every one).
        #[arg(short, long, value_parser = parse_limit)]
        limit: Option<usize>,
        /// Largest key first.
        #[arg(short, long)]
        reverse: bool,
    },
    /// List keys starting with PREFIX.
    Prefix {
        prefix: OsString,
        /// At most this many entries (default 100; 0 or "all": every one).
        #[arg(short, long, value_parser = parse_limit)]
        limit: Option<usize>,
        #[arg(short, long)]
        reverse: bool,
    },
    /// List entries whose key or value contains TEXT.
    Search {
        text: OsString,
        /// At most this many entries (default 100; 0 or "all": every one).
        #[arg(short, long, value_parser = parse_limit)]
        limit: Option<usize>,
    },
    /// Count live keys (exact, by a full scan) and show the estimate.
    Count,
    /// List every keyspace with its number of keys.
    Keyspaces,
    /// Create keyspace NAME, optionally with options of its own (OPTION=VALUE: compression,
    /// block_size, bloom_false_positive_rate, prefix_bloom_length, compaction_strategy,
    /// ttl_seconds).
    CreateKeyspace {
        name: String,
        /// OPTION=VALUE words.
        options: Vec<String>,
    },
    /// Drop keyspace NAME and all its keys (asks on a terminal; elsewhere needs --yes).
    DropKeyspace {
        name: String,
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
    /// Engine statistics as JSON.
    Stats { section: Option<Section> },
    /// The LSM tree's shape: tables per level with sizes and key ranges.
    Levels,
    /// Write the memtable to an SSTable.
    Flush,
    /// Compact the whole database.
    Compact,
    /// Copy the database, consistent at one moment, into DIR (empty or absent, on the same file
    /// system: tables are hard-linked). The copy opens as an independent database.
    Checkpoint {
        /// Target directory.
        dir: PathBuf,
    },
    /// Dump a file of the database without opening it (read-only; works on damaged files).
    Inspect {
        #[command(subcommand)]
        what: InspectCmd,
    },
    /// Check every checksum of every live file, without opening the database (exit status 3 if
    /// anything is damaged).
    Verify {
        /// Database directory (default: --data-dir).
        dir: Option<PathBuf>,
    },
    /// Load JSON lines ({"key":..,"value":..}) or CSV (key,value) into the database.
    Import {
        /// Input file; "-" reads stdin.
        file: PathBuf,
        /// Default: csv for *.csv, else jsonl.
        #[arg(long)]
        format: Option<FormatArg>,
        /// Records per atomic write batch.
        #[arg(long, default_value_t = transfer::DEFAULT_BATCH_SIZE)]
        batch_size: usize,
    },
    /// Write every key (or those starting with --prefix) as JSON lines or CSV.
    Export {
        #[arg(long)]
        prefix: Option<OsString>,
        /// Default: csv when --output ends in .csv, else jsonl.
        #[arg(long)]
        format: Option<FormatArg>,
        /// Output file (default: stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum InspectCmd {
    /// An SSTable: footer, meta, filter, index, block sizes and compression.
    Sst {
        file: PathBuf,
        /// One line per data block.
        #[arg(long)]
        blocks: bool,
        /// Every entry.
        #[arg(long)]
        keys: bool,
    },
    /// A WAL segment: records, seqnos, batch contents, where a torn tail starts.
    Wal { file: PathBuf },
    /// The manifest: version history and live tables per level.
    Manifest {
        /// Database directory or manifest file (default: --data-dir).
        path: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Section {
    Memory,
    Disk,
    Wal,
    Cache,
    Keyspace,
}

impl From<Section> for StatsSection {
    fn from(s: Section) -> StatsSection {
        match s {
            Section::Memory => StatsSection::Memory,
            Section::Disk => StatsSection::Disk,
            Section::Wal => StatsSection::Wal,
            Section::Cache => StatsSection::Cache,
            Section::Keyspace => StatsSection::Keyspace,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum FormatArg {
    Jsonl,
    Csv,
}

fn main() -> ExitCode {
    // `.env` fills in variables that are not already set; a missing file is fine.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("lsmkv: ignoring .env: {e}");
    }
    let args = Args::parse();
    let code = match run(args) {
        Ok(code) => code,
        Err(f) if f.is_closed_output() => f.code,
        Err(f) => {
            eprintln!("lsmkv: {f}");
            f.code
        }
    };
    ExitCode::from(code)
}

/// `--limit N`; `all` is 0 (no limit).
fn parse_limit(s: &str) -> Result<usize, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(0);
    }
    s.parse()
        .map_err(|e| format!("{e} (a number, or 0 or all for no limit)"))
}

fn mode(args: &Args) -> OutputMode {
    if args.json {
        OutputMode::Json
    } else if args.raw {
        OutputMode::Raw
    } else {
        OutputMode::Text
    }
}

/// A key or value argument as bytes.
fn bytes(arg: &OsStr, escapes: bool) -> Result<Vec<u8>, Failure> {
    #[cfg(unix)]
    let raw = std::os::unix::ffi::OsStrExt::as_bytes(arg).to_vec();
    #[cfg(not(unix))]
    let raw = arg.to_string_lossy().into_owned().into_bytes();
    if escapes {
        unescape_word(&raw).map_err(Failure::usage)
    } else {
        Ok(raw)
    }
}

/// How a subcommand opens the database.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// `Db::open`: may write; creates the database when `must_exist` is false.
    Write { must_exist: bool },
    /// `Db::open_read_only`: writes nothing (no WAL segment, no manifest edit, no lock), so it
    /// works next to a running server and leaves the directory as it was.
    Read,
}

fn open(dir: &Path, must_exist: bool) -> Result<Db, Failure> {
    open_with(dir, Access::Write { must_exist })
}

fn open_with(dir: &Path, access: Access) -> Result<Db, Failure> {
    let must_exist = access != Access::Write { must_exist: false };
    if must_exist && !lsmkv::debug::is_database_dir(dir) {
        return Err(Failure::other(format!("no database at {}", dir.display())));
    }
    let mut opts = Options::from_env().map_err(|e| Failure::usage(e.to_string()))?;
    opts.data_dir = dir.to_path_buf();
    let opened = match access {
        Access::Read => Db::open_read_only(dir, opts),
        Access::Write { .. } => Db::open(dir, opts),
    };
    let db = opened.map_err(|e| {
        let mut f = Failure::from(e);
        f.message = format!("cannot open {}: {}", dir.display(), f.message);
        f
    })?;
    report_recovery(&db.recovery_report());
    if let Access::Write { .. } = access {
        // A server's indexes: without them its indexed keyspaces refuse writes.
        if let Err(mut f) = lsmkv_cli::backend::declare_server_indexes(&db) {
            f.message = format!("cannot declare the server's indexes: {}", f.message);
            let _ = db.close();
            return Err(f);
        }
    }
    Ok(db)
}

/// One line on stderr per WAL region recovery dropped (a torn write, or with
/// `WAL_RECOVERY_MODE=point_in_time` the records after damage), so that no write is lost
/// without a word: the engine itself only logs it.
fn report_recovery(report: &lsmkv::RecoveryReport) {
    for d in &report.dropped {
        eprintln!("warning: recovery dropped {d}");
    }
}

/// Opens the database, runs `f` on its keyspace `ks` (which must exist), closes the database
/// (reporting a failed final sync).
fn with_db(
    dir: &Path,
    must_exist: bool,
    ks: &str,
    f: impl FnOnce(&Keyspace, &mut dyn Write) -> Result<u8, Failure>,
) -> Result<u8, Failure> {
    with_access(dir, Access::Write { must_exist }, ks, f)
}

/// [`with_db`] for the reading subcommands: a read-only open of an existing database.
fn with_db_read_only(
    dir: &Path,
    ks: &str,
    f: impl FnOnce(&Keyspace, &mut dyn Write) -> Result<u8, Failure>,
) -> Result<u8, Failure> {
    with_access(dir, Access::Read, ks, f)
}

fn with_access(
    dir: &Path,
    access: Access,
    ks: &str,
    f: impl FnOnce(&Keyspace, &mut dyn Write) -> Result<u8, Failure>,
) -> Result<u8, Failure> {
    let db = open_with(dir, access)?;
    let mut out = io::stdout().lock();
    // The keyspace handle keeps the database open: it goes before the close.
    let result = open_keyspace(&db, ks).and_then(|ks| f(&ks, &mut out));
    let flushed = out.flush();
    let closed = db.close();
    let code = result?;
    flushed?;
    closed?;
    Ok(code)
}

fn run(args: Args) -> Result<u8, Failure> {
    // An empty LSMKV_URL (as `.env.example` has it) is local mode.
    if let Some(url) = args.url.clone().filter(|u| !u.is_empty()) {
        return run_remote(args, &url);
    }
    let mode = mode(&args);
    let esc = args.escapes;
    let dir = args.data_dir.clone();
    let ks = args.keyspace.clone();
    let ks = ks.as_str();
    let Some(cmd) = args.command else {
        return shell(&dir, ks, args.bail, mode);
    };
    match cmd {
        Cmd::Repl => shell(&dir, ks, args.bail, mode),
        Cmd::Get { key } => {
            let key = bytes(&key, esc)?;
            with_db_read_only(&dir, ks, |db, out| cli::get(db, &key, mode, out))
        }
        cmd @ (Cmd::Put { .. }
        | Cmd::Delete { .. }
        | Cmd::DeleteRange { .. }
        | Cmd::DeletePrefix { .. }) => write_keys(cmd, &dir, ks, esc, mode),
        cmd @ (Cmd::Scan { .. } | Cmd::Prefix { .. } | Cmd::Search { .. }) => {
            let listing = listing(cmd, esc)?;
            with_db_read_only(&dir, ks, |db, out| {
                cli::list(db, &listing, mode, out, &mut io::stderr())
            })
        }
        Cmd::Count => with_db_read_only(&dir, ks, |db, out| cli::count(db, mode, out)),
        Cmd::Keyspaces => with_db_read_only(&dir, ks, |db, out| cli::keyspaces(db, mode, out)),
        Cmd::CreateKeyspace { name, options } => with_db(&dir, false, ks, |db, out| {
            cli::create_keyspace(db, &name, &options, mode, out)
        }),
        Cmd::DropKeyspace { name, yes } => {
            confirm_drop(&name, yes)?;
            with_db(&dir, true, ks, |db, out| {
                cli::drop_keyspace(db, &name, mode, out)
            })
        }
        Cmd::Stats { section } => {
            let section = section.map(StatsSection::from);
            with_db_read_only(&dir, ks, |db, out| cli::stats(db, section, mode, out))
        }
        Cmd::Levels => with_db_read_only(&dir, ks, |db, out| cli::levels(db, mode, out)),
        Cmd::Flush => with_db(&dir, true, ks, |db, out| cli::flush(db, mode, out)),
        Cmd::Compact => with_db(&dir, true, ks, |db, out| cli::compact(db, mode, out)),
        Cmd::Checkpoint { dir: target } => with_db(&dir, true, ks, |db, out| {
            cli::checkpoint(db, &target, mode, out)
        }),
        Cmd::Inspect { what } => inspect_cmd(what, &dir, mode),
        Cmd::Verify { dir: target } => verify(&target.unwrap_or(dir), mode),
        Cmd::Import {
            file,
            format,
            batch_size,
        } => import(
            &dir,
            ks,
            &file,
            pick_format(format, &file),
            batch_size,
            mode,
        ),
        Cmd::Export {
            prefix,
            format,
            output,
        } => {
            let prefix = prefix.map(|p| bytes(&p, esc)).transpose()?;
            export(&dir, ks, prefix.as_deref(), format, output.as_deref())
        }
    }
}

/// `put`, `delete`, `delete-range` and `delete-prefix` on the database in `dir`.
fn write_keys(cmd: Cmd, dir: &Path, ks: &str, esc: bool, mode: OutputMode) -> Result<u8, Failure> {
    match cmd {
        Cmd::Put { key, value, ttl } => {
            let (key, value) = (bytes(&key, esc)?, bytes(&value, esc)?);
            with_db(dir, false, ks, |db, out| {
                cli::put(db, &key, &value, ttl, mode, out)
            })
        }
        Cmd::Delete { key } => {
            let key = bytes(&key, esc)?;
            with_db(dir, true, ks, |db, out| cli::delete(db, &key, mode, out))
        }
        cmd @ (Cmd::DeleteRange { .. } | Cmd::DeletePrefix { .. }) => {
            range_delete_cmd(cmd, esc, ks, |what| {
                with_db(dir, true, ks, |db, out| {
                    cli::run_range_delete(db, what, mode, out)
                })
            })
        }
        _ => Err(Failure::usage("not a write")),
    }
}

/// `drop-keyspace NAME` without `--yes`: asks on a terminal, refuses elsewhere.
fn confirm_drop(name: &str, yes: bool) -> Result<(), Failure> {
    let shown = lsmkv_cli::output::quoted(name.as_bytes());
    confirm(
        yes,
        &format!("drop-keyspace deletes {shown} and all its keys: add --yes to confirm"),
        &format!("drop keyspace {shown} and all its keys? [y/N] "),
        "not dropped",
    )
}

/// Without `yes`: asks `question` on a terminal (anything but y or yes fails with `declined`),
/// and fails with the usage error `refusal` elsewhere.
fn confirm(yes: bool, refusal: &str, question: &str, declined: &str) -> Result<(), Failure> {
    use std::io::{BufRead as _, IsTerminal as _};
    if yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(Failure::usage(refusal));
    }
    eprint!("{question}");
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(Failure::other(declined))
    }
}

/// `delete-range` / `delete-prefix` without `--yes`: asks on a terminal, refuses elsewhere. A
/// reversed range is refused before anything is asked.
fn confirm_range_delete(what: &cli::RangeDelete<'_>, ks: &str, yes: bool) -> Result<(), Failure> {
    let name = match what {
        cli::RangeDelete::Range(s, e) => {
            lsmkv_cli::parse::check_range(s, e).map_err(Failure::usage)?;
            "delete-range"
        }
        cli::RangeDelete::Prefix(_) => "delete-prefix",
    };
    confirm(
        yes,
        &format!("{name} deletes every key it covers: add --yes to confirm"),
        &cli::range_question(what, ks),
        "not deleted",
    )
}

/// `delete-range START END` or `delete-prefix PREFIX` (`cmd`, any other is no command): asks
/// for confirmation without `--yes`, then runs `f` on what to delete in keyspace `ks`.
fn range_delete_cmd(
    cmd: Cmd,
    esc: bool,
    ks: &str,
    f: impl FnOnce(cli::RangeDelete<'_>) -> Result<u8, Failure>,
) -> Result<u8, Failure> {
    let (start, end, prefix, yes) = match cmd {
        Cmd::DeleteRange { start, end, yes } => (bytes(&start, esc)?, bytes(&end, esc)?, None, yes),
        Cmd::DeletePrefix { prefix, yes } => {
            (Vec::new(), Vec::new(), Some(bytes(&prefix, esc)?), yes)
        }
        _ => return Err(Failure::usage("not a range delete")),
    };
    let what = match &prefix {
        Some(p) => cli::RangeDelete::Prefix(p),
        None => cli::RangeDelete::Range(&start, &end),
    };
    confirm_range_delete(&what, ks, yes)?;
    f(what)
}

/// The `ttl=SECS` word of `put`: SECS.
fn ttl_word(word: &str) -> Result<u64, String> {
    match word.strip_prefix("ttl=") {
        Some(secs) => lsmkv_cli::parse::parse_ttl(secs),
        None => Err(format!("expected ttl=SECS, found {word:?}")),
    }
}

/// Client mode: the shell or one subcommand against the server at `url`.
fn run_remote(args: Args, url: &str) -> Result<u8, Failure> {
    let mode = mode(&args);
    let esc = args.escapes;
    let client = Client::new(url, args.token.clone())?.with_keyspace(&args.keyspace);
    let b = Backend::Remote(&client);
    let cmd = match args.command {
        None | Some(Cmd::Repl) => return remote_shell(&client, args.bail, mode),
        Some(cmd) => cmd,
    };
    let mut out = io::stdout().lock();
    let code = match cmd {
        Cmd::Repl => Ok(exit::OK),
        Cmd::Get { key } => cli::get(b, &bytes(&key, esc)?, mode, &mut out),
        Cmd::Put { key, value, ttl } => {
            let (key, value) = (bytes(&key, esc)?, bytes(&value, esc)?);
            cli::put(b, &key, &value, ttl, mode, &mut out)
        }
        Cmd::Delete { key } => cli::delete(b, &bytes(&key, esc)?, mode, &mut out),
        cmd @ (Cmd::DeleteRange { .. } | Cmd::DeletePrefix { .. }) => {
            range_delete_cmd(cmd, esc, client.keyspace(), |what| {
                cli::run_range_delete(b, what, mode, &mut out)
            })
        }
        cmd @ (Cmd::Scan { .. } | Cmd::Prefix { .. } | Cmd::Search { .. }) => {
            let listing = listing(cmd, esc)?;
            cli::list(b, &listing, mode, &mut out, &mut io::stderr())
        }
        Cmd::Count => cli::count(b, mode, &mut out),
        Cmd::Keyspaces => cli::keyspaces(b, mode, &mut out),
        Cmd::CreateKeyspace { name, options } => {
            cli::create_keyspace(b, &name, &options, mode, &mut out)
        }
        Cmd::DropKeyspace { name, yes } => {
            confirm_drop(&name, yes)?;
            cli::drop_keyspace(b, &name, mode, &mut out)
        }
        Cmd::Stats { section } => cli::stats(b, section.map(StatsSection::from), mode, &mut out),
        Cmd::Levels => cli::levels(b, mode, &mut out),
        Cmd::Flush => cli::flush(b, mode, &mut out),
        Cmd::Compact => cli::compact(b, mode, &mut out),
        Cmd::Checkpoint { dir } => cli::checkpoint(b, &dir, mode, &mut out),
        Cmd::Inspect { .. } => Err(not_remote("inspect", &client)),
        Cmd::Verify { .. } => Err(not_remote("verify", &client)),
        Cmd::Import {
            file,
            format,
            batch_size,
        } => {
            let format = pick_format(format, &file);
            import_into(b, &file, format, batch_size, mode, &mut out)
        }
        Cmd::Export {
            prefix,
            format,
            output,
        } => {
            let prefix = prefix.map(|p| bytes(&p, esc)).transpose()?;
            let format = export_format(format, output.as_deref());
            export_from(b, prefix.as_deref(), format, output.as_deref(), &mut out)
        }
    };
    let flushed = out.flush();
    let code = code?;
    flushed?;
    Ok(code)
}

/// Client mode's shell: fails at once (status 6 or 7) when the server cannot be reached or
/// rejects the token. History goes to ~/.lsmkv_client_history.
fn remote_shell(client: &Client, bail: bool, mode: OutputMode) -> Result<u8, Failure> {
    client.check()?;
    if client.keyspace() != lsmkv_cli::remote::DEFAULT_KEYSPACE {
        client.keyspace_stats(client.keyspace())?;
    }
    let history = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".lsmkv_client_history"));
    let summary = lsmkv_cli::run(client, history.as_deref(), bail, mode)?;
    if let Some(sig) = summary.signal {
        return Ok(u8::try_from(128 + sig).unwrap_or(exit::OTHER));
    }
    Ok(summary.first_code)
}

/// The keys `scan`, `prefix` or `search` list (for any other command: all of them).
fn listing(cmd: Cmd, esc: bool) -> Result<cli::Listing, Failure> {
    let listing = match cmd {
        Cmd::Scan {
            start,
            end,
            limit,
            reverse,
        } => cli::Listing {
            start: start.map(|s| bytes(&s, esc)).transpose()?,
            end: end.map(|s| bytes(&s, esc)).transpose()?,
            limit,
            reverse,
            ..cli::Listing::default()
        },
        Cmd::Prefix {
            prefix,
            limit,
            reverse,
        } => cli::Listing {
            prefix: Some(bytes(&prefix, esc)?),
            limit,
            reverse,
            ..cli::Listing::default()
        },
        Cmd::Search { text, limit } => cli::Listing {
            search: Some(bytes(&text, esc)?),
            limit,
            ..cli::Listing::default()
        },
        _ => cli::Listing::default(),
    };
    Ok(listing)
}

/// `lsmkv verify`: every checksum of every live file of `dir`.
fn verify(dir: &Path, mode: OutputMode) -> Result<u8, Failure> {
    must_exist(dir)?;
    let report = debug::verify::verify_dir(dir, &mut |_, _| {});
    let n = report.problems.len();
    cli::report(
        &report,
        n,
        inspect::verify_text,
        mode,
        &mut io::stdout().lock(),
    )
}

/// `lsmkv import`: `file` ("-" for stdin) into the database; the summary on stderr (stdout with
/// `--json`).
fn import(
    dir: &Path,
    ks: &str,
    file: &Path,
    format: Format,
    batch_size: usize,
    mode: OutputMode,
) -> Result<u8, Failure> {
    with_db(dir, false, ks, |db, out| {
        import_into(db.into(), file, format, batch_size, mode, out)
    })
}

/// [`import`] into a local database or a server.
fn import_into(
    db: Backend<'_>,
    file: &Path,
    format: Format,
    batch_size: usize,
    mode: OutputMode,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let s = if file.as_os_str() == "-" {
        transfer::import(db, io::stdin().lock(), None, format, batch_size)?
    } else {
        let f = File::open(file)
            .map_err(|e| Failure::other(format!("cannot open {}: {e}", file.display())))?;
        let len = f.metadata().ok().map(|m| m.len());
        transfer::import(db, f, len, format, batch_size)?
    };
    if mode == OutputMode::Json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"records": s.records, "batches": s.batches})
        )?;
    } else {
        eprintln!("imported {} records in {} batches", s.records, s.batches);
    }
    Ok(exit::OK)
}

/// The format of `export`: `--format`, else by the output file's extension, else JSON lines.
fn export_format(format: Option<FormatArg>, output: Option<&Path>) -> Format {
    match (format, output) {
        (Some(f), _) => pick_format(Some(f), Path::new("")),
        (None, Some(o)) => Format::from_path(o),
        (None, None) => Format::JsonLines,
    }
}

/// `lsmkv export`: every key (or those starting with `prefix`) to `output` or stdout.
fn export(
    dir: &Path,
    ks: &str,
    prefix: Option<&[u8]>,
    format: Option<FormatArg>,
    output: Option<&Path>,
) -> Result<u8, Failure> {
    let format = export_format(format, output);
    with_db_read_only(dir, ks, |db, out| {
        export_from(db.into(), prefix, format, output, out)
    })
}

/// [`export`] from a local database or a server.
fn export_from(
    db: Backend<'_>,
    prefix: Option<&[u8]>,
    format: Format,
    output: Option<&Path>,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let n = match output {
        Some(path) => {
            let f = File::create(path)
                .map_err(|e| Failure::other(format!("cannot create {}: {e}", path.display())))?;
            transfer::export(db, f, prefix, format)?
        }
        None => transfer::export(db, &mut *out, prefix, format)?,
    };
    eprintln!("exported {n} records");
    Ok(exit::OK)
}

fn pick_format(arg: Option<FormatArg>, file: &Path) -> Format {
    match arg {
        Some(FormatArg::Jsonl) => Format::JsonLines,
        Some(FormatArg::Csv) => Format::Csv,
        None => Format::from_path(file),
    }
}

/// A path `verify` or `inspect` was given: a missing one is not corruption but exit status 5.
fn must_exist(path: &Path) -> Result<(), Failure> {
    match path.try_exists() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::no_such_path(path)),
        // Cannot tell (a permission problem on the way): let the dump report it.
        Err(_) => Ok(()),
    }
}

fn inspect_cmd(what: InspectCmd, dir: &Path, mode: OutputMode) -> Result<u8, Failure> {
    let mut out = io::stdout().lock();
    match what {
        InspectCmd::Sst { file, blocks, keys } => {
            must_exist(&file)?;
            let d = debug::sst::dump_sst(
                &file,
                debug::sst::SstOptions {
                    blocks,
                    keys,
                    value_preview_bytes: 64,
                },
            );
            cli::report(&d, d.problems.len(), inspect::sst_text, mode, &mut out)
        }
        InspectCmd::Wal { file } => {
            must_exist(&file)?;
            let d = debug::wal::dump_wal(&file, debug::wal::WalOptions::default());
            cli::report(&d, d.problems.len(), inspect::wal_text, mode, &mut out)
        }
        InspectCmd::Manifest { path } => {
            let path = path.as_deref().unwrap_or(dir);
            must_exist(path)?;
            let mut d = debug::manifest::dump_manifest(path);
            if d.current.is_none() && path.is_file() {
                // Given the manifest file itself: CURRENT is in its directory.
                d.current = read_current(&d.dir);
            }
            cli::report(&d, d.problems.len(), inspect::manifest_text, mode, &mut out)
        }
    }
}

/// The manifest name in `dir/CURRENT`, if it holds one.
fn read_current(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("CURRENT")).ok()?;
    let name = text.strip_suffix('\n')?;
    (name.starts_with("MANIFEST-") && !name.contains(['/', '\n'])).then(|| name.to_string())
}

/// The shell, starting in keyspace `ks`: interactive on a terminal, a script otherwise (exit
/// status of the first failing line).
fn shell(dir: &Path, ks: &str, bail: bool, mode: OutputMode) -> Result<u8, Failure> {
    let db = open(dir, false)?;
    let history = dir.join(".lsmkv_history");
    // The keyspace handle (and the session's) are gone before the close.
    let result =
        open_keyspace(&db, ks).and_then(|ks| Ok(lsmkv_cli::run(&ks, Some(&history), bail, mode)?));
    let closed = db.close();
    let summary = result?;
    closed.map_err(|e| {
        let mut f = Failure::from(e);
        f.message = format!("closing the database: {}", f.message);
        f
    })?;
    // Ended by a signal: the conventional status 128 + its number, once the database is closed.
    if let Some(sig) = summary.signal {
        return Ok(u8::try_from(128 + sig).unwrap_or(exit::OTHER));
    }
    Ok(summary.first_code)
}
