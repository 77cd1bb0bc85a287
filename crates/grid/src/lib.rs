//! Scenario files → a validated, expanded [`Topology`].
//!
//! A scenario (YAML; see `docs/scenario-reference.md`) describes the grid as a tree of areas
//! and assets, with templates and `count:` to describe thousands of houses in a few lines. This
//! crate reads it in four steps:
//!
//! 1. **Parse** the YAML into a generic value (anchors and `<<` merge keys applied).
//! 2. **Plan**: resolve templates, check every field (unknown fields, ranges, limits, files) and
//!    convert it to integer units, once per *scenario node* rather than per copy. Base profiles
//!    (standard load, clear-sky PV, CSV files, constant power) are built here, once per distinct
//!    source and parameters ([`Topology::profiles`]).
//! 3. **Check limits** on the plan's expanded counts ([`nestgrid_types::limits`]) before any
//!    copy is made.
//! 4. **Expand** the plan into the arena: areas in depth-first pre-order, assets in visiting
//!    order, copies differing only in their [`ProfileUse`] (seeded scale and shift).
//!
//! Problems are collected, not thrown: [`ScenarioError`] lists each as `<path>: <message>`,
//! e.g. `areas[1].children[3].pv.capacity_kw: must be greater than 0`.
//!
//! Invariants of a loaded [`Topology`]: area 0 is the root; `areas[a].parent < a`; every area
//! appears once in `bottom_up`, after all its descendants; `a ≤ x < subtree_end[a]` exactly for
//! `x` in `a`'s subtree; paths are unique; every [`ProfileUse::profile`] indexes `profiles`, and
//! every profile has `slot_count` entries, none negative; sessions of a charger are sorted,
//! disjoint and inside the run.
//!
//! Floats appear only in physics (sun position, irradiance, the standard load shape) and in the
//! rows of CSV files; each is rounded once to whole mWh (or micro-units) at a named boundary.

pub mod topology;
pub use topology::*;

mod assets;
mod clock;
mod error;
mod ev;
mod expand;
pub mod gsy;
mod profile_file;
mod profiles;
mod scenario;
mod series;
mod solar;
mod standard_load;
mod summary;
mod values;

pub use error::{MAX_PROBLEMS, Problem, ScenarioError};
pub use summary::summary;

use nestgrid_types::Mechanism;
use std::path::Path;

/// Overrides from the command line, applied on top of the scenario file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Run length in days (replaces `simulation.days` / `simulation.duration`).
    pub days: Option<u32>,
    /// Seed (replaces `simulation.seed`).
    pub seed: Option<u64>,
    /// Start of the first slot (replaces `simulation.start`; the live exchange starts its
    /// scenario at the wall clock's next slot boundary).
    pub start: Option<jiff::Timestamp>,
}

/// The built-in example: a village of 30 houses on three streets.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/village.yaml");

/// The built-in live-exchange example: one street with two external assets.
pub const DEFAULT_EXCHANGE_SCENARIO: &str = include_str!("../scenarios/exchange.yaml");

/// Reads and expands a scenario file; relative profile paths are resolved against the file's
/// directory.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Topology, ScenarioError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| {
        ScenarioError::single(&shown, format!("cannot read the scenario ({error})"))
    })?;
    let base_dir = path.parent().unwrap_or(Path::new("."));
    load_text(&text, &shown, base_dir, options)
}

/// Reads and expands a scenario given as text; relative profile paths are resolved against
/// `base_dir`.
pub fn load_str(
    text: &str,
    base_dir: &Path,
    options: &LoadOptions,
) -> Result<Topology, ScenarioError> {
    load_text(text, "scenario", base_dir, options)
}

fn load_text(
    text: &str,
    source: &str,
    base_dir: &Path,
    options: &LoadOptions,
) -> Result<Topology, ScenarioError> {
    let plan = scenario::plan_scenario(text, source, base_dir, options)?;
    Ok(expand::expand(plan))
}

/// A benchmark scenario as YAML text: one grid connection at the root and `streets` streets of
/// `houses / streets` houses each (rounded down, at least one), every house with a load
/// (3,500 kWh a year), 5 kW of PV and a 10 kWh / 5 kW battery, `vary: 0.2`; one day of 15-minute
/// slots and 15-second ticks; `mechanism` in every market. About 30 lines whatever the size.
pub fn benchmark_scenario(houses: u32, streets: u32, mechanism: Mechanism) -> String {
    let streets = streets.max(1);
    let per_street = (houses / streets).max(1);
    format!(
        "# Benchmark: {streets} streets of {per_street} houses (nestgrid_grid::benchmark_scenario).
name: Benchmark
simulation:
  start: 2026-06-21T00:00
  time_zone: Europe/Berlin
  days: 1
  slot_length: 15m
  tick_length: 15s
  seed: 1
market:
  mechanism: {mechanism}
templates:
  house:
    vary: 0.2
    children:
      - name: Load
        load: {{ annual_kwh: 3500 }}
      - name: PV
        pv: {{ capacity_kw: 5 }}
      - name: Battery
        storage: {{ capacity_kwh: 10, max_power_kw: 5 }}
areas:
  - name: Grid connection
    grid_connection: {{ tariff: 0.30, feed_in: 0.08 }}
  - name: Street
    count: {streets}
    fee: {{ constant: 0.01 }}
    children:
      - name: House
        count: {per_street}
        use: house
",
        mechanism = mechanism.name()
    )
}
