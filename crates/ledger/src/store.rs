//! Storage of the chain in one embedded database file (redb: ACID, crash-safe, copy-on-write
//! B-trees; a commit that returned survives a crash).
//!
//! Tables: `meta` holds the genesis file and how far the index of transactions reaches;
//! `blocks` maps a height to the block's bytes; `hashes` maps a height to the header hash;
//! `transactions` maps a transaction's hash to the height of the block that holds it. A block
//! is written only when its header hash links to the stored previous one and its height is the
//! next; when read back, its header is hashed again and compared with the stored hash, so a
//! block altered on disk is found.
//!
//! # The index of transactions is written a slice at a time
//!
//! Transaction hashes are random, so each one inserted into the copy-on-write B-tree of
//! `transactions` lands in a leaf of its own: written with every block, the index rewrote
//! about a page (4 KiB) per transaction, several times the block itself. Instead the key space
//! is cut into [`INDEX_SLICES`] slices by the first byte of the hash. New hashes wait in memory,
//! per slice; each block's write transaction writes the waiting hashes of one slice, sorted,
//! in turn (block `h` writes slice `h mod INDEX_SLICES`). A slice's hashes of many blocks then
//! share the leaves they rewrite, every block does the same bounded amount of index work (no
//! block waits for a large batch), and a hash waits at most [`INDEX_SLICES`] blocks.
//!
//! The same transaction records the height below which every block's hashes are in the
//! table (`meta`, `indexed height`). After a crash the hashes above it are read again from
//! their blocks when the store opens, so lookups never miss a stored transaction.

use crate::block::Block;
use crate::crypto::Hash;
use crate::genesis::Genesis;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("hashes");
const TRANSACTIONS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("transactions");

/// The `meta` key of the last height whose transactions are all in the `transactions` table
/// (8 bytes, big-endian). A ledger written before the index was batched has no such key and
/// had every block indexed as it was written.
const INDEXED_KEY: &str = "indexed height";

/// Into how many slices the index of transactions is cut (see the module documentation).
pub const INDEX_SLICES: usize = 64;

/// The database file name inside a ledger directory.
pub const FILE_NAME: &str = "ledger.redb";

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("ledger database {path}: {message}")]
    Database {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The directory holds no ledger.
    #[error(
        "{path} holds no ledger (no {FILE_NAME}); create one with `nestgrid ledger init` or `nestgrid run --settle`"
    )]
    Missing {
        /// The directory.
        path: PathBuf,
    },
    /// A stored block does not match its stored hash, or cannot be decoded.
    #[error("block {height} is damaged on disk: {reason}")]
    Corrupt {
        /// Height of the block.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// A block to write does not continue the stored chain.
    #[error("block {height} does not continue the chain: {reason}")]
    NotNext {
        /// Height of the block.
        height: u64,
        /// What is wrong.
        reason: String,
    },
    /// The stored genesis differs from the one given.
    #[error("the ledger in {path} was created from another genesis file")]
    OtherGenesis {
        /// The directory.
        path: PathBuf,
    },
}

/// An open ledger database.
pub struct Store {
    database: Database,
    path: PathBuf,
    genesis: Genesis,
    height: u64,
    head: Hash,
    /// Per slice of the key space, the hashes not yet written to the index, with their
    /// block's height.
    unindexed: Vec<std::collections::HashMap<Hash, u64>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("height", &self.height)
            .finish()
    }
}

