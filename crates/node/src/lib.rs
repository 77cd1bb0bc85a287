//! A ledger validator: the ledger's state machine ([`nestgrid_ledger`]) ordered by BFT
//! consensus ([`nestgrid_consensus`]).
//!
//! [`LedgerApp`] is the consensus [`Application`] of the ledger:
//!
//! - **propose**: takes transactions from the mempool in arrival order, executes them on a
//!   copy of the state ([`Ledger::execute`]: those that fail are left out and their result
//!   codes kept for the submitter) and proposes the block's header and transactions as the
//!   payload. The header commits to the resulting state's hash, and its time is the one the
//!   consensus gave.
//! - **has work**: a leader builds at once only if a waiting transaction carries its signer's
//!   next nonce (one that may apply now). Otherwise the consensus holds the proposal back for
//!   up to the empty-block interval ([`consensus_timeouts`]), and the mempool's
//!   [`WorkSignal`] wakes it as soon as a transaction is accepted. An idle validator set thus
//!   stores about one empty block per interval instead of one per network round trip.
//! - **verify**: decodes the payload and checks it as a next block ([`Ledger::check_proposal`]:
//!   height, parent hash, chain, time equal to the consensus time, Merkle root, every
//!   transaction's signature and rules, the state hash). A validator only votes for blocks
//!   whose every transaction applies, so no invalid transaction can be committed while at
//!   most f validators are Byzantine. The signature check is skipped for a transaction whose
//!   hash, computed from the payload's transaction, is one this validator checked when it
//!   entered its mempool.
//! - **finalized**: commits the block with the consensus library's finalization certificate
//!   ([`Certificate::Consensus`]) and drops its transactions from the mempool. An empty
//!   payload (the consensus's no-op block, used when a proposer's parent is not final in time)
//!   commits an empty ledger block with the consensus time, so ledger heights and consensus
//!   heights stay equal.
//!
//! A transaction's hash is computed once per validator on each path: when it enters the
//! mempool ([`Checked`], kept with it as a [`HashedTransaction`]) for a block this validator
//! proposes, or when [`Ledger::check_proposal`] checks a block from another; the
//! [`Executed`] block carries the hashes on to the stored index and to the mempool's
//! clean-up. A hash received with a block is never used.
//!
//! [`ConsensusCertificates`] checks those certificates offline (for `ledger verify` and when
//! opening a stored chain): it rebuilds the consensus payload from the stored block and asks
//! [`nestgrid_consensus::verify_certificate`] for a quorum of the genesis validators.

pub mod cli;
pub mod loadgen;
pub mod process;

use borsh::{BorshDeserialize, BorshSerialize};
use nestgrid_consensus::{Application, FinalizedBlock, Timeouts, WorkSignal, verify_certificate};
use nestgrid_ledger::{
    Block, BlockHeader, Certificate, CertificateCheck, Executed, Genesis, Hash, HashedTransaction,
    Ledger, ResultCode, SignedTransaction, hash_and_check_signatures,
    hash_and_check_signatures_unless,
};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The payload a validator proposes: the next block without its certificate.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// The header.
    pub header: BlockHeader,
    /// The transactions.
    pub transactions: Vec<SignedTransaction>,
}

impl Proposal {
    /// The payload bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        proposal_bytes(&self.header, &self.transactions)
    }
}

/// [`Proposal::to_bytes`] of a proposal's parts, without copying them into a [`Proposal`]:
/// borsh encodes a struct as its fields in order, and a slice as it encodes a vector.
fn proposal_bytes(header: &BlockHeader, transactions: &[SignedTransaction]) -> Vec<u8> {
    borsh::to_vec(&(header, transactions)).expect("encoding to a vector cannot fail")
}

/// What a [`Certificate::Consensus`] holds: the consensus's identity of the block and its
/// finalization certificate.
#[derive(Clone, Debug, BorshSerialize, BorshDeserialize)]
pub struct ConsensusProof {
    /// The consensus view the block was finalized in.
    pub view: u64,
    /// The consensus digest of the parent block.
    pub parent: [u8; 32],
    /// The consensus digest of the block.
    pub digest: [u8; 32],
    /// Whether the consensus payload was empty (a no-op block).
    pub empty: bool,
    /// The encoded finalization certificate.
    pub certificate: Vec<u8>,
}

/// Checks [`Certificate::Consensus`] certificates against the genesis validators.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsensusCertificates;

