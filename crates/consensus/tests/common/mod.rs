//! Simulation harness: validators on the deterministic runtime and the simulated network.
//!
//! Every test prints its seed; set `NESTGRID_SEED=<seed>` to replay one.

#![allow(dead_code)] // Each test binary uses a different part of the harness.

use commonware_codec::DecodeExt as _;
use commonware_cryptography::ed25519;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{Clock as _, Handle, Quota, Spawner as _, Supervisor as _, deterministic};
use commonware_utils::{NZU32, NZUsize, probability};
use nestgrid_consensus::{
    Application, Channels, Config, FinalizedBlock, PublicKeyBytes, Timeouts, max_message_size,
    private_key_from_seed, public_key, run_validator, verify_certificate,
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// Simulated network handle.
pub type SimOracle = Oracle<ed25519::PublicKey, deterministic::Context>;

/// Quota per channel and peer.
pub const QUOTA: Quota = Quota::per_second(NZU32!(10_000));

/// A healthy link: 10 ms ± 2 ms, nothing lost.
pub const GOOD_LINK: Link = Link {
    latency: Duration::from_millis(10),
    jitter: Duration::from_millis(2),
    success_rate: probability!(1.0),
};

/// The seed of this run: `NESTGRID_SEED` if set, else `default`; printed for replay.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("NESTGRID_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default);
    eprintln!("seed = {seed} (replay with NESTGRID_SEED={seed})");
    seed
}

/// The seeds of a multi-seed run: `NESTGRID_SEEDS` seeds (default `default_count`) starting at
/// `NESTGRID_SEED` (default 1). Each run should print its seed for replay.
pub fn seeds(default_count: u64) -> Vec<u64> {
    let first = std::env::var("NESTGRID_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1u64);
    let count = std::env::var("NESTGRID_SEEDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default_count);
    (first..first + count).collect()
}

/// A deterministic runner for `seed` that fails the test after `limit` of simulated time.
pub fn runner(seed: u64, limit: Duration) -> deterministic::Runner {
    deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(limit)),
    )
}

/// The payload the toy application proposes at `height`.
pub fn toy_payload(height: u64) -> Vec<u8> {
    format!("payload-{height}").into_bytes()
}

/// Toy application: payload = bytes derived from the height; records the finalized chain.
/// The record survives a crash (it models a durable application state).
#[derive(Clone, Default)]
pub struct ToyApp {
    /// Finalized blocks in order.
    pub chain: Arc<Mutex<Vec<FinalizedBlock>>>,
}

impl ToyApp {
    /// Height of the last finalized block.
    pub fn height(&self) -> u64 {
        self.chain.lock().unwrap().len() as u64
    }

    /// A copy of the chain.
    pub fn blocks(&self) -> Vec<FinalizedBlock> {
        self.chain.lock().unwrap().clone()
    }
}

impl Application for ToyApp {
    fn applied_height(&self) -> u64 {
        self.height()
    }

    fn propose(&mut self, height: u64, _timestamp_ms: u64) -> Vec<u8> {
        assert_eq!(
            height,
            self.height() + 1,
            "propose must build on the applied tip"
        );
        toy_payload(height)
    }

    fn verify(&mut self, height: u64, _timestamp_ms: u64, payload: &[u8]) -> bool {
        assert_eq!(
            height,
            self.height() + 1,
            "verify must run on the applied tip"
        );
        payload == toy_payload(height).as_slice()
    }

    fn finalized(&mut self, block: FinalizedBlock) {
        let mut chain = self.chain.lock().unwrap();
        assert_eq!(
            block.height,
            chain.len() as u64 + 1,
            "finalized out of order or twice"
        );
        match chain.last() {
            Some(parent) => {
                assert_eq!(block.parent, parent.digest, "parent link");
                assert!(
                    block.timestamp_ms > parent.timestamp_ms,
                    "time must increase"
                );
            }
            None => assert_eq!(block.parent, nestgrid_consensus::genesis_digest()),
        }
        chain.push(block);
    }
}

