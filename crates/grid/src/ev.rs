//! EV charging sessions: from `sessions:` entries to [`ChargingSession`]s in slots of the run.
//!
//! Rules (documented in `docs/scenario-reference.md`):
//! - `arrival`/`departure` as times of day (`18:00`) repeat every local day; a departure at or
//!   before the arrival time is on the next day. Full datetimes make a one-off session.
//! - A vehicle counts as plugged in for the *full* slots between arrival and departure: the
//!   arrival slot is rounded up, the departure slot down.
//! - The energy must be reachable: `energy ≤ max_power × full slots × slot length`, checked for
//!   the whole session (also the parts outside the run), or the session is an error.
//! - Sessions cut by the start or end of the run keep a share of their energy proportional to
//!   the full slots inside the run; the share before the start counts as already charged
//!   (added to `initial_energy`).
//! - Sessions of one charger must not overlap in time.

use crate::ChargingSession;
use crate::clock::Clock;
use crate::error::{Problems, join_field, join_index};
use crate::values::{Num, check_range, parse_time_of_day};
use jiff::Timestamp;
use nestgrid_types::{Energy, Power};
use serde::Deserialize;

/// Default vehicle battery when a session gives none, kWh.
pub const DEFAULT_BATTERY_KWH: i64 = 60;

/// One `sessions:` entry as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `arrival`, `departure` and the energy"
)]
pub(crate) struct SessionFields {
    arrival: String,
    departure: String,
    energy_kwh: Option<Num>,
    initial_soc: Option<Num>,
    target_soc: Option<Num>,
    battery_kwh: Option<Num>,
}

/// When a session happens.
enum SessionTimes {
    /// Times of day (seconds since local midnight), every day.
    Daily { arrival: i64, departure: i64 },
    /// Unix seconds, once.
    Once { arrival: i64, departure: i64 },
}

/// What a session needs, in mWh.
struct SessionEnergy {
    needed: i64,
    battery: i64,
    initial: i64,
}

fn read_soc(value: &Option<Num>, path: &str, problems: &mut Problems) -> Option<Option<i64>> {
    match value {
        None => Some(None),
        Some(value) => match value
            .fixed(1_000_000)
            .and_then(|ppm| check_range(ppm, 0, 1_000_000, 1_000_000))
        {
            Ok(ppm) => Some(Some(ppm)),
            Err(message) => {
                problems.push(path, message);
                None
            }
        },
    }
}

fn read_energy(
    fields: &SessionFields,
    path: &str,
    problems: &mut Problems,
) -> Option<SessionEnergy> {
    let battery = match &fields.battery_kwh {
        None => Energy::from_kwh(DEFAULT_BATTERY_KWH).0,
        Some(value) => match value.fixed(Energy::SCALE) {
            Ok(mwh) if mwh > 0 => mwh,
            Ok(_) => {
                problems.push(join_field(path, "battery_kwh"), "must be greater than 0");
                return None;
            }
            Err(message) => {
                problems.push(join_field(path, "battery_kwh"), message);
                return None;
            }
        },
    };
    let initial_soc = read_soc(
        &fields.initial_soc,
        &join_field(path, "initial_soc"),
        problems,
    )?;
    let target_soc = read_soc(
        &fields.target_soc,
        &join_field(path, "target_soc"),
        problems,
    )?;
    let of_battery = |ppm: i64| (battery as i128 * ppm as i128 / 1_000_000) as i64;
    match (&fields.energy_kwh, initial_soc, target_soc) {
        (Some(_), _, Some(_)) => {
            problems.push(path, "give either energy_kwh or target_soc, not both");
            None
        }
        (Some(value), initial_soc, None) => {
            let needed = match value.fixed(Energy::SCALE) {
                Ok(mwh) if mwh >= 0 => mwh,
                Ok(_) => {
                    problems.push(join_field(path, "energy_kwh"), "must not be negative");
                    return None;
                }
                Err(message) => {
                    problems.push(join_field(path, "energy_kwh"), message);
                    return None;
                }
            };
            if needed > battery {
                problems.push(
                    join_field(path, "energy_kwh"),
                    format!(
                        "{} kWh do not fit in a battery of {} kWh (battery_kwh)",
                        Energy(needed),
                        Energy(battery)
                    ),
                );
                return None;
            }
            // Without initial_soc the vehicle arrives needing exactly energy_kwh to be full.
            let initial = initial_soc.map_or(battery - needed, of_battery);
            if initial + needed > battery {
                problems.push(
                    join_field(path, "energy_kwh"),
                    format!(
                        "{} kWh on top of initial_soc ({} kWh) exceed battery_kwh ({} kWh)",
                        Energy(needed),
                        Energy(initial),
                        Energy(battery)
                    ),
                );
                return None;
            }
            Some(SessionEnergy {
                needed,
                battery,
                initial,
            })
        }
        (None, Some(initial_soc), Some(target_soc)) => {
            if target_soc < initial_soc {
                problems.push(
                    join_field(path, "target_soc"),
                    "must not be below initial_soc",
                );
                return None;
            }
            let initial = of_battery(initial_soc);
            Some(SessionEnergy {
                needed: of_battery(target_soc) - initial,
                battery,
                initial,
            })
        }
        (None, _, _) => {
            problems.push(path, "needs energy_kwh, or initial_soc and target_soc");
            None
        }
    }
}