impl CertificateCheck for ConsensusCertificates {
    fn check(&self, genesis: &Genesis, block: &Block, certificate: &[u8]) -> Result<(), String> {
        let proof: ConsensusProof = borsh::from_slice(certificate)
            .map_err(|error| format!("it does not decode: {error}"))?;
        let payload = if proof.empty {
            if !block.transactions.is_empty() {
                return Err("a no-op block carries transactions".into());
            }
            Vec::new()
        } else {
            proposal_bytes(&block.header, &block.transactions)
        };
        let finalized = FinalizedBlock {
            height: block.header.height,
            view: proof.view,
            timestamp_ms: block.header.timestamp_ms,
            parent: proof.parent,
            digest: proof.digest,
            payload,
            certificate: proof.certificate,
        };
        let validators: Vec<[u8; 32]> = genesis.validators.iter().map(|key| key.0).collect();
        verify_certificate(&validators, &finalized).map_err(|error| error.to_string())
    }
}

/// Most transactions waiting in a validator's mempool; more are refused (backpressure).
pub const MEMPOOL_LIMIT: usize = 200_000;

/// The default empty-block interval of a validator, in milliseconds: the longest a leader
/// holds back a block while no waiting transaction may apply. It is the longest interval the
/// default 1 s leader timeout allows (half of it; see [`Timeouts::check`]).
pub const DEFAULT_EMPTY_BLOCK_INTERVAL_MS: u64 = 500;

/// [`DEFAULT_EMPTY_BLOCK_INTERVAL_MS`], for a configuration file's default.
pub fn default_empty_block_interval_ms() -> u64 {
    DEFAULT_EMPTY_BLOCK_INTERVAL_MS
}

/// The consensus timeouts of a validator process whose empty-block interval is
/// `empty_block_interval_ms`: the consensus defaults, a 200 ms wait for the parent to be
/// final, and a leader timeout of at least twice the interval
/// ([`Timeouts::with_empty_block_interval`]). Every validator of a chain should use the same.
pub fn consensus_timeouts(empty_block_interval_ms: u64) -> Timeouts {
    Timeouts {
        finalize_wait: Duration::from_millis(200),
        ..Timeouts::with_empty_block_interval(Duration::from_millis(empty_block_interval_ms))
    }
}

/// Why the mempool refused a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The transaction fails a check that needs no state, or its nonce was used.
    #[error("refused: {0}")]
    Invalid(ResultCode),
    /// The mempool is full; try again later.
    #[error("the mempool is full ({MEMPOOL_LIMIT} transactions); try again later")]
    Full,
    /// The same transaction is waiting already.
    #[error("the transaction is waiting already")]
    Duplicate,
}

/// What a validator knows of a transaction it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting in the mempool.
    Pending,
    /// Committed in a block.
    Committed {
        /// The block's height.
        height: u64,
    },
    /// Left out of a proposal because it failed.
    Rejected(ResultCode),
    /// Never seen (or forgotten).
    Unknown,
}

/// The ledger, the mempool and the results, shared by the consensus and the API.
#[derive(Debug)]
pub struct Shared {
    ledger: Ledger,
    /// Waiting transactions in arrival order, each with its hash.
    mempool: VecDeque<HashedTransaction>,
    /// Transactions in the mempool, whose signatures were checked when they entered it.
    waiting: HashSet<Hash>,
    /// Verified or proposed next blocks by payload hash, executed once.
    pending: BTreeMap<Hash, Executed>,
    /// Pending and rejected transactions (committed ones are found in the ledger).
    status: HashMap<Hash, Status>,
    /// Rejected transactions in the order they were rejected: beyond [`REJECTED_KEPT`] the
    /// oldest are forgotten.
    rejected: VecDeque<Hash>,
    /// Transactions of recently verified blocks, whose signatures this validator checked
    /// then: when the same transaction is also submitted (a client sends it to every
    /// validator, and the block got here first), its signature is not checked again.
    verified: RecentHashes,
    max_block_transactions: usize,
    /// Notified when a transaction enters the mempool (wakes a leader holding back a block).
    work: WorkSignal,
}

impl Shared {
    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Transactions waiting.
    pub fn mempool_len(&self) -> usize {
        self.mempool.len()
    }

    /// What became of a transaction (committed ones are found in the stored chain, also
    /// after a restart).
    pub fn status(&self, hash: &Hash) -> Status {
        match self.status.get(hash) {
            Some(status) => *status,
            None => match self.ledger.find_transaction(hash) {
                Ok(Some(height)) => Status::Committed { height },
                _ => Status::Unknown,
            },
        }
    }

