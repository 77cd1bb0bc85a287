//! One simulated day of the benchmark grid: N houses (load, PV, battery each) in streets of
//! 100, 15-minute slots, 15-second ticks (96 × 60 = 5,760 ticks), for each mechanism.
//!
//! Workloads: 100 and 1,000 houses (301 and 3,001 assets). `nestgrid bench` runs the larger
//! sizes (10,000 and 100,000 houses) in child processes and reports peak memory too.
//!
//! Estimate for 1,000 houses: per tick about 10,000 book entries are scanned sequentially
//! (~1 ns each), 1,011 markets are visited (~50 ns each, most skipped by the cached best-price
//! test) and a few hundred small books are cleared (~0.1–3 µs each): roughly 100 µs a tick,
//! 0.6 s a day. Linear in houses, since every order sits in at most depth + 1 books.

use criterion::{Criterion, criterion_group, criterion_main};
use nestgrid_grid::{LoadOptions, benchmark_scenario, load_str};
use nestgrid_types::Mechanism;
use std::path::Path;

fn day(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("day");
    group.sample_size(10);
    for houses in [100u32, 1_000] {
        for mechanism in Mechanism::ALL {
            let text = benchmark_scenario(houses, houses.div_ceil(100), mechanism);
            let topology = load_str(&text, Path::new("."), &LoadOptions::default())
                .expect("benchmark scenario loads");
            group.bench_function(format!("{houses}_houses/{}", mechanism.name()), |bencher| {
                bencher.iter(|| nestgrid_sim::run_quiet(&topology).expect("runs"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, day);
criterion_main!(benches);
