//! The `nestgrid` command: parses arguments and calls the library crates.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use nestgrid_grid::{LoadOptions, Topology};
use nestgrid_sim::Simulation;
use nestgrid_sim::output::{CsvRecorder, summary_table, write_bills, write_kpis};
use nestgrid_types::Mechanism;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// mimalloc: the exchange allocates per request on every core, where it is several times
/// cheaper than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench;
mod clear;
mod exchange;
mod import;
mod ledger;

/// nestgrid — nested local energy markets (the D3A model): every area of the grid runs its own
/// market and trades what it cannot balance inside with the area above it.
#[derive(Parser)]
#[command(
    name = "nestgrid",
    version,
    after_help = "\
Start here:
  nestgrid run                      simulate the built-in village (30 houses) for one day
  nestgrid scenario > my.yaml       write the built-in scenario as a starting point
  nestgrid validate my.yaml         check a scenario and describe it
  nestgrid run my.yaml --out out    simulate it; results go to out/
  nestgrid bench                    time 1,000 houses for one day with each mechanism
  nestgrid serve --speed 60         serve the built-in exchange live (docs/exchange.md)

Scenario format: docs/scenario-reference.md; results columns: docs/results.md"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate a scenario and write trades, per-area records, bills and KPIs.
    Run {
        /// Scenario file (YAML), or a gsy-e setup file (JSON, imported first). Without it, the
        /// built-in village scenario runs.
        scenario: Option<PathBuf>,
        /// Folder for the results (created if missing; files in it are replaced).
        #[arg(long, default_value = "results")]
        out: PathBuf,
        /// Simulate this many days instead of the scenario's duration.
        #[arg(long)]
        days: Option<u32>,
        /// Random seed instead of the scenario's.
        #[arg(long)]
        seed: Option<u64>,
        /// Clearing mechanism for every area, overriding the scenario
        /// (pay-as-offer, pay-as-bid, pay-as-clear, huang, trade-reduction, curve).
        #[arg(long, value_parser = parse_mechanism)]
        mechanism: Option<Mechanism>,
        /// Do not write trades.csv (large for big scenarios; an old one in --out is removed);
        /// everything else is written.
        #[arg(long)]
        no_trades: bool,
        /// With a gsy-e setup file: leave out nodes that cannot be imported (with a warning)
        /// instead of failing.
        #[arg(long)]
        lenient: bool,
        /// No progress bar and no summary table.
        #[arg(long, short)]
        quiet: bool,
        /// Settle every trade and delivery on a ledger in OUT/ledger (one embedded validator)
        /// and check that every account ends with its bill (docs/ledger.md).
        #[arg(long)]
        settle: bool,
        /// With --settle: settle on this running validator's API instead of OUT/ledger
        /// (such as http://127.0.0.1:7100); repeat it for every validator of the set.
        #[arg(long = "ledger", value_name = "URL", requires_all = ["settle", "keys"])]
        ledger: Vec<String>,
        /// With --ledger: the folder with the chain's operator.key, gateway.key, market.key,
        /// meter.key and auditor.key (as `nestgrid-node testnet` writes them).
        #[arg(long, value_name = "DIR", requires = "ledger")]
        keys: Option<PathBuf>,
    },
    /// Check a scenario file and describe what it expands to.
    Validate {
        /// Scenario file (YAML).
        scenario: PathBuf,
    },
    /// Print the built-in default scenario (a commented starting point for your own).
    Scenario,
    /// Time one simulated day of N houses (load, PV, battery each) in S streets, per mechanism.
    Bench(bench::BenchArgs),
    /// Clear one order book (JSON or CSV) with a mechanism and print the trades as JSON.
    Clear(clear::ClearArgs),
    /// Convert a gsy-e setup file (JSON) to a nestgrid scenario (docs/gsy-e.md).
    ImportGsy(import::ImportArgs),
    /// Write DIR/report.html, a self-contained HTML report of a results folder (docs/report.md).
    Report {
        /// Results folder written by `nestgrid run`.
        dir: PathBuf,
    },
    /// Verify or read a settlement ledger (docs/ledger.md).
    Ledger(ledger::LedgerArgs),
    /// Write a new ed25519 key file.
    Keygen(ledger::KeygenArgs),
    /// Serve a scenario's markets live on the wall clock over a signed HTTP API
    /// (docs/exchange.md).
    Serve(exchange::ServeArgs),
    /// Register a key with a running exchange (signed with the operator's key).
    Register(exchange::RegisterArgs),
    /// Trade one external asset of a running exchange with the simulator's strategy for it.
    Agent(exchange::AgentArgs),
    /// Load a running exchange with many agents placing tenders; report rate and latency.
    Loadgen(exchange::LoadgenArgs),
    /// Run a ledger validator: `nestgrid node --config FILE`, or any command of `nestgrid-node`
    /// (`nestgrid node --help`). Needs a build with the `node` feature (docs/ledger.md).
    #[command(disable_help_flag = true)]
    Node {
        /// The validator's arguments, as `nestgrid-node` takes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
}