fn read_times(
    fields: &SessionFields,
    path: &str,
    clock: &Clock,
    problems: &mut Problems,
) -> Option<SessionTimes> {
    let daily = (
        parse_time_of_day(&fields.arrival),
        parse_time_of_day(&fields.departure),
    );
    if let (Some(arrival), Some(departure)) = daily {
        return Some(SessionTimes::Daily { arrival, departure });
    }
    let instant = |field: &str, text: &str, problems: &mut Problems| -> Option<i64> {
        match crate::clock::parse_instant(text, &clock.time_zone) {
            Ok(zoned) => Some(zoned.timestamp().as_second()),
            Err(_) => {
                problems.push(
                    join_field(path, field),
                    format!("`{text}` is not a time of day (18:00) or a date and time (2026-06-21T18:00)"),
                );
                None
            }
        }
    };
    match daily {
        (Some(_), None) | (None, Some(_)) => {
            // One side is a time of day: the other must be one too.
            let field = if daily.0.is_some() {
                "departure"
            } else {
                "arrival"
            };
            let text = if daily.0.is_some() {
                &fields.departure
            } else {
                &fields.arrival
            };
            problems.push(
                join_field(path, field),
                format!("`{text}` is not a time of day; arrival and departure must both be times of day or both be dates and times"),
            );
            None
        }
        _ => {
            let arrival = instant("arrival", &fields.arrival, problems);
            let departure = instant("departure", &fields.departure, problems);
            let (arrival, departure) = (arrival?, departure?);
            if departure <= arrival {
                problems.push(join_field(path, "departure"), "must be after arrival");
                return None;
            }
            Some(SessionTimes::Once { arrival, departure })
        }
    }
}

fn show(clock: &Clock, unix: i64) -> String {
    Timestamp::from_second(unix)
        .map(|timestamp| {
            let civil = timestamp.to_zoned(clock.time_zone.clone()).datetime();
            civil.strftime("%Y-%m-%dT%H:%M").to_string()
        })
        .unwrap_or_else(|_| unix.to_string())
}

