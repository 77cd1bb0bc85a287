//! The slot/tick loop.
//!
//! Per slot: every agent plans its legs; each leg becomes one live order in its area's market.
//! Per tick, in this order:
//! 1. **Re-price**: orders whose ramp steps at this tick get their new price, in their own
//!    market and in every market they have been forwarded to.
//! 2. **Clear, leaves first** (`bottom_up` order). An area's market sees
//!    - its *book*: orders of its own assets, and residual orders its children's area agents
//!      forwarded up (seen as that child area: owners hidden);
//!    - the orders its parent's area agent forwards down: the best
//!      [`MAX_FORWARDED_DOWN_PER_TICK`] per side of the parent's book and of what the parent
//!      itself was forwarded from above, excluding orders that came from this area's own subtree
//!      (seen as the parent area).
//!
//!    A match between a book order and either kind is applied to the original orders at once
//!    and recorded in every market on the energy's path ([`crate::chain`]).
//! 3. **Forward up**: a residual order that has waited `forward_after_ticks` in a market moves to
//!    the parent's book, its price crossing the area's boundary fee.
//! 4. **Forward down**: top-down, each area with children computes the list its children will
//!    see at the next tick.
//!
//! Bids travel (up or down) only between two-sided markets; in a one-sided (pay-as-offer) market
//! buyers only take offers that reach them. Orders exist once: a forwarded order is the same
//! order seen in another market, so filling it anywhere fills it everywhere, and the whole
//! chain below it trades with it.
//!
//! A match may carry two prices (Huang's auction, trade reduction): the seller's side of the path
//! is priced from the seller's price, the buyer's side from the buyer's, and the matching
//! market's area keeps the difference as operator surplus.
//!
//! Cost: every market is visited once a tick, and one whose cached best prices cannot cross the
//! first orders its parent forwards costs O(1). Re-pricing runs only at ticks where some ramp
//! steps and touches every order and book entry once (on all cores for large runs). A clearing
//! sorts only the orders that can cross. A down list is rebuilt only when its inputs changed, by
//! merging two sorted lists of at most 2K entries (K = [`MAX_FORWARDED_DOWN_PER_TICK`]). Each
//! order sits in at most depth + 1 books, so the work of a tick is linear in the number of
//! assets (docs/benchmarks.md has the measured growth).

use crate::accounts::{AreaAccount, AreaSlot, AssetAccount};
use crate::chain::Chain;
use crate::{FillRecord, Recorder, SimError, TradeRecord};
use nestgrid_agents::{
    AssetAgent, Ramp, SeenPrices, build_agents, reference_connections, seen_prices,
};
use nestgrid_grid::Topology;
use nestgrid_market::Scratch;
use nestgrid_market::tree::{TREE_ORDER_ENERGY_MAX, TreeArea, TreeClearing, TreeOrder};
use nestgrid_types::limits::{MAX_AREA_DEPTH, MAX_FORWARDED_DOWN_PER_TICK};
use nestgrid_types::{
    AreaId, AssetId, Energy, GridFee, Match, Mechanism, Money, Order, Participant, Price, Side,
    TickIndex,
};
use rayon::prelude::*;

const NONE: u32 = u32::MAX;

/// The owner a curve region's clearing gives the orders its parent forwards down.
const OUTSIDE: u64 = u64::MAX;

/// Below this many live orders in a slot, re-pricing stays on one thread.
const PARALLEL_MIN_ORDERS: usize = 50_000;

/// One order of one slot, wherever it is seen: what does not change while it trades. Its energy
/// still to trade and its prices live in [`Hot`].
#[derive(Clone, Debug)]
struct LiveOrder {
    asset: AssetId,
    origin: AreaId,
    ramp: Ramp,
    side: Side,
    /// Highest level the order has been forwarded to.
    top: u8,
}

/// What changes while orders trade, packed per order so that the random reads of a tick (is it
/// filled? what is its price up there?) touch one small record: `[remaining, price at level 0,
/// price at level 1, ...]`, `stride` = deepest level + 2 integers per order. At 100,000 houses
/// this is about 13 MB instead of five times that inside the order records.
#[derive(Clone, Debug, Default)]
struct Hot {
    data: Vec<i64>,
    stride: usize,
}

impl Hot {
    fn new(deepest_level: usize) -> Self {
        Hot {
            data: Vec::new(),
            stride: deepest_level + 2,
        }
    }
    fn clear(&mut self) {
        self.data.clear();
    }
    /// Adds an order's record; returns nothing (its index is the order's index).
    fn push(&mut self, remaining: Energy, price: Price) {
        self.data.push(remaining.0);
        self.data.push(price.0);
        self.data.extend(std::iter::repeat_n(0, self.stride - 2));
    }
    #[inline]
    fn remaining(&self, order: u32) -> Energy {
        Energy(self.data[order as usize * self.stride])
    }
    #[inline]
    fn is_live(&self, order: u32) -> bool {
        self.data[order as usize * self.stride] > 0
    }
    #[inline]
    fn fill(&mut self, order: u32, energy: Energy) {
        self.data[order as usize * self.stride] -= energy.0;
    }
    #[inline]
    fn price(&self, order: u32, level: usize) -> Price {
        Price(self.data[order as usize * self.stride + 1 + level])
    }
    #[inline]
    fn set_price(&mut self, order: u32, level: usize, price: Price) {
        self.data[order as usize * self.stride + 1 + level] = price.0;
    }
}

/// An order in a book. Price, side and arrival are kept inline so that scanning a book is a
/// sequential read; the live order is only read for orders that can cross.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Price in this market (refreshed at re-price ticks).
    price: Price,
    /// Index of the live order.
    order: u32,
    /// The child area it came through (`NONE` for the area's own assets).
    via: u32,
    /// Tick it arrived in this market.
    arrived: TickIndex,
    side: Side,
    /// Forwarded to the parent already, or never will be.
    settled: bool,
    /// Steps from the order's own market up to this one.
    level: u8,
}

/// One area's book with cached facts that let an idle market be skipped in O(1).
#[derive(Clone, Debug)]
struct Book {
    entries: Vec<Entry>,
    /// Highest bid price among the entries (`Price(i64::MIN)` when none). May include an
    /// order filled since the last re-price sweep: a conservative bound, never too low.
    best_bid: Price,
    /// Lowest offer price among the entries (`Price(i64::MAX)` when none); conservative.
    best_offer: Price,
    /// Entries before this index are all settled (forwarded or never forwarded).
    unsettled_from: usize,
    /// Changed since this area's down list was last computed.
    changed: bool,
}

impl Default for Book {
    fn default() -> Self {
        Book {
            entries: Vec::new(),
            best_bid: Price(i64::MIN),
            best_offer: Price(i64::MAX),
            unsettled_from: 0,
            changed: true,
        }
    }
}

impl Book {
    fn push(&mut self, entry: Entry) {
        match entry.side {
            Side::Buy => self.best_bid = self.best_bid.max(entry.price),
            Side::Sell => self.best_offer = self.best_offer.min(entry.price),
        }
        self.entries.push(entry);
        self.changed = true;
    }

    fn refresh(&mut self) {
        self.best_bid = Price(i64::MIN);
        self.best_offer = Price(i64::MAX);
        for entry in &self.entries {
            match entry.side {
                Side::Buy => self.best_bid = self.best_bid.max(entry.price),
                Side::Sell => self.best_offer = self.best_offer.min(entry.price),
            }
        }
        self.unsettled_from = self
            .entries
            .iter()
            .position(|entry| !entry.settled)
            .unwrap_or(self.entries.len());
        self.changed = true;
    }
}

/// An order forwarded down, with its price in the forwarding area's market.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DownEntry {
    order: u32,
    price: Price,
}

