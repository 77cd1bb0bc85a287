//! `run --settle`, `ledger verify`, `ledger show` and `keygen` from the command line.

use nestgrid_ledger::{Block, KeyFile, Store};
use std::path::Path;
use std::process::{Command, Output};

fn nestgrid(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the nestgrid binary starts")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_settled_run_verifies_and_damage_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = nestgrid(
        &["run", "--settle", "--out", "out", "--days", "1"],
        dir.path(),
    );
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("accounts equal their bills"), "{stdout}");

    let output = nestgrid(&["ledger", "verify", "out/ledger"], dir.path());
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    assert!(stdout.contains("97 blocks"), "{stdout}");
    assert!(stdout.contains("96 slots settled, 0 open"), "{stdout}");

    let output = nestgrid(
        &["ledger", "show", "out/ledger", "--block", "50"],
        dir.path(),
    );
    let (stdout, _) = text(&output);
    assert!(output.status.success());
    assert!(stdout.contains("settle_slot"), "{stdout}");
    let hash = stdout
        .lines()
        .find(|line| line.contains("record_trades"))
        .and_then(|line| line.split_whitespace().next())
        .expect("block 50 records trades")
        .to_string();
    let output = nestgrid(&["ledger", "show", "out/ledger", "--tx", &hash], dir.path());
    let (stdout, _) = text(&output);
    assert!(stdout.contains("block       50, position 0"), "{stdout}");
    assert!(stdout.contains("for slot 48"), "{stdout}");

    let output = nestgrid(
        &[
            "ledger",
            "show",
            "out/ledger",
            "--account",
            &"ab".repeat(32),
        ],
        dir.path(),
    );
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("no account abab"), "{stderr}");

    // Reorder the transactions of block 40 on disk: the header (and its stored hash) still
    // match, but the transactions no longer match the header's Merkle root.
    let ledger = dir.path().join("out/ledger");
    let mut store = Store::open(&ledger).unwrap();
    let mut block: Block = store.block(40).unwrap().unwrap();
    block.transactions.swap(0, 1);
    store.overwrite_for_tests(40, &block.to_bytes()).unwrap();
    drop(store);
    let output = nestgrid(&["ledger", "verify", "out/ledger"], dir.path());
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("block 40: its transactions do not match the header's Merkle root"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn keygen_writes_a_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = nestgrid(&["keygen", "--out", "me.key"], dir.path());
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stderr}");
    let file: KeyFile =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("me.key")).unwrap()).unwrap();
    let keypair = file.keypair().unwrap();
    assert_eq!(stdout.trim(), keypair.public().to_hex());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("me.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let output = nestgrid(&["keygen", "--out", "me.key"], dir.path());
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("it must not exist"), "{stderr}");
    // Two keys differ.
    let output = nestgrid(&["keygen", "--out", "other.key"], dir.path());
    assert_ne!(text(&output).0, stdout);
}

#[test]
fn verify_names_a_folder_without_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let output = nestgrid(&["ledger", "verify", "."], dir.path());
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("holds no ledger"), "{stderr}");
}

#[test]
fn settling_on_validators_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let url = "http://127.0.0.1:1";
    let output = nestgrid(&["run", "--settle", "--ledger", url], dir.path());
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("--keys"), "{stderr}");
    let output = nestgrid(&["run", "--ledger", url, "--keys", "keys"], dir.path());
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("--settle"), "{stderr}");

    std::fs::create_dir(dir.path().join("keys")).unwrap();
    let args = ["run", "--settle", "--ledger", url, "--keys", "keys", "-q"];
    let output = nestgrid(&args, dir.path());
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("operator.key"), "{stderr}");

    for name in ["operator", "gateway", "market", "meter", "auditor"] {
        let file = format!("keys/{name}.key");
        let output = nestgrid(&["keygen", "--out", &file], dir.path());
        assert!(output.status.success(), "{}", text(&output).1);
    }
    let output = nestgrid(&args, dir.path());
    let (_, stderr) = text(&output);
    assert!(!output.status.success());
    assert!(stderr.contains("does not answer"), "{stderr}");
    assert!(stderr.contains(url), "{stderr}");
    assert!(
        !dir.path().join("results").exists(),
        "nothing is simulated before the validators answer"
    );
}
