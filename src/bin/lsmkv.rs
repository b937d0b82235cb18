//! `lsmkv`: an interactive shell (REPL) over an lsmkv database.
//!
//! Configuration precedence: command-line flag > environment variable > `.env` file > default.
//! Every engine option is read from the environment by `Options::from_env` (see `.env.example`).
//! When stdin is not a terminal, commands are read line by line from it and the exit status is 1
//! if any line failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lsmkv::{Db, Options};

/// An embedded, memory-mapped LSM-tree key-value store: interactive shell.
#[derive(Parser, Debug)]
#[command(name = "lsmkv", version, about, after_help = lsmkv::repl::HELP)]
struct Args {
    /// Directory of the database (created if missing).
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

fn main() -> ExitCode {
    // `.env` fills in variables that are not already set; a missing file is fine.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("lsmkv: ignoring .env: {e}");
    }
    let args = Args::parse();
    let mut opts = match Options::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("lsmkv: {e}");
            return ExitCode::from(2);
        }
    };
    opts.data_dir.clone_from(&args.data_dir);
    let db = match Db::open(&args.data_dir, opts) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("lsmkv: cannot open {}: {e}", args.data_dir.display());
            return ExitCode::FAILURE;
        }
    };
    let history = args.data_dir.join(".lsmkv_history");
    let result = lsmkv::repl::run(&db, Some(&history));
    let closed = db.close();
    match (result, closed) {
        (Err(e), _) => {
            eprintln!("lsmkv: {e}");
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("lsmkv: closing the database: {e}");
            ExitCode::FAILURE
        }
        (Ok(0), Ok(())) => ExitCode::SUCCESS,
        (Ok(_), Ok(())) => ExitCode::FAILURE,
    }
}
