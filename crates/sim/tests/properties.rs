//! Rules that hold for any tree, fees, mechanisms, profiles and seeds: energy balance of every
//! area and slot, money conservation, no self-trade, every fee booked once, determinism.
//! (Individual rationality at every market of every chain is asserted inside the engine in
//! debug builds, which these tests use.)

mod support;

use nestgrid_sim::{Simulation, TradeRecord};
use nestgrid_types::{Energy, GridFee, Mechanism, Money, Participant, Power, Price};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use support::{Builder, Memory};

#[derive(Debug, Clone)]
struct Shape {
    streets: Vec<(Vec<HouseShape>, FeeShape, usize)>,
    root_mechanism: usize,
    forecast_error_ppm: i64,
    ticks: u32,
    grid: bool,
    /// Import and export limits in W for every street and house, or none.
    limits_w: Option<(i64, i64)>,
}

#[derive(Debug, Clone)]
struct HouseShape {
    load_wh: Vec<i64>,
    pv_wh: Vec<i64>,
    storage: bool,
    fee: FeeShape,
    mechanism: usize,
}

#[derive(Debug, Clone, Copy)]
enum FeeShape {
    None,
    Constant(i64),
    Percent(i64),
}

impl FeeShape {
    fn fee(self) -> GridFee {
        match self {
            FeeShape::None => GridFee::None,
            FeeShape::Constant(micro) => GridFee::Constant(Price(micro)),
            FeeShape::Percent(ppm) => GridFee::PartsPerMillion(ppm),
        }
    }
}

const SLOTS: u32 = 3;

fn fee_shape() -> impl Strategy<Value = FeeShape> {
    prop_oneof![
        Just(FeeShape::None),
        (1i64..40_000).prop_map(FeeShape::Constant),
        (1i64..200_000).prop_map(FeeShape::Percent),
    ]
}

fn house_shape() -> impl Strategy<Value = HouseShape> {
    (
        prop::collection::vec(0i64..3_000, SLOTS as usize),
        prop::collection::vec(0i64..4_000, SLOTS as usize),
        any::<bool>(),
        fee_shape(),
        0usize..Mechanism::CLEARING.len(),
    )
        .prop_map(|(load_wh, pv_wh, storage, fee, mechanism)| HouseShape {
            load_wh,
            pv_wh,
            storage,
            fee,
            mechanism,
        })
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(
            (
                prop::collection::vec(house_shape(), 1..4),
                fee_shape(),
                0usize..Mechanism::CLEARING.len(),
            ),
            1..4,
        ),
        0usize..Mechanism::CLEARING.len(),
        prop_oneof![Just(0i64), 1i64..200_000],
        prop_oneof![Just(1u32), Just(4), Just(12)],
        prop_oneof![4 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |(streets, root_mechanism, forecast_error_ppm, ticks, grid)| Shape {
                streets,
                root_mechanism,
                forecast_error_ppm,
                ticks,
                grid,
                limits_w: None,
            },
        )
}