/// Orders sorted best first: bids by price descending, offers ascending, ties by order index.
#[derive(Clone, Debug, Default)]
struct DownList {
    bids: Vec<DownEntry>,
    offers: Vec<DownEntry>,
}

/// An order of the open slot: its number in the slot's order table (the plan's orders first,
/// then those submitted, in submission order). Valid until the next [`Engine::open_slot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrderRef(pub u32);

/// Why [`Engine::submit`] refused an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No slot is open.
    #[error("no slot is open for trading")]
    NoOpenSlot,
    /// The asset does not exist.
    #[error("asset {0} does not exist")]
    UnknownAsset(u32),
    /// Energy must be positive and price must be a real price.
    #[error("an order needs positive energy")]
    NotPositive,
    /// The slot's trading window has no tick left.
    #[error("the slot's trading window is over")]
    WindowOver,
}

/// The simulation of one topology.
pub struct Engine<'t> {
    topology: &'t Topology,
    agents: Vec<AssetAgent>,
    ticks: u32,
    forward_after: u32,
    parent: Vec<u32>,
    two_sided: Vec<bool>,
    /// Each area's boundary fee (a compact copy of the topology's).
    fees: Vec<GridFee>,
    has_children: Vec<bool>,
    top_down: Vec<AreaId>,
    /// Grid connection used for each area's imbalances.
    reference_grid: Vec<Option<AssetId>>,
    orders: Vec<LiveOrder>,
    hot: Hot,
    books: Vec<Book>,
    down: Vec<DownList>,
    /// Per area: the best orders of its own book that may be forwarded down (at most twice the
    /// down-list length), recomputed only when the book changed.
    own_best: Vec<DownList>,
    /// A list to merge into without allocating.
    spare_down: DownList,
    /// Bumped whenever an area's down list is recomputed.
    down_version: Vec<u64>,
    /// The parent's `down_version` each area's own down list was computed from.
    parent_version_seen: Vec<u64>,
    bids: Vec<Order>,
    offers: Vec<Order>,
    matches: Vec<Match>,
    scratch: Scratch,
    chain: Chain,
    path: Vec<AreaId>,
    /// Per-slot area records (reset every slot).
    slot_areas: Vec<AreaSlot>,
    /// Per-slot bought/sold per asset.
    slot_bought: Vec<Energy>,
    slot_sold: Vec<Energy>,
    /// Per grid connection: energy supplied and absorbed in this slot, imbalances included.
    slot_grid: Vec<(Energy, Energy)>,
    seen: Vec<Option<SeenPrices>>,
    seen_constant: bool,
    /// Distinct update intervals of this slot's orders whose price moves.
    intervals: Vec<u32>,
    /// Totals.
    pub(crate) asset_accounts: Vec<AssetAccount>,
    pub(crate) area_accounts: Vec<AreaAccount>,
    /// Energy stored per storage asset at the end of each slot (for reports), by asset.
    pub(crate) trade_count: u64,
    trade_id: u64,
    /// The slot open for trading, and the next tick of its window.
    open: Option<u32>,
    next_tick: TickIndex,
    /// Areas islanded in the open slot: they neither forward orders to their parent nor see
    /// what it forwards down.
    islanded: Vec<bool>,
    /// Islanding requested for the next slot.
    islanded_next: Vec<bool>,
    /// Per area: the energy its markets may still import and export across its boundary in
    /// the open slot (`i64::MAX` without a limit). Empty when no area has a limit.
    room_in: Vec<i64>,
    room_out: Vec<i64>,
    /// Per area: whether it clears by bid curves (as part of a curve region).
    curve: Vec<bool>,
    /// The top area of each curve region (a curve area whose parent is not one).
    curve_tops: Vec<AreaId>,
    /// The areas a tick visits leaves first: every area that clears its own book, and the
    /// areas of curve regions below another market (their residuals climb out); a region at the
    /// root has nowhere to send them.
    stepped: Vec<AreaId>,
    /// Per curve region: the slot, order count and parent's down-list version it was last
    /// cleared at (cleared again only when orders were added or its parent's offers changed).
    curve_cleared: Vec<Option<(u32, usize, u64)>>,
    tree_areas: Vec<TreeArea>,
    tree_orders: Vec<TreeOrder>,
    /// Live-order index of each entry of `tree_orders`.
    tree_keys: Vec<u32>,
    tree_out: TreeClearing,
}

impl<'t> Engine<'t> {
    /// Prepares a run: builds the agents and the per-area tables.
    pub fn new(topology: &'t Topology) -> Result<Self, SimError> {
        let agents = build_agents(topology)?;
        let area_count = topology.areas.len();
        if topology
            .areas
            .iter()
            .any(|area| area.depth as usize >= MAX_AREA_DEPTH)
        {
            return Err(SimError::TooDeep {
                limit: MAX_AREA_DEPTH,
            });
        }
        let parent = topology
            .areas
            .iter()
            .map(|area| area.parent.map_or(NONE, |parent| parent.0))
            .collect();
        let two_sided = topology
            .areas
            .iter()
            .map(|area| area.mechanism.is_two_sided())
            .collect();
        let has_children = topology
            .areas
            .iter()
            .map(|area| !area.children.is_empty())
            .collect();
        let mut top_down = topology.bottom_up.clone();
        top_down.reverse();
        let reference_grid = reference_connections(topology);
        let curve: Vec<bool> = topology
            .areas
            .iter()
            .map(|area| area.mechanism == Mechanism::Curve)
            .collect();
        let mut curve_tops = Vec::new();
        for (index, area) in topology.areas.iter().enumerate() {
            if !curve[index] {
                if area.parent.is_some_and(|parent| curve[parent.index()]) {
                    return Err(SimError::CurveRegion {
                        area: area.path.clone(),
                        reason: "every area below a `curve` area clears by curves with it",
                    });
                }
                continue;
            }
            match area.parent {
                Some(parent) if curve[parent.index()] => {
                    if matches!(area.fee, GridFee::PartsPerMillion(_)) {
                        return Err(SimError::CurveRegion {
                            area: area.path.clone(),
                            reason: "fees inside a `curve` region must be constant",
                        });
                    }
                }
                _ => curve_tops.push(AreaId(index as u32)),
            }
        }
        let seen_constant = topology.assets.iter().all(|asset| match &asset.kind {
            nestgrid_grid::AssetKind::GridConnection(spec) => {
                matches!(spec.tariff, nestgrid_grid::PriceSeries::Constant(_))
                    && matches!(spec.feed_in, nestgrid_grid::PriceSeries::Constant(_))
            }
            _ => true,
        });
        Ok(Engine {
            topology,
            agents,
            ticks: topology.settings.ticks_per_slot().max(1),
            forward_after: topology.settings.forward_after_ticks,
            parent,
            two_sided,
            fees: topology.areas.iter().map(|area| area.fee).collect(),
            has_children,
            top_down,
            reference_grid,
            orders: Vec::new(),
            hot: Hot::new(
                topology
                    .areas
                    .iter()
                    .map(|area| area.depth as usize)
                    .max()
                    .unwrap_or(0),
            ),
            books: vec![Book::default(); area_count],
            down: vec![DownList::default(); area_count],
            own_best: vec![DownList::default(); area_count],
            spare_down: DownList::default(),
            down_version: vec![0; area_count],
            parent_version_seen: vec![u64::MAX; area_count],
            bids: Vec::new(),
            offers: Vec::new(),
            matches: Vec::new(),
            scratch: Scratch::default(),
            chain: Chain::default(),
            path: Vec::new(),
            slot_areas: vec![AreaSlot::default(); area_count],
            slot_bought: vec![Energy::ZERO; topology.assets.len()],
            slot_sold: vec![Energy::ZERO; topology.assets.len()],
            slot_grid: vec![(Energy::ZERO, Energy::ZERO); topology.assets.len()],
            seen: Vec::new(),
            seen_constant,
            intervals: Vec::new(),
            asset_accounts: vec![AssetAccount::default(); topology.assets.len()],
            area_accounts: vec![AreaAccount::default(); area_count],
            trade_count: 0,
            trade_id: 0,
            open: None,
            next_tick: 0,
            islanded: vec![false; area_count],
            islanded_next: vec![false; area_count],
            room_in: Vec::new(),
            room_out: Vec::new(),
            stepped: topology
                .bottom_up
                .iter()
                .copied()
                .filter(|area| !curve[area.index()] || !curve[0])
                .collect(),
            curve,
            curve_cleared: vec![None; curve_tops.len()],
            curve_tops,
            tree_areas: Vec::new(),
            tree_orders: Vec::new(),
            tree_keys: Vec::new(),
            tree_out: TreeClearing::default(),
        })
    }

