//! The engine driven step by step, as the live exchange drives it: orders submitted between
//! ticks, withdrawn, external assets that trade only through submitted orders, islanding.

use nestgrid_grid::{LoadOptions, Topology, load_str};
use nestgrid_sim::{Engine, FillRecord, OrderRef, Recorder, SimError, SubmitError};
use nestgrid_types::{AreaId, AssetId, Energy, Price, Side};
use std::path::Path;

const SCENARIO: &str = r#"
name: Town
simulation: { start: 2026-06-21T12:00, time_zone: UTC, duration: 1h, tick_length: 60s }
areas:
  - name: Grid
    grid_connection: { tariff: 0.30, feed_in: 0.05 }
  - name: Street
    children:
      - name: House
        children:
          - name: Heat pump
            external: true
            load: { power_w: 2000 }
          - name: Roof
            external: true
            pv: { capacity_kw: 5 }
      - name: Neighbour
        children:
          - name: Load
            load: { power_w: 1000 }
"#;

fn town() -> Topology {
    load_str(SCENARIO, Path::new("."), &LoadOptions::default()).expect("the scenario is valid")
}

fn asset(topology: &Topology, path: &str) -> AssetId {
    AssetId(
        topology
            .assets
            .iter()
            .position(|asset| asset.path == path)
            .unwrap_or_else(|| panic!("no asset {path}")) as u32,
    )
}

fn area(topology: &Topology, path: &str) -> AreaId {
    AreaId(
        topology
            .areas
            .iter()
            .position(|area| area.path == path)
            .unwrap_or_else(|| panic!("no area {path}")) as u32,
    )
}

#[derive(Default)]
struct Fills(Vec<FillRecord>);

impl Recorder for Fills {
    fn fill(&mut self, record: &FillRecord) {
        self.0.push(*record);
    }
}

fn kwh(value: i64) -> Energy {
    Energy(value * 1_000_000)
}

fn cents(value: i64) -> Price {
    Price(value * 10_000)
}

#[test]
fn external_assets_trade_only_what_is_submitted() {
    let topology = town();
    let pump = asset(&topology, "Town/Street/House/Heat pump");
    let roof = asset(&topology, "Town/Street/House/Roof");
    let mut engine = Engine::new(&topology).unwrap();
    let mut fills = Fills::default();
    engine.run_slot(0, &mut fills).unwrap();
    assert!(
        fills
            .0
            .iter()
            .all(|fill| fill.buyer != pump && fill.seller != roof),
        "external assets planned orders of their own"
    );
    assert!(
        !fills.0.is_empty(),
        "the neighbour's load buys from the grid"
    );
}

#[test]
fn submitted_orders_trade_and_report_their_own_fills() {
    let topology = town();
    let pump = asset(&topology, "Town/Street/House/Heat pump");
    let roof = asset(&topology, "Town/Street/House/Roof");
    let mut engine = Engine::new(&topology).unwrap();
    let mut fills = Fills::default();
    assert_eq!(
        engine.submit(pump, Side::Buy, kwh(1), cents(20)),
        Err(SubmitError::NoOpenSlot)
    );
    engine.open_slot(0).unwrap();
    assert_eq!(engine.next_tick(), 0);
    let buy = engine.submit(pump, Side::Buy, kwh(1), cents(20)).unwrap();
    let sell = engine
        .submit(roof, Side::Sell, Energy(400_000), cents(10))
        .unwrap();
    let spare = engine.submit(roof, Side::Sell, kwh(3), cents(25)).unwrap();
    assert_eq!(engine.tick(&mut fills), Some(0));
    // The two orders of one house cross in the house's market at once.
    let own: Vec<_> = fills
        .0
        .iter()
        .filter(|fill| fill.buy_order == buy)
        .collect();
    assert_eq!(own.len(), 1, "{:?}", fills.0);
    assert_eq!(own[0].sell_order, sell);
    assert_eq!(own[0].energy, Energy(400_000));
    assert_eq!(own[0].buyer, pump);
    assert_eq!(own[0].seller, roof);
    // One price between the offer and the bid; no fees inside the house.
    assert!((cents(10)..=cents(20)).contains(&own[0].buyer_price));
    assert_eq!(own[0].buyer_price, own[0].seller_price);
    assert_eq!(own[0].buyer_pays, own[0].seller_receives);
    assert_eq!(own[0].buyer_fees, nestgrid_types::Money::ZERO);
    assert_eq!(engine.remaining(buy), Energy(600_000));
    assert_eq!(engine.remaining(sell), Energy::ZERO);
    // Withdrawn: the rest of the offer never trades.
    assert_eq!(engine.cancel(spare), kwh(3));
    assert_eq!(engine.cancel(spare), Energy::ZERO);
    while engine.tick(&mut fills).is_some() {}
    assert!(fills.0.iter().all(|fill| fill.sell_order != spare));
    // The rest of the bid found nothing at 20 ct (the grid sells at 30 ct).
    assert_eq!(engine.remaining(buy), Energy(600_000));
    assert_eq!(
        engine.submit(pump, Side::Buy, kwh(1), cents(40)),
        Err(SubmitError::WindowOver)
    );
    engine.close_slot(&mut fills);
    assert_eq!(engine.open_slot_index(), None);
    assert_eq!(engine.remaining(OrderRef(0)), Energy::ZERO);
}

