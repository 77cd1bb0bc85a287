//! The block that consensus orders, and its canonical encoding.
//!
//! Encoding (all integers big-endian, fixed width, so there is exactly one encoding per block):
//!
//! | field          | bytes |
//! |----------------|-------|
//! | height         | 8     |
//! | view           | 8     |
//! | timestamp_ms   | 8     |
//! | parent digest  | 32    |
//! | payload length | 4     |
//! | payload        | n     |
//!
//! The digest of a block is `sha256(height ‖ view ‖ timestamp_ms ‖ parent ‖ sha256(payload))`,
//! i.e. the hash of its [`Header`]. Hashing the header rather than the whole block lets a
//! certificate carry a chain of small headers instead of whole descendant blocks.

use bytes::{Buf, BufMut, Bytes};
use commonware_codec::{EncodeSize, Error as CodecError, Read, Write};
use commonware_consensus::{Heightable, types::Height};
use commonware_cryptography::{Digestible, Hasher, Sha256, sha256::Digest};

/// Number of bytes of an encoded [`Header`].
pub const HEADER_BYTES: usize = 8 + 8 + 8 + 32 + 32;

/// Fixed part of an encoded block (everything but the payload bytes).
const BLOCK_FIXED_BYTES: usize = 8 + 8 + 8 + 32 + 4;

/// A block as ordered by consensus: an opaque payload plus the chain metadata.
///
/// The payload's hash is computed once, when the block is made or decoded, so the digest
/// that consensus asks for again and again costs one hash of a header, not of the payload;
/// the payload is shared, not copied, when the block is cloned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Height in the chain; genesis is 0, the first application block is 1.
    pub height: u64,
    /// Consensus view in which the block was proposed (0 for genesis).
    pub view: u64,
    /// Proposer's clock in milliseconds since the Unix epoch, strictly above the parent's.
    pub timestamp_ms: u64,
    /// Digest of the parent block.
    pub parent: Digest,
    /// Opaque application payload. Empty means a no-op block.
    payload: Bytes,
    /// `sha256(payload)`.
    payload_hash: [u8; 32],
}

/// The hashed part of a block: everything but the payload, which enters through its hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// See [`Block::height`].
    pub height: u64,
    /// See [`Block::view`].
    pub view: u64,
    /// See [`Block::timestamp_ms`].
    pub timestamp_ms: u64,
    /// See [`Block::parent`].
    pub parent: [u8; 32],
    /// `sha256(payload)`.
    pub payload_hash: [u8; 32],
}

impl Header {
    /// The block digest this header commits to.
    pub fn digest(&self) -> [u8; 32] {
        let mut bytes = [0u8; HEADER_BYTES];
        self.write_into(&mut bytes);
        let digest = Sha256::hash(&[&bytes]);
        digest_bytes(&digest)
    }

    /// Writes the fixed-width encoding into `out`.
    pub fn write_into(&self, out: &mut [u8; HEADER_BYTES]) {
        out[0..8].copy_from_slice(&self.height.to_be_bytes());
        out[8..16].copy_from_slice(&self.view.to_be_bytes());
        out[16..24].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[24..56].copy_from_slice(&self.parent);
        out[56..88].copy_from_slice(&self.payload_hash);
    }

    /// Reads the fixed-width encoding.
    pub fn read_from(bytes: &[u8; HEADER_BYTES]) -> Self {
        let u64_at = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(word)
        };
        let mut parent = [0u8; 32];
        parent.copy_from_slice(&bytes[24..56]);
        let mut payload_hash = [0u8; 32];
        payload_hash.copy_from_slice(&bytes[56..88]);
        Self {
            height: u64_at(0),
            view: u64_at(8),
            timestamp_ms: u64_at(16),
            parent,
            payload_hash,
        }
    }
}

/// Copies a sha256 digest into a plain array.
pub fn digest_bytes(digest: &Digest) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Hashes a payload.
pub fn payload_hash(payload: &[u8]) -> [u8; 32] {
    digest_bytes(&Sha256::hash(&[payload]))
}

