//! Defaults are pinned: a minimal scenario gets exactly these settings.

use nestgrid_grid::{
    AssetKind, DEFAULT_SCENARIO, LoadOptions, RateRange, Topology, load_str, summary,
};
use nestgrid_types::{Energy, GridFee, Mechanism, Power, Price};
use std::path::Path;

fn load(text: &str) -> Topology {
    load_str(text, Path::new("."), &LoadOptions::default())
        .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn simulation_defaults() {
    let topology = load("areas: [{ name: Lamp, load: { power_w: 10 } }]");
    let settings = &topology.settings;
    assert_eq!(settings.name, "Grid");
    assert_eq!(settings.start.to_string(), "2026-01-01T00:00:00+00:00[UTC]");
    assert_eq!(settings.slot_seconds, 900);
    assert_eq!(settings.tick_seconds, 15);
    assert_eq!(settings.ticks_per_slot(), 60);
    assert_eq!(settings.slot_count, 96);
    assert_eq!(settings.seed, 0);
    assert_eq!(settings.currency, "EUR");
    assert_eq!(settings.latitude, 52.52);
    assert_eq!(settings.longitude, 13.40);
    assert_eq!(settings.forward_after_ticks, 1);
    assert_eq!(settings.forecast_error_ppm, 0);
    let root = &topology.areas[0];
    assert_eq!(root.name, "Grid");
    assert_eq!(root.path, "Grid");
    assert_eq!(root.mechanism, Mechanism::PayAsOffer);
    assert_eq!(root.fee, GridFee::None);
    assert_eq!((root.import_limit, root.export_limit), (None, None));
}

#[test]
fn asset_defaults() {
    let topology = load(
        "
areas:
  - { name: Load, load: { annual_kwh: 3500 } }
  - { name: PV, pv: { capacity_kw: 5 } }
  - { name: PV south, pv: { capacity_kw: 5, tilt_deg: 30, azimuth_deg: 180, cloudiness: 0 } }
  - { name: Battery, storage: { capacity_kwh: 10, max_power_kw: 5 } }
  - { name: Wallbox, ev_charger: { max_power_kw: 11, sessions: [{ arrival: '18:00', departure: '07:00', energy_kwh: 10 }] } }
  - { name: Diesel, generator: { max_power_kw: 100, rate: 0.5 } }
",
    );
    let kinds: Vec<&AssetKind> = topology.assets.iter().map(|asset| &asset.kind).collect();
    let AssetKind::Load(load) = kinds[0] else {
        panic!()
    };
    assert_eq!(
        load.buying,
        RateRange {
            initial: None,
            final_rate: None
        }
    );
    assert_eq!(load.update_interval_ticks, 4);
    assert_eq!(
        (load.profile.scale_ppm, load.profile.shift_slots),
        (1_000_000, 0)
    );
    let AssetKind::Pv(pv) = kinds[1] else {
        panic!()
    };
    let AssetKind::Pv(pv_explicit) = kinds[2] else {
        panic!()
    };
    assert_eq!(pv.capacity, Power::from_kw(5));
    assert_eq!(pv.selling, RateRange::default());
    // Defaults tilt 30°, azimuth 180°, cloudiness 0: the same base profile as written out.
    assert_eq!(pv.profile.profile, pv_explicit.profile.profile);
    let AssetKind::Storage(storage) = kinds[3] else {
        panic!()
    };
    assert_eq!(storage.capacity, Energy::from_kwh(10));
    assert_eq!(storage.max_charge_power, Power::from_kw(5));
    assert_eq!(storage.max_discharge_power, Power::from_kw(5));
    assert_eq!(storage.charge_efficiency_ppm, 950_000);
    assert_eq!(storage.discharge_efficiency_ppm, 950_000);
    assert_eq!(storage.initial_soc_ppm, 500_000);
    assert_eq!(storage.min_soc_ppm, 100_000);
    assert_eq!(storage.buying, RateRange::default());
    assert_eq!(storage.selling, RateRange::default());
    assert_eq!(storage.update_interval_ticks, 4);
    let AssetKind::EvCharger(charger) = kinds[4] else {
        panic!()
    };
    assert!(!charger.bidirectional);
    assert_eq!(charger.max_power, Power::from_kw(11));
    assert_eq!(charger.sessions[0].battery_capacity, Energy::from_kwh(60));
    assert_eq!(charger.update_interval_ticks, 4);
    let AssetKind::Generator(generator) = kinds[5] else {
        panic!()
    };
    assert_eq!(generator.rate.at(0), Price(500_000));
    assert_eq!(topology.profiles.len(), 2);
}

#[test]
fn fields_convert_exactly() {
    let topology = load(
        "
simulation:
  start: 2026-06-21
  time_zone: Europe/Berlin
  duration: 36h
  slot_length: 1h
  tick_length: 900s
  seed: 7
  currency: CHF
  latitude: 47.37
  longitude: 8.54
  forward_after_ticks: 2
  forecast_error: 0.05
market: { mechanism: pay-as-clear }
name: Town
areas:
  - name: Street
    fee: { percent: 2.5 }
    import_limit_kw: 250
    export_limit_kw: '120.5'
    children:
      - name: Battery
        storage: { capacity_kwh: 13.5, max_charge_kw: 5, max_discharge_kw: 4.6, charge_efficiency: 0.9,
                   initial_soc: 0.25, min_soc: 0.05, initial_buying_rate: 0.1, final_buying_rate: '0.25',
                   initial_selling_rate: 0.32, final_selling_rate: 0.2, update_interval: 30m }
  - { name: Kiosk, fee: { constant: 0.015 }, children: [{ name: Fridge, load: { power_w: 150.5 } }] }
",
    );
    let settings = &topology.settings;
    assert_eq!(
        settings.start.to_string(),
        "2026-06-21T00:00:00+02:00[Europe/Berlin]"
    );
    assert_eq!(
        (
            settings.slot_seconds,
            settings.tick_seconds,
            settings.slot_count
        ),
        (3_600, 900, 36)
    );
    assert_eq!(settings.seed, 7);
    assert_eq!(settings.currency, "CHF");
    assert_eq!((settings.latitude, settings.longitude), (47.37, 8.54));
    assert_eq!(settings.forward_after_ticks, 2);
    assert_eq!(settings.forecast_error_ppm, 50_000);
    assert_eq!(settings.name, "Town");
    let street = &topology.areas[1];
    assert_eq!(street.fee, GridFee::PartsPerMillion(25_000));
    assert_eq!(street.mechanism, Mechanism::PayAsClear);
    assert_eq!(street.import_limit, Some(Power::from_kw(250)));
    assert_eq!(street.export_limit, Some(Power(120_500_000)));
    assert_eq!(topology.areas[2].fee, GridFee::Constant(Price(15_000)));
    let AssetKind::Storage(storage) = &topology.assets[0].kind else {
        panic!()
    };
    assert_eq!(storage.capacity, Energy(13_500_000));
    assert_eq!(storage.max_discharge_power, Power(4_600_000));
    assert_eq!(storage.charge_efficiency_ppm, 900_000);
    assert_eq!(
        (storage.initial_soc_ppm, storage.min_soc_ppm),
        (250_000, 50_000)
    );
    assert_eq!(
        storage.buying,
        RateRange {
            initial: Some(Price(100_000)),
            final_rate: Some(Price(250_000))
        }
    );
    assert_eq!(
        storage.selling,
        RateRange {
            initial: Some(Price(320_000)),
            final_rate: Some(Price(200_000))
        }
    );
    // 30 minutes of 15-minute ticks.
    assert_eq!(storage.update_interval_ticks, 2);
    // 150.5 W for an hour: 150.5 Wh in every slot.
    let AssetKind::Load(fridge) = &topology.assets[1].kind else {
        panic!()
    };
    assert_eq!(topology.profile_energy(fridge.profile, 0), Energy(150_500));
}

#[test]
fn command_line_overrides() {
    let text = "simulation: { days: 2, seed: 5 }\nareas: [{ name: Lamp, load: { power_w: 10 } }]";
    let plain = load(text);
    assert_eq!((plain.settings.slot_count, plain.settings.seed), (192, 5));
    let options = LoadOptions {
        days: Some(3),
        seed: Some(9),
        start: None,
    };
    let overridden = load_str(text, Path::new("."), &options).unwrap();
    assert_eq!(
        (overridden.settings.slot_count, overridden.settings.seed),
        (288, 9)
    );
    // --days also replaces a `duration:`.
    let text = "simulation: { duration: 90m }\nareas: [{ name: Lamp, load: { power_w: 10 } }]";
    assert_eq!(load(text).settings.slot_count, 6);
    assert_eq!(
        load_str(text, Path::new("."), &options)
            .unwrap()
            .settings
            .slot_count,
        288
    );
}

#[test]
fn start_forms() {
    for (start, expected) in [
        ("2026-06-21", "2026-06-21T00:00:00+02:00[Europe/Berlin]"),
        (
            "2026-06-21T06:30",
            "2026-06-21T06:30:00+02:00[Europe/Berlin]",
        ),
        (
            "'2026-06-21 06:30'",
            "2026-06-21T06:30:00+02:00[Europe/Berlin]",
        ),
        (
            "2026-06-21T00:00:00Z",
            "2026-06-21T02:00:00+02:00[Europe/Berlin]",
        ),
    ] {
        let text = format!(
            "simulation: {{ start: {start}, time_zone: Europe/Berlin }}\nareas: [{{ name: L, load: {{ power_w: 1 }} }}]"
        );
        assert_eq!(load(&text).settings.start.to_string(), expected, "{start}");
    }
}

#[test]
fn json_is_yaml_too() {
    let json = r#"{"name": "J", "areas": [{"name": "Lamp", "load": {"power_w": "10"}}]}"#;
    let topology = load(json);
    assert_eq!(topology.assets[0].path, "J/Lamp");
}

#[test]
fn default_scenario_is_a_village() {
    let topology = load(DEFAULT_SCENARIO);
    assert_eq!(topology.settings.name, "Village");
    assert_eq!(topology.settings.seed, 42);
    assert_eq!(topology.settings.slot_count, 96);
    assert_eq!(
        topology.settings.start.to_string(),
        "2026-06-21T00:00:00+02:00[Europe/Berlin]"
    );
    // Root, 3 streets, 30 houses.
    assert_eq!(topology.areas.len(), 34);
    let count = |kind: &str| {
        topology
            .assets
            .iter()
            .filter(|asset| asset.kind.name() == kind)
            .count()
    };
    assert_eq!(count("grid_connection"), 1);
    assert_eq!(count("load"), 30);
    assert_eq!(count("pv"), 27);
    assert_eq!(count("storage"), 9);
    assert_eq!(count("ev_charger"), 3);
    assert!(
        topology
            .areas
            .iter()
            .all(|area| area.mechanism == Mechanism::PayAsBid)
    );
    assert_eq!(topology.areas[1].path, "Village/Street 1");
    assert_eq!(topology.areas[2].path, "Village/Street 1/Family 1");
    let text = summary(&topology);
    assert!(
        text.starts_with("Village: 34 areas (2 levels below the root), 70 assets ("),
        "{text}"
    );
    assert!(text.contains("96 slots of 15m"), "{text}");
    assert!(text.contains("60 ticks of 15s per slot"), "{text}");
}