    /// Adds a transaction to the mempool after the checks that need no state and a nonce
    /// check against the committed state.
    pub fn submit(&mut self, tx: SignedTransaction) -> Result<Hash, Refused> {
        let checked = Checked::new(self.ledger.genesis().chain_id.as_str(), tx)?;
        self.submit_checked(checked)
    }

    /// [`Shared::submit`] for a transaction whose chain and signature were checked already.
    pub fn submit_checked(&mut self, checked: Checked) -> Result<Hash, Refused> {
        let Checked(hashed) = checked;
        let hash = hashed.hash();
        let tx = hashed.transaction();
        if self.waiting.contains(&hash) {
            return Err(Refused::Duplicate);
        }
        if self.mempool.len() >= MEMPOOL_LIMIT {
            return Err(Refused::Full);
        }
        let state = self.ledger.state();
        if tx.transaction.nonce < state.next_nonce(&tx.transaction.signer) {
            return Err(Refused::Invalid(ResultCode::StaleNonce));
        }
        self.waiting.insert(hash);
        self.status.insert(hash, Status::Pending);
        self.mempool.push_back(hashed);
        self.work.notify();
        Ok(hash)
    }

    /// Records that `hash` was rejected with `code`, forgetting the oldest rejection beyond
    /// [`REJECTED_KEPT`] (its status becomes [`Status::Unknown`]).
    fn reject(&mut self, hash: Hash, code: ResultCode) {
        self.status.insert(hash, Status::Rejected(code));
        self.rejected.push_back(hash);
        while self.rejected.len() > REJECTED_KEPT {
            let Some(oldest) = self.rejected.pop_front() else {
                break;
            };
            // Submitted again since, it may be waiting: only a rejection is forgotten.
            if matches!(self.status.get(&oldest), Some(Status::Rejected(_))) {
                self.status.remove(&oldest);
            }
        }
    }

    /// Whether a block built now could carry a transaction: one of those a proposal would
    /// consider (the first `max_block_transactions` waiting) has its signer's next nonce.
    /// Transactions that wait for an earlier nonce do not count, so they cannot make leaders
    /// propose empty blocks back to back.
    pub fn has_work(&self) -> bool {
        let state = self.ledger.state();
        self.mempool
            .iter()
            .take(self.max_block_transactions)
            .map(HashedTransaction::transaction)
            .any(|tx| tx.transaction.nonce == state.next_nonce(&tx.transaction.signer))
    }
}

/// How many rejected transactions a validator remembers (their status; older ones are
/// answered as unknown).
pub const REJECTED_KEPT: usize = 100_000;

/// How many verified blocks' transactions [`RecentHashes`] remembers.
const RECENT_BLOCKS: usize = 64;

/// The hashes of the transactions of the last [`RECENT_BLOCKS`] verified blocks.
#[derive(Debug, Default)]
struct RecentHashes {
    hashes: HashSet<Hash>,
    blocks: VecDeque<Vec<Hash>>,
}

impl RecentHashes {
    /// Remembers one block's transactions, forgetting the oldest block's beyond the limit.
    fn add(&mut self, block: Vec<Hash>) {
        if self.blocks.len() == RECENT_BLOCKS
            && let Some(oldest) = self.blocks.pop_front()
        {
            for hash in &oldest {
                self.hashes.remove(hash);
            }
        }
        self.hashes.extend(block.iter().copied());
        self.blocks.push_back(block);
    }

    fn contains(&self, hash: &Hash) -> bool {
        self.hashes.contains(hash)
    }
}

/// A transaction whose chain and signature were checked, with its hash: what
/// [`Shared::submit_checked`] takes. Checking costs most of a submission (the signature), and
/// needs neither the ledger nor its lock, so a batch is checked before the lock is taken.
#[derive(Debug, Clone)]
pub struct Checked(HashedTransaction);

impl Checked {
    /// Checks `tx` for the chain `chain_id`: the checks of [`nestgrid_ledger::State::check_stateless`].
    pub fn new(chain_id: &str, tx: SignedTransaction) -> Result<Checked, Refused> {
        // The chain first: a transaction for another costs no signature check.
        if tx.transaction.chain_id != chain_id {
            return Err(Refused::Invalid(ResultCode::WrongChain));
        }
        let (hashed, signature_ok) = hash_and_check_signatures(vec![tx])
            .pop()
            .expect("one answer per transaction");
        Checked::from_check(chain_id, hashed, signature_ok)
    }