    /// Energy stored by an asset now (batteries and vehicles).
    pub fn stored(&self, asset: AssetId) -> Option<Energy> {
        self.agents[asset.index()].stored()
    }

    /// Runs one slot: plan, trade tick by tick, deliver and settle. Records go to `recorder`.
    pub fn run_slot(&mut self, slot: u32, recorder: &mut dyn Recorder) -> Result<(), SimError> {
        self.open_slot(slot)?;
        while self.tick(recorder).is_some() {}
        self.close_slot(recorder);
        Ok(())
    }

    /// Sets the energy a battery holds (after a restart, from the last closed slot's record).
    pub fn restore_stored(&mut self, asset: AssetId, energy: Energy) {
        if let Some(agent) = self.agents.get_mut(asset.index()) {
            agent.restore_stored(energy);
        }
    }

    /// Ticks in a slot's trading window.
    pub fn ticks_per_slot(&self) -> u32 {
        self.ticks
    }

    /// The slot open for trading, if any.
    pub fn open_slot_index(&self) -> Option<u32> {
        self.open
    }

    /// The next tick [`Engine::tick`] will run (equal to [`Engine::ticks_per_slot`] once the
    /// window is over).
    pub fn next_tick(&self) -> TickIndex {
        self.next_tick
    }

    /// Runs the next tick of the open slot's trading window: re-price, clear leaves first,
    /// forward. Returns the tick it ran, or `None` when no slot is open or its window is over.
    pub fn tick(&mut self, recorder: &mut dyn Recorder) -> Option<TickIndex> {
        let slot = self.open?;
        let tick = self.next_tick;
        if tick >= self.ticks {
            return None;
        }
        if tick > 0 {
            self.reprice(tick);
        }
        for region in 0..self.curve_tops.len() {
            self.clear_curve_region(slot, tick, region, recorder);
        }
        for index in 0..self.stepped.len() {
            let area = self.stepped[index];
            if !self.curve[area.index()] {
                self.clear_area(slot, tick, area, recorder);
            }
            self.forward_up(tick, area);
        }
        if tick + 1 < self.ticks {
            self.forward_down(tick);
        }
        self.next_tick = tick + 1;
        Some(tick)
    }

    /// Adds an order to the open slot: `energy` at a constant `price` for `asset`, in its own
    /// area's market, trading from the next tick on like any other order (forwarded up and
    /// down by the area agents). External assets trade only this way.
    pub fn submit(
        &mut self,
        asset: AssetId,
        side: Side,
        energy: Energy,
        price: Price,
    ) -> Result<OrderRef, SubmitError> {
        if self.open.is_none() {
            return Err(SubmitError::NoOpenSlot);
        }
        if self.next_tick >= self.ticks {
            return Err(SubmitError::WindowOver);
        }
        let Some(spec) = self.topology.assets.get(asset.index()) else {
            return Err(SubmitError::UnknownAsset(asset.0));
        };
        if !energy.is_positive() {
            return Err(SubmitError::NotPositive);
        }
        let area = spec.area;
        let order = self.orders.len() as u32;
        self.orders.push(LiveOrder {
            asset,
            origin: area,
            side,
            ramp: Ramp::constant(price),
            top: 0,
        });
        self.hot.push(energy, price);
        self.books[area.index()].push(Entry {
            price,
            order,
            via: NONE,
            arrived: self.next_tick,
            side,
            settled: false,
            level: 0,
        });
        Ok(OrderRef(order))
    }

    /// Withdraws an order of the open slot; returns the energy it still had (zero when it was
    /// filled, already withdrawn, or not an order of this slot).
    pub fn cancel(&mut self, order: OrderRef) -> Energy {
        if self.open.is_none() || order.0 as usize >= self.orders.len() {
            return Energy::ZERO;
        }
        let left = self.hot.remaining(order.0);
        if left.is_positive() {
            self.hot.fill(order.0, left);
            // Lists forwarded down notice filled entries; books drop them at the next sweep.
        }
        left.max(Energy::ZERO)
    }

    /// Energy an order of the open slot still has to trade (zero once the slot closed).
    pub fn remaining(&self, order: OrderRef) -> Energy {
        if self.open.is_none() || order.0 as usize >= self.orders.len() {
            return Energy::ZERO;
        }
        self.hot.remaining(order.0).max(Energy::ZERO)
    }

    /// The asset that owns an order of the open slot.
    pub fn order_asset(&self, order: OrderRef) -> Option<AssetId> {
        self.orders.get(order.0 as usize).map(|order| order.asset)
    }

    /// Resuming a slot after a restart: `energy` that `asset` already traded on `side` in
    /// this slot before the restart. It counts toward the slot's delivery and is taken off the
    /// asset's planned orders on that side (first orders first), so nothing is traded twice.
    pub fn resume_traded(&mut self, asset: AssetId, side: Side, energy: Energy) {
        let Some(bought) = self.slot_bought.get_mut(asset.index()) else {
            return;
        };
        match side {
            Side::Buy => *bought += energy,
            Side::Sell => self.slot_sold[asset.index()] += energy,
        }
        let mut left = energy;
        for (index, order) in self.orders.iter().enumerate() {
            if !left.is_positive() {
                break;
            }
            if order.asset != asset || order.side != side {
                continue;
            }
            let take = self.hot.remaining(index as u32).min(left);
            if take.is_positive() {
                self.hot.fill(index as u32, take);
                left -= take;
            }
        }
    }

    /// Islands `area` (or reconnects it) from the next slot on: an islanded area neither sends
    /// orders to its parent's market nor sees the parent's, so it must balance inside.
    pub fn set_islanded(&mut self, area: AreaId, islanded: bool) {
        if let Some(flag) = self.islanded_next.get_mut(area.index()) {
            *flag = islanded;
        }
    }

    /// Whether `area` is islanded in the open slot.
    pub fn is_islanded(&self, area: AreaId) -> bool {
        self.islanded.get(area.index()).copied().unwrap_or(false)
    }

    /// The live orders of the open slot in `area`'s own book, as (side, price in this market,
    /// energy left), forwarded ones included.
    pub fn book(&self, area: AreaId) -> Vec<(Side, Price, Energy)> {
        let Some(book) = self.books.get(area.index()) else {
            return Vec::new();
        };
        book.entries
            .iter()
            .filter(|entry| self.hot.is_live(entry.order))
            .map(|entry| (entry.side, entry.price, self.hot.remaining(entry.order)))
            .collect()
    }

