//! `--help` works and names what a newcomer needs; the scenario example in the README is a
//! valid scenario.

use std::path::Path;
use std::process::Command;

fn help(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(args)
        .output()
        .expect("the nestgrid binary starts");
    assert!(output.status.success(), "nestgrid {args:?} failed");
    assert!(
        output.stderr.is_empty(),
        "nestgrid {args:?} wrote to stderr"
    );
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

#[test]
fn top_level_help_lists_the_subcommands() {
    let text = help(&["--help"]);
    for word in ["run", "validate", "scenario", "bench", "docs/results.md"] {
        assert!(
            text.contains(word),
            "`nestgrid --help` does not mention {word}:\n{text}"
        );
    }
}

#[test]
fn run_help_lists_the_flags() {
    let text = help(&["run", "--help"]);
    for word in [
        "[SCENARIO]",
        "--out",
        "[default: results]",
        "--days",
        "--seed",
        "--mechanism",
        "pay-as-offer, pay-as-bid, pay-as-clear",
        "--no-trades",
        "--quiet",
    ] {
        assert!(
            text.contains(word),
            "`nestgrid run --help` does not mention {word}:\n{text}"
        );
    }
}

#[test]
fn bench_help_lists_the_flags() {
    let text = help(&["bench", "--help"]);
    for word in ["--houses", "--houses-per-street", "--mechanism"] {
        assert!(
            text.contains(word),
            "`nestgrid bench --help` does not mention {word}:\n{text}"
        );
    }
}

#[test]
fn readme_scenario_example_validates() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md at the workspace root");
    let start = text
        .find("```yaml\n")
        .expect("a YAML example in the README")
        + "```yaml\n".len();
    let length = text[start..]
        .find("```")
        .expect("the end of the YAML example");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("example.yaml");
    std::fs::write(&file, &text[start..start + length]).expect("writing the example");
    let output = Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .arg("validate")
        .arg(&file)
        .output()
        .expect("the nestgrid binary starts");
    assert!(
        output.status.success(),
        "the README's example is not valid: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `nestgrid node` runs the validator in a build with the `node` feature; in one without it
/// (the default), it says how to get one instead of failing obscurely.
#[test]
fn node_says_how_to_get_the_validator_or_runs_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(["node", "--help"])
        .output()
        .expect("the nestgrid binary starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if cfg!(feature = "node") {
        assert!(output.status.success(), "{stderr}");
        assert!(stdout.contains("Usage: nestgrid node"), "{stdout}");
        assert!(stdout.contains("testnet"), "{stdout}");
    } else {
        assert_eq!(output.status.code(), Some(2), "{stdout}{stderr}");
        for words in ["--features node", "nestgrid-node --config FILE"] {
            assert!(stderr.contains(words), "no `{words}` in: {stderr}");
        }
    }
}
