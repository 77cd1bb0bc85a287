//! Expansion: copies and their names, numbering, inheritance, variation and shared profiles.

use nestgrid_grid::{AssetKind, LoadOptions, ProfileUse, Topology, benchmark_scenario, load_str};
use nestgrid_types::{AreaId, AssetId, Mechanism};
use std::path::Path;

fn load(text: &str) -> Topology {
    load_str(text, Path::new("."), &LoadOptions::default())
        .unwrap_or_else(|error| panic!("{error}"))
}

fn profile_use(topology: &Topology, asset: usize) -> ProfileUse {
    match &topology.assets[asset].kind {
        AssetKind::Load(load) => load.profile,
        AssetKind::Pv(pv) => pv.profile,
        other => panic!("no profile: {}", other.name()),
    }
}

const TOWN: &str = "
name: Town
market: { mechanism: pay-as-bid }
areas:
  - { name: Grid connection, grid_connection: { tariff: 0.3, feed_in: 0.1 } }
  - name: Street
    count: 2
    children:
      - name: House
        count: 3
        children:
          - { name: Load, load: { power_w: 100 } }
          - { name: PV, count: 2, pv: { capacity_kw: 3 } }
  - name: Lane
    mechanism: pay-as-clear
    children:
      - { name: Shop, children: [{ name: Fridge, load: { power_w: 300 } }] }
";

#[test]
fn copies_are_numbered_and_single_nodes_keep_their_name() {
    let topology = load(TOWN);
    let paths: Vec<&str> = topology
        .areas
        .iter()
        .map(|area| area.path.as_str())
        .collect();
    assert_eq!(
        paths,
        vec![
            "Town",
            "Town/Street 1",
            "Town/Street 1/House 1",
            "Town/Street 1/House 2",
            "Town/Street 1/House 3",
            "Town/Street 2",
            "Town/Street 2/House 1",
            "Town/Street 2/House 2",
            "Town/Street 2/House 3",
            "Town/Lane",
            "Town/Lane/Shop",
        ]
    );
    let asset_paths: Vec<&str> = topology
        .assets
        .iter()
        .map(|asset| asset.path.as_str())
        .collect();
    assert_eq!(asset_paths[0], "Town/Grid connection");
    assert_eq!(
        &asset_paths[1..4],
        &[
            "Town/Street 1/House 1/Load",
            "Town/Street 1/House 1/PV 1",
            "Town/Street 1/House 1/PV 2"
        ]
    );
    assert_eq!(asset_paths.len(), 1 + 2 * 3 * 3 + 1);
    assert_eq!(topology.assets[0].name, "Grid connection");
    assert_eq!(topology.areas[3].name, "House 2");
    assert_eq!(topology.assets[3].area, AreaId(2));
    assert_eq!(
        topology.areas[2].assets,
        vec![AssetId(1), AssetId(2), AssetId(3)]
    );
}

#[test]
fn pre_order_post_order_and_subtree_ends() {
    let topology = load(TOWN);
    assert_eq!(
        topology.areas[0].children,
        vec![AreaId(1), AreaId(5), AreaId(9)]
    );
    assert_eq!(
        topology.areas[1].children,
        vec![AreaId(2), AreaId(3), AreaId(4)]
    );
    assert_eq!(topology.areas[10].parent, Some(AreaId(9)));
    let bottom_up: Vec<u32> = topology.bottom_up.iter().map(|area| area.0).collect();
    assert_eq!(bottom_up, vec![2, 3, 4, 1, 6, 7, 8, 5, 10, 9, 0]);
    assert_eq!(
        topology.subtree_end,
        vec![11, 5, 3, 4, 5, 9, 7, 8, 9, 11, 11]
    );
    let depths: Vec<u32> = topology.areas.iter().map(|area| area.depth).collect();
    assert_eq!(depths, vec![0, 1, 2, 2, 2, 1, 2, 2, 2, 1, 2]);
    assert!(topology.contains(AreaId(1), AreaId(4)));
    assert!(!topology.contains(AreaId(1), AreaId(5)));
    assert!(topology.contains(AreaId(0), AreaId(10)));
    assert_eq!(topology.root(), AreaId(0));
}

