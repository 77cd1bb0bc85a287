//! The genesis file: the chain's name, its validators and its authorities.

use crate::crypto::{Hash, PublicKey};
use crate::tx::Role;
use borsh::BorshSerialize;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The genesis file (JSON). Example:
///
/// ```json
/// {
///   "chain_id": "nestgrid-local",
///   "currency": "EUR",
///   "timestamp_ms": 0,
///   "validators": ["<64 hex digits>"],
///   "authorities": [
///     { "name": "operator", "key": "<64 hex digits>", "roles": ["operator", "gateway"] }
///   ]
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// The chain's name; every transaction carries it.
    pub chain_id: String,
    /// The currency of all money on the chain (informational).
    pub currency: String,
    /// Time of the chain's start (milliseconds since the Unix epoch); blocks are later.
    #[serde(default)]
    pub timestamp_ms: u64,
    /// The validators' keys, in order: a commit certificate names validators by index here.
    pub validators: Vec<PublicKey>,
    /// The authorities and their roles.
    pub authorities: Vec<Authority>,
}

/// An account named in the genesis file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize)]
#[serde(deny_unknown_fields)]
pub struct Authority {
    /// A name for people.
    pub name: String,
    /// The key.
    pub key: PublicKey,
    /// Its roles (at least one).
    pub roles: Vec<Role>,
}

/// A genesis file that does not describe a chain.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenesisError {
    /// `chain_id` is empty.
    #[error("chain_id: must not be empty")]
    EmptyChainId,
    /// No validators.
    #[error("validators: at least one validator is needed")]
    NoValidators,
    /// A validator key appears twice.
    #[error("validators[{index}]: {key} is listed twice")]
    DuplicateValidator {
        /// Position of the second entry.
        index: usize,
        /// The key.
        key: PublicKey,
    },
    /// An authority key appears twice.
    #[error("authorities[{index}].key: {key} is listed twice; give one entry several roles")]
    DuplicateAuthority {
        /// Position of the second entry.
        index: usize,
        /// The key.
        key: PublicKey,
    },
    /// An authority without roles.
    #[error("authorities[{index}].roles: must name at least one role")]
    NoRoles {
        /// Position of the entry.
        index: usize,
    },
    /// The validator role is given by the `validators` list, not by an authority entry.
    #[error("authorities[{index}].roles: `validator` is given by the validators list")]
    ValidatorRole {
        /// Position of the entry.
        index: usize,
    },
    /// A key that is not a point of the curve, or of small order (anyone could sign for it).
    #[error(
        "{place}: {key} is not a usable ed25519 public key (not a curve point, or of small order)"
    )]
    BadKey {
        /// Where: `validators[i]` or `authorities[i].key`.
        place: String,
        /// The key.
        key: PublicKey,
    },
}

impl Genesis {
    /// Checks the file's rules.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.chain_id.trim().is_empty() {
            return Err(GenesisError::EmptyChainId);
        }
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut seen = BTreeSet::new();
        for (index, key) in self.validators.iter().enumerate() {
            if !key.is_usable() {
                return Err(GenesisError::BadKey {
                    place: format!("validators[{index}]"),
                    key: *key,
                });
            }
            if !seen.insert(*key) {
                return Err(GenesisError::DuplicateValidator { index, key: *key });
            }
        }
        let mut seen = BTreeSet::new();
        for (index, authority) in self.authorities.iter().enumerate() {
            if !authority.key.is_usable() {
                return Err(GenesisError::BadKey {
                    place: format!("authorities[{index}].key"),
                    key: authority.key,
                });
            }
            if !seen.insert(authority.key) {
                return Err(GenesisError::DuplicateAuthority {
                    index,
                    key: authority.key,
                });
            }
            if authority.roles.is_empty() {
                return Err(GenesisError::NoRoles { index });
            }
            if authority.roles.contains(&Role::Validator) {
                return Err(GenesisError::ValidatorRole { index });
            }
        }
        Ok(())
    }

    /// The hash of the genesis: the parent of block 1.
    pub fn hash(&self) -> Hash {
        let bytes = borsh::to_vec(self).expect("encoding to a vector cannot fail");
        Hash::of(b"nestgrid genesis", &[&bytes])
    }

    /// Votes needed for a commit certificate: more than two thirds of the validators
    /// (2f + 1 of n = 3f + 1; 1 of 1).
    pub fn quorum(&self) -> usize {
        let n = self.validators.len();
        n - (n - 1) / 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Keypair;

    fn genesis(validators: usize) -> Genesis {
        Genesis {
            chain_id: "test".into(),
            currency: "EUR".into(),
            timestamp_ms: 0,
            validators: (0..validators)
                .map(|i| Keypair::derived(0, &format!("v{i}")).public())
                .collect(),
            authorities: vec![Authority {
                name: "operator".into(),
                key: Keypair::derived(0, "operator").public(),
                roles: vec![Role::Operator],
            }],
        }
    }

    #[test]
    fn quorum_is_more_than_two_thirds() {
        assert_eq!(genesis(1).quorum(), 1);
        assert_eq!(genesis(3).quorum(), 3);
        assert_eq!(genesis(4).quorum(), 3);
        assert_eq!(genesis(7).quorum(), 5);
        assert_eq!(genesis(10).quorum(), 7);
    }

    #[test]
    fn rules_are_checked() {
        assert_eq!(genesis(4).validate(), Ok(()));
        let mut bad = genesis(2);
        bad.validators[1] = bad.validators[0];
        assert!(matches!(
            bad.validate(),
            Err(GenesisError::DuplicateValidator { index: 1, .. })
        ));
        let mut bad = genesis(1);
        bad.authorities[0].roles = vec![Role::Validator];
        assert_eq!(
            bad.validate(),
            Err(GenesisError::ValidatorRole { index: 0 })
        );
        let mut bad = genesis(1);
        bad.validators.clear();
        assert_eq!(bad.validate(), Err(GenesisError::NoValidators));
    }

    #[test]
    fn json_round_trip_and_unknown_fields() {
        let genesis = genesis(1);
        let json = serde_json::to_string_pretty(&genesis).unwrap();
        let back: Genesis = serde_json::from_str(&json).unwrap();
        assert_eq!(back, genesis);
        assert_eq!(back.hash(), genesis.hash());
        let bad = json.replacen("\"currency\"", "\"curency\"", 1);
        assert!(serde_json::from_str::<Genesis>(&bad).is_err());
    }
}
