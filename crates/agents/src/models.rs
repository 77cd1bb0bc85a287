//! The asset models and their default strategies.
//!
//! | asset | plan per slot | delivery |
//! | --- | --- | --- |
//! | load | buy its profile energy, rate rising initial → final | its (noisy) profile, whatever it bought |
//! | pv | sell its profile energy, rate falling initial → final | its (noisy) profile |
//! | storage | buy up to its free room, sell down to its minimum, within power limits | what it traded; state of charge updated with efficiencies |
//! | EV charger | must-buy energy at the grid price, optional energy at a rate rising with the session's progress; two-directional chargers also sell what they can buy back in time | what it traded |
//! | generator | sell its power at its rate | what it sold |
//! | grid connection | sell any amount at its tariff, buy any amount at its feed-in rate | what it traded (plus imbalances, booked by the engine) |

use crate::ramp::Ramp;
use crate::seen::{SeenPrices, seen_prices};
use nestgrid_grid::{AssetKind, ChargingSession, RateRange, Topology};
use nestgrid_types::{Energy, Power, Price, Side};

/// "Any amount" for a grid connection: 2⁵⁰ mWh ≈ 1.1 TWh per slot, far above any feeder, and
/// small enough that sums of a few thousand such orders cannot overflow `i64`.
pub const UNLIMITED_ENERGY: Energy = Energy(1 << 50);

/// Why agents could not be built from a topology.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// A rate was left to its default but there is no grid connection to derive it from.
    #[error(
        "{asset}: {field} is not set and the scenario has no grid connection to derive it from"
    )]
    NoDefaultRate {
        /// Asset path.
        asset: String,
        /// Which rate.
        field: &'static str,
    },
}

/// One order leg of a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    /// Buy or sell.
    pub side: Side,
    /// Energy to trade in the slot.
    pub energy: Energy,
    /// Prices over the trading window.
    pub ramp: Ramp,
}

/// What an asset wants to trade in one slot: at most three legs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    legs: [Option<Leg>; 3],
}

impl Plan {
    /// Adds a leg if it has energy; plans hold at most three.
    pub fn push(&mut self, leg: Leg) {
        if !leg.energy.is_positive() {
            return;
        }
        if let Some(free) = self.legs.iter_mut().find(|slot| slot.is_none()) {
            *free = Some(leg);
        }
    }
    /// The legs.
    pub fn legs(&self) -> impl Iterator<Item = &Leg> {
        self.legs.iter().flatten()
    }
}

/// Metered energy of an asset in a slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Energy that flowed from the grid into the asset (consumption, charging, grid connection buying).
    pub energy_in: Energy,
    /// Energy that flowed from the asset into the grid (production, discharging, grid connection selling).
    pub energy_out: Energy,
    /// Energy stored at the end of the slot (batteries and vehicles), if the asset stores.
    pub stored: Option<Energy>,
}

#[derive(Clone, Debug)]
struct Load {
    profile: nestgrid_grid::ProfileUse,
    buying: RateRange,
    update: u32,
    /// Profile energy of the current slot (what the plan asked for).
    expected: Energy,
}

#[derive(Clone, Debug)]
struct Pv {
    profile: nestgrid_grid::ProfileUse,
    selling: RateRange,
    update: u32,
    expected: Energy,
}

#[derive(Clone, Debug)]
struct Storage {
    capacity: Energy,
    charge_max: Energy,
    discharge_max: Energy,
    charge_efficiency_ppm: i64,
    discharge_efficiency_ppm: i64,
    minimum: Energy,
    stored: Energy,
    buying: RateRange,
    selling: RateRange,
    update: u32,
}

#[derive(Clone, Debug)]
struct EvCharger {
    sessions: Vec<ChargingSession>,
    per_slot_max: Energy,
    bidirectional: bool,
    buying: RateRange,
    selling: RateRange,
    update: u32,
    /// Energy in the vehicle now (meaningful while a session is active).
    battery: Energy,
    /// Index of the session the vehicle belongs to, if plugged in this slot.
    active: Option<usize>,
}

#[derive(Clone, Debug)]
struct Generator {
    per_slot_max: Energy,
    rate: nestgrid_grid::PriceSeries,
}

