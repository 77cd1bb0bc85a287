//! Every validation error names its path, with an exact, stable message.

use nestgrid_grid::{LoadOptions, ScenarioError, load_str};
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn errors(text: &str) -> Vec<String> {
    match load_str(text, &data_dir(), &LoadOptions::default()) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(error) => error.lines(),
    }
}

fn error(text: &str) -> String {
    let lines = errors(text);
    assert_eq!(lines.len(), 1, "expected one problem, got {lines:#?}");
    lines.into_iter().next().unwrap()
}

const GRID: &str = "{ name: Grid connection, grid_connection: { tariff: 0.30, feed_in: 0.08 } }";

#[test]
fn zero_capacity_names_the_full_path() {
    let text = format!(
        "
areas:
  - {GRID}
  - name: Street
    children:
      - {{ name: Load, load: {{ annual_kwh: 3000 }} }}
      - {{ name: Battery, storage: {{ capacity_kwh: 5, max_power_kw: 2 }} }}
      - {{ name: Roof, pv: {{ capacity_kw: 4 }} }}
      - {{ name: Shed, pv: {{ capacity_kw: 0 }} }}
"
    );
    assert_eq!(
        error(&text),
        "areas[1].children[3].pv.capacity_kw: must be greater than 0"
    );
    let negative =
        format!("areas: [{GRID}, {{ name: B, storage: {{ capacity_kwh: -1, max_power_kw: 2 }} }}]");
    assert_eq!(
        error(&negative),
        "areas[1].storage.capacity_kwh: must be greater than 0"
    );
    let missing = "areas: [{ name: Roof, pv: { tilt_deg: 30 } }]";
    assert_eq!(error(missing), "areas[0].pv.capacity_kw: is required");
}

#[test]
fn unknown_fields_are_named_at_every_level() {
    assert_eq!(
        error("areas: [{ name: Roof, pv: { capacity_kw: 4, colour: blue } }]"),
        "areas[0].pv.colour: unknown field `colour`, expected one of `capacity_kw`, `tilt_deg`, \
         `azimuth_deg`, `cloudiness`, `profile`, `profile_unit`, `initial_selling_rate`, \
         `final_selling_rate`, `update_interval`"
    );
    assert_eq!(
        error("areas: [{ name: Roof, colour: blue, pv: { capacity_kw: 4 } }]"),
        "areas[0].colour: unknown field `colour`, expected one of `name`, `count`, `vary`, `use`, \
         `fee`, `mechanism`, `import_limit_kw`, `export_limit_kw`, `children`, `external`, `load`, \
         `pv`, `storage`, `ev_charger`, `generator`, `grid_connection`"
    );
    assert_eq!(
        error("simulation: { slots: 4 }\nareas: [{ name: L, load: { annual_kwh: 1 } }]"),
        "simulation.slots: unknown field `slots`, expected one of `start`, `time_zone`, `days`, \
         `duration`, `slot_length`, `tick_length`, `seed`, `currency`, `latitude`, `longitude`, \
         `forward_after_ticks`, `forecast_error`"
    );
    assert_eq!(
        error("areaz: []\nareas: [{ name: L, load: { annual_kwh: 1 } }]"),
        "areaz: unknown field `areaz`, expected one of `name`, `simulation`, `market`, `templates`, `areas`"
    );
    assert_eq!(
        error(
            "areas: [{ name: EV, ev_charger: { max_power_kw: 11, sessions: [{ arrival: '18:00', departure: '07:00', energy_kwh: 1, when: 2 }] } }]"
        ),
        "areas[0].ev_charger.sessions[0].when: unknown field `when`, expected one of `arrival`, \
         `departure`, `energy_kwh`, `initial_soc`, `target_soc`, `battery_kwh`"
    );
}

#[test]
fn state_of_charge_checks() {
    assert_eq!(
        error(
            "areas: [{ name: B, storage: { capacity_kwh: 10, max_power_kw: 5, initial_soc: 1.5 } }]"
        ),
        "areas[0].storage.initial_soc: must be between 0 and 1"
    );
    assert_eq!(
        error(
            "areas: [{ name: B, storage: { capacity_kwh: 10, max_power_kw: 5, initial_soc: 0.2, min_soc: 0.3 } }]"
        ),
        "areas[0].storage.min_soc: 0.3 must not be above initial_soc (0.2)"
    );
    assert_eq!(
        error(
            "areas: [{ name: B, storage: { capacity_kwh: 10, max_power_kw: 5, charge_efficiency: 0 } }]"
        ),
        "areas[0].storage.charge_efficiency: must be greater than 0 and at most 1"
    );
    assert_eq!(
        error("areas: [{ name: B, storage: { capacity_kwh: 10, max_charge_kw: 5 } }]"),
        "areas[0].storage.max_power_kw: is required (or give both max_charge_kw and max_discharge_kw)"
    );
}

