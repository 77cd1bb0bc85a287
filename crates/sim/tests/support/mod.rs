//! Topologies built in code for engine tests, independent of the scenario file format.
#![allow(dead_code)]

use nestgrid_grid::{
    Area, Asset, AssetKind, ChargingSession, EvChargerSpec, GeneratorSpec, GridConnectionSpec,
    LoadSpec, PriceSeries, ProfileUse, PvSpec, RateRange, Settings, StorageSpec, Topology,
};
use nestgrid_sim::{AreaSlot, Recorder, TradeRecord};
use nestgrid_types::{AreaId, AssetId, Energy, GridFee, Mechanism, Power, Price};

/// Builds a topology area by area. Areas must be added parent first (pre-order is computed).
pub struct Builder {
    areas: Vec<(String, Option<usize>, GridFee, Mechanism)>,
    assets: Vec<(String, usize, AssetKind)>,
    profiles: Vec<Vec<Energy>>,
    pub slots: u32,
    pub ticks_per_slot: u32,
    pub forecast_error_ppm: i64,
    /// Rates written into every strategy (for scenarios without a grid connection).
    pub rates: RateRange,
    /// Import and export limits by area (in the order areas were added).
    limits: Vec<(usize, Option<Power>, Option<Power>)>,
}

impl Builder {
    pub fn new(slots: u32) -> Self {
        Builder {
            areas: vec![("Grid".into(), None, GridFee::None, Mechanism::PayAsBid)],
            assets: vec![],
            profiles: vec![],
            slots,
            ticks_per_slot: 60,
            forecast_error_ppm: 0,
            rates: RateRange::default(),
            limits: vec![],
        }
    }

    /// Sets an area's import and export limits.
    pub fn limit(&mut self, area: usize, import: Option<Power>, export: Option<Power>) {
        self.limits.push((area, import, export));
    }

    pub fn area(&mut self, name: &str, parent: usize, fee: GridFee, mechanism: Mechanism) -> usize {
        self.areas.push((name.into(), Some(parent), fee, mechanism));
        self.areas.len() - 1
    }

    pub fn mechanism_everywhere(&mut self, mechanism: Mechanism) {
        for area in &mut self.areas {
            area.3 = mechanism;
        }
    }

    fn profile(&mut self, energies: Vec<Energy>) -> ProfileUse {
        self.profiles.push(energies);
        ProfileUse {
            profile: self.profiles.len() as u32 - 1,
            scale_ppm: 1_000_000,
            shift_slots: 0,
        }
    }

    pub fn grid(&mut self, area: usize, tariff: i64, feed_in: i64) {
        self.assets.push((
            "Grid connection".into(),
            area,
            AssetKind::GridConnection(GridConnectionSpec {
                tariff: PriceSeries::Constant(Price(tariff)),
                feed_in: PriceSeries::Constant(Price(feed_in)),
            }),
        ));
    }

    /// A grid connection whose tariff and feed-in rate change every slot.
    pub fn grid_per_slot(&mut self, area: usize, tariffs: Vec<i64>, feed_ins: Vec<i64>) {
        self.assets.push((
            "Grid connection".into(),
            area,
            AssetKind::GridConnection(GridConnectionSpec {
                tariff: PriceSeries::PerSlot(tariffs.into_iter().map(Price).collect()),
                feed_in: PriceSeries::PerSlot(feed_ins.into_iter().map(Price).collect()),
            }),
        ));
    }

    pub fn generator(&mut self, area: usize, name: &str, power_kw: i64, rate: i64) {
        self.assets.push((
            name.into(),
            area,
            AssetKind::Generator(GeneratorSpec {
                max_power: Power::from_kw(power_kw),
                rate: PriceSeries::Constant(Price(rate)),
            }),
        ));
    }

    pub fn load(&mut self, area: usize, name: &str, per_slot: Vec<Energy>) {
        let profile = self.profile(per_slot);
        self.assets.push((
            name.into(),
            area,
            AssetKind::Load(LoadSpec {
                profile,
                buying: self.rates,
                update_interval_ticks: 4,
            }),
        ));
    }

    pub fn pv(&mut self, area: usize, name: &str, per_slot: Vec<Energy>) {
        let profile = self.profile(per_slot);
        self.assets.push((
            name.into(),
            area,
            AssetKind::Pv(PvSpec {
                profile,
                capacity: Power::from_kw(5),
                selling: self.rates.reversed(),
                update_interval_ticks: 4,
            }),
        ));
    }

    pub fn storage(&mut self, area: usize, name: &str, capacity_kwh: i64, power_kw: i64) {
        self.assets.push((
            name.into(),
            area,
            AssetKind::Storage(StorageSpec {
                capacity: Energy::from_kwh(capacity_kwh),
                max_charge_power: Power::from_kw(power_kw),
                max_discharge_power: Power::from_kw(power_kw),
                charge_efficiency_ppm: 950_000,
                discharge_efficiency_ppm: 950_000,
                initial_soc_ppm: 500_000,
                min_soc_ppm: 100_000,
                buying: self.rates,
                selling: self.rates.reversed(),
                update_interval_ticks: 4,
            }),
        ));
    }

