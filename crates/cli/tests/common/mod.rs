//! Shared helpers of the `lsmkv` binary's tests: the command with configuration variables
//! cleared, and a run with input on stdin.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The `lsmkv` binary with the variables `cleared` removed from its environment (and always
/// those of client mode, so a developer's LSMKV_URL does not point the tests at a server).
pub fn lsmkv_without(cleared: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lsmkv"));
    cmd.env_remove("LSMKV_URL").env_remove("API_TOKEN");
    for var in cleared {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` in a fresh temporary working directory (so a developer's `.env` is not picked up),
/// capturing stdout and stderr.
pub fn output_in_temp_dir(cmd: &mut Command) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    cmd.current_dir(cwd.path()).output().unwrap()
}

/// Runs `cmd` with `input` as its stdin (closed after it), capturing stdout and stderr.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}