/// `nestgrid node ARGS`: the validator's command line, in this process.
#[cfg(feature = "node")]
fn node(args: Vec<std::ffi::OsString>) -> ! {
    let argv = std::iter::once(std::ffi::OsString::from("nestgrid node")).chain(args);
    std::process::exit(nestgrid_node::cli::main_from(argv))
}

/// `nestgrid node ARGS` in a build without the validator: says how to get one.
#[cfg(not(feature = "node"))]
fn node(_args: Vec<std::ffi::OsString>) -> ! {
    eprintln!(
        "error: this nestgrid was built without the ledger validator, which needs the consensus \
         library (a longer build). Build it with `cargo build --release -p nestgrid-cli \
         --features node`, or use the separate validator binary: `cargo build --release -p \
         nestgrid-node` and `target/release/nestgrid-node --config FILE`."
    );
    std::process::exit(2)
}

/// A mechanism by name (any of `Mechanism::CLEARING`).
fn parse_mechanism(text: &str) -> Result<Mechanism, String> {
    Mechanism::from_name(text).ok_or_else(|| {
        let names: Vec<&str> = Mechanism::CLEARING
            .iter()
            .map(|mechanism| mechanism.name())
            .collect();
        format!(
            "unknown mechanism `{text}`; expected one of {}",
            names.join(", ")
        )
    })
}

fn main() {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`nestgrid clear book.json | head`) instead of failing on the broken pipe.
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread starts; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            scenario,
            out,
            days,
            seed,
            mechanism,
            no_trades,
            lenient,
            quiet,
            settle,
            ledger,
            keys,
        } => run(
            scenario.as_deref(),
            &out,
            LoadOptions {
                days,
                seed,
                start: None,
            },
            mechanism,
            RunFlags {
                no_trades,
                lenient,
                quiet,
                settle,
                remote: keys.map(|keys| Remote { urls: ledger, keys }),
            },
        ),
        Command::Validate { scenario } => validate(&scenario),
        Command::Scenario => {
            print!("{}", nestgrid_grid::DEFAULT_SCENARIO);
            Ok(())
        }
        Command::Bench(args) => bench::run(args),
        Command::Clear(args) => clear::run(args),
        Command::ImportGsy(args) => import::run(args),
        Command::Report { dir } => nestgrid_report::write(&dir)
            .map(|path| println!("Report in {}", path.display()))
            .map_err(anyhow::Error::from),
        Command::Ledger(args) => ledger::run(args),
        Command::Keygen(args) => ledger::keygen(args),
        Command::Serve(args) => exchange::serve(args),
        Command::Agent(args) => exchange::agent(args),
        Command::Register(args) => exchange::register(args),
        Command::Loadgen(args) => exchange::loadgen(args),
        Command::Node { args } => node(args),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

/// Loads a scenario file, or the built-in default when none is given.
fn load(scenario: Option<&Path>, options: &LoadOptions) -> Result<Topology> {
    match scenario {
        Some(path) => nestgrid_grid::load_file(path, options)
            .map_err(|error| anyhow::anyhow!("{error}"))
            .with_context(|| format!("scenario {} is not valid", path.display())),
        None => nestgrid_grid::load_str(nestgrid_grid::DEFAULT_SCENARIO, Path::new("."), options)
            .map_err(|error| anyhow::anyhow!("{error}"))
            .context("the built-in scenario is not valid"),
    }
}

/// The switches of `nestgrid run`.
struct RunFlags {
    no_trades: bool,
    lenient: bool,
    quiet: bool,
    settle: bool,
    /// `--ledger` and `--keys`: settle on a running validator set.
    remote: Option<Remote>,
}

/// A running validator set to settle on.
struct Remote {
    urls: Vec<String>,
    keys: PathBuf,
}

