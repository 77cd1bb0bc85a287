//! The expanded, validated scenario: an arena of areas and assets with their settings and
//! per-slot profiles. This is the only thing later stages (agents, simulation) read.
//!
//! The arena (STYLE 6): areas and assets live in flat vectors, referenced by index. Area 0 is
//! the root. `bottom_up` lists every area after all of its descendants (leaves first); its reverse
//! is a valid top-down order. `subtree_end[a]` makes "is `x` inside `a`'s subtree" an O(1) test
//! because areas are numbered in depth-first pre-order: `a <= x < subtree_end[a]`.

use nestgrid_types::{AreaId, AssetId, Energy, GridFee, Mechanism, Power, Price};

/// Settings of the simulation as a whole.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Scenario name (also the root area's name).
    pub name: String,
    /// Start of the first slot, in the scenario's time zone.
    pub start: jiff::Zoned,
    /// Length of a slot in seconds (default 900).
    pub slot_seconds: u32,
    /// Length of a tick in seconds (default 15); divides `slot_seconds`.
    pub tick_seconds: u32,
    /// Number of slots simulated.
    pub slot_count: u32,
    /// Seed of every random choice (profile variation, forecast error).
    pub seed: u64,
    /// Currency code written in the results (e.g. `EUR`).
    pub currency: String,
    /// Latitude in degrees (north positive), for PV.
    pub latitude: f64,
    /// Longitude in degrees (east positive), for PV.
    pub longitude: f64,
    /// Ticks an unmatched order waits in a market before its area agent forwards it to the next
    /// market (up to the parent, or down to the children). Default 1.
    pub forward_after_ticks: u32,
    /// Relative standard deviation of the actual energy of loads and PV against their profile,
    /// in parts per million (0 = deliveries follow the profile exactly).
    pub forecast_error_ppm: i64,
}

impl Settings {
    /// Ticks in one slot's trading window.
    pub fn ticks_per_slot(&self) -> u32 {
        self.slot_seconds / self.tick_seconds
    }
}

/// One area: a node of the grid tree with its own market.
#[derive(Clone, Debug, PartialEq)]
pub struct Area {
    /// Name among its siblings (copies of a `count:` node are numbered: `House 3`).
    pub name: String,
    /// Full path from the root, `/`-separated (`Village/Street 2/House 3`); unique.
    pub path: String,
    /// Parent area; `None` only for the root.
    pub parent: Option<AreaId>,
    /// Child areas in scenario order.
    pub children: Vec<AreaId>,
    /// Assets attached to this area's market, in scenario order.
    pub assets: Vec<AssetId>,
    /// Depth from the root (root = 0).
    pub depth: u32,
    /// Fee charged on energy crossing this area's boundary (into or out of it).
    pub fee: GridFee,
    /// Clearing mechanism of this area's market (inherited from the parent when not set).
    pub mechanism: Mechanism,
    /// Most power the markets may trade into the area from its parent (times the slot length,
    /// per slot).
    pub import_limit: Option<Power>,
    /// Most power the markets may trade out of the area to its parent (times the slot length,
    /// per slot).
    pub export_limit: Option<Power>,
}

/// A range of rates a strategy moves through during a slot's trading window. `None` means "the
/// engine's default", which is derived from the grid connection's rates as seen from the asset's
/// market (so a load's default final rate is what buying from the grid costs it, fees included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateRange {
    /// Rate at the start of the trading window.
    pub initial: Option<Price>,
    /// Rate at the end of the trading window.
    pub final_rate: Option<Price>,
}

/// A per-slot series for one asset: `profile` indexes [`Topology::profiles`], scaled by
/// `scale_ppm` parts per million (1,000,000 = as is). Replicated copies share one base profile
/// and differ in scale (see the scenario's `vary`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileUse {
    /// Index into [`Topology::profiles`].
    pub profile: u32,
    /// Multiplier in parts per million.
    pub scale_ppm: i64,
    /// Shift in slots (a copy of a profile may be moved in time; positive = later).
    pub shift_slots: i32,
}

/// A price that is constant or given per slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PriceSeries {
    /// The same price in every slot.
    Constant(Price),
    /// One price per simulated slot (length = `Settings::slot_count`).
    PerSlot(Vec<Price>),
}

impl PriceSeries {
    /// The price in a slot (the last value repeats if the series is short).
    pub fn at(&self, slot: u32) -> Price {
        match self {
            PriceSeries::Constant(price) => *price,
            PriceSeries::PerSlot(prices) => prices
                .get(slot as usize)
                .or(prices.last())
                .copied()
                .unwrap_or(Price::ZERO),
        }
    }
}

/// A load: consumes its profile's energy each slot.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSpec {
    /// Energy consumed per slot.
    pub profile: ProfileUse,
    /// Buying rates over the trading window (rising).
    pub buying: RateRange,
    /// Ticks between price updates (default: 4 ticks = 1 minute at 15 s ticks).
    pub update_interval_ticks: u32,
}

/// A PV plant: produces its profile's energy each slot.
#[derive(Clone, Debug, PartialEq)]
pub struct PvSpec {
    /// Energy produced per slot.
    pub profile: ProfileUse,
    /// Peak capacity (for reports).
    pub capacity: Power,
    /// Selling rates over the trading window (falling).
    pub selling: RateRange,
    /// Ticks between price updates.
    pub update_interval_ticks: u32,
}

