//! The exchange: one market thread owns the simulator's [`Engine`] and steps it on the wall
//! clock; requests reach it as [`Command`]s through a bounded queue; everything it accepts is
//! written to the [`Store`] before it answers; readers see a [`State`] it keeps up to date.
//!
//! The market thread works in rounds: it takes every command waiting (up to a batch), checks
//! them against the state, writes their records in one database transaction, applies them to
//! the engine and answers them; then it runs the ticks, slot openings and closings the clock
//! has reached, writing each tick's fills in one transaction before publishing them. Group
//! commits are what make thousands of durable tenders per second possible.

use crate::auth::{Nonces, now_ms};
use crate::model::{
    DeliveryRecord, FillRecord, GridAction, GridEvent, ImbalanceRecord, LegRecord, MarketSlot,
    ParticipantRecord, Role, SlotRecord, TenderRecord, TenderStatus, Timeline,
};
use crate::signatures::Signatures;
use crate::store::{Put, Store};
use nestgrid_grid::Topology;
use nestgrid_sim::{Engine, OrderRef, Recorder, SubmitError, TradeRecord};
use nestgrid_types::{AreaId, AssetId, Energy, Money, Price, Side};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use tokio::sync::{broadcast, oneshot};

/// Limits that keep one client from exhausting the exchange.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body, bytes.
    pub body_bytes: usize,
    /// Tenders one key may place for one slot.
    pub tenders_per_slot: u32,
    /// Requests one key may make per second.
    pub requests_per_second: u32,
    /// Commands waiting for the market thread; beyond it requests get `503`.
    pub queue: usize,
    /// How many slots ahead of the open one a tender may be placed.
    pub slots_ahead: u32,
    /// Steps in one tender (points of a curve).
    pub legs_per_tender: usize,
    /// Slots in one block tender.
    pub slots_per_tender: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            body_bytes: 64 * 1024,
            tenders_per_slot: 100,
            requests_per_second: 1_000,
            queue: 20_000,
            slots_ahead: 96,
            legs_per_tender: 24,
            slots_per_tender: 96,
        }
    }
}

/// An error for the client: an HTTP status with a title and a detail (served as
/// `application/problem+json`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status.
    pub status: u16,
    /// Short, fixed title.
    pub title: &'static str,
    /// What exactly is wrong.
    pub detail: String,
}

impl Problem {
    /// A problem.
    pub fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            title,
            detail: detail.into(),
        }
    }
}

/// A tender as requested, checked for form by the API and for state by the market thread.
#[derive(Clone, Debug)]
pub struct NewTender {
    /// The asset.
    pub asset: u32,
    /// Buy or sell.
    pub side: Side,
    /// The slot.
    pub slot: u32,
    /// Price steps (energy and price each; `filled` zero).
    pub legs: Vec<LegRecord>,
    /// Sent as a curve.
    pub curve: bool,
}

type Reply<T> = oneshot::Sender<Result<T, Problem>>;

/// A match's fees per boundary (area, micro-units) and its surplus.
type FeesAndSurplus = (Vec<(u32, i64)>, Option<(u32, i64)>);

/// What the market thread is asked to do.
pub enum Command {
    /// Place tenders (one per slot of a block).
    Tenders {
        /// The owner's key.
        owner: String,
        /// The tenders.
        tenders: Vec<NewTender>,
        /// The answer.
        reply: Reply<Vec<TenderRecord>>,
    },
    /// Withdraw a tender of `owner`.
    Cancel {
        /// The owner's key.
        owner: String,
        /// The tender.
        id: u64,
        /// The answer.
        reply: Reply<TenderRecord>,
    },
    /// Register a key.
    Register {
        /// The registration.
        record: ParticipantRecord,
        /// The answer.
        reply: Reply<ParticipantRecord>,
    },
    /// Record meter readings.
    Deliveries {
        /// The readings.
        records: Vec<DeliveryRecord>,
        /// The answer.
        reply: Reply<Vec<DeliveryRecord>>,
    },
    /// Island or reconnect an area.
    Grid {
        /// The event (its id and slot are set by the market thread).
        event: GridEvent,
        /// The answer.
        reply: Reply<GridEvent>,
    },
}

impl Command {
    /// Answers the command with `problem` instead of carrying it out.
    pub fn refuse(self, problem: Problem) {
        match self {
            Command::Tenders { reply, .. } => drop(reply.send(Err(problem))),
            Command::Cancel { reply, .. } => drop(reply.send(Err(problem))),
            Command::Register { reply, .. } => drop(reply.send(Err(problem))),
            Command::Deliveries { reply, .. } => drop(reply.send(Err(problem))),
            Command::Grid { reply, .. } => drop(reply.send(Err(problem))),
        }
    }
}

/// What an asset has paid and received so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Bill {
    /// Energy bought, mWh.
    pub bought: i64,
    /// Energy sold, mWh.
    pub sold: i64,
    /// Money paid for energy bought, fees included, micro-units.
    pub paid: i64,
    /// Money received for energy sold, after fees.
    pub received: i64,
    /// Grid fees in `paid` and deducted from `received`.
    pub fees: i64,
    /// Imbalance energy (positive: took more than bought).
    pub imbalance_energy: i64,
    /// Paid for imbalances (negative: was paid).
    pub imbalance_paid: i64,
}

/// One area's market as it stands in the open slot.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveMarket {
    /// Best bid price in the area's book (micro-units/kWh), if any.
    pub best_bid: Option<i64>,
    /// Best offer price.
    pub best_offer: Option<i64>,
    /// Price levels of the book, best first: (price, energy) per side, at most 20.
    pub bids: Vec<(i64, i64)>,
    /// Offers, best first.
    pub offers: Vec<(i64, i64)>,
    /// Trades so far in this slot's market.
    pub slot: MarketSlot,
}

/// Where settlement on the ledger stands (`serve --settle`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct LedgerStatus {
    /// Blocks committed.
    pub height: u64,
    /// Slots settled on the ledger.
    pub settled_slots: u32,
    /// Settlement stopped: why (the exchange keeps trading).
    pub error: Option<String>,
}

/// Where the clock stands.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct ClockState {
    /// The slot trading now.
    pub open_slot: Option<u32>,
    /// The next tick of its window.
    pub next_tick: u32,
    /// Slots closed so far.
    pub closed: u32,
    /// The last slot of the scenario has closed.
    pub finished: bool,
}

