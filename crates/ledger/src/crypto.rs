//! Keys, signatures, hashes and the Merkle root.
//!
//! Accounts are ed25519 public keys (RFC 8032). Hashes are SHA-256. Every signed or hashed
//! message starts with a domain tag, so a signature over a transaction can never be taken for a
//! signature over a block.
//!
//! # Which signatures are valid
//!
//! Signatures are checked by the ZIP-215 rules (<https://zips.z.cash/zip-0215>, through
//! `ed25519-zebra`, the Zcash Foundation's implementation): `s` must be canonical, the key and
//! `R` must be points of the curve (non-canonical encodings accepted), and the cofactored
//! equation `[8][s]B = [8]R + [8][k]A` must hold. These rules give every signature the same
//! answer whether it is checked alone ([`PublicKey::verify`]) or in a batch ([`verify_all`]),
//! which is what lets validators check a block's signatures together (about twice as fast)
//! and still always agree. RFC 8032 leaves the choice of equation open, and the strict
//! single-signature check of `ed25519-dalek` has no batch counterpart that gives the same
//! answers. Tendermint (now CometBFT) adopted ZIP-215 for the same reason (its RFC 003).
//!
//! Every signature an RFC 8032 signer makes is valid under both. What ZIP-215 accepts in
//! addition needs a key with a small-order component, which no honest key generation makes;
//! a key of small order would let anyone sign for it, so such keys are refused where keys
//! enter: [`PublicKey::is_usable`] is checked by the genesis, by registration on the ledger
//! and by the exchange.

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
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
        let key = ed25519_zebra::VerificationKey::try_from(self.0).ok()?;
        // The same decompression as the one just done: ZIP-215 takes the point as
        // curve25519-dalek decodes it, non-canonical encodings included.
        let point = CompressedEdwardsY(self.0).decompress()?;
        Some(Verifier {
            key,
            bytes: self.0,
            point,
        })
    }

    /// Checks `signature` over `domain` and `message` (the ZIP-215 rules of this module's
    /// documentation; the same answer [`verify_all`] gives).
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &Signature) -> bool {
        self.verifier()
            .is_some_and(|verifier| verifier.verify(domain, message, signature))
    }

    /// Whether this key may be given an account or a role: a point of the curve that is not
    /// of small order (anyone could sign for a key of small order). Keys made by
    /// [`Keypair`] always are.
    pub fn is_usable(&self) -> bool {
        VerifyingKey::from_bytes(&self.0).is_ok_and(|key| !key.is_weak())
    }
}

/// One signature to check with [`verify_all`].
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    /// The signer's key.
    pub key: &'a PublicKey,
    /// The domain tag the message was signed under.
    pub domain: &'a [u8],
    /// The message.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// Checks many signatures at once: the answer for each is the one [`PublicKey::verify`] gives,
