//! Blocks: an ordered batch of applied transactions, hash-chained to the one before.

use crate::crypto::{Hash, Keypair, Signature, merkle_root};
use crate::genesis::Genesis;
use crate::tx::SignedTransaction;
use borsh::{BorshDeserialize, BorshSerialize};
use std::collections::BTreeSet;

/// Domain tag of validators' signatures over a block header.
pub const BLOCK_DOMAIN: &[u8] = b"nestgrid block v1";

/// What the commit certificate and the hash chain cover.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockHeader {
    /// The chain.
    pub chain_id: String,
    /// Height: 1 for the first block after genesis.
    pub height: u64,
    /// Hash of the previous header (the genesis hash for block 1).
    pub parent: Hash,
    /// Time of the block (milliseconds since the Unix epoch), set by consensus; never earlier
    /// than the parent's.
    pub timestamp_ms: u64,
    /// Merkle root of the transactions' hashes.
    pub tx_root: Hash,
    /// Hash of the state after the block's transactions.
    pub state_hash: Hash,
    /// Number of transactions.
    pub tx_count: u32,
}

impl BlockHeader {
    /// The block's hash: its identity, the next block's `parent`.
    pub fn hash(&self) -> Hash {
        let bytes = borsh::to_vec(self).expect("encoding to a vector cannot fail");
        Hash::of(b"nestgrid block header", &[&bytes])
    }
}

/// One validator's vote for a header.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Index of the validator in the genesis file.
    pub validator: u16,
    /// Its signature over the header hash under [`BLOCK_DOMAIN`].
    pub signature: Signature,
}

/// Proof that the validators committed a block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Certificate {
    /// Signatures of a quorum of validators over the header hash.
    Votes(Vec<Vote>),
    /// The consensus library's own finalization certificate over the block, checked by a
    /// [`CertificateCheck`] that knows its format.
    Consensus(Vec<u8>),
}

/// A committed block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// The transactions, in order. Every one of them applied: a transaction that fails is
    /// left out of the block by its proposer, and a block carrying one is invalid.
    pub transactions: Vec<SignedTransaction>,
    /// The commit certificate.
    pub certificate: Certificate,
}

/// Why a certificate does not prove a commit.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// A vote names no validator.
    #[error("vote {index} names validator {validator}, but there are {count}")]
    UnknownValidator {
        /// Position of the vote.
        index: usize,
        /// The index it names.
        validator: u16,
        /// Number of validators.
        count: usize,
    },
    /// Two votes of one validator.
    #[error("validator {validator} voted twice")]
    DuplicateVote {
        /// The validator.
        validator: u16,
    },
    /// A vote's signature is wrong.
    #[error("the vote of validator {validator} has a bad signature")]
    BadVote {
        /// The validator.
        validator: u16,
    },
    /// Too few votes.
    #[error("{votes} valid votes, {quorum} needed")]
    NoQuorum {
        /// Valid votes.
        votes: usize,
        /// Needed.
        quorum: usize,
    },
    /// The consensus library's certificate did not verify.
    #[error("consensus certificate: {0}")]
    Consensus(String),
}

/// Checks certificates of the [`Certificate::Consensus`] kind.
pub trait CertificateCheck {
    /// Whether `certificate` proves that the validators of `genesis` committed `block`.
    fn check(&self, genesis: &Genesis, block: &Block, certificate: &[u8]) -> Result<(), String>;
}

/// Accepts only [`Certificate::Votes`]; for ledgers without an external consensus library.
#[derive(Debug, Default, Clone, Copy)]
pub struct VotesOnly;

impl CertificateCheck for VotesOnly {
    fn check(&self, _: &Genesis, _: &Block, _: &[u8]) -> Result<(), String> {
        Err(
            "the block is certified by the consensus library, whose check this program does not \
             include; verify it with `nestgrid-node verify --dir DIR`"
                .into(),
        )
    }
}

impl Block {
    /// The Merkle root of `transactions`.
    pub fn tx_root(transactions: &[SignedTransaction]) -> Hash {
        let leaves: Vec<Hash> = transactions.iter().map(SignedTransaction::hash).collect();
        merkle_root(&leaves)
    }

    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("encoding to a vector cannot fail")
    }

    /// Decodes canonical bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, std::io::Error> {
        borsh::from_slice(bytes)
    }

    /// Checks the commit certificate against the genesis validators.
    pub fn check_certificate(
        &self,
        genesis: &Genesis,
        consensus: &dyn CertificateCheck,
    ) -> Result<(), CertificateError> {
        match &self.certificate {
            Certificate::Votes(votes) => check_votes(genesis, &self.header.hash(), votes),
            Certificate::Consensus(bytes) => consensus
                .check(genesis, self, bytes)
                .map_err(CertificateError::Consensus),
        }
    }
}

/// A vote of `keypair`, validator number `validator`, for `header`.
pub fn vote(keypair: &Keypair, validator: u16, header: &BlockHeader) -> Vote {
    Vote {
        validator,
        signature: keypair.sign(BLOCK_DOMAIN, &header.hash().0),
    }
}

fn check_votes(genesis: &Genesis, hash: &Hash, votes: &[Vote]) -> Result<(), CertificateError> {
    let mut seen = BTreeSet::new();
    for (index, vote) in votes.iter().enumerate() {
        let Some(key) = genesis.validators.get(vote.validator as usize) else {
            return Err(CertificateError::UnknownValidator {
                index,
                validator: vote.validator,
                count: genesis.validators.len(),
            });
        };
        if !seen.insert(vote.validator) {
            return Err(CertificateError::DuplicateVote {
                validator: vote.validator,
            });
        }
        if !key.verify(BLOCK_DOMAIN, &hash.0, &vote.signature) {
            return Err(CertificateError::BadVote {
                validator: vote.validator,
            });
        }
    }
    let quorum = genesis.quorum();
    if seen.len() < quorum {
        return Err(CertificateError::NoQuorum {
            votes: seen.len(),
            quorum,
        });
    }
    Ok(())
}