#[test]
fn orders_reach_the_grid_through_the_area_agents() {
    let topology = town();
    let pump = asset(&topology, "Town/Street/House/Heat pump");
    let grid = asset(&topology, "Town/Grid");
    let mut engine = Engine::new(&topology).unwrap();
    let mut fills = Fills::default();
    engine.open_slot(0).unwrap();
    let buy = engine.submit(pump, Side::Buy, kwh(2), cents(35)).unwrap();
    while engine.tick(&mut fills).is_some() {}
    let bought: Energy = fills
        .0
        .iter()
        .filter(|fill| fill.buy_order == buy)
        .map(|fill| {
            assert_eq!(fill.seller, grid);
            fill.energy
        })
        .sum();
    assert_eq!(bought, kwh(2));
    assert_eq!(engine.remaining(buy), Energy::ZERO);
}

#[test]
fn an_islanded_area_trades_only_inside() {
    let topology = town();
    let pump = asset(&topology, "Town/Street/House/Heat pump");
    let house = area(&topology, "Town/Street/House");
    let mut engine = Engine::new(&topology).unwrap();
    let mut fills = Fills::default();
    engine.set_islanded(house, true);
    engine.open_slot(0).unwrap();
    assert!(engine.is_islanded(house));
    let buy = engine.submit(pump, Side::Buy, kwh(2), cents(35)).unwrap();
    while engine.tick(&mut fills).is_some() {}
    assert_eq!(engine.remaining(buy), kwh(2), "{:?}", fills.0);
    engine.close_slot(&mut fills);
    // Reconnected from the next slot on.
    engine.set_islanded(house, false);
    engine.open_slot(1).unwrap();
    assert!(!engine.is_islanded(house));
    let buy = engine.submit(pump, Side::Buy, kwh(2), cents(35)).unwrap();
    while engine.tick(&mut fills).is_some() {}
    assert_eq!(engine.remaining(buy), Energy::ZERO);
}

#[test]
fn a_slot_opens_only_once_the_previous_one_closed() {
    let topology = town();
    let mut engine = Engine::new(&topology).unwrap();
    engine.open_slot(0).unwrap();
    assert!(matches!(engine.open_slot(1), Err(SimError::SlotStillOpen)));
    engine.close_slot(&mut Fills::default());
    engine.open_slot(1).unwrap();
    // A fresh engine may start at any slot (a restarted exchange does).
    let mut engine = Engine::new(&topology).unwrap();
    engine.open_slot(3).unwrap();
    while engine.tick(&mut Fills::default()).is_some() {}
    engine.close_slot(&mut Fills::default());
}

#[test]
fn a_resumed_slot_does_not_trade_twice() {
    let topology = town();
    let neighbour = asset(&topology, "Town/Street/Neighbour/Load");
    let mut fresh = Fills::default();
    let mut engine = Engine::new(&topology).unwrap();
    engine.run_slot(0, &mut fresh).unwrap();
    let planned: Energy = fresh
        .0
        .iter()
        .filter(|fill| fill.buyer == neighbour)
        .map(|fill| fill.energy)
        .sum();
    assert!(planned.is_positive());
    // After a restart, the slot is opened again and what was traded before is taken off.
    let mut resumed = Fills::default();
    let mut engine = Engine::new(&topology).unwrap();
    engine.open_slot(0).unwrap();
    engine.resume_traded(neighbour, Side::Buy, Energy(planned.0 / 4));
    while engine.tick(&mut resumed).is_some() {}
    let bought: Energy = resumed
        .0
        .iter()
        .filter(|fill| fill.buyer == neighbour)
        .map(|fill| fill.energy)
        .sum();
    assert_eq!(bought, planned - Energy(planned.0 / 4));
}
