//! Settles a simulation run on the ledger (`nestgrid run --settle`).
//!
//! A [`Collector`] sits between the simulator and its usual recorder and keeps what settlement
//! needs: each trade chain (buyer, seller, energy, what the buyer paid in its market, what the
//! seller got in its market, the fee of every boundary, the surplus of a two-price clearing),
//! each asset's metered delivery, and the grid connections' imbalance rates. [`settle`] then
//! turns that into signed ledger transactions and commits them block by block through a
//! single validator ([`nestgrid_ledger::Sequencer`]):
//!
//! 1. the operator registers one participant account per asset (with the asset's most
//!    energy per slot and the grid connection that settles its imbalances) and one area
//!    operator account per area;
//! 2. a gateway deposits, for each account, what it will pay over the run (its trades plus
//!    the imbalances it settles), so that no trade is refused for want of money;
//! 3. for every slot, in one block: the market operator records the slot's trades and posts
//!    the grid connections' rates, the meter authority posts the deliveries, and the market
//!    operator settles the slot.
//!
//! The ledger computes the imbalances and their money itself, from the deliveries and rates.
//! [`compare`] then checks that every account ended with its deposit plus the total of its
//! bill in `bills.csv`, to the micro-unit.
//!
//! Keys are derived from the scenario's seed and the names (simulated participants have no
//! secrets); the chain id is `nestgrid-sim`.
//!
//! [`remote::settle_remote`] sends the same transactions, built by the same code, to a running
//! validator set instead, signed with the chain's authority keys.

pub mod remote;

use nestgrid_agents::reference_connections;
use nestgrid_grid::{AssetKind, Topology};
use nestgrid_ledger::{
    AssetSpec, Authority, BalancingPrice, Body, Delivery, Genesis, Keypair, Ledger, LedgerError,
    PublicKey, ResultCode, Role, Sequencer, SignedTransaction, TradeEntry, Transaction, VotesOnly,
    limits,
};
use nestgrid_sim::{Outcome, Recorder, TradeRecord};
use nestgrid_types::{AreaId, AssetId, Energy, Money, Participant, Price, SlotIndex};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The chain id of simulation ledgers.
pub const CHAIN_ID: &str = "nestgrid-sim";

/// A trade as settlement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// The match's number.
    pub trade: u64,
    /// Buying asset.
    pub buyer: AssetId,
    /// Selling asset.
    pub seller: AssetId,
    /// Energy.
    pub energy: Energy,
    /// What the buyer pays, fees included.
    pub buyer_amount: Money,
    /// What the seller receives, after fees.
    pub seller_amount: Money,
    /// The fee of every boundary crossed, by area.
    pub fees: Vec<(AreaId, Money)>,
    /// The surplus of a two-price clearing and the area that keeps it.
    pub surplus: Option<(AreaId, Money)>,
}

/// What settlement needs of one slot.
#[derive(Clone, Debug, Default)]
pub struct SlotData {
    /// The slot's trades.
    pub trades: Vec<Settled>,
    /// Metered (in, out) per asset, grid connections excepted.
    pub deliveries: Vec<(AssetId, Energy, Energy)>,
    /// (grid connection, tariff, feed-in) the slot's imbalances are settled at.
    pub rates: Vec<(AssetId, Price, Price)>,
}

/// Keeps what settlement needs while passing every record on to `inner`.
pub struct Collector<'r> {
    inner: &'r mut dyn Recorder,
    chain: Vec<TradeRecord>,
    slots: BTreeMap<SlotIndex, SlotData>,
    problem: Option<String>,
}

