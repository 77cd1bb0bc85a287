//! CSV profile files: `time,value` rows read into a [`StepSeries`] and resampled to slots.
//!
//! Format (see `docs/scenario-reference.md`):
//! - two columns, `time,value`; an optional header line; `#` starts a comment line;
//! - `time` is either a time of day `HH:MM[:SS]` (a daily profile, repeated every day, in local
//!   civil time) or a timestamp: RFC 3339 with an offset (`2026-06-21T00:15:00+02:00`) or a local
//!   date and time in the scenario's time zone (`2026-06-21 00:15`, `2026-06-21T00:15:00`);
//!   one file uses one kind; times strictly increase;
//! - `value` is a number: for energy profiles watts (average power until the next row) or kWh
//!   per interval (the interval until the next row), never negative; for price files currency
//!   units per kWh (may be negative);
//! - each row lasts until the next; the last row of a daily file lasts until the first row's
//!   time on the next day, the last row of a timestamped file as long as the row before it;
//! - a timestamped file must cover the whole run.
//!
//! Errors read `FILE:LINE: <what is wrong>`, with FILE as written in the scenario.

use crate::clock::{Clock, parse_instant};
use crate::series::{DAY_SECONDS, StepSeries};
use crate::values::parse_time_of_day;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use nestgrid_types::limits::MAX_PROFILE_ROWS;
use nestgrid_types::{Energy, Price};
use serde::Deserialize;
use std::path::Path;

/// Most problems reported for one file.
const MAX_FILE_PROBLEMS: usize = 10;

/// How energy values in a profile file are meant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Default)]
pub(crate) enum EnergyUnit {
    /// Average power in watts over the interval until the next row.
    #[default]
    #[serde(rename = "w", alias = "W")]
    Watt,
    /// Energy in kWh in the interval until the next row.
    #[serde(rename = "kwh", alias = "kWh")]
    KilowattHour,
}

/// Whether a file's times are times of day or timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeKind {
    /// `HH:MM`: a daily profile.
    Daily,
    /// Timestamps: one stretch of time.
    Absolute,
}

/// The rows of a profile file, checked for form but not yet for meaning.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProfileRows {
    /// Times of day or of Unix seconds.
    pub kind: TimeKind,
    /// Row times (seconds of the day, or Unix seconds).
    pub times: Vec<i64>,
    /// Row values as written.
    pub values: Vec<f64>,
    /// Line number of each row (for messages).
    pub lines: Vec<u64>,
}

fn parse_row_time(text: &str, time_zone: &TimeZone) -> Option<(TimeKind, i64)> {
    if !text.contains('-') {
        return parse_time_of_day(text).map(|seconds| (TimeKind::Daily, seconds));
    }
    // A timestamp must carry a time: `2026-06-21` alone is not a row time.
    if !text.contains(':') {
        return None;
    }
    parse_instant(text, time_zone)
        .ok()
        .map(|zoned| (TimeKind::Absolute, zoned.timestamp().as_second()))
}

fn parse_value(text: &str) -> Option<f64> {
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some(value)
}