/// What readers see. Updated by the market thread under the write lock.
#[derive(Default)]
pub struct State {
    /// Registered keys.
    pub participants: HashMap<String, ParticipantRecord>,
    /// Owner of each asset traded through the API.
    pub owner_of: HashMap<u32, String>,
    /// Tenders by id.
    pub tenders: BTreeMap<u64, TenderRecord>,
    /// Tender ids per owner.
    pub tenders_by_owner: HashMap<String, Vec<u64>>,
    /// Tenders per owner and slot (for the limit).
    pub count_by_owner_slot: HashMap<(String, u32), u32>,
    /// Every fill, by id order.
    pub fills: Vec<FillRecord>,
    /// Positions of the fills for each asset.
    pub fills_by_asset: HashMap<u32, Vec<usize>>,
    /// (asset, slot) → (bought, sold), mWh.
    pub positions: BTreeMap<(u32, u32), (i64, i64)>,
    /// Per asset.
    pub bills: HashMap<u32, Bill>,
    /// Closed slots.
    pub slots: BTreeMap<u32, SlotRecord>,
    /// Meter readings by (slot, asset) key.
    pub deliveries: BTreeMap<u64, DeliveryRecord>,
    /// Grid events in order.
    pub events: Vec<GridEvent>,
    /// Per area: islanded in the open slot.
    pub islanded: Vec<bool>,
    /// Per area: the open slot's market.
    pub live: Vec<LiveMarket>,
    /// The clock.
    pub clock: ClockState,
    /// Settlement on the ledger, if the exchange settles.
    pub ledger: Option<LedgerStatus>,
    next_tender: u64,
    next_fill: u64,
}

impl State {
    fn add_fill(&mut self, fill: FillRecord) {
        let position = self.fills.len();
        self.next_fill = self.next_fill.max(fill.id + 1);
        self.fills_by_asset
            .entry(fill.buyer)
            .or_default()
            .push(position);
        if fill.seller != fill.buyer {
            self.fills_by_asset
                .entry(fill.seller)
                .or_default()
                .push(position);
        }
        let buyer = self.positions.entry((fill.buyer, fill.slot)).or_default();
        buyer.0 = buyer.0.saturating_add(fill.energy.0);
        let seller = self.positions.entry((fill.seller, fill.slot)).or_default();
        seller.1 = seller.1.saturating_add(fill.energy.0);
        // Sums saturate rather than wrap: the API's bounds keep real runs far from the limit
        // (9.2 × 10^12 in currency), and a saturated sum stays visibly wrong instead of
        // turning negative.
        let bill = self.bills.entry(fill.buyer).or_default();
        bill.bought = bill.bought.saturating_add(fill.energy.0);
        bill.paid = bill.paid.saturating_add(fill.buyer_pays.0);
        bill.fees = bill.fees.saturating_add(fill.buyer_fees.0);
        let bill = self.bills.entry(fill.seller).or_default();
        bill.sold = bill.sold.saturating_add(fill.energy.0);
        bill.received = bill.received.saturating_add(fill.seller_receives.0);
        bill.fees = bill.fees.saturating_add(fill.seller_fees.0);
        self.fills.push(fill);
    }

    fn add_tender(&mut self, tender: TenderRecord) {
        self.next_tender = self.next_tender.max(tender.id + 1);
        if !self.tenders.contains_key(&tender.id) {
            self.tenders_by_owner
                .entry(tender.owner.clone())
                .or_default()
                .push(tender.id);
            *self
                .count_by_owner_slot
                .entry((tender.owner.clone(), tender.slot))
                .or_default() += 1;
        }
        self.tenders.insert(tender.id, tender);
    }

    fn add_participant(&mut self, record: ParticipantRecord) {
        for asset in &record.assets {
            self.owner_of.insert(*asset, record.public_key.clone());
        }
        self.participants.insert(record.public_key.clone(), record);
    }

    fn add_imbalance(&mut self, asset: u32, energy: i64, paid: i64) {
        let bill = self.bills.entry(asset).or_default();
        bill.imbalance_energy = bill.imbalance_energy.saturating_add(energy);
        bill.imbalance_paid = bill.imbalance_paid.saturating_add(paid);
    }

    fn add_delivery(&mut self, record: DeliveryRecord) {
        if let Some((energy, paid)) = record.imbalance {
            // A corrected reading replaces the previous one's imbalance.
            if let Some(old) = self.deliveries.get(&record.key())
                && let Some((old_energy, old_paid)) = old.imbalance
            {
                self.add_imbalance(record.asset, -old_energy, -old_paid);
            }
            self.add_imbalance(record.asset, energy, paid);
        }
        self.deliveries.insert(record.key(), record);
    }
}

/// A message on the event stream.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A tick of the open slot's window ran.
    Tick {
        /// Slot.
        slot: u32,
        /// Tick.
        tick: u32,
        /// Scenario time of the tick (RFC 3339).
        time: String,
    },
    /// A match (sent to the two owners and to keys that read everything).
    Fill {
        /// The match.
        fill: FillRecord,
        /// Owners of the buyer and the seller (keys), if traded through the API.
        owners: [Option<String>; 2],
    },
    /// A slot's window closed.
    SlotClosed {
        /// Slot.
        slot: u32,
        /// Per area: the slot's market.
        markets: Vec<MarketSlot>,
    },
}

/// What the API handlers share.
pub struct Shared {
    /// The scenario (lives as long as the process).
    pub topology: &'static Topology,
    /// The timeline.
    pub timeline: Timeline,
    /// Limits.
    pub limits: Limits,
    /// State for readers.
    pub state: RwLock<State>,
    /// Events for stream subscribers.
    pub events: broadcast::Sender<Arc<Event>>,
    /// The market thread's queue.
    pub commands: SyncSender<Command>,
    /// Nonces and request budgets.
    pub nonces: Nonces,
    /// The thread that checks request signatures (in batches).
    pub signatures: Signatures,
    /// Requests signed before this instant are refused (no replay across a restart).
    pub started_ms: i64,
    /// Asset index by path.
    pub asset_by_path: HashMap<String, u32>,
    /// Area index by path.
    pub area_by_path: HashMap<String, u32>,
    /// Set to stop the market thread.
    pub stop: AtomicBool,
}

