//! Bad input ends the command with status 1 and one message on stderr that names the place of
//! the problem — never a panic, never a results folder.

use std::path::Path;
use std::process::{Command, Output};

fn nestgrid(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the nestgrid binary starts")
}

/// Writes `files` (name, text) into a fresh folder, then checks that both `validate` and `run`
/// of `scenario` fail with status 1 and a stderr naming `expected`.
fn fails_with(files: &[(&str, &str)], scenario: &str, expected: &str) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("writing a test file");
    }
    for args in [
        vec!["validate", scenario],
        vec!["run", scenario, "--out", "out"],
    ] {
        let output = nestgrid(&args, dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            stderr.starts_with("error: "),
            "{args:?}: stderr does not start with `error: `: {stderr}"
        );
        assert!(
            stderr.contains(expected),
            "{args:?}: stderr does not name `{expected}`: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}: wrote to stdout");
        assert!(
            !dir.path().join("out").exists(),
            "{args:?}: a failed run created its results folder"
        );
    }
}

#[test]
fn unknown_field() {
    fails_with(
        &[(
            "s.yaml",
            "areas:\n  - name: Roof\n    pv: { capacity_kw: 4, colour: blue }\n",
        )],
        "s.yaml",
        "scenario s.yaml is not valid: areas[0].pv.colour: unknown field `colour`, expected one of",
    );
}

#[test]
fn negative_capacity() {
    fails_with(
        &[(
            "s.yaml",
            "areas:\n  - name: Street\n    children:\n      - { name: Roof, pv: { capacity_kw: -5 } }\n",
        )],
        "s.yaml",
        "areas[0].children[0].pv.capacity_kw: must be greater than 0",
    );
}

#[test]
fn empty_tree() {
    fails_with(
        &[("s.yaml", "name: Nothing\nareas: []\n")],
        "s.yaml",
        "areas: the scenario needs at least one area or asset",
    );
}

#[test]
fn profile_file_with_a_bad_row() {
    fails_with(
        &[
            (
                "house.csv",
                "time,value\n00:00,180\n06:30,lots\n18:00,950\n",
            ),
            (
                "s.yaml",
                "areas:\n  - { name: Load, load: { profile: house.csv } }\n",
            ),
        ],
        "s.yaml",
        "areas[0].load.profile: house.csv:3: value `lots` is not a number",
    );
}

#[test]
fn cycle_of_templates() {
    fails_with(
        &[(
            "s.yaml",
            "templates:\n  a: { use: b }\n  b: { use: a }\nareas:\n  - { name: House, use: a }\n",
        )],
        "s.yaml",
        "templates.b.use: cycle of `use`: a -> b -> a",
    );
}

#[test]
fn missing_scenario_file() {
    fails_with(
        &[],
        "missing.yaml",
        "missing.yaml: cannot read the scenario (",
    );
}

#[test]
fn missing_profile_file() {
    fails_with(
        &[(
            "s.yaml",
            "areas:\n  - { name: Load, load: { profile: gone.csv } }\n",
        )],
        "s.yaml",
        "areas[0].load.profile: gone.csv: cannot read (",
    );
}

#[test]
fn several_problems_are_listed_together() {
    let text =
        "simulation: { tick_length: 7s }\nareas:\n  - { name: Roof, pv: { capacity_kw: 0 } }\n";
    fails_with(
        &[("s.yaml", text)],
        "s.yaml",
        "simulation.tick_length: 7s does not divide slot_length 15m evenly\n\
         areas[0].pv.capacity_kw: must be greater than 0",
    );
}

#[test]
fn zero_days_on_the_command_line() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = nestgrid(&["run", "--days", "0", "--out", "out"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--days: must be greater than 0"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn unknown_mechanism_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let output = nestgrid(&["run", "--mechanism", "pay-as-you-go"], dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Command-line mistakes are clap's usage errors: status 2.
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "unknown mechanism `pay-as-you-go`; expected one of pay-as-offer, pay-as-bid, pay-as-clear"
        ),
        "{stderr}"
    );
    assert!(!dir.path().join("results").exists());
}