impl std::fmt::Debug for Collector<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl<'r> Collector<'r> {
    /// A collector passing records on to `inner`.
    pub fn new(inner: &'r mut dyn Recorder) -> Collector<'r> {
        Collector {
            inner,
            chain: Vec::new(),
            slots: BTreeMap::new(),
            problem: None,
        }
    }

    fn close_chain(&mut self) {
        if self.chain.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.chain);
        let first = rows[0];
        let last = rows[rows.len() - 1];
        let (Participant::Asset(seller), Participant::Asset(buyer)) = (first.seller, last.buyer)
        else {
            self.problem.get_or_insert(format!(
                "trade {} does not start and end at assets",
                first.trade
            ));
            return;
        };
        let fees = rows
            .iter()
            .filter(|row| row.fee.0 != 0)
            .map(|row| (row.market, row.fee))
            .collect();
        let surplus = rows
            .iter()
            .find(|row| row.surplus.0 != 0)
            .map(|row| (row.market, row.surplus));
        let settled = Settled {
            trade: first.trade,
            buyer,
            seller,
            energy: first.energy,
            buyer_amount: Money::for_energy(last.price, last.energy),
            seller_amount: Money::for_energy(first.price, first.energy) - first.surplus,
            fees,
            surplus,
        };
        self.slots
            .entry(first.slot)
            .or_default()
            .trades
            .push(settled);
    }

    /// Everything collected, once the run is over.
    pub fn finish(mut self) -> Result<Collected, SettleError> {
        self.close_chain();
        if let Some(problem) = self.problem {
            return Err(SettleError::Run(problem));
        }
        Ok(Collected { slots: self.slots })
    }
}

impl Recorder for Collector<'_> {
    fn trade(&mut self, record: &TradeRecord) {
        if self
            .chain
            .first()
            .is_some_and(|row| row.trade != record.trade)
        {
            self.close_chain();
        }
        self.chain.push(*record);
        self.inner.trade(record);
    }
    fn area_slot(&mut self, slot: SlotIndex, area: AreaId, record: &nestgrid_sim::AreaSlot) {
        self.inner.area_slot(slot, area, record);
    }
    fn stored(&mut self, slot: SlotIndex, asset: AssetId, stored: Energy) {
        self.inner.stored(slot, asset, stored);
    }
    fn delivery(&mut self, slot: SlotIndex, asset: AssetId, energy_in: Energy, energy_out: Energy) {
        self.slots
            .entry(slot)
            .or_default()
            .deliveries
            .push((asset, energy_in, energy_out));
        self.inner.delivery(slot, asset, energy_in, energy_out);
    }
    fn imbalance_rates(&mut self, slot: SlotIndex, grid: AssetId, tariff: Price, feed_in: Price) {
        self.slots
            .entry(slot)
            .or_default()
            .rates
            .push((grid, tariff, feed_in));
        self.inner.imbalance_rates(slot, grid, tariff, feed_in);
    }
}

/// What a run left for settlement.
#[derive(Debug)]
pub struct Collected {
    slots: BTreeMap<SlotIndex, SlotData>,
}

/// Why settlement failed.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The run's records are not what settlement expects (a bug in the simulator).
    #[error("the run's records cannot be settled: {0}")]
    Run(String),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The ledger refused a transaction that the run implies.
    #[error("slot {slot}: the ledger refused {kind}: {code}")]
    Refused {
        /// The slot (or `None` for registration and deposits).
        slot: String,
        /// The transaction's kind.
        kind: &'static str,
        /// Why.
        code: ResultCode,
    },
    /// Settling on a running validator set failed: a validator did not answer, refused or
    /// rejected a transaction, or the chain does not fit the keys (see [`remote`]).
    #[error("{0}")]
    Remote(String),
}

/// The outcome of settling a run.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The ledger's directory.
    pub dir: PathBuf,
    /// Blocks committed.
    pub height: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Trades recorded.
    pub trades: u64,
    /// Per asset: its account's balance at the end minus its deposit.
    pub asset_net: Vec<Money>,
    /// Per area: its operator's balance at the end.
    pub area_net: Vec<Money>,
    /// Energy tokens minted (delivered traded energy).
    pub tokens_minted: Energy,
}

/// The keys of a run's settlement: the authorities that sign, and the accounts of the assets
/// and area operators.
struct Keys {
    operator: Keypair,
    gateway: Keypair,
    market: Keypair,
    meter: Keypair,
    assets: Vec<Keypair>,
    areas: Vec<Keypair>,
}

impl Keys {
    fn new(topology: &Topology) -> Keys {
        let seed = topology.settings.seed;
        Keys::with(topology, &|name| Keypair::derived(seed, name))
    }

