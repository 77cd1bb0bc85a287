//! Trade chains across three levels: each fee booked once, to the area whose boundary the
//! energy crosses; money conserved per chain and over the whole run.

mod support;

use nestgrid_sim::{Simulation, TradeRecord};
use nestgrid_types::{AreaId, GridFee, Mechanism, Money, Participant, Price};
use std::collections::BTreeMap;
use support::{Builder, Memory, flat};

/// Grid ─ Street A (fee 0.01) ─ House A1 (0.005): PV 1 kWh per slot
///      └ Street B (fee 0.02) ─ House B1 (0.003): load 1 kWh per slot
fn two_streets(mechanism: Mechanism) -> Builder {
    let mut builder = Builder::new(2);
    let street_a = builder.area("Street A", 0, GridFee::Constant(Price(10_000)), mechanism);
    let street_b = builder.area("Street B", 0, GridFee::Constant(Price(20_000)), mechanism);
    let house_a = builder.area(
        "House A1",
        street_a,
        GridFee::Constant(Price(5_000)),
        mechanism,
    );
    let house_b = builder.area(
        "House B1",
        street_b,
        GridFee::Constant(Price(3_000)),
        mechanism,
    );
    builder.mechanism_everywhere(mechanism);
    builder.grid(0, 300_000, 80_000);
    builder.pv(house_a, "PV", flat(2, 1_000));
    builder.load(house_b, "Load", flat(2, 1_000));
    builder
}

fn chains(trades: &[TradeRecord]) -> BTreeMap<u64, Vec<TradeRecord>> {
    let mut chains: BTreeMap<u64, Vec<TradeRecord>> = BTreeMap::new();
    for record in trades {
        chains.entry(record.trade).or_default().push(*record);
    }
    chains
}

#[test]
fn a_chain_across_three_levels_books_each_fee_once() {
    for mechanism in Mechanism::ALL {
        let topology = two_streets(mechanism).build();
        let area = |path: &str| {
            AreaId(
                topology
                    .areas
                    .iter()
                    .position(|area| area.path == path)
                    .expect("area") as u32,
            )
        };
        let (grid, street_a, street_b) =
            (area("Grid"), area("Grid/Street A"), area("Grid/Street B"));
        let (house_a, house_b) = (
            area("Grid/Street A/House A1"),
            area("Grid/Street B/House B1"),
        );
        let mut memory = Memory::default();
        let outcome = Simulation::new(&topology)
            .expect("valid")
            .run(&mut memory, &mut |_| {})
            .expect("runs");
        // The PV's energy reaches the load through five markets.
        let pv_to_load: Vec<Vec<TradeRecord>> = chains(&memory.trades)
            .into_values()
            .filter(|chain| chain.len() == 5)
            .collect();
        assert!(
            !pv_to_load.is_empty(),
            "{}: the PV must sell to the load",
            mechanism.name()
        );
        for chain in &pv_to_load {
            let markets: Vec<AreaId> = chain.iter().map(|record| record.market).collect();
            assert_eq!(markets, vec![house_a, street_a, grid, street_b, house_b]);
            let energy = chain[0].energy;
            let fee_of = |market: AreaId| {
                chain
                    .iter()
                    .find(|record| record.market == market)
                    .expect("row")
                    .fee
            };
            assert_eq!(fee_of(house_a), Money::for_energy(Price(5_000), energy));
            assert_eq!(fee_of(street_a), Money::for_energy(Price(10_000), energy));
            assert_eq!(
                fee_of(grid),
                Money::ZERO,
                "the top of the path charges nothing"
            );
            assert_eq!(fee_of(street_b), Money::for_energy(Price(20_000), energy));
            assert_eq!(fee_of(house_b), Money::for_energy(Price(3_000), energy));
            // As each market saw it: owners hidden behind areas.
            assert_eq!(chain[2].seller, Participant::Area(street_a));
            assert_eq!(chain[2].buyer, Participant::Area(street_b));
            assert!(matches!(chain[0].seller, Participant::Asset(_)));
            assert!(matches!(chain[4].buyer, Participant::Asset(_)));
            assert_eq!(chain[4].price.0 - chain[0].price.0, 38_000);
        }
        // Every fee an area collected is in the trade records, once.
        let mut collected: BTreeMap<AreaId, Money> = BTreeMap::new();
        for record in &memory.trades {
            *collected.entry(record.market).or_default() += record.fee;
        }
        for (index, account) in outcome.areas.iter().enumerate() {
            let area = AreaId(index as u32);
            assert_eq!(
                account.fees_collected,
                collected.get(&area).copied().unwrap_or_default()
            );
        }
        assert_eq!(outcome.areas[grid.index()].fees_collected, Money::ZERO);
    }
}