    /// The answer for `hashed`, whose signature is valid if `signature_ok`.
    fn from_check(
        chain_id: &str,
        hashed: HashedTransaction,
        signature_ok: bool,
    ) -> Result<Checked, Refused> {
        if hashed.transaction().transaction.chain_id != chain_id {
            return Err(Refused::Invalid(ResultCode::WrongChain));
        }
        if !signature_ok {
            return Err(Refused::Invalid(ResultCode::BadSignature));
        }
        Ok(Checked(hashed))
    }

    /// The transaction's hash.
    pub fn hash(&self) -> Hash {
        self.0.hash()
    }
}

/// The consensus application of the ledger. Clones share the same state.
#[derive(Debug, Clone)]
pub struct LedgerApp {
    shared: Arc<Mutex<Shared>>,
    /// The ledger's chain id (fixed by its genesis), for checks made without the lock.
    chain_id: Arc<str>,
}

impl LedgerApp {
    /// An application over `ledger`, proposing at most `max_block_transactions` per block.
    pub fn new(ledger: Ledger, max_block_transactions: usize) -> LedgerApp {
        LedgerApp {
            chain_id: ledger.genesis().chain_id.as_str().into(),
            shared: Arc::new(Mutex::new(Shared {
                ledger,
                mempool: VecDeque::new(),
                waiting: HashSet::new(),
                pending: BTreeMap::new(),
                status: HashMap::new(),
                rejected: VecDeque::new(),
                verified: RecentHashes::default(),
                max_block_transactions: max_block_transactions
                    .min(nestgrid_ledger::limits::TRANSACTIONS_PER_BLOCK),
                work: WorkSignal::new(),
            })),
        }
    }

    /// The shared state (the API's view of the validator).
    pub fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock means a bug; the state cannot be trusted after it.
        self.shared.lock().expect("the ledger lock is not poisoned")
    }

    /// Submits a transaction to this validator's mempool.
    pub fn submit(&self, tx: SignedTransaction) -> Result<Hash, Refused> {
        // The same path as a batch, so a transaction of a recently verified block is not
        // checked again here either.
        self.submit_all(vec![tx])
            .pop()
            .expect("one answer per transaction")
    }

    /// Submits transactions in order: their signatures are checked first, together
    /// ([`nestgrid_ledger::hash_and_check_signatures`]) and without holding the ledger (so the
    /// consensus is not kept waiting), then they enter the mempool under one lock. One answer
    /// per transaction, as [`LedgerApp::submit`] would give.
    pub fn submit_all(&self, transactions: Vec<SignedTransaction>) -> Vec<Result<Hash, Refused>> {
        let checked: Vec<Result<Checked, Refused>> =
            hash_and_check_signatures_unless(transactions, |hashes| {
                let shared = self.lock();
                hashes
                    .iter()
                    .map(|hash| shared.verified.contains(hash))
                    .collect()
            })
            .into_iter()
            .map(|(hashed, signature_ok)| Checked::from_check(&self.chain_id, hashed, signature_ok))
            .collect();
        let mut shared = self.lock();
        checked
            .into_iter()
            .map(|checked| shared.submit_checked(checked?))
            .collect()
    }
}

fn payload_hash(payload: &[u8]) -> Hash {
    Hash::of(b"nestgrid payload", &[payload])
}

impl Application for LedgerApp {
    fn applied_height(&self) -> u64 {
        self.lock().ledger.height()
    }

    fn has_work(&mut self) -> bool {
        self.lock().has_work()
    }

    fn work_signal(&self) -> Option<WorkSignal> {
        Some(self.lock().work.clone())
    }

    fn propose(&mut self, height: u64, timestamp_ms: u64) -> Vec<u8> {
        let mut shared = self.lock();
        assert_eq!(height, shared.ledger.height() + 1, "proposing on the tip");
        let count = shared.mempool.len().min(shared.max_block_transactions);
        // Every transaction in the mempool had its signature checked when it entered it, and
        // was hashed then.
        let candidates: Vec<HashedTransaction> =
            shared.mempool.iter().take(count).cloned().collect();
        let executed = shared
            .ledger
            .execute_prechecked(candidates, timestamp_ms, &|_| true);
        for (hash, code) in &executed.rejected {
            // A nonce ahead of its time may become valid; anything else never will.
            if *code != ResultCode::FutureNonce {
                shared.reject(*hash, *code);
                shared.waiting.remove(hash);
            }
        }
        let shared = &mut *shared;
        let waiting = &shared.waiting;
        shared
            .mempool
            .retain(|hashed| waiting.contains(&hashed.hash()));
        let payload = proposal_bytes(&executed.header, executed.transactions());
        shared.pending.insert(payload_hash(&payload), executed);
        payload
    }

