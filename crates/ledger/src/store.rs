//! Storage of the chain in one embedded database file (redb: ACID, crash-safe, copy-on-write
//! B-trees; a commit that returned survives a crash).
//!
//! Tables: `meta` holds the genesis file; `blocks` maps a height to the block's bytes;
//! `hashes` maps a height to the header hash; `transactions` maps a transaction's hash to the
//! height of the block that holds it. A block is written only when its header hash
//! links to the stored previous one and its height is the next; when read back, its header is
//! hashed again and compared with the stored hash, so a block altered on disk is found.

use crate::block::Block;
use crate::crypto::Hash;
use crate::genesis::Genesis;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");
const HASHES: TableDefinition<u64, &[u8]> = TableDefinition::new("hashes");
const TRANSACTIONS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("transactions");

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
        Ok(Store {
            database,
            path,
            genesis,
            height,
            head,
        })
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
        {
            let mut blocks = write.open_table(BLOCKS).map_err(|e| db_error(path, e))?;
            blocks
                .insert(height, bytes.as_slice())
                .map_err(|e| db_error(path, e))?;
            let mut hashes = write.open_table(HASHES).map_err(|e| db_error(path, e))?;
            hashes
                .insert(height, hash.0.as_slice())
                .map_err(|e| db_error(path, e))?;
            let mut transactions = write
                .open_table(TRANSACTIONS)
                .map_err(|e| db_error(path, e))?;
            for hash in tx_hashes {
                transactions
                    .insert(&hash.0, height)
                    .map_err(|e| db_error(path, e))?;
            }
        }
        write.commit().map_err(|e| db_error(path, e))?;
        self.height = height;
        self.head = hash;
        Ok(())
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