    pub fn ev(
        &mut self,
        area: usize,
        name: &str,
        sessions: Vec<ChargingSession>,
        power_kw: i64,
        bidirectional: bool,
    ) {
        self.assets.push((
            name.into(),
            area,
            AssetKind::EvCharger(EvChargerSpec {
                sessions,
                max_power: Power::from_kw(power_kw),
                bidirectional,
                buying: self.rates,
                selling: self.rates.reversed(),
                update_interval_ticks: 4,
            }),
        ));
    }

    pub fn build(&self) -> Topology {
        // Pre-order numbering: sort areas by their path of insertion indices.
        let count = self.areas.len();
        let mut children: Vec<Vec<usize>> = vec![vec![]; count];
        for (index, area) in self.areas.iter().enumerate() {
            if let Some(parent) = area.1 {
                children[parent].push(index);
            }
        }
        let mut order = Vec::new();
        let mut stack = vec![0usize];
        while let Some(next) = stack.pop() {
            order.push(next);
            for &child in children[next].iter().rev() {
                stack.push(child);
            }
        }
        let mut new_index = vec![0usize; count];
        for (position, &old) in order.iter().enumerate() {
            new_index[old] = position;
        }
        let mut areas: Vec<Area> = order
            .iter()
            .map(|&old| {
                let (name, parent, fee, mechanism) = &self.areas[old];
                Area {
                    name: name.clone(),
                    path: name.clone(),
                    parent: parent.map(|parent| AreaId(new_index[parent] as u32)),
                    children: children[old]
                        .iter()
                        .map(|&child| AreaId(new_index[child] as u32))
                        .collect(),
                    assets: vec![],
                    depth: 0,
                    fee: *fee,
                    mechanism: *mechanism,
                    import_limit: None,
                    export_limit: None,
                }
            })
            .collect();
        for &(old, import, export) in &self.limits {
            areas[new_index[old]].import_limit = import;
            areas[new_index[old]].export_limit = export;
        }
        for index in 0..count {
            if let Some(parent) = areas[index].parent {
                areas[index].depth = areas[parent.index()].depth + 1;
                areas[index].path = format!("{}/{}", areas[parent.index()].path, areas[index].name);
            }
        }
        let mut subtree_end = vec![0u32; count];
        for index in (0..count).rev() {
            let end = areas[index]
                .children
                .iter()
                .map(|child| subtree_end[child.index()])
                .max()
                .unwrap_or(index as u32 + 1);
            subtree_end[index] = end.max(index as u32 + 1);
        }
        let mut bottom_up = Vec::new();
        post_order(&areas, AreaId(0), &mut bottom_up);
        let assets: Vec<Asset> = self
            .assets
            .iter()
            .enumerate()
            .map(|(index, (name, area, kind))| {
                let area = AreaId(new_index[*area] as u32);
                areas[area.index()].assets.push(AssetId(index as u32));
                Asset {
                    name: name.clone(),
                    path: format!("{}/{}", areas[area.index()].path, name),
                    area,
                    kind: kind.clone(),
                    external: false,
                }
            })
            .collect();
        Topology {
            settings: Settings {
                name: "Grid".into(),
                start: "2026-06-21T00:00[UTC]".parse().expect("valid time"),
                slot_seconds: 900,
                tick_seconds: 900 / self.ticks_per_slot,
                slot_count: self.slots,
                seed: 7,
                currency: "EUR".into(),
                latitude: 52.5,
                longitude: 13.4,
                forward_after_ticks: 1,
                forecast_error_ppm: self.forecast_error_ppm,
            },
            areas,
            assets,
            profiles: self.profiles.clone(),
            bottom_up,
            subtree_end,
        }
    }
}

/// Swaps initial and final rates (a seller's ramp from a buyer's).
pub trait Reversed {
    fn reversed(self) -> Self;
}

impl Reversed for RateRange {
    fn reversed(self) -> Self {
        RateRange {
            initial: self.final_rate,
            final_rate: self.initial,
        }
    }
}

fn post_order(areas: &[Area], area: AreaId, out: &mut Vec<AreaId>) {
    for &child in &areas[area.index()].children {
        post_order(areas, child, out);
    }
    out.push(area);
}

/// Keeps every record in memory.
#[derive(Default)]
pub struct Memory {
    pub trades: Vec<TradeRecord>,
    pub area_slots: Vec<(u32, AreaId, AreaSlot)>,
    pub stored: Vec<(u32, AssetId, Energy)>,
}

impl Recorder for Memory {
    fn trade(&mut self, record: &TradeRecord) {
        self.trades.push(*record);
    }
    fn area_slot(&mut self, slot: u32, area: AreaId, record: &AreaSlot) {
        self.area_slots.push((slot, area, record.clone()));
    }
    fn stored(&mut self, slot: u32, asset: AssetId, stored: Energy) {
        self.stored.push((slot, asset, stored));
    }
}

/// kWh per slot as a vector of `slots` equal values.
pub fn flat(slots: u32, wh: i64) -> Vec<Energy> {
    vec![Energy::from_wh(wh); slots as usize]
}
