//! The simulator: runs a [`Topology`] slot by slot and tick by tick, settles deliveries and
//! writes results.
//!
//! Main types: [`Simulation`] (one run), [`Recorder`] (where per-trade and per-slot records go:
//! CSV files with [`output::CsvRecorder`], or nowhere with [`NullRecorder`] for benchmarks), and
//! [`Outcome`] (per-asset and per-area totals, from which bills and KPIs are written).
//!
//! Invariants checked by the tests: every trade chain books each boundary's fee once, to the
//! area whose boundary the energy crosses; buyer paid = seller received + fees; for every area
//! and slot, production + discharge + grid supply + import = consumption + charge + grid
//! absorption + export. Same topology and seed: identical records.

mod accounts;
mod chain;
mod engine;
pub mod output;

pub use accounts::{AreaAccount, AreaSlot, AssetAccount};
pub use engine::{Engine, OrderRef, SubmitError};

use nestgrid_agents::AgentError;
use nestgrid_grid::Topology;
use nestgrid_types::{AreaId, AssetId, Energy, Money, Participant, Price, SlotIndex, TickIndex};

/// Why a run could not be done.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The agents could not be built or planned.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// The tree is deeper than the engine supports.
    #[error("the area tree is deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A curve region that the engine cannot clear: an area below a `curve` area with another
    /// mechanism, or a percentage fee inside the region.
    #[error("area {area}: {reason}")]
    CurveRegion {
        /// The area's path.
        area: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A slot was opened while another was still open.
    #[error("a slot is still open; close it before opening the next")]
    SlotStillOpen,
    /// Writing results failed.
    #[error("writing {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// One trade as one market saw it. A match produces one record per market on its path, all
/// with the same `trade` number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeRecord {
    /// Number of the match (shared by the records of its chain).
    pub trade: u64,
    /// Slot of delivery.
    pub slot: SlotIndex,
    /// Tick of the trading window at which it matched.
    pub tick: TickIndex,
    /// The market (area) that records it.
    pub market: AreaId,
    /// The buyer as this market saw it.
    pub buyer: Participant,
    /// The seller as this market saw it.
    pub seller: Participant,
    /// Energy.
    pub energy: Energy,
    /// Price in this market.
    pub price: Price,
    /// Fee this market's area collected for the energy crossing its boundary (zero where the
    /// path turns).
    pub fee: Money,
    /// Operator surplus this market kept: nonzero only in the market where a two-price
    /// mechanism matched (there `price` is the buyer's price; the seller's side got
    /// `price × energy − surplus`).
    pub surplus: Money,
}

/// One match as its two owners see it: what the buyer paid and the seller received, fees
/// included, and which of their orders traded. One per match (a [`TradeRecord`] is one per
/// market on the path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillRecord {
    /// Number of the match (as in its [`TradeRecord`]s).
    pub trade: u64,
    /// Slot of delivery.
    pub slot: SlotIndex,
    /// Tick at which it matched.
    pub tick: TickIndex,
    /// The market where the two orders met.
    pub market: AreaId,
    /// The buying asset.
    pub buyer: AssetId,
    /// The selling asset.
    pub seller: AssetId,
    /// The buying order.
    pub buy_order: OrderRef,
    /// The selling order.
    pub sell_order: OrderRef,
    /// Energy.
    pub energy: Energy,
    /// Price in the buyer's own market (what it pays per kWh, fees included).
    pub buyer_price: Price,
    /// Price in the seller's own market (what it receives per kWh, after fees).
    pub seller_price: Price,
    /// What the buyer pays in total.
    pub buyer_pays: Money,
    /// What the seller receives in total.
    pub seller_receives: Money,
    /// Grid fees on the buyer's side of the path (included in `buyer_pays`).
    pub buyer_fees: Money,
    /// Grid fees on the seller's side of the path (deducted from `seller_receives`).
    pub seller_fees: Money,
}

/// Receives the records of a run as they happen.
pub trait Recorder {
    /// One trade record.
    fn trade(&mut self, _record: &TradeRecord) {}
    /// One match as its owners see it.
    fn fill(&mut self, _record: &FillRecord) {}
    /// An asset's imbalance in a finished slot (metered net minus traded net, positive when it
    /// took more than it bought) and what it paid for it (negative when it was paid).
    fn imbalance(&mut self, _slot: SlotIndex, _asset: AssetId, _energy: Energy, _paid: Money) {}
    /// One area's record for a finished slot.
    fn area_slot(&mut self, _slot: SlotIndex, _area: AreaId, _record: &AreaSlot) {}
    /// Energy stored by a battery or vehicle at the end of a slot.
    fn stored(&mut self, _slot: SlotIndex, _asset: AssetId, _stored: Energy) {}
    /// Metered energy into and out of an asset in a finished slot, before imbalances are
    /// settled. Called for every asset except grid connections, which deliver what they traded
    /// plus the imbalances they settle.
    fn delivery(
        &mut self,
        _slot: SlotIndex,
        _asset: AssetId,
        _energy_in: Energy,
        _energy_out: Energy,
    ) {
    }
    /// The rates a grid connection settled the slot's imbalances at: its tariff for
    /// shortages and its feed-in rate for surpluses. Called once per grid connection and slot,
    /// before the slot's deliveries.
    fn imbalance_rates(
        &mut self,
        _slot: SlotIndex,
        _grid: AssetId,
        _tariff: Price,
        _feed_in: Price,
    ) {
    }
}

/// A recorder that keeps nothing (benchmarks).
#[derive(Debug, Default)]
pub struct NullRecorder;

impl Recorder for NullRecorder {}

/// Totals of a finished run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Per asset, in asset order.
    pub assets: Vec<AssetAccount>,
    /// Per area, in area order.
    pub areas: Vec<AreaAccount>,
    /// Number of matches.
    pub matches: u64,
    /// Slots simulated.
    pub slots: u32,
}

/// One simulation run.
pub struct Simulation<'t> {
    engine: Engine<'t>,
    topology: &'t Topology,
}

impl<'t> Simulation<'t> {
    /// Prepares a run of `topology`.
    pub fn new(topology: &'t Topology) -> Result<Self, SimError> {
        Ok(Simulation {
            engine: Engine::new(topology)?,
            topology,
        })
    }

    /// Runs every slot, sending records to `recorder` and calling `progress` with the number of
    /// slots done after each slot.
    pub fn run(
        mut self,
        recorder: &mut dyn Recorder,
        progress: &mut dyn FnMut(u32),
    ) -> Result<Outcome, SimError> {
        let slots = self.topology.settings.slot_count;
        for slot in 0..slots {
            self.engine.run_slot(slot, recorder)?;
            progress(slot + 1);
        }
        Ok(Outcome {
            assets: std::mem::take(&mut self.engine.asset_accounts),
            areas: std::mem::take(&mut self.engine.area_accounts),
            matches: self.engine.trade_count,
            slots,
        })
    }
}

/// Runs `topology` with no records kept (benchmarks, quick checks).
pub fn run_quiet(topology: &Topology) -> Result<Outcome, SimError> {
    Simulation::new(topology)?.run(&mut NullRecorder, &mut |_| {})
}
