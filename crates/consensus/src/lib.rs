//! BFT ordering of opaque block payloads for the nestgrid ledger.
//!
//! This crate knows nothing about the ledger: it orders byte payloads into a linear chain of
//! finalized blocks and hands each one, with a finality certificate, to an [`Application`].
//! It is built on [commonware](https://commonware.xyz) (`=2026.10.0`): the *simplex* BFT
//! protocol with ed25519 signatures ([`commonware_consensus::simplex`]), *marshal* for block
//! dissemination, storage, backfill and in-order delivery ([`commonware_consensus::marshal`]),
//! and the authenticated, encrypted *lookup* p2p network for real deployments. No consensus
//! logic is hand-written here; this crate is glue plus the rules below.
//!
//! # Main types
//! - [`Application`]: what the ledger plugs in (propose, verify, finalized, applied height,
//!   and whether it has anything to propose).
//! - [`Config`] / [`Timeouts`]: validator key, validator set, storage partition, timeouts.
//! - [`WorkSignal`]: how the application wakes a leader that holds back an empty proposal.
//! - [`run_validator`]: runs one validator on any commonware runtime given its p2p channels
//!   ([`Channels`]); used by the tests with the deterministic runtime and simulated network.
//! - [`run_tcp_validator`] / [`run_tcp_validator_blocking`]: the same over authenticated TCP
//!   ([`NetworkConfig`]) on the commonware tokio runtime.
//! - [`FinalizedBlock`] and [`verify_certificate`]: the output and its offline check.
//!
//! # Invariants (what the application can rely on)
//! - **Linear, gap-free, exactly-once delivery**: [`Application::finalized`] is called for
//!   heights `applied_height() + 1, + 2, …` in order, each once, also across restarts. On
//!   start the consensus asks [`Application::applied_height`]; blocks at or below it are not
//!   delivered again, and blocks above it that this validator already stored (finalized while
//!   the application was behind) are replayed from the consensus storage first.
//! - **Build on finalized state only**: [`Application::propose`] and [`Application::verify`]
//!   for height `h` are called only when the application has applied exactly `h - 1` and the
//!   block's parent is that applied block. A proposer waits up to
//!   [`Timeouts::finalize_wait`] for its parent to be finalized; if it is not, it proposes an
//!   *empty* (no-op) block instead, so a notarized-but-unfinalized parent can always be
//!   finalized through a child. Verifiers keep a non-empty block pending until its parent is
//!   final here, then ask the application. **An empty payload is always valid and is never
//!   passed to `verify`**; the application must accept it as a no-op (it still advances height
//!   and time). An application that proposes an empty payload gets the same treatment.
//! - **Idle leaders hold back**: while [`Application::has_work`] answers `false`, a leader
//!   waits before building, until [`Timeouts::empty_block_interval`] after its parent's time
//!   (and never longer than that interval after it was asked), and builds at once when the
//!   answer turns `true` (re-asked when the [`WorkSignal`] is notified). The interval is at
//!   most half the leader timeout, so the held proposal still reaches the other validators in
//!   time and the view is not skipped. Nothing about a block's validity changes: a held
//!   proposal is an ordinary block, and verifiers do not look at how long it was held.
//! - **Time set by consensus**: the proposer stamps `timestamp_ms = max(now, parent + 1)` from
//!   the runtime clock. A verifier rejects a timestamp not strictly above the parent's and
//!   waits (does not vote) while a timestamp is more than [`Config::max_clock_skew_ms`] ahead
//!   of its own clock. There is no lower bound besides the parent: such a check could make
//!   honest validators disagree when one of them verifies late.
//! - **Safety**: with `n = 3f + 1` validators and at most `f` Byzantine, no two honest
//!   validators finalize different blocks at one height (simplex). Liveness needs `2f + 1`
//!   validators up and connected; with `n = 1` the single validator is the quorum.
//!
//! # Storage
//! Simplex keeps a vote journal and marshal keeps the finalized blocks and finalizations in
//! commonware archives, all under partitions named from [`Config::partition_prefix`] in the
//! runtime's storage directory. A restarted validator replays its journal, resumes from its
//! last processed height and fetches what it missed from peers. Nothing is pruned.

