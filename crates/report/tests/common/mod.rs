//! Shared helpers: simulate a scenario into a results folder and read the report's data back.

#![allow(dead_code)]

use nestgrid_grid::{LoadOptions, load_str};
use nestgrid_sim::Simulation;
use nestgrid_sim::output::{CsvRecorder, write_bills, write_kpis};
use std::path::Path;

/// Simulates the scenario `yaml` into `dir`, as `nestgrid run` does (without the report).
pub fn simulate(yaml: &str, dir: &Path, with_trades: bool) {
    let topology = load_str(yaml, Path::new("."), &LoadOptions::default()).expect("scenario loads");
    let simulation = Simulation::new(&topology).expect("simulation builds");
    let mut csv = CsvRecorder::create(dir, &topology, with_trades).expect("results folder");
    let outcome = simulation
        .run(&mut csv, &mut |_| {})
        .expect("simulation runs");
    csv.finish().expect("csv files finish");
    write_bills(dir, &topology, &outcome).expect("bills written");
    write_kpis(dir, &topology, &outcome).expect("kpis written");
}

/// The JSON blob embedded in a report.
pub fn embedded(html: &str) -> serde_json::Value {
    let start_tag = "<script type=\"application/json\" id=\"nestgrid-data\">";
    let start = html.find(start_tag).expect("data element") + start_tag.len();
    let end = start
        + html[start..]
            .find("</script>")
            .expect("end of data element");
    serde_json::from_str(&html[start..end]).expect("embedded data is JSON")
}