    /// Keys derived from a secret (a live exchange's: nobody else can sign for its accounts).
    fn secret(topology: &Topology, secret: &[u8; 32]) -> Keys {
        Keys::with(topology, &|name| live_key(secret, name))
    }

    fn with(topology: &Topology, key: &dyn Fn(&str) -> Keypair) -> Keys {
        Keys {
            operator: key("operator"),
            gateway: key("gateway"),
            market: key("market operator"),
            meter: key("meter authority"),
            assets: topology
                .assets
                .iter()
                .map(|asset| key(&format!("asset {}", asset.path)))
                .collect(),
            areas: topology
                .areas
                .iter()
                .map(|area| key(&format!("area {}", area.path)))
                .collect(),
        }
    }
}

/// A key of a live exchange's ledger, derived from its secret.
fn live_key(secret: &[u8; 32], name: &str) -> Keypair {
    Keypair::from_secret(
        nestgrid_ledger::Hash::of(b"nestgrid live ledger key", &[secret, name.as_bytes()]).0,
    )
}

/// The genesis file of a simulation ledger: one validator; the operator, gateway, market
/// operator and meter authority as authorities.
pub fn genesis(topology: &Topology) -> Genesis {
    let keys = Keys::new(topology);
    genesis_of(topology, &keys, &sim_validator(topology))
}

/// The single validator of a simulation ledger.
fn sim_validator(topology: &Topology) -> Keypair {
    Keypair::derived(topology.settings.seed, "validator")
}

fn genesis_of(topology: &Topology, keys: &Keys, validator: &Keypair) -> Genesis {
    let authority = |name: &str, keypair: &Keypair, role: Role| Authority {
        name: name.into(),
        key: keypair.public(),
        roles: vec![role],
    };
    Genesis {
        chain_id: CHAIN_ID.into(),
        currency: topology.settings.currency.clone(),
        timestamp_ms: start_ms(topology),
        validators: vec![validator.public()],
        authorities: vec![
            authority("operator", &keys.operator, Role::Operator),
            authority("gateway", &keys.gateway, Role::Gateway),
            authority("market operator", &keys.market, Role::MarketOperator),
            authority("meter authority", &keys.meter, Role::MeterAuthority),
        ],
    }
}

fn start_ms(topology: &Topology) -> u64 {
    topology.settings.start.timestamp().as_millisecond().max(0) as u64
}

/// The most energy an asset can sell in one slot, from its physical limits.
fn sell_max(topology: &Topology, asset: usize) -> Energy {
    let seconds = topology.settings.slot_seconds;
    match &topology.assets[asset].kind {
        AssetKind::Load(_) => Energy::ZERO,
        AssetKind::Pv(pv) => {
            let profile_max = (0..topology.settings.slot_count)
                .map(|slot| topology.profile_energy(pv.profile, slot))
                .max()
                .unwrap_or(Energy::ZERO);
            pv.capacity.energy_over(seconds).max(profile_max)
        }
        AssetKind::Storage(storage) => storage.max_discharge_power.energy_over(seconds),
        AssetKind::EvCharger(charger) if charger.bidirectional => {
            charger.max_power.energy_over(seconds)
        }
        AssetKind::EvCharger(_) => Energy::ZERO,
        AssetKind::Generator(generator) => generator.max_power.energy_over(seconds),
        AssetKind::GridConnection(_) => Energy::MAX,
    }
}

/// Signs transactions for a chain with each signer's next nonce.
struct Nonces {
    chain_id: String,
    /// Each signer's last used nonce.
    last: BTreeMap<PublicKey, u64>,
}

impl Nonces {
    fn new(chain_id: &str, last: BTreeMap<PublicKey, u64>) -> Nonces {
        Nonces {
            chain_id: chain_id.into(),
            last,
        }
    }

    fn sign(&mut self, keypair: &Keypair, body: Body) -> SignedTransaction {
        let nonce = self.last.entry(keypair.public()).or_insert(0);
        *nonce += 1;
        Transaction {
            chain_id: self.chain_id.clone(),
            signer: keypair.public(),
            nonce: *nonce,
            body,
        }
        .sign(keypair)
    }
}

