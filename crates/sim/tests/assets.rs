//! Asset strategies inside the engine: vehicles leave with their energy, batteries keep their
//! limits, and default rates let every load buy and every PV sell.

mod support;

use nestgrid_grid::ChargingSession;
use nestgrid_types::{Energy, GridFee, Mechanism, Price};
use support::{Builder, Memory, flat};

fn session(arrival: u32, departure: u32, needed_kwh: i64) -> ChargingSession {
    ChargingSession {
        arrival_slot: arrival,
        departure_slot: departure,
        energy_needed: Energy::from_kwh(needed_kwh),
        battery_capacity: Energy::from_kwh(60),
        initial_energy: Energy::from_kwh(20),
    }
}

#[test]
fn a_vehicle_leaves_with_the_energy_it_asked_for() {
    for mechanism in Mechanism::ALL {
        for bidirectional in [false, true] {
            let mut builder = Builder::new(12);
            builder.mechanism_everywhere(mechanism);
            builder.grid(0, 300_000, 80_000);
            let street = builder.area("Street", 0, GridFee::Constant(Price(10_000)), mechanism);
            let house = builder.area("House", street, GridFee::None, mechanism);
            // Some cheap PV in the street and a neighbour's load competing for it.
            builder.pv(house, "PV", flat(12, 1_500));
            builder.load(house, "Load", flat(12, 400));
            // 11 kW for 4 slots is 11 kWh at most: 10 kWh is tight, the first 2 kWh optional.
            builder.ev(
                house,
                "Wallbox",
                vec![session(2, 6, 10), session(8, 12, 3)],
                11,
                bidirectional,
            );
            let topology = builder.build();
            let mut memory = Memory::default();
            nestgrid_sim::Simulation::new(&topology)
                .expect("valid")
                .run(&mut memory, &mut |_| {})
                .expect("runs");
            let wallbox = topology
                .assets
                .iter()
                .position(|asset| asset.name == "Wallbox")
                .expect("ev");
            let level = |slot: u32| {
                memory
                    .stored
                    .iter()
                    .find(|(at, asset, _)| *at == slot && asset.index() == wallbox)
                    .map(|(_, _, stored)| *stored)
            };
            let label = format!("{} bidirectional={bidirectional}", mechanism.name());
            assert_eq!(
                level(5),
                Some(Energy::from_kwh(30)),
                "{label}: full by the last slot of session 1"
            );
            assert_eq!(
                level(11),
                Some(Energy::from_kwh(23)),
                "{label}: full by the last slot of session 2"
            );
            assert_eq!(level(6), None, "{label}: no vehicle between sessions");
            assert_eq!(level(0), None, "{label}: no vehicle before it arrives");
        }
    }
}

