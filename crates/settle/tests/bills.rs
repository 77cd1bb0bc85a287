//! Settling runs on the ledger: every account ends with its deposit plus its bill, to the
//! micro-unit, and the stored chain verifies.

use nestgrid_grid::{LoadOptions, Topology, load_str};
use nestgrid_ledger::{VotesOnly, verify};
use nestgrid_settle::{Collector, compare, settle};
use nestgrid_sim::{NullRecorder, Simulation};
use nestgrid_types::Mechanism;

fn village(mechanism: Option<Mechanism>) -> Topology {
    let mut topology = load_str(
        nestgrid_grid::DEFAULT_SCENARIO,
        std::path::Path::new("."),
        &LoadOptions::default(),
    )
    .unwrap();
    if let Some(mechanism) = mechanism {
        for area in &mut topology.areas {
            area.mechanism = mechanism;
        }
    }
    topology
}

fn settle_and_compare(
    topology: &Topology,
) -> (
    usize,
    verify::Report,
    nestgrid_settle::Settlement,
    nestgrid_sim::Outcome,
) {
    let mut null = NullRecorder;
    let mut collector = Collector::new(&mut null);
    let outcome = Simulation::new(topology)
        .unwrap()
        .run(&mut collector, &mut |_| {})
        .unwrap();
    let collected = collector.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settlement = settle(topology, &collected, dir.path()).unwrap();
    assert_eq!(settlement.trades, outcome.matches);
    let compared = compare(topology, &outcome, &settlement).unwrap();
    let report = verify::verify_dir(dir.path(), &VotesOnly).unwrap();
    assert_eq!(report.height, settlement.height);
    assert_eq!(report.trades, outcome.matches);
    assert_eq!(report.slots_open, 0, "every slot is settled");
    assert_eq!(report.locked, 0, "no money is left locked");
    (compared, report, settlement, outcome)
}

#[test]
fn the_village_settles_to_its_bills() {
    let topology = village(None);
    let (compared, report, mut settlement, outcome) = settle_and_compare(&topology);
    assert_eq!(compared, topology.assets.len() + topology.areas.len());
    assert!(report.trades > 1_000, "{report:?}");
    assert!(report.tokens_minted_mwh > 0);
    // The comparison is to the micro-unit.
    settlement.asset_net[3].0 += 1;
    let mismatch = compare(&topology, &outcome, &settlement).unwrap_err();
    assert_eq!(mismatch.name, topology.assets[3].path);
}

#[test]
fn two_price_clearing_pays_its_surplus_to_the_area_operators() {
    let topology = village(Some(Mechanism::Huang));
    let (_, _, settlement, outcome) = settle_and_compare(&topology);
    let surplus: i64 = outcome.areas.iter().map(|a| a.surplus_collected.0).sum();
    assert!(surplus > 0, "the two-price mechanism left a surplus");
    let operators: i64 = settlement.area_net.iter().map(|m| m.0).sum();
    let fees: i64 = outcome.areas.iter().map(|a| a.fees_collected.0).sum();
    assert_eq!(operators, surplus + fees);
}

#[test]
fn pay_as_clear_settles_to_its_bills() {
    let topology = village(Some(Mechanism::PayAsClear));
    settle_and_compare(&topology);
}
