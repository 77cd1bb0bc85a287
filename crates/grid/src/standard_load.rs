//! The built-in standard residential load profile (`load: { annual_kwh: ... }`).
//!
//! The shape follows the German BDEW H0 standard load profile for households (VDEW, "Repräsentative
//! VDEW-Lastprofile", 1999, and BDEW's published H0 tables): a low night, a morning peak, a
//! midday plateau and the day's highest peak in the evening, with working days, Saturdays and
//! Sundays shaped differently, and a seasonal factor that lifts winter and lowers summer. The
//! numbers below are this crate's own, not H0's tables: 24 hourly anchor values per day type,
//! interpolated linearly to quarter hours, and a cosine seasonal factor of ±22 % with its
//! maximum on 1 January and minimum at the start of July — the swing of H0's dynamisation
//! factor (about 1.24 in early January to 0.8 in midsummer).
//!
//! Normalisation: the profile is scaled so that a 365-day year with the average mix of day
//! types (5 working days, 1 Saturday, 1 Sunday per week) consumes exactly `annual_kwh`. Any real
//! 365-day stretch differs from that mix by at most one day of the week, well under 0.5 %.
//! Public holidays are treated as the weekday they fall on.
//!
//! The profile is read in local civil time (see [`crate::clock`]): the day type and season come
//! from each slot's local date.

use crate::clock::Clock;
use jiff::civil::Weekday;
use nestgrid_types::Energy;
use std::f64::consts::PI;

/// Relative power at the start of each hour of a working day (Monday to Friday).
const WORKDAY: [f64; 24] = [
    0.55, 0.45, 0.40, 0.38, 0.38, 0.45, 0.75, 1.05, 1.05, 0.95, 0.95, 1.05, //
    1.20, 1.10, 0.95, 0.90, 0.95, 1.15, 1.45, 1.60, 1.55, 1.35, 1.05, 0.75,
];
/// Relative power at the start of each hour of a Saturday: later morning, busier midday.
const SATURDAY: [f64; 24] = [
    0.65, 0.52, 0.45, 0.42, 0.40, 0.42, 0.52, 0.75, 1.00, 1.15, 1.20, 1.25, //
    1.35, 1.25, 1.10, 1.00, 1.00, 1.10, 1.35, 1.50, 1.50, 1.35, 1.10, 0.85,
];
/// Relative power at the start of each hour of a Sunday: late morning, lunch peak.
const SUNDAY: [f64; 24] = [
    0.70, 0.55, 0.47, 0.43, 0.41, 0.41, 0.46, 0.60, 0.85, 1.10, 1.25, 1.40, //
    1.50, 1.30, 1.10, 1.00, 1.00, 1.10, 1.35, 1.50, 1.45, 1.30, 1.05, 0.80,
];
/// Relative amplitude of the seasonal factor.
const SEASONAL_AMPLITUDE: f64 = 0.22;
/// Seconds of a quarter hour, the shape's resolution.
const QUARTER_SECONDS: i64 = 900;

/// Which day shape applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DayType {
    Workday,
    Saturday,
    Sunday,
}

fn day_type(weekday: Weekday) -> DayType {
    match weekday {
        Weekday::Saturday => DayType::Saturday,
        Weekday::Sunday => DayType::Sunday,
        _ => DayType::Workday,
    }
}

/// The quarter-hour shape of a day type (96 values).
fn quarter_hours(day: DayType) -> [f64; 96] {
    let hours = match day {
        DayType::Workday => &WORKDAY,
        DayType::Saturday => &SATURDAY,
        DayType::Sunday => &SUNDAY,
    };
    let mut quarters = [0.0; 96];
    for (index, quarter) in quarters.iter_mut().enumerate() {
        let hour = index / 4;
        let step = (index % 4) as f64 / 4.0;
        *quarter = hours[hour] + (hours[(hour + 1) % 24] - hours[hour]) * step;
    }
    quarters
}

/// Seasonal factor for a day of the year (1 = 1 January).
fn seasonal_factor(day_of_year: i16) -> f64 {
    1.0 + SEASONAL_AMPLITUDE * (2.0 * PI * (day_of_year as f64 - 1.0) / 365.0).cos()
}

/// Relative energy (weight × seconds) of the average 365-day year.
fn reference_year_weight() -> f64 {
    let day_sum = |day: DayType| quarter_hours(day).iter().sum::<f64>() * QUARTER_SECONDS as f64;
    let average_day =
        (5.0 * day_sum(DayType::Workday) + day_sum(DayType::Saturday) + day_sum(DayType::Sunday))
            / 7.0;
    (1..=365).map(seasonal_factor).sum::<f64>() * average_day
}