/// Test validator set of `n` keys derived from seeds `0..n`.
pub struct Committee {
    /// Private key seeds.
    pub private_keys: Vec<[u8; 32]>,
    /// Public keys, same order.
    pub public_keys: Vec<PublicKeyBytes>,
}

impl Committee {
    /// `n` validators.
    pub fn new(n: u64) -> Self {
        let private_keys: Vec<_> = (0..n).map(private_key_from_seed).collect();
        let public_keys = private_keys
            .iter()
            .map(|key| public_key(key).unwrap())
            .collect();
        Self {
            private_keys,
            public_keys,
        }
    }

    /// The commonware public key of validator `index`.
    pub fn key(&self, index: usize) -> ed25519::PublicKey {
        ed25519::PublicKey::decode(self.public_keys[index].to_vec()).unwrap()
    }

    /// All commonware public keys.
    pub fn keys(&self) -> Vec<ed25519::PublicKey> {
        (0..self.public_keys.len())
            .map(|index| self.key(index))
            .collect()
    }

    /// Validator `index`'s configuration with test timeouts.
    pub fn config(&self, index: usize) -> Config {
        let mut config = Config::new(
            self.private_keys[index],
            self.public_keys.clone(),
            format!("validator-{index}"),
        );
        config.max_payload_bytes = 1 << 16;
        config.timeouts = Timeouts {
            leader: Duration::from_secs(1),
            certification: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(3),
            skip: Duration::from_secs(4),
            fetch: Duration::from_secs(1),
            finalize_wait: Duration::from_millis(300),
            empty_block_interval: Duration::from_millis(500),
        };
        config
    }

    /// Checks every block's certificate against the validator set.
    pub fn assert_certificates(&self, blocks: &[FinalizedBlock]) {
        for block in blocks {
            verify_certificate(&self.public_keys, block)
                .unwrap_or_else(|error| panic!("height {}: {error}", block.height));
        }
    }
}

/// Starts the simulated network for the committee, all links `link`.
pub async fn network(
    context: &deterministic::Context,
    committee: &Committee,
    link: Link,
) -> SimOracle {
    let n = committee.public_keys.len();
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: max_message_size(n as u32, 1 << 16),
            max_peers_per_set: NZUsize!(n + 1),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        committee.keys(),
    )
    .await;
    network.start();
    link_all(&oracle, committee, link, |_, _| true).await;
    oracle
}

/// Adds `link` between every ordered pair `(a, b)` with `keep(a, b)`.
pub async fn link_all(
    oracle: &SimOracle,
    committee: &Committee,
    link: Link,
    keep: impl Fn(usize, usize) -> bool,
) {
    let n = committee.public_keys.len();
    for a in 0..n {
        for b in 0..n {
            if a != b && keep(a, b) {
                oracle
                    .add_link(committee.key(a), committee.key(b), link.clone())
                    .await
                    .unwrap();
            }
        }
    }
}

/// Removes the links between every ordered pair `(a, b)` with `cut(a, b)`.
pub async fn unlink(oracle: &SimOracle, committee: &Committee, cut: impl Fn(usize, usize) -> bool) {
    let n = committee.public_keys.len();
    for a in 0..n {
        for b in 0..n {
            if a != b && cut(a, b) {
                let _ = oracle.remove_link(committee.key(a), committee.key(b)).await;
            }
        }
    }
}

/// Registers validator `index`'s five channels on the simulated network.
pub async fn channels(
    oracle: &SimOracle,
    committee: &Committee,
    index: usize,
) -> Channels<
    simulated::Sender<ed25519::PublicKey, deterministic::Context>,
    simulated::Receiver<ed25519::PublicKey>,
> {
    let control = oracle.control(committee.key(index));
    let mut pairs = Vec::new();
    for channel in Channels::<(), ()>::NUMBERS {
        pairs.push(control.register(channel, QUOTA).await.unwrap());
    }
    let mut pairs = pairs.into_iter();
    Channels {
        votes: pairs.next().unwrap(),
        certificates: pairs.next().unwrap(),
        resolver: pairs.next().unwrap(),
        broadcast: pairs.next().unwrap(),
        backfill: pairs.next().unwrap(),
    }
}

