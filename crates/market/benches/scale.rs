//! Clearing large books with every mechanism, next to the time to merely sort the same orders
//! (`sort_book`: the ranking every mechanism starts with, the practical lower bound).
//!
//! Workloads (orders in the whole book, half bids and half offers, generated from a fixed seed):
//!
//! | name | orders | participants |
//! | --- | --- | --- |
//! | `1000` | 10³ | 250 |
//! | `100000` | 10⁵ | 25,000 |
//! | `1000000` | 10⁶ | 250,000 |
//!
//! Bid prices uniform in [0.15, 0.35] /kWh, offer prices in [0.10, 0.30] /kWh (about two thirds
//! of the volume crosses); energies uniform in [1, 5] kWh to the mWh — except for trade reduction,
//! which needs unit orders and gets the same book with every energy set to 1 kWh. The curve group
//! aggregates 10² and 10³ curves of 8 points each and finds the equilibrium.
//!
//! Back-of-envelope (one core of a ~3 GHz machine): sorting n/2 ranks of 32 bytes per side costs
//! about n · log₂(n/2) comparisons at 2–4 ns once the data leaves the cache: ~20 µs at 10³,
//! ~4 ms at 10⁵, ~60 ms at 10⁶. Every mechanism then walks each side once or twice (O(n), a few
//! ns per order, plus cache misses on the order slices: ~5–10 ms at 10⁶). Huang and trade
//! reduction sort the long side's plain `i64` quantities once more (~⅓ of the rank sort's cost on
//! half the orders). So every mechanism should land at 1.2–2× the sort; the target is 3×.
//!
//! Measured: see `docs/clearing.md` (and the table the lead keeps in `docs/benchmarks.md`).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nestgrid_market::curve::{Curve, CurvePoint, aggregate, equilibrium};
use nestgrid_market::{Scratch, clear, sort_book};
use nestgrid_types::{AssetId, Energy, Mechanism, Order, Participant, Power, Price, Side};
use std::hint::black_box;
use std::time::Duration;

/// SplitMix64: a fixed, dependency-free sequence.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mixed ^ (mixed >> 31)
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }
}

fn book(orders: u64) -> (Vec<Order>, Vec<Order>) {
    let mut sequence = Sequence(orders);
    let participants = (orders / 4).max(1);
    let mut order = |side: Side, key: u64| {
        let (low, high) = match side {
            Side::Buy => (150_000, 350_000),
            Side::Sell => (100_000, 300_000),
        };
        Order {
            key,
            participant: Participant::Asset(AssetId((sequence.next() % participants) as u32)),
            side,
            energy: Energy(sequence.between(1_000_000, 5_000_000)),
            price: Price(sequence.between(low, high)),
            priority: sequence.next() % 16,
        }
    };
    let bids = (0..orders / 2).map(|key| order(Side::Buy, key)).collect();
    let offers = (0..orders / 2).map(|key| order(Side::Sell, key)).collect();
    (bids, offers)
}

fn units(orders: &[Order]) -> Vec<Order> {
    orders
        .iter()
        .map(|order| Order {
            energy: Energy::from_kwh(1),
            ..*order
        })
        .collect()
}

fn scale(criterion: &mut Criterion) {
    for orders in [1_000_u64, 100_000, 1_000_000] {
        let (bids, offers) = book(orders);
        let (unit_bids, unit_offers) = (units(&bids), units(&offers));
        let mut group = criterion.benchmark_group(format!("scale/{orders}"));
        group.throughput(Throughput::Elements(orders));
        if orders >= 1_000_000 {
            group.sample_size(10);
            group.warm_up_time(Duration::from_secs(1));
        }
        let mut scratch = Scratch::with_capacity(bids.len().max(offers.len()));
        let mut matches = Vec::with_capacity(bids.len() + offers.len());
        group.bench_function("sort", |bencher| {
            bencher.iter(|| {
                sort_book(black_box(&bids), black_box(&offers), &mut scratch);
            });
        });
        for mechanism in Mechanism::CLEARING {
            let (bids, offers) = match mechanism {
                Mechanism::TradeReduction => (&unit_bids, &unit_offers),
                _ => (&bids, &offers),
            };
            group.bench_with_input(
                BenchmarkId::from_parameter(mechanism.name()),
                &(bids, offers),
                |bencher, (bids, offers)| {
                    bencher.iter(|| {
                        matches.clear();
                        clear(
                            mechanism,
                            black_box(bids),
                            black_box(offers),
                            &mut scratch,
                            &mut matches,
                        );
                        black_box(matches.len())
                    });
                },
            );
        }
        group.finish();
    }
}

/// Curves of 8 points: a consumer (positive, falling to 0), a producer (0 falling to negative),
/// or a battery (both), at prices spread over [0, 0.5] /kWh.
fn curves(count: u64) -> Vec<Curve> {
    let mut sequence = Sequence(count);
    (0..count)
        .map(|_| {
            let kind = sequence.next() % 3;
            let mut power = match kind {
                0 => sequence.between(1_000_000, 5_000_000),
                1 => 0,
                _ => sequence.between(0, 3_000_000),
            };
            let mut price = sequence.between(0, 50_000);
            let points = (0..8)
                .map(|_| {
                    let point = CurvePoint {
                        price: Price(price),
                        power: Power(power),
                    };
                    price += sequence.between(1, 60_000);
                    power -= sequence.between(0, 800_000);
                    point
                })
                .collect();
            Curve::new(points).expect("valid curve")
        })
        .collect()
}

fn curve_clearing(criterion: &mut Criterion) {
    let mut group = criterion.benchmark_group("curve");
    for count in [100_u64, 1_000] {
        let children = curves(count);
        group.throughput(Throughput::Elements(count));
        group.bench_with_input(
            BenchmarkId::new("aggregate+equilibrium", count),
            &children,
            |bencher, children| {
                bencher.iter(|| {
                    let sum = aggregate(black_box(children), Price(10_000)).expect("sums");
                    black_box(equilibrium(&sum))
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, scale, curve_clearing);
criterion_main!(benches);
