//! `nestgrid bench`: wall time and peak memory of one simulated day of N houses.
//!
//! Each (size, mechanism) runs in a fresh child process of this same binary, so the peak
//! resident memory it reports (`VmHWM` from `/proc/self/status`) is that run's alone.

use anyhow::{Context, Result, bail};
use nestgrid_grid::LoadOptions;
use nestgrid_sim::{NullRecorder, Simulation};
use nestgrid_types::Mechanism;
use std::path::Path;
use std::time::Instant;

/// Arguments of `nestgrid bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Houses (each with a load, a PV plant and a battery); repeat for a scaling table.
    #[arg(long, default_values_t = [1_000u32])]
    houses: Vec<u32>,
    /// Houses per street (streets = houses / this).
    #[arg(long, default_value_t = 100)]
    houses_per_street: u32,
    /// Mechanisms to time (default: all three).
    #[arg(long, value_parser = super::parse_mechanism)]
    mechanism: Vec<Mechanism>,
    /// Internal: run one configuration in this process and print one result line.
    #[arg(long, hide = true)]
    single: bool,
}

struct Measurement {
    load_seconds: f64,
    run_seconds: f64,
    peak_mib: f64,
    matches: u64,
    assets: usize,
}

fn peak_resident_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn measure(houses: u32, streets: u32, mechanism: Mechanism) -> Result<Measurement> {
    let started = Instant::now();
    let text = nestgrid_grid::benchmark_scenario(houses, streets, mechanism);
    let topology = nestgrid_grid::load_str(&text, Path::new("."), &LoadOptions::default())
        .map_err(|error| anyhow::anyhow!("{error}"))
        .context("benchmark scenario")?;
    let load_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let outcome = Simulation::new(&topology)
        .and_then(|simulation| simulation.run(&mut NullRecorder, &mut |_| {}))
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    let run_seconds = started.elapsed().as_secs_f64();
    Ok(Measurement {
        load_seconds,
        run_seconds,
        peak_mib: peak_resident_mib(),
        matches: outcome.matches,
        assets: topology.assets.len(),
    })
}

/// Runs the benchmark.
pub fn run(args: BenchArgs) -> Result<()> {
    let mechanisms = if args.mechanism.is_empty() {
        Mechanism::ALL.to_vec()
    } else {
        args.mechanism.clone()
    };
    let per_street = args.houses_per_street.max(1);
    if args.single {
        let (&houses, &mechanism) = args
            .houses
            .first()
            .zip(mechanisms.first())
            .context("--single needs --houses and --mechanism")?;
        let streets = houses.div_ceil(per_street).max(1);
        let result = measure(houses, streets, mechanism)?;
        println!(
            "{} {} {} {} {}",
            result.load_seconds, result.run_seconds, result.peak_mib, result.matches, result.assets
        );
        return Ok(());
    }
    let exe = std::env::current_exe().context("finding the nestgrid binary")?;
    println!(
        "One simulated day, 15-minute slots, 15-second ticks (96 slots x 60 ticks); houses with a load, a PV plant and a battery; {per_street} houses per street."
    );
    println!();
    println!(
        "| houses | assets | mechanism | expand s | simulate s | peak MiB | matches | µs per asset-tick |"
    );
    println!("|---:|---:|---|---:|---:|---:|---:|---:|");
    for &houses in &args.houses {
        for &mechanism in &mechanisms {
            let output = std::process::Command::new(&exe)
                .args(["bench", "--single", "--houses", &houses.to_string()])
                .args(["--houses-per-street", &per_street.to_string()])
                .args(["--mechanism", mechanism.name()])
                .output()
                .context("running a benchmark child process")?;
            if !output.status.success() {
                bail!(
                    "benchmark of {houses} houses with {} failed: {}",
                    mechanism.name(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            let text = String::from_utf8_lossy(&output.stdout);
            let fields: Vec<f64> = text
                .split_whitespace()
                .filter_map(|field| field.parse().ok())
                .collect();
            let [load, simulate, peak, matches, assets] = fields[..] else {
                bail!("unexpected benchmark output: {text}");
            };
            let asset_ticks = assets * 96.0 * 60.0;
            // Streets hold equal numbers of houses, so the simulated count may be rounded down.
            let simulated = (assets as u64).saturating_sub(1) / 3;
            println!(
                "| {simulated} | {assets} | {} | {load:.2} | {simulate:.2} | {peak:.0} | {matches} | {:.3} |",
                mechanism.name(),
                simulate * 1e6 / asset_ticks
            );
        }
    }
    Ok(())
}
