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
//! Cost per tick: O(Σ book sizes + areas × K) with K = [`MAX_FORWARDED_DOWN_PER_TICK`]; each
//! order sits in at most depth+1 books, so a tick is linear in the number of assets.

use crate::accounts::{AreaAccount, AreaSlot, AssetAccount};
use crate::chain::Chain;
use crate::{Recorder, SimError, TradeRecord};
use nestgrid_agents::{AssetAgent, Ramp, SeenPrices, build_agents, seen_prices};
use nestgrid_grid::Topology;
use nestgrid_market::Scratch;
use nestgrid_types::limits::{MAX_AREA_DEPTH, MAX_FORWARDED_DOWN_PER_TICK};
use nestgrid_types::{
    AreaId, AssetId, Energy, Match, Mechanism, Money, Order, Participant, Price, Side, TickIndex,
};

const NONE: u32 = u32::MAX;

/// One order of one slot, wherever it is seen.
#[derive(Clone, Debug)]
struct LiveOrder {
    asset: AssetId,
    origin: AreaId,
    side: Side,
    remaining: Energy,
    ramp: Ramp,
    /// Price in the market `level` steps above the origin (0 = the origin's own market).
    prices: [Price; MAX_AREA_DEPTH + 1],
    /// Highest level the order has been forwarded to.
    top: u8,
    /// Tick at which it arrived at level `top`.
    arrived: TickIndex,
    /// Posting sequence within the slot (time priority).
    sequence: u32,
}

/// An order in a book: the order and the child area it came through (`NONE` for own assets).
#[derive(Clone, Copy, Debug)]
struct Entry {
    order: u32,
    via: u32,
}

/// An order forwarded down, with its price in the forwarding area's market.
#[derive(Clone, Copy, Debug)]
struct DownEntry {
    order: u32,
    price: Price,
}

#[derive(Clone, Debug, Default)]
struct DownList {
    bids: Vec<DownEntry>,
    offers: Vec<DownEntry>,
}

/// Where an order of a clearing came from: a book entry or the parent's down list.
#[derive(Clone, Copy, Debug)]
struct Source {
    order: u32,
}

/// The simulation of one topology.
pub struct Engine<'t> {
    topology: &'t Topology,
    agents: Vec<AssetAgent>,
    ticks: u32,
    forward_after: u32,
    depth: Vec<u8>,
    parent: Vec<u32>,
    two_sided: Vec<bool>,
    has_children: Vec<bool>,
    top_down: Vec<AreaId>,
    /// Grid connection used for each area's imbalances.
    reference_grid: Vec<Option<AssetId>>,
    orders: Vec<LiveOrder>,
    books: Vec<Vec<Entry>>,
    down: Vec<DownList>,
    bids: Vec<Order>,
    offers: Vec<Order>,
    bid_sources: Vec<Source>,
    offer_sources: Vec<Source>,
    matches: Vec<Match>,
    scratch: Scratch,
    chain: Chain,
    path: Vec<AreaId>,
    /// Per-slot area records (reset every slot).
    slot_areas: Vec<AreaSlot>,
    /// Per-slot bought/sold per asset.
    slot_bought: Vec<Energy>,
    slot_sold: Vec<Energy>,
    seen: Vec<Option<SeenPrices>>,
    seen_constant: bool,
    /// Totals.
    pub(crate) asset_accounts: Vec<AssetAccount>,
    pub(crate) area_accounts: Vec<AreaAccount>,
    /// Energy stored per storage asset at the end of each slot (for reports), by asset.
    pub(crate) trade_count: u64,
    trade_id: u64,
}