#[test]
fn time_settings() {
    let tail = "\nareas: [{ name: L, load: { annual_kwh: 1 } }]";
    assert_eq!(
        error(&format!("simulation: {{ tick_length: 7s }}{tail}")),
        "simulation.tick_length: 7s does not divide slot_length 15m evenly"
    );
    assert_eq!(
        error(&format!("simulation: {{ time_zone: Mars/Olympus }}{tail}")),
        "simulation.time_zone: unknown time zone `Mars/Olympus` (use an IANA name like Europe/Berlin)"
    );
    assert_eq!(
        error(&format!("simulation: {{ slot_length: 15 minutes }}{tail}")),
        "simulation.slot_length: `15 minutes` is not a duration (write e.g. 15m, 900s, 1h or 1d)"
    );
    assert_eq!(
        error(&format!("simulation: {{ duration: 0h }}{tail}")),
        "simulation.duration: must be greater than 0"
    );
    assert_eq!(
        error(&format!("simulation: {{ days: 1, duration: 36h }}{tail}")),
        "simulation.duration: give either days or duration, not both"
    );
    assert_eq!(
        error(&format!("simulation: {{ duration: 100m }}{tail}")),
        "simulation.duration: 1h40m is not a whole number of slots of 15m"
    );
    assert_eq!(
        error(&format!("simulation: {{ start: midsummer }}{tail}")),
        "simulation.start: `midsummer` is not a date or time (write e.g. 2026-06-21T00:00, \
         2026-06-21 or 2026-06-21T00:00:00+02:00)"
    );
    assert_eq!(
        error(&format!("simulation: {{ latitude: 91 }}{tail}")),
        "simulation.latitude: must be between -90 and 90"
    );
}

#[test]
fn tree_shape_errors() {
    assert_eq!(
        error("name: Empty\nareas: []"),
        "areas: the scenario needs at least one area or asset"
    );
    assert_eq!(
        error("name: Empty"),
        "areas: the scenario needs at least one area or asset"
    );
    assert_eq!(
        error("areas: [{ name: Street, children: [] }]"),
        "areas[0].children: an area needs at least one child"
    );
    assert_eq!(
        error(
            "areas: [{ name: Odd, children: [{ name: L, load: { annual_kwh: 1 } }], pv: { capacity_kw: 1 } }]"
        ),
        "areas[0]: a node is an area (`children`) or an asset (one kind), not both: found `children` and `pv`"
    );
    assert_eq!(
        error(
            "areas: [{ name: Odd, pv: { capacity_kw: 1 }, storage: { capacity_kwh: 1, max_power_kw: 1 } }]"
        ),
        "areas[0]: an asset has exactly one kind, found `pv` and `storage`"
    );
    assert_eq!(
        error("areas: [{ name: Nothing }]"),
        "areas[0]: needs `children` (an area) or one of `load`, `pv`, `storage`, `ev_charger`, \
         `generator`, `grid_connection` (an asset)"
    );
    assert_eq!(
        error("areas: [{ name: G, pv: 5 }]"),
        "areas[0].pv: invalid type: integer `5`, expected a mapping of `pv` fields"
    );
    assert_eq!(
        error("areas: [{ name: S, children: { name: L } }]"),
        "areas[0].children: must be a list of nodes"
    );
    assert_eq!(
        error("areas: [{ pv: { capacity_kw: 1 } }]"),
        "areas[0].name: is required"
    );
    assert_eq!(
        error("areas: [{ name: 'A/B', pv: { capacity_kw: 1 } }]"),
        "areas[0].name: `A/B` must not contain `/` (it separates the parts of a path)"
    );
    assert_eq!(
        error("areas: [{ name: Roof, fee: { constant: 0.01 }, pv: { capacity_kw: 1 } }]"),
        "areas[0].fee: only areas have `fee`; this node is an asset (`pv`)"
    );
}

