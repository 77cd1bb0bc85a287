//! The `simulation:` section and the run's time grid.
//!
//! Slots are laid out in absolute time: slot `k` starts at `start + k × slot_length` seconds, so
//! a one-day run across a DST change still has `86,400 / slot_length` slots. Profiles that are
//! written in local civil time (daily CSV profiles, the standard load profile, `hours:` ranges,
//! daily EV sessions) read each slot at the civil time its start shows on a wall clock in the
//! scenario's time zone: on the spring-forward day the skipped hour's values are not used, on
//! the fall-back day the repeated hour's values are used twice. All civil-time arithmetic goes
//! through `jiff`.

use crate::error::{Problems, join_field};
use crate::values::{DurationText, Num, check_range, format_duration};
use crate::{LoadOptions, Settings};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use nestgrid_types::limits::{MAX_SLOTS, MAX_TICKS_PER_SLOT};
use serde::Deserialize;

/// Default start when the scenario gives none: midnight on 1 January 2026, local time.
pub const DEFAULT_START: &str = "2026-01-01T00:00";
/// Default slot length in seconds.
pub const DEFAULT_SLOT_SECONDS: u32 = 900;
/// Default tick length in seconds.
pub const DEFAULT_TICK_SECONDS: u32 = 15;
/// Default latitude (Berlin).
pub const DEFAULT_LATITUDE: f64 = 52.52;
/// Default longitude (Berlin).
pub const DEFAULT_LONGITUDE: f64 = 13.40;

/// Where problems with the command line's run length are reported.
const COMMAND_LINE_DAYS: &str = "--days";

/// The `simulation:` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping of `simulation` fields")]
pub(crate) struct SimulationFields {
    start: Option<String>,
    time_zone: Option<String>,
    days: Option<u32>,
    duration: Option<DurationText>,
    slot_length: Option<DurationText>,
    tick_length: Option<DurationText>,
    seed: Option<u64>,
    currency: Option<String>,
    latitude: Option<Num>,
    longitude: Option<Num>,
    forward_after_ticks: Option<u32>,
    forecast_error: Option<Num>,
}

/// The run's time grid, shared by everything that builds per-slot series.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    /// The scenario's time zone.
    pub time_zone: TimeZone,
    /// Start of slot 0 as Unix seconds.
    pub start_unix: i64,
    /// Slot length in seconds.
    pub slot_seconds: u32,
    /// Number of slots.
    pub slot_count: u32,
    /// The local date of the start.
    pub start_date: Date,
    /// For each slot, the civil time of its start as seconds since local midnight of
    /// `start_date` (`86,400 × days + seconds of the day`).
    pub civil_starts: Vec<i64>,
}

impl Clock {
    /// Builds the grid; `start` must be in `time_zone`.
    pub fn new(start: &Zoned, slot_seconds: u32, slot_count: u32) -> Self {
        let time_zone = start.time_zone().clone();
        let start_unix = start.timestamp().as_second();
        let start_date = start.date();
        let start_day = day_number(start_date);
        let civil_starts = (0..slot_count as i64)
            .map(|slot| {
                let instant = start_unix + slot * slot_seconds as i64;
                let civil = Timestamp::from_second(instant)
                    .map(|timestamp| timestamp.to_zoned(time_zone.clone()).datetime())
                    .unwrap_or(start.datetime());
                civil_seconds(civil, start_day)
            })
            .collect();
        Self {
            time_zone,
            start_unix,
            slot_seconds,
            slot_count,
            start_date,
            civil_starts,
        }
    }

    /// Start of a slot (may lie outside the run) as Unix seconds.
    pub fn slot_start_unix(&self, slot: i64) -> i64 {
        self.start_unix + slot * self.slot_seconds as i64
    }

    /// End of the run as Unix seconds.
    pub fn end_unix(&self) -> i64 {
        self.slot_start_unix(self.slot_count as i64)
    }

    /// The local date `days` after the start date.
    pub fn date_after(&self, days: i64) -> Date {
        civil_from_days(day_number(self.start_date) + days)
    }

    /// Unix seconds of a local civil date and time (compatible disambiguation: a time in the
    /// spring-forward gap moves forward, a repeated time takes its first occurrence).
    pub fn unix_of(&self, date: Date, seconds_of_day: i64) -> Option<i64> {
        let time = jiff::civil::Time::new(
            (seconds_of_day / 3_600) as i8,
            (seconds_of_day / 60 % 60) as i8,
            (seconds_of_day % 60) as i8,
            0,
        )
        .ok()?;
        let zoned = date
            .to_datetime(time)
            .to_zoned(self.time_zone.clone())
            .ok()?;
        Some(zoned.timestamp().as_second())
    }
}