/// The imbalance money an asset pays (negative: receives) for a slot, by the simulator's rule.
fn imbalance_money(imbalance: i64, tariff: Price, feed_in: Price) -> Money {
    if imbalance > 0 {
        Money::for_energy(tariff, Energy(imbalance))
    } else {
        -Money::for_energy(feed_in, Energy(-imbalance))
    }
}

/// Where a run's numbers start on its chain. Asset numbers and slots are ledger-wide, so a run
/// settled on a chain that earlier runs used takes the next free ones; a new ledger starts at 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Numbering {
    /// The ledger number of the topology's first asset.
    pub asset_base: u32,
    /// The ledger slot of the run's slot 0.
    pub slot_base: u64,
}

impl Numbering {
    fn asset(&self, asset: AssetId) -> u32 {
        self.asset_base + asset.0
    }

    fn slot(&self, slot: SlotIndex) -> u64 {
        self.slot_base + slot as u64
    }
}

/// The first transactions of a run's settlement: the registrations, then the gateway's
/// deposit, for each asset's account, of what it pays over the run (its trades plus the
/// imbalances it settles), so that no trade is refused for want of money. Returns them and the
/// deposits by asset.
fn setup_transactions(
    topology: &Topology,
    collected: &Collected,
    keys: &Keys,
    nonces: &mut Nonces,
    numbering: Numbering,
) -> Result<(Vec<SignedTransaction>, Vec<Money>), SettleError> {
    let reference = reference_connections(topology);
    let balancing = |asset: AssetId| -> Option<AssetId> {
        reference[topology.assets[asset.index()].area.index()]
    };
    // 1. Registration.
    let mut setup = registrations(topology, keys, nonces, numbering);
    // 2. Deposits: what each account pays over the run.
    let mut outgoing = vec![0i128; topology.assets.len()];
    for data in collected.slots.values() {
        for (asset, amount) in slot_outgoing(data, &balancing) {
            outgoing[asset.index()] += amount;
        }
    }
    let mut deposits = vec![Money::ZERO; topology.assets.len()];
    for (index, amount) in outgoing.iter().enumerate() {
        if *amount > 0 {
            let amount = i64::try_from(*amount)
                .map_err(|_| SettleError::Run("a deposit overflows".into()))?;
            deposits[index] = Money(amount);
            setup.push(nonces.sign(
                &keys.gateway,
                Body::Deposit {
                    account: keys.assets[index].public(),
                    amount,
                },
            ));
        }
    }
    Ok((setup, deposits))
}

/// Settles `collected` on a new single-validator ledger in `dir` (which must not hold one).
pub fn settle(
    topology: &Topology,
    collected: &Collected,
    dir: &Path,
) -> Result<Settlement, SettleError> {
    let keys = Keys::new(topology);
    let validator = sim_validator(topology);
    let genesis = genesis_of(topology, &keys, &validator);
    let ledger = Ledger::create_or_open(dir, genesis, &VotesOnly)?;
    if ledger.height() > 0 {
        return Err(SettleError::Run(format!(
            "{} already holds a ledger with {} blocks; settle into an empty folder",
            dir.display(),
            ledger.height()
        )));
    }
    let mut sequencer =
        Sequencer::new(ledger, validator).map_err(|error| SettleError::Run(error.to_string()))?;
    let mut nonces = Nonces::new(CHAIN_ID, BTreeMap::new());
    let numbering = Numbering::default();
    let start = start_ms(topology);
    let slot_ms = topology.settings.slot_seconds as u64 * 1_000;

    // 1 and 2: registration and deposits.
    let (setup, deposits) = setup_transactions(topology, collected, &keys, &mut nonces, numbering)?;
    let mut transactions = 0u64;
    for chunk in setup.chunks(limits::TRANSACTIONS_PER_BLOCK) {
        transactions += commit(&mut sequencer, chunk.to_vec(), start, "setup")?;
    }

    // 3. Slot by slot.
    let mut trades = 0u64;
    for (slot, data) in &collected.slots {
        let block = slot_block(
            topology,
            &keys,
            &mut nonces,
            numbering,
            *slot,
            data,
            Vec::new(),
        );
        trades += data.trades.len() as u64;
        let time = start + (*slot as u64 + 1) * slot_ms;
        transactions += commit(&mut sequencer, block, time, &slot.to_string())?;
    }

    let state = sequencer.ledger().state();
    let balance = |key: &Keypair| {
        state
            .accounts
            .get(&key.public())
            .map_or(0, |account| account.balance + account.locked)
    };
    Ok(Settlement {
        dir: dir.to_path_buf(),
        height: sequencer.ledger().height(),
        transactions,
        trades,
        asset_net: keys
            .assets
            .iter()
            .zip(&deposits)
            .map(|(key, deposit)| Money(balance(key) - deposit.0))
            .collect(),
        area_net: keys.areas.iter().map(|key| Money(balance(key))).collect(),
        tokens_minted: Energy(state.totals.tokens_minted_mwh),
    })
}