#[test]
fn duplicate_sibling_names_name_both() {
    let text = "
areas:
  - { name: Street, count: 2, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: House, count: 3, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: House 2, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: Street, count: 4, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: Lamp, load: { annual_kwh: 1 } }
  - { name: Lamp, load: { annual_kwh: 1 } }
";
    assert_eq!(
        errors(text),
        vec![
            "areas[2]: duplicate name `House 2`: also used by areas[1] (count 3) among the same siblings",
            "areas[3]: duplicate name `Street 1`: also used by areas[0] (count 2) among the same siblings",
            "areas[5]: duplicate name `Lamp`: also used by areas[4] among the same siblings",
        ]
    );
    // Equal names in different areas are fine, as is `House 4` beside three numbered houses.
    let fine = "
areas:
  - { name: A, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: B, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: House, count: 3, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: House 4, children: [{ name: L, load: { annual_kwh: 1 } }] }
  - { name: House 02, children: [{ name: L, load: { annual_kwh: 1 } }] }
";
    load_str(fine, &data_dir(), &LoadOptions::default()).unwrap();
}

#[test]
fn template_errors() {
    assert_eq!(
        error(
            "templates: { house: { children: [{ name: L, load: { annual_kwh: 1 } }] } }\nareas: [{ name: H, use: hose }]"
        ),
        "areas[0].use: unknown template `hose` (known: `house`)"
    );
    let cycle = "
templates:
  house: { use: flat }
  flat: { use: house }
areas: [{ name: H, use: house }]
";
    assert_eq!(
        error(cycle),
        "templates.flat.use: cycle of `use`: house -> flat -> house"
    );
    let nested = "
templates:
  house: { children: [{ name: Inner, use: house }] }
areas: [{ name: H, use: house }]
";
    assert_eq!(
        error(nested),
        "templates.house.children[0].use: cycle of `use`: house -> house"
    );
    // A mistake inside a template is reported once, at the template, however often it is used.
    let shared = "
templates:
  house: { children: [{ name: PV, pv: { capacity_kw: 0 } }] }
areas:
  - { name: A, count: 5, use: house }
  - { name: B, use: house }
";
    assert_eq!(
        error(shared),
        "templates.house.children[0].pv.capacity_kw: must be greater than 0"
    );
    // A field written next to `use` is reported where it was written.
    let own = "
templates:
  roof: { pv: { capacity_kw: 5 } }
areas: [{ name: R, use: roof, pv: { capacity_kw: -2 } }]
";
    assert_eq!(
        error(own),
        "areas[0].pv.capacity_kw: must be greater than 0"
    );
}

#[test]
fn ev_session_errors() {
    let text = "
areas:
  - name: Wallbox
    ev_charger:
      max_power_kw: 11
      sessions:
        - { arrival: '18:00', departure: '07:00', energy_kwh: 10 }
        - { arrival: '06:00', departure: '08:00', energy_kwh: 5 }
";
    assert_eq!(
        error(text),
        "areas[0].ev_charger.sessions[1]: overlaps sessions[0] (plugged in at 2026-01-01T06:00 before \
         the other leaves at 2026-01-01T07:00)"
    );
    let unreachable = "
areas:
  - name: Wallbox
    ev_charger:
      max_power_kw: 3.7
      sessions: [{ arrival: '18:00', departure: '20:00', energy_kwh: 10 }]
";
    assert_eq!(
        error(unreachable),
        "areas[0].ev_charger.sessions[0]: needs 10 kWh but at most 7.4 kWh can be charged at 3.7 kW \
         in the 8 full slots from 2026-01-01T18:00 to 2026-01-01T20:00"
    );
}

#[test]
fn profile_file_errors_name_file_and_line() {
    let missing = error("areas: [{ name: L, load: { profile: missing.csv } }]");
    assert!(
        missing.starts_with("areas[0].load.profile: missing.csv: cannot read ("),
        "{missing}"
    );
    assert!(missing.contains("tests/data/missing.csv"), "{missing}");
    assert_eq!(
        error("areas: [{ name: L, load: { profile: bad_row.csv } }]"),
        "areas[0].load.profile: bad_row.csv:4: value `lots` is not a number"
    );
    assert_eq!(
        error("areas: [{ name: L, load: { profile: negative.csv } }]"),
        "areas[0].load.profile: negative.csv:3: negative energy `-20` (profile values must not be negative)"
    );
    assert_eq!(
        error("areas: [{ name: L, load: { profile: not_increasing.csv } }]"),
        "areas[0].load.profile: not_increasing.csv:3: time `00:15` is not after the previous row's"
    );
}