impl Block {
    /// The genesis block every validator starts from (height 0, time 0, zero parent).
    pub fn genesis() -> Self {
        Self::new(0, 0, 0, Digest::from([0u8; 32]), Bytes::new())
    }

    /// A block of these fields (hashing the payload once).
    pub fn new(
        height: u64,
        view: u64,
        timestamp_ms: u64,
        parent: Digest,
        payload: impl Into<Bytes>,
    ) -> Self {
        let payload = payload.into();
        Self {
            height,
            view,
            timestamp_ms,
            parent,
            payload_hash: payload_hash(&payload),
            payload,
        }
    }

    /// The application payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The hashed part of this block.
    pub fn header(&self) -> Header {
        Header {
            height: self.height,
            view: self.view,
            timestamp_ms: self.timestamp_ms,
            parent: digest_bytes(&self.parent),
            payload_hash: self.payload_hash,
        }
    }
}

impl Write for Block {
    fn write(&self, writer: &mut impl BufMut) {
        writer.put_u64(self.height);
        writer.put_u64(self.view);
        writer.put_u64(self.timestamp_ms);
        writer.put_slice(self.parent.as_ref());
        // The length fits: decoding rejects payloads over the configured bound (a u32).
        writer.put_u32(u32::try_from(self.payload.len()).expect("payload length fits in u32"));
        writer.put_slice(&self.payload);
    }
}

impl EncodeSize for Block {
    fn encode_size(&self) -> usize {
        BLOCK_FIXED_BYTES + self.payload.len()
    }
}

impl Read for Block {
    /// Maximum payload length in bytes.
    type Cfg = u32;

    fn read_cfg(reader: &mut impl Buf, max_payload_bytes: &u32) -> Result<Self, CodecError> {
        if reader.remaining() < BLOCK_FIXED_BYTES {
            return Err(CodecError::EndOfBuffer);
        }
        let height = reader.get_u64();
        let view = reader.get_u64();
        let timestamp_ms = reader.get_u64();
        let mut parent = [0u8; 32];
        reader.copy_to_slice(&mut parent);
        let length = reader.get_u32();
        if length > *max_payload_bytes {
            return Err(CodecError::Invalid("Block", "payload over the size limit"));
        }
        let length = length as usize;
        if reader.remaining() < length {
            return Err(CodecError::EndOfBuffer);
        }
        let payload = reader.copy_to_bytes(length);
        Ok(Self::new(
            height,
            view,
            timestamp_ms,
            Digest::from(parent),
            payload,
        ))
    }
}

impl Digestible for Block {
    type Digest = Digest;

    fn digest(&self) -> Digest {
        Digest::from(self.header().digest())
    }
}

impl Heightable for Block {
    fn height(&self) -> Height {
        Height::new(self.height)
    }
}

impl commonware_consensus::Block for Block {
    fn parent(&self) -> Digest {
        self.parent
    }
}

impl commonware_consensus::BoundedBlock for Block {
    fn max_encode_size(max_payload_bytes: &u32) -> usize {
        BLOCK_FIXED_BYTES + *max_payload_bytes as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Encode as _;

    #[test]
    fn block_round_trips_and_rejects_oversized_payloads() {
        let block = Block::new(7, 9, 1_000, Digest::from([3u8; 32]), vec![1, 2, 3]);
        let bytes = block.encode();
        assert_eq!(bytes.len(), block.encode_size());
        let decoded = Block::read_cfg(&mut bytes.clone(), &16).unwrap();
        assert_eq!(decoded, block);
        assert!(Block::read_cfg(&mut bytes.clone(), &2).is_err());
        let header = Header::read_from(&{
            let mut out = [0u8; HEADER_BYTES];
            block.header().write_into(&mut out);
            out
        });
        assert_eq!(header, block.header());
        assert_eq!(Digest::from(header.digest()), block.digest());
        assert_eq!(header.payload_hash, payload_hash(&[1, 2, 3]));
        // Another payload, another digest.
        let other = Block::new(7, 9, 1_000, Digest::from([3u8; 32]), vec![1, 2, 4]);
        assert_ne!(other.digest(), block.digest());
    }
}