/// Whether an asset is a grid connection.
fn is_grid(topology: &Topology, asset: AssetId) -> bool {
    matches!(
        topology.assets[asset.index()].kind,
        AssetKind::GridConnection(_)
    )
}

/// Registration of every asset (grid connections first, so that others can name them) and of
/// one area operator account per area.
fn registrations(
    topology: &Topology,
    keys: &Keys,
    nonces: &mut Nonces,
    numbering: Numbering,
) -> Vec<SignedTransaction> {
    let reference = reference_connections(topology);
    let balancing = |asset: AssetId| -> Option<AssetId> {
        reference[topology.assets[asset.index()].area.index()]
    };
    let is_grid = |asset: AssetId| is_grid(topology, asset);
    // 1. Registration: grid connections first, so that others can name them.
    let mut order: Vec<usize> = (0..topology.assets.len()).collect();
    order.sort_by_key(|index| !is_grid(AssetId(*index as u32)));
    let mut setup = Vec::new();
    for index in order {
        let asset = &topology.assets[index];
        let id = AssetId(index as u32);
        setup.push(nonces.sign(
            &keys.operator,
            Body::Register {
                account: keys.assets[index].public(),
                name: asset.path.clone(),
                role: Role::Participant,
                assets: vec![AssetSpec {
                    asset: numbering.asset(id),
                    name: asset.path.clone(),
                    energy_sell_max_mwh: sell_max(topology, index).0,
                    balancing_asset: if is_grid(id) {
                        None
                    } else {
                        balancing(id).map(|grid| numbering.asset(grid))
                    },
                }],
            },
        ));
    }
    for (index, area) in topology.areas.iter().enumerate() {
        setup.push(nonces.sign(
            &keys.operator,
            Body::Register {
                account: keys.areas[index].public(),
                name: area.path.clone(),
                role: Role::AreaOperator,
                assets: vec![],
            },
        ));
    }
    setup
}

/// What each account pays in a slot: its trades and the imbalances it settles.
fn slot_outgoing(
    data: &SlotData,
    balancing: &dyn Fn(AssetId) -> Option<AssetId>,
) -> BTreeMap<AssetId, i128> {
    let mut outgoing: BTreeMap<AssetId, i128> = BTreeMap::new();
    let mut net: BTreeMap<AssetId, i64> = BTreeMap::new();
    for trade in &data.trades {
        *outgoing.entry(trade.buyer).or_default() += trade.buyer_amount.0 as i128;
        *net.entry(trade.buyer).or_default() += trade.energy.0;
        *net.entry(trade.seller).or_default() -= trade.energy.0;
    }
    let rates: BTreeMap<AssetId, (Price, Price)> = data
        .rates
        .iter()
        .map(|(grid, tariff, feed_in)| (*grid, (*tariff, *feed_in)))
        .collect();
    for (asset, energy_in, energy_out) in &data.deliveries {
        let traded = net.get(asset).copied().unwrap_or(0);
        let imbalance = (energy_in.0 - energy_out.0) - traded;
        if let Some(grid) = balancing(*asset)
            && imbalance != 0
            && let Some((tariff, feed_in)) = rates.get(&grid)
        {
            let money = imbalance_money(imbalance, *tariff, *feed_in).0 as i128;
            if money > 0 {
                *outgoing.entry(*asset).or_default() += money;
            } else {
                *outgoing.entry(grid).or_default() -= money;
            }
        }
    }
    outgoing
}