/// Starts validator `index` with `app`; aborting the handle crashes it (all its tasks stop,
/// its storage stays). A validator that stops on its own panics the test.
pub async fn start(
    context: &deterministic::Context,
    oracle: &SimOracle,
    committee: &Committee,
    index: usize,
    app: ToyApp,
) -> Handle<()> {
    spawn_validator(context, oracle, committee, index, app, move |result| {
        panic!("validator {index} stopped: {result}")
    })
    .await
}

/// Starts validator `index` like [`start`], but when it stops it pushes `(index, reason)` to
/// `stopped` instead of panicking: for runs where injected storage faults stop validators on
/// purpose.
pub async fn start_recording_stop(
    context: &deterministic::Context,
    oracle: &SimOracle,
    committee: &Committee,
    index: usize,
    app: ToyApp,
    stopped: Arc<Mutex<Vec<(usize, String)>>>,
) -> Handle<()> {
    spawn_validator(context, oracle, committee, index, app, move |result| {
        stopped.lock().unwrap().push((index, result))
    })
    .await
}

/// Spawns validator `index`; `on_stop` gets why it stopped.
async fn spawn_validator(
    context: &deterministic::Context,
    oracle: &SimOracle,
    committee: &Committee,
    index: usize,
    app: ToyApp,
    on_stop: impl FnOnce(String) + Send + 'static,
) -> Handle<()> {
    let channels = channels(oracle, committee, index).await;
    let config = committee.config(index);
    let peers = oracle.manager();
    let blocker = oracle.control(committee.key(index));
    context
        .child("validator")
        .with_attribute("index", index)
        .spawn(move |context| async move {
            let result = run_validator(context, config, app, channels, peers, blocker).await;
            on_stop(format!("{result:?}"));
        })
}

/// Waits (in simulated time) until every app in `apps` reached `height`; returns the elapsed
/// simulated time.
pub async fn wait_for_height(
    context: &deterministic::Context,
    apps: &[&ToyApp],
    height: u64,
) -> Duration {
    let start = context.current();
    while apps.iter().any(|app| app.height() < height) {
        context.sleep(Duration::from_millis(50)).await;
    }
    context.current().duration_since(start).unwrap()
}

/// Like [`wait_for_height`], but gives up after `bound` of simulated time: `Some(elapsed)` if
/// every app reached `height` in time, `None` if not.
pub async fn wait_for_height_within(
    context: &deterministic::Context,
    apps: &[&ToyApp],
    height: u64,
    bound: Duration,
) -> Option<Duration> {
    let wait = std::pin::pin!(wait_for_height(context, apps, height));
    let limit = std::pin::pin!(context.sleep(bound));
    match futures::future::select(wait, limit).await {
        futures::future::Either::Left((elapsed, _)) => Some(elapsed),
        futures::future::Either::Right(_) => None,
    }
}

/// Asserts the apps agree on every height they all have (all but the certificate), and
/// returns the common length.
pub fn assert_same_chain(apps: &[&ToyApp]) -> usize {
    let chains: Vec<_> = apps.iter().map(|app| app.blocks()).collect();
    let common = chains.iter().map(Vec::len).min().unwrap_or(0);
    for chain in &chains[1..] {
        for height in 0..common {
            // Certificates may differ: each validator may hold a different quorum of signatures.
            let (a, b) = (&chain[height], &chains[0][height]);
            assert_eq!(
                (
                    a.height,
                    a.view,
                    a.timestamp_ms,
                    a.parent,
                    a.digest,
                    &a.payload
                ),
                (
                    b.height,
                    b.view,
                    b.timestamp_ms,
                    b.parent,
                    b.digest,
                    &b.payload
                ),
                "chains differ at height {}",
                height + 1
            );
        }
    }
    common
}
