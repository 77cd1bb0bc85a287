//! Replaying a stored chain from its genesis and checking everything on the way
//! (`nestgrid ledger verify`).
//!
//! Each block is read back with its stored hash checked, then checked as a next block would be
//! ([`Ledger::check_block`]: hash link, chain id, time, Merkle root, commit certificate, every
//! transaction's signature and rules, the resulting state's hash). After every block an audit
//! recomputes the totals that must hold whatever the transactions were: the money held in
//! accounts equals the money paid in minus the money paid out, and the energy tokens held equal
//! the tokens minted. The first block (and transaction) that does not agree is named.

use crate::block::{Block, CertificateCheck};
use crate::chain::{BlockFault, Ledger};
use crate::crypto::Hash;
use crate::genesis::Genesis;
use crate::state::State;
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::path::Path;

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The chain.
    pub chain_id: String,
    /// Blocks checked.
    pub height: u64,
    /// Hash of the last header.
    pub head: String,
    /// Transactions checked.
    pub transactions: u64,
    /// Accounts.
    pub accounts: usize,
    /// Registered assets.
    pub assets: usize,
    /// Trades recorded.
    pub trades: u64,
    /// Slots settled.
    pub slots_settled: u64,
    /// Slots with records, not settled yet.
    pub slots_open: usize,
    /// Money paid in (micro-units).
    pub deposited: i64,
    /// Money paid out.
    pub withdrawn: i64,
    /// Money available in accounts.
    pub balances: i128,
    /// Money locked by unsettled trades.
    pub locked: i128,
    /// Energy tokens minted (mWh).
    pub tokens_minted_mwh: i64,
}

/// Why a chain does not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The store could not be read, or a block on disk does not match its hash.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block breaks a rule.
    #[error(transparent)]
    Block(#[from] BlockFault),
    /// The totals do not add up after a block.
    #[error("after block {height}: {reason}")]
    Audit {
        /// The block.
        height: u64,
        /// What does not add up.
        reason: String,
    },
}

impl VerifyError {
    /// Height of the first block that does not agree.
    pub fn height(&self) -> Option<u64> {
        match self {
            VerifyError::Store(StoreError::Corrupt { height, .. })
            | VerifyError::Store(StoreError::NotNext { height, .. }) => Some(*height),
            VerifyError::Store(_) => None,
            VerifyError::Block(fault) => Some(fault.height),
            VerifyError::Audit { height, .. } => Some(*height),
        }
    }
}

/// Replays and checks the chain stored in `dir`.
pub fn verify_dir(dir: &Path, consensus: &dyn CertificateCheck) -> Result<Report, VerifyError> {
    let store = Store::open(dir)?;
    let blocks = (1..=store.height()).map(|height| {
        store.block(height)?.ok_or_else(|| {
            VerifyError::Store(StoreError::Corrupt {
                height,
                reason: "it is missing".into(),
            })
        })
    });
    replay(store.genesis().clone(), blocks, consensus)
}

/// Replays `blocks` (heights 1, 2, … in order) from `genesis`, checking each block as a next
/// block and auditing the totals after it. The source of the blocks (a folder, a validator's
/// API) is the caller's; its errors stop the replay.
pub fn replay(
    genesis: Genesis,
    blocks: impl IntoIterator<Item = Result<Block, VerifyError>>,
    consensus: &dyn CertificateCheck,
) -> Result<Report, VerifyError> {
    genesis.validate().map_err(|error| VerifyError::Audit {
        height: 0,
        reason: format!("genesis file: {error}"),
    })?;
    let mut ledger = Ledger::in_memory(genesis).map_err(|error| VerifyError::Audit {
        height: 0,
        reason: error.to_string(),
    })?;
    let mut transactions = 0u64;
    for block in blocks {
        let block = block?;
        let height = block.header.height;
        transactions += block.transactions.len() as u64;
        ledger
            .commit(block, consensus)
            .map_err(|error| match error {
                crate::chain::LedgerError::Block(fault) => VerifyError::Block(fault),
                crate::chain::LedgerError::Store(error) => VerifyError::Store(error),
                crate::chain::LedgerError::Genesis(error) => VerifyError::Audit {
                    height,
                    reason: error.to_string(),
                },
            })?;
        audit(ledger.state()).map_err(|reason| VerifyError::Audit { height, reason })?;
    }
    let state = ledger.state();
    Ok(Report {
        chain_id: state.chain_id.clone(),
        height: ledger.height(),
        head: ledger.head().to_hex(),
        transactions,
        accounts: state.accounts.len(),
        assets: state.assets.len(),
        trades: state.totals.trades,
        slots_settled: state.totals.slots_settled,
        slots_open: state.slots.len(),
        deposited: state.totals.deposited,
        withdrawn: state.totals.withdrawn,
        balances: state.accounts.values().map(|a| a.balance as i128).sum(),
        locked: state.accounts.values().map(|a| a.locked as i128).sum(),
        tokens_minted_mwh: state.totals.tokens_minted_mwh,
    })
}

/// The totals that hold in every valid state: money in accounts (available and locked) equals
/// deposits minus withdrawals; money locked equals what the open slots' trades lock; tokens
/// held and minted both equal the total minted.
pub fn audit(state: &State) -> Result<(), String> {
    let held: i128 = state
        .accounts
        .values()
        .map(|account| account.balance as i128 + account.locked as i128)
        .sum();
    let paid_in = state.totals.deposited as i128 - state.totals.withdrawn as i128;
    if held != paid_in {
        return Err(format!(
            "accounts hold {held} micro-units, but {paid_in} were paid in net"
        ));
    }
    let locked: i128 = state.accounts.values().map(|a| a.locked as i128).sum();
    let open: i128 = state
        .slots
        .values()
        .flat_map(|book| &book.trades)
        .map(|trade| trade.buyer_amount as i128)
        .sum();
    if locked != open {
        return Err(format!(
            "{locked} micro-units are locked, but the open trades lock {open}"
        ));
    }
    let tokens: i128 = state.accounts.values().map(|a| a.tokens_mwh as i128).sum();
    let minted: i128 = state
        .accounts
        .values()
        .map(|a| a.tokens_minted_mwh as i128)
        .sum();
    let total = state.totals.tokens_minted_mwh as i128;
    if tokens != total || minted != total {
        return Err(format!(
            "accounts hold {tokens} mWh of tokens and minted {minted}, but {total} were minted"
        ));
    }
    Ok(())
}

/// The hash of the chain's last header, for printing.
pub fn head_of(dir: &Path) -> Result<(u64, Hash), StoreError> {
    let store = Store::open(dir)?;
    Ok((store.height(), store.head()))
}
