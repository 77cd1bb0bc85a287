//! Profiles through whole scenarios: CSV files (times of day and timestamps, W and kWh, finer
//! and coarser than the slot), constant power in hours, the standard load, clear-sky PV, price
//! files, and daylight saving time.

use nestgrid_grid::{AssetKind, LoadOptions, PriceSeries, Topology, load_file, load_str};
use nestgrid_types::{Energy, Price};
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn load(text: &str) -> Topology {
    load_str(text, &data_dir(), &LoadOptions::default()).unwrap_or_else(|error| panic!("{error}"))
}

/// Energy per slot of asset `index` (scaled and shifted as the engine sees it).
fn energy(topology: &Topology, index: usize) -> Vec<Energy> {
    let used = match &topology.assets[index].kind {
        AssetKind::Load(load) => load.profile,
        AssetKind::Pv(pv) => pv.profile,
        other => panic!("no profile: {}", other.name()),
    };
    (0..topology.settings.slot_count)
        .map(|slot| topology.profile_energy(used, slot))
        .collect()
}

fn total(series: &[Energy]) -> Energy {
    series.iter().copied().sum()
}

#[test]
fn daily_csv_in_watts_finer_than_the_slot() {
    let topology = load(
        "
simulation: { start: 2026-06-21, time_zone: Europe/Berlin }
areas: [{ name: House, load: { profile: fine_5min_w.csv } }]
",
    );
    let series = energy(&topology, 0);
    // 120 W for a quarter hour = 30 Wh; 600 W = 150 Wh.
    assert_eq!(series[0], Energy::from_wh(30));
    assert_eq!(series[17 * 4], Energy::from_wh(150));
    assert_eq!(series[22 * 4], Energy::from_wh(30));
    // 19 h × 120 W + 5 h × 600 W.
    assert_eq!(total(&series), Energy::from_wh(19 * 120 + 5 * 600));
}

#[test]
fn daily_csv_in_kwh_coarser_than_the_slot() {
    let topology = load(
        "
simulation: { days: 2 }
areas: [{ name: House, load: { profile: hourly_kwh.csv, profile_unit: kwh } }]
",
    );
    let series = energy(&topology, 0);
    assert_eq!(series.len(), 192);
    // An hour's 0.5 kWh spreads evenly over its four quarter hours.
    assert_eq!(series[0], Energy(125_000));
    assert_eq!(series[18 * 4 + 3], Energy(300_000));
    // The profile repeats every day: two days, 2 × (22 × 0.5 + 2 × 1.2) kWh.
    assert_eq!(total(&series), Energy(2 * (22 * 500_000 + 2 * 1_200_000)));
    // Coarser slots than the rows work too.
    let coarse = load(
        "
simulation: { slot_length: 6h }
areas: [{ name: House, load: { profile: hourly_kwh.csv, profile_unit: kwh } }]
",
    );
    assert_eq!(
        energy(&coarse, 0),
        vec![
            Energy::from_kwh(3),
            Energy::from_kwh(3),
            Energy::from_kwh(3),
            Energy(3_000_000 + 1_400_000)
        ]
    );
}

#[test]
fn timestamped_csv_in_the_scenario_zone() {
    let topology = load(
        "
simulation: { start: 2026-06-21, time_zone: Europe/Berlin, slot_length: 1h }
areas: [{ name: House, load: { profile: day_2026-06-21_kwh.csv, profile_unit: kwh } }]
",
    );
    let series = energy(&topology, 0);
    assert!(
        series.iter().all(|&slot| slot == Energy(500_000)),
        "{series:?}"
    );
    // A run longer than the file is an error, not silent zeros.
    let error = load_str(
        "
simulation: { start: 2026-06-21, time_zone: Europe/Berlin, days: 2 }
areas: [{ name: House, load: { profile: day_2026-06-21_kwh.csv, profile_unit: kwh } }]
",
        &data_dir(),
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "areas[0].load.profile: day_2026-06-21_kwh.csv: covers 2026-06-21T00:00:00 to \
         2026-06-22T00:00:00 but the run lasts from 2026-06-21T00:00:00 to 2026-06-23T00:00:00 \
         (use HH:MM times for a profile that repeats daily)"
    );
}