/// Energy per slot of a household consuming `annual` in an average year.
pub(crate) fn standard_load_profile(annual: Energy, clock: &Clock) -> Vec<Energy> {
    let shapes = [
        quarter_hours(DayType::Workday),
        quarter_hours(DayType::Saturday),
        quarter_hours(DayType::Sunday),
    ];
    let slot_seconds = clock.slot_seconds as i64;
    let last_civil = clock.civil_starts.last().copied().unwrap_or(0) + slot_seconds;
    let day_count = (last_civil.div_euclid(86_400) + 1).max(1);
    // Per local day of the run: its shape and its seasonal factor.
    let days: Vec<(usize, f64)> = (0..day_count)
        .map(|day| {
            let date = clock.date_after(day);
            let shape = match day_type(date.weekday()) {
                DayType::Workday => 0,
                DayType::Saturday => 1,
                DayType::Sunday => 2,
            };
            (shape, seasonal_factor(date.day_of_year()))
        })
        .collect();
    let scale = annual.0 as f64 / reference_year_weight();
    clock
        .civil_starts
        .iter()
        .map(|&from| {
            // Integrate the quarter-hour step function over [from, from + slot) piece by piece.
            let to = from + slot_seconds;
            let mut weight = 0.0;
            let mut at = from;
            while at < to {
                let day = at.div_euclid(86_400);
                let quarter = (at.rem_euclid(86_400) / QUARTER_SECONDS) as usize;
                let piece_end = (day * 86_400 + (quarter as i64 + 1) * QUARTER_SECONDS).min(to);
                let (shape, season) = days[day.clamp(0, day_count - 1) as usize];
                weight += shapes[shape][quarter] * season * (piece_end - at) as f64;
                at = piece_end;
            }
            // Named rounding boundary: each slot's energy rounds to the nearest mWh.
            Energy((weight * scale).round() as i64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_instant;
    use jiff::tz::TimeZone;

    fn clock(start: &str, slot_seconds: u32, slot_count: u32) -> Clock {
        Clock::new(
            &parse_instant(start, &TimeZone::UTC).unwrap(),
            slot_seconds,
            slot_count,
        )
    }

    #[test]
    fn a_year_sums_to_the_annual_energy() {
        for year in ["2026-01-01", "2027-01-01", "2025-03-15"] {
            let year_clock = clock(year, 900, 365 * 96);
            let profile = standard_load_profile(Energy::from_kwh(3_500), &year_clock);
            let total = profile.iter().copied().sum::<Energy>().as_f64();
            assert!((total / 3_500.0 - 1.0).abs() < 0.005, "{year}: {total}");
        }
    }

    #[test]
    fn evening_peak_morning_peak_and_quiet_night() {
        // Wednesday 2026-06-17, hourly slots.
        let day = standard_load_profile(Energy::from_kwh(3_500), &clock("2026-06-17", 3_600, 24));
        let night = day[3];
        let morning = day[7];
        let evening = day[19];
        assert!(night < morning && morning < evening, "{day:?}");
        let peak_hour = (0..24).max_by_key(|&hour| day[hour]).unwrap();
        assert!((18..=20).contains(&peak_hour), "peak at {peak_hour}");
    }

    #[test]
    fn winter_above_summer_and_weekends_differ() {
        let winter =
            standard_load_profile(Energy::from_kwh(3_500), &clock("2026-01-14", 86_400, 1));
        let summer =
            standard_load_profile(Energy::from_kwh(3_500), &clock("2026-07-15", 86_400, 1));
        let ratio = winter[0].as_f64() / summer[0].as_f64();
        assert!(ratio > 1.4 && ratio < 1.7, "{ratio}");
        // Saturday and Sunday mornings start later than Friday's.
        let weekend =
            standard_load_profile(Energy::from_kwh(3_500), &clock("2026-06-19", 3_600, 72));
        assert!(weekend[7] > weekend[24 + 7] && weekend[24 + 7] > weekend[48 + 7]);
    }

    #[test]
    fn any_slot_length_gives_the_same_day() {
        let quarter = standard_load_profile(Energy::from_kwh(3_500), &clock("2026-06-17", 900, 96));
        let odd = standard_load_profile(Energy::from_kwh(3_500), &clock("2026-06-17", 420, 206));
        let sum_quarter = quarter.iter().copied().sum::<Energy>().0;
        let sum_odd = odd.iter().copied().sum::<Energy>().0;
        // 206 slots of 7 minutes cover 24 h 2 min: the difference is about two minutes of load.
        assert!(
            (sum_odd - sum_quarter).abs() < sum_quarter / 500,
            "{sum_odd} {sum_quarter}"
        );
    }
}
