//! Transactions: what they say, who may sign them, and their canonical bytes.
//!
//! A [`Transaction`] names its chain, its signer and the signer's next nonce, and carries one
//! [`Body`]. Its canonical bytes are its borsh encoding (deterministic by specification); the
//! signature covers those bytes under the domain tag [`TX_DOMAIN`]. The transaction's hash is
//! the hash of the signed transaction's bytes.
//!
//! Units on the wire are the engine's integers: energy in mWh, money in micro-units of the
//! currency, prices in micro-units per kWh. Slots count from the chain's epoch (for a
//! simulation, the run's first slot).

use crate::crypto::{Hash, Keypair, PublicKey, Signature, SignatureCheck, verify_all};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Domain tag of transaction signatures.
pub const TX_DOMAIN: &[u8] = b"nestgrid transaction v1";

/// What an account may do. An account may hold several roles.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Takes part in consensus (named in the genesis file only).
    Validator,
    /// Registers participants, area operators and auditors.
    Operator,
    /// The distribution operator's meters: posts deliveries.
    MeterAuthority,
    /// Submits clearing results (trades), imbalance prices, and settles slots.
    MarketOperator,
    /// Collects the grid fees of an area (and the surplus of two-price clearings there).
    AreaOperator,
    /// Moves money in and out of the ledger (deposits and withdrawals).
    Gateway,
    /// Reads everything, writes nothing.
    Auditor,
    /// Owns assets that trade.
    Participant,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 8] = [
        Role::Validator,
        Role::Operator,
        Role::MeterAuthority,
        Role::MarketOperator,
        Role::AreaOperator,
        Role::Gateway,
        Role::Auditor,
        Role::Participant,
    ];

    /// The role's bit in a role set.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of roles, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Roles(pub u16);

impl Roles {
    /// The set holding `roles`.
    pub fn of(roles: &[Role]) -> Roles {
        Roles(roles.iter().fold(0, |bits, role| bits | role.bit()))
    }
    /// Whether the set holds `role`.
    pub fn has(self, role: Role) -> bool {
        self.0 & role.bit() != 0
    }
    /// The roles held, in order.
    pub fn list(self) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|role| self.has(*role))
            .collect()
    }
}

/// An asset registered with its owner.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AssetSpec {
    /// Ledger-wide number of the asset, chosen by the operator.
    pub asset: u32,
    /// Human-readable name (for a simulation, the asset's path).
    pub name: String,
    /// The most energy the asset may sell in one slot (mWh): the physical limit that makes
    /// double selling detectable.
    pub energy_sell_max_mwh: i64,
    /// The asset that settles this asset's imbalances (a grid connection), if any. Without one,
    /// an imbalance is recorded but costs nothing.
    pub balancing_asset: Option<u32>,
}

/// One trade of a clearing batch, between two assets.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TradeEntry {
    /// The market's number for the trade.
    pub trade_id: u64,
    /// The buying asset.
    pub buyer_asset: u32,
    /// The selling asset.
    pub seller_asset: u32,
    /// Energy (mWh, positive).
    pub energy_mwh: i64,
    /// What the buyer pays, fees included (micro-units). Locked when the trade is recorded.
    pub buyer_amount: i64,
    /// What the seller receives, its fees deducted.
    pub seller_amount: i64,
    /// Grid fees: (area operator, amount) for each boundary the energy crosses.
    pub fees: Vec<(PublicKey, i64)>,
    /// The surplus of a two-price clearing: (area operator of the matching market, amount).
    pub surplus: Option<(PublicKey, i64)>,
}

/// Metered energy of one asset in one slot.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Delivery {
    /// The asset.
    pub asset: u32,
    /// Energy into the asset (consumed, charged), mWh.
    pub energy_in_mwh: i64,
    /// Energy out of the asset (produced, discharged), mWh.
    pub energy_out_mwh: i64,
}

/// The imbalance prices of one balancing asset in one slot.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BalancingPrice {
    /// The balancing asset (a grid connection).
    pub balancing_asset: u32,
    /// Price a short asset pays for each kWh the balancing asset supplied (micro-units/kWh).
    pub shortage_price: i64,
    /// Price a long asset receives for each kWh the balancing asset absorbed.
    pub surplus_price: i64,
}

