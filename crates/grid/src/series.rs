//! Step functions and their exact resampling to slots.
//!
//! A profile is a step function: row `i` holds an *amount* (energy, or price × seconds) spread
//! evenly over `[start_i, end_i)`, where each row lasts until the next one starts. The amount
//! of any interval is `F(to) − F(from)` with `F` the cumulative amount, computed in `i128` with
//! floor division inside a row. Because every slot's value is a difference of the same `F`,
//! the slots of a run add up to exactly the rows' total over the same span (telescoping): energy
//! is conserved by construction, at any row resolution, finer or coarser than the slot.
//!
//! A *daily* series repeats every 86,400 civil seconds: its last row lasts until the first row's
//! time on the next day. An *absolute* series covers `[first row, end of last row)` only.
//!
//! Complexity: building O(rows); one interval O(log rows).

use nestgrid_types::div_floor_i128;

/// Seconds of a civil day.
pub(crate) const DAY_SECONDS: i64 = 86_400;

/// A step function over seconds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StepSeries {
    starts: Vec<i64>,
    lengths: Vec<i64>,
    amounts: Vec<i128>,
    prefix: Vec<i128>,
    total: i128,
    period: Option<i64>,
}

impl StepSeries {
    /// A daily series: `times` are seconds of the day, strictly increasing, all in
    /// `0..86_400`, at least one. The last row wraps to the first row's time the next day.
    pub fn daily(times: &[i64], amounts: Vec<i128>) -> Self {
        assert!(!times.is_empty() && times.len() == amounts.len());
        let mut lengths: Vec<i64> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
        lengths.push(times[0] + DAY_SECONDS - times[times.len() - 1]);
        Self::build(times.to_vec(), lengths, amounts, Some(DAY_SECONDS))
    }

    /// An absolute series over instants: `times` strictly increasing, at least two or a given
    /// `last_length` (the length of the last row).
    pub fn absolute(times: &[i64], amounts: Vec<i128>, last_length: i64) -> Self {
        assert!(!times.is_empty() && times.len() == amounts.len() && last_length > 0);
        let mut lengths: Vec<i64> = times.windows(2).map(|pair| pair[1] - pair[0]).collect();
        lengths.push(last_length);
        Self::build(times.to_vec(), lengths, amounts, None)
    }

    fn build(starts: Vec<i64>, lengths: Vec<i64>, amounts: Vec<i128>, period: Option<i64>) -> Self {
        debug_assert!(lengths.iter().all(|&length| length > 0));
        let mut prefix = Vec::with_capacity(amounts.len());
        let mut total: i128 = 0;
        for amount in &amounts {
            prefix.push(total);
            total += amount;
        }
        Self {
            starts,
            lengths,
            amounts,
            prefix,
            total,
            period,
        }
    }

    /// Whether the series repeats daily.
    pub fn is_daily(&self) -> bool {
        self.period.is_some()
    }

    /// First instant covered (absolute series).
    pub fn first(&self) -> i64 {
        self.starts[0]
    }

    /// One past the last instant covered (absolute series).
    pub fn end(&self) -> i64 {
        self.starts[self.starts.len() - 1] + self.lengths[self.lengths.len() - 1]
    }

    /// Cumulative amount from the first row's start to `x` (periodic series continue with whole
    /// periods; absolute series are flat outside their span).
    pub fn cumulative(&self, x: i64) -> i128 {
        let origin = self.starts[0];
        match self.period {
            Some(period) => {
                let periods = (x - origin).div_euclid(period);
                let inside = origin + (x - origin).rem_euclid(period);
                periods as i128 * self.total + self.within(inside)
            }
            None => {
                if x <= origin {
                    0
                } else if x >= self.end() {
                    self.total
                } else {
                    self.within(x)
                }
            }
        }
    }

    /// Cumulative amount at `x`, which lies inside the span of the rows.
    fn within(&self, x: i64) -> i128 {
        let row = self
            .starts
            .partition_point(|&start| start <= x)
            .saturating_sub(1);
        let into = (x - self.starts[row]).min(self.lengths[row]);
        self.prefix[row]
            + div_floor_i128(self.amounts[row] * into as i128, self.lengths[row] as i128)
    }

