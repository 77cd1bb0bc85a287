//! The chain: the state, the stored blocks, and the rules a block must keep.
//!
//! A block is valid when: its height is the next, its parent is the head's hash, its chain id
//! is the genesis one, its timestamp is not earlier than the parent's, it holds at most
//! [`limits::TRANSACTIONS_PER_BLOCK`] transactions, its `tx_root` is theirs, every transaction
//! passes the stateless checks and applies with [`ResultCode::Ok`] in order, the resulting
//! state's hash is `state_hash`, and its certificate proves that a quorum of validators
//! committed it. [`Ledger::check_block`] checks all of it on a copy of the state; the same
//! function serves committing, replaying at start-up, and `nestgrid ledger verify`.

use crate::block::{Block, BlockHeader, Certificate, CertificateCheck, CertificateError};
use crate::codes::ResultCode;
use crate::crypto::Hash;
use crate::genesis::{Genesis, GenesisError};
use crate::limits;
use crate::state::State;
use crate::store::{Store, StoreError};
use crate::tx::{SignedTransaction, signatures_valid};
use std::path::Path;

/// Why a block is not a valid next block.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("block {height}{}: {reason}", tx_label(.transaction))]
pub struct BlockFault {
    /// The block's height.
    pub height: u64,
    /// The offending transaction (position in the block and hash), if one is to blame.
    pub transaction: Option<(usize, Hash)>,
    /// What is wrong.
    pub reason: String,
}

fn tx_label(transaction: &Option<(usize, Hash)>) -> String {
    match transaction {
        Some((index, hash)) => format!(", transaction {index} ({hash})"),
        None => String::new(),
    }
}

/// Why the ledger could not do something.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The genesis file is not valid.
    #[error("genesis file: {0}")]
    Genesis(#[from] GenesisError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block is not valid.
    #[error(transparent)]
    Block(#[from] BlockFault),
}

/// A block executed by its proposer, before it has a certificate.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The header to certify.
    pub header: BlockHeader,
    /// The transactions that applied, in order.
    pub transactions: Vec<SignedTransaction>,
    /// The transactions left out, with why.
    pub rejected: Vec<(Hash, ResultCode)>,
    /// The state after the block.
    pub state: State,
}

/// The chain's state with its blocks, in memory or stored.
#[derive(Debug)]
pub struct Ledger {
    genesis: Genesis,
    state: State,
    height: u64,
    head: Hash,
    timestamp_ms: u64,
    store: Option<Store>,
}

impl Ledger {
    /// A new chain kept in memory only.
    pub fn in_memory(genesis: Genesis) -> Result<Ledger, LedgerError> {
        genesis.validate()?;
        Ok(Ledger {
            state: State::from_genesis(&genesis),
            height: 0,
            head: genesis.hash(),
            timestamp_ms: genesis.timestamp_ms,
            genesis,
            store: None,
        })
    }

    /// Creates a stored chain in `dir`, or opens the one there (which must have been created
    /// from `genesis`), replaying and checking every stored block.
    pub fn create_or_open(
        dir: &Path,
        genesis: Genesis,
        consensus: &dyn CertificateCheck,
    ) -> Result<Ledger, LedgerError> {
        genesis.validate()?;
        let store = Store::create_or_open(dir, &genesis)?;
        Ledger::replay(store, consensus)
    }

    /// Opens the stored chain in `dir`, replaying and checking every block.
    pub fn open(dir: &Path, consensus: &dyn CertificateCheck) -> Result<Ledger, LedgerError> {
        let store = Store::open(dir)?;
        store.genesis().validate()?;
        Ledger::replay(store, consensus)
    }

    fn replay(store: Store, consensus: &dyn CertificateCheck) -> Result<Ledger, LedgerError> {
        let mut ledger = Ledger::in_memory(store.genesis().clone())?;
        for height in 1..=store.height() {
            let block = store.block(height)?.ok_or_else(|| StoreError::Corrupt {
                height,
                reason: "it is missing".into(),
            })?;
            let state = ledger.check_block(&block, consensus)?;
            ledger.advance(&block.header, state);
        }
        ledger.store = Some(store);
        Ok(ledger)
    }

    /// The genesis file.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The state after the last block.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Height of the last block (0 at genesis).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Hash of the last header (the genesis hash at height 0).
    pub fn head(&self) -> Hash {
        self.head
    }

    /// Time of the last block.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// Reads a stored block.
    pub fn block(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        match &self.store {
            Some(store) => Ok(store.block(height)?),
            None => Ok(None),
        }
    }

