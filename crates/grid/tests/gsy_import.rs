//! gsy-e setup files written by hand → nestgrid scenarios: the produced YAML loads, areas keep
//! their names and grid fees, the market settings become mechanisms and slot/tick lengths, each
//! strategy becomes the documented asset kind, and each LoadHoursStrategy's profile holds
//! avg_power_W × hours a day. Errors name the node and the field; `lenient` skips the node.

use nestgrid_grid::gsy::{ImportOptions, Imported, import};
use nestgrid_grid::{AssetKind, LoadOptions, Topology, load_str};
use nestgrid_types::{Energy, GridFee, Mechanism, Price};
use std::path::Path;

/// Two houses (loads, a battery, PV) under a grid with a market maker; one-sided market.
pub const TWO_HOUSES: &str = r#"{
  "name": "Grid",
  "settings": {"start_date": "2026-06-21", "slot_length_m": 15, "tick_length_s": 15},
  "children": [
    {"name": "Market Maker", "strategy": {"type": "MarketMakerStrategy", "kwargs": {"energy_rate": 30}}},
    {"name": "House 1", "grid_fee_constant": 1, "children": [
      {"name": "H1 General Load", "strategy": {"type": "LoadHoursStrategy", "kwargs": {
        "avg_power_W": 200, "hrs_per_day": 6, "hrs_of_day": [12, 13, 14, 15, 16, 17],
        "final_buying_rate": 35}}},
      {"name": "H1 Storage", "strategy": {"type": "StorageStrategy", "kwargs": {
        "initial_soc": 50, "min_allowed_soc": 20, "battery_capacity_kWh": 5,
        "max_abs_battery_power_kW": 2}}}
    ]},
    {"name": "House 2", "grid_fee_percentage": 2.5, "children": [
      {"name": "H2 General Load", "strategy": {"type": "LoadHoursStrategy", "kwargs": {
        "avg_power_W": 300, "hrs_per_day": 4, "hrs_of_day": [18, 19, 20, 21, 22, 23],
        "initial_buying_rate": 10, "final_buying_rate": 35, "update_interval": 5}}},
      {"name": "H2 PV", "strategy": {"type": "PVStrategy", "kwargs": {
        "panel_count": 4, "initial_selling_rate": 30, "final_selling_rate": 5}}}
    ]}
  ]
}"#;

/// Grid → Region → Street → House with constant fees at every level; two-sided pay-as-bid,
/// an infinite bus at the root, assets in the flat form.
pub const THREE_LEVELS: &str = r#"{
  "name": "Grid",
  "settings": {"spot_market_type": 2, "bid_offer_match_algo": 1, "sim_duration": 24},
  "children": [
    {"name": "Infinite Bus", "type": "InfiniteBusStrategy", "energy_sell_rate": 28, "energy_buy_rate": 6},
    {"name": "Region", "grid_fee_constant": 2, "children": [
      {"name": "Street", "grid_fee_constant": 1, "children": [
        {"name": "House A", "grid_fee_constant": 0.5, "children": [
          {"name": "Load", "type": "LoadHoursStrategy", "avg_power_W": 500,
           "hrs_of_day": [6, 7, 8, 18, 19, 20, 21], "hrs_per_day": 5}
        ]},
        {"name": "House B", "children": [
          {"name": "Load", "type": "LoadHoursStrategy", "kwargs": {"avg_power_W": 1000}}
        ]}
      ]}
    ]}
  ]
}"#;

/// A two-sided pay-as-clear market with a commercial producer and a finite power plant.
pub const PAY_AS_CLEAR: &str = r#"{
  "name": "Community",
  "settings": {"spot_market_type": "two_sided", "bid_offer_match_algo": "pay_as_clear",
               "slot_length_m": 60, "tick_length_s": 60, "feed_in_tariff": 7},
  "children": [
    {"name": "Market Maker", "type": "MarketMakerStrategy", "kwargs": {"energy_rate": 32}},
    {"name": "Utility", "type": "CommercialStrategy", "kwargs": {"energy_rate": 25}},
    {"name": "Plant", "type": "FinitePowerPlant", "kwargs": {"energy_rate": 20, "max_available_power_kW": 3}},
    {"name": "Flat", "children": [
      {"name": "Fridge", "type": "LoadHoursStrategy", "kwargs": {"avg_power_W": 150, "hrs_per_day": 24}},
      {"name": "Roof", "type": "PVPredefinedStrategy", "kwargs": {"cloud_coverage": 2, "capacity_kW": 2}}
    ]}
  ]
}"#;