/// What a transaction does, with the role that may sign it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Body {
    /// Operator: a new account with one role (participant, area operator or auditor) and the
    /// participant's assets.
    Register {
        /// The new account.
        account: PublicKey,
        /// A label for people (may be empty): an account is a pseudonym, so the operator
        /// chooses what, if anything, the label reveals.
        name: String,
        /// Its role.
        role: Role,
        /// Its assets (participants only).
        assets: Vec<AssetSpec>,
    },
    /// Gateway: money paid in from outside.
    Deposit {
        /// The account credited.
        account: PublicKey,
        /// Micro-units, positive.
        amount: i64,
    },
    /// Gateway: money paid out, from the account's available (unlocked) money.
    Withdraw {
        /// The account debited.
        account: PublicKey,
        /// Micro-units, positive.
        amount: i64,
    },
    /// Market operator: the trades of one clearing. All or nothing.
    RecordTrades {
        /// Delivery slot.
        slot: u64,
        /// The trades.
        trades: Vec<TradeEntry>,
    },
    /// Market operator: imbalance prices of balancing assets for a slot.
    PostPrices {
        /// Delivery slot.
        slot: u64,
        /// One entry per balancing asset.
        prices: Vec<BalancingPrice>,
    },
    /// Meter authority: metered energy per asset for a slot.
    PostDeliveries {
        /// Delivery slot.
        slot: u64,
        /// One entry per asset.
        deliveries: Vec<Delivery>,
        /// Hash of the raw meter data kept off the chain, if any.
        data_hash: Option<Hash>,
    },
    /// Market operator: settles a slot whose deliveries are in.
    SettleSlot {
        /// The slot.
        slot: u64,
    },
}

impl Body {
    /// The roles allowed to sign this body.
    pub fn allowed(&self) -> &'static [Role] {
        match self {
            Body::Register { .. } => &[Role::Operator],
            Body::Deposit { .. } | Body::Withdraw { .. } => &[Role::Gateway],
            Body::RecordTrades { .. } | Body::PostPrices { .. } | Body::SettleSlot { .. } => {
                &[Role::MarketOperator]
            }
            Body::PostDeliveries { .. } => &[Role::MeterAuthority],
        }
    }

    /// Short name for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Register { .. } => "register",
            Body::Deposit { .. } => "deposit",
            Body::Withdraw { .. } => "withdraw",
            Body::RecordTrades { .. } => "record_trades",
            Body::PostPrices { .. } => "post_prices",
            Body::PostDeliveries { .. } => "post_deliveries",
            Body::SettleSlot { .. } => "settle_slot",
        }
    }
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    /// The chain it is meant for (the genesis file's `chain_id`).
    pub chain_id: String,
    /// Who signs it.
    pub signer: PublicKey,
    /// The signer's next nonce: 1 for its first transaction, then one more each time a
    /// transaction of the signer is applied.
    pub nonce: u64,
    /// What it does.
    pub body: Body,
}

impl Transaction {
    /// Signs the transaction. `keypair` must be the signer's.
    pub fn sign(self, keypair: &Keypair) -> SignedTransaction {
        debug_assert_eq!(keypair.public(), self.signer, "signed by another key");
        let bytes = borsh::to_vec(&self).expect("encoding to a vector cannot fail");
        let signature = keypair.sign(TX_DOMAIN, &bytes);
        SignedTransaction {
            transaction: self,
            signature,
        }
    }
}

/// A transaction with its signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction {
    /// The transaction.
    pub transaction: Transaction,
    /// The signer's signature over its canonical bytes.
    pub signature: Signature,
}

impl SignedTransaction {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("encoding to a vector cannot fail")
    }

    /// Decodes canonical bytes; trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTransaction, std::io::Error> {
        borsh::from_slice(bytes)
    }

    /// The transaction's hash: its identity in blocks and listings.
    pub fn hash(&self) -> Hash {
        Hash::of(TX_HASH_DOMAIN, &[&self.to_bytes()])
    }

    /// Whether the signature verifies against the signer's key.
    pub fn signature_valid(&self) -> bool {
        self.transaction
            .signer
            .verify(TX_DOMAIN, &self.message(), &self.signature)
    }

    /// The bytes the signature covers: the transaction's canonical bytes.
    pub(crate) fn message(&self) -> Vec<u8> {
        borsh::to_vec(&self.transaction).expect("encoding to a vector cannot fail")
    }

    /// [`SignedTransaction::hash`] from [`SignedTransaction::message`], without encoding the
    /// transaction again: borsh encodes a struct as its fields in order, and a signature as its
    /// 64 bytes, so the canonical bytes are the message followed by the signature.
    pub(crate) fn hash_of_message(&self, message: &[u8]) -> Hash {
        Hash::of(TX_HASH_DOMAIN, &[message, &self.signature.0])
    }
}

