//! [`RunningServer`]: a server on its own thread, for tests and embedding.

use std::net::SocketAddr;

use crate::config::ServerConfig;
use crate::serve::run;

/// A server running on its own thread; for tests and embedding.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl RunningServer {
    /// Starts a server with `cfg` (use port 0 for a free port) and returns once it listens.
    ///
    /// # Errors
    /// As [`run`].
    pub fn start(cfg: ServerConfig) -> Result<RunningServer, String> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lsmkv-server".into())
            .spawn(move || {
                run(
                    cfg,
                    || async move {
                        let _ = stop_rx.await;
                    },
                    move |a| {
                        let _ = addr_tx.send(a);
                    },
                )
            })
            .map_err(|e| format!("cannot spawn the server thread: {e}"))?;
        match addr_rx.recv() {
            Ok(addr) => Ok(RunningServer {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            // The thread ended before binding: report its error.
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e,
                Ok(Ok(())) => "server stopped before listening".into(),
                Err(_) => "server thread panicked".into(),
            }),
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Graceful shutdown: stop accepting, finish requests in flight, sync and close the database.
    ///
    /// # Errors
    /// As [`run`].
    pub fn stop(mut self) -> Result<(), String> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), String> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("server thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