fn convert(text: &str, options: &ImportOptions) -> (Imported, Topology) {
    let imported = import(text, Path::new("."), options).unwrap_or_else(|error| panic!("{error}"));
    assert!(
        imported.files.is_empty(),
        "these setups need no profile files"
    );
    let topology = load_str(&imported.yaml, Path::new("."), &LoadOptions::default())
        .unwrap_or_else(|error| panic!("{error}\n{}", imported.yaml));
    (imported, topology)
}

fn area<'t>(topology: &'t Topology, path: &str) -> &'t nestgrid_grid::Area {
    topology
        .areas
        .iter()
        .find(|area| area.path == path)
        .unwrap_or_else(|| panic!("no area {path}"))
}

fn asset<'t>(topology: &'t Topology, path: &str) -> &'t nestgrid_grid::Asset {
    topology
        .assets
        .iter()
        .find(|asset| asset.path == path)
        .unwrap_or_else(|| panic!("no asset {path}"))
}

/// Energy of a load over the whole run (vary is 0: scale 1, no shift).
fn load_energy(topology: &Topology, path: &str) -> Energy {
    let AssetKind::Load(load) = &asset(topology, path).kind else {
        panic!("{path} is not a load");
    };
    (0..topology.settings.slot_count)
        .map(|slot| topology.profile_energy(load.profile, slot))
        .fold(Energy::ZERO, |sum, energy| Energy(sum.0 + energy.0))
}

/// kWh → mWh.
fn kwh(value: f64) -> Energy {
    Energy((value * 1_000_000.0).round() as i64)
}

fn price(units: f64) -> Price {
    Price((units * 1_000_000.0).round() as i64)
}

#[test]
fn two_houses_with_a_market_maker() {
    let (_, topology) = convert(TWO_HOUSES, &ImportOptions::default());
    let names: Vec<&str> = topology
        .areas
        .iter()
        .map(|area| area.path.as_str())
        .collect();
    assert_eq!(names, ["Grid", "Grid/House 1", "Grid/House 2"]);
    assert!(
        topology
            .areas
            .iter()
            .all(|area| area.mechanism == Mechanism::PayAsOffer)
    );
    assert_eq!(
        area(&topology, "Grid/House 1").fee,
        GridFee::Constant(price(0.01))
    );
    assert_eq!(
        area(&topology, "Grid/House 2").fee,
        GridFee::PartsPerMillion(25_000)
    );
    let kinds: Vec<(&str, &str)> = topology
        .assets
        .iter()
        .map(|asset| (asset.path.as_str(), asset.kind.name()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Grid/Market Maker", "grid_connection"),
            ("Grid/House 1/H1 General Load", "load"),
            ("Grid/House 1/H1 Storage", "storage"),
            ("Grid/House 2/H2 General Load", "load"),
            ("Grid/House 2/H2 PV", "pv"),
        ]
    );
    let AssetKind::GridConnection(grid) = &asset(&topology, "Grid/Market Maker").kind else {
        unreachable!()
    };
    assert_eq!(grid.tariff.at(0), price(0.30));
    assert_eq!(grid.feed_in.at(0), Price(0));
    let AssetKind::Storage(storage) = &asset(&topology, "Grid/House 1/H1 Storage").kind else {
        unreachable!()
    };
    assert_eq!(storage.capacity, kwh(5.0));
    assert_eq!(storage.initial_soc_ppm, 500_000);
    assert_eq!(storage.min_soc_ppm, 200_000);
    assert_eq!(storage.charge_efficiency_ppm, 1_000_000);
    let AssetKind::Pv(pv) = &asset(&topology, "Grid/House 2/H2 PV").kind else {
        unreachable!()
    };
    // 4 panels of gsy-e's documented 250 W.
    assert_eq!(pv.capacity.0, 1_000_000);
    assert_eq!(pv.selling.initial, Some(price(0.30)));
    assert_eq!(pv.selling.final_rate, Some(price(0.05)));
    let AssetKind::Load(load) = &asset(&topology, "Grid/House 2/H2 General Load").kind else {
        unreachable!()
    };
    assert_eq!(load.buying.initial, Some(price(0.10)));
    assert_eq!(load.buying.final_rate, Some(price(0.35)));
    assert_eq!(load.update_interval_ticks, 20, "5 minutes of 15 s ticks");
    // avg_power_W × hours a day / 1000, by hand: 200 W × 6 h and 300 W × 4 h.
    assert_eq!(
        load_energy(&topology, "Grid/House 1/H1 General Load"),
        kwh(1.2)
    );
    assert_eq!(
        load_energy(&topology, "Grid/House 2/H2 General Load"),
        kwh(1.2)
    );
}

