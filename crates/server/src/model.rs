//! What the exchange keeps: participants, tenders, fills, closed slots, deliveries and grid
//! events. These records are stored as JSON in the database and rebuilt into memory on restart.

use nestgrid_types::{Energy, Money, Price, Side};
use serde::{Deserialize, Serialize};

/// What a key may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Registers participants; reads everything.
    Operator,
    /// The distribution system operator: posts deliveries and grid events; reads everything.
    Dso,
    /// Reads everything, writes nothing.
    Auditor,
    /// Trades its own assets; sees only its own tenders, transactions and positions.
    Participant,
}

impl Role {
    /// The name used in the API.
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Dso => "dso",
            Role::Auditor => "auditor",
            Role::Participant => "participant",
        }
    }

    /// Whether the role reads every participant's records.
    pub fn reads_all(self) -> bool {
        !matches!(self, Role::Participant)
    }
}

/// A registered key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantRecord {
    /// Public key, 64 hex digits.
    pub public_key: String,
    /// A name for people.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// Asset indices the key trades (participants only).
    pub assets: Vec<u32>,
    /// When it was registered (ms since the epoch).
    pub registered_ms: i64,
}

/// One price step of a tender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegRecord {
    /// Limit price, micro-units per kWh.
    pub price: i64,
    /// Energy, mWh.
    pub energy: i64,
    /// Energy traded so far, mWh.
    pub filled: i64,
}

/// Where a tender stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenderStatus {
    /// For a slot whose trading window has not opened yet.
    Waiting,
    /// In the market now.
    Open,
    /// Withdrawn by its owner.
    Cancelled,
    /// Its slot's window is over (look at `filled`), or it was filled completely.
    Closed,
}

/// A tender: an order of one asset for one slot, as one or more price steps (a bid curve is
/// traded as the steps between its points).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenderRecord {
    /// Number, unique in the exchange.
    pub id: u64,
    /// The owner's public key (hex).
    pub owner: String,
    /// The asset's index.
    pub asset: u32,
    /// Buy or sell.
    pub side: Side,
    /// Delivery slot.
    pub slot: u32,
    /// Price steps.
    pub legs: Vec<LegRecord>,
    /// Whether it was sent as a curve.
    pub curve: bool,
    /// When it was accepted (ms since the epoch).
    pub created_ms: i64,
    /// Where it stands.
    pub status: TenderStatus,
}

impl TenderRecord {
    /// Energy in all steps.
    pub fn energy(&self) -> Energy {
        Energy(self.legs.iter().map(|leg| leg.energy).sum())
    }

    /// Energy traded.
    pub fn filled(&self) -> Energy {
        Energy(self.legs.iter().map(|leg| leg.filled).sum())
    }
}

/// One match between two assets, as the exchange records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FillRecord {
    /// Number, unique in the exchange (also the transaction's id).
    pub id: u64,
    /// Delivery slot.
    pub slot: u32,
    /// Tick of the trading window at which it matched.
    pub tick: u32,
    /// The area whose market matched it.
    pub market: u32,
    /// Buying asset.
    pub buyer: u32,
    /// Selling asset.
    pub seller: u32,
    /// The buyer's tender, when it bought through the API.
    pub buy_tender: Option<u64>,
    /// The seller's tender.
    pub sell_tender: Option<u64>,
    /// Energy, mWh.
    pub energy: Energy,
    /// Price in the buyer's market.
    pub buyer_price: Price,
    /// Price in the seller's market.
    pub seller_price: Price,
    /// What the buyer pays, fees included.
    pub buyer_pays: Money,
    /// What the seller receives, after fees.
    pub seller_receives: Money,
    /// Fees on the buyer's side.
    pub buyer_fees: Money,
    /// Fees on the seller's side.
    pub seller_fees: Money,
    /// The fee of each boundary crossed: (area, micro-units), for settlement.
    #[serde(default)]
    pub fees: Vec<(u32, i64)>,
    /// The surplus of a two-price clearing and the area that keeps it.
    #[serde(default)]
    pub surplus: Option<(u32, i64)>,
    /// Wall-clock time of the match (ms since the epoch).
    pub time_ms: i64,
}

/// One asset's imbalance in a closed slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImbalanceRecord {
    /// The asset.
    pub asset: u32,
    /// Metered net minus traded net (positive: it took more than it bought).
    pub energy: Energy,
    /// What it paid (negative: it was paid).
    pub paid: Money,
}

/// A closed slot: what the engine settled and the state to resume from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotRecord {
    /// The slot.
    pub slot: u32,
    /// Imbalances settled at the grid connections' rates.
    pub imbalances: Vec<ImbalanceRecord>,
    /// Energy each battery held at the end (asset, mWh).
    pub stored: Vec<(u32, i64)>,
    /// Per grid connection: (asset, tariff, feed-in) the slot's imbalances were settled at.
    pub rates: Vec<(u32, i64, i64)>,
    /// Per area: (area, energy traded in its market, lowest, highest and last price).
    pub markets: Vec<MarketSlot>,
    /// Metered (asset, in, out) as the engine delivered them (external assets: what they
    /// traded, until the DSO posts a reading).
    #[serde(default)]
    pub deliveries: Vec<(u32, i64, i64)>,
    /// Wall-clock time it closed.
    pub closed_ms: i64,
}

