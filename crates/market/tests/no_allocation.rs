//! `clear` allocates nothing once `Scratch` and `matches` have grown to size (the engine clears
//! thousands of books per tick). A counting global allocator, per thread so that the test
//! harness's own threads do not disturb the count.

use nestgrid_market::{Scratch, clear, may_cross, residuals_into};
use nestgrid_types::{AssetId, Energy, Mechanism, Order, Participant, Price, Side};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every call to `System`; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn book(side: Side, count: u64, salt: u64) -> Vec<Order> {
    (0..count)
        .map(|index| {
            let mixed = (index + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
            Order {
                key: index,
                participant: Participant::Asset(AssetId((mixed % 3) as u32)),
                side,
                energy: Energy(1 + (mixed >> 20) as i64 % 5_000_000),
                price: Price(200_000 + (mixed >> 40) as i64 % 200_000),
                priority: mixed % 4,
            }
        })
        .collect()
}

#[test]
fn clearing_reuses_the_buffers() {
    let largest = 200;
    let mut scratch = Scratch::with_capacity(largest);
    let mut matches = Vec::with_capacity(2 * largest);
    let (mut bid_left, mut offer_left) = (Vec::with_capacity(largest), Vec::with_capacity(largest));
    let books: Vec<(Vec<Order>, Vec<Order>)> = [1, 3, 5, 64, 200]
        .into_iter()
        .map(|count| (book(Side::Buy, count, 1), book(Side::Sell, count, 2)))
        .collect();
    let before = allocations();
    let mut traded = 0;
    for mechanism in Mechanism::ALL {
        for (bids, offers) in &books {
            matches.clear();
            assert!(may_cross(bids, offers));
            clear(mechanism, bids, offers, &mut scratch, &mut matches);
            residuals_into(bids, offers, &matches, &mut bid_left, &mut offer_left);
            traded += matches.len();
        }
    }
    assert_eq!(allocations() - before, 0);
    assert!(traded > 0);
    // The counter does count.
    let probe = std::hint::black_box(vec![0_u8; 16]);
    assert_eq!(allocations() - before, 1);
    drop(probe);
}
