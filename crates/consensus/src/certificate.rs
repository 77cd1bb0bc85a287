//! Finality certificates: what is stored with a finalized block and how to check it offline.
//!
//! A certificate is the simplex *finalization* of the block itself or of a descendant, plus the
//! headers linking that descendant back to the block:
//!
//! | field                 | bytes                     |
//! |-----------------------|---------------------------|
//! | finalization length   | 4 (big-endian)            |
//! | finalization          | commonware codec encoding |
//! | header count `k`      | 4 (big-endian)            |
//! | headers               | `k` × 88 ([`Header`])     |
//!
//! Normally `k = 0`: every block gets its own finalization. A block can also be finalized only
//! through a descendant (simplex finalizes ancestors implicitly); then the headers of blocks
//! `height + 1 ..= height + k` are included, each naming its parent's digest, and the
//! finalization is for the last of them. The finalization holds the proposal (epoch, view,
//! parent view, block digest) and one ed25519 signature per signer with a signer bitmap; it is
//! valid if at least `2f + 1` of the `n = 3f + 1` validators signed.

use crate::block::{HEADER_BYTES, Header, digest_bytes};
use crate::{FinalizedBlock, NAMESPACE, PublicKeyBytes, Scheme};
use commonware_codec::{Decode as _, DecodeExt as _, Encode as _};
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::{
    Hasher as _, Sha256, certificate::Verifier as _, ed25519, sha256::Digest,
};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng as _;

/// Most descendant headers a certificate may carry (a bound on decoding work).
pub const MAX_CERTIFICATE_DESCENDANTS: usize = 1_024;

/// Why a certificate does not prove a block final.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    /// A validator public key is not a valid ed25519 point.
    #[error("validators[{index}]: not a valid ed25519 public key")]
    InvalidValidatorKey {
        /// Position in the validator list.
        index: usize,
    },
    /// The validator list is empty or has duplicates.
    #[error("validator list is empty or contains duplicates")]
    InvalidValidatorSet,
    /// The certificate bytes do not decode.
    #[error("certificate is malformed: {reason}")]
    Malformed {
        /// What did not decode.
        reason: String,
    },
    /// The block's stated digest is not the hash of its contents.
    #[error("block digest does not match its contents")]
    DigestMismatch,
    /// A header does not link to the previous block.
    #[error("descendant header {index} does not link to its parent")]
    BrokenChain {
        /// Position in the header list.
        index: usize,
    },
    /// The finalization is for another block.
    #[error("finalization is for another block")]
    WrongBlock,
    /// Signatures do not verify or do not reach the quorum.
    #[error("finalization signatures do not verify against the validator set")]
    BadSignatures,
}

/// Encodes a certificate (see the module docs for the layout).
pub(crate) fn encode(
    finalization: &Finalization<Scheme, Digest>,
    descendants: &[Header],
) -> Vec<u8> {
    let finalization = finalization.encode();
    let mut out = Vec::with_capacity(8 + finalization.len() + descendants.len() * HEADER_BYTES);
    out.extend_from_slice(
        &u32::try_from(finalization.len())
            .expect("finalization size fits in u32")
            .to_be_bytes(),
    );
    out.extend_from_slice(&finalization);
    out.extend_from_slice(
        &u32::try_from(descendants.len())
            .expect("descendant count fits in u32")
            .to_be_bytes(),
    );
    for header in descendants {
        let mut bytes = [0u8; HEADER_BYTES];
        header.write_into(&mut bytes);
        out.extend_from_slice(&bytes);
    }
    out
}

/// Builds the ordered participant set from raw keys.
pub(crate) fn participants(
    validators: &[PublicKeyBytes],
) -> Result<Set<ed25519::PublicKey>, CertificateError> {
    let mut keys = Vec::with_capacity(validators.len());
    for (index, bytes) in validators.iter().enumerate() {
        let key = ed25519::PublicKey::decode(bytes.to_vec())
            .map_err(|_| CertificateError::InvalidValidatorKey { index })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(CertificateError::InvalidValidatorSet);
    }
    Set::try_from(keys).map_err(|_| CertificateError::InvalidValidatorSet)
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, CertificateError> {
    let slice = bytes
        .get(at..at + 4)
        .ok_or_else(|| CertificateError::Malformed {
            reason: format!("truncated at byte {at}"),
        })?;
    let mut word = [0u8; 4];
    word.copy_from_slice(slice);
    Ok(u32::from_be_bytes(word))
}

/// Checks that `block.certificate` proves `block` final under `validators`.
///
/// Deterministic and offline: needs only the validator public keys (in any order) and the
/// block. Signatures are batch-verified with coefficients derived from a hash of everything
/// verified (Fiat–Shamir), so no randomness source is needed.
pub fn verify_certificate(
    validators: &[PublicKeyBytes],
    block: &FinalizedBlock,
) -> Result<(), CertificateError> {
    let participants = participants(validators)?;
    let scheme = Scheme::verifier(NAMESPACE, participants);

    // The block's digest must be the hash of its contents.
    let header = Header {
        height: block.height,
        view: block.view,
        timestamp_ms: block.timestamp_ms,
        parent: block.parent,
        payload_hash: crate::block::payload_hash(&block.payload),
    };
    if header.digest() != block.digest {
        return Err(CertificateError::DigestMismatch);
    }

    // Split the certificate.
    let bytes = &block.certificate;
    let finalization_len = read_u32(bytes, 0)? as usize;
    let finalization_bytes =
        bytes
            .get(4..4 + finalization_len)
            .ok_or_else(|| CertificateError::Malformed {
                reason: "finalization truncated".to_string(),
            })?;
    let finalization = Finalization::<Scheme, Digest>::decode_cfg(
        finalization_bytes.to_vec(),
        &scheme.certificate_codec_config(),
    )
    .map_err(|error| CertificateError::Malformed {
        reason: format!("finalization: {error}"),
    })?;
    let count_at = 4 + finalization_len;
    let count = read_u32(bytes, count_at)? as usize;
    if count > MAX_CERTIFICATE_DESCENDANTS {
        return Err(CertificateError::Malformed {
            reason: format!("{count} descendant headers, limit {MAX_CERTIFICATE_DESCENDANTS}"),
        });
    }
    let headers_at = count_at + 4;
    if bytes.len() != headers_at + count * HEADER_BYTES {
        return Err(CertificateError::Malformed {
            reason: "length does not match the header count".to_string(),
        });
    }

    // Follow the chain from the block to the finalized descendant.
    let mut digest = block.digest;
    let mut height = block.height;
    for index in 0..count {
        let at = headers_at + index * HEADER_BYTES;
        let mut raw = [0u8; HEADER_BYTES];
        raw.copy_from_slice(&bytes[at..at + HEADER_BYTES]);
        let child = Header::read_from(&raw);
        if child.parent != digest || Some(child.height) != height.checked_add(1) {
            return Err(CertificateError::BrokenChain { index });
        }
        digest = child.digest();
        height = child.height;
    }
    if digest_bytes(&finalization.proposal.payload) != digest {
        return Err(CertificateError::WrongBlock);
    }

    // Verify the signatures.
    let seed = Sha256::hash(&[b"nestgrid-certificate-batch", bytes, &block.digest]);
    let mut rng = ChaCha20Rng::from_seed(digest_bytes(&seed));
    if !finalization.verify(&mut rng, &scheme, &Sequential) {
        return Err(CertificateError::BadSignatures);
    }
    Ok(())
}