/// One area's market in one slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSlot {
    /// The area.
    pub area: u32,
    /// Energy traded in the area's market, mWh.
    pub volume: i64,
    /// Money for it, micro-units (for the mean price).
    pub value: i64,
    /// Lowest price.
    pub min: i64,
    /// Highest price.
    pub max: i64,
    /// Last price.
    pub last: i64,
    /// Number of trades.
    pub trades: u32,
    /// Energy traded into the area across its boundary, mWh.
    #[serde(default)]
    pub imported: i64,
    /// Energy traded out of the area across its boundary, mWh.
    #[serde(default)]
    pub exported: i64,
}

/// A meter reading posted by the DSO.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// Slot.
    pub slot: u32,
    /// Asset.
    pub asset: u32,
    /// Energy into the asset from the grid, mWh.
    pub energy_in: i64,
    /// Energy from the asset into the grid, mWh.
    pub energy_out: i64,
    /// Hash of the raw meter data kept elsewhere (64 hex digits), if given.
    pub data_hash: Option<String>,
    /// Imbalance against the asset's position (external assets only), settled at the slot's
    /// rates: (energy, money).
    pub imbalance: Option<(i64, i64)>,
    /// Who posted it.
    pub posted_by: String,
    /// When (ms since the epoch).
    pub posted_ms: i64,
}

impl DeliveryRecord {
    /// Storage key: slot and asset.
    pub fn key(&self) -> u64 {
        ((self.slot as u64) << 32) | self.asset as u64
    }
}

/// What the DSO can do to an area.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GridAction {
    /// Disconnect it from its parent: it must balance inside.
    Island,
    /// Connect it again.
    Reconnect,
}

/// A grid event, in force from `from_slot` on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridEvent {
    /// Number.
    pub id: u64,
    /// The area.
    pub area: u32,
    /// What happens.
    pub action: GridAction,
    /// First slot it applies to.
    pub from_slot: u32,
    /// Who posted it.
    pub posted_by: String,
    /// When.
    pub posted_ms: i64,
}

/// The exchange's timeline, fixed when its data folder is created: the wall-clock instant
/// `wall_ms` corresponds to scenario time `sim_ms`, and scenario time runs `speed` times as
/// fast. Slot 0 is delivered from `start_ms` (scenario time); its trading window is the slot
/// before.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// A wall-clock instant (ms since the epoch).
    pub wall_ms: i64,
    /// The scenario time at that instant.
    pub sim_ms: i64,
    /// Scenario seconds per wall-clock second.
    pub speed: f64,
    /// Scenario time at which slot 0 is delivered.
    pub start_ms: i64,
    /// Slot length, ms.
    pub slot_ms: i64,
    /// Tick length, ms.
    pub tick_ms: i64,
}

impl Timeline {
    /// Scenario time at wall-clock `wall_ms`.
    pub fn sim_at(&self, wall_ms: i64) -> i64 {
        self.sim_ms + ((wall_ms - self.wall_ms) as f64 * self.speed).floor() as i64
    }

    /// Wall-clock time at scenario time `sim_ms` (rounded up, so that at that wall time the
    /// scenario time has been reached).
    pub fn wall_at(&self, sim_ms: i64) -> i64 {
        self.wall_ms + ((sim_ms - self.sim_ms) as f64 / self.speed).ceil() as i64
    }

    /// The slot whose trading window contains scenario time `sim_ms`, and the tick inside it
    /// (the window of slot `k` is the slot length before slot `k` is delivered). `None` before
    /// slot 0's window.
    pub fn position(&self, sim_ms: i64) -> Option<(u32, u32)> {
        let since = sim_ms - (self.start_ms - self.slot_ms);
        if since < 0 {
            return None;
        }
        let slot = since / self.slot_ms;
        let tick = (since % self.slot_ms) / self.tick_ms;
        Some((slot.min(u32::MAX as i64) as u32, tick as u32))
    }

    /// Scenario time at which tick `tick` of slot `slot`'s window begins.
    pub fn tick_start(&self, slot: u32, tick: u32) -> i64 {
        self.start_ms + (slot as i64 - 1) * self.slot_ms + tick as i64 * self.tick_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeline_maps_wall_time_to_windows_and_back() {
        let timeline = Timeline {
            wall_ms: 1_000_000,
            sim_ms: 50_000_000,
            speed: 60.0,
            start_ms: 50_400_000,
            slot_ms: 900_000,
            tick_ms: 15_000,
        };
        // Slot 0's window began 15 minutes before its delivery.
        assert_eq!(timeline.position(49_500_000 - 1), None);
        assert_eq!(timeline.position(49_500_000), Some((0, 0)));
        assert_eq!(timeline.position(50_000_000), Some((0, 33)));
        assert_eq!(timeline.position(50_400_000), Some((1, 0)));
        // One wall second is a scenario minute.
        assert_eq!(timeline.sim_at(1_001_000), 50_060_000);
        for (slot, tick) in [(0, 40), (1, 0), (3, 59)] {
            let sim = timeline.tick_start(slot, tick);
            assert_eq!(timeline.position(sim), Some((slot, tick)));
            let wall = timeline.wall_at(sim);
            assert!(timeline.sim_at(wall) >= sim);
            assert!(timeline.sim_at(wall - 1) < sim);
        }
    }
}