#[test]
fn one_file_used_twice_is_one_profile() {
    let topology = load(
        "
areas:
  - { name: A, load: { profile: hourly_kwh.csv, profile_unit: kwh } }
  - { name: B, load: { profile: hourly_kwh.csv, profile_unit: kwh } }
  - { name: C, load: { profile: hourly_kwh.csv } }
",
    );
    // Same file and unit: shared. Same file read as watts: another profile.
    assert_eq!(topology.profiles.len(), 2);
}

#[test]
fn power_in_hours() {
    let topology = load(
        "
areas:
  - { name: Heater, load: { power_w: 2000, hours: [[22, 6], [12, 13]] } }
  - { name: Lamp, load: { power_w: 200, hours: [[18, 23]] } }
",
    );
    let heater = energy(&topology, 0);
    assert_eq!(heater[0], Energy::from_wh(500));
    assert_eq!(heater[6 * 4], Energy::ZERO);
    assert_eq!(heater[12 * 4], Energy::from_wh(500));
    assert_eq!(total(&heater), Energy::from_kwh(2 * 9));
    let lamp = energy(&topology, 1);
    assert_eq!(total(&lamp), Energy::from_wh(1_000));
    assert_eq!(lamp[18 * 4], Energy::from_wh(50));
    assert_eq!(lamp[23 * 4], Energy::ZERO);
}

#[test]
fn daylight_saving_days_keep_absolute_slots_and_wall_clock_profiles() {
    let lamp = "areas: [{ name: Lamp, load: { power_w: 1000, hours: [[2, 3]] } }, { name: Base, load: { power_w: 1000 } }]";
    // Spring forward (23-hour civil day): 96 slots of absolute time; 02:00-03:00 never happens.
    let spring = load(&format!(
        "simulation: {{ start: 2026-03-29, time_zone: Europe/Berlin }}\n{lamp}"
    ));
    assert_eq!(spring.settings.slot_count, 96);
    assert_eq!(total(&energy(&spring, 0)), Energy::ZERO);
    assert_eq!(total(&energy(&spring, 1)), Energy::from_kwh(24));
    // Fall back (25-hour civil day): 02:00-03:00 happens twice, the run still has 96 slots
    // (it ends at 23:00 local time).
    let autumn = load(&format!(
        "simulation: {{ start: 2026-10-25, time_zone: Europe/Berlin }}\n{lamp}"
    ));
    assert_eq!(autumn.settings.slot_count, 96);
    assert_eq!(total(&energy(&autumn, 0)), Energy::from_kwh(2));
}

#[test]
fn standard_load_sums_to_its_annual_energy_over_a_year() {
    let topology = load(
        "
simulation: { start: 2026-01-01, time_zone: Europe/Berlin, days: 365, slot_length: 1h }
areas: [{ name: House, load: { annual_kwh: 4000 } }]
",
    );
    let sum = total(&energy(&topology, 0)).as_f64();
    assert!((sum / 4000.0 - 1.0).abs() < 0.005, "{sum}");
}

#[test]
fn clear_sky_pv_in_june_and_december() {
    let day = |start: &str| {
        let topology = load(&format!(
            "simulation: {{ start: {start}, time_zone: Europe/Berlin, latitude: 52.5, longitude: 13.4 }}\n\
             areas: [{{ name: Roof, pv: {{ capacity_kw: 5 }} }}]"
        ));
        energy(&topology, 0)
    };
    let june = day("2026-06-21");
    let december = day("2026-12-21");
    assert!(june[..12].iter().all(|&slot| slot == Energy::ZERO), "night");
    assert!(june[92..].iter().all(|&slot| slot == Energy::ZERO), "night");
    let peak = (0..96).max_by_key(|&slot| june[slot]).unwrap();
    // Solar noon in Berlin is about 13:08 CEST: slots 51-54.
    assert!((50..=54).contains(&peak), "peak at {peak}");
    let june_kwh = total(&june).as_f64();
    assert!((30.0..=45.0).contains(&june_kwh), "{june_kwh}");
    assert!(total(&june).0 > 3 * total(&december).0);
    // Clouds: Kasten-Czeplak at full cover leaves a quarter.
    let cloudy = load(
        "simulation: { start: 2026-06-21, time_zone: Europe/Berlin }\n\
         areas: [{ name: Roof, pv: { capacity_kw: 5, cloudiness: 1 } }]",
    );
    let ratio = total(&energy(&cloudy, 0)).as_f64() / june_kwh;
    assert!((ratio - 0.25).abs() < 0.01, "{ratio}");
}