    /// Height of the stored block holding the transaction `hash`, if one does.
    pub fn find_transaction(&self, hash: &Hash) -> Result<Option<u64>, LedgerError> {
        match &self.store {
            Some(store) => Ok(store.find_transaction(hash)?),
            None => Ok(None),
        }
    }

    /// The proposer's side: applies `transactions` in order on a copy of the state, leaving out
    /// those that fail, and builds the header of the next block. `timestamp_ms` is raised to
    /// the parent's time if it is earlier. At most [`limits::TRANSACTIONS_PER_BLOCK`] are
    /// taken; the rest are returned untouched in `rejected` with [`ResultCode::TooLarge`].
    pub fn execute(&self, transactions: Vec<SignedTransaction>, timestamp_ms: u64) -> Executed {
        self.execute_prechecked(transactions, timestamp_ms, &|_| false)
    }

    /// [`Ledger::execute`], skipping the signature check of the transactions for which
    /// `signature_checked` says it was done already (when they entered the mempool).
    pub fn execute_prechecked(
        &self,
        transactions: Vec<SignedTransaction>,
        timestamp_ms: u64,
        signature_checked: &dyn Fn(&SignedTransaction) -> bool,
    ) -> Executed {
        let mut state = self.state.clone();
        let mut applied = Vec::with_capacity(transactions.len());
        let mut rejected = Vec::new();
        let signatures = check_signatures(&transactions, signature_checked);
        for (tx, signature_ok) in transactions.into_iter().zip(signatures) {
            if applied.len() == limits::TRANSACTIONS_PER_BLOCK {
                rejected.push((tx.hash(), ResultCode::TooLarge));
                continue;
            }
            match apply(&mut state, &tx, signature_ok) {
                ResultCode::Ok => applied.push(tx),
                code => rejected.push((tx.hash(), code)),
            }
        }
        let header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height: self.height + 1,
            parent: self.head,
            timestamp_ms: timestamp_ms.max(self.timestamp_ms),
            tx_root: Block::tx_root(&applied),
            state_hash: state.hash(),
            tx_count: applied.len() as u32,
        };
        Executed {
            header,
            transactions: applied,
            rejected,
            state,
        }
    }

    /// Commits a block this ledger executed itself, once certified. The certificate is
    /// checked; the transactions are not applied again.
    pub fn commit_executed(
        &mut self,
        executed: Executed,
        certificate: Certificate,
        consensus: &dyn CertificateCheck,
    ) -> Result<Hash, LedgerError> {
        if executed.header.height != self.height + 1 || executed.header.parent != self.head {
            return Err(BlockFault {
                height: executed.header.height,
                transaction: None,
                reason: "the chain moved on since it was executed".into(),
            }
            .into());
        }
        let block = Block {
            header: executed.header,
            transactions: executed.transactions,
            certificate,
        };
        check_certificate(&self.genesis, &block, consensus)?;
        if let Some(store) = &mut self.store {
            store.append(&block)?;
        }
        self.advance(&block.header, executed.state);
        Ok(self.head)
    }

    /// Commits a block received from elsewhere, checking everything.
    pub fn commit(
        &mut self,
        block: Block,
        consensus: &dyn CertificateCheck,
    ) -> Result<Hash, LedgerError> {
        let state = self.check_block(&block, consensus)?;
        if let Some(store) = &mut self.store {
            store.append(&block)?;
        }
        self.advance(&block.header, state);
        Ok(self.head)
    }

    fn advance(&mut self, header: &BlockHeader, state: State) {
        self.state = state;
        self.height = header.height;
        self.head = header.hash();
        self.timestamp_ms = header.timestamp_ms;
    }

    /// Checks that `block` is a valid next block and returns the state after it.
    pub fn check_block(
        &self,
        block: &Block,
        consensus: &dyn CertificateCheck,
    ) -> Result<State, BlockFault> {
        self.check_header(&block.header, &block.transactions)?;
        check_certificate(&self.genesis, block, consensus)?;
        self.check_contents(&block.header, &block.transactions, &|_| false)
    }

    /// Checks a proposed next block before it has a certificate (what a validator does
    /// before voting for it) and returns the state after it.
    pub fn check_proposal(
        &self,
        header: &BlockHeader,
        transactions: &[SignedTransaction],
    ) -> Result<State, BlockFault> {
        self.check_header(header, transactions)?;
        self.check_contents(header, transactions, &|_| false)
    }

    /// [`Ledger::check_proposal`], skipping the signature check of the transactions for
    /// which `signature_checked` says it was done already.
    pub fn check_proposal_prechecked(
        &self,
        header: &BlockHeader,
        transactions: &[SignedTransaction],
        signature_checked: &dyn Fn(&SignedTransaction) -> bool,
    ) -> Result<State, BlockFault> {
        self.check_header(header, transactions)?;
        self.check_contents(header, transactions, signature_checked)
    }

    fn check_header(
        &self,
        header: &BlockHeader,
        transactions: &[SignedTransaction],
    ) -> Result<(), BlockFault> {
        let height = header.height;
        let fault = |reason: String| BlockFault {
            height,
            transaction: None,
            reason,
        };
        if height != self.height + 1 {
            return Err(fault(format!(
                "expected height {}, found {height}",
                self.height + 1
            )));
        }
        if header.parent != self.head {
            return Err(fault(format!(
                "its parent is {}, but the previous block's hash is {}",
                header.parent, self.head
            )));
        }
        if header.chain_id != self.genesis.chain_id {
            return Err(fault(format!("it is for chain {:?}", header.chain_id)));
        }
        if header.timestamp_ms < self.timestamp_ms {
            return Err(fault(format!(
                "its time {} ms is earlier than its parent's, {} ms",
                header.timestamp_ms, self.timestamp_ms
            )));
        }
        if transactions.len() > limits::TRANSACTIONS_PER_BLOCK
            || header.tx_count as usize != transactions.len()
        {
            return Err(fault(format!(
                "it holds {} transactions and its header says {} (at most {})",
                transactions.len(),
                header.tx_count,
                limits::TRANSACTIONS_PER_BLOCK
            )));
        }
        if Block::tx_root(transactions) != header.tx_root {
            return Err(fault(
                "its transactions do not match the header's Merkle root".into(),
            ));
        }
        Ok(())
    }

    fn check_contents(
        &self,
        header: &BlockHeader,
        transactions: &[SignedTransaction],
        signature_checked: &dyn Fn(&SignedTransaction) -> bool,
    ) -> Result<State, BlockFault> {
        let height = header.height;
        let mut state = self.state.clone();
        let signatures = check_signatures(transactions, signature_checked);
        for (index, (tx, signature_ok)) in transactions.iter().zip(signatures).enumerate() {
            let code = apply(&mut state, tx, signature_ok);
            if code != ResultCode::Ok {
                return Err(BlockFault {
                    height,
                    transaction: Some((index, tx.hash())),
                    reason: format!("the transaction does not apply: {code}"),
                });
            }
        }
        let state_hash = state.hash();
        if state_hash != header.state_hash {
            return Err(BlockFault {
                height,
                transaction: None,
                reason: format!(
                    "the state after it hashes to {state_hash}, the header says {}",
                    header.state_hash
                ),
            });
        }
        Ok(state)
    }
}