#[test]
fn three_levels_of_constant_fees() {
    let (imported, topology) = convert(THREE_LEVELS, &ImportOptions::default());
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let fees: Vec<(&str, GridFee)> = topology
        .areas
        .iter()
        .map(|area| (area.path.as_str(), area.fee))
        .collect();
    assert_eq!(
        fees,
        [
            ("Grid", GridFee::None),
            ("Grid/Region", GridFee::Constant(price(0.02))),
            ("Grid/Region/Street", GridFee::Constant(price(0.01))),
            (
                "Grid/Region/Street/House A",
                GridFee::Constant(price(0.005))
            ),
            ("Grid/Region/Street/House B", GridFee::None),
        ]
    );
    assert!(
        topology
            .areas
            .iter()
            .all(|area| area.mechanism == Mechanism::PayAsBid)
    );
    assert_eq!(topology.settings.slot_count, 96);
    let AssetKind::GridConnection(bus) = &asset(&topology, "Grid/Infinite Bus").kind else {
        unreachable!()
    };
    assert_eq!(bus.tariff.at(0), price(0.28));
    assert_eq!(bus.feed_in.at(0), price(0.06));
    // The first 5 of the listed hours (6, 7, 8, 18, 19): 500 W × 5 h.
    assert_eq!(
        load_energy(&topology, "Grid/Region/Street/House A/Load"),
        kwh(2.5)
    );
    // No hours given: all day. 1000 W × 24 h.
    assert_eq!(
        load_energy(&topology, "Grid/Region/Street/House B/Load"),
        kwh(24.0)
    );
    assert!(imported.yaml.contains("hours: [[6, 9], [18, 20]]"));
}

#[test]
fn two_sided_pay_as_clear() {
    let (imported, topology) = convert(PAY_AS_CLEAR, &ImportOptions::default());
    assert!(
        topology
            .areas
            .iter()
            .all(|area| area.mechanism == Mechanism::PayAsClear)
    );
    assert_eq!(topology.settings.slot_seconds, 3600);
    assert_eq!(topology.settings.tick_seconds, 60);
    assert_eq!(topology.settings.name, "Community");
    let AssetKind::GridConnection(grid) = &asset(&topology, "Community/Market Maker").kind else {
        unreachable!()
    };
    assert_eq!(grid.feed_in.at(0), price(0.07));
    let AssetKind::Generator(utility) = &asset(&topology, "Community/Utility").kind else {
        panic!("a CommercialStrategy is a generator")
    };
    assert_eq!(utility.rate.at(0), price(0.25));
    let AssetKind::Generator(plant) = &asset(&topology, "Community/Plant").kind else {
        panic!("a FinitePowerPlant is a generator")
    };
    assert_eq!(plant.max_power.0, 3_000_000);
    let AssetKind::Pv(roof) = &asset(&topology, "Community/Flat/Roof").kind else {
        unreachable!()
    };
    assert_eq!(roof.capacity.0, 2_000_000);
    assert!(imported.yaml.contains("cloudiness: 1 "));
    assert_eq!(load_energy(&topology, "Community/Flat/Fridge"), kwh(3.6));
}

#[test]
fn profiles_become_csv_files() {
    let setup = r#"{"name": "Grid", "children": [
      {"name": "Market Maker", "type": "MarketMakerStrategy", "energy_rate": 30},
      {"name": "Home", "children": [
        {"name": "Base", "type": "DefinedLoadStrategy", "kwargs": {
          "daily_load_profile": {"0": 100, "8": 300, "12:30": 200}}},
        {"name": "Meter", "type": "SmartMeterStrategy", "kwargs": {
          "smart_meter_profile": {"0": 50}}},
        {"name": "PV", "type": "PVUserProfileStrategy", "kwargs": {
          "power_profile": {"0": 0, "10": 1000, "14": 0}}}
      ]}]}"#;
    let imported = import(setup, Path::new("."), &ImportOptions::default()).unwrap();
    assert_eq!(imported.files.len(), 3);
    let dir = std::env::temp_dir().join(format!("nestgrid-gsy-{}", std::process::id()));
    imported.write_profiles(&dir).unwrap();
    let topology = load_str(&imported.yaml, &dir, &LoadOptions::default())
        .unwrap_or_else(|error| panic!("{error}\n{}", imported.yaml));
    std::fs::remove_dir_all(&dir).ok();
    // 100 W × 8 h + 300 W × 4.5 h + 200 W × 11.5 h = 4.45 kWh.
    assert_eq!(load_energy(&topology, "Grid/Home/Base"), kwh(4.45));
    assert_eq!(load_energy(&topology, "Grid/Home/Meter"), kwh(1.2));
    assert_eq!(asset(&topology, "Grid/Home/PV").kind.name(), "pv");
}