    /// Opens `slot` for trading: every agent plans its orders. Refused while another slot is
    /// open.
    pub fn open_slot(&mut self, slot: u32) -> Result<(), SimError> {
        if self.open.is_some() {
            return Err(SimError::SlotStillOpen);
        }
        self.islanded.clone_from(&self.islanded_next);
        self.next_tick = 0;
        self.reset_room();
        if self.seen.is_empty() || !self.seen_constant {
            self.seen = seen_prices(self.topology, slot);
        }
        self.orders.clear();
        self.hot.clear();
        for book in &mut self.books {
            *book = Book {
                entries: std::mem::take(&mut book.entries),
                ..Book::default()
            };
            book.entries.clear();
        }
        self.parent_version_seen.fill(u64::MAX);
        for list in self.down.iter_mut().chain(&mut self.own_best) {
            list.bids.clear();
            list.offers.clear();
        }
        for record in &mut self.slot_areas {
            *record = AreaSlot::default();
        }
        self.slot_bought.fill(Energy::ZERO);
        self.slot_sold.fill(Energy::ZERO);
        self.slot_grid.fill((Energy::ZERO, Energy::ZERO));
        self.intervals.clear();
        for (index, agent) in self.agents.iter_mut().enumerate() {
            let area = self.topology.assets[index].area;
            let plan = agent.plan(self.topology, slot, self.seen[area.index()])?;
            let in_curve = self.curve[area.index()];
            for leg in plan.legs() {
                let mut leg = *leg;
                if in_curve {
                    // A curve states the limit: the order stands at its final rate.
                    leg.ramp = Ramp::constant(leg.ramp.final_rate);
                }
                if leg.ramp.initial != leg.ramp.final_rate
                    && !self
                        .intervals
                        .contains(&leg.ramp.update_interval_ticks.max(1))
                {
                    self.intervals.push(leg.ramp.update_interval_ticks.max(1));
                }
                let price = leg.ramp.price_at(0, self.ticks);
                let order = self.orders.len() as u32;
                self.orders.push(LiveOrder {
                    asset: AssetId(index as u32),
                    origin: area,
                    side: leg.side,
                    ramp: leg.ramp,
                    top: 0,
                });
                self.hot.push(leg.energy, price);
                self.books[area.index()].push(Entry {
                    price,
                    order,
                    via: NONE,
                    arrived: 0,
                    side: leg.side,
                    settled: false,
                    level: 0,
                });
            }
        }
        self.open = Some(slot);
        Ok(())
    }

    /// Resets each area's import and export room for a new slot from its limits (kW over the
    /// slot's length).
    fn reset_room(&mut self) {
        let areas = &self.topology.areas;
        if areas
            .iter()
            .all(|area| area.import_limit.is_none() && area.export_limit.is_none())
        {
            return;
        }
        let seconds = self.topology.settings.slot_seconds;
        let room = |limit: Option<nestgrid_types::Power>| {
            limit.map_or(i64::MAX, |limit| limit.energy_over(seconds).0)
        };
        self.room_in = areas.iter().map(|area| room(area.import_limit)).collect();
        self.room_out = areas.iter().map(|area| room(area.export_limit)).collect();
    }

