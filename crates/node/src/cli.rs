//! The command line of the validator: `nestgrid-node`, and `nestgrid node` in a `nestgrid`
//! built with the `node` feature. Both run [`main_from`].

use crate::process::reads;
use clap::{Parser, Subcommand};
use nestgrid_ledger::PublicKey;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// A nestgrid ledger validator (docs/ledger.md, "Validator processes").
#[derive(Parser)]
#[command(name = "nestgrid-node", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the validator described by a configuration file until the process is stopped.
    Run {
        /// The validator's configuration file (JSON).
        #[arg(long)]
        config: PathBuf,
    },
    /// Write keys, a genesis file and one configuration file per validator for a network on
    /// this machine's loopback.
    Testnet {
        /// Number of validators (n = 3f + 1 tolerates f Byzantine ones).
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Folder to write to.
        #[arg(long)]
        dir: PathBuf,
        /// First consensus port; the HTTP APIs listen from this port plus 100.
        #[arg(long, default_value_t = 7000)]
        base_port: u16,
    },
    /// Replay a chain from its genesis and check every block, certificate, signature and
    /// balance: a stopped validator's folder, or a running validator's API.
    Verify {
        /// A validator's ledger folder (DATA_DIR/ledger).
        #[arg(long, conflicts_with = "url", required_unless_present = "url")]
        dir: Option<PathBuf>,
        /// A running validator's API, such as http://127.0.0.1:7100.
        #[arg(long)]
        url: Option<String>,
        /// With --url: the key file of an auditor (or a validator), which may read whole
        /// blocks; `testnet` writes auditor.key.
        #[arg(long, conflicts_with = "dir")]
        key: Option<PathBuf>,
    },
    /// Print an account, as a running validator answers it to a signed read: the key's own
    /// account, or any account for an auditor's (or a validator's) key.
    Show {
        /// A running validator's API, such as http://127.0.0.1:7100.
        #[arg(long)]
        url: String,
        /// The key file that signs the read.
        #[arg(long)]
        key: PathBuf,
        /// The account to show (64 hex digits); the key's own account if left out.
        #[arg(long)]
        account: Option<String>,
        /// Show the account's history instead (deposits, its side of every trade, deliveries,
        /// fees, settled slots), from the first block to the head.
        #[arg(long)]
        history: bool,
    },
    /// Measure committed transactions per second and commit latency of a running network
    /// written by `testnet` (docs/benchmarks.md).
    Loadgen {
        /// The folder `testnet` wrote.
        #[arg(long)]
        dir: PathBuf,
        /// Signed transactions (gateway deposits) to send.
        #[arg(long, default_value_t = 50_000)]
        transactions: usize,
        /// Accounts the deposits go to.
        #[arg(long, default_value_t = 1_000)]
        accounts: usize,
        /// Transactions per HTTP request.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Transactions per second to offer, in batches on a fixed schedule (latency then
        /// counts from each batch's scheduled time); without it, as fast as the validators
        /// take them.
        #[arg(long)]
        rate: Option<f64>,
    },
}

/// Runs the validator's command line on `args` (the first is the program's name) and returns
/// the exit status. `--config FILE` alone stands for `run --config FILE`.
pub fn main_from(args: impl IntoIterator<Item = impl Into<OsString>>) -> i32 {
    let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    if args.get(1).is_some_and(|first| {
        first == "--config" || first.to_string_lossy().starts_with("--config=")
    }) {
        args.insert(1, "run".into());
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to standard output with status 0, mistakes to standard
            // error with status 2, as clap does by itself.
            let _ = error.print();
            return error.exit_code();
        }
    };
    match execute(cli.command) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("error: {error}");
            1
        }
    }
}

fn execute(command: Command) -> Result<(), String> {
    match command {
        Command::Run { config } => crate::process::run(&config).map_err(|error| error.to_string()),
        Command::Testnet {
            validators,
            dir,
            base_port,
        } => crate::process::write_testnet(&dir, validators, base_port)
            .map(|configs| {
                for config in configs {
                    println!("{}", config.display());
                }
            })
            .map_err(|error| error.to_string()),
        Command::Verify { dir, url, key } => {
            let report = match (dir, url) {
                (Some(dir), _) => {
                    nestgrid_ledger::verify::verify_dir(&dir, &crate::ConsensusCertificates)
                        .map_err(|error| format!("{} does not verify: {error}", dir.display()))
                }
                (None, Some(url)) => key
                    .as_deref()
                    .map(reads::read_key_file)
                    .transpose()
                    .and_then(|keypair| reads::verify_url(&url, keypair)),
                (None, None) => Err("give --dir or --url".to_string()),
            };
            let report = report?;
            println!(
                "{}: {} blocks, {} transactions verified; head {}",
                report.chain_id, report.height, report.transactions, report.head
            );
            println!("Every hash link, certificate, signature and balance agrees.");
            Ok(())
        }
        Command::Show {
            url,
            key,
            account,
            history,
        } => show(&url, &key, account.as_deref(), history),
        Command::Loadgen {
            dir,
            transactions,
            accounts,
            batch,
            rate,
        } => {
            let report =
                crate::loadgen::run(&dir, transactions, accounts.max(1), batch.max(1), rate)?;
            println!(
                "{} transactions committed in {:.2} s over {} blocks: {:.0} tx/s; commit latency p50 {:.0} ms, p99 {:.0} ms",
                report.committed,
                report.seconds,
                report.blocks,
                report.per_second,
                report.latency_p50_ms,
                report.latency_p99_ms
            );
            Ok(())
        }
    }
}

/// Prints the account `account` (the key's own by default) as the validator at `url` answers
/// it to a read signed with the key in `key_file`.
fn show(url: &str, key_file: &Path, account: Option<&str>, history: bool) -> Result<(), String> {
    let keypair = reads::read_key_file(key_file)?;
    let account = match account {
        Some(text) => PublicKey::from_hex(text).map_err(|error| format!("--account: {error}"))?,
        None => keypair.public(),
    };
    let client = reads::Client::new(url, Some(keypair));
    let answer = if history {
        serde_json::Value::from(client.history(&account)?)
    } else {
        client.account(&account)?
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&answer).expect("a JSON value serializes")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_alone_stands_for_run_and_mistakes_are_status_2() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        // `--config FILE` runs the validator: a missing file is its error (status 1), not a
        // command-line mistake (status 2).
        assert_eq!(
            main_from(["nestgrid-node", "--config", missing.to_str().unwrap()]),
            1
        );
        assert_eq!(
            main_from(["nestgrid-node", &format!("--config={}", missing.display())]),
            1
        );
        assert_eq!(main_from(["nestgrid-node", "bogus"]), 2);
        assert_eq!(main_from(["nestgrid-node", "run"]), 2, "run needs --config");

        let net = dir.path().join("net");
        let net_text = net.to_str().unwrap();
        assert_eq!(
            main_from([
                "nestgrid node",
                "testnet",
                "--validators",
                "1",
                "--dir",
                net_text
            ]),
            0
        );
        assert!(net.join("validator-0.json").is_file());
        assert!(net.join("genesis.json").is_file());
    }
}
