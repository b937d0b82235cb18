//! fjall 3: one keyspace; LZ4 on every level, 10 bits/key bloom on every level, 64 MiB cache.
//!
//! Non-sync writes go to the journal buffer and are flushed to the OS per write (fjall's default,
//! `manual_journal_persist = false`), no fsync; sync writes call `persist(SyncData)`.
//!
//! With `EngineConfig::keyspaces` it also opens that many keyspaces (`ks0`, ...: fjall's
//! partitions, with the main keyspace's settings) in the same database. With
//! `EngineConfig::transactional` the database is opened as an `OptimisticTxDatabase` (fjall's
//! serializable optimistic transactions; `Conflict` at commit); plain writes then go through a
//! write transaction too (it has no reads, so it cannot conflict).

use std::path::Path;

use fjall::config::{BloomConstructionPolicy, CompressionPolicy, FilterPolicy, FilterPolicyEntry};
use fjall::{
    CompressionType, Database, Keyspace, KeyspaceCreateOptions, OptimisticTxDatabase,
    OptimisticWriteTx, PersistMode, Readable,
};

use super::{Engine, EngineConfig, Reader, Result, Tx, TxBody, TxOutcome};

/// The database, plain or transactional.
enum Handle {
    Plain(Database),
    Optimistic(OptimisticTxDatabase),
}

pub struct FjallEngine {
    db: Handle,
    ks: Keyspace,
    /// The keyspaces of `put_in`.
    spaces: Vec<Keyspace>,
}

impl FjallEngine {
    pub fn open(dir: &Path, cfg: &EngineConfig) -> Result<Self> {
        let bits = cfg.bloom_bits_per_key as f32;
        let memtable = cfg.memtable_bytes;
        let create = move || {
            KeyspaceCreateOptions::default()
                .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
                .filter_policy(FilterPolicy::all(FilterPolicyEntry::Bloom(
                    BloomConstructionPolicy::BitsPerKey(bits),
                )))
                .max_memtable_size(memtable)
        };
        let names: Vec<String> = (0..cfg.keyspaces).map(|i| format!("ks{i}")).collect();
        let (db, ks, spaces) = if cfg.transactional {
            let db = OptimisticTxDatabase::builder(dir)
                .cache_size(cfg.cache_bytes)
                .open()?;
            let ks = db.keyspace("bench", create)?.as_ref().clone();
            let spaces = names
                .iter()
                .map(|n| Ok(db.keyspace(n, create)?.as_ref().clone()))
                .collect::<Result<Vec<_>>>()?;
            (Handle::Optimistic(db), ks, spaces)
        } else {
            let db = Database::builder(dir).cache_size(cfg.cache_bytes).open()?;
            let ks = db.keyspace("bench", create)?;
            let spaces = names
                .iter()
                .map(|n| db.keyspace(n, create))
                .collect::<fjall::Result<Vec<_>>>()?;
            (Handle::Plain(db), ks, spaces)
        };
        Ok(FjallEngine { db, ks, spaces })
    }

    fn persist(&self, mode: PersistMode) -> Result<()> {
        match &self.db {
            Handle::Plain(db) => db.persist(mode)?,
            Handle::Optimistic(db) => db.persist(mode)?,
        }
        Ok(())
    }

    fn space(&self, ks: usize) -> Result<&Keyspace> {
        self.spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}").into())
    }

    /// Inserts every (keyspace, key, value) atomically: one batch, or one write transaction.
    fn write_all(&self, items: &[(&Keyspace, &[u8], &[u8])], sync: bool) -> Result<()> {
        let durability = sync.then_some(PersistMode::SyncData);
        match &self.db {
            Handle::Plain(db) => {
                let mut b = db.batch();
                if durability.is_some() {
                    b = b.durability(durability);
                }
                for (ks, k, v) in items {
                    b.insert(ks, *k, *v);
                }
                b.commit()?;
            }
            Handle::Optimistic(db) => {
                let mut tx = db.write_tx()?;
                if durability.is_some() {
                    tx = tx.durability(durability);
                }
                for (ks, k, v) in items {
                    tx.insert(*ks, *k, *v);
                }
                // Blind writes: nothing was read, so nothing can conflict.
                tx.commit()?
                    .map_err(|_| "a write transaction without reads conflicted")?;
            }
        }
        Ok(())
    }
}

