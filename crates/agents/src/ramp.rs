//! Price ramps over a slot's trading window.
//!
//! Rule: the price moves in steps, once every `update_interval_ticks`, from `initial` at tick 0
//! to exactly `final_rate` at the last update step of the window (the step containing the last
//! tick). Step `k` of `n` steps has price `initial + (final - initial) * k / (n - 1)`, computed in
//! `i128` and rounded toward `initial` (so a buyer never bids above its final rate and a seller
//! never offers below it). A window with one step is priced at `final_rate` throughout.

use nestgrid_types::{Price, TickIndex};

/// Prices of one order leg over the trading window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ramp {
    /// Price at tick 0.
    pub initial: Price,
    /// Price at the last update step.
    pub final_rate: Price,
    /// Ticks between updates (at least 1).
    pub update_interval_ticks: u32,
}

impl Ramp {
    /// A ramp that stays at one price.
    pub fn constant(price: Price) -> Self {
        Ramp {
            initial: price,
            final_rate: price,
            update_interval_ticks: u32::MAX,
        }
    }

    /// Whether the price may change at `tick` (the engine re-prices only then).
    #[inline]
    pub fn updates_at(&self, tick: TickIndex) -> bool {
        self.initial != self.final_rate && tick.is_multiple_of(self.update_interval_ticks.max(1))
    }

    /// The price at `tick` of a window of `ticks_per_slot` ticks.
    #[inline]
    pub fn price_at(&self, tick: TickIndex, ticks_per_slot: u32) -> Price {
        if self.initial == self.final_rate {
            return self.initial;
        }
        let interval = self.update_interval_ticks.max(1);
        let last_step = ticks_per_slot.saturating_sub(1) / interval;
        if last_step == 0 {
            return self.final_rate;
        }
        let step = (tick / interval).min(last_step);
        let span = self.final_rate.0 as i128 - self.initial.0 as i128;
        // Truncation toward zero rounds toward `initial` for both directions.
        let moved = span * step as i128 / last_step as i128;
        Price((self.initial.0 as i128 + moved) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaches_final_at_the_last_step() {
        let ramp = Ramp {
            initial: Price(300_000),
            final_rate: Price(80_000),
            update_interval_ticks: 4,
        };
        assert_eq!(ramp.price_at(0, 60), Price(300_000));
        assert_eq!(ramp.price_at(3, 60), Price(300_000));
        assert_eq!(ramp.price_at(56, 60), Price(80_000));
        assert_eq!(ramp.price_at(59, 60), Price(80_000));
        // 14 steps from 300_000 to 80_000: step 7 is the midpoint.
        assert_eq!(ramp.price_at(28, 60), Price(190_000));
        assert!(ramp.updates_at(4) && !ramp.updates_at(5));
    }

    #[test]
    fn monotone_and_bounded() {
        for (initial, final_rate) in [(0, 300_000), (300_000, 0), (5, 6), (7, 7)] {
            let ramp = Ramp {
                initial: Price(initial),
                final_rate: Price(final_rate),
                update_interval_ticks: 3,
            };
            let mut previous = ramp.price_at(0, 61);
            for tick in 1..61 {
                let price = ramp.price_at(tick, 61);
                let low = initial.min(final_rate);
                let high = initial.max(final_rate);
                assert!((low..=high).contains(&price.0));
                if final_rate >= initial {
                    assert!(price >= previous);
                } else {
                    assert!(price <= previous);
                }
                previous = price;
            }
            assert_eq!(ramp.price_at(60, 61), Price(final_rate));
        }
    }

    #[test]
    fn single_step_window_uses_final_rate() {
        let ramp = Ramp {
            initial: Price(1),
            final_rate: Price(9),
            update_interval_ticks: 10,
        };
        assert_eq!(ramp.price_at(0, 5), Price(9));
    }
}