#[test]
fn errors_name_the_node_and_the_field() {
    let setup = r#"{"name": "Grid", "children": [
      {"name": "House", "children": [
        {"name": "Heat pump", "strategy": {"type": "HeatPumpStrategy", "kwargs": {}}},
        {"name": "Load", "strategy": {"type": "LoadHoursStrategy", "kwargs": {"avg_power_W": 100, "colour": 3}}}
      ]}]}"#;
    let error = import(setup, Path::new("."), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("Grid/House/Heat pump: strategy.type: unknown or unsupported strategy type `HeatPumpStrategy`"),
        "{error}"
    );
    assert!(
        error.contains("Grid/House/Load: strategy.kwargs.colour: unknown keyword argument for LoadHoursStrategy"),
        "{error}"
    );
    let lenient = ImportOptions {
        lenient: true,
        ..ImportOptions::default()
    };
    let imported = import(setup, Path::new("."), &lenient);
    // Both children are left out, so the house is empty and left out too: nothing remains.
    assert!(imported.is_err());
}

#[test]
fn lenient_skips_a_node_with_a_warning() {
    let setup = r#"{"name": "Grid", "children": [
      {"name": "Market Maker", "type": "MarketMakerStrategy", "energy_rate": 30},
      {"name": "House", "grid_fee_constant": 1, "children": [
        {"name": "Charger", "type": "HeatPumpStrategy", "kwargs": {}},
        {"name": "Load", "type": "LoadHoursStrategy", "avg_power_W": 100, "hrs_per_day": 2, "bogus": 1},
        {"name": "Kettle", "type": "LoadHoursStrategy", "avg_power_W": 2000, "hrs_of_day": [7], "hrs_per_day": 1}
      ]}]}"#;
    let lenient = ImportOptions {
        lenient: true,
        ..ImportOptions::default()
    };
    let (imported, topology) = convert(setup, &lenient);
    assert_eq!(imported.warnings.len(), 2, "{:?}", imported.warnings);
    assert!(imported.warnings[0].starts_with("Grid/House/Charger: type:"));
    assert!(imported.warnings[1].starts_with("Grid/House/Load: bogus:"));
    let assets: Vec<&str> = topology.assets.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(assets, ["Grid/Market Maker", "Grid/House/Kettle"]);
    assert_eq!(load_energy(&topology, "Grid/House/Kettle"), kwh(2.0));
}

#[test]
fn both_fee_kinds_on_one_area_is_an_error() {
    let setup = r#"{"name": "Grid", "children": [
      {"name": "House", "grid_fee_constant": 1, "grid_fee_percentage": 5, "children": [
        {"name": "Load", "type": "LoadHoursStrategy", "avg_power_W": 100}]}]}"#;
    let error = import(setup, Path::new("."), &ImportOptions::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("Grid/House: grid_fee_percentage: give grid_fee_constant or grid_fee_percentage, not both"), "{error}");
}

#[test]
fn ev_charging_sessions() {
    let setup = r#"{"name": "Grid", "settings": {"start_date": "2026-06-21"}, "children": [
      {"name": "Market Maker", "type": "MarketMakerStrategy", "energy_rate": 30},
      {"name": "Garage", "children": [
        {"name": "Wallbox", "type": "EVChargerStrategy", "kwargs": {
          "maximum_power_rating_kW": 11, "grid_integration": "UNIDIRECTIONAL",
          "charging_sessions": [
            {"plug_in_time": "2026-06-21T08:00", "duration_minutes": 240,
             "initial_soc_percent": 20, "min_soc_percent": 50, "battery_capacity_kWh": 60}
          ]}},
        {"name": "Nightly", "type": "EVChargerStrategy", "kwargs": {
          "maximum_power_rating_kW": 7, "grid_integration": "BIDIRECTIONAL",
          "charging_sessions": [{"plug_in_time": "20:00", "duration_minutes": 600,
            "battery_capacity_kWh": 40}]}}
      ]}]}"#;
    let (imported, topology) = convert(setup, &ImportOptions::default());
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let AssetKind::EvCharger(wallbox) = &asset(&topology, "Grid/Garage/Wallbox").kind else {
        panic!("an EVChargerStrategy is an ev_charger")
    };
    assert!(!wallbox.bidirectional);
    assert_eq!(wallbox.sessions.len(), 1);
    // 08:00 to 12:00: slots 32..48; (50 % − 20 %) × 60 kWh.
    assert_eq!(wallbox.sessions[0].arrival_slot, 32);
    assert_eq!(wallbox.sessions[0].departure_slot, 48);
    assert_eq!(wallbox.sessions[0].energy_needed, kwh(18.0));
    let AssetKind::EvCharger(nightly) = &asset(&topology, "Grid/Garage/Nightly").kind else {
        unreachable!()
    };
    assert!(nightly.bidirectional);
    assert!(
        imported
            .yaml
            .contains("arrival: \"20:00\", departure: \"06:00\"")
    );
}