fn civil_seconds(civil: DateTime, start_day: i64) -> i64 {
    let days = day_number(civil.date()) - start_day;
    let time = civil.time();
    days * 86_400 + time.hour() as i64 * 3_600 + time.minute() as i64 * 60 + time.second() as i64
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) fn day_number(date: Date) -> i64 {
    let year = date.year() as i64 - if date.month() <= 2 { 1 } else { 0 };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = date.month() as i64;
    let day_of_year =
        (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + date.day() as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 (inverse of [`day_number`]).
pub(crate) fn civil_from_days(days: i64) -> Date {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    Date::new(year as i16, month as i8, day as i8).unwrap_or(Date::MIN)
}

/// Reads a start as RFC 3339 (`2026-06-21T00:00:00+02:00`, converted to the zone), a local
/// date and time (`2026-06-21T00:00`, `2026-06-21 00:00`) or a local date (`2026-06-21`).
pub(crate) fn parse_instant(text: &str, time_zone: &TimeZone) -> Result<Zoned, String> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<Timestamp>() {
        return Ok(timestamp.to_zoned(time_zone.clone()));
    }
    match text.parse::<DateTime>() {
        Ok(civil) => civil
            .to_zoned(time_zone.clone())
            .map_err(|error| format!("`{text}`: {error}")),
        Err(_) => Err(format!(
            "`{text}` is not a date or time (write e.g. 2026-06-21T00:00, 2026-06-21 or \
             2026-06-21T00:00:00+02:00)"
        )),
    }
}

/// Reads the `simulation:` section into [`Settings`] and the time grid, recording problems.
pub(crate) fn build_settings(
    fields: &SimulationFields,
    name: &str,
    options: &LoadOptions,
    problems: &mut Problems,
) -> Option<(Settings, Clock)> {
    let before = problems.len();
    let path = |field: &str| join_field("simulation", field);

    let time_zone = match &fields.time_zone {
        None => TimeZone::UTC,
        Some(zone_name) => match TimeZone::get(zone_name) {
            Ok(zone) => zone,
            Err(_) => {
                problems.push(
                    path("time_zone"),
                    format!(
                        "unknown time zone `{zone_name}` (use an IANA name like Europe/Berlin)"
                    ),
                );
                TimeZone::UTC
            }
        },
    };
    let start_text = fields.start.as_deref().unwrap_or(DEFAULT_START);
    let start = match (options.start, parse_instant(start_text, &time_zone)) {
        (Some(instant), _) => Some(instant.to_zoned(time_zone.clone())),
        (None, Ok(start)) => Some(start),
        (None, Err(message)) => {
            problems.push(path("start"), message);
            None
        }
    };

    let mut read_length =
        |field: &str, value: &Option<DurationText>, default: u32| -> Option<u32> {
            let Some(text) = value else {
                return Some(default);
            };
            match text.seconds() {
                Ok(0) => {
                    problems.push(path(field), "must be greater than 0");
                    None
                }
                Ok(seconds) if seconds <= u32::MAX as u64 => Some(seconds as u32),
                Ok(_) => {
                    problems.push(path(field), format!("`{}` is too long", text.0));
                    None
                }
                Err(message) => {
                    problems.push(path(field), message);
                    None
                }
            }
        };
    let slot_seconds = read_length("slot_length", &fields.slot_length, DEFAULT_SLOT_SECONDS);
    let tick_seconds = read_length("tick_length", &fields.tick_length, DEFAULT_TICK_SECONDS);
    if let (Some(slot), Some(tick)) = (slot_seconds, tick_seconds) {
        if slot % tick != 0 {
            problems.push(
                path("tick_length"),
                format!(
                    "{} does not divide slot_length {} evenly",
                    format_duration(tick as u64),
                    format_duration(slot as u64)
                ),
            );
        } else if slot / tick > MAX_TICKS_PER_SLOT {
            problems.push(
                path("tick_length"),
                format!(
                    "{} ticks per slot exceed the limit of {MAX_TICKS_PER_SLOT} (MAX_TICKS_PER_SLOT)",
                    slot / tick
                ),
            );
        }
    }

    // Run length: the command line's --days wins over the file; otherwise exactly one of days
    // and duration, or one day.
    let (duration_field, duration_seconds) = match (options.days, fields.days, &fields.duration) {
        (Some(days), _, _) => ("days", days_to_seconds(days, COMMAND_LINE_DAYS, problems)),
        (None, Some(_), Some(_)) => {
            problems.push(path("duration"), "give either days or duration, not both");
            ("duration", None)
        }
        (None, Some(days), None) => ("days", days_to_seconds(days, &path("days"), problems)),
        (None, None, Some(text)) => match text.seconds() {
            Ok(0) => {
                problems.push(path("duration"), "must be greater than 0");
                ("duration", None)
            }
            Ok(seconds) => ("duration", Some(seconds)),
            Err(message) => {
                problems.push(path("duration"), message);
                ("duration", None)
            }
        },
        (None, None, None) => ("days", Some(86_400)),
    };
    let mut slot_count = None;
    if let (Some(duration), Some(slot)) = (duration_seconds, slot_seconds) {
        let field = if options.days.is_some() {
            COMMAND_LINE_DAYS.to_string()
        } else {
            path(duration_field)
        };
        if duration % slot as u64 != 0 {
            problems.push(
                field,
                format!(
                    "{} is not a whole number of slots of {}",
                    format_duration(duration),
                    format_duration(slot as u64)
                ),
            );
        } else if duration / slot as u64 > MAX_SLOTS as u64 {
            problems.push(
                field,
                format!(
                    "{} slots exceed the limit of {MAX_SLOTS} (MAX_SLOTS)",
                    duration / slot as u64
                ),
            );
        } else {
            slot_count = Some((duration / slot as u64) as u32);
        }
    }

    let currency = fields.currency.clone().unwrap_or_else(|| "EUR".to_string());
    if currency.is_empty()
        || currency.len() > 8
        || !currency.bytes().all(|byte| byte.is_ascii_alphanumeric())
    {
        problems.push(
            path("currency"),
            format!("`{currency}` is not a currency code like EUR"),
        );
    }
    let mut read_degrees = |field: &str, value: &Option<Num>, default: f64, limit: i64| -> f64 {
        let Some(value) = value else {
            return default;
        };
        match value
            .fixed(1_000_000)
            .and_then(|micro| check_range(micro, -limit * 1_000_000, limit * 1_000_000, 1_000_000))
        {
            Ok(micro) => micro as f64 / 1e6,
            Err(message) => {
                problems.push(path(field), message);
                default
            }
        }
    };
    let latitude = read_degrees("latitude", &fields.latitude, DEFAULT_LATITUDE, 90);
    let longitude = read_degrees("longitude", &fields.longitude, DEFAULT_LONGITUDE, 180);
    let forward_after_ticks = fields.forward_after_ticks.unwrap_or(1);
    if forward_after_ticks == 0 {
        problems.push(path("forward_after_ticks"), "must be greater than 0");
    }
    let forecast_error_ppm = match &fields.forecast_error {
        None => 0,
        Some(value) => match value
            .fixed(1_000_000)
            .and_then(|ppm| check_range(ppm, 0, 1_000_000, 1_000_000))
        {
            Ok(ppm) => ppm,
            Err(message) => {
                problems.push(path("forecast_error"), message);
                0
            }
        },
    };

    if problems.len() > before {
        return None;
    }
    let (start, slot_seconds, tick_seconds, slot_count) =
        (start?, slot_seconds?, tick_seconds?, slot_count?);
    let clock = Clock::new(&start, slot_seconds, slot_count);
    let settings = Settings {
        name: name.to_string(),
        start,
        slot_seconds,
        tick_seconds,
        slot_count,
        seed: options.seed.or(fields.seed).unwrap_or(0),
        currency,
        latitude,
        longitude,
        forward_after_ticks,
        forecast_error_ppm,
    };
    Some((settings, clock))
}

fn days_to_seconds(days: u32, field: &str, problems: &mut Problems) -> Option<u64> {
    if days == 0 {
        problems.push(field, "must be greater than 0");
        return None;
    }
    Some(days as u64 * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        assert_eq!(day_number(Date::constant(1970, 1, 1)), 0);
        assert_eq!(day_number(Date::constant(2026, 6, 21)), 20_625);
        for days in [-800_000, -1, 0, 59, 365, 20_625, 30_000, 1_000_000] {
            assert_eq!(day_number(civil_from_days(days)), days);
        }
        assert_eq!(civil_from_days(20_625), Date::constant(2026, 6, 21));
    }

    #[test]
    fn civil_starts_follow_the_wall_clock_across_dst() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        // 2026-03-29: clocks go from 02:00 to 03:00.
        let start = parse_instant("2026-03-29T00:00", &zone).unwrap();
        let clock = Clock::new(&start, 3_600, 24);
        assert_eq!(clock.civil_starts[1], 3_600);
        assert_eq!(clock.civil_starts[2], 3 * 3_600);
        assert_eq!(clock.civil_starts[23], 24 * 3_600);
        assert_eq!(clock.end_unix() - clock.start_unix, 86_400);
    }

    #[test]
    fn instants() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let summer = parse_instant("2026-06-21", &zone).unwrap();
        assert_eq!(summer.timestamp().to_string(), "2026-06-20T22:00:00Z");
        let exact = parse_instant("2026-06-21T00:00:00Z", &zone).unwrap();
        assert_eq!(exact.datetime().to_string(), "2026-06-21T02:00:00");
        assert!(parse_instant("midsummer", &zone).is_err());
    }
}