impl Shared {
    /// Reads the state.
    pub fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `command` for the market thread. When the queue is full (backpressure: the
    /// client should retry later) or the market has stopped, answers it with `503` instead.
    pub fn forward(&self, command: Command) {
        match self.commands.try_send(command) {
            Ok(()) => {}
            Err(TrySendError::Full(command)) => command.refuse(Problem::new(
                503,
                "exchange busy",
                "the market's queue is full; retry after a short pause",
            )),
            Err(TrySendError::Disconnected(command)) => command.refuse(Problem::new(
                503,
                "exchange stopping",
                "the market is shutting down",
            )),
        }
    }

    /// Sends a command to the market thread and waits for its answer; `503` when it cannot
    /// be queued (see [`Shared::forward`]).
    pub async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Problem> {
        let (reply, answer) = oneshot::channel();
        self.forward(make(reply));
        answered(answer).await
    }
}

/// The market's answer through `answer`, or `503` if the market stopped without one.
pub async fn answered<T>(answer: oneshot::Receiver<Result<T, Problem>>) -> Result<T, Problem> {
    answer.await.unwrap_or_else(|_| {
        Err(Problem::new(
            503,
            "exchange stopping",
            "the market stopped before answering",
        ))
    })
}

/// Collects what the engine reports during a tick or a slot's close.
#[derive(Default)]
struct Collect {
    deliveries: Vec<(u32, i64, i64)>,
    fills: Vec<nestgrid_sim::FillRecord>,
    trades: Vec<TradeRecord>,
    imbalances: Vec<ImbalanceRecord>,
    stored: Vec<(u32, i64)>,
    rates: Vec<(u32, i64, i64)>,
}

impl Recorder for Collect {
    fn fill(&mut self, record: &nestgrid_sim::FillRecord) {
        self.fills.push(*record);
    }
    fn trade(&mut self, record: &TradeRecord) {
        self.trades.push(*record);
    }
    fn imbalance(&mut self, _slot: u32, asset: AssetId, energy: Energy, paid: Money) {
        self.imbalances.push(ImbalanceRecord {
            asset: asset.0,
            energy,
            paid,
        });
    }
    fn delivery(&mut self, _slot: u32, asset: AssetId, energy_in: Energy, energy_out: Energy) {
        self.deliveries.push((asset.0, energy_in.0, energy_out.0));
    }
    fn stored(&mut self, _slot: u32, asset: AssetId, stored: Energy) {
        self.stored.push((asset.0, stored.0));
    }
    fn imbalance_rates(&mut self, _slot: u32, grid: AssetId, tariff: Price, feed_in: Price) {
        self.rates.push((grid.0, tariff.0, feed_in.0));
    }
}

/// The market thread.
pub struct Market {
    shared: Arc<Shared>,
    engine: Engine<'static>,
    store: Store,
    commands: Receiver<Command>,
    /// Engine orders of the open slot that belong to tenders: order → (tender, leg).
    orders: HashMap<u32, (u64, usize)>,
    /// Per area: the grid connection whose rates settle its imbalances.
    reference: Vec<Option<AssetId>>,
    /// The ledger slots are settled on (`serve --settle`).
    ledger: Option<nestgrid_settle::LiveLedger<'static>>,
    /// The first slot not yet settled on the ledger.
    next_settle: u32,
}

/// Slots between a slot's close and its settlement on the ledger: the DSO's time to post
/// meter readings for external assets.
pub const SETTLE_DELAY_SLOTS: u32 = 1;

/// Largest number of commands handled in one database transaction.
const BATCH: usize = 4_096;

impl Market {
    /// Prepares the market thread: restores the state from `store` (if the folder was used
    /// before) and returns the shared handle and the thread's body.
    pub fn start(
        topology: &'static Topology,
        timeline: Timeline,
        limits: Limits,
        store: Store,
        loaded: crate::store::Loaded,
        ledger: Option<nestgrid_settle::LiveLedger<'static>>,
    ) -> Result<(Arc<Shared>, Market), String> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(limits.queue);
        let (events, _) = broadcast::channel(4_096);
        let area_count = topology.areas.len();
        let mut state = State {
            islanded: vec![false; area_count],
            live: vec![LiveMarket::default(); area_count],
            ..State::default()
        };
        let mut engine = Engine::new(topology).map_err(|error| error.to_string())?;
        for record in loaded.participants {
            state.add_participant(record);
        }
        for tender in loaded.tenders {
            state.add_tender(tender);
        }
        for fill in loaded.fills {
            state.add_fill(fill);
        }
        for slot in loaded.slots {
            for imbalance in &slot.imbalances {
                state.add_imbalance(imbalance.asset, imbalance.energy.0, imbalance.paid.0);
            }
            // Batteries continue from the last closed slot.
            for (asset, stored) in &slot.stored {
                engine.restore_stored(AssetId(*asset), Energy(*stored));
            }
            state.clock.closed = slot.slot + 1;
            state.slots.insert(slot.slot, slot);
        }
        for delivery in loaded.deliveries {
            state.add_delivery(delivery);
        }
        for event in loaded.events {
            state.events.push(event);
        }
        state.clock.finished = state.clock.closed >= topology.settings.slot_count;
        let mut next_settle = 0;
        if let Some(ledger) = &ledger {
            while next_settle < state.clock.closed && ledger.is_settled(next_settle) {
                next_settle += 1;
            }
            state.ledger = Some(LedgerStatus {
                height: ledger.height(),
                settled_slots: next_settle,
                error: None,
            });
        }
        let shared = Arc::new(Shared {
            topology,
            timeline,
            limits,
            state: RwLock::new(state),
            events,
            commands: sender,
            nonces: Nonces::new(crate::auth::DEFAULT_WINDOW_MS, limits.requests_per_second),
            signatures: Signatures::start()
                .map_err(|error| format!("starting the signature thread: {error}"))?,
            started_ms: now_ms(),
            asset_by_path: topology
                .assets
                .iter()
                .enumerate()
                .map(|(index, asset)| (asset.path.clone(), index as u32))
                .collect(),
            area_by_path: topology
                .areas
                .iter()
                .enumerate()
                .map(|(index, area)| (area.path.clone(), index as u32))
                .collect(),
            stop: AtomicBool::new(false),
        });
        let market = Market {
            shared: shared.clone(),
            engine,
            store,
            commands: receiver,
            orders: HashMap::new(),
            reference: nestgrid_agents::reference_connections(topology),
            ledger,
            next_settle,
        };
        Ok((shared, market))
    }

