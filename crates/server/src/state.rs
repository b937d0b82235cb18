//! What every connection shares: the database, the configuration, the metrics.

use std::time::Instant;

use lsmkv::Db;

use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// State shared by every connection.
pub struct AppState {
    pub db: Db,
    pub cfg: ServerConfig,
    pub metrics: Metrics,
    /// Serialises feature-flag updates so that version checks are atomic.
    pub flag_lock: parking_lot::Mutex<()>,
    pub started: Instant,
}

impl AppState {
    pub fn new(db: Db, cfg: ServerConfig) -> AppState {
        AppState {
            db,
            cfg,
            metrics: Metrics::default(),
            flag_lock: parking_lot::Mutex::new(()),
            started: Instant::now(),
        }
    }
}
