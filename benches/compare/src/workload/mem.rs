//! Test engine: `BTreeMap`s behind locks, with keyspaces and serialized transactions, and faults
//! to inject so the workloads' checks can be shown to catch a broken engine.

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use crate::engines::{Engine, Reader, Result, Tx, TxBody, TxOutcome};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// What the engine gets wrong on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    #[default]
    None,
    /// Every 7th committed transaction reports success but writes nothing.
    LoseCommits,
    /// Every keyspace is the same map.
    SharedKeyspaces,
    /// `delete_prefix` leaves the prefix's last key.
    DeletePrefixLeavesOne,
    /// `delete_prefix` also deletes the first key after the prefix.
    DeletePrefixTooWide,
}

#[derive(Default)]
pub struct Mem {
    pub main: RwLock<Map>,
    spaces: Vec<RwLock<Map>>,
    /// Attempts of transactions that wrote; transactions run one at a time under this lock.
    attempts: Mutex<u64>,
    /// Every n-th attempt of a transaction that wrote fails with a conflict (0: never).
    conflict_every: u64,
    fault: Fault,
}

impl Mem {
    pub fn new() -> Mem {
        Mem::default()
    }

    pub fn with_keyspaces(n: usize) -> Mem {
        Mem {
            spaces: (0..n).map(|_| RwLock::default()).collect(),
            ..Mem::default()
        }
    }

    pub fn conflicting_every(n: u64) -> Mem {
        Mem {
            conflict_every: n,
            ..Mem::default()
        }
    }

    pub fn faulty(mut self, fault: Fault) -> Mem {
        self.fault = fault;
        self
    }

    fn space(&self, ks: usize) -> Result<&RwLock<Map>> {
        if self.fault == Fault::SharedKeyspaces {
            return Ok(&self.main);
        }
        self.spaces.get(ks).ok_or_else(|| "no such keyspace".into())
    }
}

impl Engine for Mem {
    fn put(&self, k: &[u8], v: &[u8], _sync: bool) -> Result<()> {
        self.main.write().unwrap().insert(k.to_vec(), v.to_vec());
        Ok(())
    }
    fn write_batch(&self, items: &[(&[u8], &[u8])], _sync: bool) -> Result<()> {
        let mut m = self.main.write().unwrap();
        for (k, v) in items {
            m.insert(k.to_vec(), v.to_vec());
        }
        Ok(())
    }
    fn reader(&self) -> Result<Box<dyn Reader + '_>> {
        Ok(Box::new(MemReader(self)))
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
    fn compact(&self) -> Result<bool> {
        Ok(false)
    }
    /// Everything lives in the one map: the memtable.
    fn key_levels(&self, num: u64) -> Result<Option<Vec<u8>>> {
        let m = self.main.read().unwrap();
        Ok(Some(
            (0..num)
                .map(|i| {
                    if m.contains_key(&super::key(i, true)[..]) {
                        crate::engines::IN_MEMTABLE
                    } else {
                        crate::engines::NOT_FOUND
                    }
                })
                .collect(),
        ))
    }
    fn delete_prefix(&self, prefix: &[u8]) -> Result<bool> {
        let mut m = self.main.write().unwrap();
        let mut doomed: Vec<Vec<u8>> = m
            .range(prefix.to_vec()..)
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .cloned()
            .collect();
        match self.fault {
            Fault::DeletePrefixLeavesOne => {
                doomed.pop();
            }
            Fault::DeletePrefixTooWide => {
                let after = m
                    .range(prefix.to_vec()..)
                    .map(|(k, _)| k)
                    .find(|k| !k.starts_with(prefix))
                    .cloned();
                doomed.extend(after);
            }
            _ => {}
        }
        for k in doomed {
            m.remove(&k);
        }
        Ok(true)
    }
    fn keyspace_count(&self) -> usize {
        self.spaces.len()
    }
    fn put_in(&self, ks: usize, k: &[u8], v: &[u8]) -> Result<()> {
        self.space(ks)?
            .write()
            .unwrap()
            .insert(k.to_vec(), v.to_vec());
        Ok(())
    }
    fn write_batch_in(&self, items: &[(usize, &[u8], &[u8])]) -> Result<()> {
        for (ks, k, v) in items {
            self.put_in(*ks, k, v)?;
        }
        Ok(())
    }
    fn transaction(&self, body: TxBody<'_>) -> Result<TxOutcome> {
        let mut attempts = self.attempts.lock().unwrap();
        let mut tx = MemTx {
            map: &self.main,
            writes: Map::new(),
        };
        body(&mut tx)?;
        if tx.writes.is_empty() {
            // Read-only: nothing to conflict with or to lose.
            return Ok(TxOutcome::Committed);
        }
        *attempts += 1;
        if self.conflict_every > 0 && attempts.is_multiple_of(self.conflict_every) {
            return Ok(TxOutcome::Conflict);
        }
        let lose = self.fault == Fault::LoseCommits && attempts.is_multiple_of(7);
        if !lose {
            self.main.write().unwrap().extend(tx.writes);
        }
        Ok(TxOutcome::Committed)
    }
}

struct MemTx<'a> {
    map: &'a RwLock<Map>,
    writes: Map,
}

impl Tx for MemTx<'_> {
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.writes.get(key) {
            return Ok(Some(v.clone()));
        }
        Ok(self.map.read().unwrap().get(key).cloned())
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.writes.insert(key.to_vec(), value.to_vec());
        Ok(())
    }
}

struct MemReader<'a>(&'a Mem);

impl Reader for MemReader<'_> {
    fn get(&mut self, k: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.main.read().unwrap().get(k).map(Vec::len))
    }
    fn scan(&mut self, start: &[u8], limit: usize) -> Result<Option<u64>> {
        let m = self.0.main.read().unwrap();
        Ok(Some(m.range(start.to_vec()..).take(limit).count() as u64))
    }
    fn get_in(&mut self, ks: usize, k: &[u8]) -> Result<Option<usize>> {
        Ok(self.0.space(ks)?.read().unwrap().get(k).map(Vec::len))
    }
}