    /// Clears curve region `region` by bid curves ([`nestgrid_market::tree`]) when its inputs
    /// changed since it last cleared: its areas' own live orders, each a step at its limit, the
    /// islanded areas balancing alone; and, for a region below another market, the best orders
    /// that market forwards down, as orders of the region's top (one participant: they never
    /// trade with each other). Such a region first clears at the second tick, once its parent
    /// has forwarded its orders. Each match is applied in the area where the tree made it.
    fn clear_curve_region(
        &mut self,
        slot: u32,
        tick: TickIndex,
        region: usize,
        recorder: &mut dyn Recorder,
    ) {
        let top = self.curve_tops[region];
        let parent = if self.islanded[top.index()] {
            NONE
        } else {
            self.parent[top.index()]
        };
        if parent != NONE && tick == 0 && self.ticks > 1 {
            return;
        }
        let outside_version = match parent {
            NONE => 0,
            parent => self.down_version[parent as usize],
        };
        let signature = Some((slot, self.orders.len(), outside_version));
        if self.curve_cleared[region] == signature {
            return;
        }
        self.curve_cleared[region] = signature;
        let end = self.topology.subtree_end[top.index()];
        self.tree_areas.clear();
        self.tree_orders.clear();
        self.tree_keys.clear();
        for index in top.0..end {
            let area = &self.topology.areas[index as usize];
            let fee = match area.fee {
                GridFee::Constant(fee) => fee,
                _ => Price::ZERO,
            };
            self.tree_areas.push(TreeArea {
                parent: (index != top.0)
                    .then(|| area.parent.map(|parent| parent.0 - top.0))
                    .flatten(),
                fee,
                connected: !self.islanded[index as usize],
            });
            for entry in &self.books[index as usize].entries {
                if entry.via != NONE || !self.hot.is_live(entry.order) {
                    continue;
                }
                let order = &self.orders[entry.order as usize];
                self.tree_orders.push(TreeOrder {
                    area: index - top.0,
                    owner: order.asset.0 as u64,
                    side: order.side,
                    energy: self.hot.remaining(entry.order).min(TREE_ORDER_ENERGY_MAX),
                    price: self.hot.price(entry.order, 0),
                });
                self.tree_keys.push(entry.order);
            }
        }
        if parent != NONE {
            let fee = self.fees[top.index()];
            let list = &self.down[parent as usize];
            let sides: [(Side, &[DownEntry]); 2] = [
                (
                    Side::Buy,
                    if self.two_sided[top.index()] {
                        &list.bids
                    } else {
                        &[]
                    },
                ),
                (Side::Sell, &list.offers),
            ];
            for (side, entries) in sides {
                for down in entries {
                    let order = &self.orders[down.order as usize];
                    let inside = order.origin.0 >= top.0 && order.origin.0 < end;
                    if inside || !self.hot.is_live(down.order) {
                        continue;
                    }
                    let mut energy = self.hot.remaining(down.order).min(TREE_ORDER_ENERGY_MAX);
                    if !self.room_in.is_empty() {
                        let (from, to) = match side {
                            Side::Sell => (order.origin, top),
                            Side::Buy => (top, order.origin),
                        };
                        let room =
                            room_between(self.topology, &self.room_in, &self.room_out, from, to);
                        energy = energy.min(Energy(room.max(0)));
                        if energy.0 == 0 {
                            continue;
                        }
                    }
                    self.tree_orders.push(TreeOrder {
                        area: 0,
                        owner: OUTSIDE,
                        side,
                        energy,
                        price: fee.forward(side, down.price),
                    });
                    self.tree_keys.push(down.order);
                }
            }
        }
        if self.tree_orders.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.tree_out);
        let cleared =
            nestgrid_market::tree::clear_tree(&self.tree_areas, &self.tree_orders, &mut out);
        debug_assert!(
            cleared.is_ok(),
            "the engine builds valid curve regions: {cleared:?}"
        );
        if cleared.is_ok() {
            for found in &out.matches {
                let price = out.price_of(found);
                self.apply(
                    slot,
                    tick,
                    AreaId(top.0 + found.area),
                    self.tree_keys[found.buy as usize],
                    self.tree_keys[found.sell as usize],
                    found.energy,
                    (price, price),
                    recorder,
                );
            }
        }
        self.tree_out = out;
    }

    /// Re-prices the orders whose ramps step at `tick` and refreshes every book: new prices
    /// inline, filled orders dropped (between re-price ticks a filled order may linger in a book;
    /// clearing reads the live order and skips it).
    fn reprice(&mut self, tick: TickIndex) {
        if !self
            .intervals
            .iter()
            .any(|interval| tick.is_multiple_of(*interval))
        {
            return;
        }
        // Both passes are per order and per book, independent of each other, so they run on
        // every core without changing the result; small runs stay on one thread, where waking
        // the pool would cost more than it saves.
        let (fees, parent, ticks) = (&self.fees, &self.parent, self.ticks);
        let parallel = self.orders.len() >= PARALLEL_MIN_ORDERS;
        let stride = self.hot.stride;
        // `record` = [remaining, price at level 0, 1, ...] of `order`.
        let reprice_order = |(order, record): (&LiveOrder, &mut [i64])| {
            if record[0] == 0 || !order.ramp.updates_at(tick) {
                return false;
            }
            record[1] = order.ramp.price_at(tick, ticks).0;
            let mut area = order.origin;
            for level in 0..order.top as usize {
                let fee = fees[area.index()];
                record[2 + level] = fee.forward(order.side, Price(record[1 + level])).0;
                area = AreaId(parent[area.index()]);
            }
            true
        };
        let changed = if parallel {
            self.orders
                .par_iter()
                .zip(self.hot.data.par_chunks_mut(stride))
                .with_min_len(4_096)
                .map(reprice_order)
                .reduce(|| false, |a, b| a | b)
        } else {
            self.orders
                .iter()
                .zip(self.hot.data.chunks_mut(stride))
                .map(reprice_order)
                .fold(false, |a, b| a | b)
        };
        if !changed {
            return;
        }
        let hot = &self.hot;
        let sweep = |book: &mut Book| {
            book.entries.retain_mut(|entry| {
                entry.price = hot.price(entry.order, entry.level as usize);
                hot.is_live(entry.order)
            });
            book.refresh();
        };
        if parallel {
            self.books.par_iter_mut().with_min_len(256).for_each(sweep);
        } else {
            self.books.iter_mut().for_each(sweep);
        }
    }

    /// Collects the orders area `area`'s market sees this tick and clears them.
    fn clear_area(
        &mut self,
        slot: u32,
        tick: TickIndex,
        area: AreaId,
        recorder: &mut dyn Recorder,
    ) {
        let index = area.index();
        self.bids.clear();
        self.offers.clear();
        let orders = &self.orders;
        let parent = if self.islanded[index] {
            NONE
        } else {
            self.parent[index]
        };
        let fee = self.fees[index];
        // Fast path: the cached bounds of the book and the first entries of the parent's down
        // lists (best first) tell whether anything can cross at all.
        {
            let book = &self.books[index];
            let mut possible = book.best_bid >= book.best_offer;
            if !possible && parent != NONE {
                let list = &self.down[parent as usize];
                if let Some(first) = list.offers.first()
                    && book.best_bid.0 != i64::MIN
                {
                    possible |= fee.forward(Side::Sell, first.price) <= book.best_bid;
                }
                if let Some(first) = list.bids.first()
                    && book.best_offer.0 != i64::MAX
                    && self.two_sided[index]
                {
                    possible |= fee.forward(Side::Buy, first.price) >= book.best_offer;
                }
            }
            if !possible {
                return;
            }
        }
        let book = &self.books[index];
        let book_best_bid = (book.best_bid.0 != i64::MIN).then_some(book.best_bid);
        let book_best_offer = (book.best_offer.0 != i64::MAX).then_some(book.best_offer);
        // The parent's down lists, best first: their first usable entry is their best price.
        let end = self.topology.subtree_end[index];
        let inside = |order: &LiveOrder| order.origin.0 >= area.0 && order.origin.0 < end;
        let hot = &self.hot;
        let usable =
            |down: &&DownEntry| hot.is_live(down.order) && !inside(&orders[down.order as usize]);
        let (mut down_best_bid, mut down_best_offer) = (None, None);
        if parent != NONE {
            let list = &self.down[parent as usize];
            if self.two_sided[index] {
                down_best_bid = list
                    .bids
                    .iter()
                    .find(usable)
                    .map(|down| fee.forward(Side::Buy, down.price));
            }
            down_best_offer = list
                .offers
                .iter()
                .find(usable)
                .map(|down| fee.forward(Side::Sell, down.price));
        }
        // Only orders that can cross the other side's best price can match; leaving the rest
        // out changes no mechanism's result and keeps large books cheap.
        let (Some(best_bid), Some(best_offer)) = (
            book_best_bid.max(down_best_bid),
            match (book_best_offer, down_best_offer) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        ) else {
            return;
        };
        if best_bid < best_offer {
            return;
        }
        // Bounds of the entries that cannot cross: with the live candidates' prices after the
        // clearing they give the book's exact bounds again (filled orders no longer count).
        let mut rest_bid = Price(i64::MIN);
        let mut rest_offer = Price(i64::MAX);
        for entry in &self.books[index].entries {
            let price = entry.price;
            let crosses = match entry.side {
                Side::Buy => price >= best_offer,
                Side::Sell => price <= best_bid,
            };
            if !crosses {
                match entry.side {
                    Side::Buy => rest_bid = rest_bid.max(price),
                    Side::Sell => rest_offer = rest_offer.min(price),
                }
                continue;
            }
            if !hot.is_live(entry.order) {
                continue;
            }
            let order = &orders[entry.order as usize];
            let participant = if entry.via == NONE {
                Participant::Asset(order.asset)
            } else {
                Participant::Area(AreaId(entry.via))
            };
            let mut energy = hot.remaining(entry.order);
            if !self.room_in.is_empty() && entry.via != NONE {
                // What the limits still let reach this market from the order's own area.
                let (from, to) = match entry.side {
                    Side::Sell => (order.origin, area),
                    Side::Buy => (area, order.origin),
                };
                let room = room_between(self.topology, &self.room_in, &self.room_out, from, to);
                energy = energy.min(Energy(room.max(0)));
                if energy.0 == 0 {
                    continue;
                }
            }
            let book_order = Order {
                key: entry.order as u64,
                participant,
                side: entry.side,
                energy,
                price,
                priority: ((entry.arrived as u64) << 32) | entry.order as u64,
            };
            match entry.side {
                Side::Buy => self.bids.push(book_order),
                Side::Sell => self.offers.push(book_order),
            }
        }
        let (book_bids, book_offers) = (self.bids.len(), self.offers.len());
        // What the parent forwards down. A forwarded order can only match an order of this
        // market's own book (two orders from the parent are the same participant), so the walk
        // stops at the first one that cannot cross the book's best price.
        if parent != NONE {
            let list = &self.down[parent as usize];
            let walk = DownWalk {
                orders,
                hot,
                subtree: area.0..end,
                fee,
                participant: Participant::Area(AreaId(parent)),
                tick,
                room: (!self.room_in.is_empty()).then_some((
                    self.topology,
                    self.room_in.as_slice(),
                    self.room_out.as_slice(),
                    area,
                )),
            };
            if let Some(bound) = book_best_offer
                && self.two_sided[index]
            {
                walk.push(&list.bids, Side::Buy, bound, &mut self.bids);
            }
            if let Some(bound) = book_best_bid {
                walk.push(&list.offers, Side::Sell, bound, &mut self.offers);
            }
        }
        if !self.bids.is_empty()
            && !self.offers.is_empty()
            && nestgrid_market::may_cross(&self.bids, &self.offers)
        {
            self.clear_book(slot, tick, area, recorder);
        }
        let hot = &self.hot;
        let live = |order: &&Order| hot.is_live(order.key as u32);
        let book = &mut self.books[index];
        book.best_bid = self.bids[..book_bids]
            .iter()
            .filter(live)
            .map(|order| order.price)
            .fold(rest_bid, Price::max);
        book.best_offer = self.offers[..book_offers]
            .iter()
            .filter(live)
            .map(|order| order.price)
            .fold(rest_offer, Price::min);
    }

    /// Clears the collected book of `area`'s market and applies the matches.
    fn clear_book(
        &mut self,
        slot: u32,
        tick: TickIndex,
        area: AreaId,
        recorder: &mut dyn Recorder,
    ) {
        let index = area.index();
        self.matches.clear();
        let mechanism: Mechanism = self.topology.areas[index].mechanism;
        nestgrid_market::clear(
            mechanism,
            &self.bids,
            &self.offers,
            &mut self.scratch,
            &mut self.matches,
        );
        debug_assert_eq!(
            nestgrid_market::check_clearing(mechanism, &self.bids, &self.offers, &self.matches),
            Ok(())
        );
        for position in 0..self.matches.len() {
            let found = self.matches[position];
            // Keys are live-order indices.
            let buy = self.bids[found.bid as usize].key as u32;
            let sell = self.offers[found.offer as usize].key as u32;
            self.apply(
                slot,
                tick,
                area,
                buy,
                sell,
                found.energy,
                (found.seller_price, found.buyer_price),
                recorder,
            );
        }
    }

    /// Applies one match of `energy` in `area`'s market between two live orders, at
    /// `(seller_price, buyer_price)` (equal for single-price mechanisms).
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        slot: u32,
        tick: TickIndex,
        area: AreaId,
        buy: u32,
        sell: u32,
        energy: Energy,
        prices: (Price, Price),
        recorder: &mut dyn Recorder,
    ) {
        let (buyer, buyer_area) = (
            self.orders[buy as usize].asset,
            self.orders[buy as usize].origin,
        );
        let (seller, seller_area) = (
            self.orders[sell as usize].asset,
            self.orders[sell as usize].origin,
        );
        self.chain
            .build_two_prices(self.topology, seller_area, buyer_area, area, prices, energy);
        let mut energy = energy;
        if !self.room_in.is_empty() {
            // Import and export limits: the match trades what every boundary on its path can
            // still take, and uses that room up.
            let chain = &self.chain;
            let room = chain
                .markets
                .iter()
                .enumerate()
                .map(|(position, market)| match position.cmp(&chain.top) {
                    std::cmp::Ordering::Less => self.room_out[market.index()],
                    std::cmp::Ordering::Greater => self.room_in[market.index()],
                    std::cmp::Ordering::Equal => i64::MAX,
                })
                .min()
                .unwrap_or(i64::MAX);
            if room <= 0 {
                return;
            }
            if room < energy.0 {
                energy = Energy(room);
                self.chain.build_two_prices(
                    self.topology,
                    seller_area,
                    buyer_area,
                    area,
                    prices,
                    energy,
                );
            }
            let chain = &self.chain;
            for (position, market) in chain.markets.iter().enumerate() {
                match position.cmp(&chain.top) {
                    std::cmp::Ordering::Less => self.room_out[market.index()] -= energy.0,
                    std::cmp::Ordering::Greater => self.room_in[market.index()] -= energy.0,
                    std::cmp::Ordering::Equal => {}
                }
            }
        }
        self.hot.fill(buy, energy);
        self.hot.fill(sell, energy);
        let chain = &self.chain;
        // Individual rationality at the owners' own markets: the seller receives at least its
        // offer, the buyer pays at most its bid (money rounding is monotone in the price).
        debug_assert!(chain.prices[0] >= self.hot.price(sell, 0));
        debug_assert!(chain.buyer_pays() <= Money::for_energy(self.hot.price(buy, 0), energy));
        self.trade_id += 1;
        let count = chain.markets.len();
        for position in 0..count {
            let market = chain.markets[position];
            let seller_seen = if position == 0 {
                Participant::Asset(seller)
            } else {
                Participant::Area(chain.markets[position - 1])
            };
            let buyer_seen = if position + 1 == count {
                Participant::Asset(buyer)
            } else {
                Participant::Area(chain.markets[position + 1])
            };
            // The fee this market's area collects: its boundary lies toward the LCA.
            let fee = if position < chain.top {
                chain.fee(position)
            } else if position > chain.top {
                chain.fee(position - 1)
            } else {
                Money::ZERO
            };
            if position < chain.top {
                self.slot_areas[market.index()].exported += energy;
                self.area_accounts[market.index()].traded_across += energy;
            } else if position > chain.top {
                self.slot_areas[market.index()].imported += energy;
                self.area_accounts[market.index()].traded_across += energy;
            }
            self.area_accounts[market.index()].fees_collected += fee;
            let price = chain.recorded_price(position);
            let surplus = if position == chain.at {
                chain.surplus()
            } else {
                Money::ZERO
            };
            self.slot_areas[market.index()].add_trade(price, energy);
            recorder.trade(&TradeRecord {
                trade: self.trade_id,
                slot,
                tick,
                market,
                buyer: buyer_seen,
                seller: seller_seen,
                energy,
                price,
                fee,
                surplus,
            });
        }
        recorder.fill(&FillRecord {
            trade: self.trade_id,
            slot,
            tick,
            market: area,
            buyer,
            seller,
            buy_order: OrderRef(buy),
            sell_order: OrderRef(sell),
            energy,
            buyer_price: chain.recorded_price(count - 1),
            seller_price: chain.prices[0],
            buyer_pays: chain.buyer_pays(),
            seller_receives: chain.seller_receives(),
            buyer_fees: chain.buyer_fees(),
            seller_fees: chain.seller_fees(),
        });
        self.trade_count += 1;
        self.area_accounts[area.index()].surplus_collected += chain.surplus();
        let top_area = chain.markets[chain.top];
        self.area_accounts[top_area.index()].traded_inside += energy;
        let buyer_account = &mut self.asset_accounts[buyer.index()];
        buyer_account.bought += energy;
        buyer_account.spent += chain.buyer_spent();
        buyer_account.fees_paid += chain.buyer_fees();
        let same_area = buyer_area == seller_area;
        if same_area {
            buyer_account.traded_inside += energy;
        } else {
            buyer_account.traded_outside += energy;
        }
        let seller_account = &mut self.asset_accounts[seller.index()];
        seller_account.sold += energy;
        seller_account.earned += chain.seller_earned();
        seller_account.fees_paid += chain.seller_fees();
        if same_area {
            seller_account.traded_inside += energy;
        } else {
            seller_account.traded_outside += energy;
        }
        self.slot_bought[buyer.index()] += energy;
        self.slot_sold[seller.index()] += energy;
    }

    /// Moves residual orders that waited long enough from `area`'s book to its parent's.
    fn forward_up(&mut self, tick: TickIndex, area: AreaId) {
        let index = area.index();
        let parent = self.parent[index];
        if parent == NONE || self.islanded[index] {
            return;
        }
        let bids_travel = self.two_sided[index] && self.two_sided[parent as usize];
        let fee = self.fees[index];
        let (books_low, books_high) = self.books.split_at_mut(index);
        // Pre-order numbering: a parent's index is lower than its child's.
        let parent_book = &mut books_low[parent as usize];
        let book = &mut books_high[0];
        let from = book.unsettled_from;
        if from == book.entries.len() {
            return;
        }
        for entry in &mut book.entries[from..] {
            if entry.settled || tick < entry.arrived + self.forward_after {
                continue;
            }
            entry.settled = true;
            if !self.hot.is_live(entry.order) || (entry.side == Side::Buy && !bids_travel) {
                continue;
            }
            let order = &mut self.orders[entry.order as usize];
            let level = order.top as usize;
            let price = fee.forward(entry.side, self.hot.price(entry.order, level));
            self.hot.set_price(entry.order, level + 1, price);
            order.top += 1;
            parent_book.push(Entry {
                price,
                order: entry.order,
                via: area.0,
                arrived: tick,
                side: entry.side,
                settled: false,
                level: (level + 1) as u8,
            });
        }
        while book.unsettled_from < book.entries.len() && book.entries[book.unsettled_from].settled
        {
            book.unsettled_from += 1;
        }
    }

    /// Computes, top-down, the best orders each area forwards to its children next tick: the
    /// best of its own book (cached until the book changes) merged with what its parent forwards
    /// to it, at most [`MAX_FORWARDED_DOWN_PER_TICK`] per side. A list is rebuilt only when its
    /// inputs changed (own book, parent's list, a listed order filled); children notice through
    /// `down_version`.
    fn forward_down(&mut self, tick: TickIndex) {
        for position in 0..self.top_down.len() {
            let index = self.top_down[position].index();
            // A curve area's children clear with it by curves: nothing reads its down list.
            if !self.has_children[index] || self.curve[index] {
                continue;
            }
            let parent = self.parent[index];
            let parent_version = if parent == NONE {
                0
            } else {
                self.down_version[parent as usize]
            };
            let hot = &self.hot;
            let filled = |list: &DownList| {
                list.bids
                    .iter()
                    .chain(&list.offers)
                    .any(|down| !hot.is_live(down.order))
            };
            let book_changed = self.books[index].changed;
            if !book_changed
                && self.parent_version_seen[index] == parent_version
                && !filled(&self.down[index])
            {
                continue;
            }
            // The cached own list holds twice what is forwarded: it is rebuilt from the book
            // only when the book changed or fills left it short on either side.
            let short = |entries: &[DownEntry]| {
                entries.len() == 2 * MAX_FORWARDED_DOWN_PER_TICK
                    && entries
                        .iter()
                        .filter(|down| hot.is_live(down.order))
                        .count()
                        < MAX_FORWARDED_DOWN_PER_TICK
            };
            let own = &self.own_best[index];
            if book_changed || short(&own.bids) || short(&own.offers) {
                self.refresh_own_best(index, tick);
            }
            self.parent_version_seen[index] = parent_version;
            // Merge into the spare list, and keep it only if it differs from the current one.
            let mut list = std::mem::take(&mut self.spare_down);
            self.merge_down(index, &mut list);
            let current = &self.down[index];
            if list.bids != current.bids || list.offers != current.offers {
                self.down_version[index] += 1;
                std::mem::swap(&mut self.down[index], &mut list);
            }
            self.spare_down = list;
        }
    }

    /// Recomputes the best orders of an area's own book that may be forwarded down now.
    fn refresh_own_best(&mut self, index: usize, tick: TickIndex) {
        let forward_after = self.forward_after;
        let two_sided = self.two_sided[index];
        let mut own = std::mem::take(&mut self.own_best[index]);
        own.bids.clear();
        own.offers.clear();
        let mut waiting = false;
        // Filled orders are skipped when the lists are merged: reading every live order here
        // would cost a random access per book entry.
        for entry in &self.books[index].entries {
            if tick + 1 < entry.arrived + forward_after {
                waiting = true;
                continue;
            }
            let down = DownEntry {
                order: entry.order,
                price: entry.price,
            };
            match entry.side {
                Side::Sell => own.offers.push(down),
                Side::Buy if two_sided => own.bids.push(down),
                Side::Buy => {}
            }
        }
        keep_best(&mut own.offers, 2 * MAX_FORWARDED_DOWN_PER_TICK, |down| {
            (down.price, down.order)
        });
        keep_best(&mut own.bids, 2 * MAX_FORWARDED_DOWN_PER_TICK, |down| {
            (-down.price, down.order)
        });
        // An entry still waiting to be forwarded down keeps the book due for another look.
        self.books[index].changed = waiting;
        self.own_best[index] = own;
    }

    /// Merges an area's own best orders with its parent's list (adjusted by the area's fee,
    /// without orders from its own subtree) into `list`: the best usable ones, best first.
    fn merge_down<'a>(&'a self, index: usize, list: &mut DownList) {
        let orders = &self.orders;
        let own = &self.own_best[index];
        let parent = self.parent[index];
        let fee = self.fees[index];
        let subtree = index as u32..self.topology.subtree_end[index];
        let hot = &self.hot;
        let usable = |down: &DownEntry| hot.is_live(down.order);
        // The parent's entries as this area sees them: its own subtree's left out, the fee of
        // its boundary added (a monotone change, so the parent's order is kept).
        let from_parent = |side: Side, entries: &'a [DownEntry]| {
            seen_from_parent(entries, orders, subtree.clone(), fee, side)
        };
        let empty: &[DownEntry] = &[];
        let upper = if parent == NONE || self.islanded[index] {
            None
        } else {
            Some(&self.down[parent as usize])
        };
        let upper_bids = match upper {
            Some(upper) if self.two_sided[index] => &upper.bids[..],
            _ => empty,
        };
        let upper_offers = upper.map_or(empty, |upper| &upper.offers[..]);
        merge_best(
            &mut list.offers,
            own.offers.iter().copied(),
            from_parent(Side::Sell, upper_offers),
            &usable,
            |down| (down.price, down.order),
        );
        merge_best(
            &mut list.bids,
            own.bids.iter().copied(),
            from_parent(Side::Buy, upper_bids),
            &usable,
            |down| (-down.price, down.order),
        );
    }

    /// Ends the open slot (whatever ticks it has left are not run): delivers, settles
    /// imbalances and writes the slot's records. Does nothing when no slot is open.
    pub fn close_slot(&mut self, recorder: &mut dyn Recorder) {
        let Some(slot) = self.open.take() else {
            return;
        };
        let topology = self.topology;
        let settings = &topology.settings;
        for (index, agent) in self.agents.iter().enumerate() {
            if let Some((tariff, feed_in)) = agent.grid_rates(slot) {
                recorder.imbalance_rates(slot, AssetId(index as u32), tariff, feed_in);
            }
        }
        for index in 0..self.agents.len() {
            let area = topology.assets[index].area;
            let bought = self.slot_bought[index];
            let sold = self.slot_sold[index];
            let record = &mut self.slot_areas[area.index()];
            record.bought += bought;
            record.sold += sold;
            let agent = &mut self.agents[index];
            let account = &mut self.asset_accounts[index];
            if agent.is_grid_connection() {
                // A grid connection delivers what it traded; imbalances are added as they are
                // settled, and its peaks are taken once the slot is complete.
                record.grid_supply += sold;
                record.grid_absorb += bought;
                account.energy_out += sold;
                account.energy_in += bought;
                self.slot_grid[index].0 += sold;
                self.slot_grid[index].1 += bought;
                continue;
            }
            let delivery = agent.deliver(
                slot,
                bought,
                sold,
                (settings.seed, index as u32, settings.forecast_error_ppm),
            );
            if agent.is_storage() {
                record.storage_charge += delivery.energy_in;
                record.storage_discharge += delivery.energy_out;
            } else {
                record.consumption += delivery.energy_in;
                record.production += delivery.energy_out;
            }
            recorder.delivery(
                slot,
                AssetId(index as u32),
                delivery.energy_in,
                delivery.energy_out,
            );
            account.energy_in += delivery.energy_in;
            account.energy_out += delivery.energy_out;
            account.peak_in = account.peak_in.max(delivery.energy_in);
            account.peak_out = account.peak_out.max(delivery.energy_out);
            // Base case: only the grid connection, no battery.
            if let Some(seen) = self.seen[area.index()]
                && !agent.is_battery()
            {
                account.base_cost += Money::for_energy(seen.grid_sell, delivery.energy_in)
                    - Money::for_energy(seen.grid_buy, delivery.energy_out);
            }
            // Imbalance: metered net minus traded net, settled with the area's grid connection
            // at its own tariff (shortage) or feed-in rate (surplus), without fees.
            let imbalance = (delivery.energy_in - delivery.energy_out) - (bought - sold);
            if imbalance.0 == 0 {
                continue;
            }
            account.imbalance_energy += imbalance;
            let Some(grid_asset) = self.reference_grid[area.index()] else {
                // No grid connection anywhere: nothing supplies a shortage or takes a surplus.
                if imbalance.0 > 0 {
                    record.unserved += imbalance;
                } else {
                    record.curtailed -= imbalance;
                }
                continue;
            };
            let (tariff, feed_in) = self.agents[grid_asset.index()]
                .grid_rates(slot)
                .expect("the reference grid is a grid connection");
            let money = if imbalance.0 > 0 {
                Money::for_energy(tariff, imbalance)
            } else {
                -Money::for_energy(feed_in, -imbalance)
            };
            account.imbalance_paid += money;
            recorder.imbalance(slot, AssetId(index as u32), imbalance, money);
            let grid_account = &mut self.asset_accounts[grid_asset.index()];
            grid_account.imbalance_paid -= money;
            grid_account.imbalance_energy -= imbalance;
            let grid_area = topology.assets[grid_asset.index()].area;
            let grid_record = &mut self.slot_areas[grid_area.index()];
            if imbalance.0 > 0 {
                grid_record.grid_supply += imbalance;
                self.slot_grid[grid_asset.index()].0 += imbalance;
                grid_account.energy_out += imbalance;
                self.route(grid_area, area, imbalance);
            } else {
                grid_record.grid_absorb -= imbalance;
                self.slot_grid[grid_asset.index()].1 -= imbalance;
                grid_account.energy_in -= imbalance;
                self.route(area, grid_area, -imbalance);
            }
        }
        // Grid connections' peaks: what they delivered in this slot, imbalances included.
        for index in 0..self.agents.len() {
            if self.agents[index].is_grid_connection() {
                let account = &mut self.asset_accounts[index];
                let (supplied, absorbed) = self.slot_grid[index];
                account.peak_out = account.peak_out.max(supplied);
                account.peak_in = account.peak_in.max(absorbed);
            }
        }
        // Subtree sums, leaves first.
        for &area in &topology.bottom_up {
            let index = area.index();
            if let Some(parent) = topology.areas[index].parent {
                let child = self.slot_areas[index].clone();
                self.slot_areas[parent.index()].add_subtree(&child);
            }
        }
        for (index, record) in self.slot_areas.iter().enumerate() {
            self.area_accounts[index].add_slot(record);
            recorder.area_slot(slot, AreaId(index as u32), record);
        }
        for index in 0..self.agents.len() {
            if let Some(stored) = self.agents[index].stored() {
                recorder.stored(slot, AssetId(index as u32), stored);
            }
        }
    }

    /// Books `amount` of energy flowing from `from`'s market to `to`'s as exports and imports
    /// of every area boundary on the way.
    fn route(&mut self, from: AreaId, to: AreaId, amount: Energy) {
        nestgrid_agents::boundaries_between(self.topology, from, to, &mut self.path);
        for &area in &self.path {
            if self.topology.contains(area, from) {
                self.slot_areas[area.index()].exported += amount;
            } else {
                self.slot_areas[area.index()].imported += amount;
            }
        }
    }
}