#[test]
fn mechanism_is_inherited_from_the_parent() {
    let topology = load(TOWN);
    let mechanisms: Vec<Mechanism> = topology.areas.iter().map(|area| area.mechanism).collect();
    assert_eq!(mechanisms[0], Mechanism::PayAsBid);
    assert!(
        mechanisms[1..9]
            .iter()
            .all(|&mechanism| mechanism == Mechanism::PayAsBid)
    );
    assert_eq!(mechanisms[9], Mechanism::PayAsClear);
    assert_eq!(mechanisms[10], Mechanism::PayAsClear);
}

#[test]
fn copies_share_base_profiles() {
    let topology = load(TOWN);
    // power 100 W, 3 kW clear-sky PV, 300 W: three base profiles for 20 assets.
    assert_eq!(topology.profiles.len(), 3);
    assert!(topology.profiles.iter().all(|profile| profile.len() == 96));
    let first_pv = profile_use(&topology, 2);
    let last_pv = profile_use(&topology, 18);
    assert_eq!(first_pv, last_pv);
    assert_eq!(first_pv.scale_ppm, 1_000_000);
}

const VARIED: &str = "
simulation: { seed: 11 }
templates:
  house:
    vary: 0.2
    children:
      - { name: Load, load: { annual_kwh: 3500 } }
      - { name: PV, pv: { capacity_kw: 5 } }
areas:
  - { name: House, count: 50, use: house }
  - { name: Fixed, children: [{ name: Load, load: { annual_kwh: 3500 } }] }
";

#[test]
fn vary_scales_and_shifts_each_copy_from_its_own_seed() {
    let topology = load(VARIED);
    assert_eq!(topology.profiles.len(), 2);
    let mut scales = Vec::new();
    let mut shifts = Vec::new();
    for (index, asset) in topology.assets.iter().enumerate() {
        let used = profile_use(&topology, index);
        match &asset.kind {
            AssetKind::Load(_) if asset.path.starts_with("Grid/House") => {
                assert!((800_000..=1_200_000).contains(&used.scale_ppm));
                assert!((-2..=2).contains(&used.shift_slots));
                scales.push(used.scale_ppm);
                shifts.push(used.shift_slots);
            }
            AssetKind::Pv(_) => {
                assert!((800_000..=1_200_000).contains(&used.scale_ppm));
                assert_eq!(used.shift_slots, 0, "the sun does not shift");
            }
            AssetKind::Load(_) => {
                // `Fixed` has no vary in effect.
                assert_eq!((used.scale_ppm, used.shift_slots), (1_000_000, 0));
            }
            _ => unreachable!(),
        }
    }
    scales.sort_unstable();
    scales.dedup();
    assert!(scales.len() > 40, "copies differ: {scales:?}");
    for shift in -2..=2 {
        assert!(shifts.contains(&shift), "shift {shift} drawn: {shifts:?}");
    }
    // The same seed gives the same draws; another seed others.
    assert_eq!(load(VARIED), topology);
    let reseeded = load_str(
        VARIED,
        Path::new("."),
        &LoadOptions {
            days: None,
            seed: Some(12),
            start: None,
        },
    )
    .unwrap();
    assert_ne!(profile_use(&reseeded, 0), profile_use(&topology, 0));
    // A draw depends on the asset's path only: adding an unrelated node changes nothing.
    let extended = load(&format!(
        "{VARIED}  - {{ name: Kiosk, load: {{ power_w: 50 }} }}\n"
    ));
    for index in 0..topology.assets.len() {
        assert_eq!(profile_use(&extended, index), profile_use(&topology, index));
    }
    // A shift moves the profile: energy at slot s comes from base slot s - shift.
    let shifted = (0..50)
        .map(|house| house * 2)
        .find(|&index| profile_use(&topology, index).shift_slots == 2)
        .unwrap();
    let used = profile_use(&topology, shifted);
    let base = &topology.profiles[used.profile as usize];
    assert_eq!(
        topology.profile_energy(used, 0),
        nestgrid_types::Energy::ZERO
    );
    let expected = (base[10].0 as i128 * used.scale_ppm as i128 + 500_000) / 1_000_000;
    assert_eq!(topology.profile_energy(used, 12).0 as i128, expected);
}