#[derive(Clone, Debug)]
struct GridConnection {
    tariff: nestgrid_grid::PriceSeries,
    feed_in: nestgrid_grid::PriceSeries,
}

#[derive(Clone, Debug)]
enum Model {
    Load(Load),
    Pv(Pv),
    Storage(Storage),
    EvCharger(EvCharger),
    Generator(Generator),
    GridConnection(GridConnection),
}

/// One asset's agent: its model, state and strategy.
#[derive(Clone, Debug)]
pub struct AssetAgent {
    model: Model,
    /// Traded through the live exchange's API: plans no orders and delivers what it traded.
    external: bool,
    path: String,
}

fn scale_ppm(energy: Energy, ppm: i64) -> Energy {
    Energy((energy.0 as i128 * ppm as i128 / 1_000_000) as i64)
}

fn div_ppm(energy: Energy, ppm: i64) -> Energy {
    if ppm <= 0 {
        return Energy::ZERO;
    }
    Energy((energy.0 as i128 * 1_000_000 / ppm as i128) as i64)
}

/// A point between `low` and `high`: `low + (high - low) * share / 1000`.
fn between(low: Price, high: Price, share_per_mille: i64) -> Price {
    Price(low.0 + (high.0 - low.0) * share_per_mille / 1_000)
}

/// Relative noise for forecast errors: a deterministic, approximately normal draw with the given
/// relative standard deviation (ppm), from a hash of (seed, asset, slot). Sum of four uniforms,
/// scaled to unit variance; bounded at ±3.46 σ so energies stay non-negative for σ < 28 %.
fn noise_ppm(seed: u64, asset: u32, slot: u32, sigma_ppm: i64) -> i64 {
    if sigma_ppm == 0 {
        return 0;
    }
    let mut state = seed ^ ((asset as u64) << 32 | slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut sum = 0.0;
    for _ in 0..4 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        sum += (z >> 11) as f64 / (1u64 << 53) as f64;
    }
    // Four uniforms: mean 2, variance 1/3.
    let standard = (sum - 2.0) * 3.0_f64.sqrt();
    (standard * sigma_ppm as f64).round() as i64
}

fn with_noise(energy: Energy, noise_ppm: i64) -> Energy {
    Energy((energy.0 as i128 * (1_000_000 + noise_ppm) as i128 / 1_000_000).max(0) as i64)
}

impl AssetAgent {
    /// Full path of the asset (for messages).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the asset trades only through the live exchange's API.
    pub fn is_external(&self) -> bool {
        self.external
    }

    /// Whether this agent is a grid connection (an infinite bus at the tree's edge).
    pub fn is_grid_connection(&self) -> bool {
        matches!(self.model, Model::GridConnection(_))
    }

    /// Whether the asset is a stationary battery (absent from the grid-only base case).
    pub fn is_battery(&self) -> bool {
        matches!(self.model, Model::Storage(_))
    }

    /// Whether the asset stores energy (its charging is storage, not consumption).
    pub fn is_storage(&self) -> bool {
        matches!(self.model, Model::Storage(_) | Model::EvCharger(_))
    }

    /// The grid connection's prices in a slot (tariff, feed-in), if this is one.
    pub fn grid_rates(&self, slot: u32) -> Option<(Price, Price)> {
        match &self.model {
            Model::GridConnection(grid) => Some((grid.tariff.at(slot), grid.feed_in.at(slot))),
            _ => None,
        }
    }

    /// Energy stored now: a battery's charge, or the plugged-in vehicle's (none while no
    /// vehicle is plugged in).
    pub fn stored(&self) -> Option<Energy> {
        match &self.model {
            Model::Storage(storage) => Some(storage.stored),
            Model::EvCharger(charger) => charger.active.map(|_| charger.battery),
            _ => None,
        }
    }

    /// Sets the energy a battery holds (restoring its state after a restart); other assets
    /// ignore it. The value is kept between zero and the capacity.
    pub fn restore_stored(&mut self, energy: Energy) {
        if let Model::Storage(storage) = &mut self.model {
            storage.stored = energy.max(Energy::ZERO).min(storage.capacity);
        }
    }