/// Reads a profile file. `shown` is the file as written in the scenario (used in messages).
pub(crate) fn read_profile_file(
    path: &Path,
    shown: &str,
    time_zone: &TimeZone,
) -> Result<ProfileRows, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|error| {
            let reason = match error.kind() {
                csv::ErrorKind::Io(io) => io.to_string(),
                _ => error.to_string(),
            };
            vec![format!(
                "{shown}: cannot read ({reason}; looked at {})",
                path.display()
            )]
        })?;
    let mut problems: Vec<String> = Vec::new();
    let mut rows = ProfileRows {
        kind: TimeKind::Daily,
        times: Vec::new(),
        values: Vec::new(),
        lines: Vec::new(),
    };
    let mut kind: Option<TimeKind> = None;
    let mut first_record = true;
    let mut record = csv::StringRecord::new();
    loop {
        if problems.len() >= MAX_FILE_PROBLEMS {
            break;
        }
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => {
                problems.push(format!("{shown}:{line}: {error}"));
                break;
            }
        }
        let line = record.position().map_or(line, |position| position.line());
        // Comments are skipped here rather than by the reader, which would not count their
        // lines.
        if (record.len() == 1 && record[0].is_empty()) || record[0].starts_with('#') {
            continue;
        }
        let is_header = first_record;
        first_record = false;
        if record.len() != 2 {
            problems.push(format!(
                "{shown}:{line}: expected 2 columns `time,value`, found {}",
                record.len()
            ));
            continue;
        }
        let time = parse_row_time(&record[0], time_zone);
        let value = parse_value(&record[1]);
        if is_header && time.is_none() && value.is_none() {
            continue;
        }
        if rows.times.len() >= MAX_PROFILE_ROWS {
            problems.push(format!(
                "{shown}:{line}: more than {MAX_PROFILE_ROWS} rows (MAX_PROFILE_ROWS)"
            ));
            break;
        }
        let Some((row_kind, seconds)) = time else {
            problems.push(format!(
                "{shown}:{line}: `{}` is not a time (write HH:MM, or a timestamp like \
                 2026-06-21 00:15 or 2026-06-21T00:15:00+02:00)",
                &record[0]
            ));
            continue;
        };
        let Some(value) = value else {
            problems.push(format!(
                "{shown}:{line}: value `{}` is not a number",
                &record[1]
            ));
            continue;
        };
        match kind {
            None => kind = Some(row_kind),
            Some(existing) if existing != row_kind => {
                problems.push(format!(
                    "{shown}:{line}: mixes times of day and timestamps (use one kind per file)"
                ));
                continue;
            }
            Some(_) => {}
        }
        if rows
            .times
            .last()
            .is_some_and(|&previous| seconds <= previous)
        {
            problems.push(format!(
                "{shown}:{line}: time `{}` is not after the previous row's",
                &record[0]
            ));
            continue;
        }
        rows.times.push(seconds);
        rows.values.push(value);
        rows.lines.push(line);
    }
    if problems.is_empty() {
        match (kind, rows.times.len()) {
            (None, _) => problems.push(format!("{shown}: has no rows")),
            (Some(TimeKind::Absolute), 1) => problems.push(format!(
                "{shown}: a timestamped profile needs at least two rows (one row per interval)"
            )),
            _ => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    rows.kind = kind.unwrap_or(TimeKind::Daily);
    Ok(rows)
}

fn build_series(rows: &ProfileRows, amounts: Vec<i128>) -> StepSeries {
    match rows.kind {
        TimeKind::Daily => StepSeries::daily(&rows.times, amounts),
        TimeKind::Absolute => {
            let count = rows.times.len();
            let last_length = rows.times[count - 1] - rows.times[count - 2];
            StepSeries::absolute(&rows.times, amounts, last_length)
        }
    }
}

fn row_lengths(rows: &ProfileRows) -> Vec<i64> {
    let count = rows.times.len();
    (0..count)
        .map(|index| match (rows.kind, index + 1 < count) {
            (_, true) => rows.times[index + 1] - rows.times[index],
            (TimeKind::Daily, false) => rows.times[0] + DAY_SECONDS - rows.times[index],
            (TimeKind::Absolute, false) => rows.times[index] - rows.times[index - 1],
        })
        .collect()
}

/// Energy rows in milliwatt-seconds (mWh × 3,600), so that whole watts stay exact.
pub(crate) fn energy_series(
    rows: &ProfileRows,
    unit: EnergyUnit,
    shown: &str,
) -> Result<StepSeries, Vec<String>> {
    let mut problems = Vec::new();
    let lengths = row_lengths(rows);
    let mut amounts = Vec::with_capacity(rows.values.len());
    for (index, &value) in rows.values.iter().enumerate() {
        if value < 0.0 && problems.len() < MAX_FILE_PROBLEMS {
            problems.push(format!(
                "{shown}:{}: negative energy `{value}` (profile values must not be negative)",
                rows.lines[index]
            ));
        }
        // Named rounding boundary: a row's energy is rounded once to a milliwatt-second.
        let milliwatt_seconds = match unit {
            EnergyUnit::Watt => value * 1_000.0 * lengths[index] as f64,
            EnergyUnit::KilowattHour => value * 1_000_000.0 * 3_600.0,
        };
        amounts.push(milliwatt_seconds.round() as i128);
    }
    if problems.is_empty() {
        Ok(build_series(rows, amounts))
    } else {
        Err(problems)
    }
}

/// Price rows in micro-units × seconds (so a slot's price is a time-weighted mean).
pub(crate) fn price_series(rows: &ProfileRows) -> StepSeries {
    let lengths = row_lengths(rows);
    let amounts = rows
        .values
        .iter()
        .zip(&lengths)
        .map(|(&value, &length)| Price::from_f64_round(value).0 as i128 * length as i128)
        .collect();
    build_series(rows, amounts)
}

fn check_covers(series: &StepSeries, clock: &Clock, shown: &str) -> Result<(), String> {
    if series.is_daily() || (series.first() <= clock.start_unix && series.end() >= clock.end_unix())
    {
        return Ok(());
    }
    let show = |unix: i64| {
        Timestamp::from_second(unix)
            .map(|timestamp| {
                timestamp
                    .to_zoned(clock.time_zone.clone())
                    .datetime()
                    .to_string()
            })
            .unwrap_or_else(|_| unix.to_string())
    };
    Err(format!(
        "{shown}: covers {} to {} but the run lasts from {} to {} (use HH:MM times for a \
         profile that repeats daily)",
        show(series.first()),
        show(series.end()),
        show(clock.start_unix),
        show(clock.end_unix())
    ))
}

/// The interval of slot `slot` on the series' time axis (civil for daily, Unix otherwise).
fn slot_interval(series: &StepSeries, clock: &Clock, slot: usize) -> (i64, i64) {
    let length = clock.slot_seconds as i64;
    let from = if series.is_daily() {
        clock.civil_starts[slot]
    } else {
        clock.slot_start_unix(slot as i64)
    };
    (from, from + length)
}

/// Energy per slot (mWh) of an energy series in milliwatt-seconds.
pub(crate) fn resample_energy(
    series: &StepSeries,
    clock: &Clock,
    shown: &str,
) -> Result<Vec<Energy>, String> {
    check_covers(series, clock, shown)?;
    Ok((0..clock.slot_count as usize)
        .map(|slot| {
            let (from, to) = slot_interval(series, clock, slot);
            Energy(series.amount_scaled(from, to, 3_600) as i64)
        })
        .collect())
}

/// Price per slot: the time-weighted mean over the slot, rounded half away from zero.
pub(crate) fn resample_prices(
    series: &StepSeries,
    clock: &Clock,
    shown: &str,
) -> Result<Vec<Price>, String> {
    check_covers(series, clock, shown)?;
    let length = clock.slot_seconds as i128;
    Ok((0..clock.slot_count as usize)
        .map(|slot| {
            let (from, to) = slot_interval(series, clock, slot);
            let amount = series.amount(from, to);
            let rounded = if amount >= 0 {
                (amount + length / 2) / length
            } else {
                (amount - length / 2) / length
            };
            Price(rounded as i64)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_instant;
    use std::io::Write;

    fn write_file(name: &str, text: &str) -> std::path::PathBuf {
        let directory =
            std::env::temp_dir().join(format!("nestgrid-grid-profile-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join(name);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        path
    }

    fn clock(start: &str, zone: &str, slot_seconds: u32, slot_count: u32) -> Clock {
        let zone = TimeZone::get(zone).unwrap();
        Clock::new(
            &parse_instant(start, &zone).unwrap(),
            slot_seconds,
            slot_count,
        )
    }

    #[test]
    fn reads_daily_rows_with_header_and_comments() {
        let path = write_file("daily.csv", "time,value\n# night\n00:00,100\n12:00, 300\n");
        let rows = read_profile_file(&path, "daily.csv", &TimeZone::UTC).unwrap();
        assert_eq!(rows.kind, TimeKind::Daily);
        assert_eq!(rows.times, vec![0, 43_200]);
        assert_eq!(rows.lines, vec![3, 4]);
        let series = energy_series(&rows, EnergyUnit::Watt, "daily.csv").unwrap();
        let energy =
            resample_energy(&series, &clock("2026-06-21", "UTC", 3_600, 24), "daily.csv").unwrap();
        assert_eq!(energy[0], Energy::from_wh(100));
        assert_eq!(energy[12], Energy::from_wh(300));
        assert_eq!(
            energy.iter().copied().sum::<Energy>(),
            Energy::from_wh(4_800)
        );
    }

    #[test]
    fn reads_timestamps_in_the_zone() {
        let path = write_file(
            "stamps.csv",
            "2026-06-21 00:00,1\n2026-06-21T12:00:00+02:00,2\n2026-06-22 00:00,0\n",
        );
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let rows = read_profile_file(&path, "stamps.csv", &zone).unwrap();
        assert_eq!(rows.kind, TimeKind::Absolute);
        let series = energy_series(&rows, EnergyUnit::KilowattHour, "stamps.csv").unwrap();
        let run = clock("2026-06-21", "Europe/Berlin", 43_200, 2);
        let energy = resample_energy(&series, &run, "stamps.csv").unwrap();
        assert_eq!(energy, vec![Energy::from_kwh(1), Energy::from_kwh(2)]);
        let longer = clock("2026-06-21", "Europe/Berlin", 43_200, 4);
        assert_eq!(
            resample_energy(&series, &longer, "stamps.csv").unwrap_err(),
            "stamps.csv: covers 2026-06-21T00:00:00 to 2026-06-22T12:00:00 but the run lasts from \
             2026-06-21T00:00:00 to 2026-06-23T00:00:00 (use HH:MM times for a profile that \
             repeats daily)"
        );
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let path = write_file(
            "bad.csv",
            "00:00,1\n00:30,abc\n00:30,2\n00:10,2\n01:00,1,2\nnoon,3\n",
        );
        let errors = read_profile_file(&path, "bad.csv", &TimeZone::UTC).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "bad.csv:2: value `abc` is not a number".to_string(),
                "bad.csv:4: time `00:10` is not after the previous row's".to_string(),
                "bad.csv:5: expected 2 columns `time,value`, found 3".to_string(),
                "bad.csv:6: `noon` is not a time (write HH:MM, or a timestamp like 2026-06-21 \
                 00:15 or 2026-06-21T00:15:00+02:00)"
                    .to_string(),
            ]
        );
        let negative = write_file("negative.csv", "00:00,1\n06:00,-5\n");
        let rows = read_profile_file(&negative, "negative.csv", &TimeZone::UTC).unwrap();
        assert_eq!(
            energy_series(&rows, EnergyUnit::Watt, "negative.csv").unwrap_err(),
            vec![
                "negative.csv:2: negative energy `-5` (profile values must not be negative)"
                    .to_string()
            ]
        );
        let missing = read_profile_file(Path::new("/nonexistent/x.csv"), "x.csv", &TimeZone::UTC)
            .unwrap_err();
        assert!(
            missing[0].starts_with("x.csv: cannot read ("),
            "{missing:?}"
        );
    }

    #[test]
    fn prices_are_time_weighted() {
        let path = write_file("prices.csv", "00:00,0.10\n00:30,0.30\n01:00,0.2\n");
        let rows = read_profile_file(&path, "prices.csv", &TimeZone::UTC).unwrap();
        let prices = resample_prices(
            &price_series(&rows),
            &clock("2026-06-21", "UTC", 3_600, 2),
            "p",
        )
        .unwrap();
        assert_eq!(prices, vec![Price(200_000), Price(200_000)]);
    }
}