impl Store {
    /// Creates the ledger in `dir` for `genesis`, or opens it if it exists (then `genesis`
    /// must be the one it was created with).
    pub fn create_or_open(dir: &Path, genesis: &Genesis) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        if path.exists() {
            let store = Store::open(dir)?;
            if store.genesis != *genesis {
                return Err(StoreError::OtherGenesis {
                    path: dir.to_path_buf(),
                });
            }
            return Ok(store);
        }
        std::fs::create_dir_all(dir).map_err(|error| StoreError::Database {
            path: path.clone(),
            message: error.to_string(),
        })?;
        let database = Database::create(&path).map_err(|e| db_error(&path, e))?;
        let bytes = serde_json::to_vec_pretty(genesis).expect("a genesis serializes");
        let write = database.begin_write().map_err(|e| db_error(&path, e))?;
        {
            let mut meta = write.open_table(META).map_err(|e| db_error(&path, e))?;
            meta.insert("genesis", bytes.as_slice())
                .map_err(|e| db_error(&path, e))?;
            meta.insert(INDEXED_KEY, 0u64.to_be_bytes().as_slice())
                .map_err(|e| db_error(&path, e))?;
            write.open_table(BLOCKS).map_err(|e| db_error(&path, e))?;
            write.open_table(HASHES).map_err(|e| db_error(&path, e))?;
            write
                .open_table(TRANSACTIONS)
                .map_err(|e| db_error(&path, e))?;
        }
        write.commit().map_err(|e| db_error(&path, e))?;
        Ok(Store {
            database,
            path,
            head: genesis.hash(),
            genesis: genesis.clone(),
            height: 0,
            unindexed: vec![Default::default(); INDEX_SLICES],
        })
    }

    /// Opens the ledger in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Err(StoreError::Missing {
                path: dir.to_path_buf(),
            });
        }
        let database = Database::open(&path).map_err(|e| db_error(&path, e))?;
        let read = database.begin_read().map_err(|e| db_error(&path, e))?;
        let meta = read.open_table(META).map_err(|e| db_error(&path, e))?;
        let genesis_bytes = meta
            .get("genesis")
            .map_err(|e| db_error(&path, e))?
            .ok_or_else(|| StoreError::Corrupt {
                height: 0,
                reason: "the genesis file is missing".into(),
            })?;
        let genesis: Genesis =
            serde_json::from_slice(genesis_bytes.value()).map_err(|error| StoreError::Corrupt {
                height: 0,
                reason: format!("the stored genesis file does not parse: {error}"),
            })?;
        let (height, head) = {
            let hashes = read.open_table(HASHES).map_err(|e| db_error(&path, e))?;
            let last = hashes.last().map_err(|e| db_error(&path, e))?;
            match last {
                Some((height, hash)) => {
                    (height.value(), stored_hash(height.value(), hash.value())?)
                }
                None => (0, genesis.hash()),
            }
        };
        let indexed = match meta.get(INDEXED_KEY).map_err(|e| db_error(&path, e))? {
            None => height,
            Some(bytes) => {
                let array: [u8; 8] = bytes.value().try_into().map_err(|_| StoreError::Corrupt {
                    height: 0,
                    reason: "the stored height of the transaction index is not 8 bytes".into(),
                })?;
                u64::from_be_bytes(array)
            }
        };
        drop(meta);
        drop(read);
        let mut store = Store {
            database,
            path,
            genesis,
            height,
            head,
            unindexed: vec![Default::default(); INDEX_SLICES],
        };
        if indexed > height {
            return Err(StoreError::Corrupt {
                height: indexed,
                reason: format!(
                    "the transaction index reaches height {indexed}, past the last stored block {height}"
                ),
            });
        }
        // A damaged or missing block ends this early: its transactions cannot be found, and
        // reading it (a replay, `ledger verify`) reports the damage with its height.
        for at in indexed + 1..=height {
            let Ok(Some(block)) = store.block(at) else {
                break;
            };
            for tx in &block.transactions {
                let hash = tx.hash();
                let slice = store.slice_of(&hash);
                store.unindexed[slice].insert(hash, at);
            }
        }
        Ok(store)
    }

    /// The genesis file.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// Height of the last stored block (0: none).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Hash of the last stored header (the genesis hash when empty).
    pub fn head(&self) -> Hash {
        self.head
    }

    /// Appends `block` durably. It must be the next height and link to the stored head.
    pub fn append(&mut self, block: &Block) -> Result<(), StoreError> {
        let hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash()).collect();
        self.append_hashed(block, &hashes)
    }

    /// [`Store::append`] of a block whose transactions' hashes the caller computed from them
    /// already (`tx_hashes`, in order), for the index of transactions.
    pub(crate) fn append_hashed(
        &mut self,
        block: &Block,
        tx_hashes: &[Hash],
    ) -> Result<(), StoreError> {
        assert_eq!(
            tx_hashes.len(),
            block.transactions.len(),
            "one hash per transaction"
        );
        debug_assert!(
            block
                .transactions
                .iter()
                .zip(tx_hashes)
                .all(|(tx, hash)| tx.hash() == *hash),
            "the hashes are the transactions' own"
        );
        let height = block.header.height;
        if height != self.height + 1 {
            return Err(StoreError::NotNext {
                height,
                reason: format!("the stored chain ends at height {}", self.height),
            });
        }
        if block.header.parent != self.head {
            return Err(StoreError::NotNext {
                height,
                reason: "its parent hash is not the stored head".into(),
            });
        }
        let hash = block.header.hash();
        let bytes = block.to_bytes();
        let path = &self.path;
        let write = self.database.begin_write().map_err(|e| db_error(path, e))?;
        let slices = self.unindexed.len();
        let written = (height % slices as u64) as usize;
        {
            let mut blocks = write.open_table(BLOCKS).map_err(|e| db_error(path, e))?;
            blocks
                .insert(height, bytes.as_slice())
                .map_err(|e| db_error(path, e))?;
            let mut hashes = write.open_table(HASHES).map_err(|e| db_error(path, e))?;
            hashes
                .insert(height, hash.0.as_slice())
                .map_err(|e| db_error(path, e))?;
            let mut entries: Vec<(&Hash, u64)> = self.unindexed[written]
                .iter()
                .map(|(hash, at)| (hash, *at))
                .chain(
                    tx_hashes
                        .iter()
                        .filter(|hash| self.slice_of(hash) == written)
                        .map(|hash| (hash, height)),
                )
                .collect();
            // In key order, consecutive inserts share the leaves they rewrite.
            entries.sort_unstable_by_key(|(hash, _)| **hash);
            let mut transactions = write
                .open_table(TRANSACTIONS)
                .map_err(|e| db_error(path, e))?;
            for (hash, at) in entries {
                transactions
                    .insert(&hash.0, at)
                    .map_err(|e| db_error(path, e))?;
            }
            // Every slice was written by one of the last `slices` blocks, this one included.
            let indexed = (height + 1).saturating_sub(slices as u64);
            let mut meta = write.open_table(META).map_err(|e| db_error(path, e))?;
            meta.insert(INDEXED_KEY, indexed.to_be_bytes().as_slice())
                .map_err(|e| db_error(path, e))?;
        }
        write.commit().map_err(|e| db_error(path, e))?;
        self.unindexed[written].clear();
        for hash in tx_hashes {
            let slice = self.slice_of(hash);
            if slice != written {
                self.unindexed[slice].insert(*hash, height);
            }
        }
        self.height = height;
        self.head = hash;
        Ok(())
    }

    /// The slice of the index that `hash` belongs to.
    fn slice_of(&self, hash: &Hash) -> usize {
        usize::from(hash.0[0]) * self.unindexed.len() / 256
    }

    /// Cuts the index into `slices` slices instead of [`INDEX_SLICES`] (for tests of the
    /// slicing; only on an empty store).
    #[doc(hidden)]
    pub fn set_index_slices_for_tests(&mut self, slices: usize) {
        assert_eq!(self.height, 0, "only before the first block");
        self.unindexed = vec![Default::default(); slices.clamp(1, 256)];
    }

    /// How many stored transactions are not yet in the on-disk index (they are found all the
    /// same, from memory).
    pub fn unindexed_transactions(&self) -> usize {
        self.unindexed.iter().map(|slice| slice.len()).sum()
    }

    /// Reads block `height`, checking its header against the stored hash.
    pub fn block(&self, height: u64) -> Result<Option<Block>, StoreError> {
        let path = &self.path;
        let read = self.database.begin_read().map_err(|e| db_error(path, e))?;
        let blocks = read.open_table(BLOCKS).map_err(|e| db_error(path, e))?;
        let hashes = read.open_table(HASHES).map_err(|e| db_error(path, e))?;
        let Some(bytes) = blocks.get(height).map_err(|e| db_error(path, e))? else {
            return Ok(None);
        };
        let block = Block::from_bytes(bytes.value()).map_err(|error| StoreError::Corrupt {
            height,
            reason: format!("it does not decode: {error}"),
        })?;
        let expected = match hashes.get(height).map_err(|e| db_error(path, e))? {
            Some(hash) => stored_hash(height, hash.value())?,
            None => {
                return Err(StoreError::Corrupt {
                    height,
                    reason: "its hash is missing".into(),
                });
            }
        };
        if block.header.hash() != expected {
            return Err(StoreError::Corrupt {
                height,
                reason: format!(
                    "its header hashes to {}, the stored hash is {}",
                    block.header.hash(),
                    expected
                ),
            });
        }
        if block.header.height != height {
            return Err(StoreError::Corrupt {
                height,
                reason: format!("it says it is block {}", block.header.height),
            });
        }
        Ok(Some(block))
    }

    /// Height of the block holding the transaction `hash`, if one does.
    pub fn find_transaction(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        if let Some(height) = self.unindexed[self.slice_of(hash)].get(hash) {
            return Ok(Some(*height));
        }
        let path = &self.path;
        let read = self.database.begin_read().map_err(|e| db_error(path, e))?;
        let table = read
            .open_table(TRANSACTIONS)
            .map_err(|e| db_error(path, e))?;
        let found = table.get(&hash.0).map_err(|e| db_error(path, e))?;
        Ok(found.map(|height| height.value()))
    }

    /// Overwrites the stored bytes of block `height` (for tests that damage a ledger).
    #[doc(hidden)]
    pub fn overwrite_for_tests(&mut self, height: u64, bytes: &[u8]) -> Result<(), StoreError> {
        let path = &self.path;
        let write = self.database.begin_write().map_err(|e| db_error(path, e))?;
        {
            let mut blocks = write.open_table(BLOCKS).map_err(|e| db_error(path, e))?;
            blocks
                .insert(height, bytes)
                .map_err(|e| db_error(path, e))?;
        }
        write.commit().map_err(|e| db_error(path, e))
    }
}