    fn verify(&mut self, height: u64, timestamp_ms: u64, payload: &[u8]) -> bool {
        let mut shared = self.lock();
        if height != shared.ledger.height() + 1 {
            return false;
        }
        let Ok(proposal) = borsh::from_slice::<Proposal>(payload) else {
            return false;
        };
        if proposal.header.timestamp_ms != timestamp_ms || proposal.header.height != height {
            return false;
        }
        // The ledger hashes each transaction of the payload itself; a hash it finds among
        // the waiting ones is of a transaction whose signature this validator checked.
        let waiting = &shared.waiting;
        let checked = shared.ledger.check_proposal_prechecked(
            proposal.header,
            proposal.transactions,
            &|hash| waiting.contains(hash),
        );
        match checked {
            Ok(executed) => {
                shared.verified.add(executed.hashes().to_vec());
                shared.pending.insert(payload_hash(payload), executed);
                true
            }
            Err(_) => false,
        }
    }

    fn finalized(&mut self, block: FinalizedBlock) {
        let mut shared = self.lock();
        let empty = block.payload.is_empty();
        let executed = if empty {
            shared.ledger.execute(Vec::new(), block.timestamp_ms)
        } else {
            match shared.pending.remove(&payload_hash(&block.payload)) {
                Some(executed) => executed,
                None => {
                    let proposal: Proposal = borsh::from_slice(&block.payload)
                        .expect("a finalized payload was verified by a quorum");
                    shared
                        .ledger
                        .check_proposal(proposal.header, proposal.transactions)
                        .expect("a finalized block was verified by a quorum")
                }
            }
        };
        let included: HashSet<Hash> = executed.hashes().iter().copied().collect();
        let certificate = Certificate::Consensus(
            borsh::to_vec(&ConsensusProof {
                view: block.view,
                parent: block.parent,
                digest: block.digest,
                empty,
                certificate: block.certificate,
            })
            .expect("encoding to a vector cannot fail"),
        );
        let height = block.height;
        shared
            .ledger
            .commit_executed(executed, certificate, &ConsensusCertificates)
            .unwrap_or_else(|error| panic!("committing finalized block {height}: {error}"));
        shared.pending.clear();
        for hash in &included {
            shared.waiting.remove(hash);
            // From now on the ledger answers for it.
            shared.status.remove(hash);
        }
        shared
            .mempool
            .retain(|hashed| !included.contains(&hashed.hash()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestgrid_ledger::{Authority, Body, Keypair, Role, Transaction};

    fn genesis(validator: &Keypair, gateway: &Keypair) -> Genesis {
        Genesis {
            chain_id: "node".into(),
            currency: "EUR".into(),
            timestamp_ms: 0,
            validators: vec![validator.public()],
            authorities: vec![Authority {
                name: "gateway".into(),
                key: gateway.public(),
                roles: vec![Role::Gateway],
            }],
        }
    }

    fn deposit(gateway: &Keypair, chain_id: &str, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: chain_id.into(),
            signer: gateway.public(),
            nonce,
            body: Body::Deposit {
                account: gateway.public(),
                amount: 5,
            },
        }
        .sign(gateway)
    }

    #[test]
    fn a_proposal_encodes_as_its_parts() {
        let gateway = Keypair::derived(3, "gateway");
        let ledger = Ledger::in_memory(genesis(&Keypair::derived(3, "validator"), &gateway));
        let executed = ledger
            .unwrap()
            .execute(vec![deposit(&gateway, "node", 1)], 10);
        let proposal = Proposal {
            header: executed.header.clone(),
            transactions: executed.transactions().to_vec(),
        };
        let derived = borsh::to_vec(&proposal).unwrap();
        assert_eq!(proposal.to_bytes(), derived);
        assert_eq!(
            proposal_bytes(&executed.header, executed.transactions()),
            derived
        );
    }

    /// The hashes a validator keeps for its mempool, proposes from and verifies with are the
    /// transactions' own.
    #[test]
    fn hashes_kept_from_submission_are_the_transactions_own() {
        let validator = Keypair::derived(3, "validator");
        let gateway = Keypair::derived(3, "gateway");
        let app = |genesis| LedgerApp::new(Ledger::in_memory(genesis).unwrap(), 100);
        let mut proposer = app(genesis(&validator, &gateway));
        let mut verifier = app(genesis(&validator, &gateway));
        let transactions: Vec<SignedTransaction> = (1..=3)
            .map(|nonce| deposit(&gateway, "node", nonce))
            .collect();
        let mut forged = deposit(&gateway, "node", 4);
        forged.signature = transactions[0].signature;
        let mut submitted = transactions.clone();
        submitted.push(forged);
        submitted.push(deposit(&gateway, "other", 4));

        let answers = proposer.submit_all(submitted);
        let own: Vec<Hash> = transactions.iter().map(SignedTransaction::hash).collect();
        assert_eq!(
            answers[..3],
            own.iter().map(|hash| Ok(*hash)).collect::<Vec<_>>()
        );
        assert_eq!(
            answers[3..],
            [
                Err(Refused::Invalid(ResultCode::BadSignature)),
                Err(Refused::Invalid(ResultCode::WrongChain))
            ]
        );
        let checked = Checked::new("node", transactions[0].clone()).unwrap();
        assert_eq!(checked.hash(), own[0]);
        assert_eq!(verifier.submit(transactions[0].clone()), Ok(own[0]));

        let payload = proposer.propose(1, 10);
        let proposed = proposer.lock().pending.values().next().unwrap().clone();
        assert_eq!(proposed.transactions(), transactions);
        assert_eq!(proposed.hashes(), own);
        // The verifier checked one signature at submission; the others it checks now.
        assert!(verifier.verify(1, 10, &payload));
        let verified = verifier.lock().pending.values().next().unwrap().clone();
        assert_eq!(verified.hashes(), own);
        assert_eq!(verified.header, proposed.header);

        // The verified block's transactions are remembered as checked, a forged copy is
        // not: submitted late, the genuine ones enter the mempool, the forged one is refused.
        assert!(
            own.iter()
                .all(|hash| verifier.lock().verified.contains(hash))
        );
        let mut late_forgery = transactions[2].clone();
        late_forgery.signature = transactions[1].signature;
        assert!(!verifier.lock().verified.contains(&late_forgery.hash()));
        let answers = verifier.submit_all(vec![
            transactions[1].clone(),
            late_forgery,
            transactions[2].clone(),
        ]);
        assert_eq!(
            answers,
            [
                Ok(own[1]),
                Err(Refused::Invalid(ResultCode::BadSignature)),
                Ok(own[2])
            ]
        );
    }

    #[test]
    fn only_the_latest_rejections_are_kept() {
        let validator = Keypair::derived(3, "validator");
        let gateway = Keypair::derived(3, "gateway");
        let app = LedgerApp::new(
            Ledger::in_memory(genesis(&validator, &gateway)).unwrap(),
            100,
        );
        let mut shared = app.lock();
        let hash = |n: u32| {
            let mut bytes = [0; 32];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            Hash(bytes)
        };
        // The first one is waiting again when its rejection is forgotten: it stays waiting.
        shared.reject(hash(0), ResultCode::StaleNonce);
        shared.status.insert(hash(0), Status::Pending);
        for n in 1..=REJECTED_KEPT as u32 + 1 {
            shared.reject(hash(n), ResultCode::StaleNonce);
        }
        assert_eq!(shared.rejected.len(), REJECTED_KEPT);
        assert_eq!(shared.status(&hash(0)), Status::Pending);
        assert_eq!(shared.status(&hash(1)), Status::Unknown, "forgotten");
        assert_eq!(
            shared.status(&hash(2)),
            Status::Rejected(ResultCode::StaleNonce)
        );
        assert_eq!(shared.status.len(), REJECTED_KEPT + 1);
    }

    #[test]
    fn recent_hashes_forget_the_oldest_block() {
        let mut recent = RecentHashes::default();
        let hash = |n: u8| Hash([n; 32]);
        for block in 0..RECENT_BLOCKS as u8 {
            recent.add(vec![hash(block), hash(200)]);
        }
        assert!(recent.contains(&hash(0)));
        recent.add(vec![hash(250)]);
        assert!(!recent.contains(&hash(0)), "the oldest block is forgotten");
        assert!(recent.contains(&hash(1)) && recent.contains(&hash(250)));
        assert_eq!(recent.blocks.len(), RECENT_BLOCKS);
    }
}