/// Domain tag of transaction hashes.
const TX_HASH_DOMAIN: &[u8] = b"nestgrid transaction hash";

/// A signed transaction with its hash, computed from it once, when the value is made: the
/// fields are private and the type does not decode, so the hash is always the transaction's
/// own ([`SignedTransaction::hash`]), never one received with it. What a validator's mempool
/// keeps and [`crate::Ledger::execute_prechecked`] takes, so the hash is not computed again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedTransaction {
    hash: Hash,
    transaction: SignedTransaction,
}

impl HashedTransaction {
    /// Hashes `transaction`.
    pub fn new(transaction: SignedTransaction) -> HashedTransaction {
        HashedTransaction {
            hash: transaction.hash(),
            transaction,
        }
    }

    /// The transaction's hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The transaction.
    pub fn transaction(&self) -> &SignedTransaction {
        &self.transaction
    }

    /// The transaction, without its hash.
    pub fn into_transaction(self) -> SignedTransaction {
        self.transaction
    }
}

/// Hashes `transactions` and checks their signatures together (as [`signatures_valid`]),
/// encoding each transaction once for both: one answer per transaction, in order.
pub fn hash_and_check_signatures(
    transactions: Vec<SignedTransaction>,
) -> Vec<(HashedTransaction, bool)> {
    hash_and_check_signatures_unless(transactions, |hashes| vec![false; hashes.len()])
}

/// [`hash_and_check_signatures`], except for the transactions that `known` (asked once, with
/// every hash in order) says were checked before: those count as valid without a check. A
/// hash covers the signature, so a transaction with the hash of one whose signature was
/// valid carries that same signature.
pub fn hash_and_check_signatures_unless(
    transactions: Vec<SignedTransaction>,
    known: impl FnOnce(&[Hash]) -> Vec<bool>,
) -> Vec<(HashedTransaction, bool)> {
    let messages: Vec<Vec<u8>> = transactions
        .iter()
        .map(SignedTransaction::message)
        .collect();
    let hashes: Vec<Hash> = transactions
        .iter()
        .zip(&messages)
        .map(|(transaction, message)| transaction.hash_of_message(message))
        .collect();
    let mut valid = known(&hashes);
    assert_eq!(valid.len(), hashes.len(), "one answer per hash");
    let checks: Vec<(&SignedTransaction, &[u8])> = transactions
        .iter()
        .zip(&messages)
        .zip(&valid)
        .filter(|(_, known)| !**known)
        .map(|((tx, message), _)| (tx, message.as_slice()))
        .collect();
    let mut checked = signatures_valid_of_messages(&checks).into_iter();
    for answer in valid.iter_mut().filter(|known| !**known) {
        *answer = checked.next().expect("one answer per check");
    }
    transactions
        .into_iter()
        .zip(hashes)
        .zip(valid)
        .map(|((transaction, hash), signature_ok)| {
            (HashedTransaction { hash, transaction }, signature_ok)
        })
        .collect()
}

/// [`SignedTransaction::signature_valid`] of many transactions, checked together: the same
/// answers in about half the time per transaction (see [`crate::verify_all`]).
pub fn signatures_valid(transactions: &[&SignedTransaction]) -> Vec<bool> {
    let messages: Vec<Vec<u8>> = transactions.iter().map(|tx| tx.message()).collect();
    let checks: Vec<(&SignedTransaction, &[u8])> = transactions
        .iter()
        .zip(&messages)
        .map(|(tx, message)| (*tx, message.as_slice()))
        .collect();
    signatures_valid_of_messages(&checks)
}