#[test]
fn prices_and_numbers() {
    assert_eq!(
        error("areas: [{ name: G, grid_connection: { tariff: 0.1234567, feed_in: 0.08 } }]"),
        "areas[0].grid_connection.tariff: `0.1234567` has more than 6 decimal places"
    );
    assert_eq!(
        error("areas: [{ name: G, grid_connection: { tariff: 0.20, feed_in: 0.25 } }]"),
        "areas[0].grid_connection.feed_in: must not be above tariff (0.25 > 0.2)"
    );
    assert_eq!(
        error("areas: [{ name: G, grid_connection: { tariff: 0.20 } }]"),
        "areas[0].grid_connection.feed_in: is required"
    );
    assert_eq!(
        error(
            "areas: [{ name: L, load: { annual_kwh: 3000, initial_buying_rate: 0.3, final_buying_rate: 0.1 } }]"
        ),
        "areas[0].load.initial_buying_rate: must not be above final_buying_rate (0.1)"
    );
    assert_eq!(
        error("areas: [{ name: L, load: { annual_kwh: lots } }]"),
        "areas[0].load.annual_kwh: `lots` is not a number"
    );
    assert_eq!(
        error(
            "areas: [{ name: S, fee: { percent: 2.5, constant: 0.01 }, children: [{ name: L, load: { annual_kwh: 1 } }] }]"
        ),
        "areas[0].fee: give exactly one of `constant` or `percent`"
    );
    assert_eq!(
        error(
            "market: { mechanism: pay-as-you-go }\nareas: [{ name: L, load: { annual_kwh: 1 } }]"
        ),
        "market.mechanism: unknown variant `pay-as-you-go`, expected one of `pay-as-offer`, \
         `pay-as-bid`, `pay-as-clear`, `huang`, `trade-reduction`, `curve`"
    );
    assert_eq!(
        error("areas: [{ name: L, load: { annual_kwh: 3000, power_w: 200 } }]"),
        "areas[0].load: give only one of `profile`, `annual_kwh` and `power_w`"
    );
    assert_eq!(
        error("areas: [{ name: L, load: { power_w: 200, hours: [[18, 18]] } }]"),
        "areas[0].load.hours[0]: [18, 18] is not a range of hours: write [from, to) with from \
         0..23, to 0..24 and from ≠ to (from > to wraps past midnight)"
    );
}

#[test]
fn limits_are_named() {
    assert_eq!(
        error("areas: [{ name: S, count: 0, children: [{ name: L, load: { annual_kwh: 1 } }] }]"),
        "areas[0].count: must be between 1 and 1000000 (MAX_COUNT)"
    );
    let huge = "
areas:
  - name: Town
    count: 1000000
    children:
      - { name: House, count: 3, children: [{ name: L, load: { annual_kwh: 1 } }] }
";
    assert_eq!(
        error(huge),
        "areas: the scenario expands to 4000001 areas, more than the limit of 2000000 (MAX_AREAS)"
    );
    let many = "
areas:
  - name: House
    count: 1000000
    children: [{ name: L, count: 5, load: { annual_kwh: 1 } }]
";
    assert_eq!(
        error(many),
        "areas: the scenario expands to 5000000 assets, more than the limit of 4000000 (MAX_ASSETS)"
    );
    assert_eq!(
        error(
            "simulation: { days: 400, slot_length: 5m }\nareas: [{ name: L, load: { annual_kwh: 1 } }]"
        ),
        "simulation.days: 115200 slots exceed the limit of 105408 (MAX_SLOTS)"
    );
    assert_eq!(
        error(
            "simulation: { tick_length: 1s, slot_length: 2h }\nareas: [{ name: L, load: { annual_kwh: 1 } }]"
        ),
        "simulation.tick_length: 7200 ticks per slot exceed the limit of 3600 (MAX_TICKS_PER_SLOT)"
    );
    let long = load_str(
        "simulation: { slot_length: 5m }\nareas: [{ name: L, load: { annual_kwh: 1 } }]",
        &data_dir(),
        &LoadOptions {
            days: Some(400),
            seed: None,
            start: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        long.to_string(),
        "--days: 115200 slots exceed the limit of 105408 (MAX_SLOTS)"
    );
    // Thirteen nested areas: one deeper than MAX_AREA_DEPTH.
    let mut text = String::from("areas:\n");
    let mut path = String::from("areas[0]");
    for level in 0..13 {
        let indent = "  ".repeat(level * 2 + 1);
        text.push_str(&format!(
            "{indent}- name: Level {level}\n{indent}  children:\n"
        ));
        if level > 0 {
            path.push_str(".children[0]");
        }
    }
    text.push_str(&format!(
        "{}- {{ name: L, load: {{ annual_kwh: 1 }} }}\n",
        "  ".repeat(27)
    ));
    assert_eq!(
        error(&text),
        format!("{path}: area depth 13 exceeds the limit of 12 (MAX_AREA_DEPTH)")
    );
}

#[test]
fn several_problems_are_reported_together() {
    let text = "
simulation: { tick_length: 7s }
areas:
  - { name: Roof, pv: { capacity_kw: 0 } }
  - { name: Battery, storage: { capacity_kwh: 10, max_power_kw: 5, initial_soc: 2 } }
";
    let error: ScenarioError = load_str(text, &data_dir(), &LoadOptions::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "simulation.tick_length: 7s does not divide slot_length 15m evenly\n\
         areas[0].pv.capacity_kw: must be greater than 0\n\
         areas[1].storage.initial_soc: must be between 0 and 1"
    );
}

#[test]
fn syntax_errors_carry_the_location() {
    let lines = errors("areas: [{ name: L,\n  load: {");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("scenario: "), "{}", lines[0]);
    assert!(lines[0].contains("line"), "{}", lines[0]);
    let file =
        std::env::temp_dir().join(format!("nestgrid-grid-missing-{}.yaml", std::process::id()));
    let error = nestgrid_grid::load_file(&file, &LoadOptions::default()).unwrap_err();
    assert!(
        error.to_string().contains("cannot read the scenario"),
        "{error}"
    );
    assert_eq!(error.problems[0].path, file.display().to_string());
}

