//! `nestgrid run` writes report.html next to the results; `nestgrid report DIR` regenerates it.

use std::path::Path;
use std::process::{Command, Output};

fn nestgrid(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the nestgrid binary starts")
}

#[test]
fn run_writes_the_report_and_report_regenerates_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = nestgrid(&["run", "--out", "out"], dir.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kpis.json, report.html"), "{stdout}");
    let report = dir.path().join("out/report.html");
    let first = std::fs::read_to_string(&report).expect("run writes report.html");
    assert!(first.contains("id=\"nestgrid-data\""));

    std::fs::remove_file(&report).unwrap();
    let output = nestgrid(&["report", "out"], dir.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("report.html"));
    let second = std::fs::read_to_string(&report).expect("report writes report.html");
    assert_eq!(
        first, second,
        "the report depends only on the results files"
    );
}

#[test]
fn run_without_trades_still_writes_the_report() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = nestgrid(
        &["run", "--out", "out", "--no-trades", "--quiet"],
        dir.path(),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!dir.path().join("out/trades.csv").exists());
    assert!(dir.path().join("out/report.html").exists());
}

#[test]
fn report_of_a_missing_folder_names_it() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = nestgrid(&["report", "no-such-results"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("no-such-results"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn report_of_a_folder_without_results_names_the_file() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let output = nestgrid(&["report", "empty"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("kpis.json"), "{stderr}");
}