#[test]
fn batteries_stay_within_their_state_of_charge() {
    for mechanism in Mechanism::ALL {
        let mut builder = Builder::new(24);
        builder.mechanism_everywhere(mechanism);
        builder.grid(0, 300_000, 80_000);
        let house = builder.area("House", 0, GridFee::None, mechanism);
        let pv: Vec<Energy> = (0..24)
            .map(|slot| Energy::from_wh(if slot < 12 { 3_000 } else { 0 }))
            .collect();
        builder.pv(house, "PV", pv);
        builder.load(house, "Load", flat(24, 800));
        builder.storage(house, "Battery", 5, 3);
        let topology = builder.build();
        let mut memory = Memory::default();
        let outcome = nestgrid_sim::Simulation::new(&topology)
            .expect("valid")
            .run(&mut memory, &mut |_| {})
            .expect("runs");
        let battery = topology
            .assets
            .iter()
            .position(|asset| asset.name == "Battery")
            .expect("battery");
        let levels: Vec<Energy> = memory
            .stored
            .iter()
            .filter(|(_, asset, _)| asset.index() == battery)
            .map(|(_, _, stored)| *stored)
            .collect();
        assert_eq!(levels.len(), 24);
        // 10 % minimum of 5 kWh, 5 kWh capacity.
        assert!(
            levels
                .iter()
                .all(|level| *level >= Energy::from_wh(500) && *level <= Energy::from_kwh(5))
        );
        // It charged from the morning PV surplus and discharged for the evening load.
        let peak = levels.iter().copied().max().expect("levels");
        assert!(
            peak > Energy::from_kwh(4),
            "{}: charged to {peak:#}",
            mechanism.name()
        );
        assert!(levels[23] < peak, "{}: discharged later", mechanism.name());
        let account = &outcome.assets[battery];
        assert!(account.bought.is_positive() && account.sold.is_positive());
        // Bought below and sold above the middle of the grid's spread (0.08..0.30).
        let average_buy = account.spent.0 as f64 / account.bought.as_f64();
        let average_sell = account.earned.0 as f64 / account.sold.as_f64();
        assert!(
            average_buy <= 0.08e6 + 0.45 * 0.22e6 + 1.0,
            "{}: bought at {average_buy}",
            mechanism.name()
        );
        assert!(
            average_sell >= 0.08e6 + 0.55 * 0.22e6 - 1.0,
            "{}: sold at {average_sell}",
            mechanism.name()
        );
    }
}

#[test]
fn a_generator_sells_up_to_its_power_at_its_rate() {
    for mechanism in Mechanism::ALL {
        let mut builder = Builder::new(3);
        builder.mechanism_everywhere(mechanism);
        builder.grid(0, 300_000, 80_000);
        let street = builder.area("Street", 0, GridFee::None, mechanism);
        // 4 kW for 15 minutes: at most 1 kWh a slot, offered at 0.12.
        builder.generator(street, "Generator", 4, 120_000);
        builder.load(street, "Load", flat(3, 1_500));
        let topology = builder.build();
        let outcome = nestgrid_sim::run_quiet(&topology).expect("runs");
        let index = |name: &str| {
            topology
                .assets
                .iter()
                .position(|asset| asset.name == name)
                .expect(name)
        };
        let generator = &outcome.assets[index("Generator")];
        let load = &outcome.assets[index("Load")];
        // The load buys its 1.5 kWh: 1 kWh from the cheaper generator, the rest from the grid.
        assert_eq!(generator.sold, Energy::from_kwh(3), "{}", mechanism.name());
        assert_eq!(load.bought, Energy::from_wh(4_500), "{}", mechanism.name());
        // Never below its rate.
        assert!(
            generator.earned >= nestgrid_types::Money::for_energy(Price(120_000), generator.sold)
        );
    }
}

#[test]
fn loads_pay_each_slot_s_tariff_when_the_grid_price_changes() {
    let mut builder = Builder::new(3);
    builder.mechanism_everywhere(Mechanism::PayAsOffer);
    builder.grid_per_slot(
        0,
        vec![200_000, 300_000, 400_000],
        vec![50_000, 60_000, 70_000],
    );
    let house = builder.area("House", 0, GridFee::None, Mechanism::PayAsOffer);
    builder.load(house, "Load", flat(3, 1_000));
    let topology = builder.build();
    let mut memory = Memory::default();
    nestgrid_sim::Simulation::new(&topology)
        .expect("valid")
        .run(&mut memory, &mut |_| {})
        .expect("runs");
    // Pay-as-offer: the load pays the grid's offer, which is that slot's tariff.
    for (slot, tariff) in [(0, 200_000), (1, 300_000), (2, 400_000)] {
        let prices: Vec<Price> = memory
            .trades
            .iter()
            .filter(|row| row.slot == slot && row.market.0 == 0)
            .map(|row| row.price)
            .collect();
        assert!(!prices.is_empty(), "slot {slot} trades");
        assert!(
            prices.iter().all(|price| *price == Price(tariff)),
            "slot {slot}: {prices:?}"
        );
    }
}
