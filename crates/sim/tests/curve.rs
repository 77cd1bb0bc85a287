//! Curve regions in the simulator, worked by hand: a street that clears by bid curves, alone and
//! below a pay-as-bid market with a grid connection.

use nestgrid_grid::{LoadOptions, Topology, load_str};
use nestgrid_sim::{Engine, FillRecord, Recorder, SimError, Simulation};
use nestgrid_types::{Energy, Money, Price};
use std::path::Path;

/// One 15-minute slot of 15 one-minute ticks. The Street clears by curves (fee 0.01 on its
/// boundary); House A (fee 0.02) has a load of `{load_w}` W that pays up to `{limit}`; House B
/// (fee 0.02) a 2 kW generator at 0.12; the Street itself a 2 kW generator at 0.20.
fn scenario(root: &str, load_w: u32, limit: &str) -> Topology {
    let text = format!(
        r#"
name: Town
simulation: {{ start: 2026-06-21T12:00, time_zone: UTC, duration: 15m, tick_length: 60s }}
market: {{ mechanism: {root} }}
areas:
  - name: Grid
    grid_connection: {{ tariff: 0.30, feed_in: 0.05 }}
  - name: Street
    mechanism: curve
    fee: {{ constant: 0.01 }}
    children:
      - name: Generator
        generator: {{ max_power_kw: 2, rate: 0.20 }}
      - name: A
        fee: {{ constant: 0.02 }}
        children:
          - name: Load
            load: {{ power_w: {load_w}, initial_buying_rate: 0.10, final_buying_rate: {limit} }}
      - name: B
        fee: {{ constant: 0.02 }}
        children:
          - name: Generator
            generator: {{ max_power_kw: 2, rate: 0.12 }}
"#
    );
    load_str(&text, Path::new("."), &LoadOptions::default()).expect("the scenario is valid")
}

#[derive(Default)]
struct Fills(Vec<FillRecord>);

impl Recorder for Fills {
    fn fill(&mut self, record: &FillRecord) {
        self.0.push(*record);
    }
}

fn run(topology: &Topology) -> Vec<FillRecord> {
    let mut fills = Fills::default();
    Simulation::new(topology)
        .expect("valid")
        .run(&mut fills, &mut |_| {})
        .expect("runs");
    fills.0
}

fn path_of(topology: &Topology, asset: nestgrid_types::AssetId) -> &str {
    &topology.assets[asset.index()].path
}

fn kwh(text: &str) -> Energy {
    Energy::parse_decimal(text).expect("a decimal")
}

fn price(text: &str) -> Price {
    Price::parse_decimal(text).expect("a decimal")
}

fn money(text: &str) -> Money {
    Money::parse_decimal(text).expect("a decimal")
}