#[test]
fn pv_from_a_file_is_scaled_as_given() {
    let topology = load(
        "areas: [{ name: Roof, pv: { capacity_kw: 3, profile: hourly_kwh.csv, profile_unit: kwh } }]",
    );
    assert_eq!(
        total(&energy(&topology, 0)),
        Energy(22 * 500_000 + 2 * 1_200_000)
    );
}

#[test]
fn price_files_for_grid_and_generator() {
    let topology = load(
        "
simulation: { slot_length: 30m }
areas:
  - { name: Grid, grid_connection: { tariff: tariff.csv, feed_in: '0.08' } }
  - { name: Diesel, generator: { max_power_kw: 50, rate: tariff.csv } }
",
    );
    let AssetKind::GridConnection(grid) = &topology.assets[0].kind else {
        panic!()
    };
    let PriceSeries::PerSlot(tariff) = &grid.tariff else {
        panic!("{:?}", grid.tariff)
    };
    assert_eq!(tariff.len(), 48);
    assert_eq!(tariff[0], Price(220_000));
    assert_eq!(tariff[34], Price(350_000));
    assert_eq!(grid.feed_in, PriceSeries::Constant(Price(80_000)));
    let AssetKind::Generator(generator) = &topology.assets[1].kind else {
        panic!()
    };
    assert_eq!(generator.rate.at(35), Price(350_000));
}

#[test]
fn relative_paths_follow_the_scenario_file() {
    let topology = load_file(
        &data_dir().join("uses_profile.yaml"),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(
        total(&energy(&topology, 0)),
        Energy(22 * 500_000 + 2 * 1_200_000)
    );
}

fn write_profile(rows: &[(i64, u32)]) -> PathBuf {
    let directory =
        std::env::temp_dir().join(format!("nestgrid-grid-profiles-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join(format!("p{}.csv", rows.len() * 7919 + rows[0].1 as usize));
    let mut file = std::fs::File::create(&path).unwrap();
    for (minute, watts) in rows {
        writeln!(file, "{:02}:{:02},{watts}", minute / 60, minute % 60).unwrap();
    }
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Resampling conserves energy: a daily file of whole-watt rows at random times, read into
    /// slots of any length that divides a day, gives exactly the file's daily energy.
    #[test]
    fn resampling_a_daily_file_conserves_energy(
        minutes in proptest::collection::btree_set(1i64..1_440, 0..30),
        watts in proptest::collection::vec(0u32..5_000, 31),
        slot_minutes in prop_oneof![Just(1u32), Just(5), Just(10), Just(15), Just(30), Just(60), Just(180), Just(1_440)],
    ) {
        let mut times: Vec<i64> = vec![0];
        times.extend(minutes.iter().copied());
        let rows: Vec<(i64, u32)> = times.iter().zip(&watts).map(|(&time, &watt)| (time, watt)).collect();
        let path = write_profile(&rows);
        let text = format!(
            "simulation: {{ slot_length: {slot_minutes}m, tick_length: 60s }}\nareas: [{{ name: L, load: {{ profile: {} }} }}]",
            path.display()
        );
        let topology = load_str(&text, Path::new("."), &LoadOptions::default()).unwrap();
        // Whole watts over whole minutes: the day's energy is exact in milliwatt-seconds, and
        // the slots add up to exactly its whole mWh (floor).
        let mut milliwatt_seconds: i64 = 0;
        for (index, &(time, watt)) in rows.iter().enumerate() {
            let end = rows.get(index + 1).map_or(1_440, |row| row.0);
            milliwatt_seconds += watt as i64 * 1_000 * (end - time) * 60;
        }
        prop_assert_eq!(total(&energy(&topology, 0)).0, milliwatt_seconds / 3_600);
        std::fs::remove_file(path).ok();
    }
}