impl<'t> Engine<'t> {
    /// Prepares a run: builds the agents and the per-area tables.
    pub fn new(topology: &'t Topology) -> Result<Self, SimError> {
        let agents = build_agents(topology)?;
        let area_count = topology.areas.len();
        let depth: Vec<u8> = topology.areas.iter().map(|area| area.depth as u8).collect();
        if depth.iter().any(|&depth| depth as usize >= MAX_AREA_DEPTH) {
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
        let has_children = topology.areas.iter().map(|area| !area.children.is_empty()).collect();
        let mut top_down = topology.bottom_up.clone();
        top_down.reverse();
        let reference_grid = reference_grids(topology, &agents);
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
            depth,
            parent,
            two_sided,
            has_children,
            top_down,
            reference_grid,
            orders: Vec::new(),
            books: vec![Vec::new(); area_count],
            down: vec![DownList::default(); area_count],
            bids: Vec::new(),
            offers: Vec::new(),
            bid_sources: Vec::new(),
            offer_sources: Vec::new(),
            matches: Vec::new(),
            scratch: Scratch::default(),
            chain: Chain::default(),
            path: Vec::new(),
            slot_areas: vec![AreaSlot::default(); area_count],
            slot_bought: vec![Energy::ZERO; topology.assets.len()],
            slot_sold: vec![Energy::ZERO; topology.assets.len()],
            seen: Vec::new(),
            seen_constant,
            asset_accounts: vec![AssetAccount::default(); topology.assets.len()],
            area_accounts: vec![AreaAccount::default(); area_count],
            trade_count: 0,
            trade_id: 0,
        })
    }

    /// Energy stored by an asset now (batteries and vehicles).
    pub fn stored(&self, asset: AssetId) -> Option<Energy> {
        self.agents[asset.index()].stored()
    }

    /// Runs one slot: plan, trade tick by tick, deliver and settle. Records go to `recorder`.
    pub fn run_slot(&mut self, slot: u32, recorder: &mut dyn Recorder) -> Result<(), SimError> {
        self.open_slot(slot)?;
        for tick in 0..self.ticks {
            if tick > 0 {
                self.reprice(tick);
            }
            for index in 0..self.topology.bottom_up.len() {
                let area = self.topology.bottom_up[index];
                self.clear_area(slot, tick, area, recorder);
                self.forward_up(tick, area);
            }
            if tick + 1 < self.ticks {
                self.forward_down(tick);
            }
        }
        self.close_slot(slot, recorder);
        Ok(())
    }

    fn open_slot(&mut self, slot: u32) -> Result<(), SimError> {
        if slot == 0 || !self.seen_constant {
            self.seen = seen_prices(self.topology, slot);
        }
        self.orders.clear();
        for book in &mut self.books {
            book.clear();
        }
        for list in &mut self.down {
            list.bids.clear();
            list.offers.clear();
        }
        for record in &mut self.slot_areas {
            *record = AreaSlot::default();
        }
        self.slot_bought.fill(Energy::ZERO);
        self.slot_sold.fill(Energy::ZERO);
        for (index, agent) in self.agents.iter_mut().enumerate() {
            let area = self.topology.assets[index].area;
            let plan = agent.plan(self.topology, slot, self.seen[area.index()])?;
            for leg in plan.legs() {
                let mut prices = [Price::ZERO; MAX_AREA_DEPTH + 1];
                prices[0] = leg.ramp.price_at(0, self.ticks);
                let order = self.orders.len() as u32;
                self.orders.push(LiveOrder {
                    asset: AssetId(index as u32),
                    origin: area,
                    side: leg.side,
                    remaining: leg.energy,
                    ramp: leg.ramp,
                    prices,
                    top: 0,
                    arrived: 0,
                    sequence: order,
                });
                self.books[area.index()].push(Entry { order, via: NONE });
            }
        }
        Ok(())
    }

    fn reprice(&mut self, tick: TickIndex) {
        let areas = &self.topology.areas;
        for order in &mut self.orders {
            if order.remaining.0 == 0 || !order.ramp.updates_at(tick) {
                continue;
            }
            order.prices[0] = order.ramp.price_at(tick, self.ticks);
            let mut area = order.origin;
            for level in 0..order.top as usize {
                let fee = areas[area.index()].fee;
                order.prices[level + 1] = fee.forward(order.side, order.prices[level]);
                area = AreaId(self.parent[area.index()]);
            }
        }
    }

    /// Collects the orders area `area`'s market sees this tick and clears them.
    fn clear_area(&mut self, slot: u32, tick: TickIndex, area: AreaId, recorder: &mut dyn Recorder) {
        let index = area.index();
        self.bids.clear();
        self.offers.clear();
        self.bid_sources.clear();
        self.offer_sources.clear();
        let depth = self.depth[index];
        let forward_after = self.forward_after;
        // The book, dropping filled orders.
        let orders = &self.orders;
        self.books[index].retain(|entry| orders[entry.order as usize].remaining.0 > 0);
        for entry in &self.books[index] {
            let order = &orders[entry.order as usize];
            let level = (self.depth[order.origin.index()] - depth) as usize;
            let participant = if entry.via == NONE {
                Participant::Asset(order.asset)
            } else {
                Participant::Area(AreaId(entry.via))
            };
            let arrived = order.arrived_at(level, forward_after);
            let book_order = Order {
                key: entry.order as u64,
                participant,
                side: order.side,
                energy: order.remaining,
                price: order.prices[level],
                priority: ((arrived as u64) << 32) | order.sequence as u64,
            };
            match order.side {
                Side::Buy => {
                    self.bids.push(book_order);
                    self.bid_sources.push(Source { order: entry.order });
                }
                Side::Sell => {
                    self.offers.push(book_order);
                    self.offer_sources.push(Source { order: entry.order });
                }
            }
        }
        // What the parent forwards down.
        let parent = self.parent[index];
        if parent != NONE {
            let fee = self.topology.areas[index].fee;
            let end = self.topology.subtree_end[index];
            let from_parent = Participant::Area(AreaId(parent));
            let list = &self.down[parent as usize];
            let inside = |order: &LiveOrder| order.origin.0 >= area.0 && order.origin.0 < end;
            if self.two_sided[index] {
                for down in &list.bids {
                    let order = &orders[down.order as usize];
                    if order.remaining.0 == 0 || inside(order) {
                        continue;
                    }
                    self.bids.push(Order {
                        key: down.order as u64,
                        participant: from_parent,
                        side: Side::Buy,
                        energy: order.remaining,
                        price: fee.forward(Side::Buy, down.price),
                        priority: ((tick as u64) << 32) | order.sequence as u64,
                    });
                    self.bid_sources.push(Source { order: down.order });
                }
            }
            for down in &list.offers {
                let order = &orders[down.order as usize];
                if order.remaining.0 == 0 || inside(order) {
                    continue;
                }
                self.offers.push(Order {
                    key: down.order as u64,
                    participant: from_parent,
                    side: Side::Sell,
                    energy: order.remaining,
                    price: fee.forward(Side::Sell, down.price),
                    priority: ((tick as u64) << 32) | order.sequence as u64,
                });
                self.offer_sources.push(Source { order: down.order });
            }
        }
        if self.bids.is_empty() || self.offers.is_empty() || !nestgrid_market::may_cross(&self.bids, &self.offers) {
            return;
        }
        self.matches.clear();
        let mechanism: Mechanism = self.topology.areas[index].mechanism;
        nestgrid_market::clear(mechanism, &self.bids, &self.offers, &mut self.scratch, &mut self.matches);
        debug_assert_eq!(nestgrid_market::check(&self.bids, &self.offers, &self.matches), Ok(()));
        for position in 0..self.matches.len() {
            let found = self.matches[position];
            let buy = self.bid_sources[found.bid as usize].order;
            let sell = self.offer_sources[found.offer as usize].order;
            self.apply(slot, tick, area, buy, sell, found.energy, found.price, recorder);
        }
    }

    /// Applies one match of `energy` at `price` in `area`'s market between two live orders.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        slot: u32,
        tick: TickIndex,
        area: AreaId,
        buy: u32,
        sell: u32,
        energy: Energy,
        price: Price,
        recorder: &mut dyn Recorder,
    ) {
        let (buyer, buyer_area) = {
            let order = &mut self.orders[buy as usize];
            order.remaining -= energy;
            (order.asset, order.origin)
        };
        let (seller, seller_area) = {
            let order = &mut self.orders[sell as usize];
            order.remaining -= energy;
            (order.asset, order.origin)
        };
        self.chain
            .build(self.topology, seller_area, buyer_area, area, price, energy);
        let chain = &self.chain;
        debug_assert!(chain.prices[0] >= self.orders[sell as usize].prices[0]);
        debug_assert!(*chain.prices.last().expect("non-empty") <= self.orders[buy as usize].prices[0]);
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
            } else if position > chain.top {
                self.slot_areas[market.index()].imported += energy;
            }
            self.area_accounts[market.index()].fees_collected += fee;
            self.slot_areas[market.index()].add_trade(chain.prices[position], energy);
            recorder.trade(&TradeRecord {
                trade: self.trade_id,
                slot,
                tick,
                market,
                buyer: buyer_seen,
                seller: seller_seen,
                energy,
                price: chain.prices[position],
                fee,
            });
        }
        self.trade_count += 1;
        let top_area = chain.markets[chain.top];
        self.area_accounts[top_area.index()].traded_inside += energy;
        let at_top = chain.at_top();
        let buyer_account = &mut self.asset_accounts[buyer.index()];
        buyer_account.bought += energy;
        buyer_account.spent += at_top;
        buyer_account.fees_paid += chain.buyer_pays() - at_top;
        let same_area = buyer_area == seller_area;
        if same_area {
            buyer_account.traded_inside += energy;
        } else {
            buyer_account.traded_outside += energy;
        }
        let seller_account = &mut self.asset_accounts[seller.index()];
        seller_account.sold += energy;
        seller_account.earned += at_top;
        seller_account.fees_paid += at_top - chain.seller_receives();
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
        if parent == NONE {
            return;
        }
        let bids_travel = self.two_sided[index] && self.two_sided[parent as usize];
        let depth = self.depth[index];
        let fee = self.topology.areas[index].fee;
        let (books_low, books_high) = self.books.split_at_mut(index);
        // Pre-order numbering: a parent's index is lower than its child's.
        let parent_book = &mut books_low[parent as usize];
        for entry in &books_high[0] {
            let order = &mut self.orders[entry.order as usize];
            let level = self.depth[order.origin.index()] - depth;
            if order.remaining.0 == 0
                || order.top != level
                || tick < order.arrived + self.forward_after
                || (order.side == Side::Buy && !bids_travel)
            {
                continue;
            }
            let next = level as usize + 1;
            order.prices[next] = fee.forward(order.side, order.prices[level as usize]);
            order.top = next as u8;
            order.arrived = tick;
            parent_book.push(Entry {
                order: entry.order,
                via: area.0,
            });
        }
    }

    /// Computes, top-down, the best orders each area forwards to its children next tick.
    fn forward_down(&mut self, tick: TickIndex) {
        let forward_after = self.forward_after;
        for position in 0..self.top_down.len() {
            let area = self.top_down[position];
            let index = area.index();
            if !self.has_children[index] {
                continue;
            }
            let mut list = std::mem::take(&mut self.down[index]);
            list.bids.clear();
            list.offers.clear();
            let depth = self.depth[index];
            let two_sided = self.two_sided[index];
            for entry in &self.books[index] {
                let order = &self.orders[entry.order as usize];
                let level = (self.depth[order.origin.index()] - depth) as usize;
                if order.remaining.0 == 0 || tick + 1 < order.arrived_at(level, forward_after) + forward_after {
                    continue;
                }
                let down = DownEntry {
                    order: entry.order,
                    price: order.prices[level],
                };
                match order.side {
                    Side::Sell => list.offers.push(down),
                    Side::Buy if two_sided => list.bids.push(down),
                    Side::Buy => {}
                }
            }
            let parent = self.parent[index];
            if parent != NONE {
                let fee = self.topology.areas[index].fee;
                let end = self.topology.subtree_end[index];
                let upper = &self.down[parent as usize];
                let orders = &self.orders;
                let outside = |down: &&DownEntry| {
                    let order = &orders[down.order as usize];
                    order.remaining.0 > 0 && !(order.origin.0 >= area.0 && order.origin.0 < end)
                };
                list.offers.extend(upper.offers.iter().filter(outside).map(|down| DownEntry {
                    order: down.order,
                    price: fee.forward(Side::Sell, down.price),
                }));
                if two_sided {
                    list.bids.extend(upper.bids.iter().filter(outside).map(|down| DownEntry {
                        order: down.order,
                        price: fee.forward(Side::Buy, down.price),
                    }));
                }
            }
            let orders = &self.orders;
            keep_best(&mut list.offers, |down| (down.price, orders[down.order as usize].sequence));
            keep_best(&mut list.bids, |down| (-down.price, orders[down.order as usize].sequence));
            self.down[index] = list;
        }
    }

    /// Delivers, settles imbalances and writes the slot's records.
    fn close_slot(&mut self, slot: u32, recorder: &mut dyn Recorder) {
        let topology = self.topology;
        let settings = &topology.settings;
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
                // A grid connection delivers what it traded; imbalances are added below.
                record.grid_supply += sold;
                record.grid_absorb += bought;
                account.energy_out += sold;
                account.energy_in += bought;
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
            let grid_account = &mut self.asset_accounts[grid_asset.index()];
            grid_account.imbalance_paid -= money;
            grid_account.imbalance_energy -= imbalance;
            let grid_area = topology.assets[grid_asset.index()].area;
            let grid_record = &mut self.slot_areas[grid_area.index()];
            if imbalance.0 > 0 {
                grid_record.grid_supply += imbalance;
                grid_account.energy_out += imbalance;
                self.route(grid_area, area, imbalance);
            } else {
                grid_record.grid_absorb -= imbalance;
                grid_account.energy_in -= imbalance;
                self.route(area, grid_area, -imbalance);
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

impl LiveOrder {
    /// The tick the order arrived in the market `level` steps above its origin: orders are
    /// forwarded as soon as they have waited, so arrival times follow from the posting tick
    /// (0) except at the current top, where it is recorded.
    fn arrived_at(&self, level: usize, forward_after: u32) -> TickIndex {
        if level == self.top as usize {
            self.arrived
        } else {
            level as u32 * forward_after
        }
    }
}

/// Keeps the [`MAX_FORWARDED_DOWN_PER_TICK`] smallest entries by `key`, sorted.
fn keep_best<K: Ord>(list: &mut Vec<DownEntry>, key: impl Fn(&DownEntry) -> K) {
    if list.len() > MAX_FORWARDED_DOWN_PER_TICK {
        list.select_nth_unstable_by(MAX_FORWARDED_DOWN_PER_TICK - 1, |a, b| key(a).cmp(&key(b)));
        list.truncate(MAX_FORWARDED_DOWN_PER_TICK);
    }
    list.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
}

/// For each area, the grid connection that settles its imbalances: the nearest one up the
/// tree, else the first of the scenario.
fn reference_grids(topology: &Topology, agents: &[AssetAgent]) -> Vec<Option<AssetId>> {
    let first = agents
        .iter()
        .position(AssetAgent::is_grid_connection)
        .map(|index| AssetId(index as u32));
    let mut reference = vec![None; topology.areas.len()];
    for (index, area) in topology.areas.iter().enumerate() {
        let own = area
            .assets
            .iter()
            .copied()
            .find(|asset| agents[asset.index()].is_grid_connection());
        reference[index] = own
            .or_else(|| area.parent.and_then(|parent| reference[parent.index()]))
            .or(first);
    }
    reference
}
