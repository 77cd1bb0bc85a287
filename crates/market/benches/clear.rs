//! Clearing cost per book, for each mechanism.
//!
//! Workloads (orders per side; every book generated deterministically from a fixed seed):
//!
//! | name | bids | offers | participants | shape |
//! | --- | --- | --- | --- | --- |
//! | `4` | 4 | 4 | 3 | a house: the common case, thousands per tick |
//! | `64` | 64 | 64 | 16 | a street, or a market with the 64 orders forwarded down per tick |
//! | `4096` | 4096 | 4096 | 64 | a substation or region |
//! | `4096-self` | 4096 | 4096 | 1 + 5,120 | adversarial: participant 0 holds the best 2,048 bids and every other offer of the cheapest 2,048, the rest each their own participant |
//!
//! Bid prices are uniform in [0.15, 0.35] /kWh and offer prices in [0.10, 0.30] /kWh, so about
//! two thirds of the volume crosses; energies are uniform in [1, 5] kWh. `Scratch` and `matches`
//! are reused across iterations, as in the engine.
//!
//! Back-of-envelope (one core of a ~3 GHz machine):
//! - `4`: build and sort 2 × 4 ranks of 32 bytes (insertion sort, ~10 comparisons), set up 4
//!   offers, at most 7 matches: ~30–60 operations of a few ns → **~0.1–0.3 µs**. 10,000 house
//!   markets per tick then cost ~2 ms, far below the other work of a tick.
//! - `64`: sorting 2 × 64 ranks is ~2 × 64 · log₂ 64 ≈ 770 comparisons at ~3 ns ≈ 2.5 µs, plus
//!   up to 127 matches at ~5 ns → **~3–5 µs**.
//! - `4096`: sorting ~2 × 4096 · 12 ≈ 100,000 comparisons at ~2–4 ns ≈ 0.2–0.4 ms dominates;
//!   up to 8,191 matches add ~50 µs → **~0.25–0.5 ms**; the data (~250 KiB) stays in L2.
//! - `4096-self`: walking offer by offer, each of participant 0's 2,048 bids would pass its 1,024
//!   own offers and the filled ones between them (~2–4 M steps, ~5–10 ms); with the skip pointers
//!   it should cost about as much as `4096`.
//!
//! Pay-as-clear sorts once and walks twice (aggregate curves, then allocation): a little more.
//!
//! Measured (`cargo bench -p nestgrid-market -- --warm-up-time 1 --measurement-time 2`, 2-core
//! machine with the other core busy; medians, ±15 % between runs):
//!
//! | book | pay-as-offer | pay-as-bid | pay-as-clear |
//! | --- | --- | --- | --- |
//! | `4` | 0.11–0.14 µs | 0.11–0.12 µs | 0.15–0.18 µs |
//! | `64` | 2.1–2.3 µs | 3.0 µs | 2.6 µs |
//! | `4096` | 0.32–0.36 ms | 0.36–0.41 ms | 0.35 ms |
//! | `4096-self` | 0.24–0.25 ms | 0.27–0.36 ms | 0.23 ms |

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nestgrid_market::{Scratch, clear};
use nestgrid_types::{AssetId, Energy, Mechanism, Order, Participant, Price, Side};
use std::hint::black_box;

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

fn order(sequence: &mut Sequence, side: Side, key: u64, participants: u32) -> Order {
    let (price_low, price_high) = match side {
        Side::Buy => (150_000, 350_000),
        Side::Sell => (100_000, 300_000),
    };
    Order {
        key,
        participant: Participant::Asset(AssetId((sequence.next() % participants as u64) as u32)),
        side,
        energy: Energy(sequence.between(1_000_000, 5_000_000)),
        price: Price(sequence.between(price_low, price_high)),
        priority: sequence.next() % 16,
    }
}

fn book(orders: u64, participants: u32) -> (Vec<Order>, Vec<Order>) {
    let mut sequence = Sequence(orders * 1_000 + participants as u64);
    let bids = (0..orders)
        .map(|key| order(&mut sequence, Side::Buy, key, participants))
        .collect();
    let offers = (0..orders)
        .map(|key| order(&mut sequence, Side::Sell, key, participants))
        .collect();
    (bids, offers)
}

/// Participant 0 holds the best half of the bids and every other offer of the cheapest half,
/// interleaved with offers of other participants: each of its bids has to pass its own offers and
/// the others' offers filled before.
fn self_trade_book(orders: u64) -> (Vec<Order>, Vec<Order>) {
    let (mut bids, mut offers) = book(orders, 2);
    bids.sort_by_key(|order| std::cmp::Reverse(order.price));
    offers.sort_by_key(|order| order.price);
    let half = orders as usize / 2;
    let mut other = 0;
    let mut next_other = || {
        other += 1;
        Participant::Asset(AssetId(other))
    };
    for (position, bid) in bids.iter_mut().enumerate() {
        bid.participant = if position < half {
            Participant::Asset(AssetId(0))
        } else {
            next_other()
        };
    }
    for (position, offer) in offers.iter_mut().enumerate() {
        let own = position < half && position % 2 == 0;
        offer.participant = if own {
            Participant::Asset(AssetId(0))
        } else {
            next_other()
        };
    }
    (bids, offers)
}

fn clearing(criterion: &mut Criterion) {
    let workloads = [
        ("4", book(4, 3)),
        ("64", book(64, 16)),
        ("4096", book(4096, 64)),
        ("4096-self", self_trade_book(4096)),
    ];
    for mechanism in Mechanism::ALL {
        let mut group = criterion.benchmark_group(format!("clear/{}", mechanism.name()));
        for (name, (bids, offers)) in &workloads {
            group.throughput(Throughput::Elements((bids.len() + offers.len()) as u64));
            let mut scratch = Scratch::with_capacity(bids.len().max(offers.len()));
            let mut matches = Vec::with_capacity(bids.len() + offers.len());
            group.bench_with_input(
                BenchmarkId::from_parameter(name),
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

criterion_group!(benches, clearing);
criterion_main!(benches);
