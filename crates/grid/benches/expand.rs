//! Loading (parse, plan, expand) of generated benchmark scenarios.
//!
//! Workloads: `benchmark_scenario(houses, houses / 100, pay-as-offer)`: 100 houses per street,
//! each house a load, a PV array and a battery, `vary: 0.2`, one day of 15-minute slots.
//!
//! | name | areas | assets |
//! | --- | --- | --- |
//! | `1000` | 1,011 | 3,001 |
//! | `10000` | 10,101 | 30,001 |
//! | `100000` | 101,001 | 300,001 |
//!
//! Back-of-envelope: parsing and planning touch only the ~30-line file and build two base
//! profiles of 96 slots (the clear-sky sum is 96 × 5 sun positions: ~50 µs), so the cost is the
//! expansion. Per house: 1 area and 3 assets with a name and a path each (8 `format!`s at
//! ~50–100 ns), 2 small vectors, 2 ChaCha8 streams keyed by path (~100 ns each) → ~1–1.5 µs per
//! house, so **~0.1–0.15 s for 100,000 houses** and ~60 MB of arena (names and paths dominate).
//!
//! Measured (`cargo bench -p nestgrid-grid -- --warm-up-time 1 --measurement-time 5`, 2-core
//! machine; medians): see the table in `docs/scenario-reference.md` § Performance.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nestgrid_grid::{LoadOptions, benchmark_scenario, load_str};
use nestgrid_types::Mechanism;
use std::hint::black_box;
use std::path::Path;

fn expand(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("load_benchmark_scenario");
    group.sample_size(10);
    for houses in [1_000u32, 10_000, 100_000] {
        let text = benchmark_scenario(houses, houses / 100, Mechanism::PayAsOffer);
        group.bench_with_input(
            BenchmarkId::from_parameter(houses),
            &text,
            |bencher, text| {
                bencher.iter(|| {
                    let topology =
                        load_str(black_box(text), Path::new("."), &LoadOptions::default())
                            .expect("the benchmark scenario is valid");
                    black_box(topology.assets.len())
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, expand);
criterion_main!(benches);