/// The orders a parent forwards down, as one child market sees them.
struct DownWalk<'a> {
    orders: &'a [LiveOrder],
    hot: &'a Hot,
    /// The child's subtree (pre-order range): its own orders are not shown back to it.
    subtree: std::ops::Range<u32>,
    /// The child's boundary fee, crossed on the way down.
    fee: GridFee,
    /// The parent area agent, as the child market sees it.
    participant: Participant,
    tick: TickIndex,
    /// The child market and the topology with the areas' import and export room, when some
    /// area has a limit.
    room: Option<(&'a Topology, &'a [i64], &'a [i64], AreaId)>,
}

impl DownWalk<'_> {
    /// Appends, best first, the orders of `list` that can cross `bound` (the best price of the
    /// other side of the child's own book), skipping filled ones and the child's own.
    fn push(&self, list: &[DownEntry], side: Side, bound: Price, out: &mut Vec<Order>) {
        for down in list {
            let price = self.fee.forward(side, down.price);
            let crosses = match side {
                Side::Buy => price >= bound,
                Side::Sell => price <= bound,
            };
            if !crosses {
                break;
            }
            if !self.hot.is_live(down.order)
                || self
                    .subtree
                    .contains(&self.orders[down.order as usize].origin.0)
            {
                continue;
            }
            let mut energy = self.hot.remaining(down.order);
            if let Some((topology, room_in, room_out, market)) = self.room {
                let origin = self.orders[down.order as usize].origin;
                let (from, to) = match side {
                    Side::Sell => (origin, market),
                    Side::Buy => (market, origin),
                };
                energy = energy.min(Energy(
                    room_between(topology, room_in, room_out, from, to).max(0),
                ));
                if energy.0 == 0 {
                    continue;
                }
            }
            out.push(Order {
                key: down.order as u64,
                participant: self.participant,
                side,
                energy,
                price,
                priority: ((self.tick as u64) << 32) | down.order as u64,
            });
        }
    }
}

