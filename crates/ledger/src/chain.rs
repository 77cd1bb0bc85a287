//! The chain: the state, the stored blocks, and the rules a block must keep.
//!
//! A block is valid when: its height is the next, its parent is the head's hash, its chain id
//! is the genesis one, its timestamp is not earlier than the parent's, it holds at most
//! [`limits::TRANSACTIONS_PER_BLOCK`] transactions, its `tx_root` is theirs, every transaction
//! passes the stateless checks and applies with [`ResultCode::Ok`] in order, the resulting
//! state's hash is `state_hash`, and its certificate proves that a quorum of validators
//! committed it. [`Ledger::check_block`] checks all of it on a copy of the state; the same
//! function serves committing, replaying at start-up, and `nestgrid ledger verify`.
//!
//! Each transaction is encoded and hashed once per check or execution: the hashes serve the
//! Merkle root, the skipped signature checks, the result codes and the stored index. They are
//! always computed here from the transactions themselves (or come from a
//! [`HashedTransaction`], which can only be made that way), never taken from a block.

use crate::block::{Block, BlockHeader, Certificate, CertificateCheck, CertificateError};
use crate::codes::ResultCode;
use crate::crypto::{Hash, merkle_root};
use crate::genesis::{Genesis, GenesisError};
use crate::limits;
use crate::state::State;
use crate::store::{Store, StoreError};
use crate::tx::{HashedTransaction, SignedTransaction, signatures_valid_of_messages};
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

/// A block executed by its proposer, or checked by a validator, before it has a
/// certificate. Made only by the [`Ledger`], so its transactions' hashes are ones it computed
/// from them.
#[derive(Debug, Clone)]
pub struct Executed {
    /// The header to certify.
    pub header: BlockHeader,
    /// The transactions that applied, in order.
    transactions: Vec<SignedTransaction>,
    /// Their hashes, in the same order.
    hashes: Vec<Hash>,
    /// The transactions left out, with why.
    pub rejected: Vec<(Hash, ResultCode)>,
    /// The state after the block.
    pub state: State,
}

impl Executed {
    /// The transactions that applied, in order.
    pub fn transactions(&self) -> &[SignedTransaction] {
        &self.transactions
    }

