//! Deterministic simulation of the ledger under BFT consensus: four validators on commonware's
//! deterministic runtime and simulated network (lossy, jittery links; a partition that heals),
//! one of them Byzantine — it proposes blocks stuffed with forged and replayed transactions.
//!
//! Checked: the honest validators commit the same blocks at every height (safety); no forged or
//! replayed transaction is ever committed; after the partition heals, blocks commit again within
//! a bounded time (liveness); every stored chain verifies from genesis with the consensus
//! certificates, and the balances equal what an auditor computes by hand from the trades and
//! deliveries.
//!
//! The test prints its seed; `NESTGRID_SEED=<seed>` replays it. `NESTGRID_SEEDS=<n>` runs n
//! seeds from the given one (for long runs: `NESTGRID_SEEDS=1000 cargo test -p nestgrid-node
//! --release --test simulation`).

use commonware_codec::DecodeExt as _;
use commonware_cryptography::ed25519;
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{
    Clock as _, Quota, Runner as _, Spawner as _, Supervisor as _, deterministic,
};
use commonware_utils::{NZU32, NZUsize, probability};
use nestgrid_consensus::{
    Application, Channels, Config, FinalizedBlock, Timeouts, max_message_size,
    private_key_from_seed, public_key, run_validator,
};
use nestgrid_ledger::{
    AssetSpec, Authority, BalancingPrice, Block, Body, Delivery, Genesis, Hash, Keypair, Ledger,
    PublicKey, Role, SignedTransaction, TradeEntry, Transaction, verify,
};
use nestgrid_node::{
    ConsensusCertificates, DEFAULT_EMPTY_BLOCK_INTERVAL_MS, LedgerApp, Proposal, Refused,
};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

type SimOracle = Oracle<ed25519::PublicKey, deterministic::Context>;

const VALIDATORS: usize = 4;
const BYZANTINE: usize = 3;
const MAX_PAYLOAD: u32 = 1 << 20;

fn lossy_link() -> Link {
    Link {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(15),
        success_rate: probability!(0.95),
    }
}

/// The accounts of the workload.
struct Actors {
    operator: Keypair,
    gateway: Keypair,
    market: Keypair,
    meter: Keypair,
    grid: Keypair,
    alice: Keypair,
    bob: Keypair,
    street: Keypair,
}

impl Actors {
    fn new() -> Actors {
        let key = |name: &str| Keypair::derived(99, name);
        Actors {
            operator: key("operator"),
            gateway: key("gateway"),
            market: key("market"),
            meter: key("meter"),
            grid: key("grid"),
            alice: key("alice"),
            bob: key("bob"),
            street: key("street"),
        }
    }
}

fn genesis(validators: &[[u8; 32]], actors: &Actors) -> Genesis {
    let authority = |name: &str, keypair: &Keypair, role: Role| Authority {
        name: name.into(),
        key: keypair.public(),
        roles: vec![role],
    };
    Genesis {
        chain_id: "simulation".into(),
        currency: "EUR".into(),
        timestamp_ms: 0,
        validators: validators.iter().map(|key| PublicKey(*key)).collect(),
        authorities: vec![
            authority("operator", &actors.operator, Role::Operator),
            authority("gateway", &actors.gateway, Role::Gateway),
            authority("market", &actors.market, Role::MarketOperator),
            authority("meter", &actors.meter, Role::MeterAuthority),
        ],
    }
}

/// Signs with consecutive nonces per signer.
#[derive(Default)]
struct Nonces(BTreeMap<PublicKey, u64>);

impl Nonces {
    fn sign(&mut self, keypair: &Keypair, body: Body) -> SignedTransaction {
        let nonce = self.0.entry(keypair.public()).or_insert(0);
        *nonce += 1;
        Transaction {
            chain_id: "simulation".into(),
            signer: keypair.public(),
            nonce: *nonce,
            body,
        }
        .sign(keypair)
    }
}

