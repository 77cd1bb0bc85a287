//! One validator that orders, executes and certifies blocks by itself.
//!
//! This is the embedded setup of the simulator's `run --settle`: the genesis names a single
//! validator, whose vote is a quorum (1 of 1), so each block's certificate is that one vote.
//! The block rules, the storage and `ledger verify` are the ones of a replicated chain.

use crate::block::{Certificate, CertificateCheck, vote};
use crate::chain::{Ledger, LedgerError};
use crate::codes::ResultCode;
use crate::crypto::{Hash, Keypair};
use crate::tx::SignedTransaction;

/// What became of one block's worth of transactions.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Height of the new block.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
    /// Transactions applied.
    pub applied: usize,
    /// Transactions left out, with why.
    pub rejected: Vec<(Hash, ResultCode)>,
}

/// A single validator with its ledger.
#[derive(Debug)]
pub struct Sequencer {
    ledger: Ledger,
    keypair: Keypair,
    index: u16,
}

/// The key is not a validator whose vote alone is a quorum.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the key {key} is not the only validator of the genesis file (it has {validators})")]
pub struct NotSoleValidator {
    /// The key.
    pub key: String,
    /// Number of validators in the genesis file.
    pub validators: usize,
}

impl Sequencer {
    /// A sequencer for `ledger`, signing with `keypair`, which must be the genesis file's only
    /// validator.
    pub fn new(ledger: Ledger, keypair: Keypair) -> Result<Sequencer, NotSoleValidator> {
        let genesis = ledger.genesis();
        let index = genesis
            .validators
            .iter()
            .position(|key| *key == keypair.public());
        match index {
            Some(index) if genesis.quorum() == 1 => Ok(Sequencer {
                ledger,
                keypair,
                index: index as u16,
            }),
            _ => Err(NotSoleValidator {
                key: keypair.public().to_hex(),
                validators: genesis.validators.len(),
            }),
        }
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Gives the ledger back.
    pub fn into_ledger(self) -> Ledger {
        self.ledger
    }

    /// Orders `transactions` into the next block at `timestamp_ms`, certifies and stores it.
    pub fn commit(
        &mut self,
        transactions: Vec<SignedTransaction>,
        timestamp_ms: u64,
        consensus: &dyn CertificateCheck,
    ) -> Result<Committed, LedgerError> {
        let executed = self.ledger.execute(transactions, timestamp_ms);
        let certificate =
            Certificate::Votes(vec![vote(&self.keypair, self.index, &executed.header)]);
        let height = executed.header.height;
        let applied = executed.transactions().len();
        let rejected = executed.rejected.clone();
        let hash = self
            .ledger
            .commit_executed(executed, certificate, consensus)?;
        Ok(Committed {
            height,
            hash,
            applied,
            rejected,
        })
    }
}