    /// What the asset wants to trade in `slot`. `seen` are the grid prices in its market.
    pub fn plan(
        &mut self,
        topology: &Topology,
        slot: u32,
        seen: Option<SeenPrices>,
    ) -> Result<Plan, AgentError> {
        let mut plan = Plan::default();
        if self.external {
            return Ok(plan);
        }
        let path = &self.path;
        let rate = |value: Option<Price>, field: &'static str, default: fn(SeenPrices) -> Price| {
            value
                .or_else(|| seen.map(default))
                .ok_or_else(|| AgentError::NoDefaultRate {
                    asset: path.clone(),
                    field,
                })
        };
        match &mut self.model {
            Model::Load(load) => {
                load.expected = topology.profile_energy(load.profile, slot);
                plan.push(Leg {
                    side: Side::Buy,
                    energy: load.expected,
                    ramp: Ramp {
                        initial: rate(load.buying.initial, "initial_buying_rate", |s| s.grid_buy)?,
                        final_rate: rate(load.buying.final_rate, "final_buying_rate", |s| {
                            s.grid_sell
                        })?,
                        update_interval_ticks: load.update,
                    },
                });
            }
            Model::Pv(pv) => {
                pv.expected = topology.profile_energy(pv.profile, slot);
                plan.push(Leg {
                    side: Side::Sell,
                    energy: pv.expected,
                    ramp: Ramp {
                        initial: rate(pv.selling.initial, "initial_selling_rate", |s| s.grid_sell)?,
                        final_rate: rate(pv.selling.final_rate, "final_selling_rate", |s| {
                            s.grid_buy
                        })?,
                        update_interval_ticks: pv.update,
                    },
                });
            }
            Model::Storage(storage) => {
                // Buy cheap (up to 45 % of the way from the grid's buying to its selling price),
                // sell dear (down to 55 %), so the battery never trades with itself and earns
                // the spread it bridges.
                let room = storage
                    .capacity
                    .saturating_sub(storage.stored)
                    .max(Energy::ZERO);
                let buy = div_ppm(room, storage.charge_efficiency_ppm).min(storage.charge_max);
                let available = storage
                    .stored
                    .saturating_sub(storage.minimum)
                    .max(Energy::ZERO);
                let sell = scale_ppm(available, storage.discharge_efficiency_ppm)
                    .min(storage.discharge_max);
                plan.push(Leg {
                    side: Side::Buy,
                    energy: buy,
                    ramp: Ramp {
                        initial: rate(storage.buying.initial, "initial_buying_rate", |s| {
                            s.grid_buy
                        })?,
                        final_rate: rate(storage.buying.final_rate, "final_buying_rate", |s| {
                            between(s.grid_buy, s.grid_sell, 450)
                        })?,
                        update_interval_ticks: storage.update,
                    },
                });
                plan.push(Leg {
                    side: Side::Sell,
                    energy: sell,
                    ramp: Ramp {
                        initial: rate(storage.selling.initial, "initial_selling_rate", |s| {
                            s.grid_sell
                        })?,
                        final_rate: rate(storage.selling.final_rate, "final_selling_rate", |s| {
                            between(s.grid_buy, s.grid_sell, 550)
                        })?,
                        update_interval_ticks: storage.update,
                    },
                });
            }
            Model::EvCharger(charger) => {
                charger.active = charger.sessions.iter().position(|session| {
                    session.arrival_slot <= slot && slot < session.departure_slot
                });
                let Some(index) = charger.active else {
                    return Ok(plan);
                };
                let session = &charger.sessions[index];
                if slot == session.arrival_slot {
                    charger.battery = session.initial_energy;
                }
                let target =
                    (session.initial_energy + session.energy_needed).min(session.battery_capacity);
                let missing = target.saturating_sub(charger.battery).max(Energy::ZERO);
                let slots_left = (session.departure_slot - slot) as i64;
                let later = Energy(charger.per_slot_max.0.saturating_mul(slots_left - 1));
                // What cannot wait: the vehicle must leave with its energy, so this part bids
                // the grid price from the first tick.
                let must = missing
                    .saturating_sub(later)
                    .max(Energy::ZERO)
                    .min(charger.per_slot_max);
                let optional = missing.min(charger.per_slot_max).saturating_sub(must);
                let room = session
                    .battery_capacity
                    .saturating_sub(charger.battery)
                    .max(Energy::ZERO);
                let optional = optional.min(room.saturating_sub(must).max(Energy::ZERO));
                let length = (session.departure_slot - session.arrival_slot).max(1) as i64;
                let progress = ((slot - session.arrival_slot) as i64 * 1_000) / length;
                let grid_sell = rate(charger.buying.final_rate, "final_buying_rate", |s| {
                    s.grid_sell
                })?;
                plan.push(Leg {
                    side: Side::Buy,
                    energy: must,
                    ramp: Ramp::constant(grid_sell),
                });
                let initial = rate(charger.buying.initial, "initial_buying_rate", |s| {
                    s.grid_buy
                })?;
                // Willingness to pay rises with the session's progress, towards the grid price.
                let final_rate = between(initial, grid_sell, 450 + progress * 550 / 1_000);
                plan.push(Leg {
                    side: Side::Buy,
                    energy: optional,
                    ramp: Ramp {
                        initial,
                        final_rate,
                        update_interval_ticks: charger.update,
                    },
                });
                if charger.bidirectional {
                    // Sell only what can be bought back before departure at full power.
                    let spare = charger
                        .battery
                        .saturating_add(later)
                        .saturating_sub(target)
                        .max(Energy::ZERO)
                        .min(charger.battery)
                        .min(charger.per_slot_max);
                    plan.push(Leg {
                        side: Side::Sell,
                        energy: spare,
                        ramp: Ramp {
                            initial: rate(charger.selling.initial, "initial_selling_rate", |s| {
                                s.grid_sell
                            })?,
                            final_rate: rate(
                                charger.selling.final_rate,
                                "final_selling_rate",
                                |s| between(s.grid_buy, s.grid_sell, 800),
                            )?,
                            update_interval_ticks: charger.update,
                        },
                    });
                }
            }
            Model::Generator(generator) => {
                plan.push(Leg {
                    side: Side::Sell,
                    energy: generator.per_slot_max,
                    ramp: Ramp::constant(generator.rate.at(slot)),
                });
            }
            Model::GridConnection(grid) => {
                plan.push(Leg {
                    side: Side::Sell,
                    energy: UNLIMITED_ENERGY,
                    ramp: Ramp::constant(grid.tariff.at(slot)),
                });
                plan.push(Leg {
                    side: Side::Buy,
                    energy: UNLIMITED_ENERGY,
                    ramp: Ramp::constant(grid.feed_in.at(slot)),
                });
            }
        }
        Ok(plan)
    }

    /// The metered delivery of the slot, given what the asset bought and sold. `noise` is the
    /// forecast error draw: (seed, asset index, relative standard deviation in ppm).
    pub fn deliver(
        &mut self,
        slot: u32,
        bought: Energy,
        sold: Energy,
        noise: (u64, u32, i64),
    ) -> Delivery {
        let (seed, asset, sigma) = noise;
        match &mut self.model {
            Model::Load(_) | Model::Pv(_) if self.external => Delivery {
                energy_in: bought,
                energy_out: sold,
                stored: None,
            },
            Model::Load(load) => Delivery {
                energy_in: with_noise(load.expected, noise_ppm(seed, asset, slot, sigma)),
                ..Delivery::default()
            },
            Model::Pv(pv) => Delivery {
                energy_out: with_noise(pv.expected, noise_ppm(seed, asset, slot, sigma)),
                ..Delivery::default()
            },
            Model::Storage(storage) => {
                storage.stored = storage.stored + scale_ppm(bought, storage.charge_efficiency_ppm)
                    - div_ppm(sold, storage.discharge_efficiency_ppm);
                storage.stored = storage.stored.min(storage.capacity).max(Energy::ZERO);
                Delivery {
                    energy_in: bought,
                    energy_out: sold,
                    stored: Some(storage.stored),
                }
            }
            Model::EvCharger(charger) => {
                if charger.active.is_some() {
                    charger.battery = charger.battery + bought - sold;
                }
                Delivery {
                    energy_in: bought,
                    energy_out: sold,
                    stored: Some(if charger.active.is_some() {
                        charger.battery
                    } else {
                        Energy::ZERO
                    }),
                }
            }
            Model::Generator(_) | Model::GridConnection(_) => Delivery {
                energy_in: bought,
                energy_out: sold,
                stored: None,
            },
        }
    }
}