/// Registration and deposits, then one slot: alice (PV, asset 2) sells 3 kWh to bob (load,
/// asset 3) at 0.20/kWh with a 0.01/kWh fee to the street; alice delivers 2.5 kWh, bob takes
/// 3.4 kWh; the grid connection (asset 1) settles imbalances at 0.30 (shortage) and 0.05
/// (surplus) per kWh.
fn phase_one(actors: &Actors, nonces: &mut Nonces) -> Vec<SignedTransaction> {
    let register = |nonces: &mut Nonces, account: &Keypair, name: &str, role, assets| {
        nonces.sign(
            &actors.operator,
            Body::Register {
                account: account.public(),
                name: name.into(),
                role,
                assets,
            },
        )
    };
    let asset = |asset, name: &str, max_kwh: i64, balancing| AssetSpec {
        asset,
        name: name.into(),
        energy_sell_max_mwh: max_kwh * 1_000_000,
        balancing_asset: balancing,
    };
    vec![
        register(
            nonces,
            &actors.grid,
            "grid",
            Role::Participant,
            vec![asset(1, "grid", 1_000_000, None)],
        ),
        register(
            nonces,
            &actors.alice,
            "alice",
            Role::Participant,
            vec![asset(2, "alice/pv", 5, Some(1))],
        ),
        register(
            nonces,
            &actors.bob,
            "bob",
            Role::Participant,
            vec![asset(3, "bob/load", 0, Some(1))],
        ),
        register(nonces, &actors.street, "street", Role::AreaOperator, vec![]),
        nonces.sign(
            &actors.gateway,
            Body::Deposit {
                account: actors.bob.public(),
                amount: 2_000_000,
            },
        ),
        nonces.sign(
            &actors.gateway,
            Body::Deposit {
                account: actors.alice.public(),
                amount: 1_000_000,
            },
        ),
        nonces.sign(
            &actors.gateway,
            Body::Deposit {
                account: actors.grid.public(),
                amount: 1_000_000,
            },
        ),
        nonces.sign(
            &actors.market,
            Body::RecordTrades {
                slot: 0,
                trades: vec![TradeEntry {
                    trade_id: 1,
                    buyer_asset: 3,
                    seller_asset: 2,
                    energy_mwh: 3_000_000,
                    buyer_amount: 630_000,
                    seller_amount: 600_000,
                    fees: vec![(actors.street.public(), 30_000)],
                    surplus: None,
                }],
            },
        ),
        nonces.sign(
            &actors.market,
            Body::PostPrices {
                slot: 0,
                prices: vec![BalancingPrice {
                    balancing_asset: 1,
                    shortage_price: 300_000,
                    surplus_price: 50_000,
                }],
            },
        ),
        nonces.sign(
            &actors.meter,
            Body::PostDeliveries {
                slot: 0,
                deliveries: vec![
                    Delivery {
                        asset: 2,
                        energy_in_mwh: 0,
                        energy_out_mwh: 2_500_000,
                    },
                    Delivery {
                        asset: 3,
                        energy_in_mwh: 3_400_000,
                        energy_out_mwh: 0,
                    },
                ],
                data_hash: Some(Hash::of(b"meter data", &[b"slot 0"])),
            },
        ),
        nonces.sign(&actors.market, Body::SettleSlot { slot: 0 }),
    ]
}

/// After the partition: bob withdraws most of what is left of his deposit.
fn phase_two(actors: &Actors, nonces: &mut Nonces) -> Vec<SignedTransaction> {
    vec![nonces.sign(
        &actors.gateway,
        Body::Withdraw {
            account: actors.bob.public(),
            amount: 1_000_000,
        },
    )]
}

/// A validator that proposes blocks with a forged and a replayed transaction added (and the
/// header's count and Merkle root fixed up to match); it verifies and votes honestly.
#[derive(Clone)]
struct Stuffer {
    honest: LedgerApp,
    proposals: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    forged: SignedTransaction,
    replayed: SignedTransaction,
}