fn run(
    scenario: Option<&Path>,
    out: &Path,
    options: LoadOptions,
    mechanism: Option<Mechanism>,
    flags: RunFlags,
) -> Result<()> {
    let RunFlags {
        no_trades,
        lenient,
        quiet,
        settle,
        remote,
    } = flags;
    if scenario.is_none() && !quiet {
        eprintln!(
            "No scenario given: running the built-in village (3 streets, 30 houses). \
             `nestgrid scenario` prints it."
        );
    }
    let mut topology = match scenario {
        Some(path) if import::is_gsy(path) => import::load_gsy(path, out, &options, lenient)?,
        _ => load(scenario, &options)?,
    };
    if let Some(mechanism) = mechanism {
        for area in &mut topology.areas {
            area.mechanism = mechanism;
        }
    }
    // A validator set is checked before the run: its keys, that it answers, and its genesis.
    let remote = remote
        .map(|remote| -> Result<_> {
            let keys = nestgrid_settle::remote::AuthorityKeys::read(&remote.keys)?;
            let validators = nestgrid_settle::remote::Validators::connect(&remote.urls)?;
            nestgrid_settle::remote::check_genesis(
                validators.genesis(),
                &keys,
                &topology.settings.currency,
            )?;
            Ok((remote, keys))
        })
        .transpose()?;
    let started = Instant::now();
    let simulation = Simulation::new(&topology).map_err(|error| anyhow::anyhow!("{error}"))?;
    let slots = topology.settings.slot_count as u64;
    // The bar appears only once a run has taken more than a moment.
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(slots),
        indicatif::ProgressDrawTarget::hidden(),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} slots, {eta} left",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut shown = quiet;
    let mut progress = |done: u32| {
        if !shown && started.elapsed() > std::time::Duration::from_millis(500) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown = true;
        }
        bar.set_position(done as u64);
    };
    let mut csv = CsvRecorder::create(out, &topology, !no_trades)
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let (outcome, collected) = if settle {
        let mut collector = nestgrid_settle::Collector::new(&mut csv);
        let outcome = simulation
            .run(&mut collector, &mut progress)
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        (outcome, Some(collector.finish()?))
    } else {
        let outcome = simulation
            .run(&mut csv, &mut progress)
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        (outcome, None)
    };
    bar.finish_and_clear();
    csv.finish().map_err(|error| anyhow::anyhow!("{error}"))?;
    write_bills(out, &topology, &outcome).map_err(|error| anyhow::anyhow!("{error}"))?;
    write_kpis(out, &topology, &outcome).map_err(|error| anyhow::anyhow!("{error}"))?;
    nestgrid_report::write(out)?;
    if !quiet {
        println!(
            "{}: {} areas, {} assets, {} slots, {} matches in {:.2} s",
            topology.settings.name,
            topology.areas.len(),
            topology.assets.len(),
            outcome.slots,
            outcome.matches,
            started.elapsed().as_secs_f64()
        );
        println!();
        print!("{}", summary_table(&topology, &outcome));
        println!();
        let trades = if no_trades { "" } else { "trades.csv, " };
        println!(
            "Results in {}/: {trades}area_slots.csv, storage.csv, bills.csv, kpis.json, report.html",
            out.display()
        );
    }
    if let Some(collected) = collected {
        match remote {
            Some((remote, keys)) => {
                settle_remote(&topology, &outcome, &collected, &remote, &keys, quiet)?;
            }
            None => settle_run(&topology, &outcome, &collected, out, quiet)?,
        }
    }
    Ok(())
}

/// Settles a finished run on a new ledger in `out/ledger` and checks it against the bills.
fn settle_run(
    topology: &Topology,
    outcome: &nestgrid_sim::Outcome,
    collected: &nestgrid_settle::Collected,
    out: &Path,
    quiet: bool,
) -> Result<()> {
    let dir = out.join("ledger");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("removing the old ledger in {}", dir.display()))?;
    }
    let started = Instant::now();
    let settlement = nestgrid_settle::settle(topology, collected, &dir)
        .context("settling the run on the ledger")?;
    let accounts = nestgrid_settle::compare(topology, outcome, &settlement)
        .map_err(|error| anyhow::anyhow!("the ledger does not agree with bills.csv: {error}"))?;
    if !quiet {
        println!(
            "Settled on the ledger in {}/: {} blocks, {} transactions, {} trades in {:.2} s; \
             all {accounts} accounts equal their bills. Check it with `nestgrid ledger verify {}`.",
            dir.display(),
            settlement.height,
            settlement.transactions,
            settlement.trades,
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    Ok(())
}

/// Settles a finished run on a running validator set and checks it against the bills.
fn settle_remote(
    topology: &Topology,
    outcome: &nestgrid_sim::Outcome,
    collected: &nestgrid_settle::Collected,
    remote: &Remote,
    keys: &nestgrid_settle::remote::AuthorityKeys,
    quiet: bool,
) -> Result<()> {
    let started = Instant::now();
    let settlement =
        nestgrid_settle::remote::settle_remote(topology, collected, &remote.urls, keys)
            .context("settling the run on the validators")?;
    let accounts = nestgrid_settle::compare_nets(
        topology,
        outcome,
        &settlement.asset_net,
        &settlement.area_net,
    )
    .map_err(|error| anyhow::anyhow!("the ledger does not agree with bills.csv: {error}"))?;
    if !quiet {
        println!(
            "Settled on chain {} ({} validator{}): {} transactions, {} trades committed by height \
             {} in {:.2} s; all {accounts} accounts equal their bills. Check it with \
             `nestgrid-node verify --url {} --key {}`.",
            settlement.chain_id,
            settlement.validators.len(),
            if settlement.validators.len() == 1 {
                ""
            } else {
                "s"
            },
            settlement.transactions,
            settlement.trades,
            settlement.height,
            started.elapsed().as_secs_f64(),
            settlement.validators[0],
            remote.keys.join("auditor.key").display()
        );
    }
    Ok(())
}

fn validate(scenario: &Path) -> Result<()> {
    let topology = if import::is_gsy(scenario) {
        import::check_gsy(scenario)?
    } else {
        load(Some(scenario), &LoadOptions::default())?
    };
    // Building the simulation also checks that every default rate can be derived.
    Simulation::new(&topology).map_err(|error| anyhow::anyhow!("{error}"))?;
    print!("{}", nestgrid_grid::summary(&topology));
    println!("{} is valid.", scenario.display());
    Ok(())
}