#[test]
fn only_trading_assets_can_be_external() {
    assert_eq!(
        error(&format!(
            "areas: [{GRID}, {{ name: Street, external: true, children: [{{ name: L, load: {{ power_w: 5 }} }}] }}]"
        )),
        "areas[1].external: only assets can be `external` (traded through the live exchange's API)"
    );
    assert_eq!(
        error(
            "areas: [{ name: Grid, external: true, grid_connection: { tariff: 0.3, feed_in: 0.05 } }]"
        ),
        "areas[0].external: a grid connection trades at its tariff and cannot be external"
    );
    assert_eq!(
        error(&format!(
            "areas: [{GRID}, {{ name: L, external: yes please, load: {{ power_w: 5 }} }}]"
        )),
        "areas[1].external: invalid type: string \"yes please\", expected a boolean"
    );
}

#[test]
fn a_curve_region_clears_as_one() {
    // Below a curve area nothing may choose another mechanism, and fees inside the region are
    // constant; the region's top may sit below any market, with any fee.
    let text = format!(
        "
areas:
  - {GRID}
  - name: Street
    mechanism: curve
    fee: {{ percent: 2 }}
    children:
      - name: House
        mechanism: pay-as-bid
        children: [{{ name: Load, load: {{ annual_kwh: 3000 }} }}]
      - name: Flat
        fee: {{ percent: 1 }}
        children: [{{ name: Load, load: {{ annual_kwh: 3000 }} }}]
      - name: Shop
        fee: {{ constant: 0.01 }}
        children: [{{ name: Load, load: {{ annual_kwh: 3000 }} }}]
"
    );
    assert_eq!(
        errors(&text),
        vec![
            "areas[1].children[0].mechanism: `pay-as-bid` below a `curve` area: every area below \
             a `curve` area clears by curves with it (remove `mechanism` here, or move this area \
             out of the curve region)",
            "areas[1].children[1].fee: a percentage fee inside a `curve` region: bid curves are \
             shifted by a constant fee; use `constant`",
        ]
    );
    let valid = format!(
        "
market: {{ mechanism: pay-as-bid }}
areas:
  - {GRID}
  - name: Street
    mechanism: curve
    fee: {{ percent: 2 }}
    children:
      - name: Shop
        fee: {{ constant: 0.01 }}
        children: [{{ name: Load, load: {{ annual_kwh: 3000 }} }}]
"
    );
    let topology = load_str(&valid, &data_dir(), &LoadOptions::default()).expect("valid");
    assert!(
        topology.areas[1..]
            .iter()
            .all(|area| area.mechanism == nestgrid_types::Mechanism::Curve)
    );
}
