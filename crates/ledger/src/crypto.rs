//! Keys, signatures, hashes and the Merkle root.
//!
//! Accounts are ed25519 public keys (RFC 8032, through `ed25519-dalek`, which rejects
//! non-canonical and small-order keys in `verify_strict`). Hashes are SHA-256. Every signed or
//! hashed message starts with a domain tag, so a signature over a transaction can never be
//! taken for a signature over a block.

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 hash.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash of `parts`, one after another, after a domain tag.
    pub fn of(domain: &[u8], parts: &[&[u8]]) -> Hash {
        let mut hasher = Sha256::new();
        hasher.update((domain.len() as u32).to_le_bytes());
        hasher.update(domain);
        for part in parts {
            hasher.update(part);
        }
        Hash(hasher.finalize().into())
    }

    /// Lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<Hash, KeyError> {
        Ok(Hash(parse_hex_array(text, "hash")?))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..16])
    }
}

/// An account: an ed25519 public key (32 bytes, not yet checked to be a valid point).
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Lower-case hexadecimal.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<PublicKey, KeyError> {
        Ok(PublicKey(parse_hex_array(text, "public key")?))
    }

    /// The key decompressed once, for checking many signatures by it (`None` if the bytes are
    /// not a point of the curve).
    pub fn verifier(&self) -> Option<Verifier> {
        VerifyingKey::from_bytes(&self.0).ok().map(Verifier)
    }

    /// Checks `signature` over `domain` and `message` (strict RFC 8032 verification: no
    /// malleable signatures, no small-order keys).
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &Signature) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(&signed_bytes(domain, message), &signature)
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        PublicKey::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..8]))
    }
}

/// A key pair that signs.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public())
    }
}

impl Keypair {
    /// The key pair whose secret key is `secret` (32 bytes of seed, RFC 8032).
    pub fn from_secret(secret: [u8; 32]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// A key pair derived from a name and a seed, for simulated participants: the secret is
    /// the SHA-256 of both. Never use it for real money: anyone who knows the name and seed
    /// knows the key.
    pub fn derived(seed: u64, name: &str) -> Keypair {
        let secret = Hash::of(
            b"nestgrid derived key",
            &[&seed.to_le_bytes(), name.as_bytes()],
        );
        Keypair::from_secret(secret.0)
    }

    /// The 32 secret bytes.
    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message` under `domain`.
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Signature {
        Signature(self.signing.sign(&signed_bytes(domain, message)).to_bytes())
    }
}

/// A public key decompressed once: checking a signature with it skips the key's
/// decompression, a fifth of the work of a verification. Same rules as [`PublicKey::verify`].
#[derive(Clone, Debug)]
pub struct Verifier(VerifyingKey);

impl Verifier {
    /// Checks `signature` over `domain` and `message` (strict, as [`PublicKey::verify`]).
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &Signature) -> bool {
        let signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        self.0
            .verify_strict(&signed_bytes(domain, message), &signature)
            .is_ok()
    }
}

/// The key file format (`nestgrid keygen`): JSON with both halves in hexadecimal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// The public key.
    pub public_key: PublicKey,
    /// The secret key (32-byte seed).
    pub secret_key: String,
}

impl KeyFile {
    /// The file for `keypair`.
    pub fn new(keypair: &Keypair) -> KeyFile {
        KeyFile {
            public_key: keypair.public(),
            secret_key: hex::encode(keypair.secret()),
        }
    }

    /// The key pair, checking that the public key matches the secret.
    pub fn keypair(&self) -> Result<Keypair, KeyError> {
        let keypair = Keypair::from_secret(parse_hex_array(&self.secret_key, "secret key")?);
        if keypair.public() != self.public_key {
            return Err(KeyError::Mismatch);
        }
        Ok(keypair)
    }
}

/// A key, hash or key file that could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Not the right number of hexadecimal digits.
    #[error("a {what} is 64 hexadecimal digits; got {found:?}")]
    BadHex {
        /// What was expected.
        what: &'static str,
        /// What was found (shortened).
        found: String,
    },
    /// The public key does not belong to the secret key.
    #[error("the public key does not belong to the secret key")]
    Mismatch,
}

fn parse_hex_array<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], KeyError> {
    let bad = || KeyError::BadHex {
        what,
        found: text.chars().take(80).collect(),
    };
    let bytes = hex::decode(text.trim()).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

fn signed_bytes(domain: &[u8], message: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + domain.len() + message.len());
    bytes.extend_from_slice(&(domain.len() as u32).to_le_bytes());
    bytes.extend_from_slice(domain);
    bytes.extend_from_slice(message);
    bytes
}

/// The Merkle root of `leaves` (RFC 6962 style: leaves hashed with prefix 0, inner nodes with
/// prefix 1, an odd node promoted unchanged; the root of no leaves is the hash of nothing).
/// The prefixes keep a leaf from being passed off as an inner node.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::of(b"nestgrid merkle empty", &[]);
    }
    let mut level: Vec<Hash> = leaves
        .iter()
        .map(|leaf| Hash::of(b"nestgrid merkle", &[&[0], &leaf.0]))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => Hash::of(b"nestgrid merkle", &[&[1], &left.0, &right.0]),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_domain_message_and_key() {
        let alice = Keypair::derived(1, "alice");
        let bob = Keypair::derived(1, "bob");
        let signature = alice.sign(b"tx", b"hello");
        assert!(alice.public().verify(b"tx", b"hello", &signature));
        assert!(!alice.public().verify(b"block", b"hello", &signature));
        assert!(!alice.public().verify(b"tx", b"hellO", &signature));
        assert!(!bob.public().verify(b"tx", b"hello", &signature));
        let mut broken = signature;
        broken.0[3] ^= 1;
        assert!(!alice.public().verify(b"tx", b"hello", &broken));
    }

    #[test]
    fn key_files_round_trip_and_catch_mismatches() {
        let keypair = Keypair::derived(7, "x");
        let file = KeyFile::new(&keypair);
        let json = serde_json::to_string(&file).unwrap();
        let back: KeyFile = serde_json::from_str(&json).unwrap();
        assert_eq!(back.keypair().unwrap().public(), keypair.public());
        let wrong = KeyFile {
            public_key: Keypair::derived(7, "y").public(),
            secret_key: file.secret_key.clone(),
        };
        assert_eq!(wrong.keypair().unwrap_err(), KeyError::Mismatch);
        assert!(matches!(
            PublicKey::from_hex("abc"),
            Err(KeyError::BadHex { .. })
        ));
    }

    #[test]
    fn merkle_root_depends_on_every_leaf_and_their_order() {
        let leaves: Vec<Hash> = (0u8..5).map(|i| Hash::of(b"leaf", &[&[i]])).collect();
        let root = merkle_root(&leaves);
        for index in 0..leaves.len() {
            let mut changed = leaves.clone();
            changed[index].0[0] ^= 1;
            assert_ne!(merkle_root(&changed), root, "leaf {index}");
        }
        let mut swapped = leaves.clone();
        swapped.swap(0, 1);
        assert_ne!(merkle_root(&swapped), root);
        assert_ne!(merkle_root(&leaves[..4]), root);
        assert_ne!(merkle_root(&[]), merkle_root(&leaves[..1]));
    }
}