#[test]
fn buyer_pays_seller_receives_plus_fees_in_every_chain() {
    for mechanism in Mechanism::ALL {
        let topology = two_streets(mechanism).build();
        let mut memory = Memory::default();
        let outcome = Simulation::new(&topology)
            .expect("valid")
            .run(&mut memory, &mut |_| {})
            .expect("runs");
        for chain in chains(&memory.trades).values() {
            let seller_row = chain
                .iter()
                .find(|row| matches!(row.seller, Participant::Asset(_)))
                .expect("seller");
            let buyer_row = chain
                .iter()
                .find(|row| matches!(row.buyer, Participant::Asset(_)))
                .expect("buyer");
            let fees: Money = chain.iter().map(|row| row.fee).sum();
            assert_eq!(
                Money::for_energy(buyer_row.price, buyer_row.energy),
                Money::for_energy(seller_row.price, seller_row.energy) + fees
            );
            assert!(
                chain.iter().all(|row| row.buyer != row.seller),
                "no self-trade"
            );
        }
        // Over the run: what assets paid net equals what areas collected.
        let net: Money = outcome
            .assets
            .iter()
            .map(|account| account.net_cost())
            .sum();
        let fees: Money = outcome
            .areas
            .iter()
            .map(|account| account.fees_collected)
            .sum();
        assert_eq!(net, fees, "{}", mechanism.name());
    }
}

#[test]
fn loads_are_served_and_pv_sold_with_default_rates() {
    for mechanism in Mechanism::ALL {
        let topology = two_streets(mechanism).build();
        let outcome = nestgrid_sim::run_quiet(&topology).expect("runs");
        for (index, asset) in topology.assets.iter().enumerate() {
            let account = &outcome.assets[index];
            match asset.name.as_str() {
                "Load" => assert_eq!(account.bought, account.energy_in, "{}", mechanism.name()),
                "PV" => assert_eq!(account.sold, account.energy_out, "{}", mechanism.name()),
                _ => {}
            }
            if asset.name != "Grid connection" {
                assert_eq!(
                    account.imbalance_energy.0,
                    0,
                    "{} {}",
                    mechanism.name(),
                    asset.name
                );
            }
        }
    }
}

#[test]
fn same_topology_same_records() {
    let topology = two_streets(Mechanism::PayAsClear).build();
    let run = || {
        let mut memory = Memory::default();
        Simulation::new(&topology)
            .expect("valid")
            .run(&mut memory, &mut |_| {})
            .expect("runs");
        memory.trades
    };
    assert_eq!(run(), run());
}

/// A street of households running Huang's double auction, under a pay-as-bid root with the
/// grid connection: neighbours trade in the street at two prices, the street keeps the spread
/// as operator surplus, and every chain still balances.
#[test]
fn a_huang_street_keeps_the_spread_as_surplus() {
    let mut builder = Builder::new(4);
    builder.mechanism_everywhere(Mechanism::PayAsBid);
    builder.grid(0, 300_000, 80_000);
    let street = builder.area(
        "Street",
        0,
        GridFee::Constant(Price(10_000)),
        Mechanism::Huang,
    );
    // Each household its own rates, so the marginal bid and offer differ and Huang's two prices
    // open a spread.
    for (index, (pv_wh, load_wh)) in [(1_500, 0), (1_200, 0), (0, 900), (0, 1_100), (0, 700)]
        .into_iter()
        .enumerate()
    {
        // A house's single order sets Huang's price in its own market and cannot trade there,
        // so households meet in the street's auction.
        let house = builder.area(
            &format!("House {index}"),
            street,
            GridFee::None,
            Mechanism::Huang,
        );
        let offset = 7_000 * index as i64;
        builder.rates = nestgrid_grid::RateRange {
            initial: Some(Price(100_000 + offset)),
            final_rate: Some(Price(250_000 + offset)),
        };
        if pv_wh > 0 {
            builder.pv(house, "PV", flat(4, pv_wh));
        }
        if load_wh > 0 {
            builder.load(house, "Load", flat(4, load_wh));
        }
    }
    let topology = builder.build();
    let street_id = AreaId(
        topology
            .areas
            .iter()
            .position(|area| area.name == "Street")
            .expect("street") as u32,
    );
    let mut memory = Memory::default();
    let outcome = Simulation::new(&topology)
        .expect("valid")
        .run(&mut memory, &mut |_| {})
        .expect("runs");
    let in_street: Vec<&TradeRecord> = memory
        .trades
        .iter()
        .filter(|row| row.market == street_id && row.surplus > Money::ZERO)
        .collect();
    assert!(
        !in_street.is_empty(),
        "neighbours trade in the street at a spread"
    );
    let surplus: Money = memory.trades.iter().map(|row| row.surplus).sum();
    assert_eq!(outcome.areas[street_id.index()].surplus_collected, surplus);
    let net: Money = outcome
        .assets
        .iter()
        .map(|account| account.net_cost())
        .sum();
    let collected: Money = outcome
        .areas
        .iter()
        .map(|account| account.fees_collected + account.surplus_collected)
        .sum();
    assert_eq!(net, collected);
}