    /// Their hashes, in the same order ([`SignedTransaction::hash`] of each).
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }
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
        let (hashes, messages) = hash_for_checks(&transactions, &|_| false);
        self.execute_hashed(transactions, hashes, &messages, timestamp_ms)
    }

    /// [`Ledger::execute`] of transactions hashed already (when they entered the mempool),
    /// skipping the signature check of those for which `signature_checked` says, given the
    /// transaction's hash, that it was done already.
    pub fn execute_prechecked(
        &self,
        transactions: Vec<HashedTransaction>,
        timestamp_ms: u64,
        signature_checked: &dyn Fn(&Hash) -> bool,
    ) -> Executed {
        let (hashes, transactions): (Vec<Hash>, Vec<SignedTransaction>) = transactions
            .into_iter()
            .map(|hashed| (hashed.hash(), hashed.into_transaction()))
            .unzip();
        let messages: Vec<Option<Vec<u8>>> = transactions
            .iter()
            .zip(&hashes)
            .map(|(tx, hash)| (!signature_checked(hash)).then(|| tx.message()))
            .collect();
        self.execute_hashed(transactions, hashes, &messages, timestamp_ms)
    }

    /// [`Ledger::execute`] of `transactions` with their `hashes` and the `messages` of those
    /// whose signature is to be checked ([`hash_for_checks`]).
    fn execute_hashed(
        &self,
        transactions: Vec<SignedTransaction>,
        hashes: Vec<Hash>,
        messages: &[Option<Vec<u8>>],
        timestamp_ms: u64,
    ) -> Executed {
        let mut state = self.state.clone();
        let mut applied = Vec::with_capacity(transactions.len());
        let mut applied_hashes = Vec::with_capacity(transactions.len());
        let mut rejected = Vec::new();
        let signatures = check_signatures(&transactions, messages);
        for ((tx, hash), signature_ok) in transactions.into_iter().zip(hashes).zip(signatures) {
            if applied.len() == limits::TRANSACTIONS_PER_BLOCK {
                rejected.push((hash, ResultCode::TooLarge));
                continue;
            }
            match apply(&mut state, &tx, signature_ok) {
                ResultCode::Ok => {
                    applied.push(tx);
                    applied_hashes.push(hash);
                }
                code => rejected.push((hash, code)),
            }
        }
        let header = BlockHeader {
            chain_id: self.genesis.chain_id.clone(),
            height: self.height + 1,
            parent: self.head,
            timestamp_ms: timestamp_ms.max(self.timestamp_ms),
            tx_root: merkle_root(&applied_hashes),
            state_hash: state.hash(),
            tx_count: applied.len() as u32,
        };
        Executed {
            header,
            transactions: applied,
            hashes: applied_hashes,
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
            store.append_hashed(&block, &executed.hashes)?;
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
        let (state, hashes) = self.check_block_hashed(&block, consensus)?;
        if let Some(store) = &mut self.store {
            store.append_hashed(&block, &hashes)?;
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
        Ok(self.check_block_hashed(block, consensus)?.0)
    }

    /// [`Ledger::check_block`], also returning the transactions' hashes it computed.
    fn check_block_hashed(
        &self,
        block: &Block,
        consensus: &dyn CertificateCheck,
    ) -> Result<(State, Vec<Hash>), BlockFault> {
        self.check_header(&block.header, &block.transactions)?;
        let (hashes, messages) = hash_for_checks(&block.transactions, &|_| false);
        check_tx_root(&block.header, &hashes)?;
        check_certificate(&self.genesis, block, consensus)?;
        let state = self.check_contents(&block.header, &block.transactions, &hashes, &messages)?;
        Ok((state, hashes))
    }

    /// Checks a proposed next block before it has a certificate (what a validator does
    /// before voting for it) and returns it executed: the state after it, with the hashes of
    /// its transactions computed from them, for [`Ledger::commit_executed`].
    pub fn check_proposal(
        &self,
        header: BlockHeader,
        transactions: Vec<SignedTransaction>,
    ) -> Result<Executed, BlockFault> {
        self.check_proposal_prechecked(header, transactions, &|_| false)
    }

    /// [`Ledger::check_proposal`], skipping the signature check of the transactions for
    /// which `signature_checked` says, given the hash computed from the transaction, that it
    /// was done already.
    pub fn check_proposal_prechecked(
        &self,
        header: BlockHeader,
        transactions: Vec<SignedTransaction>,
        signature_checked: &dyn Fn(&Hash) -> bool,
    ) -> Result<Executed, BlockFault> {
        self.check_header(&header, &transactions)?;
        let (hashes, messages) = hash_for_checks(&transactions, signature_checked);
        check_tx_root(&header, &hashes)?;
        let state = self.check_contents(&header, &transactions, &hashes, &messages)?;
        Ok(Executed {
            header,
            transactions,
            hashes,
            rejected: Vec::new(),
            state,
        })
    }

    /// The checks of a header that need neither the transactions' hashes nor the state.
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
        Ok(())
    }

    /// Applies `transactions` (with their `hashes` and the `messages` of those whose signature
    /// is to be checked, from [`hash_for_checks`]) and checks the resulting state's hash.
    fn check_contents(
        &self,
        header: &BlockHeader,
        transactions: &[SignedTransaction],
        hashes: &[Hash],
        messages: &[Option<Vec<u8>>],
    ) -> Result<State, BlockFault> {
        let height = header.height;
        let mut state = self.state.clone();
        let signatures = check_signatures(transactions, messages);
        for (index, (tx, signature_ok)) in transactions.iter().zip(signatures).enumerate() {
            let code = apply(&mut state, tx, signature_ok);
            if code != ResultCode::Ok {
                return Err(BlockFault {
                    height,
                    transaction: Some((index, hashes[index])),
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

/// Whether `header.tx_root` is the Merkle root of `hashes`, which must have been computed from
/// the block's transactions (never taken from the block).
fn check_tx_root(header: &BlockHeader, hashes: &[Hash]) -> Result<(), BlockFault> {
    if merkle_root(hashes) != header.tx_root {
        return Err(BlockFault {
            height: header.height,
            transaction: None,
            reason: "its transactions do not match the header's Merkle root".into(),
        });
    }
    Ok(())
}

/// Each transaction's hash, and its message ([`SignedTransaction::message`]) if its signature
/// is still to be checked: those for which `signature_checked` says, given the hash, that it
/// was not checked already. Each transaction is encoded once for both.
fn hash_for_checks(
    transactions: &[SignedTransaction],
    signature_checked: &dyn Fn(&Hash) -> bool,
) -> (Vec<Hash>, Vec<Option<Vec<u8>>>) {
    transactions
        .iter()
        .map(|tx| {
            let message = tx.message();
            let hash = tx.hash_of_message(&message);
            let message = (!signature_checked(&hash)).then_some(message);
            (hash, message)
        })
        .unzip()
}

/// Whether each transaction's signature is valid: `true` for those without a message (checked
/// already), the others checked together ([`crate::signatures_valid`]).
fn check_signatures(transactions: &[SignedTransaction], messages: &[Option<Vec<u8>>]) -> Vec<bool> {
    assert_eq!(transactions.len(), messages.len(), "one message slot each");
    let mut valid = vec![true; transactions.len()];
    let (unchecked, checks): (Vec<usize>, Vec<(&SignedTransaction, &[u8])>) = transactions
        .iter()
        .zip(messages)
        .enumerate()
        .filter_map(|(index, (tx, message))| Some((index, (tx, message.as_deref()?))))
        .unzip();
    for (index, ok) in unchecked
        .into_iter()
        .zip(signatures_valid_of_messages(&checks))
    {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{VotesOnly, vote};
    use crate::crypto::Keypair;
    use crate::genesis::Authority;
    use crate::tx::{Body, Role, Transaction};

    struct Keys {
        validator: Keypair,
        gateway: Keypair,
    }

    fn keys() -> Keys {
        Keys {
            validator: Keypair::derived(7, "validator"),
            gateway: Keypair::derived(7, "gateway"),
        }
    }

    fn genesis(keys: &Keys) -> Genesis {
        Genesis {
            chain_id: "hashes".into(),
            currency: "EUR".into(),
            timestamp_ms: 0,
            validators: vec![keys.validator.public()],
            authorities: vec![Authority {
                name: "gateway".into(),
                key: keys.gateway.public(),
                roles: vec![Role::Gateway],
            }],
        }
    }

    fn ledger(keys: &Keys) -> Ledger {
        Ledger::in_memory(genesis(keys)).unwrap()
    }

    fn deposit(keys: &Keys, nonce: u64, amount: i64) -> SignedTransaction {
        Transaction {
            chain_id: "hashes".into(),
            signer: keys.gateway.public(),
            nonce,
            body: Body::Deposit {
                account: keys.gateway.public(),
                amount,
            },
        }
        .sign(&keys.gateway)
    }

    /// Two that apply, one with a forged signature, one with an amount that fails, one with a
    /// used nonce.
    fn candidates(keys: &Keys) -> Vec<SignedTransaction> {
        let mut forged = deposit(keys, 2, 9);
        forged.signature = deposit(keys, 2, 10).signature;
        vec![
            deposit(keys, 1, 5),
            forged,
            deposit(keys, 2, 0),
            deposit(keys, 2, 6),
            deposit(keys, 1, 7),
        ]
    }

    fn own_hashes(transactions: &[SignedTransaction]) -> Vec<Hash> {
        transactions.iter().map(SignedTransaction::hash).collect()
    }

    /// The hashes carried along are each transaction's own, in order, and the root is theirs.
    fn assert_hashes_are_own(executed: &Executed) {
        assert_eq!(executed.hashes(), own_hashes(executed.transactions()));
        assert_eq!(
            executed.header.tx_root,
            Block::tx_root(executed.transactions())
        );
    }

    #[test]
    fn executing_carries_each_transactions_own_hash() {
        let keys = keys();
        let ledger = ledger(&keys);
        let transactions = candidates(&keys);
        let executed = ledger.execute(transactions.clone(), 1_000);
        assert_eq!(
            executed.transactions(),
            [&transactions[0], &transactions[3]].map(Clone::clone)
        );
        assert_hashes_are_own(&executed);
        let rejected: Vec<(Hash, ResultCode)> = vec![
            (transactions[1].hash(), ResultCode::BadSignature),
            (transactions[2].hash(), ResultCode::InvalidAmount),
            (transactions[4].hash(), ResultCode::StaleNonce),
        ];
        assert_eq!(executed.rejected, rejected);

        let hashed: Vec<HashedTransaction> = transactions
            .iter()
            .cloned()
            .map(HashedTransaction::new)
            .collect();
        let prechecked = ledger.execute_prechecked(hashed.clone(), 1_000, &|_| false);
        assert_hashes_are_own(&prechecked);
        assert_eq!(prechecked.header, executed.header);
        assert_eq!(prechecked.rejected, rejected);
        // The check is skipped for the hash of the forged one only: it is taken then.
        let forged = transactions[1].hash();
        let trusting = ledger.execute_prechecked(hashed, 1_000, &|hash| *hash == forged);
        assert_hashes_are_own(&trusting);
        assert_eq!(trusting.transactions(), &transactions[..2]);
    }

    #[test]
    fn checking_a_proposal_computes_the_hashes_from_its_transactions() {
        let keys = keys();
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::create_or_open(dir.path(), genesis(&keys), &VotesOnly).unwrap();
        let executed = ledger.execute(candidates(&keys), 1_000);
        let header = executed.header.clone();
        let transactions = executed.transactions().to_vec();

        let checked = ledger
            .check_proposal(header.clone(), transactions.clone())
            .unwrap();
        assert_hashes_are_own(&checked);
        assert_eq!(checked.state.hash(), executed.state.hash());
        let skipped = ledger
            .check_proposal_prechecked(header.clone(), transactions.clone(), &|_| true)
            .unwrap();
        assert_hashes_are_own(&skipped);

        // A transaction swapped: the root computed from the transactions no longer matches.
        let mut swapped = transactions.clone();
        swapped[1] = deposit(&keys, 2, 600);
        let fault = ledger
            .check_proposal_prechecked(header.clone(), swapped, &|_| true)
            .unwrap_err();
        assert!(fault.reason.contains("Merkle root"), "{fault}");

        // A signature forged and the header fixed up: caught unless its hash was checked.
        let mut forged = transactions.clone();
        forged[1].signature = transactions[0].signature;
        let mut fixed = header.clone();
        fixed.tx_root = Block::tx_root(&forged);
        let fault = ledger
            .check_proposal(fixed.clone(), forged.clone())
            .unwrap_err();
        assert_eq!(fault.transaction, Some((1, forged[1].hash())));
        // Only the signature differs, so the state after it is the same.
        let trusted = forged[1].hash();
        ledger
            .check_proposal_prechecked(fixed, forged, &|hash| *hash == trusted)
            .unwrap();

        // Committed, the stored index holds each transaction under its own hash, also after
        // the chain is replayed from disk.
        let certificate = Certificate::Votes(vec![vote(&keys.validator, 0, &checked.header)]);
        ledger
            .commit_executed(checked, certificate, &VotesOnly)
            .unwrap();
        drop(ledger);
        let ledger = Ledger::open(dir.path(), &VotesOnly).unwrap();
        assert_eq!(ledger.height(), 1);
        for tx in &transactions {
            assert_eq!(ledger.find_transaction(&tx.hash()).unwrap(), Some(1));
        }
    }
}
