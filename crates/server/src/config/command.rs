//! The clap command of `lsmkv-server`: the server's derive struct plus one argument per engine
//! variable of the table.

use clap::{Arg, ArgAction, Args, Command};

use super::args::ServerArgs;
use super::vars::ENGINE_VARS;

/// The clap command: the derive struct plus one argument per engine variable.
pub fn command() -> Command {
    let mut cmd = ServerArgs::augment_args(
        Command::new("lsmkv-server")
            .version(env!("CARGO_PKG_VERSION"))
            .about("HTTP server for an lsmkv database")
            .after_help(
                "Every option is also an environment variable (shown as [env: NAME]); \
                 a .env file in the working directory is loaded when present. \
                 Precedence: flag > environment > .env > default. See .env.example.",
            ),
    );
    for v in ENGINE_VARS {
        cmd = cmd.arg(
            Arg::new(v.name)
                .long(v.flag)
                .env(v.name)
                .value_name(v.name)
                .help(format!("{} [default: {}]", v.help, v.default))
                .help_heading(v.group)
                .action(ArgAction::Set),
        );
    }
    cmd
}
