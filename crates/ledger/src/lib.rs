//! The settlement ledger of nestgrid: signed transactions, the state machine that settles
//! trades and metered deliveries, hash-chained blocks with commit certificates, their storage,
//! and the checks that replay a chain from its genesis.
//!
//! Main types: [`Genesis`] (validators and authorities), [`Transaction`] /
//! [`SignedTransaction`] with a [`Body`], [`State`] with [`State::apply`] returning a
//! [`ResultCode`], [`Block`], [`Ledger`] (state + stored blocks), [`Sequencer`] (one validator
//! that orders blocks by itself), [`verify`] (replay and check a stored chain), [`request`]
//! (signed HTTP requests, shared by the validator API and the live exchange).
//!
//! Invariants, checked by the tests for all inputs:
//! - a transaction that fails changes nothing, its signer's nonce included;
//! - a nonce is used once (replays fail with [`ResultCode::StaleNonce`]);
//! - money is conserved: the sum of balances and locked money equals deposits minus
//!   withdrawals, whatever is recorded and settled;
//! - a seller never has more energy sold for a slot than its asset's registered maximum;
//! - a block holds only transactions that apply, and its header commits to them, to the
//!   resulting state and to its parent.
//!
//! The ledger's time and the order of transactions come from consensus (blocks); nothing here
//! reads a clock.

mod block;
mod chain;
mod codes;
mod crypto;
mod genesis;
pub mod request;
mod solo;
mod state;
mod store;
mod tx;
pub mod verify;

pub use block::{
    BLOCK_DOMAIN, Block, BlockHeader, Certificate, CertificateCheck, CertificateError, Vote,
    VotesOnly, vote,
};
pub use chain::{BlockFault, Executed, Ledger, LedgerError};
pub use codes::ResultCode;
pub use crypto::{
    Hash, KeyError, KeyFile, Keypair, PublicKey, Signature, SignatureCheck, Verifier,
    VerifierCheck, merkle_root, verify_all, verify_all_by,
};
pub use genesis::{Authority, Genesis, GenesisError};
pub use solo::{Committed, NotSoleValidator, Sequencer};
pub use state::{Account, Asset, SlotBook, State, Totals};
pub use store::{FILE_NAME, Store, StoreError};
pub use tx::{
    AssetSpec, BalancingPrice, Body, Delivery, HashedTransaction, Role, Roles, SignedTransaction,
    TX_DOMAIN, TradeEntry, Transaction, hash_and_check_signatures,
    hash_and_check_signatures_unless, signatures_valid,
};

/// Limits of the ledger (STYLE 10). Over a limit a transaction fails with
/// [`ResultCode::TooLarge`] and a block is invalid.
pub mod limits {
    /// Transactions in one block.
    pub const TRANSACTIONS_PER_BLOCK: usize = 20_000;
    /// Trades in one `RecordTrades` transaction.
    pub const TRADES_PER_BATCH: usize = 50_000;
    /// Grid fees on one trade (one per boundary crossed: twice the tree depth at most).
    pub const FEES_PER_TRADE: usize = 64;
    /// Entries in one `PostPrices` or `PostDeliveries` transaction.
    pub const ITEMS_PER_BATCH: usize = 200_000;
    /// Assets in one `Register` transaction.
    pub const ASSETS_PER_REGISTRATION: usize = 10_000;
    /// Bytes of an asset's name.
    pub const NAME_BYTES: usize = 512;
}
