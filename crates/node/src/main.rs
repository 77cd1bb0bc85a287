//! `nestgrid-node`: runs one ledger validator, or writes a local test network.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => {
            nestgrid_node::process::run(&config).map_err(|error| error.to_string())
        }
        Command::Testnet {
            validators,
            dir,
            base_port,
        } => nestgrid_node::process::write_testnet(&dir, validators, base_port)
            .map(|configs| {
                for config in configs {
                    println!("{}", config.display());
                }
            })
            .map_err(|error| error.to_string()),
        Command::Verify { dir, url } => {
            let report = match (dir, url) {
                (Some(dir), _) => {
                    nestgrid_ledger::verify::verify_dir(&dir, &nestgrid_node::ConsensusCertificates)
                        .map_err(|error| format!("{} does not verify: {error}", dir.display()))
                }
                (None, Some(url)) => nestgrid_node::loadgen::verify_url(&url)
                    .map_err(|error| format!("{url} does not verify: {error}")),
                (None, None) => Err("give --dir or --url".to_string()),
            };
            match report {
                Ok(report) => {
                    println!(
                        "{}: {} blocks, {} transactions verified; head {}",
                        report.chain_id, report.height, report.transactions, report.head
                    );
                    println!("Every hash link, certificate, signature and balance agrees.");
                    Ok(())
                }
                Err(error) => Err(error),
            }
        }
        Command::Loadgen {
            dir,
            transactions,
            accounts,
            batch,
        } => {
            return match nestgrid_node::loadgen::run(
                &dir,
                transactions,
                accounts.max(1),
                batch.max(1),
            ) {
                Ok(report) => {
                    println!(
                        "{} transactions committed in {:.2} s over {} blocks: {:.0} tx/s; commit latency p50 {:.0} ms, p99 {:.0} ms",
                        report.committed,
                        report.seconds,
                        report.blocks,
                        report.per_second,
                        report.latency_p50_ms,
                        report.latency_p99_ms
                    );
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::exit(1);
                }
            };
        }
    };
    if let Err(error) = result {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
