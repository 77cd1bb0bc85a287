//! Result codes of transactions: expected failures are values with stable numbers (STYLE 12).
//!
//! The numbers are part of the interface: submitters receive them (blocks carry only applied
//! transactions), so a code keeps its number forever and new codes take new numbers.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;

/// What became of a transaction. Anything but [`ResultCode::Ok`] changed nothing at all.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
#[borsh(use_discriminant = true)]
#[repr(u16)]
pub enum ResultCode {
    /// Applied.
    Ok = 0,
    /// The bytes do not decode to a transaction.
    Malformed = 1,
    /// The signature does not verify against the signer's key.
    BadSignature = 2,
    /// Signed for another chain.
    WrongChain = 3,
    /// The nonce was already used: a replay.
    StaleNonce = 4,
    /// The nonce skips ahead of the signer's next nonce.
    FutureNonce = 5,
    /// The signer is not a registered account.
    UnknownSigner = 6,
    /// The signer's roles do not allow this transaction.
    WrongRole = 7,
    /// The account to register exists already.
    AccountExists = 8,
    /// An account named in the transaction does not exist.
    UnknownAccount = 9,
    /// An asset to register exists already.
    AssetExists = 10,
    /// An asset named in the transaction does not exist.
    UnknownAsset = 11,
    /// The buyer (or the account to withdraw from) has not enough available money.
    InsufficientFunds = 12,
    /// The seller would have more energy sold for the slot than its registered maximum.
    EnergyAlreadySold = 13,
    /// A trade's buyer amount is not its seller amount plus its fees and surplus.
    AmountsDoNotAdd = 14,
    /// An energy or amount is zero or negative where it must be positive, or negative where it
    /// must not be.
    InvalidAmount = 15,
    /// The slot is settled already.
    SlotSettled = 16,
    /// A delivery for this asset and slot was posted already.
    DeliveryExists = 17,
    /// A slot cannot be settled: an asset that traded has no delivery.
    DeliveriesMissing = 18,
    /// A slot cannot be settled: an imbalance has no price from its balancing asset.
    PricesMissing = 19,
    /// A trade's buyer and seller are the same asset.
    SelfTrade = 20,
    /// A sum would overflow.
    Overflow = 21,
    /// More items than the limits allow.
    TooLarge = 22,
    /// A fee or surplus goes to an account that is not an area operator.
    NotAreaOperator = 23,
    /// Prices for this balancing asset and slot were posted already.
    PricesExist = 24,
    /// The transaction does nothing (an empty batch).
    Empty = 25,
    /// The key to register is not a point of the curve, or is of small order (anyone could
    /// sign for it).
    BadKey = 26,
}

impl ResultCode {
    /// Every code, in number order.
    pub const ALL: [ResultCode; 27] = [
        ResultCode::Ok,
        ResultCode::Malformed,
        ResultCode::BadSignature,
        ResultCode::WrongChain,
        ResultCode::StaleNonce,
        ResultCode::FutureNonce,
        ResultCode::UnknownSigner,
        ResultCode::WrongRole,
        ResultCode::AccountExists,
        ResultCode::UnknownAccount,
        ResultCode::AssetExists,
        ResultCode::UnknownAsset,
        ResultCode::InsufficientFunds,
        ResultCode::EnergyAlreadySold,
        ResultCode::AmountsDoNotAdd,
        ResultCode::InvalidAmount,
        ResultCode::SlotSettled,
        ResultCode::DeliveryExists,
        ResultCode::DeliveriesMissing,
        ResultCode::PricesMissing,
        ResultCode::SelfTrade,
        ResultCode::Overflow,
        ResultCode::TooLarge,
        ResultCode::NotAreaOperator,
        ResultCode::PricesExist,
        ResultCode::Empty,
        ResultCode::BadKey,
    ];

    /// The stable number.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The snake-case name used in files and the API.
    pub fn name(self) -> &'static str {
        match self {
            ResultCode::Ok => "ok",
            ResultCode::Malformed => "malformed",
            ResultCode::BadSignature => "bad_signature",
            ResultCode::WrongChain => "wrong_chain",
            ResultCode::StaleNonce => "stale_nonce",
            ResultCode::FutureNonce => "future_nonce",
            ResultCode::UnknownSigner => "unknown_signer",
            ResultCode::WrongRole => "wrong_role",
            ResultCode::AccountExists => "account_exists",
            ResultCode::UnknownAccount => "unknown_account",
            ResultCode::AssetExists => "asset_exists",
            ResultCode::UnknownAsset => "unknown_asset",
            ResultCode::InsufficientFunds => "insufficient_funds",
            ResultCode::EnergyAlreadySold => "energy_already_sold",
            ResultCode::AmountsDoNotAdd => "amounts_do_not_add",
            ResultCode::InvalidAmount => "invalid_amount",
            ResultCode::SlotSettled => "slot_settled",
            ResultCode::DeliveryExists => "delivery_exists",
            ResultCode::DeliveriesMissing => "deliveries_missing",
            ResultCode::PricesMissing => "prices_missing",
            ResultCode::SelfTrade => "self_trade",
            ResultCode::Overflow => "overflow",
            ResultCode::TooLarge => "too_large",
            ResultCode::NotAreaOperator => "not_area_operator",
            ResultCode::PricesExist => "prices_exist",
            ResultCode::Empty => "empty",
            ResultCode::BadKey => "bad_key",
        }
    }
}

impl Serialize for ResultCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl std::fmt::Display for ResultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_and_in_order() {
        for (index, code) in ResultCode::ALL.iter().enumerate() {
            assert_eq!(code.number() as usize, index, "{code:?}");
        }
        // Pinned: submitters depend on these numbers.
        assert_eq!(ResultCode::InsufficientFunds.number(), 12);
        assert_eq!(ResultCode::EnergyAlreadySold.number(), 13);
        assert_eq!(borsh::to_vec(&ResultCode::StaleNonce).unwrap(), vec![4]);
    }
}
