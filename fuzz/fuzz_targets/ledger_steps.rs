//! Arbitrary bytes as a sequence of ledger steps (deposits, withdrawals, trade batches,
//! prices, deliveries, settlements, replays, forgeries, wrong roles), applied to the state
//! machine and checked after every step against the reference model of the property test.
#![no_main]

#[path = "../../crates/ledger/tests/support/model.rs"]
mod model;

use libfuzzer_sys::fuzz_target;
use model::{GRID_ASSET, PARTICIPANTS, Step, TradeSpec};

/// Reads numbers from the input, zero once it runs out.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((first, rest)) => {
                self.0 = rest;
                *first
            }
            None => 0,
        }
    }
    fn below(&mut self, bound: u64) -> u64 {
        let value = u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]);
        value as u64 % bound
    }
    fn asset(&mut self) -> u32 {
        match self.below(5) {
            0 => GRID_ASSET,
            _ => self.below(2 * PARTICIPANTS as u64) as u32,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader(data);
    let mut steps = Vec::new();
    while !reader.0.is_empty() && steps.len() < 200 {
        let step = match reader.byte() % 9 {
            0 => Step::Deposit {
                who: reader.below(PARTICIPANTS as u64 + 1) as usize,
                amount: reader.below(200_000) as i64,
            },
            1 => Step::Withdraw {
                who: reader.below(PARTICIPANTS as u64 + 1) as usize,
                amount: reader.below(150_000) as i64,
            },
            2 => {
                let slot = reader.below(4);
                let count = reader.below(4);
                let trades = (0..count)
                    .map(|_| TradeSpec {
                        buyer: reader.asset(),
                        seller: reader.asset(),
                        energy: reader.below(400) as i64,
                        price: reader.below(300) as i64,
                        fee: reader.below(30) as i64,
                        area: reader.below(2) as usize,
                        unbalanced: reader.below(20) == 0,
                    })
                    .collect();
                Step::Trades { slot, trades }
            }
            3 => Step::Prices {
                slot: reader.below(4),
                shortage: reader.below(450) as i64 - 50,
                surplus: reader.below(250) as i64 - 50,
            },
            4 => Step::Deliveries {
                slot: reader.below(4),
                asset: reader.asset(),
                energy_in: reader.below(700) as i64,
                energy_out: reader.below(700) as i64,
            },
            5 => Step::Settle {
                slot: reader.below(4),
            },
            6 => Step::Replay {
                index: reader.below(1 << 20) as usize,
            },
            7 => Step::Forged {
                index: reader.below(1 << 20) as usize,
            },
            _ => Step::WrongRole {
                amount: reader.below(99) as i64 + 1,
            },
        };
        steps.push(step);
    }
    model::run_steps(&steps);
});
