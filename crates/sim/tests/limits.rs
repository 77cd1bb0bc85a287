//! Import and export limits bind the markets: a street that may import 2 kW buys at most 0.5 kWh
//! a slot from outside, whatever its houses bid.

use nestgrid_grid::{LoadOptions, Topology, load_str};
use nestgrid_sim::{Recorder, Simulation, TradeRecord};
use nestgrid_types::{AreaId, Energy, Participant};
use std::path::Path;

fn town(mechanism: &str) -> Topology {
    let text = format!(
        r#"
name: Town
simulation: {{ start: 2026-06-21T00:00, time_zone: UTC, duration: 1h, tick_length: 60s }}
market: {{ mechanism: {mechanism} }}
areas:
  - name: Grid
    grid_connection: {{ tariff: 0.30, feed_in: 0.05 }}
  - name: Street
    import_limit_kw: 2
    export_limit_kw: 1
    children:
      - name: House
        children:
          - name: Load
            load: {{ power_w: 4000, final_buying_rate: 0.40 }}
      - name: Works
        children:
          - name: Generator
            generator: {{ max_power_kw: 1, rate: 0.10 }}
"#
    );
    load_str(&text, Path::new("."), &LoadOptions::default()).expect("the scenario is valid")
}

#[derive(Default)]
struct Records {
    trades: Vec<TradeRecord>,
}

impl Recorder for Records {
    fn trade(&mut self, record: &TradeRecord) {
        self.trades.push(*record);
    }
}

#[test]
fn a_street_imports_no_more_than_its_limit() {
    for mechanism in ["pay-as-bid", "pay-as-clear", "curve"] {
        let topology = town(mechanism);
        let street = AreaId(
            topology
                .areas
                .iter()
                .position(|area| area.path == "Town/Street")
                .expect("street") as u32,
        );
        let root = AreaId(0);
        let mut records = Records::default();
        Simulation::new(&topology)
            .expect("valid")
            .run(&mut records, &mut |_| {})
            .expect("runs");
        // Each slot the house needs 1 kWh; the works' generator gives 0.25 kWh inside the street
        // and the grid may bring in at most 2 kW × 15 min = 0.5 kWh: the street's market
        // imports exactly 0.5 kWh (the load bids above the tariff) and the house buys 0.75 kWh.
        for slot in 0..4 {
            let imported: i64 = records
                .trades
                .iter()
                .filter(|t| t.slot == slot && t.market == street)
                .filter(|t| t.seller == Participant::Area(root))
                .map(|t| t.energy.0)
                .sum();
            assert_eq!(imported, Energy::from_wh(500).0, "{mechanism}, slot {slot}");
            let load_bought: i64 = records
                .trades
                .iter()
                .filter(|t| t.slot == slot && matches!(t.buyer, Participant::Asset(_)))
                .map(|t| t.energy.0)
                .sum();
            assert_eq!(
                load_bought,
                Energy::from_wh(750).0,
                "{mechanism}, slot {slot}"
            );
        }
    }
}