#[test]
fn vary_is_inherited_and_can_be_switched_off() {
    let text = "
areas:
  - name: Street
    vary: 0.1
    children:
      - { name: A, load: { power_w: 100 } }
      - { name: B, vary: 0, load: { power_w: 100 } }
";
    let topology = load(text);
    let inherited = profile_use(&topology, 0);
    assert!((900_000..=1_100_000).contains(&inherited.scale_ppm));
    assert_ne!(inherited.scale_ppm, 1_000_000);
    assert_eq!(profile_use(&topology, 1).scale_ppm, 1_000_000);
}

#[test]
fn templates_merge_shallowly_and_fields_override() {
    let text = "
templates:
  roof: { pv: { capacity_kw: 5, tilt_deg: 10 } }
  big_roof: { use: roof, count: 2 }
areas:
  - { name: R, use: big_roof, pv: { capacity_kw: 9 } }
";
    let topology = load(text);
    assert_eq!(topology.assets.len(), 2);
    let AssetKind::Pv(pv) = &topology.assets[1].kind else {
        panic!()
    };
    assert_eq!(pv.capacity, nestgrid_types::Power::from_kw(9));
    assert_eq!(topology.assets[1].path, "Grid/R 2");
    // `pv` replaced whole: the template's tilt 10° is gone, so the default 30° applies.
    let default_tilt = load("areas: [{ name: R, pv: { capacity_kw: 9 } }]");
    assert_eq!(topology.profiles, default_tilt.profiles);
}

#[test]
fn yaml_anchors_and_merge_keys_work() {
    let text = "
areas:
  - &house { name: House, children: [{ name: L, load: { power_w: 100 } }] }
  - { <<: *house, name: Other }
";
    let topology = load(text);
    assert_eq!(topology.areas[2].path, "Grid/Other");
    assert_eq!(topology.assets[1].path, "Grid/Other/L");
}

/// 100,000 houses in release builds; 10,000 in debug builds to keep `cargo test` quick. Timing
/// belongs in a benchmark, not here: this checks the counts and the sharing of profiles.
#[test]
fn benchmark_scenario_expands() {
    let houses: u32 = if cfg!(debug_assertions) {
        10_000
    } else {
        100_000
    };
    let streets = houses / 100;
    let text = benchmark_scenario(houses, streets, Mechanism::PayAsClear);
    assert!(text.lines().count() <= 35, "{text}");
    let topology = load(&text);
    assert_eq!(topology.areas.len(), 1 + streets as usize + houses as usize);
    assert_eq!(topology.assets.len(), 1 + 3 * houses as usize);
    assert_eq!(topology.profiles.len(), 2);
    assert_eq!(topology.bottom_up.len(), topology.areas.len());
    assert!(
        topology
            .areas
            .iter()
            .all(|area| area.mechanism == Mechanism::PayAsClear)
    );
    let last = topology.areas.last().unwrap();
    assert_eq!(last.path, format!("Benchmark/Street {streets}/House 100"));
    assert_eq!(topology.subtree_end[1], 102);
}

#[test]
fn benchmark_scenario_small_sizes() {
    let text = benchmark_scenario(5, 1, Mechanism::PayAsOffer);
    let topology = load(&text);
    assert_eq!(topology.areas[1].path, "Benchmark/Street");
    assert_eq!(topology.areas.len(), 1 + 1 + 5);
    let uneven = load(&benchmark_scenario(7, 2, Mechanism::PayAsBid));
    assert_eq!(uneven.areas.len(), 1 + 2 + 6);
}