fn build(shape: &Shape) -> nestgrid_grid::Topology {
    let mut builder = Builder::new(SLOTS);
    builder.ticks_per_slot = shape.ticks;
    builder.forecast_error_ppm = shape.forecast_error_ppm;
    builder.mechanism_everywhere(Mechanism::CLEARING[shape.root_mechanism]);
    if shape.grid {
        builder.grid(0, 300_000, 80_000);
    } else {
        // An island: every rate given, imbalances go unserved or are curtailed.
        builder.rates = nestgrid_grid::RateRange {
            initial: Some(Price(50_000)),
            final_rate: Some(Price(250_000)),
        };
    }
    // Below a curve area every area clears by curves, with constant fees: a drawn mechanism or
    // percentage fee there becomes curve and a constant fee of the same digits.
    let inside_curve = |parent: Mechanism, mechanism: usize, fee: FeeShape| match parent {
        Mechanism::Curve => (
            Mechanism::Curve,
            match fee {
                FeeShape::Percent(ppm) => GridFee::Constant(Price(ppm / 5)),
                other => other.fee(),
            },
        ),
        _ => (Mechanism::CLEARING[mechanism], fee.fee()),
    };
    let root_mechanism = Mechanism::CLEARING[shape.root_mechanism];
    for (street_index, (houses, fee, mechanism)) in shape.streets.iter().enumerate() {
        let (street_mechanism, street_fee) = inside_curve(root_mechanism, *mechanism, *fee);
        let street = builder.area(
            &format!("Street {street_index}"),
            0,
            street_fee,
            street_mechanism,
        );
        if let Some((import, export)) = shape.limits_w {
            builder.limit(street, Some(Power(import)), Some(Power(export)));
        }
        for (house_index, house) in houses.iter().enumerate() {
            let (house_mechanism, house_fee) =
                inside_curve(street_mechanism, house.mechanism, house.fee);
            let area = builder.area(
                &format!("House {house_index}"),
                street,
                house_fee,
                house_mechanism,
            );
            if let Some((import, export)) = shape.limits_w {
                builder.limit(area, Some(Power(import / 2)), Some(Power(export / 2)));
            }
            builder.load(
                area,
                "Load",
                house
                    .load_wh
                    .iter()
                    .map(|&wh| Energy::from_wh(wh))
                    .collect(),
            );
            builder.pv(
                area,
                "PV",
                house.pv_wh.iter().map(|&wh| Energy::from_wh(wh)).collect(),
            );
            if house.storage {
                builder.storage(area, "Battery", 5, 3);
            }
        }
    }
    builder.build()
}

fn run(topology: &nestgrid_grid::Topology) -> (Memory, nestgrid_sim::Outcome) {
    let mut memory = Memory::default();
    let outcome = Simulation::new(topology)
        .expect("valid")
        .run(&mut memory, &mut |_| {})
        .expect("runs");
    (memory, outcome)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_area_and_slot_balances(shape in shape()) {
        check_balances(&shape)?;
    }

    #[test]
    fn money_is_conserved_and_fees_booked_once(shape in shape()) {
        check_money(&shape)?;
    }

    #[test]
    fn curve_regions_keep_every_rule(shape in curve_shape()) {
        check_balances(&shape)?;
        check_money(&shape)?;
    }

    #[test]
    fn limits_hold_on_every_boundary(shape in limited_shape()) {
        check_balances(&shape)?;
        check_money(&shape)?;
        check_limits(&shape)?;
    }

    #[test]
    fn same_shape_same_records(shape in shape()) {
        let topology = build(&shape);
        let (first, _) = run(&topology);
        let (second, _) = run(&topology);
        prop_assert_eq!(first.trades, second.trades);
        prop_assert_eq!(first.area_slots, second.area_slots);
    }
}

/// Shapes whose root, and so the whole tree, clears by bid curves; or whose streets start curve
/// regions under a root of another mechanism.
fn curve_shape() -> impl Strategy<Value = Shape> {
    (shape(), any::<bool>()).prop_map(|(mut shape, whole_tree)| {
        let curve = Mechanism::CLEARING
            .iter()
            .position(|&mechanism| mechanism == Mechanism::Curve)
            .expect("curve is a clearing mechanism");
        if whole_tree {
            shape.root_mechanism = curve;
        } else {
            if shape.root_mechanism == curve {
                shape.root_mechanism = 1;
            }
            for street in &mut shape.streets {
                street.2 = curve;
            }
        }
        shape
    })
}

/// Shapes whose streets and houses have import and export limits (houses half the streets'),
/// in every mechanism, curve regions included.
fn limited_shape() -> impl Strategy<Value = Shape> {
    (shape(), 400i64..20_000_000, 400i64..20_000_000).prop_map(|(mut shape, import, export)| {
        shape.limits_w = Some((import, export));
        shape
    })
}