/// Expands a charger's sessions over the run; `path` is the `sessions` field's path.
pub(crate) fn expand_sessions(
    sessions: &[SessionFields],
    max_power: Power,
    clock: &Clock,
    path: &str,
    problems: &mut Problems,
) -> Vec<ChargingSession> {
    let before = problems.len();
    // (session index, arrival, departure, energy) in Unix seconds.
    let mut occurrences: Vec<(usize, i64, i64, &SessionEnergy)> = Vec::new();
    let energies: Vec<Option<SessionEnergy>> = sessions
        .iter()
        .enumerate()
        .map(|(index, fields)| read_energy(fields, &join_index(path, index), problems))
        .collect();
    let last_day = (clock.civil_starts.last().copied().unwrap_or(0) + clock.slot_seconds as i64)
        .div_euclid(86_400)
        + 1;
    for (index, fields) in sessions.iter().enumerate() {
        let session_path = join_index(path, index);
        let times = read_times(fields, &session_path, clock, problems);
        let (Some(times), Some(energy)) = (times, &energies[index]) else {
            continue;
        };
        match times {
            SessionTimes::Once { arrival, departure } => {
                occurrences.push((index, arrival, departure, energy))
            }
            SessionTimes::Daily { arrival, departure } => {
                // From the day before the start (an overnight stay may reach into the run).
                for day in -1..=last_day {
                    let date = clock.date_after(day);
                    let departure_date = if departure > arrival {
                        date
                    } else {
                        clock.date_after(day + 1)
                    };
                    let (Some(arrival_unix), Some(departure_unix)) = (
                        clock.unix_of(date, arrival),
                        clock.unix_of(departure_date, departure),
                    ) else {
                        continue;
                    };
                    if departure_unix > clock.start_unix && arrival_unix < clock.end_unix() {
                        occurrences.push((index, arrival_unix, departure_unix, energy));
                    }
                }
            }
        }
    }
    occurrences.sort_by_key(|&(index, arrival, _, _)| (arrival, index));
    let mut latest: Option<(usize, i64)> = None;
    // Daily sessions overlap every day: report each pair once.
    let mut reported: Vec<(usize, usize)> = Vec::new();
    for &(index, arrival, departure, _) in &occurrences {
        if let Some((other, other_departure)) = latest {
            let pair = (index.min(other), index.max(other));
            if arrival < other_departure && !reported.contains(&pair) {
                reported.push(pair);
                let (first, second) = pair;
                problems.push(
                    join_index(path, second),
                    format!(
                        "overlaps {} (plugged in at {} before the other leaves at {})",
                        join_index("sessions", first),
                        show(clock, arrival),
                        show(clock, other_departure)
                    ),
                );
            }
        }
        if latest.is_none_or(|(_, other_departure)| departure > other_departure) {
            latest = Some((index, departure));
        }
    }

    let slot = clock.slot_seconds as i64;
    let mut result = Vec::new();
    // A daily session that cannot be reached fails every day: report its first day only.
    let mut unreachable = vec![false; sessions.len()];
    for &(index, arrival, departure, energy) in &occurrences {
        let arrival_slot = (arrival - clock.start_unix).div_euclid(slot)
            + if (arrival - clock.start_unix).rem_euclid(slot) != 0 {
                1
            } else {
                0
            };
        let departure_slot = (departure - clock.start_unix).div_euclid(slot);
        let full_slots = departure_slot - arrival_slot;
        let reachable = (max_power.0 as i128 * (full_slots.max(0) * slot) as i128 / 3_600) as i64;
        if energy.needed > reachable {
            if std::mem::replace(&mut unreachable[index], true) {
                continue;
            }
            problems.push(
                join_index(path, index),
                format!(
                    "needs {} kWh but at most {} kWh can be charged at {} kW in the {} full slots from {} to {}",
                    Energy(energy.needed),
                    Energy(reachable),
                    max_power,
                    full_slots.max(0),
                    show(clock, arrival),
                    show(clock, departure)
                ),
            );
            continue;
        }
        let first = arrival_slot.max(0);
        let end = departure_slot.min(clock.slot_count as i64);
        if end <= first {
            continue;
        }
        // Energy charged by the end of `slots` slots of the whole session, rounded down.
        // Shares are differences of these cumulative amounts, so a session cut by the start
        // of the run still reaches exactly `initial + needed` at its departure.
        let charged_after =
            |slots: i64| (energy.needed as i128 * slots as i128 / full_slots as i128) as i64;
        let before = charged_after(first - arrival_slot);
        result.push(ChargingSession {
            arrival_slot: first as u32,
            departure_slot: end as u32,
            energy_needed: Energy(charged_after(end - arrival_slot) - before),
            battery_capacity: Energy(energy.battery),
            initial_energy: Energy(energy.initial + before),
        });
    }
    if problems.len() > before {
        return Vec::new();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_instant;
    use jiff::tz::TimeZone;

    fn clock(days: u32) -> Clock {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        Clock::new(&parse_instant("2026-06-21", &zone).unwrap(), 900, days * 96)
    }

    fn sessions(text: &str) -> Vec<SessionFields> {
        serde_norway::from_str(text).unwrap()
    }

    fn expand(text: &str, power_kw: i64, days: u32) -> Result<Vec<ChargingSession>, Vec<String>> {
        let mut problems = Problems::default();
        let result = expand_sessions(
            &sessions(text),
            Power::from_kw(power_kw),
            &clock(days),
            "ev.sessions",
            &mut problems,
        );
        problems
            .into_result()
            .map(|()| result)
            .map_err(|error| error.lines())
    }

    #[test]
    fn overnight_sessions_repeat_and_are_cut_at_the_run() {
        let result = expand(
            "[{arrival: '18:00', departure: '07:00', energy_kwh: 13}]",
            11,
            1,
        )
        .unwrap();
        // Yesterday's stay until 07:00 (28 slots of 52) and tonight's from 18:00 (24 slots).
        assert_eq!(result.len(), 2);
        assert_eq!((result[0].arrival_slot, result[0].departure_slot), (0, 28));
        assert_eq!(result[0].energy_needed, Energy::from_kwh(7));
        assert_eq!(result[0].initial_energy, Energy::from_kwh(60 - 13 + 6));
        assert_eq!((result[1].arrival_slot, result[1].departure_slot), (72, 96));
        assert_eq!(result[1].energy_needed, Energy::from_kwh(6));
        assert_eq!(result[1].initial_energy, Energy::from_kwh(47));
        assert_eq!(result[1].battery_capacity, Energy::from_kwh(60));
    }

    #[test]
    fn one_off_sessions_use_full_slots_and_soc() {
        let result = expand(
            "[{arrival: '2026-06-21T10:05', departure: '2026-06-21T12:00', initial_soc: 0.2, target_soc: 0.8, battery_kwh: 50}]",
            22,
            1,
        )
        .unwrap();
        assert_eq!(result.len(), 1);
        assert_eq!((result[0].arrival_slot, result[0].departure_slot), (41, 48));
        assert_eq!(result[0].energy_needed, Energy::from_kwh(30));
        assert_eq!(result[0].initial_energy, Energy::from_kwh(10));
    }

    #[test]
    fn unreachable_and_overlapping_sessions_are_errors() {
        assert_eq!(
            expand("[{arrival: '2026-06-21T10:00', departure: '2026-06-21T12:00', energy_kwh: 20}]", 7, 1).unwrap_err(),
            vec!["ev.sessions[0]: needs 20 kWh but at most 14 kWh can be charged at 7 kW in the 8 full slots from 2026-06-21T10:00 to 2026-06-21T12:00".to_string()]
        );
        assert_eq!(
            expand("[{arrival: '18:00', departure: '07:00', energy_kwh: 10}, {arrival: '06:00', departure: '09:00', energy_kwh: 5}]", 11, 1)
                .unwrap_err(),
            vec!["ev.sessions[1]: overlaps sessions[0] (plugged in at 2026-06-21T06:00 before the other leaves at 2026-06-21T07:00)".to_string()]
        );
        assert_eq!(
            expand("[{arrival: '18:00', departure: '2026-06-22T07:00', energy_kwh: 10}]", 11, 1).unwrap_err(),
            vec!["ev.sessions[0].departure: `2026-06-22T07:00` is not a time of day; arrival and departure must both be times of day or both be dates and times".to_string()]
        );
        assert_eq!(
            expand("[{arrival: '18:00', departure: '07:00'}]", 11, 1).unwrap_err(),
            vec!["ev.sessions[0]: needs energy_kwh, or initial_soc and target_soc".to_string()]
        );
        assert_eq!(
            expand(
                "[{arrival: '18:00', departure: '07:00', initial_soc: 0.9, target_soc: 0.5}]",
                11,
                1
            )
            .unwrap_err(),
            vec!["ev.sessions[0].target_soc: must not be below initial_soc".to_string()]
        );
    }
}
