//! The clap command of `lsmkv-server`: the server's derive struct plus one argument per engine
//! variable of the table.

use clap::{Arg, ArgAction, Args, Command};

use super::args::ServerArgs;
use super::vars::ENGINE_VARS;

/// The clap command: the derive struct plus one argument per engine variable.
pub fn command() -> Command {
    let mut cmd = ServerArgs::augment_args(Command::new("lsmkv-server"));
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
    let vars = cmd
        .get_arguments()
        .filter(|a| a.get_env().is_some())
        .count();
    // Set after the derive struct so that nothing of it can stand in for the description.
    cmd.version(env!("CARGO_PKG_VERSION"))
        .about("lsmkv-server: the HTTP server of an lsmkv database")
        .long_about(None)
        .after_help(format!(
            "Every option is also an environment variable (shown as [env: NAME]), {vars} variables \
             in all; a .env file in the working directory is loaded when present. \
             Precedence: flag > environment > .env > default. See .env.example."
        ))
}