/// What the markets trade across each limited boundary in a slot stays within the limit. A
/// crossing is booked once, by the lower market: its parent's agent is the buyer (export) or the
/// seller (import).
fn check_limits(shape: &Shape) -> Result<(), TestCaseError> {
    let topology = build(shape);
    let (memory, _) = run(&topology);
    let mut crossed: BTreeMap<(u32, usize, bool), i64> = BTreeMap::new();
    for record in &memory.trades {
        let Some(parent) = topology.areas[record.market.index()].parent else {
            continue;
        };
        if record.buyer == Participant::Area(parent) {
            *crossed
                .entry((record.slot, record.market.index(), false))
                .or_default() += record.energy.0;
        }
        if record.seller == Participant::Area(parent) {
            *crossed
                .entry((record.slot, record.market.index(), true))
                .or_default() += record.energy.0;
        }
    }
    for ((slot, area, import), energy) in crossed {
        let area = &topology.areas[area];
        let limit = if import {
            area.import_limit
        } else {
            area.export_limit
        };
        if let Some(limit) = limit {
            let room = limit.energy_over(topology.settings.slot_seconds);
            prop_assert!(
                energy <= room.0,
                "slot {} {}: {} {} beyond the limit {}",
                slot,
                area.path,
                if import { "imported" } else { "exported" },
                energy,
                room.0
            );
        }
    }
    Ok(())
}

fn check_balances(shape: &Shape) -> Result<(), TestCaseError> {
    let topology = build(shape);
    let (memory, _) = run(&topology);
    prop_assert_eq!(
        memory.area_slots.len(),
        topology.areas.len() * SLOTS as usize
    );
    for (slot, area, record) in &memory.area_slots {
        let supply = record.production
            + record.storage_discharge
            + record.grid_supply
            + record.imported
            + record.unserved;
        let demand = record.consumption
            + record.storage_charge
            + record.grid_absorb
            + record.exported
            + record.curtailed;
        prop_assert_eq!(
            supply,
            demand,
            "slot {} area {}",
            slot,
            topology.areas[area.index()].path
        );
        prop_assert!(record.self_consumed() >= Energy::ZERO);
    }
    Ok(())
}

fn check_money(shape: &Shape) -> Result<(), TestCaseError> {
    let topology = build(shape);
    let (memory, outcome) = run(&topology);
    let mut chains: BTreeMap<u64, Vec<TradeRecord>> = BTreeMap::new();
    for record in &memory.trades {
        prop_assert!(record.buyer != record.seller, "self-trade in {:?}", record);
        prop_assert!(record.energy.0 > 0);
        chains.entry(record.trade).or_default().push(*record);
    }
    for chain in chains.values() {
        let seller = chain
            .iter()
            .find(|row| matches!(row.seller, Participant::Asset(_)))
            .expect("seller row");
        let buyer = chain
            .iter()
            .find(|row| matches!(row.buyer, Participant::Asset(_)))
            .expect("buyer row");
        let fees: Money = chain.iter().map(|row| row.fee).sum();
        prop_assert!(chain.iter().all(|row| row.fee >= Money::ZERO));
        let surplus: Money = chain.iter().map(|row| row.surplus).sum();
        prop_assert!(
            chain
                .iter()
                .filter(|row| row.surplus != Money::ZERO)
                .count()
                <= 1
        );
        // The seller's row shows the buyer's price when the match was in its own market.
        let seller_receives = Money::for_energy(seller.price, seller.energy) - seller.surplus;
        prop_assert_eq!(
            Money::for_energy(buyer.price, buyer.energy),
            seller_receives + fees + surplus
        );
        // One row per market: no market books a chain twice.
        let mut markets: Vec<_> = chain.iter().map(|row| row.market).collect();
        markets.sort();
        markets.dedup();
        prop_assert_eq!(markets.len(), chain.len());
    }
    let net: Money = outcome
        .assets
        .iter()
        .map(|account| account.net_cost())
        .sum();
    let fees: Money = outcome
        .areas
        .iter()
        .map(|account| account.fees_collected + account.surplus_collected)
        .sum();
    prop_assert_eq!(net, fees);
    // No asset traded beyond what it planned: bought/sold never negative, batteries in range.
    for (slot, asset, stored) in &memory.stored {
        prop_assert!(
            stored.0 >= 0 && *stored <= Energy::from_kwh(5),
            "slot {} asset {:?}",
            slot,
            asset
        );
    }
    Ok(())
}