/// in about half its time per signature when there are dozens or more (less again when many
/// are by one key). All are checked together first; only if that fails is each checked alone,
/// to find which.
pub fn verify_all(checks: &[SignatureCheck<'_>]) -> Vec<bool> {
    if checks.len() < 2 {
        return checks
            .iter()
            .map(|check| {
                check
                    .key
                    .verify(check.domain, check.message, check.signature)
            })
            .collect();
    }
    let items: Vec<ed25519_zebra::batch::Item> = checks
        .iter()
        .map(|check| {
            let message = signed_bytes(check.domain, check.message);
            ed25519_zebra::batch::Item::from((
                ed25519_zebra::VerificationKeyBytes::from(check.key.0),
                ed25519_zebra::Signature::from_bytes(&check.signature.0),
                &message,
            ))
        })
        .collect();
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for item in &items {
        batch.queue(item.clone());
    }
    if batch.verify(rand_core::OsRng).is_ok() {
        return vec![true; checks.len()];
    }
    items
        .into_iter()
        .map(|item| item.verify_single().is_ok())
        .collect()
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
pub struct Verifier {
    key: ed25519_zebra::VerificationKey,
    /// The key as it was given (the hash `k` covers these bytes, not a re-encoding).
    bytes: [u8; 32],
    /// The key's point, for checks in a batch ([`verify_all_by`]).
    point: EdwardsPoint,
}

/// One signature to check with [`verify_all_by`], by a key decompressed in advance.
#[derive(Clone, Copy, Debug)]
pub struct VerifierCheck<'a> {
    /// The signer's key, decompressed.
    pub verifier: &'a Verifier,
    /// The domain tag the message was signed under.
    pub domain: &'a [u8],
    /// The message.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// [`verify_all`] for keys decompressed in advance: the same answers, and about a fifth less
/// work per signature, since no key is decompressed again.
///
/// The batch check is the one of ZIP-215 (and of `ed25519-zebra`, `ed25519-consensus`): with
/// a random 128-bit `z` per signature, `[8]([-Σ z·s]B + Σ [z]R + Σ [z·k]A)` must be the
/// identity. It holds when every signature is valid; when one is not, it fails but with
/// probability 2^-128. If it fails, every signature is checked alone to find which.
pub fn verify_all_by(checks: &[VerifierCheck<'_>]) -> Vec<bool> {
    if checks.len() >= 2 && batch_holds(checks) {
        return vec![true; checks.len()];
    }
    checks
        .iter()
        .map(|check| {
            check
                .verifier
                .verify(check.domain, check.message, check.signature)
        })
        .collect()
}

/// The batch equation of [`verify_all_by`]; `false` also when a signature's `R` is no point
/// or its `s` is not canonical (that signature is invalid alone too).
#[allow(non_snake_case)]
fn batch_holds(checks: &[VerifierCheck<'_>]) -> bool {
    use rand_core::RngCore;
    let n = checks.len();
    let mut random = vec![0u8; 16 * n];
    rand_core::OsRng.fill_bytes(&mut random);
    let mut B_coefficient = Scalar::ZERO;
    let mut coefficients = Vec::with_capacity(2 * n);
    let mut points = Vec::with_capacity(2 * n);
    for (check, z) in checks.iter().zip(random.chunks_exact(16)) {
        let (R_bytes, s_bytes) = check.signature.0.split_at(32);
        let R_bytes: [u8; 32] = R_bytes.try_into().expect("32 of 64 bytes");
        let s_bytes: [u8; 32] = s_bytes.try_into().expect("32 of 64 bytes");
        let Some(R) = CompressedEdwardsY(R_bytes).decompress() else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        // k = SHA-512(R ‖ A ‖ signed bytes), the signed bytes as `signed_bytes` lays them out.
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(R_bytes)
                .chain_update(check.verifier.bytes)
                .chain_update((check.domain.len() as u32).to_le_bytes())
                .chain_update(check.domain)
                .chain_update(check.message)
                .finalize()
                .into(),
        );
        let z = Scalar::from(u128::from_le_bytes(z.try_into().expect("16 bytes")));
        B_coefficient -= z * s;
        coefficients.push(z);
        points.push(R);
        coefficients.push(z * k);
        points.push(check.verifier.point);
    }
    EdwardsPoint::vartime_multiscalar_mul(
        std::iter::once(&B_coefficient).chain(coefficients.iter()),
        std::iter::once(&ED25519_BASEPOINT_POINT).chain(points.iter()),
    )
    .mul_by_cofactor()
    .is_identity()
}

impl Verifier {
    /// Checks `signature` over `domain` and `message` (as [`PublicKey::verify`]).
    pub fn verify(&self, domain: &[u8], message: &[u8], signature: &Signature) -> bool {
        let signature = ed25519_zebra::Signature::from_bytes(&signature.0);
        self.key
            .verify(&signature, &signed_bytes(domain, message))
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
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| bad())?;
    Ok(bytes)
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

    /// Signatures made by hand on the curve, of the kinds the rules must tell apart.
    mod crafted {
        use super::super::*;
        use curve25519_dalek::{
            constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION},
            edwards::EdwardsPoint,
            scalar::Scalar,
        };
        use sha2::Sha512;

        /// A scalar from a seed (not secret: test keys only).
        pub fn scalar(seed: u64, label: &[u8]) -> Scalar {
            let mut wide = [0u8; 64];
            let hash = Sha512::new()
                .chain_update(label)
                .chain_update(seed.to_le_bytes())
                .finalize();
            wide.copy_from_slice(&hash);
            Scalar::from_bytes_mod_order_wide(&wide)
        }

        /// A signature with secret scalar `a` under the public point `key` (which need not be
        /// `a`·B), nonce from `seed`: `R = r·B`, `s = r + H(R, key, M)·a`.
        pub fn sign(
            a: Scalar,
            key: EdwardsPoint,
            seed: u64,
            domain: &[u8],
            message: &[u8],
        ) -> (PublicKey, Signature) {
            let r = scalar(seed, b"nonce");
            let big_r = (r * ED25519_BASEPOINT_POINT).compress();
            let key = key.compress();
            let mut wide = [0u8; 64];
            wide.copy_from_slice(
                &Sha512::new()
                    .chain_update(big_r.as_bytes())
                    .chain_update(key.as_bytes())
                    .chain_update(signed_bytes(domain, message))
                    .finalize(),
            );
            let k = Scalar::from_bytes_mod_order_wide(&wide);
            let s = r + k * a;
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(big_r.as_bytes());
            signature[32..].copy_from_slice(s.as_bytes());
            (PublicKey(key.to_bytes()), Signature(signature))
        }

        /// A key with a small-order component, `a`·B + T, and a signature by its owner that
        /// only the cofactored equation accepts (unless `k` happens to kill T).
        pub fn mixed_order(seed: u64, domain: &[u8], message: &[u8]) -> (PublicKey, Signature) {
            let a = scalar(seed, b"mixed");
            let torsion = EIGHT_TORSION[1 + (seed % 7) as usize];
            sign(
                a,
                a * ED25519_BASEPOINT_POINT + torsion,
                seed,
                domain,
                message,
            )
        }

        /// An honest key and a signature whose `R` has a small-order component:
        /// `R = r·B + T`, `s = r + H(R, A, M)·a`. Only the cofactored equation accepts it.
        pub fn mixed_order_nonce(
            seed: u64,
            domain: &[u8],
            message: &[u8],
        ) -> (PublicKey, Signature) {
            let a = scalar(seed, b"honest");
            let key = (a * ED25519_BASEPOINT_POINT).compress();
            let r = scalar(seed, b"nonce");
            let torsion = EIGHT_TORSION[1 + (seed % 7) as usize];
            let big_r = (r * ED25519_BASEPOINT_POINT + torsion).compress();
            let mut wide = [0u8; 64];
            wide.copy_from_slice(
                &Sha512::new()
                    .chain_update(big_r.as_bytes())
                    .chain_update(key.as_bytes())
                    .chain_update(signed_bytes(domain, message))
                    .finalize(),
            );
            let s = r + Scalar::from_bytes_mod_order_wide(&wide) * a;
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(big_r.as_bytes());
            signature[32..].copy_from_slice(s.as_bytes());
            (PublicKey(key.to_bytes()), Signature(signature))
        }

        /// `signature` with `s` replaced by `s + ℓ`: the same value mod ℓ, not canonical.
        pub fn non_canonical_s(signature: Signature) -> Signature {
            const ORDER: [u8; 32] = [
                0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
                0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
            ];
            let mut out = signature;
            let mut carry = 0u16;
            for (byte, order) in out.0[32..].iter_mut().zip(ORDER) {
                let sum = u16::from(*byte) + u16::from(order) + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
            out
        }

        /// A key of small order and a "signature" anyone can make for it: `R = s·B`.
        pub fn small_order_forgery(seed: u64) -> (PublicKey, Signature) {
            let key = EIGHT_TORSION[(seed % 8) as usize].compress();
            let s = scalar(seed, b"forger");
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice((s * ED25519_BASEPOINT_POINT).compress().as_bytes());
            signature[32..].copy_from_slice(s.as_bytes());
            (PublicKey(key.to_bytes()), Signature(signature))
        }
    }

    #[test]
    fn the_rules_accept_cofactored_signatures_and_keys_of_small_order_are_refused() {
        let (mixed, signature) = crafted::mixed_order(3, b"tx", b"pay 5");
        assert!(mixed.is_usable(), "a mixed-order key is not of small order");
        assert!(
            mixed.verify(b"tx", b"pay 5", &signature),
            "valid under ZIP-215"
        );
        assert!(!mixed.verify(b"tx", b"pay 6", &signature));
        // A nonce with a small-order component: valid under ZIP-215, not under the strict
        // rule; its `s` made non-canonical: valid under neither.
        let (honest, signature) = crafted::mixed_order_nonce(3, b"tx", b"pay 5");
        assert!(honest.verify(b"tx", b"pay 5", &signature));
        let strict = VerifyingKey::from_bytes(&honest.0).unwrap().verify_strict(
            &signed_bytes(b"tx", b"pay 5"),
            &ed25519_dalek::Signature::from_bytes(&signature.0),
        );
        assert!(strict.is_err());
        assert!(!honest.verify(b"tx", b"pay 5", &crafted::non_canonical_s(signature)));
        // The same signature is not valid under the strict cofactorless rule.
        let strict = VerifyingKey::from_bytes(&mixed.0).unwrap().verify_strict(
            &signed_bytes(b"tx", b"pay 5"),
            &ed25519_dalek::Signature::from_bytes(&signature.0),
        );
        assert!(strict.is_err());
        for seed in 0..8 {
            let (weak, forged) = crafted::small_order_forgery(seed);
            assert!(!weak.is_usable(), "small-order key {seed} must be refused");
            // Why: a forgery for a small-order key verifies, for any message.
            assert!(weak.verify(b"tx", b"anything at all", &forged));
        }
        assert!(Keypair::derived(1, "honest").public().is_usable());
        // About half of all 32-byte strings are no curve point's encoding.
        let not_a_point = (2u8..=255)
            .map(|y| {
                let mut bytes = [0u8; 32];
                bytes[0] = y;
                PublicKey(bytes)
            })
            .find(|key| VerifyingKey::from_bytes(&key.0).is_err())
            .expect("some small y is not on the curve");
        assert!(!not_a_point.is_usable());
        assert!(not_a_point.verifier().is_none());
    }

    /// The kinds of signatures a batch is made of in the property below.
    fn item(kind: u8, seed: u64) -> (PublicKey, Vec<u8>, Signature) {
        let message = format!("message {seed}").into_bytes();
        match kind % 8 {
            0 | 1 => {
                let keypair = Keypair::derived(seed, "signer");
                let signature = keypair.sign(b"tx", &message);
                (keypair.public(), message, signature)
            }
            2 => {
                // One key signing many: batches coalesce them.
                let keypair = Keypair::derived(0, "gateway");
                let signature = keypair.sign(b"tx", &message);
                (keypair.public(), message, signature)
            }
            3 => {
                let keypair = Keypair::derived(seed, "signer");
                let mut signature = keypair.sign(b"tx", &message);
                signature.0[(seed % 64) as usize] ^= 1 << (seed % 8);
                (keypair.public(), message, signature)
            }
            4 => {
                let (key, signature) = crafted::mixed_order(seed, b"tx", &message);
                (key, message, signature)
            }
            5 => {
                let (key, signature) = crafted::mixed_order_nonce(seed, b"tx", &message);
                (key, message, signature)
            }
            6 => {
                let keypair = Keypair::derived(seed, "signer");
                let signature = crafted::non_canonical_s(keypair.sign(b"tx", &message));
                (keypair.public(), message, signature)
            }
            _ => {
                let (key, signature) = crafted::small_order_forgery(seed);
                (key, message, signature)
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Checking signatures together gives every one the answer it gets alone, whatever
        /// the mix of valid, broken, mixed-order and small-order ones.
        #[test]
        fn checking_together_answers_as_checking_alone(
            items in proptest::collection::vec((0u8..8, 0u64..1_000_000), 0..40),
        ) {
            let items: Vec<(PublicKey, Vec<u8>, Signature)> =
                items.iter().map(|&(kind, seed)| item(kind, seed)).collect();
            let checks: Vec<SignatureCheck<'_>> = items
                .iter()
                .map(|(key, message, signature)| SignatureCheck {
                    key,
                    domain: b"tx",
                    message,
                    signature,
                })
                .collect();
            let alone: Vec<bool> = items
                .iter()
                .map(|(key, message, signature)| key.verify(b"tx", message, signature))
                .collect();
            proptest::prop_assert_eq!(verify_all(&checks), alone.clone());
            // And with keys decompressed in advance (the keys that are no point are left
            // out: they have no verifier).
            let usable: Vec<(Verifier, &Vec<u8>, &Signature, bool)> = items
                .iter()
                .zip(&alone)
                .filter_map(|((key, message, signature), &alone)| {
                    Some((key.verifier()?, message, signature, alone))
                })
                .collect();
            let checks: Vec<VerifierCheck<'_>> = usable
                .iter()
                .map(|(verifier, message, signature, _)| VerifierCheck {
                    verifier,
                    domain: b"tx",
                    message,
                    signature,
                })
                .collect();
            let alone: Vec<bool> = usable.iter().map(|item| item.3).collect();
            // The batch equation itself, not only the answers after falling back to single
            // checks: it holds exactly when every signature is valid.
            if !checks.is_empty() {
                proptest::prop_assert_eq!(batch_holds(&checks), alone.iter().all(|&valid| valid));
            }
            proptest::prop_assert_eq!(verify_all_by(&checks), alone);
        }
    }
}