#[test]
fn a_profile_file_in_gsy_e_format_is_converted() {
    let dir = std::env::temp_dir().join(format!("nestgrid-gsy-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("load.csv"),
        "INTERVAL;POWER(W)\n00:00;100\n06:00;400\n2026-06-21 18:00;250\n",
    )
    .unwrap();
    let setup = r#"{"name": "Grid", "children": [
      {"name": "Market Maker", "type": "MarketMakerStrategy", "energy_rate": 30},
      {"name": "Load", "type": "DefinedLoadStrategy", "daily_load_profile": "load.csv"}]}"#;
    let imported = import(setup, &dir, &ImportOptions::default()).unwrap();
    imported.write_profiles(&dir).unwrap();
    let topology = load_str(&imported.yaml, &dir, &LoadOptions::default())
        .unwrap_or_else(|error| panic!("{error}\n{}", imported.yaml));
    // 100 W × 6 h + 400 W × 12 h + 250 W × 6 h.
    assert_eq!(load_energy(&topology, "Grid/Load"), kwh(6.9));
    let missing = r#"{"name": "Grid", "children": [
      {"name": "Load", "type": "DefinedLoadStrategy", "daily_load_profile": "nowhere.csv"}]}"#;
    let error = import(missing, &dir, &ImportOptions::default())
        .unwrap_err()
        .to_string();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        error.starts_with("Grid/Load: daily_load_profile: cannot read"),
        "{error}"
    );
}

#[test]
fn the_root_fee_is_dropped_with_a_warning() {
    let setup = r#"{"name": "Grid", "grid_fee_percentage": 3, "children": [
      {"name": "Market Maker", "type": "MarketMakerStrategy", "energy_rate": 30},
      {"name": "Load", "type": "LoadHoursStrategy", "avg_power_W": 100}]}"#;
    let (imported, topology) = convert(setup, &ImportOptions::default());
    assert_eq!(topology.areas[0].fee, GridFee::None);
    assert_eq!(imported.warnings.len(), 1);
    assert!(
        imported.warnings[0].starts_with("Grid: grid_fee_percentage on the root area is dropped")
    );
}

#[test]
fn a_user_profile_pv_is_scaled_by_its_panel_count() {
    // gsy-e multiplies a PVUserProfileStrategy's power_profile by panel_count (model-pv.md
    // passes panel_count with the profile; pv.md: an uploaded profile is the output per panel).
    let setup = r#"{"name": "Grid", "children": [
      {"name": "Market Maker", "type": "MarketMakerStrategy", "energy_rate": 30},
      {"name": "One", "type": "PVUserProfileStrategy", "kwargs": {
        "power_profile": {"0": 0, "10": 500, "12": 0}}},
      {"name": "Four", "type": "PVUserProfileStrategy", "kwargs": {"panel_count": 4,
        "power_profile": {"0": 0, "10": 500, "12": 0}}}]}"#;
    let imported = import(setup, Path::new("."), &ImportOptions::default()).unwrap();
    let four = imported
        .files
        .iter()
        .find(|file| file.path.ends_with("Grid_Four.csv"))
        .unwrap();
    assert!(four.text.contains("10:00:00,2000\n"), "{}", four.text);
    let dir = std::env::temp_dir().join(format!("nestgrid-gsy-panels-{}", std::process::id()));
    imported.write_profiles(&dir).unwrap();
    let topology = load_str(&imported.yaml, &dir, &LoadOptions::default())
        .unwrap_or_else(|error| panic!("{error}\n{}", imported.yaml));
    std::fs::remove_dir_all(&dir).ok();
    let produced = |path: &str| {
        let AssetKind::Pv(pv) = &asset(&topology, path).kind else {
            panic!("{path} is not a PV");
        };
        (0..topology.settings.slot_count)
            .map(|slot| topology.profile_energy(pv.profile, slot).0)
            .sum::<i64>()
    };
    // 500 W × 2 h = 1 kWh for one panel; four panels make 4 kWh.
    assert_eq!(produced("Grid/One"), kwh(1.0).0);
    assert_eq!(produced("Grid/Four"), kwh(4.0).0);
}