/// Energy that may still flow from area `from` to area `to` in the open slot under the import and
/// export limits: the export room of every area left on the way up to their lowest common area,
/// the import room of every area entered on the way down. O(depth).
fn room_between(
    topology: &Topology,
    room_in: &[i64],
    room_out: &[i64],
    from: AreaId,
    to: AreaId,
) -> i64 {
    let mut room = i64::MAX;
    let mut up = from;
    while !topology.contains(up, to) {
        room = room.min(room_out[up.index()]);
        up = topology.areas[up.index()]
            .parent
            .expect("the root contains every area");
    }
    let mut down = to;
    while down != up {
        room = room.min(room_in[down.index()]);
        down = topology.areas[down.index()]
            .parent
            .expect("below the common area");
    }
    room
}

/// Keeps the `limit` smallest entries by `key`, sorted (a select, then a sort of the few).
fn keep_best<K: Ord>(list: &mut Vec<DownEntry>, limit: usize, key: impl Fn(&DownEntry) -> K) {
    if list.len() > limit {
        list.select_nth_unstable_by(limit - 1, |a, b| key(a).cmp(&key(b)));
        list.truncate(limit);
    }
    list.sort_unstable_by_key(&key);
}

/// The entries of a parent's down list as a child sees them: without orders from the child's own
/// subtree, and with the child's boundary fee added (a monotone change, so order is kept).
fn seen_from_parent<'a>(
    entries: &'a [DownEntry],
    orders: &'a [LiveOrder],
    subtree: std::ops::Range<u32>,
    fee: GridFee,
    side: Side,
) -> impl Iterator<Item = DownEntry> + 'a {
    entries
        .iter()
        .filter(move |down| !subtree.contains(&orders[down.order as usize].origin.0))
        .map(move |down| DownEntry {
            order: down.order,
            price: fee.forward(side, down.price),
        })
}

/// Merges two lists sorted by `key` into `out`, keeping the first
/// [`MAX_FORWARDED_DOWN_PER_TICK`] usable entries (ties: `key` includes the order index, and an
/// order never appears in both lists, so the merge is deterministic).
fn merge_best<K: Ord>(
    out: &mut Vec<DownEntry>,
    first: impl Iterator<Item = DownEntry>,
    second: impl Iterator<Item = DownEntry>,
    usable: &impl Fn(&DownEntry) -> bool,
    key: impl Fn(&DownEntry) -> K,
) {
    out.clear();
    let mut first = first.filter(|down| usable(down)).peekable();
    let mut second = second.filter(|down| usable(down)).peekable();
    while out.len() < MAX_FORWARDED_DOWN_PER_TICK {
        let next = match (first.peek(), second.peek()) {
            (Some(a), Some(b)) if key(a) <= key(b) => first.next(),
            (Some(_), Some(_)) => second.next(),
            (Some(_), None) => first.next(),
            (None, Some(_)) => second.next(),
            (None, None) => None,
        };
        match next {
            Some(down) => out.push(down),
            None => break,
        }
    }
}