    /// The amount in `[from, to)`.
    pub fn amount(&self, from: i64, to: i64) -> i128 {
        self.cumulative(to) - self.cumulative(from)
    }

    /// Amounts per interval `[start, start + length)` given `floor(F / divisor)` telescoping:
    /// returns `floor(F(to)/divisor) − floor(F(from)/divisor)` so that consecutive intervals add
    /// up exactly to the whole span.
    pub fn amount_scaled(&self, from: i64, to: i64, divisor: i128) -> i128 {
        div_floor_i128(self.cumulative(to), divisor)
            - div_floor_i128(self.cumulative(from), divisor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hourly_rows_into_quarter_hours() {
        // 4 kWh from 00:00 to 01:00, then nothing until midnight.
        let series = StepSeries::daily(&[0, 3_600], vec![4_000, 0]);
        assert_eq!(series.amount(0, 900), 1_000);
        assert_eq!(series.amount(900, 1_800), 1_000);
        assert_eq!(series.amount(3_600, 4_500), 0);
        // The next day repeats.
        assert_eq!(series.amount(DAY_SECONDS, DAY_SECONDS + 900), 1_000);
        assert_eq!(series.amount(0, 2 * DAY_SECONDS), 8_000);
    }

    #[test]
    fn daily_rows_wrap_around_midnight() {
        // A profile starting at 06:00: its last row (18:00) lasts until 06:00 the next day.
        let series = StepSeries::daily(&[6 * 3_600, 18 * 3_600], vec![12, 12]);
        assert_eq!(series.amount(0, 6 * 3_600), 6);
        assert_eq!(series.amount(6 * 3_600, 18 * 3_600), 12);
    }

    #[test]
    fn absolute_series_is_flat_outside() {
        let series = StepSeries::absolute(&[100, 200], vec![10, 20], 100);
        assert_eq!(series.end(), 300);
        assert_eq!(series.amount(0, 100), 0);
        assert_eq!(series.amount(0, 1_000), 30);
        assert_eq!(series.amount(150, 250), 15);
    }

    proptest! {
        /// Slots of any length tile a day; their amounts add up to the day's total exactly,
        /// whatever the rows' resolution.
        #[test]
        fn resampling_conserves_the_daily_total(
            mut minutes in proptest::collection::btree_set(0i64..1_440, 1..60),
            amounts in proptest::collection::vec(0i128..10_000_000, 60),
            slot_index in 0usize..8,
            divisor in prop_oneof![Just(1i128), Just(3_600i128)],
        ) {
            minutes.insert(0);
            let times: Vec<i64> = minutes.iter().map(|minute| minute * 60).collect();
            let amounts: Vec<i128> = amounts[..times.len()].to_vec();
            let series = StepSeries::daily(&times, amounts.clone());
            let slot = [60, 300, 900, 1_800, 3_600, 7_200, 10_800, 86_400][slot_index];
            let sum: i128 = (0..DAY_SECONDS / slot)
                .map(|index| series.amount_scaled(index * slot, (index + 1) * slot, divisor))
                .sum();
            let total: i128 = amounts.iter().sum();
            prop_assert_eq!(sum, div_floor_i128(total, divisor));
            for index in 0..DAY_SECONDS / slot {
                prop_assert!(series.amount(index * slot, (index + 1) * slot) >= 0);
            }
        }

        /// An absolute series resampled over exactly its span keeps its total, for slots not
        /// aligned with the rows.
        #[test]
        fn resampling_conserves_the_absolute_total(
            gaps in proptest::collection::vec(1i64..5_000, 1..50),
            amounts in proptest::collection::vec(-1_000_000i128..1_000_000, 50),
            slot in 1i64..4_000,
        ) {
            let mut times = vec![1_000];
            for gap in &gaps[..gaps.len() - 1] {
                times.push(times[times.len() - 1] + gap);
            }
            let amounts = amounts[..times.len()].to_vec();
            let series = StepSeries::absolute(&times, amounts.clone(), gaps[gaps.len() - 1]);
            let mut sum = 0;
            let mut from = series.first();
            while from < series.end() {
                let to = (from + slot).min(series.end());
                sum += series.amount(from, to);
                from = to;
            }
            prop_assert_eq!(sum, amounts.iter().sum::<i128>());
        }
    }
}