use commonware_cryptography::{ed25519, sha256::Digest};
use std::time::Duration;

mod block;
mod certificate;
mod engine;
mod signal;
mod tcp;

pub use certificate::{CertificateError, MAX_CERTIFICATE_DESCENDANTS, verify_certificate};
pub use engine::{Channels, max_message_size, run_validator};
pub use signal::WorkSignal;
pub use tcp::{NetworkConfig, run_tcp_validator, run_tcp_validator_blocking};

/// An ed25519 public key, 32 bytes.
pub type PublicKeyBytes = [u8; 32];

/// The signing scheme of votes and certificates.
pub(crate) type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// Namespace mixed into every consensus signature (domain separation).
pub const NAMESPACE: &[u8] = b"nestgrid-consensus-v1";

/// Namespace of the p2p handshake.
pub const P2P_NAMESPACE: &[u8] = b"nestgrid-p2p-v1";

/// What the ledger plugs in. Called from consensus tasks, one call at a time; must be
/// deterministic (the same answers on every honest validator for the same inputs and state).
pub trait Application: Send + 'static {
    /// Height of the last block this application has durably applied (0 = none).
    /// Asked once when the validator starts.
    fn applied_height(&self) -> u64;

    /// Build the payload of a new block on top of the last applied block
    /// (`height = applied + 1`). An empty payload is a no-op block.
    fn propose(&mut self, height: u64, timestamp_ms: u64) -> Vec<u8>;

    /// Whether a block built now would carry anything (a transaction that applies, say).
    /// Asked on the applied tip just before [`Application::propose`]. While the answer is
    /// `false` the leader holds its proposal back, up to [`Timeouts::empty_block_interval`]
    /// after the parent's time, and asks again whenever the [`Application::work_signal`] is
    /// notified; then it calls `propose` anyway. The default, `true`, proposes at once.
    fn has_work(&mut self) -> bool {
        true
    }

    /// The signal this application notifies when work arrives, so that a leader holding back
    /// an empty proposal proposes at once. Asked once when the validator starts. Without one
    /// (the default), a holding leader asks [`Application::has_work`] again every 10 ms.
    fn work_signal(&self) -> Option<WorkSignal> {
        None
    }

    /// Check a non-empty payload another validator proposed at `height = applied + 1`;
    /// `false` votes against it and must mean it is invalid forever.
    fn verify(&mut self, height: u64, timestamp_ms: u64, payload: &[u8]) -> bool;

    /// A block is final: apply it. Heights arrive in order without gaps, each once.
    /// Store `certificate` with the block; [`verify_certificate`] re-checks it offline.
    fn finalized(&mut self, block: FinalizedBlock);
}

/// A finalized block as delivered to the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinalizedBlock {
    /// Height, starting at 1.
    pub height: u64,
    /// Consensus view in which the block was proposed.
    pub view: u64,
    /// Consensus time of the block in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Digest of the parent block (height - 1; the genesis digest for height 1).
    pub parent: [u8; 32],
    /// Digest of this block: `sha256(height ‖ view ‖ timestamp_ms ‖ parent ‖ sha256(payload))`
    /// with big-endian 8-byte integers.
    pub digest: [u8; 32],
    /// The application payload (empty for a no-op block).
    pub payload: Vec<u8>,
    /// Encoded proof of finality; see [`verify_certificate`].
    pub certificate: Vec<u8>,
}

/// Digest of the genesis block (height 0), the parent of height 1.
pub fn genesis_digest() -> [u8; 32] {
    block::Block::genesis().header().digest()
}