/// Builds one agent per asset of the topology, in asset order, and checks that every rate left
/// to its default can be derived (there is a grid connection).
pub fn build_agents(topology: &Topology) -> Result<Vec<AssetAgent>, AgentError> {
    let slot_seconds = topology.settings.slot_seconds;
    let per_slot = |power: Power| power.energy_over(slot_seconds);
    let agents: Vec<AssetAgent> = topology
        .assets
        .iter()
        .map(|asset| {
            let model = match &asset.kind {
                AssetKind::Load(spec) => Model::Load(Load {
                    profile: spec.profile,
                    buying: spec.buying,
                    update: spec.update_interval_ticks.max(1),
                    expected: Energy::ZERO,
                }),
                AssetKind::Pv(spec) => Model::Pv(Pv {
                    profile: spec.profile,
                    selling: spec.selling,
                    update: spec.update_interval_ticks.max(1),
                    expected: Energy::ZERO,
                }),
                AssetKind::Storage(spec) => Model::Storage(Storage {
                    capacity: spec.capacity,
                    charge_max: per_slot(spec.max_charge_power),
                    discharge_max: per_slot(spec.max_discharge_power),
                    charge_efficiency_ppm: spec.charge_efficiency_ppm,
                    discharge_efficiency_ppm: spec.discharge_efficiency_ppm,
                    minimum: scale_ppm(spec.capacity, spec.min_soc_ppm),
                    stored: scale_ppm(spec.capacity, spec.initial_soc_ppm),
                    buying: spec.buying,
                    selling: spec.selling,
                    update: spec.update_interval_ticks.max(1),
                }),
                AssetKind::EvCharger(spec) => Model::EvCharger(EvCharger {
                    sessions: spec.sessions.clone(),
                    per_slot_max: per_slot(spec.max_power),
                    bidirectional: spec.bidirectional,
                    buying: spec.buying,
                    selling: spec.selling,
                    update: spec.update_interval_ticks.max(1),
                    battery: Energy::ZERO,
                    active: None,
                }),
                AssetKind::Generator(spec) => Model::Generator(Generator {
                    per_slot_max: per_slot(spec.max_power),
                    rate: spec.rate.clone(),
                }),
                AssetKind::GridConnection(spec) => Model::GridConnection(GridConnection {
                    tariff: spec.tariff.clone(),
                    feed_in: spec.feed_in.clone(),
                }),
            };
            AssetAgent {
                model,
                external: asset.external,
                path: asset.path.clone(),
            }
        })
        .collect();
    // Fail early, naming the asset, when a default rate cannot be derived.
    if topology.settings.slot_count > 0 {
        let seen = seen_prices(topology, 0);
        for (index, agent) in agents.iter().enumerate() {
            let mut probe = agent.clone();
            probe.plan(topology, 0, seen[topology.assets[index].area.index()])?;
        }
    }
    Ok(agents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_centred() {
        assert_eq!(noise_ppm(1, 2, 3, 100_000), noise_ppm(1, 2, 3, 100_000));
        assert_eq!(noise_ppm(1, 2, 3, 0), 0);
        let draws: Vec<i64> = (0..20_000)
            .map(|slot| noise_ppm(7, 1, slot, 100_000))
            .collect();
        let mean = draws.iter().sum::<i64>() as f64 / draws.len() as f64;
        let variance = draws
            .iter()
            .map(|d| (*d as f64 - mean).powi(2))
            .sum::<f64>()
            / draws.len() as f64;
        assert!(mean.abs() < 3_000.0, "mean {mean}");
        assert!(
            (variance.sqrt() - 100_000.0).abs() < 5_000.0,
            "sd {}",
            variance.sqrt()
        );
    }

    #[test]
    fn plan_keeps_at_most_three_positive_legs() {
        let mut plan = Plan::default();
        let leg = |energy| Leg {
            side: Side::Buy,
            energy: Energy(energy),
            ramp: Ramp::constant(Price(1)),
        };
        plan.push(leg(0));
        plan.push(leg(1));
        plan.push(leg(2));
        plan.push(leg(3));
        plan.push(leg(4));
        assert_eq!(
            plan.legs().map(|leg| leg.energy.0).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
    }
}