fn stored_hash(height: u64, bytes: &[u8]) -> Result<Hash, StoreError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        height,
        reason: format!("its stored hash has {} bytes", bytes.len()),
    })?;
    Ok(Hash(array))
}

fn db_error(path: &Path, error: impl std::fmt::Display) -> StoreError {
    let mut message = error.to_string();
    if message.contains("Cannot acquire lock") {
        message = "the file is in use by another process (a running node?); stop it or read the ledger through that process".into();
    }
    StoreError::Database {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockHeader, Certificate};
    use crate::crypto::Keypair;
    use crate::genesis::Authority;
    use crate::tx::{Body, Role, SignedTransaction, Transaction};

    fn genesis(gateway: &Keypair) -> Genesis {
        Genesis {
            chain_id: "index".into(),
            currency: "EUR".into(),
            timestamp_ms: 0,
            validators: vec![Keypair::derived(1, "validator").public()],
            authorities: vec![Authority {
                name: "gateway".into(),
                key: gateway.public(),
                roles: vec![Role::Gateway],
            }],
        }
    }

    fn deposit(gateway: &Keypair, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: "index".into(),
            signer: gateway.public(),
            nonce,
            body: Body::Deposit {
                account: gateway.public(),
                amount: 1,
            },
        }
        .sign(gateway)
    }

    /// Appends a block of `count` deposits after `store`'s head (the store checks only the
    /// link, not the contents).
    fn append(store: &mut Store, gateway: &Keypair, nonce: &mut u64, count: usize) -> Vec<Hash> {
        let transactions: Vec<SignedTransaction> = (0..count)
            .map(|_| {
                *nonce += 1;
                deposit(gateway, *nonce)
            })
            .collect();
        let block = Block {
            header: BlockHeader {
                chain_id: "index".into(),
                height: store.height() + 1,
                parent: store.head(),
                timestamp_ms: store.height() + 1,
                tx_root: Block::tx_root(&transactions),
                state_hash: Hash::default(),
                tx_count: count as u32,
            },
            transactions,
            certificate: Certificate::Votes(Vec::new()),
        };
        store.append(&block).unwrap();
        block.transactions.iter().map(|tx| tx.hash()).collect()
    }

    fn on_disk(store: &Store, hash: &Hash) -> Option<u64> {
        let read = store.database.begin_read().unwrap();
        let table = read.open_table(TRANSACTIONS).unwrap();
        table.get(&hash.0).unwrap().map(|height| height.value())
    }

    fn indexed_height(store: &Store) -> u64 {
        let read = store.database.begin_read().unwrap();
        let meta = read.open_table(META).unwrap();
        let bytes = meta.get(INDEXED_KEY).unwrap().unwrap();
        u64::from_be_bytes(bytes.value().try_into().unwrap())
    }

    #[test]
    fn every_stored_transaction_is_found_whether_or_not_its_slice_was_written() {
        let gateway = Keypair::derived(1, "gateway");
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create_or_open(dir.path(), &genesis(&gateway)).unwrap();
        // Slice 0: first byte below 128, written by even heights; slice 1 by odd heights.
        store.set_index_slices_for_tests(2);
        let mut nonce = 0;
        let mut blocks = Vec::new();
        for count in [3, 5, 2, 8] {
            blocks.push(append(&mut store, &gateway, &mut nonce, count));
        }
        let found = |store: &Store| {
            for (at, hashes) in blocks.iter().enumerate() {
                for hash in hashes {
                    assert_eq!(store.find_transaction(hash).unwrap(), Some(at as u64 + 1));
                }
            }
        };
        found(&store);
        let mut waiting = 0;
        for (at, hashes) in blocks.iter().enumerate() {
            let height = at as u64 + 1;
            for hash in hashes {
                let written = if hash.0[0] < 128 {
                    height <= 4
                } else {
                    height <= 3
                };
                assert_eq!(
                    on_disk(&store, hash).is_some(),
                    written,
                    "{hash:?} of block {height}"
                );
                waiting += usize::from(!written);
            }
        }
        assert!(
            waiting > 0,
            "block 4 has hashes of slice 1, which wait in memory"
        );
        assert_eq!(store.unindexed_transactions(), waiting);
        assert_eq!(indexed_height(&store), 3);
        assert_eq!(
            store
                .find_transaction(&deposit(&gateway, 99).hash())
                .unwrap(),
            None
        );

        // Dropped as a crash would leave it: opening again reads the transactions of the
        // blocks above the recorded height from the blocks.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.height(), 4);
        assert_eq!(store.unindexed_transactions(), blocks[3].len());
        found(&store);
    }

    #[test]
    fn a_hash_waits_at_most_one_round_of_slices() {
        for slices in [1, 3, 8] {
            let gateway = Keypair::derived(slices as u64, "gateway");
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::create_or_open(dir.path(), &genesis(&gateway)).unwrap();
            store.set_index_slices_for_tests(slices);
            let mut nonce = 0;
            let mut blocks: Vec<Vec<Hash>> = Vec::new();
            for height in 1..=20u64 {
                blocks.push(append(
                    &mut store,
                    &gateway,
                    &mut nonce,
                    (height % 5) as usize,
                ));
                for (at, hashes) in blocks.iter().enumerate() {
                    let block = at as u64 + 1;
                    for hash in hashes {
                        assert_eq!(store.find_transaction(hash).unwrap(), Some(block));
                        if block + slices as u64 <= height {
                            assert_eq!(on_disk(&store, hash), Some(block), "{slices} slices");
                        }
                    }
                }
                let indexed = indexed_height(&store);
                assert_eq!(indexed, (height + 1).saturating_sub(slices as u64));
                for hash in blocks[..indexed as usize].iter().flatten() {
                    assert!(on_disk(&store, hash).is_some(), "below the recorded height");
                }
            }
        }
    }

    #[test]
    fn a_ledger_written_before_batching_counts_as_fully_indexed() {
        let gateway = Keypair::derived(1, "gateway");
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::create_or_open(dir.path(), &genesis(&gateway)).unwrap();
        store.set_index_slices_for_tests(1);
        let mut nonce = 0;
        let hashes = append(&mut store, &gateway, &mut nonce, 2);
        {
            let write = store.database.begin_write().unwrap();
            write.open_table(META).unwrap().remove(INDEXED_KEY).unwrap();
            write.commit().unwrap();
        }
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.unindexed_transactions(), 0);
        for hash in &hashes {
            assert_eq!(store.find_transaction(hash).unwrap(), Some(1));
        }
    }

    #[test]
    fn an_index_past_the_chain_is_reported() {
        let gateway = Keypair::derived(1, "gateway");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::create_or_open(dir.path(), &genesis(&gateway)).unwrap();
        {
            let write = store.database.begin_write().unwrap();
            write
                .open_table(META)
                .unwrap()
                .insert(INDEXED_KEY, 3u64.to_be_bytes().as_slice())
                .unwrap();
            write.commit().unwrap();
        }
        drop(store);
        let error = Store::open(dir.path()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("transaction index reaches height 3"),
            "{error}"
        );
    }
}