/// Consensus timeouts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long to wait for the leader's proposal before voting to skip the view.
    pub leader: Duration,
    /// How long to wait for a view to be notarized before voting to skip it (> `leader`).
    pub certification: Duration,
    /// How often a skip vote is re-broadcast while stuck in a view.
    pub timeout_retry: Duration,
    /// Inactivity after which a leader's views are skipped early (> the two above).
    pub skip: Duration,
    /// How long to wait for a peer to answer a fetch request.
    pub fetch: Duration,
    /// How long a proposer waits for its parent to be finalized before proposing an empty
    /// block instead (keep well below `leader`).
    pub finalize_wait: Duration,
    /// Longest a leader holds back its proposal while the application has nothing to put in
    /// it ([`Application::has_work`]): until this long after the parent's time, and never
    /// longer than this after being asked. An idle chain then grows by about one block per
    /// interval. At most half of `leader` ([`Timeouts::check`]), so that the held proposal
    /// reaches the other validators before their leader timeout; zero never holds.
    pub empty_block_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            leader: Duration::from_secs(1),
            certification: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(5),
            skip: Duration::from_secs(6),
            fetch: Duration::from_secs(1),
            finalize_wait: Duration::from_millis(500),
            empty_block_interval: Duration::from_millis(500),
        }
    }
}

impl Timeouts {
    /// The default timeouts with `empty_block_interval = interval`. An interval longer than
    /// half the default leader timeout raises the leader timeout to twice the interval, and
    /// the certification and skip timeouts after it, so the timeouts stay valid. A longer
    /// leader timeout means that a view whose leader is up but proposes nothing (a faulty
    /// one) takes longer to skip.
    pub fn with_empty_block_interval(interval: Duration) -> Timeouts {
        let default = Timeouts::default();
        let second = Duration::from_secs(1);
        let leader = default.leader.max(interval.saturating_mul(2));
        let certification = default.certification.max(leader.saturating_add(second));
        let skip = default.skip.max(
            certification
                .max(default.timeout_retry)
                .saturating_add(second),
        );
        Timeouts {
            leader,
            certification,
            skip,
            empty_block_interval: interval,
            ..default
        }
    }

    /// Checks that the timeouts fit together: `0 < leader < certification < skip`,
    /// `0 < timeout_retry < skip`, and `empty_block_interval` at most half of `leader`.
    pub fn check(&self) -> Result<(), String> {
        if self.leader.is_zero() || self.timeout_retry.is_zero() {
            return Err("leader and timeout_retry must be above zero".into());
        }
        if self.certification <= self.leader {
            return Err("certification must be longer than leader".into());
        }
        if self.skip <= self.certification || self.skip <= self.timeout_retry {
            return Err("skip must be longer than certification and timeout_retry".into());
        }
        if self.empty_block_interval.saturating_mul(2) > self.leader {
            return Err(format!(
                "empty_block_interval ({:?}) must be at most half of leader ({:?}), or the \
                 other validators give up on a leader that holds back an empty block",
                self.empty_block_interval, self.leader
            ));
        }
        Ok(())
    }
}

/// Configuration of one validator.
#[derive(Clone)]
pub struct Config {
    /// This validator's ed25519 private key (32-byte seed).
    pub private_key: [u8; 32],
    /// Public keys of all validators, this one included (any order; n = 3f + 1 tolerates f
    /// Byzantine validators).
    pub validators: Vec<PublicKeyBytes>,
    /// Prefix of the storage partitions; unique per validator sharing a storage directory.
    pub partition_prefix: String,
    /// Consensus timeouts.
    pub timeouts: Timeouts,
    /// Largest payload accepted, in bytes (same on every validator).
    pub max_payload_bytes: u32,
    /// How far ahead of the local clock a block timestamp may be before a verifier waits.
    pub max_clock_skew_ms: u64,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("Config")
            .field("validators", &self.validators.len())
            .field("partition_prefix", &self.partition_prefix)
            .field("timeouts", &self.timeouts)
            .field("max_payload_bytes", &self.max_payload_bytes)
            .field("max_clock_skew_ms", &self.max_clock_skew_ms)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A configuration with default timeouts, 1 MiB payloads and 2 s clock skew.
    pub fn new(
        private_key: [u8; 32],
        validators: Vec<PublicKeyBytes>,
        partition_prefix: impl Into<String>,
    ) -> Self {
        Self {
            private_key,
            validators,
            partition_prefix: partition_prefix.into(),
            timeouts: Timeouts::default(),
            max_payload_bytes: 1 << 20,
            max_clock_skew_ms: 2_000,
        }
    }
}