    /// Runs until [`Shared::stop`] is set or every handle is gone.
    pub fn run(mut self) {
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                return;
            }
            if let Err(message) = self.advance() {
                eprintln!("nestgrid serve: stopping the market: {message}");
                self.shared.stop.store(true, Ordering::Relaxed);
                return;
            }
            self.settle_due();
            let wait = (self.next_wake() - now_ms()).clamp(0, 100) as u64;
            let first = match self
                .commands
                .recv_timeout(std::time::Duration::from_millis(wait))
            {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match self.commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            self.handle(batch);
        }
    }

    fn write(&self, puts: &[Put]) -> Result<(), String> {
        self.store.write(puts).map_err(|error| error.to_string())
    }

    fn state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.shared
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(&self, event: Event) {
        // No subscriber is not an error.
        let _ = self.shared.events.send(Arc::new(event));
    }

    /// Wall-clock time of the next thing the clock will do.
    fn next_wake(&self) -> i64 {
        let timeline = &self.shared.timeline;
        let ticks = self.engine.ticks_per_slot();
        let sim = match self.engine.open_slot_index() {
            Some(slot) if self.engine.next_tick() < ticks => {
                timeline.tick_start(slot, self.engine.next_tick())
            }
            Some(slot) => timeline.tick_start(slot + 1, 0),
            None => timeline.tick_start(self.shared.read().clock.closed, 0),
        };
        timeline.wall_at(sim)
    }

    /// Runs what the clock has reached: ticks, closings and openings.
    fn advance(&mut self) -> Result<(), String> {
        let ticks = self.engine.ticks_per_slot();
        let slot_count = self.shared.topology.settings.slot_count;
        loop {
            let sim = self.shared.timeline.sim_at(now_ms());
            let Some((slot_now, tick_now)) = self.shared.timeline.position(sim) else {
                return Ok(());
            };
            match self.engine.open_slot_index() {
                None => {
                    let next = self.shared.read().clock.closed;
                    if next >= slot_count || next > slot_now {
                        return Ok(());
                    }
                    self.open(next)?;
                }
                Some(slot) => {
                    let tick = self.engine.next_tick();
                    if tick < ticks && (slot < slot_now || tick <= tick_now) {
                        self.tick(slot)?;
                    } else if tick >= ticks && slot < slot_now {
                        self.close(slot)?;
                    } else {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn open(&mut self, slot: u32) -> Result<(), String> {
        let topology = self.shared.topology;
        // Grid events in force for this slot.
        let mut islanded = vec![false; topology.areas.len()];
        for event in &self.shared.read().events {
            if event.from_slot <= slot {
                islanded[event.area as usize] = event.action == GridAction::Island;
            }
        }
        for (area, flag) in islanded.iter().enumerate() {
            self.engine.set_islanded(AreaId(area as u32), *flag);
        }
        self.engine
            .open_slot(slot)
            .map_err(|error| format!("opening slot {slot}: {error}"))?;
        self.orders.clear();
        // Resuming after a restart: what was traded in this slot before counts.
        let mut traded: BTreeMap<(u32, bool), i64> = BTreeMap::new();
        let waiting: Vec<TenderRecord> = {
            let state = self.shared.read();
            for fill in state.fills.iter().filter(|fill| fill.slot == slot) {
                *traded.entry((fill.buyer, true)).or_default() += fill.energy.0;
                *traded.entry((fill.seller, false)).or_default() += fill.energy.0;
            }
            state
                .tenders
                .values()
                .filter(|tender| {
                    tender.slot == slot
                        && matches!(tender.status, TenderStatus::Waiting | TenderStatus::Open)
                })
                .cloned()
                .collect()
        };
        for ((asset, buy), energy) in traded {
            let side = if buy { Side::Buy } else { Side::Sell };
            self.engine
                .resume_traded(AssetId(asset), side, Energy(energy));
        }
        let mut puts = Vec::new();
        let mut opened = Vec::new();
        for mut tender in waiting {
            self.submit_legs(&mut tender)
                .map_err(|error| format!("tender {}: {error}", tender.id))?;
            tender.status = if tender.filled() >= tender.energy() {
                TenderStatus::Closed
            } else {
                TenderStatus::Open
            };
            puts.push(Put::Tender(tender.clone()));
            opened.push(tender);
        }
        self.write(&puts)?;
        let mut state = self.state();
        for tender in opened {
            state.add_tender(tender);
        }
        state.clock.open_slot = Some(slot);
        state.clock.next_tick = 0;
        for area in 0..topology.areas.len() {
            state.islanded[area] = self.engine.is_islanded(AreaId(area as u32));
            state.live[area] = LiveMarket {
                slot: MarketSlot {
                    area: area as u32,
                    ..MarketSlot::default()
                },
                ..LiveMarket::default()
            };
        }
        drop(state);
        self.refresh_books();
        Ok(())
    }

    /// Puts a tender's unfilled steps into the open slot's market.
    fn submit_legs(&mut self, tender: &mut TenderRecord) -> Result<(), SubmitError> {
        for (index, leg) in tender.legs.iter().enumerate() {
            let left = leg.energy - leg.filled;
            if left <= 0 {
                continue;
            }
            let order = self.engine.submit(
                AssetId(tender.asset),
                tender.side,
                Energy(left),
                Price(leg.price),
            )?;
            self.orders.insert(order.0, (tender.id, index));
        }
        Ok(())
    }

    fn tick(&mut self, slot: u32) -> Result<(), String> {
        let mut collect = Collect::default();
        let tick = self
            .engine
            .tick(&mut collect)
            .ok_or("the engine had no tick to run")?;
        let now = now_ms();
        let mut puts = Vec::new();
        let mut fills = Vec::with_capacity(collect.fills.len());
        let mut changed: BTreeMap<u64, TenderRecord> = BTreeMap::new();
        // Each match's fees per boundary and surplus, from its records in every market.
        let mut paths: HashMap<u64, FeesAndSurplus> = HashMap::new();
        for trade in &collect.trades {
            let path = paths.entry(trade.trade).or_default();
            if trade.fee.0 != 0 {
                path.0.push((trade.market.0, trade.fee.0));
            }
            if trade.surplus.0 != 0 {
                path.1 = Some((trade.market.0, trade.surplus.0));
            }
        }
        {
            let state = self.shared.read();
            for (id, fill) in (state.next_fill..).zip(&collect.fills) {
                let mut tender_of = |order: OrderRef| -> Option<u64> {
                    let (tender, leg) = *self.orders.get(&order.0)?;
                    let record = changed
                        .entry(tender)
                        .or_insert_with(|| state.tenders[&tender].clone());
                    record.legs[leg].filled += fill.energy.0;
                    Some(tender)
                };
                let record = FillRecord {
                    id,
                    slot,
                    tick,
                    market: fill.market.0,
                    buyer: fill.buyer.0,
                    seller: fill.seller.0,
                    buy_tender: tender_of(fill.buy_order),
                    sell_tender: tender_of(fill.sell_order),
                    energy: fill.energy,
                    buyer_price: fill.buyer_price,
                    seller_price: fill.seller_price,
                    buyer_pays: fill.buyer_pays,
                    seller_receives: fill.seller_receives,
                    buyer_fees: fill.buyer_fees,
                    seller_fees: fill.seller_fees,
                    fees: paths
                        .get(&fill.trade)
                        .map(|path| path.0.clone())
                        .unwrap_or_default(),
                    surplus: paths.get(&fill.trade).and_then(|path| path.1),
                    time_ms: now,
                };
                puts.push(Put::Fill(record.clone()));
                fills.push(record);
            }
        }
        for tender in changed.values_mut() {
            if tender.filled() >= tender.energy() {
                tender.status = TenderStatus::Closed;
            }
            puts.push(Put::Tender(tender.clone()));
        }
        if !puts.is_empty() {
            self.write(&puts)?;
        }
        let mut owners = Vec::with_capacity(fills.len());
        {
            let mut state = self.state();
            for fill in &fills {
                state.add_fill(fill.clone());
                owners.push([
                    state.owner_of.get(&fill.buyer).cloned(),
                    state.owner_of.get(&fill.seller).cloned(),
                ]);
            }
            for tender in changed.into_values() {
                state.add_tender(tender);
            }
            for trade in &collect.trades {
                let market = &mut state.live[trade.market.index()].slot;
                add_trade(market, trade);
            }
            // Energy crossing area boundaries: up from the seller's area to the meeting
            // point, down from there to the buyer's.
            let topology = self.shared.topology;
            for fill in &fills {
                let seller = topology.assets[fill.seller as usize].area;
                let buyer = topology.assets[fill.buyer as usize].area;
                let (exports, imports) = boundaries(topology, seller, buyer);
                for area in exports {
                    let flow = &mut state.live[area.index()].slot;
                    flow.exported = flow.exported.saturating_add(fill.energy.0);
                }
                for area in imports {
                    let flow = &mut state.live[area.index()].slot;
                    flow.imported = flow.imported.saturating_add(fill.energy.0);
                }
            }
            state.clock.next_tick = tick + 1;
        }
        self.refresh_books();
        let timeline = &self.shared.timeline;
        let time = jiff::Timestamp::from_millisecond(timeline.tick_start(slot, tick))
            .map(|time| time.to_string())
            .unwrap_or_default();
        self.publish(Event::Tick { slot, tick, time });
        for (fill, owners) in fills.into_iter().zip(owners) {
            self.publish(Event::Fill { fill, owners });
        }
        Ok(())
    }

    /// Copies the best price levels of every area's book into the state.
    fn refresh_books(&mut self) {
        let areas = self.shared.topology.areas.len();
        let mut books = Vec::with_capacity(areas);
        for area in 0..areas {
            let mut bids: BTreeMap<i64, i64> = BTreeMap::new();
            let mut offers: BTreeMap<i64, i64> = BTreeMap::new();
            for (side, price, energy) in self.engine.book(AreaId(area as u32)) {
                let levels = match side {
                    Side::Buy => &mut bids,
                    Side::Sell => &mut offers,
                };
                *levels.entry(price.0).or_default() += energy.0;
            }
            books.push((
                bids.into_iter().rev().take(20).collect::<Vec<_>>(),
                offers.into_iter().take(20).collect::<Vec<_>>(),
            ));
        }
        let mut state = self.state();
        for (area, (bids, offers)) in books.into_iter().enumerate() {
            let live = &mut state.live[area];
            live.best_bid = bids.first().map(|level| level.0);
            live.best_offer = offers.first().map(|level| level.0);
            live.bids = bids;
            live.offers = offers;
        }
    }

    fn close(&mut self, slot: u32) -> Result<(), String> {
        let mut collect = Collect::default();
        self.engine.close_slot(&mut collect);
        let now = now_ms();
        let markets: Vec<MarketSlot> = self.shared.read().live.iter().map(|l| l.slot).collect();
        let record = SlotRecord {
            slot,
            imbalances: collect.imbalances,
            stored: collect.stored,
            rates: collect.rates,
            markets: markets.clone(),
            deliveries: collect.deliveries,
            closed_ms: now,
        };
        let mut puts = vec![Put::Slot(record.clone())];
        let closing: Vec<TenderRecord> = self
            .shared
            .read()
            .tenders
            .values()
            .filter(|tender| tender.slot == slot && tender.status == TenderStatus::Open)
            .map(|tender| TenderRecord {
                status: TenderStatus::Closed,
                ..tender.clone()
            })
            .collect();
        puts.extend(closing.iter().cloned().map(Put::Tender));
        self.write(&puts)?;
        self.orders.clear();
        {
            let mut state = self.state();
            for imbalance in &record.imbalances {
                state.add_imbalance(imbalance.asset, imbalance.energy.0, imbalance.paid.0);
            }
            for tender in closing {
                state.add_tender(tender);
            }
            state.slots.insert(slot, record);
            // Between slots no market is open: nothing traded "now".
            for (area, live) in state.live.iter_mut().enumerate() {
                live.slot = MarketSlot {
                    area: area as u32,
                    ..MarketSlot::default()
                };
            }
            state.clock.closed = slot + 1;
            state.clock.open_slot = None;
            state.clock.next_tick = 0;
            state.clock.finished = slot + 1 >= self.shared.topology.settings.slot_count;
        }
        self.publish(Event::SlotClosed { slot, markets });
        Ok(())
    }

    /// Settles on the ledger every closed slot whose readings are due: the DSO had
    /// [`SETTLE_DELAY_SLOTS`] slots after its close (or the exchange finished). External
    /// assets are settled with the DSO's reading when there is one, else with what they
    /// traded.
    fn settle_due(&mut self) {
        if self.ledger.is_none() {
            return;
        }
        let timeline = self.shared.timeline;
        let sim = timeline.sim_at(now_ms());
        loop {
            let slot = self.next_settle;
            let data = {
                let state = self.shared.read();
                if state
                    .ledger
                    .as_ref()
                    .is_some_and(|status| status.error.is_some())
                    || slot >= state.clock.closed
                    || (!state.clock.finished
                        && sim < timeline.tick_start(slot + 1 + SETTLE_DELAY_SLOTS, 0))
                {
                    return;
                }
                slot_data(self.shared.topology, &state, slot)
            };
            let time = (timeline.start_ms + (slot as i64 + 1) * timeline.slot_ms).max(0) as u64;
            let ledger = self.ledger.as_mut().expect("checked above");
            let result = if ledger.is_settled(slot) {
                Ok(ledger.height())
            } else {
                ledger.settle_slot(slot, &data, time)
            };
            if result.is_ok() {
                self.next_settle = slot + 1;
            }
            let mut state = self.state();
            let status = state.ledger.get_or_insert_with(LedgerStatus::default);
            match result {
                Ok(height) => {
                    status.height = height;
                    status.settled_slots = slot + 1;
                }
                Err(error) => {
                    eprintln!("nestgrid serve: settling slot {slot} on the ledger: {error}");
                    status.error = Some(format!("slot {slot}: {error}"));
                    return;
                }
            }
        }
    }

    /// Handles a batch of commands: check, write once, apply, answer.
    fn handle(&mut self, batch: Vec<Command>) {
        let mut puts = Vec::new();
        let mut answers: Vec<Answer> = Vec::with_capacity(batch.len());
        // Counters that the batch's own commands change.
        let mut next_tender;
        let mut next_event;
        let mut counts: HashMap<(String, u32), u32> = HashMap::new();
        let mut registered: HashMap<String, ParticipantRecord> = HashMap::new();
        let mut claimed: HashMap<u32, String> = HashMap::new();
        let ticks = self.engine.ticks_per_slot();
        let open = self.engine.open_slot_index();
        let window_over = self.engine.next_tick() >= ticks;
        {
            let state = self.shared.read();
            next_tender = state.next_tender;
            next_event = state
                .events
                .iter()
                .map(|event| event.id + 1)
                .max()
                .unwrap_or(0);
            let closed_before = state.clock.closed;
            let now = now_ms();
            for command in batch {
                match command {
                    Command::Tenders {
                        owner,
                        tenders,
                        reply,
                    } => {
                        let checked = check_tenders(
                            &self.shared,
                            &state,
                            &owner,
                            &tenders,
                            &mut counts,
                            (open, window_over, closed_before),
                        );
                        match checked {
                            Err(problem) => {
                                answers.push(Answer::Failed(reply_erased(reply, problem)))
                            }
                            Ok(()) => {
                                let mut records = Vec::with_capacity(tenders.len());
                                for tender in tenders {
                                    let status = if Some(tender.slot) == open {
                                        TenderStatus::Open
                                    } else {
                                        TenderStatus::Waiting
                                    };
                                    let record = TenderRecord {
                                        id: next_tender,
                                        owner: owner.clone(),
                                        asset: tender.asset,
                                        side: tender.side,
                                        slot: tender.slot,
                                        legs: tender.legs,
                                        curve: tender.curve,
                                        created_ms: now,
                                        status,
                                    };
                                    next_tender += 1;
                                    puts.push(Put::Tender(record.clone()));
                                    records.push(record);
                                }
                                answers.push(Answer::Tenders(reply, records));
                            }
                        }
                    }
                    Command::Cancel { owner, id, reply } => {
                        let found = state
                            .tenders
                            .get(&id)
                            .filter(|tender| tender.owner == owner);
                        match found {
                            None => answers.push(Answer::Failed(reply_erased(
                                reply,
                                Problem::new(
                                    404,
                                    "no such tender",
                                    format!("you have no tender {id}"),
                                ),
                            ))),
                            Some(tender)
                                if matches!(
                                    tender.status,
                                    TenderStatus::Cancelled | TenderStatus::Closed
                                ) =>
                            {
                                answers.push(Answer::Failed(reply_erased(
                                    reply,
                                    Problem::new(
                                        409,
                                        "tender not open",
                                        format!(
                                            "tender {id} is {} already",
                                            match tender.status {
                                                TenderStatus::Cancelled => "cancelled",
                                                _ => "closed",
                                            }
                                        ),
                                    ),
                                )))
                            }
                            Some(tender) => {
                                let record = TenderRecord {
                                    status: TenderStatus::Cancelled,
                                    ..tender.clone()
                                };
                                puts.push(Put::Tender(record.clone()));
                                answers.push(Answer::Cancel(reply, record));
                            }
                        }
                    }
                    Command::Register { record, reply } => {
                        let problem = if state.participants.contains_key(&record.public_key)
                            || registered.contains_key(&record.public_key)
                        {
                            Some(Problem::new(
                                409,
                                "already registered",
                                format!("key {} is registered already", record.public_key),
                            ))
                        } else {
                            record.assets.iter().find_map(|asset| {
                                let owner = state.owner_of.get(asset).or(claimed.get(asset))?;
                                Some(Problem::new(
                                    409,
                                    "asset taken",
                                    format!(
                                        "asset {} is traded by key {owner} already",
                                        self.shared.topology.assets[*asset as usize].path
                                    ),
                                ))
                            })
                        };
                        match problem {
                            Some(problem) => {
                                answers.push(Answer::Failed(reply_erased(reply, problem)))
                            }
                            None => {
                                for asset in &record.assets {
                                    claimed.insert(*asset, record.public_key.clone());
                                }
                                registered.insert(record.public_key.clone(), record.clone());
                                puts.push(Put::Participant(record.clone()));
                                answers.push(Answer::Register(reply, record));
                            }
                        }
                    }
                    Command::Deliveries { records, reply } => {
                        let settled = records
                            .iter()
                            .find(|record| record.slot < self.next_settle && self.ledger.is_some());
                        if let Some(record) = settled {
                            let problem = Problem::new(
                                409,
                                "slot settled",
                                format!(
                                    "slot {} is settled on the ledger already; readings are taken until {} slot(s) after a slot closes",
                                    record.slot, SETTLE_DELAY_SLOTS
                                ),
                            );
                            answers.push(Answer::Failed(reply_erased(reply, problem)));
                            continue;
                        }
                        match price_deliveries(&self.shared, &state, &self.reference, records) {
                            Err(problem) => {
                                answers.push(Answer::Failed(reply_erased(reply, problem)))
                            }
                            Ok(records) => {
                                puts.extend(records.iter().cloned().map(Put::Delivery));
                                answers.push(Answer::Deliveries(reply, records));
                            }
                        }
                    }
                    Command::Grid { mut event, reply } => {
                        // In force from the next slot to open.
                        event.id = next_event;
                        next_event += 1;
                        event.from_slot = match open {
                            Some(slot) => slot + 1,
                            None => closed_before,
                        };
                        puts.push(Put::Event(event.clone()));
                        answers.push(Answer::Grid(reply, event));
                    }
                }
            }
        }
        if let Err(message) = self.write(&puts) {
            let problem = Problem::new(
                503,
                "not stored",
                format!("the exchange could not store the request: {message}"),
            );
            for answer in answers {
                answer.finish(Err(problem.clone()));
            }
            return;
        }
        // Durable: apply to the engine, then to the state under one lock (readers wait once
        // per round, not once per request), then answer with the lock released.
        let mut ready = Vec::with_capacity(answers.len());
        for answer in answers {
            match answer {
                Answer::Tenders(reply, mut records) => {
                    for record in &mut records {
                        if record.status == TenderStatus::Open
                            && let Err(error) = self.submit_legs(record)
                        {
                            // Checked above: the window was open and the asset exists.
                            eprintln!("nestgrid serve: tender {}: {error}", record.id);
                        }
                    }
                    ready.push(Answer::Tenders(reply, records));
                }
                Answer::Cancel(reply, record) => {
                    if let Some(tender) = self.shared.read().tenders.get(&record.id)
                        && tender.status == TenderStatus::Open
                    {
                        let orders: Vec<u32> = self
                            .orders
                            .iter()
                            .filter(|(_, (tender, _))| *tender == record.id)
                            .map(|(order, _)| *order)
                            .collect();
                        for order in orders {
                            self.engine.cancel(OrderRef(order));
                        }
                    }
                    ready.push(Answer::Cancel(reply, record));
                }
                Answer::Failed(failed) => failed(),
                answer => ready.push(answer),
            }
        }
        {
            let mut state = self.state();
            for answer in &mut ready {
                match answer {
                    Answer::Tenders(_, records) => {
                        for record in records.iter() {
                            state.add_tender(record.clone());
                        }
                    }
                    Answer::Cancel(_, record) => {
                        // Fills of this round's ticks may have changed `filled`: keep the newest.
                        if let Some(current) = state.tenders.get(&record.id) {
                            *record = TenderRecord {
                                status: TenderStatus::Cancelled,
                                ..current.clone()
                            };
                        }
                        state.add_tender(record.clone());
                    }
                    Answer::Register(_, record) => state.add_participant(record.clone()),
                    Answer::Deliveries(_, records) => {
                        for record in records.iter() {
                            state.add_delivery(record.clone());
                        }
                    }
                    Answer::Grid(_, event) => state.events.push(event.clone()),
                    Answer::Failed(_) => {}
                }
            }
            state.next_tender = next_tender;
        }
        for answer in ready {
            answer.finish(Ok(()));
        }
    }
}

/// A checked command waiting for the database write.
enum Answer {
    Tenders(Reply<Vec<TenderRecord>>, Vec<TenderRecord>),
    Cancel(Reply<TenderRecord>, TenderRecord),
    Register(Reply<ParticipantRecord>, ParticipantRecord),
    Deliveries(Reply<Vec<DeliveryRecord>>, Vec<DeliveryRecord>),
    Grid(Reply<GridEvent>, GridEvent),
    Failed(Box<dyn FnOnce() + Send>),
}

impl Answer {
    /// Sends the answer: its record(s) when `outcome` is `Ok`, else the problem.
    fn finish(self, outcome: Result<(), Problem>) {
        match self {
            Answer::Tenders(reply, records) => drop(reply.send(outcome.map(|()| records))),
            Answer::Cancel(reply, record) => drop(reply.send(outcome.map(|()| record))),
            Answer::Register(reply, record) => drop(reply.send(outcome.map(|()| record))),
            Answer::Deliveries(reply, records) => drop(reply.send(outcome.map(|()| records))),
            Answer::Grid(reply, event) => drop(reply.send(outcome.map(|()| event))),
            Answer::Failed(failed) => failed(),
        }
    }
}

fn reply_erased<T: Send + 'static>(reply: Reply<T>, problem: Problem) -> Box<dyn FnOnce() + Send> {
    Box::new(move || drop(reply.send(Err(problem))))
}

fn add_trade(market: &mut MarketSlot, trade: &TradeRecord) {
    if market.trades == 0 {
        market.min = trade.price.0;
        market.max = trade.price.0;
    }
    market.min = market.min.min(trade.price.0);
    market.max = market.max.max(trade.price.0);
    market.last = trade.price.0;
    market.volume = market.volume.saturating_add(trade.energy.0);
    market.value = market
        .value
        .saturating_add(Money::for_energy(trade.price, trade.energy).0);
    market.trades += 1;
}

/// Checks tenders against the state: the asset is the owner's, the slot is open or ahead and
/// within reach, and the owner's tenders per slot stay within the limit.
fn check_tenders(
    shared: &Shared,
    state: &State,
    owner: &str,
    tenders: &[NewTender],
    counts: &mut HashMap<(String, u32), u32>,
    (open, window_over, closed): (Option<u32>, bool, u32),
) -> Result<(), Problem> {
    let slot_count = shared.topology.settings.slot_count;
    let first_open = match open {
        Some(slot) if window_over => slot + 1,
        Some(slot) => slot,
        None => closed,
    };
    let mut added: HashMap<u32, u32> = HashMap::new();
    for tender in tenders {
        if state.owner_of.get(&tender.asset).map(String::as_str) != Some(owner) {
            return Err(Problem::new(
                403,
                "not your asset",
                format!(
                    "asset {} is not registered to your key",
                    shared.topology.assets[tender.asset as usize].path
                ),
            ));
        }
        if tender.slot >= slot_count {
            return Err(Problem::new(
                422,
                "no such slot",
                format!(
                    "slot {} is beyond the scenario's last slot ({})",
                    tender.slot,
                    slot_count.saturating_sub(1)
                ),
            ));
        }
        if tender.slot < first_open {
            return Err(Problem::new(
                409,
                "slot closed",
                format!(
                    "slot {}'s trading window is over; the first slot open for tenders is {first_open}",
                    tender.slot
                ),
            ));
        }
        if tender.slot > first_open + shared.limits.slots_ahead {
            return Err(Problem::new(
                422,
                "slot too far ahead",
                format!(
                    "slot {} is more than {} slots ahead of the open slot {first_open}",
                    tender.slot, shared.limits.slots_ahead
                ),
            ));
        }
        *added.entry(tender.slot).or_default() += 1;
    }
    for (slot, count) in &added {
        let key = (owner.to_string(), *slot);
        let before = state.count_by_owner_slot.get(&key).copied().unwrap_or(0)
            + counts.get(&key).copied().unwrap_or(0);
        if before + count > shared.limits.tenders_per_slot {
            return Err(Problem::new(
                429,
                "too many tenders",
                format!(
                    "a key may place at most {} tenders for one slot; you have {before} for slot {slot}",
                    shared.limits.tenders_per_slot
                ),
            ));
        }
    }
    for (slot, count) in added {
        *counts.entry((owner.to_string(), slot)).or_default() += count;
    }
    Ok(())
}

/// Checks meter readings and prices the imbalance of external assets against their positions
/// at the slot's rates.
fn price_deliveries(
    shared: &Shared,
    state: &State,
    reference: &[Option<AssetId>],
    mut records: Vec<DeliveryRecord>,
) -> Result<Vec<DeliveryRecord>, Problem> {
    for record in &mut records {
        let asset = &shared.topology.assets[record.asset as usize];
        let Some(slot) = state.slots.get(&record.slot) else {
            return Err(Problem::new(
                409,
                "slot not closed",
                format!(
                    "slot {} has not closed yet; readings are posted after the slot's trading window",
                    record.slot
                ),
            ));
        };
        if !asset.external {
            continue;
        }
        let (bought, sold) = state
            .positions
            .get(&(record.asset, record.slot))
            .copied()
            .unwrap_or((0, 0));
        let imbalance = (record.energy_in - record.energy_out) - (bought - sold);
        let grid = reference[asset.area.index()];
        let rates = grid.and_then(|grid| slot.rates.iter().find(|rate| rate.0 == grid.0));
        let paid = match rates {
            Some(&(_, tariff, _)) if imbalance > 0 => {
                Money::for_energy(Price(tariff), Energy(imbalance)).0
            }
            Some(&(_, _, feed_in)) if imbalance < 0 => {
                -Money::for_energy(Price(feed_in), Energy(-imbalance)).0
            }
            _ => 0,
        };
        record.imbalance = Some((imbalance, paid));
    }
    Ok(records)
}

/// The role of a registered key.
pub fn role_of(state: &State, key: &str) -> Option<Role> {
    state.participants.get(key).map(|record| record.role)
}

/// What the ledger needs to settle a closed slot, from the exchange's records.
fn slot_data(topology: &Topology, state: &State, slot: u32) -> nestgrid_settle::SlotData {
    let record = &state.slots[&slot];
    let trades = state
        .fills
        .iter()
        .filter(|fill| fill.slot == slot)
        .map(|fill| nestgrid_settle::Settled {
            trade: fill.id,
            buyer: AssetId(fill.buyer),
            seller: AssetId(fill.seller),
            energy: fill.energy,
            buyer_amount: fill.buyer_pays,
            seller_amount: fill.seller_receives,
            fees: fill
                .fees
                .iter()
                .map(|(area, fee)| (AreaId(*area), Money(*fee)))
                .collect(),
            surplus: fill
                .surplus
                .map(|(area, money)| (AreaId(area), Money(money))),
        })
        .collect();
    let deliveries = record
        .deliveries
        .iter()
        .map(|&(asset, energy_in, energy_out)| {
            let reading = topology.assets[asset as usize]
                .external
                .then(|| {
                    state
                        .deliveries
                        .get(&(((slot as u64) << 32) | asset as u64))
                })
                .flatten();
            match reading {
                Some(reading) => (
                    AssetId(asset),
                    Energy(reading.energy_in),
                    Energy(reading.energy_out),
                ),
                None => (AssetId(asset), Energy(energy_in), Energy(energy_out)),
            }
        })
        .collect();
    nestgrid_settle::SlotData {
        trades,
        deliveries,
        rates: record
            .rates
            .iter()
            .map(|&(grid, tariff, feed_in)| (AssetId(grid), Price(tariff), Price(feed_in)))
            .collect(),
    }
}

/// The areas whose boundaries energy crosses from `from` to `to`: those it leaves (from `from`
/// up to, not including, the lowest common area) and those it enters (from `to` up to it).
fn boundaries(topology: &Topology, from: AreaId, to: AreaId) -> (Vec<AreaId>, Vec<AreaId>) {
    let depth = |area: AreaId| topology.areas[area.index()].depth;
    let parent = |area: AreaId| topology.areas[area.index()].parent.unwrap_or(area);
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (from, to);
    // The root is everyone's ancestor, so the walk meets at the lowest common area.
    while a != b {
        if depth(a) >= depth(b) {
            up.push(a);
            a = parent(a);
        } else {
            down.push(b);
            b = parent(b);
        }
    }
    (up, down)
}