/// Whether each transaction's signature is valid: `true` for those `signature_checked` says
/// were checked already, the others checked together ([`signatures_valid`]).
fn check_signatures(
    transactions: &[SignedTransaction],
    signature_checked: &dyn Fn(&SignedTransaction) -> bool,
) -> Vec<bool> {
    let mut valid = vec![true; transactions.len()];
    let unchecked: Vec<usize> = (0..transactions.len())
        .filter(|&index| !signature_checked(&transactions[index]))
        .collect();
    let to_check: Vec<&SignedTransaction> = unchecked
        .iter()
        .map(|&index| &transactions[index])
        .collect();
    for (index, ok) in unchecked.into_iter().zip(signatures_valid(&to_check)) {
        valid[index] = ok;
    }
    valid
}

/// Applies `tx`, checking its chain; `signature_ok` is whether its signature is valid. The
/// same result codes as [`State::apply`].
fn apply(state: &mut State, tx: &SignedTransaction, signature_ok: bool) -> ResultCode {
    if tx.transaction.chain_id != state.chain_id {
        return ResultCode::WrongChain;
    }
    if signature_ok {
        state.apply_checked(tx)
    } else {
        ResultCode::BadSignature
    }
}

fn check_certificate(
    genesis: &Genesis,
    block: &Block,
    consensus: &dyn CertificateCheck,
) -> Result<(), BlockFault> {
    block
        .check_certificate(genesis, consensus)
        .map_err(|error: CertificateError| BlockFault {
            height: block.header.height,
            transaction: None,
            reason: format!("its commit certificate is not valid: {error}"),
        })
}