/// The transactions that settle one slot: `block` (deposits, for a live ledger) followed by
/// the slot's trades, the grid connections' rates, the deliveries and the settlement.
fn slot_block(
    topology: &Topology,
    keys: &Keys,
    nonces: &mut Nonces,
    numbering: Numbering,
    slot: SlotIndex,
    data: &SlotData,
    mut block: Vec<SignedTransaction>,
) -> Vec<SignedTransaction> {
    let slot = &numbering.slot(slot);
    let is_grid = |asset: AssetId| is_grid(topology, asset);
    let mut grid_traded: BTreeMap<AssetId, (i64, i64)> = BTreeMap::new();
    let entries: Vec<TradeEntry> = data
        .trades
        .iter()
        .map(|trade| {
            for (asset, bought) in [(trade.buyer, true), (trade.seller, false)] {
                if is_grid(asset) {
                    let entry = grid_traded.entry(asset).or_default();
                    if bought {
                        entry.0 += trade.energy.0;
                    } else {
                        entry.1 += trade.energy.0;
                    }
                }
            }
            TradeEntry {
                trade_id: trade.trade,
                buyer_asset: numbering.asset(trade.buyer),
                seller_asset: numbering.asset(trade.seller),
                energy_mwh: trade.energy.0,
                buyer_amount: trade.buyer_amount.0,
                seller_amount: trade.seller_amount.0,
                fees: trade
                    .fees
                    .iter()
                    .map(|(area, fee)| (keys.areas[area.index()].public(), fee.0))
                    .collect(),
                surplus: trade
                    .surplus
                    .map(|(area, money)| (keys.areas[area.index()].public(), money.0)),
            }
        })
        .collect();
    for chunk in entries.chunks(limits::TRADES_PER_BATCH) {
        block.push(nonces.sign(
            &keys.market,
            Body::RecordTrades {
                slot: *slot,
                trades: chunk.to_vec(),
            },
        ));
    }
    if !data.rates.is_empty() {
        block.push(
            nonces.sign(
                &keys.market,
                Body::PostPrices {
                    slot: *slot,
                    prices: data
                        .rates
                        .iter()
                        .map(|(grid, tariff, feed_in)| BalancingPrice {
                            balancing_asset: numbering.asset(*grid),
                            shortage_price: tariff.0,
                            surplus_price: feed_in.0,
                        })
                        .collect(),
                },
            ),
        );
    }
    // Grid connections deliver what they traded; the ledger derives the imbalance energy
    // they supplied or absorbed from the other assets' deliveries.
    let mut deliveries: Vec<Delivery> = grid_traded
        .iter()
        .map(|(asset, (bought, sold))| Delivery {
            asset: numbering.asset(*asset),
            energy_in_mwh: *bought,
            energy_out_mwh: *sold,
        })
        .collect();
    deliveries.extend(
        data.deliveries
            .iter()
            .filter(|(_, energy_in, energy_out)| energy_in.0 != 0 || energy_out.0 != 0)
            .map(|(asset, energy_in, energy_out)| Delivery {
                asset: numbering.asset(*asset),
                energy_in_mwh: energy_in.0,
                energy_out_mwh: energy_out.0,
            }),
    );
    // Assets that traded but metered nothing still need their (zero) delivery.
    let delivered: std::collections::BTreeSet<u32> =
        deliveries.iter().map(|delivery| delivery.asset).collect();
    let mut missing: Vec<u32> = data
        .trades
        .iter()
        .flat_map(|trade| [numbering.asset(trade.buyer), numbering.asset(trade.seller)])
        .filter(|asset| !delivered.contains(asset))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    deliveries.extend(missing.into_iter().map(|asset| Delivery {
        asset,
        energy_in_mwh: 0,
        energy_out_mwh: 0,
    }));
    for chunk in deliveries.chunks(limits::ITEMS_PER_BATCH) {
        block.push(nonces.sign(
            &keys.meter,
            Body::PostDeliveries {
                slot: *slot,
                deliveries: chunk.to_vec(),
                data_hash: None,
            },
        ));
    }
    block.push(nonces.sign(&keys.market, Body::SettleSlot { slot: *slot }));
    block
}

