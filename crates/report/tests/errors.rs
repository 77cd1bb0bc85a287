//! A missing or malformed results file is an error naming the file and line, never a panic.

mod common;

use common::simulate;
use nestgrid_report::ReportError;

fn results() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    simulate(nestgrid_grid::DEFAULT_SCENARIO, dir.path(), false);
    dir
}

#[test]
fn missing_folder_is_named() {
    let error = nestgrid_report::write(std::path::Path::new("/nonexistent/results")).unwrap_err();
    assert!(matches!(error, ReportError::MissingFolder { .. }));
    assert!(
        error.to_string().contains("/nonexistent/results"),
        "{error}"
    );
}

#[test]
fn missing_files_are_named() {
    let dir = results();
    for file in ["kpis.json", "area_slots.csv", "storage.csv", "bills.csv"] {
        let saved = std::fs::read(dir.path().join(file)).unwrap();
        std::fs::remove_file(dir.path().join(file)).unwrap();
        let error = nestgrid_report::write(dir.path()).unwrap_err();
        assert!(error.to_string().contains(file), "{file}: {error}");
        std::fs::write(dir.path().join(file), saved).unwrap();
    }
    nestgrid_report::write(dir.path()).expect("restored folder works");
}

#[test]
fn malformed_csv_names_file_and_line() {
    let dir = results();
    let path = dir.path().join("area_slots.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Column 16 is market_energy_kwh, which the report reads.
    let mut fields: Vec<&str> = lines[5].split(',').collect();
    assert_eq!(lines[0].split(',').nth(16), Some("market_energy_kwh"));
    fields[16] = "zero";
    lines[5] = fields.join(",");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let error = nestgrid_report::write(dir.path()).unwrap_err().to_string();
    assert!(error.contains("area_slots.csv, line 6"), "{error}");
    assert!(error.contains("zero"), "{error}");

    // A row with too few fields.
    lines[5] = "0,x".to_owned();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let error = nestgrid_report::write(dir.path()).unwrap_err().to_string();
    assert!(error.contains("area_slots.csv, line 6"), "{error}");
}

#[test]
fn malformed_json_names_file_and_line() {
    let dir = results();
    let path = dir.path().join("kpis.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"currency\"", "currency", 1)).unwrap();
    let error = nestgrid_report::write(dir.path()).unwrap_err().to_string();
    assert!(error.contains("kpis.json, line 3"), "{error}");
    std::fs::write(&path, "{}").unwrap();
    let error = nestgrid_report::write(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("kpis.json") && error.contains("currency"),
        "{error}"
    );
}

#[test]
fn missing_column_names_it() {
    let dir = results();
    let bills = dir.path().join("bills.csv");
    let text = std::fs::read_to_string(&bills)
        .unwrap()
        .replacen("total_eur", "total", 1);
    std::fs::write(&bills, text).unwrap();
    let error = nestgrid_report::write(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("bills.csv, line 1") && error.contains("total_eur"),
        "{error}"
    );
}
