//! Large runs re-price on several threads; the result must not depend on how many.

mod support;

use nestgrid_grid::{LoadOptions, benchmark_scenario, load_str};
use nestgrid_sim::{Outcome, Simulation};
use nestgrid_types::Mechanism;
use support::Memory;

fn run_on(threads: usize, topology: &nestgrid_grid::Topology) -> (Outcome, Memory) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    pool.install(|| {
        let mut memory = Memory::default();
        let outcome = Simulation::new(topology)
            .expect("valid")
            .run(&mut memory, &mut |_| {})
            .expect("runs");
        (outcome, memory)
    })
}

#[test]
fn thread_count_does_not_change_a_large_run() {
    // 18,000 houses: at night a load bid and a battery bid and offer each, 54,000 live orders,
    // above the parallel threshold (50,000).
    let text = benchmark_scenario(18_000, 180, Mechanism::PayAsBid);
    let mut topology =
        load_str(&text, std::path::Path::new("."), &LoadOptions::default()).expect("loads");
    // Two slots of eight ticks: enough to re-price in parallel, quick in a debug build.
    topology.settings.slot_count = 2;
    topology.settings.tick_seconds = 900 / 8;
    let (one, one_records) = run_on(1, &topology);
    let (four, four_records) = run_on(4, &topology);
    assert!(one.matches > 1_000);
    assert_eq!(one.matches, four.matches);
    assert_eq!(one.assets, four.assets);
    assert_eq!(one_records.trades, four_records.trades);
    assert_eq!(one_records.area_slots, four_records.area_slots);
}