fn commit(
    sequencer: &mut Sequencer,
    transactions: Vec<SignedTransaction>,
    time_ms: u64,
    slot: &str,
) -> Result<u64, SettleError> {
    let kinds: BTreeMap<nestgrid_ledger::Hash, &'static str> = transactions
        .iter()
        .map(|tx| (tx.hash(), tx.transaction.body.kind()))
        .collect();
    let committed = sequencer.commit(transactions, time_ms, &VotesOnly)?;
    if let Some((hash, code)) = committed.rejected.first() {
        return Err(SettleError::Refused {
            slot: slot.to_string(),
            kind: kinds[hash],
            code: *code,
        });
    }
    Ok(committed.applied as u64)
}

/// Where the ledger and the bills disagree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{name}: the ledger says {ledger}, the bills say {bills}")]
pub struct Mismatch {
    /// The asset or area.
    pub name: String,
    /// Net money on the ledger.
    pub ledger: Money,
    /// Net money in the bills.
    pub bills: Money,
}

/// Checks that each asset's account ended with its deposit plus its bill's total, and each
/// area operator with the fees and surplus its area collected. Returns the number of accounts
/// compared.
pub fn compare(
    topology: &Topology,
    outcome: &Outcome,
    settlement: &Settlement,
) -> Result<usize, Mismatch> {
    compare_nets(
        topology,
        outcome,
        &settlement.asset_net,
        &settlement.area_net,
    )
}

/// [`compare`] on the net money of each asset's account (its balance at the end minus its
/// deposit) and of each area operator's account, by asset and by area.
pub fn compare_nets(
    topology: &Topology,
    outcome: &Outcome,
    asset_net: &[Money],
    area_net: &[Money],
) -> Result<usize, Mismatch> {
    for (index, account) in outcome.assets.iter().enumerate() {
        let bills = -account.net_cost();
        let ledger = asset_net.get(index).copied().unwrap_or(Money::ZERO);
        if ledger != bills {
            return Err(Mismatch {
                name: topology.assets[index].path.clone(),
                ledger,
                bills,
            });
        }
    }
    for (index, account) in outcome.areas.iter().enumerate() {
        let bills = account.fees_collected + account.surplus_collected;
        let ledger = area_net.get(index).copied().unwrap_or(Money::ZERO);
        if ledger != bills {
            return Err(Mismatch {
                name: topology.areas[index].path.clone(),
                ledger,
                bills,
            });
        }
    }
    Ok(outcome.assets.len() + outcome.areas.len())
}

/// The ledger of a live exchange (`nestgrid serve --settle`): one embedded validator commits
/// one block per closed slot. Its keys derive from a secret kept with the exchange, so nobody
/// else can sign for its accounts. At creation every asset and area operator is registered;
/// each slot's block then has the gateway deposit what the slot's buyers and imbalance payers
/// owe, followed by the slot's trades, rates, deliveries and settlement, as for a run.
pub struct LiveLedger<'t> {
    topology: &'t Topology,
    /// Per area: the grid connection that settles its imbalances.
    reference: Vec<Option<AssetId>>,
    keys: Keys,
    sequencer: Sequencer,
    nonces: Nonces,
}

impl std::fmt::Debug for LiveLedger<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveLedger")
            .field("height", &self.sequencer.ledger().height())
            .finish()
    }
}