/// The public key of a private key seed.
pub fn public_key(private_key: &[u8; 32]) -> Result<PublicKeyBytes, Error> {
    let key = engine::private_key(private_key)?;
    use commonware_cryptography::Signer as _;
    let mut out = [0u8; 32];
    out.copy_from_slice(key.public_key().as_ref());
    Ok(out)
}

/// A deterministic test key: the private key seed derived from `seed`.
pub fn private_key_from_seed(seed: u64) -> [u8; 32] {
    use commonware_codec::Encode as _;
    use commonware_cryptography::Signer as _;
    let key = ed25519::PrivateKey::from_seed(seed);
    let mut out = [0u8; 32];
    out.copy_from_slice(&key.encode());
    out
}

/// Why a validator could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The private key bytes are not a valid ed25519 key.
    #[error("private_key: not a valid ed25519 private key")]
    InvalidPrivateKey,
    /// The validator set is invalid.
    #[error("validators: {0}")]
    InvalidValidators(CertificateError),
    /// This validator's key is not in the validator set.
    #[error("private_key: its public key is not in validators")]
    NotAValidator,
    /// The timeouts do not fit together ([`Timeouts::check`]).
    #[error("timeouts: {0}")]
    InvalidTimeouts(String),
    /// A peer address entry is invalid.
    #[error("peers[{index}]: {reason}")]
    InvalidPeer {
        /// Position in the peer list.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A p2p channel could not be registered.
    #[error("registering p2p channel {channel}: {reason}")]
    Channel {
        /// Channel number.
        channel: u64,
        /// What failed.
        reason: String,
    },
    /// A consensus task stopped.
    #[error("consensus task stopped: {0}")]
    Stopped(String),
}

/// Digest type used by consensus.
pub(crate) type BlockDigest = Digest;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_for_an_empty_block_interval_fit_together() {
        assert_eq!(Timeouts::default().check(), Ok(()));
        assert_eq!(
            Timeouts::with_empty_block_interval(Duration::from_millis(500)),
            Timeouts::default(),
            "the default interval needs no longer timeouts"
        );
        for millis in [0, 1, 499, 500, 501, 1_000, 2_500, 10_000, 3_600_000] {
            let interval = Duration::from_millis(millis);
            let timeouts = Timeouts::with_empty_block_interval(interval);
            assert_eq!(timeouts.check(), Ok(()), "{millis} ms");
            assert_eq!(timeouts.empty_block_interval, interval);
            assert!(timeouts.leader >= Timeouts::default().leader);
        }
        let second = Timeouts::with_empty_block_interval(Duration::from_secs(1));
        assert_eq!(
            (second.leader, second.certification, second.skip),
            (
                Duration::from_secs(2),
                Duration::from_secs(3),
                Duration::from_secs(6)
            )
        );
        let too_long = Timeouts {
            empty_block_interval: Duration::from_millis(501),
            ..Timeouts::default()
        };
        assert!(too_long.check().unwrap_err().contains("half of leader"));
        let inverted = Timeouts {
            certification: Duration::from_secs(1),
            ..Timeouts::default()
        };
        assert!(inverted.check().is_err());
    }
}