/// [`signatures_valid`] of transactions given with their [`SignedTransaction::message`]s.
pub(crate) fn signatures_valid_of_messages(checks: &[(&SignedTransaction, &[u8])]) -> Vec<bool> {
    let checks: Vec<SignatureCheck<'_>> = checks
        .iter()
        .map(|(tx, message)| SignatureCheck {
            key: &tx.transaction.signer,
            domain: TX_DOMAIN,
            message,
            signature: &tx.signature,
        })
        .collect();
    verify_all(&checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deposit(keypair: &Keypair, nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: "test".into(),
            signer: keypair.public(),
            nonce,
            body: Body::Deposit {
                account: keypair.public(),
                amount: 5,
            },
        }
        .sign(keypair)
    }

    #[test]
    fn round_trip_and_signature() {
        let key = Keypair::derived(0, "gateway");
        let tx = deposit(&key, 1);
        assert!(tx.signature_valid());
        let back = SignedTransaction::from_bytes(&tx.to_bytes()).unwrap();
        assert_eq!(back, tx);
        assert_eq!(back.hash(), tx.hash());
        assert_ne!(deposit(&key, 2).hash(), tx.hash());
    }

    #[test]
    fn hashes_computed_once_are_the_transactions_own() {
        let key = Keypair::derived(0, "gateway");
        let other = Keypair::derived(1, "gateway");
        let mut forged = deposit(&other, 3);
        forged.signature = deposit(&key, 3).signature;
        let transactions = vec![
            deposit(&key, 1),
            deposit(&key, 2),
            forged,
            deposit(&other, 1),
        ];
        for tx in &transactions {
            assert_eq!(tx.hash_of_message(&tx.message()), tx.hash());
            assert_eq!(HashedTransaction::new(tx.clone()).hash(), tx.hash());
        }
        let checked = hash_and_check_signatures(transactions.clone());
        assert_eq!(checked.len(), transactions.len());
        for ((hashed, signature_ok), tx) in checked.into_iter().zip(&transactions) {
            assert_eq!(hashed.hash(), tx.hash());
            assert_eq!(signature_ok, tx.signature_valid());
            assert_eq!(hashed.into_transaction(), *tx);
        }
        let (hashed, signature_ok) = hash_and_check_signatures(vec![transactions[2].clone()])
            .pop()
            .unwrap();
        assert_eq!(
            (hashed.hash(), signature_ok),
            (transactions[2].hash(), false)
        );
    }

    #[test]
    fn only_the_transactions_not_known_are_checked() {
        let key = Keypair::derived(0, "gateway");
        let other = Keypair::derived(1, "gateway");
        let mut forged = deposit(&other, 3);
        forged.signature = deposit(&key, 3).signature;
        let transactions = vec![deposit(&key, 1), forged.clone(), deposit(&key, 2), forged];
        // The first forged copy is said to be known, the second is not: only the second is
        // checked, and fails.
        let answers = hash_and_check_signatures_unless(transactions.clone(), |hashes| {
            assert_eq!(
                hashes.to_vec(),
                transactions.iter().map(|tx| tx.hash()).collect::<Vec<_>>()
            );
            vec![false, true, true, false]
        });
        let valid: Vec<bool> = answers.iter().map(|(_, ok)| *ok).collect();
        assert_eq!(valid, vec![true, true, true, false]);
        for ((hashed, _), tx) in answers.into_iter().zip(&transactions) {
            assert_eq!(hashed.hash(), tx.hash());
        }
        // Nothing known: the same answers as checking each.
        let answers = hash_and_check_signatures_unless(transactions.clone(), |hashes| {
            vec![false; hashes.len()]
        });
        let valid: Vec<bool> = answers.iter().map(|(_, ok)| *ok).collect();
        assert_eq!(valid, vec![true, false, true, false]);
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let key = Keypair::derived(0, "gateway");
        let mut tx = deposit(&key, 1);
        tx.transaction.body = Body::Deposit {
            account: key.public(),
            amount: 500,
        };
        assert!(!tx.signature_valid());
        let mut other_chain = deposit(&key, 1);
        other_chain.transaction.chain_id = "other".into();
        assert!(!other_chain.signature_valid());
    }

    #[test]
    fn trailing_bytes_and_truncation_are_errors() {
        let key = Keypair::derived(0, "gateway");
        let mut bytes = deposit(&key, 1).to_bytes();
        bytes.push(0);
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
        bytes.truncate(bytes.len() - 3);
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
    }

    #[test]
    fn role_sets() {
        let roles = Roles::of(&[Role::Gateway, Role::Auditor]);
        assert!(roles.has(Role::Gateway) && roles.has(Role::Auditor));
        assert!(!roles.has(Role::Operator));
        assert_eq!(roles.list(), vec![Role::Gateway, Role::Auditor]);
    }
}