impl<'t> LiveLedger<'t> {
    /// Opens the ledger in `dir`, creating and registering it at the first start. `start_ms`
    /// is the genesis time.
    pub fn open(
        topology: &'t Topology,
        dir: &Path,
        secret: &[u8; 32],
    ) -> Result<LiveLedger<'t>, SettleError> {
        let keys = Keys::secret(topology, secret);
        let validator = live_key(secret, "validator");
        let genesis = genesis_of(topology, &keys, &validator);
        let ledger = Ledger::create_or_open(dir, genesis, &VotesOnly)?;
        let mut nonces = Nonces::new(
            CHAIN_ID,
            ledger
                .state()
                .accounts
                .iter()
                .map(|(key, account)| (*key, account.nonce))
                .collect(),
        );
        let fresh = ledger.height() == 0;
        let mut sequencer = Sequencer::new(ledger, validator)
            .map_err(|error| SettleError::Run(error.to_string()))?;
        if fresh {
            let setup = registrations(topology, &keys, &mut nonces, Numbering::default());
            let start = start_ms(topology);
            for chunk in setup.chunks(limits::TRANSACTIONS_PER_BLOCK) {
                commit(&mut sequencer, chunk.to_vec(), start, "setup")?;
            }
        }
        Ok(LiveLedger {
            topology,
            reference: reference_connections(topology),
            keys,
            sequencer,
            nonces,
        })
    }

    /// Whether `slot` is settled on the ledger already.
    pub fn is_settled(&self, slot: SlotIndex) -> bool {
        self.sequencer
            .ledger()
            .state()
            .settled
            .contains(&(slot as u64))
    }

    /// Blocks committed.
    pub fn height(&self) -> u64 {
        self.sequencer.ledger().height()
    }

    /// Settles one slot in one block at `time_ms`; returns the block's height.
    pub fn settle_slot(
        &mut self,
        slot: SlotIndex,
        data: &SlotData,
        time_ms: u64,
    ) -> Result<u64, SettleError> {
        let topology = self.topology;
        let reference = &self.reference;
        let balancing = |asset: AssetId| -> Option<AssetId> {
            reference[topology.assets[asset.index()].area.index()]
        };
        let mut block = Vec::new();
        for (asset, amount) in slot_outgoing(data, &balancing) {
            if amount > 0 {
                let amount = i64::try_from(amount)
                    .map_err(|_| SettleError::Run("a deposit overflows".into()))?;
                block.push(self.nonces.sign(
                    &self.keys.gateway,
                    Body::Deposit {
                        account: self.keys.assets[asset.index()].public(),
                        amount,
                    },
                ));
            }
        }
        let block = slot_block(
            topology,
            &self.keys,
            &mut self.nonces,
            Numbering::default(),
            slot,
            data,
            block,
        );
        // A slot's block may exceed the block limit only for very large grids: commit in
        // chunks, the settlement last.
        for chunk in block.chunks(limits::TRANSACTIONS_PER_BLOCK) {
            commit(
                &mut self.sequencer,
                chunk.to_vec(),
                time_ms,
                &slot.to_string(),
            )?;
        }
        Ok(self.height())
    }

    /// Each asset's balance on the ledger (money available plus locked), by asset.
    pub fn asset_balances(&self) -> Vec<Money> {
        let state = self.sequencer.ledger().state();
        self.keys
            .assets
            .iter()
            .map(|key| {
                Money(
                    state
                        .accounts
                        .get(&key.public())
                        .map_or(0, |account| account.balance + account.locked),
                )
            })
            .collect()
    }

    /// What the gateway deposited for each asset over the ledger's life, read from its
    /// blocks.
    pub fn deposits(&self) -> Result<Vec<Money>, SettleError> {
        let ledger = self.sequencer.ledger();
        let index: BTreeMap<PublicKey, usize> = self
            .keys
            .assets
            .iter()
            .enumerate()
            .map(|(index, key)| (key.public(), index))
            .collect();
        let mut deposits = vec![Money::ZERO; self.keys.assets.len()];
        for height in 1..=ledger.height() {
            let Some(block) = ledger.block(height)? else {
                continue;
            };
            for tx in &block.transactions {
                if let Body::Deposit { account, amount } = &tx.transaction.body
                    && let Some(&asset) = index.get(account)
                {
                    deposits[asset] += Money(*amount);
                }
            }
        }
        Ok(deposits)
    }
}
