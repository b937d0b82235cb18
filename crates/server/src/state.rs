//! What every connection shares: the database, its keyspaces, the configuration, the metrics.

use std::time::Instant;

use lsmkv::{Db, Keyspace};

use crate::config::ServerConfig;
use crate::handlers::Watchers;
use crate::indexes::Indexes;
use crate::layout::FLAGS;
use crate::metrics::Metrics;
use crate::registry::Registry;

/// State shared by every connection.
pub struct AppState {
    pub db: Db,
    /// Every keyspace, by name.
    pub keyspaces: Registry,
    /// The keyspace of the feature flags.
    pub flags: Keyspace,
    /// The secondary indexes made through `/indexes`.
    pub indexes: Indexes,
    pub cfg: ServerConfig,
    pub metrics: Metrics,
    /// Serialises feature-flag updates so that version checks are atomic.
    pub flag_lock: parking_lot::Mutex<()>,
    pub started: Instant,
    /// The open `/watch` streams.
    pub watchers: std::sync::Arc<Watchers>,
    /// This node of the replicated cluster (RAFT_NODE_ID); `None`: a single-node server.
    pub cluster: Option<std::sync::Arc<crate::cluster::Cluster>>,
}

impl AppState {
    /// The state of a server on `db`, which `migrate::run` has brought to the current layout,
    /// with every index declared (so that its keyspace takes writes).
    ///
    /// # Errors
    /// The engine's error.
    pub fn new(db: Db, cfg: ServerConfig) -> lsmkv::Result<AppState> {
        // Created by the migration's marker; `keyspace` also creates it, should it be missing.
        let flags = db.keyspace(FLAGS)?;
        // Before the registry: declaring may create an index keyspace (a create cut short).
        let indexes = Indexes::load(&db)?;
        let keyspaces = Registry::load(&db)?;
        Ok(AppState {
            db,
            keyspaces,
            flags,
            indexes,
            cfg,
            metrics: Metrics::default(),
            flag_lock: parking_lot::Mutex::new(()),
            started: Instant::now(),
            watchers: Default::default(),
            cluster: None,
        })
    }
}