impl Application for Stuffer {
    fn applied_height(&self) -> u64 {
        self.honest.applied_height()
    }
    fn propose(&mut self, height: u64, timestamp_ms: u64) -> Vec<u8> {
        self.proposals
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let payload = self.honest.propose(height, timestamp_ms);
        let mut proposal: Proposal = borsh::from_slice(&payload).unwrap();
        proposal.transactions.push(self.forged.clone());
        proposal.transactions.push(self.replayed.clone());
        proposal.header.tx_count = proposal.transactions.len() as u32;
        proposal.header.tx_root = Block::tx_root(&proposal.transactions);
        proposal.to_bytes()
    }
    fn verify(&mut self, height: u64, timestamp_ms: u64, payload: &[u8]) -> bool {
        self.honest.verify(height, timestamp_ms, payload)
    }
    fn finalized(&mut self, block: FinalizedBlock) {
        self.honest.finalized(block);
    }
}

async fn network(context: &deterministic::Context, keys: &[ed25519::PublicKey]) -> SimOracle {
    network_with(context, keys, lossy_link()).await
}

/// The simulated network with `link` between every two validators.
async fn network_with(
    context: &deterministic::Context,
    keys: &[ed25519::PublicKey],
    link: Link,
) -> SimOracle {
    let (network, oracle) = Network::new_with_peers(
        context.child("network"),
        simulated::Config {
            max_size: max_message_size(keys.len() as u32, MAX_PAYLOAD),
            max_peers_per_set: NZUsize!(keys.len() + 1),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        keys.to_vec(),
    )
    .await;
    network.start();
    for a in keys {
        for b in keys {
            if a != b {
                oracle
                    .add_link(a.clone(), b.clone(), link.clone())
                    .await
                    .unwrap();
            }
        }
    }
    oracle
}

async fn link(
    oracle: &SimOracle,
    keys: &[ed25519::PublicKey],
    keep: impl Fn(usize, usize) -> bool,
) {
    for a in 0..keys.len() {
        for b in 0..keys.len() {
            if a != b && keep(a, b) {
                let _ = oracle
                    .add_link(keys[a].clone(), keys[b].clone(), lossy_link())
                    .await;
            }
        }
    }
}

async fn unlink(
    oracle: &SimOracle,
    keys: &[ed25519::PublicKey],
    cut: impl Fn(usize, usize) -> bool,
) {
    for a in 0..keys.len() {
        for b in 0..keys.len() {
            if a != b && cut(a, b) {
                let _ = oracle.remove_link(keys[a].clone(), keys[b].clone()).await;
            }
        }
    }
}

/// The timeouts of the lossy simulation.
fn lossy_timeouts() -> Timeouts {
    Timeouts {
        leader: Duration::from_secs(1),
        certification: Duration::from_secs(2),
        timeout_retry: Duration::from_secs(3),
        skip: Duration::from_secs(4),
        fetch: Duration::from_secs(1),
        finalize_wait: Duration::from_millis(300),
        empty_block_interval: Duration::from_millis(500),
    }
}

#[allow(clippy::too_many_arguments)]
async fn start<A: Application + Clone>(
    context: &deterministic::Context,
    oracle: &SimOracle,
    keys: &[ed25519::PublicKey],
    private_key: [u8; 32],
    validators: &[[u8; 32]],
    index: usize,
    app: A,
    timeouts: Timeouts,
) -> commonware_runtime::Handle<()> {
    let key = keys[index].clone();
    let control = oracle.control(key.clone());
    let quota = Quota::per_second(NZU32!(10_000));
    let mut pairs = Vec::new();
    for channel in Channels::<(), ()>::NUMBERS {
        pairs.push(control.register(channel, quota).await.unwrap());
    }
    let mut pairs = pairs.into_iter();
    let channels = Channels {
        votes: pairs.next().unwrap(),
        certificates: pairs.next().unwrap(),
        resolver: pairs.next().unwrap(),
        broadcast: pairs.next().unwrap(),
        backfill: pairs.next().unwrap(),
    };
    let mut config = Config::new(
        private_key,
        validators.to_vec(),
        format!("validator-{index}"),
    );
    config.max_payload_bytes = MAX_PAYLOAD;
    config.timeouts = timeouts;
    let peers = oracle.manager();
    let blocker = oracle.control(key);
    context
        .child("validator")
        .with_attribute("index", index)
        .spawn(move |context| async move {
            let result = run_validator(context, config, app, channels, peers, blocker).await;
            panic!("validator {index} stopped: {result:?}");
        })
}

/// Waits (simulated time) until every app has committed every transaction in `hashes`;
/// returns the simulated time it took.
async fn wait_committed(
    context: &deterministic::Context,
    apps: &[LedgerApp],
    hashes: &[Hash],
    limit: Duration,
) -> Duration {
    let start = context.current();
    loop {
        let done = apps.iter().all(|app| {
            let shared = app.lock();
            hashes
                .iter()
                .all(|hash| matches!(shared.status(hash), nestgrid_node::Status::Committed { .. }))
        });
        let elapsed = context.current().duration_since(start).unwrap();
        if done {
            return elapsed;
        }
        if elapsed >= limit {
            let report: Vec<String> = apps
                .iter()
                .map(|app| {
                    let shared = app.lock();
                    format!(
                        "height {} mempool {} status {:?}",
                        shared.ledger().height(),
                        shared.mempool_len(),
                        hashes
                            .iter()
                            .map(|hash| shared.status(hash))
                            .collect::<Vec<_>>()
                    )
                })
                .collect();
            panic!("not committed within {limit:?}: {report:#?}");
        }
        context.sleep(Duration::from_millis(100)).await;
    }
}

fn seeds() -> Vec<u64> {
    let first = std::env::var("NESTGRID_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1);
    let count = std::env::var("NESTGRID_SEEDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2u64);
    (first..first + count).collect()
}

#[test]
fn honest_validators_agree_and_never_commit_invalid_transactions() {
    for seed in seeds() {
        eprintln!("seed = {seed} (replay with NESTGRID_SEED={seed} NESTGRID_SEEDS=1)");
        let (_dirs, paths) = data_dirs();
        let forged_hashes = run(seed, &paths);
        check_stored(&paths[..BYZANTINE], &forged_hashes);
    }
}

/// A data folder per validator (removed when the first part is dropped) and their paths.
fn data_dirs() -> (Vec<tempfile::TempDir>, Vec<PathBuf>) {
    let dirs: Vec<tempfile::TempDir> = (0..VALIDATORS)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let paths = dirs.iter().map(|dir| dir.path().to_path_buf()).collect();
    (dirs, paths)
}

/// The validators' private keys, public keys, and public keys as the consensus names them.
fn committee() -> (Vec<[u8; 32]>, Vec<[u8; 32]>, Vec<ed25519::PublicKey>) {
    let private_keys: Vec<[u8; 32]> = (0..VALIDATORS as u64).map(private_key_from_seed).collect();
    let validators: Vec<[u8; 32]> = private_keys
        .iter()
        .map(|key| public_key(key).unwrap())
        .collect();
    let keys = validators
        .iter()
        .map(|key| ed25519::PublicKey::decode(key.to_vec()).unwrap())
        .collect();
    (private_keys, validators, keys)
}

/// A ledger application on each data folder.
fn open_apps(dirs: &[PathBuf], genesis: &Genesis) -> Vec<LedgerApp> {
    dirs.iter()
        .map(|dir| {
            let ledger =
                Ledger::create_or_open(dir, genesis.clone(), &ConsensusCertificates).unwrap();
            LedgerApp::new(ledger, 1_000)
        })
        .collect()
}

/// One simulated run; returns the hashes of transactions that must never be committed.
fn run(seed: u64, dirs: &[PathBuf]) -> Vec<Hash> {
    let dirs = dirs.to_vec();
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(900)));
    deterministic::Runner::new(config).start(|context| async move {
        let (private_keys, validators, keys) = committee();
        let actors = Actors::new();
        let genesis = genesis(&validators, &actors);
        let oracle = network(&context, &keys).await;
        let apps = open_apps(&dirs, &genesis);

        let mut nonces = Nonces::default();
        let first = phase_one(&actors, &mut nonces);
        // A transaction with a broken signature, and a replay of the first registration.
        // (Signed by hand: it must not take a nonce from the real sequence.)
        let mut forged = Transaction {
            chain_id: "simulation".into(),
            signer: actors.gateway.public(),
            nonce: 4,
            body: Body::Deposit {
                account: actors.alice.public(),
                amount: 1_000_000_000,
            },
        }
        .sign(&actors.gateway);
        forged.signature.0[10] ^= 1;
        let replayed = first[0].clone();
        let byzantine = Stuffer {
            honest: apps[BYZANTINE].clone(),
            proposals: Default::default(),
            forged: forged.clone(),
            replayed: replayed.clone(),
        };
        let mut handles = Vec::new();
        for index in 0..VALIDATORS {
            let handle = if index == BYZANTINE {
                start(
                    &context,
                    &oracle,
                    &keys,
                    private_keys[index],
                    &validators,
                    index,
                    byzantine.clone(),
                    lossy_timeouts(),
                )
                .await
            } else {
                start(
                    &context,
                    &oracle,
                    &keys,
                    private_keys[index],
                    &validators,
                    index,
                    apps[index].clone(),
                    lossy_timeouts(),
                )
                .await
            };
            handles.push(handle);
        }
        // Clients send every transaction to every validator.
        for app in &apps {
            for tx in &first {
                app.submit(tx.clone()).unwrap();
            }
            assert_eq!(
                app.submit(forged.clone()),
                Err(Refused::Invalid(nestgrid_ledger::ResultCode::BadSignature))
            );
        }
        let honest = &apps[..BYZANTINE];
        let hashes: Vec<Hash> = first.iter().map(SignedTransaction::hash).collect();
        let took = wait_committed(&context, honest, &hashes, Duration::from_secs(300)).await;
        eprintln!("phase one committed in {took:?} simulated");
        // A replay is refused once its original is committed.
        assert_eq!(
            apps[0].submit(replayed.clone()),
            Err(Refused::Invalid(nestgrid_ledger::ResultCode::StaleNonce))
        );

        // Partition {0, 1} | {2, 3}: neither side has a quorum of 3.
        unlink(&oracle, &keys, |a, b| (a < 2) != (b < 2)).await;
        context.sleep(Duration::from_secs(5)).await;
        let heights: Vec<u64> = honest
            .iter()
            .map(|app| app.lock().ledger().height())
            .collect();
        let second = phase_two(&actors, &mut nonces);
        for app in &apps {
            for tx in &second {
                app.submit(tx.clone()).unwrap();
            }
        }
        context.sleep(Duration::from_secs(20)).await;
        for (app, before) in honest.iter().zip(&heights) {
            // At most a block already in flight when the partition started.
            assert!(
                app.lock().ledger().height() <= before + 1,
                "progress without a quorum"
            );
        }
        link(&oracle, &keys, |a, b| (a < 2) != (b < 2)).await;
        let hashes: Vec<Hash> = second.iter().map(SignedTransaction::hash).collect();
        let took = wait_committed(&context, honest, &hashes, Duration::from_secs(120)).await;
        eprintln!("after healing, committed again in {took:?} simulated");

        // Keep going for a while, so that every validator leads some views.
        while honest.iter().any(|app| app.lock().ledger().height() < 16) {
            context.sleep(Duration::from_millis(100)).await;
        }
        // Idle: nothing waits, so the honest leaders hold back their empty blocks. (The
        // Byzantine one does not hold back, but its stuffed blocks never get a quorum.)
        let idle = Duration::from_secs(20);
        let before = honest[0].lock().ledger().height();
        context.sleep(idle).await;
        let grown = honest[0].lock().ledger().height() - before;
        let most = (idle.as_millis() / lossy_timeouts().empty_block_interval.as_millis()) as u64;
        assert!(
            grown <= most + 5,
            "{grown} blocks in {idle:?} of idleness: empty blocks are not held back"
        );
        eprintln!("idle for {idle:?}: {grown} blocks");
        // Safety: the same block at every height every honest validator has.
        let common = honest
            .iter()
            .map(|app| app.lock().ledger().height())
            .min()
            .unwrap();
        assert!(common >= 2);
        for height in 1..=common {
            let headers: HashSet<Hash> = honest
                .iter()
                .map(|app| {
                    app.lock()
                        .ledger()
                        .block(height)
                        .unwrap()
                        .unwrap()
                        .header
                        .hash()
                })
                .collect();
            assert_eq!(headers.len(), 1, "validators disagree at height {height}");
        }
        let stuffed = byzantine
            .proposals
            .load(std::sync::atomic::Ordering::Relaxed);
        eprintln!(
            "the Byzantine validator proposed {stuffed} stuffed blocks; {common} blocks committed"
        );
        assert!(stuffed > 0, "the Byzantine validator never led a view");
        for handle in handles {
            handle.abort();
        }
        vec![forged.hash()]
    })
}

/// Every stored chain verifies from genesis with the consensus certificates; no forged
/// transaction and no duplicate is in it; balances equal the hand-computed ones.
fn check_stored(dirs: &[PathBuf], forged: &[Hash]) {
    let actors = Actors::new();
    let mut heads = HashSet::new();
    for dir in dirs {
        let report = verify::verify_dir(dir, &ConsensusCertificates)
            .unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
        assert_eq!(report.slots_settled, 1);
        assert_eq!(report.locked, 0);
        let ledger = Ledger::open(dir, &ConsensusCertificates).unwrap();
        let mut seen = HashSet::new();
        for height in 1..=ledger.height() {
            for tx in ledger.block(height).unwrap().unwrap().transactions {
                let hash = tx.hash();
                assert!(
                    !forged.contains(&hash),
                    "a forged transaction was committed"
                );
                assert!(seen.insert(hash), "a transaction was committed twice");
            }
        }
        assert_eq!(seen.len(), 12, "every workload transaction, once");
        let balance = |key: &Keypair| {
            let account = &ledger.state().accounts[&key.public()];
            (account.balance, account.locked, account.tokens_mwh)
        };
        // The auditor's arithmetic. Bob bought 3 kWh for 0.63 (0.60 to alice, 0.03 fee to the
        // street) and took 3.4 kWh: short 0.4 kWh at 0.30 = 0.12. Alice sold 3 kWh and
        // delivered 2.5 kWh: short 0.5 kWh at 0.30 = 0.15. The grid receives both. Bob holds
        // tokens for the 2.5 kWh alice delivered, and then withdrew 1.00.
        assert_eq!(
            balance(&actors.bob),
            (2_000_000 - 630_000 - 120_000 - 1_000_000, 0, 2_500_000)
        );
        assert_eq!(
            balance(&actors.alice),
            (1_000_000 + 600_000 - 150_000, 0, 0)
        );
        assert_eq!(balance(&actors.grid), (1_000_000 + 120_000 + 150_000, 0, 0));
        assert_eq!(balance(&actors.street), (30_000, 0, 0));
        assert_eq!(
            ledger.state().accounts[&actors.alice.public()].tokens_minted_mwh,
            2_500_000
        );
        heads.insert(ledger.block(2).unwrap().unwrap().header.hash());
    }
    assert_eq!(heads.len(), 1, "the honest validators' block 2 differ");
}

/// An idle validator set of 4 honest validators with the validator process's timeouts: the
/// leaders hold back empty blocks for the empty-block interval, so the chain grows by about
/// two blocks a second (not one per round trip, about 16 a second on these links), no view is
/// skipped for it, and a transaction submitted to the idle set commits at once rather than at
/// the end of a hold.
#[test]
fn idle_validators_hold_back_empty_blocks_and_commit_a_transaction_at_once() {
    for seed in seeds() {
        eprintln!("seed = {seed} (replay with NESTGRID_SEED={seed} NESTGRID_SEEDS=1)");
        let (_dirs, paths) = data_dirs();
        run_idle(seed, &paths);
        for dir in &paths {
            verify::verify_dir(dir, &ConsensusCertificates)
                .unwrap_or_else(|error| panic!("{}: {error}", dir.display()));
        }
    }
}

fn run_idle(seed: u64, dirs: &[PathBuf]) {
    let dirs = dirs.to_vec();
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    deterministic::Runner::new(config).start(|context| async move {
        let (private_keys, validators, keys) = committee();
        let actors = Actors::new();
        let genesis = genesis(&validators, &actors);
        let link = Link {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(2),
            success_rate: probability!(1.0),
        };
        let oracle = network_with(&context, &keys, link).await;
        let apps = open_apps(&dirs, &genesis);
        let timeouts = nestgrid_node::consensus_timeouts(DEFAULT_EMPTY_BLOCK_INTERVAL_MS);
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            handles.push(
                start(
                    &context,
                    &oracle,
                    &keys,
                    private_keys[index],
                    &validators,
                    index,
                    app.clone(),
                    timeouts.clone(),
                )
                .await,
            );
        }
        let height = |app: &LedgerApp| app.lock().ledger().height();
        while apps.iter().any(|app| height(app) < 3) {
            context.sleep(Duration::from_millis(100)).await;
        }

        // A minute with nothing to do.
        let idle = Duration::from_secs(60);
        let before = height(&apps[0]);
        context.sleep(idle).await;
        let after = height(&apps[0]);
        let grown = after - before;
        eprintln!("idle for {idle:?}: {grown} empty blocks");
        let most = idle.as_millis() as u64 / DEFAULT_EMPTY_BLOCK_INTERVAL_MS;
        assert!(
            grown <= most + 5,
            "{grown} blocks in {idle:?} of idleness (at most {most} + 5)"
        );
        assert!(
            grown >= most / 2,
            "only {grown} blocks: the chain must keep moving"
        );
        {
            let shared = apps[0].lock();
            let ledger = shared.ledger();
            let mut parent = ledger.block(before).unwrap().unwrap().header;
            for h in before + 1..=after {
                let block = ledger.block(h).unwrap().unwrap();
                assert!(block.transactions.is_empty());
                // Each waited its interval after its parent.
                assert!(
                    block.header.timestamp_ms
                        >= parent.timestamp_ms + DEFAULT_EMPTY_BLOCK_INTERVAL_MS,
                    "height {h}: {} ms after its parent",
                    block.header.timestamp_ms - parent.timestamp_ms
                );
                parent = block.header;
            }
        }

        // Transactions sent to the idle set at different moments of an interval commit at
        // once: the mempool wakes the leader that is holding back.
        let mut nonces = Nonces::default();
        let mut transactions = vec![nonces.sign(
            &actors.operator,
            Body::Register {
                account: actors.alice.public(),
                name: "alice".into(),
                role: Role::Participant,
                assets: vec![],
            },
        )];
        for amount in 1..=5 {
            transactions.push(nonces.sign(
                &actors.gateway,
                Body::Deposit {
                    account: actors.alice.public(),
                    amount,
                },
            ));
        }
        for (round, tx) in transactions.iter().enumerate() {
            context
                .sleep(Duration::from_millis(700 + 90 * round as u64))
                .await;
            let start = context.current();
            for app in &apps {
                app.submit(tx.clone()).unwrap();
            }
            let hash = tx.hash();
            while !apps.iter().all(|app| {
                matches!(
                    app.lock().status(&hash),
                    nestgrid_node::Status::Committed { .. }
                )
            }) {
                context.sleep(Duration::from_millis(5)).await;
            }
            let took = context.current().duration_since(start).unwrap();
            eprintln!("transaction {round}: committed everywhere after {took:?}");
            assert!(
                took < Duration::from_millis(DEFAULT_EMPTY_BLOCK_INTERVAL_MS),
                "transaction {round} took {took:?}: the leader kept holding back"
            );
        }
        assert_eq!(
            apps[0].lock().ledger().state().accounts[&actors.alice.public()].balance,
            15
        );
        for handle in handles {
            handle.abort();
        }
    })
}
