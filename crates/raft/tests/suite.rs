//! openraft's own storage test suite (`openraft::testing::Suite`) against the lsmkv adapter:
//! every test gets a fresh database in a temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lsmkv::{Db, Options, SyncMode};
use lsmkv_raft::openraft::StorageError;
use lsmkv_raft::openraft::testing::{StoreBuilder, Suite};
use lsmkv_raft::{LogStore, NodeId, StateMachineStore, TypeConfig};

struct Builder {
    sync_mode: SyncMode,
}

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<NodeId>> {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options {
            sync_mode: self.sync_mode,
            ..Options::default()
        };
        let db = Db::open(dir.path(), opts).unwrap();
        let (log, sm) = lsmkv_raft::open(&db).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_always() {
    Suite::test_all(Builder {
        sync_mode: SyncMode::Always,
    })
    .unwrap();
}

/// Under `none` the engine fsyncs only for tickets: the suite's appends wait for the durability
/// thread's on-demand fsync.
#[test]
fn openraft_storage_suite_none() {
    Suite::test_all(Builder {
        sync_mode: SyncMode::None,
    })
    .unwrap();
}
