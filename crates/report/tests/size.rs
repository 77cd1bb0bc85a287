//! The report of the 1,000-house benchmark scenario (one day) stays under 5 MB.

mod common;

use nestgrid_types::Mechanism;

#[test]
fn benchmark_report_of_1000_houses_is_under_5_mb() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let yaml = nestgrid_grid::benchmark_scenario(1000, 10, Mechanism::PayAsBid);
    common::simulate(&yaml, dir.path(), false);
    let path = nestgrid_report::write(dir.path()).expect("report is written");
    let bytes = std::fs::metadata(&path).expect("report exists").len();
    let data = common::embedded(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(data["areas"].as_array().unwrap().len(), 1011);
    assert_eq!(data["assets"].as_array().unwrap().len(), 3001);
    assert_eq!(data["times"].as_array().unwrap().len(), 96);
    eprintln!("1,000-house report: {bytes} bytes");
    assert!(bytes < 5_000_000, "report is {bytes} bytes");
}
