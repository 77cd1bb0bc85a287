//! Damaged scenarios get an error, never a panic: random edits of the built-in village (lines
//! deleted, duplicated or swapped; values replaced by hostile ones) and of a gsy-e setup file.

use nestgrid_grid::{DEFAULT_SCENARIO, LoadOptions, load_str};
use proptest::prelude::*;
use std::path::Path;

const HOSTILE: [&str; 16] = [
    "-1",
    "0",
    "abc",
    "1e309",
    "",
    "[]",
    "{}",
    "99999999999999999999",
    "-0.000000001",
    "0.5",
    "null",
    "~",
    "'18:00'",
    "[[25, 3]]",
    "{ constant: -1 }",
    "2026-13-40T99:99",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Replace the value after the first `:` of a line.
    Value(usize, usize),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<usize>(), 0..HOSTILE.len()).prop_map(|(a, b)| Edit::Value(a, b)),
    ];
    prop::collection::vec(edit, 1..4)
}

fn damage(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for edit in edits {
        let count = lines.len().max(1);
        match *edit {
            Edit::Delete(at) if !lines.is_empty() => {
                lines.remove(at % count);
            }
            Edit::Duplicate(at) if !lines.is_empty() => {
                let line = lines[at % count].clone();
                lines.insert(at % count, line);
            }
            Edit::Swap(a, b) if !lines.is_empty() => lines.swap(a % count, b % count),
            Edit::Value(at, value) if !lines.is_empty() => {
                let line = &mut lines[at % count];
                if let Some(colon) = line.find(": ") {
                    line.truncate(colon + 2);
                    line.push_str(HOSTILE[value]);
                }
            }
            _ => {}
        }
    }
    lines.join("\n")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_500))]

    #[test]
    fn a_damaged_village_never_panics(edits in edits()) {
        let text = damage(DEFAULT_SCENARIO, &edits);
        // Shorter runs keep the valid ones quick; the result may be Ok or Err, never a panic.
        let options = LoadOptions {
            days: Some(1),
            ..LoadOptions::default()
        };
        let _ = load_str(&text, Path::new("."), &options);
    }

    #[test]
    fn a_damaged_gsy_e_setup_never_panics(edits in edits()) {
        let setup = r#"{"name": "Grid", "settings": {"spot_market_type": 2, "slot_length_m": 15},
 "children": [
   {"name": "Market Maker", "type": "MarketMakerStrategy", "kwargs": {"energy_rate": 30}},
   {"name": "House 1", "grid_fee_constant": 1, "children": [
     {"name": "Load", "type": "LoadHoursStrategy", "kwargs": {"avg_power_W": 200, "hrs_of_day": [12, 13], "hrs_per_day": 2}},
     {"name": "PV", "type": "PVStrategy", "kwargs": {"panel_count": 4}},
     {"name": "Battery", "type": "StorageStrategy", "kwargs": {"initial_soc": 50, "battery_capacity_kWh": 5}}
   ]}
 ]}"#;
        let spread: String = setup.replace(", ", ",\n");
        let text = damage(&spread, &edits);
        let options = nestgrid_grid::gsy::ImportOptions::default();
        if let Ok(imported) = nestgrid_grid::gsy::import(&text, Path::new("."), &options) {
            // What imports must load as a scenario (this setup has no profile files to write).
            prop_assert!(imported.files.is_empty());
            let loaded = load_str(&imported.yaml, Path::new("."), &LoadOptions::default());
            prop_assert!(loaded.is_ok(), "{:?}\n{}", loaded.err(), imported.yaml);
        }
    }
}