/// (seller, buyer, energy, seller's price, buyer's price, buyer pays, seller receives) per fill.
fn summary(
    topology: &Topology,
    fills: &[FillRecord],
) -> Vec<(String, String, Energy, Price, Price)> {
    let mut rows: Vec<_> = fills
        .iter()
        .map(|fill| {
            // Money balances in every fill: the buyer pays what the seller receives plus fees.
            assert_eq!(
                fill.buyer_pays,
                fill.seller_receives + fill.buyer_fees + fill.seller_fees,
                "{fill:?}"
            );
            (
                path_of(topology, fill.seller).to_string(),
                path_of(topology, fill.buyer).to_string(),
                fill.energy,
                fill.seller_price,
                fill.buyer_price,
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_curve_street_balances_at_the_middle_of_its_stretch() {
    // Below a pay-as-offer root that never trades here (the load's limit 0.25 is under the
    // grid's 0.30 seen from the street as 0.31), the Street region holds: A's bid of 1 kWh at
    // 0.25, seen from the Street through A's fee as 0.23; B's offer of 0.5 kWh at 0.12, seen as
    // 0.14; the Street's own offer of 0.5 kWh at 0.20. Net demand at the Street's price P:
    //   P ≤ 0.14: 1;  0.14 < P ≤ 0.20: 0.5;  0.20 < P ≤ 0.23: 0;  P > 0.23: −1 (the grid's
    //   offer at 0.31 adds nothing below 0.31).
    // Zero is met for P in [0.20, 0.23]: the price is the midpoint, 0.215. A imports 1 kWh at
    // 0.215 + 0.02 = 0.235; B exports 0.5 kWh at 0.215 − 0.02 = 0.195; the Street's generator
    // sells its 0.5 kWh at 0.215.
    let topology = scenario("pay-as-offer", 4_000, "0.25");
    let fills = run(&topology);
    assert_eq!(
        summary(&topology, &fills),
        vec![
            (
                "Town/Street/B/Generator".to_string(),
                "Town/Street/A/Load".to_string(),
                kwh("0.5"),
                price("0.195"),
                price("0.235"),
            ),
            (
                "Town/Street/Generator".to_string(),
                "Town/Street/A/Load".to_string(),
                kwh("0.5"),
                price("0.215"),
                price("0.235"),
            ),
        ]
    );
    // Both matches are made in the Street's market, at its price.
    let street = topology
        .areas
        .iter()
        .position(|area| area.path == "Town/Street")
        .expect("street");
    assert!(fills.iter().all(|fill| fill.market.index() == street));
    // A pays 1 kWh × 0.235; the sellers receive 0.5 × 0.195 and 0.5 × 0.215; A's boundary
    // collects 0.02 × 1 and B's 0.02 × 0.5.
    let paid: Money = fills.iter().map(|fill| fill.buyer_pays).sum();
    let received: Money = fills.iter().map(|fill| fill.seller_receives).sum();
    assert_eq!(paid, money("0.235"));
    assert_eq!(received, money("0.205"));
}

#[test]
fn a_curve_street_sees_the_grid_its_parent_forwards() {
    // Now A needs 2 kWh and pays up to 0.40, under a pay-as-bid root. The root forwards the
    // grid's offer down: 0.30, seen in the Street as 0.31. The region waits for it (it clears
    // from the second tick on). Net demand at the Street's price P:
    //   0.04 < P ≤ 0.14: 2;  ≤ 0.20: 1.5;  0.20 < P ≤ 0.31: 1 (A's 2 less the two generators);
    //   P > 0.31: the grid supplies without limit.
    // Zero is met only at 0.31, where the grid is indifferent and supplies the missing 1 kWh.
    // A imports 2 kWh at 0.33; B exports at 0.29; the Street's generator sells at 0.31; the grid
    // receives 0.30 at the root, the Street's boundary keeping 0.01.
    let topology = scenario("pay-as-bid", 8_000, "0.40");
    let fills = run(&topology);
    assert_eq!(
        summary(&topology, &fills),
        vec![
            (
                "Town/Grid".to_string(),
                "Town/Street/A/Load".to_string(),
                kwh("1"),
                price("0.30"),
                price("0.33"),
            ),
            (
                "Town/Street/B/Generator".to_string(),
                "Town/Street/A/Load".to_string(),
                kwh("0.5"),
                price("0.29"),
                price("0.33"),
            ),
            (
                "Town/Street/Generator".to_string(),
                "Town/Street/A/Load".to_string(),
                kwh("0.5"),
                price("0.31"),
                price("0.33"),
            ),
        ]
    );
    assert!(
        fills.iter().all(|fill| fill.tick == 1),
        "cleared at the second tick"
    );
    let paid: Money = fills.iter().map(|fill| fill.buyer_pays).sum();
    assert_eq!(paid, money("0.66"));
}

#[test]
fn a_region_the_scenario_file_cannot_express_is_refused() {
    // A topology built in code may put another mechanism below a curve area; the engine names
    // the area.
    let mut topology = scenario("pay-as-bid", 4_000, "0.25");
    let house = topology
        .areas
        .iter()
        .position(|area| area.path == "Town/Street/A")
        .expect("house");
    topology.areas[house].mechanism = nestgrid_types::Mechanism::PayAsBid;
    match Engine::new(&topology) {
        Err(SimError::CurveRegion { area, .. }) => assert_eq!(area, "Town/Street/A"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a pay-as-bid area below a curve area was accepted"),
    }
}