/// A battery.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageSpec {
    /// Usable capacity.
    pub capacity: Energy,
    /// Most charging power.
    pub max_charge_power: Power,
    /// Most discharging power.
    pub max_discharge_power: Power,
    /// Share of bought energy that reaches the cells, parts per million.
    pub charge_efficiency_ppm: i64,
    /// Share of the cells' energy that leaves as sold energy, parts per million.
    pub discharge_efficiency_ppm: i64,
    /// State of charge at the start, parts per million of capacity.
    pub initial_soc_ppm: i64,
    /// Lowest allowed state of charge, parts per million of capacity.
    pub min_soc_ppm: i64,
    /// Buying rates (rising).
    pub buying: RateRange,
    /// Selling rates (falling).
    pub selling: RateRange,
    /// Ticks between price updates.
    pub update_interval_ticks: u32,
}

/// One stay of a vehicle at a charger, in slots of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargingSession {
    /// First slot the vehicle is plugged in.
    pub arrival_slot: u32,
    /// First slot after it left (exclusive end); it must have its energy before this slot.
    pub departure_slot: u32,
    /// Energy the vehicle needs by departure.
    pub energy_needed: Energy,
    /// Battery capacity (bounds what a two-directional charger may hold and give back).
    pub battery_capacity: Energy,
    /// Energy in the battery on arrival.
    pub initial_energy: Energy,
}

/// An EV charger with its vehicles' sessions.
#[derive(Clone, Debug, PartialEq)]
pub struct EvChargerSpec {
    /// Sessions in time order, not overlapping.
    pub sessions: Vec<ChargingSession>,
    /// Most power in either direction.
    pub max_power: Power,
    /// Whether it may also discharge the vehicle into the grid.
    pub bidirectional: bool,
    /// Buying rates (rising; the strategy raises them further as departure nears).
    pub buying: RateRange,
    /// Selling rates for a two-directional charger (falling).
    pub selling: RateRange,
    /// Ticks between price updates.
    pub update_interval_ticks: u32,
}

/// A dispatchable generator: sells up to its power at a fixed rate.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorSpec {
    /// Most power.
    pub max_power: Power,
    /// Selling rate.
    pub rate: PriceSeries,
}

/// A connection to the wider grid: sells any amount at its tariff and buys any amount at its
/// feed-in rate (an infinite bus / market maker).
#[derive(Clone, Debug, PartialEq)]
pub struct GridConnectionSpec {
    /// Price at which it sells.
    pub tariff: PriceSeries,
    /// Price at which it buys.
    pub feed_in: PriceSeries,
}

/// What an asset is.
#[derive(Clone, Debug, PartialEq)]
pub enum AssetKind {
    /// A load.
    Load(LoadSpec),
    /// A PV plant.
    Pv(PvSpec),
    /// A battery.
    Storage(StorageSpec),
    /// An EV charger.
    EvCharger(EvChargerSpec),
    /// A generator.
    Generator(GeneratorSpec),
    /// A grid connection.
    GridConnection(GridConnectionSpec),
}

impl AssetKind {
    /// The kind's name as written in scenarios and results.
    pub fn name(&self) -> &'static str {
        match self {
            AssetKind::Load(_) => "load",
            AssetKind::Pv(_) => "pv",
            AssetKind::Storage(_) => "storage",
            AssetKind::EvCharger(_) => "ev_charger",
            AssetKind::Generator(_) => "generator",
            AssetKind::GridConnection(_) => "grid_connection",
        }
    }
}

/// One asset: a leaf that trades in its area's market.
#[derive(Clone, Debug, PartialEq)]
pub struct Asset {
    /// Name among its siblings.
    pub name: String,
    /// Full path (`Village/Street 2/House 3/PV`); unique.
    pub path: String,
    /// The area whose market it trades in.
    pub area: AreaId,
    /// What it is and its strategy parameters.
    pub kind: AssetKind,
    /// Traded only through the live exchange's API (`external: true`): it plans no orders of
    /// its own, and is metered as delivering what it traded unless the DSO posts a reading.
    pub external: bool,
}

/// The expanded scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    /// Run settings.
    pub settings: Settings,
    /// Areas in depth-first pre-order; index 0 is the root.
    pub areas: Vec<Area>,
    /// Assets.
    pub assets: Vec<Asset>,
    /// Base profiles: energy per slot for each slot of the run, shared by [`ProfileUse`]s.
    pub profiles: Vec<Vec<Energy>>,
    /// Every area after its descendants (leaves first).
    pub bottom_up: Vec<AreaId>,
    /// One past the last area of each area's subtree (pre-order numbering).
    pub subtree_end: Vec<u32>,
}

impl Topology {
    /// The energy of a profile use in a slot: base × scale, rounded to the nearest mWh; zero
    /// outside the profile (after a shift).
    pub fn profile_energy(&self, profile: ProfileUse, slot: u32) -> Energy {
        let source = slot as i64 - profile.shift_slots as i64;
        let Some(base) = self.profiles.get(profile.profile as usize) else {
            return Energy::ZERO;
        };
        if source < 0 || source as usize >= base.len() {
            return Energy::ZERO;
        }
        let value = base[source as usize].0 as i128 * profile.scale_ppm as i128;
        Energy(((value + 500_000) / 1_000_000) as i64)
    }

    /// Whether `inner` lies in the subtree of `outer` (an area is in its own subtree).
    pub fn contains(&self, outer: AreaId, inner: AreaId) -> bool {
        outer.0 <= inner.0 && inner.0 < self.subtree_end[outer.index()]
    }

    /// The root area.
    pub fn root(&self) -> AreaId {
        AreaId(0)
    }
}
