//! Signals while the shell runs. Ctrl-C (SIGINT) in the interactive shell stops the running
//! command and returns to the prompt; SIGTERM and SIGHUP (and SIGINT when the shell reads a
//! script) end the shell, which then closes the database as on a normal exit.
//!
//! A thread receives the signals (the process no longer dies of them): it raises the interrupt
//! flag, which listings poll between entries, and for the signals that end the shell records
//! the signal and wakes the shell's loop, which may be waiting for a line.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

#[cfg(unix)]
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
#[cfg(unix)]
use signal_hook::iterator::Signals;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static TERMINATED: AtomicI32 = AtomicI32::new(0);

/// Whether the running command should stop (Ctrl-C, or the shell is ending).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// Raises the interrupt flag, as Ctrl-C does.
#[cfg(test)]
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Forgets a Ctrl-C, before the next command runs.
pub fn clear_interrupt() {
    INTERRUPTED.store(false, Ordering::Relaxed);
}

/// The signal that ends the shell, once one arrived.
pub fn terminated() -> Option<i32> {
    match TERMINATED.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// Starts the thread receiving SIGINT, SIGTERM and SIGHUP. With `ctrl_c_stops_command`
/// (the interactive shell), SIGINT only stops the running command; otherwise it ends the shell
/// like the others. `wake` is called when the shell must end.
///
/// # Errors
/// Registering the handlers failed.
#[cfg(unix)]
pub fn watch(ctrl_c_stops_command: bool, wake: impl Fn(i32) + Send + 'static) -> io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("lsmkv-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                INTERRUPTED.store(true, Ordering::Relaxed);
                if sig == SIGINT && ctrl_c_stops_command {
                    continue;
                }
                let _ = TERMINATED.compare_exchange(0, sig, Ordering::Relaxed, Ordering::Relaxed);
                wake(sig);
            }
        })?;
    Ok(())
}

/// Elsewhere than on Unix the default handling stays.
///
/// # Errors
/// None.
#[cfg(not(unix))]
pub fn watch(_ctrl_c_stops_command: bool, _wake: impl Fn(i32) + Send + 'static) -> io::Result<()> {
    Ok(())
}