impl Engine for FjallEngine {
    fn put(&self, key: &[u8], value: &[u8], sync: bool) -> Result<()> {
        self.ks.insert(key, value)?;
        if sync {
            self.persist(PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn write_batch(&self, items: &[(&[u8], &[u8])], sync: bool) -> Result<()> {
        let items: Vec<(&Keyspace, &[u8], &[u8])> =
            items.iter().map(|(k, v)| (&self.ks, *k, *v)).collect();
        self.write_all(&items, sync)
    }

    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(FjallReader {
            ks: &self.ks,
            spaces: &self.spaces,
        }))
    }

    fn flush(&self) -> Result<()> {
        self.ks.rotate_memtable_and_wait()?;
        for ks in &self.spaces {
            ks.rotate_memtable_and_wait()?;
        }
        self.persist(PersistMode::SyncAll)
    }

    fn compact(&self) -> Result<bool> {
        self.ks.major_compact()?;
        for ks in &self.spaces {
            ks.major_compact()?;
        }
        Ok(true)
    }

    fn delete_prefix(&self, prefix: &[u8]) -> Result<bool> {
        // fjall 3 has no range delete (`Keyspace::clear` empties a whole keyspace; the hidden
        // `AbstractTree::drop_range` only drops tables that lie wholly inside the range): scan
        // the prefix (a snapshot) and delete its keys in batches.
        let mut keys: Vec<fjall::UserKey> = Vec::with_capacity(super::DELETE_BATCH);
        let commit = |keys: &mut Vec<fjall::UserKey>| -> Result<()> {
            match &self.db {
                Handle::Plain(db) => {
                    let mut b = db.batch();
                    for k in keys.drain(..) {
                        b.remove(&self.ks, k);
                    }
                    b.commit()?;
                }
                Handle::Optimistic(db) => {
                    let mut tx = db.write_tx()?;
                    for k in keys.drain(..) {
                        tx.remove(&self.ks, k);
                    }
                    tx.commit()?
                        .map_err(|_| "a write transaction without reads conflicted")?;
                }
            }
            Ok(())
        };
        for guard in self.ks.prefix(prefix) {
            keys.push(guard.key()?);
            if keys.len() == super::DELETE_BATCH {
                commit(&mut keys)?;
            }
        }
        if !keys.is_empty() {
            commit(&mut keys)?;
        }
        Ok(true)
    }

    fn keyspace_count(&self) -> usize {
        self.spaces.len()
    }

    fn put_in(&self, ks: usize, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.space(ks)?.insert(key, value)?)
    }

    fn write_batch_in(&self, items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        let items = items
            .iter()
            .map(|(ks, k, v)| Ok((self.space(*ks)?, *k, *v)))
            .collect::<Result<Vec<_>>>()?;
        self.write_all(&items, false)
    }

    fn transaction(&self, body: TxBody<'_>) -> Result<TxOutcome> {
        let Handle::Optimistic(db) = &self.db else {
            return Ok(TxOutcome::Unsupported);
        };
        let mut tx = db.write_tx()?;
        body(&mut FjallTx {
            tx: &mut tx,
            ks: &self.ks,
        })?;
        Ok(match tx.commit()? {
            Ok(()) => TxOutcome::Committed,
            Err(fjall::Conflict) => TxOutcome::Conflict,
        })
    }
}

struct FjallTx<'a> {
    tx: &'a mut OptimisticWriteTx,
    ks: &'a Keyspace,
}

impl Tx for FjallTx<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tx.get(self.ks, key)?.map(|v| v.to_vec()))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.tx.insert(self.ks, key, value);
        Ok(())
    }
}

struct FjallReader<'a> {
    ks: &'a Keyspace,
    spaces: &'a [Keyspace],
}

impl Reader for FjallReader<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<usize>> {
        Ok(self.ks.get(key)?.map(|v| v.len()))
    }

    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        let mut n = 0u64;
        for guard in self.ks.range(start..).take(limit) {
            let (k, v) = guard.into_inner()?;
            std::hint::black_box((k.len(), v.len()));
            n += 1;
        }
        Ok(Some(n))
    }

    fn get_in(&mut self, ks: usize, key: &[u8]) -> Result<Option<usize>> {
        let space = self
            .spaces
            .get(ks)
            .ok_or_else(|| format!("no keyspace {ks}"))?;
        Ok(space.get(key)?.map(|v| v.len()))
    }
}
