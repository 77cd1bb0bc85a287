//! `nestgrid serve`, `nestgrid agent` and `nestgrid loadgen`: the live exchange, its reference
//! agent and its load generator (docs/exchange.md).

use anyhow::{Context, Result, bail};
use clap::Args;
use nestgrid_server::exchange::Limits;
use nestgrid_server::{Authorities, ServeConfig, Server, read_key_file};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Arguments of `nestgrid serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Scenario file (YAML). Without it, the built-in exchange example is served (one street
    /// with two external assets).
    scenario: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Scenario seconds per wall-clock second (60: a 15-minute slot every 15 s).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// The exchange's folder: its database, timeline and keys. Restarting with the same
    /// folder continues the same exchange.
    #[arg(long, default_value = "exchange")]
    data: PathBuf,
    /// JSON file naming the operator's, DSO's and auditors' public keys (first start only);
    /// without it, keys are generated into DATA/keys.
    #[arg(long)]
    authorities: Option<PathBuf>,
    /// Tenders one key may place for one slot.
    #[arg(long, default_value_t = Limits::default().tenders_per_slot)]
    tenders_per_slot: u32,
    /// Requests one key may make per second.
    #[arg(long, default_value_t = Limits::default().requests_per_second)]
    requests_per_second: u32,
    /// Largest request body, bytes.
    #[arg(long, default_value_t = Limits::default().body_bytes)]
    body_limit: usize,
    /// Settle every closed slot on a ledger in DATA/ledger (one embedded validator), one slot
    /// after it closed so that the DSO can post meter readings first.
    #[arg(long)]
    settle: bool,
}

/// Arguments of `nestgrid agent`.
#[derive(Args)]
pub struct AgentArgs {
    /// The agent's key file (`nestgrid keygen`); the exchange's operator registers its public
    /// key with the asset.
    #[arg(long)]
    key: PathBuf,
    /// The asset's full path (as listed by GET /v1/assets), e.g. `Exchange/Street/Miller
    /// house/Heat pump`.
    #[arg(long)]
    asset: String,
    /// The exchange's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The scenario the exchange serves (the built-in exchange example without it).
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Stop after this many slots.
    #[arg(long)]
    slots: Option<u32>,
}

/// Arguments of `nestgrid register`.
#[derive(Args)]
pub struct RegisterArgs {
    /// The key file of the key to register (or give --public-key).
    #[arg(
        long,
        conflicts_with = "public_key",
        required_unless_present = "public_key"
    )]
    key: Option<PathBuf>,
    /// The public key to register (64 hex digits).
    #[arg(long)]
    public_key: Option<String>,
    /// Assets the key trades (full paths; repeat for several). They must be `external`.
    #[arg(long)]
    asset: Vec<String>,
    /// A name for people.
    #[arg(long, default_value = "participant")]
    name: String,
    /// participant, dso or auditor.
    #[arg(long, default_value = "participant")]
    role: String,
    /// The operator's key file (written to DATA/keys/operator.key at the first start).
    #[arg(long, default_value = "exchange/keys/operator.key")]
    operator_key: PathBuf,
    /// The exchange's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
}

/// Arguments of `nestgrid loadgen`.
#[derive(Args)]
pub struct LoadgenArgs {
    /// The exchange's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// The operator's key file (it registers one key per agent).
    #[arg(long)]
    operator_key: PathBuf,
    /// Number of agents; the scenario needs as many unregistered external assets.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Tenders per second to offer in total (paced); without it, each agent sends as soon as
    /// its last tender was answered.
    #[arg(long)]
    rate: Option<f64>,
    /// Sign every request before the clock starts, as agents on their own machines would, so
    /// that the cores measure the exchange rather than the agents' signing (each request keeps
    /// its own timestamp and nonce; --warmup plus --seconds at most 20)
    #[arg(long)]
    presign: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write every measured request to this CSV file: when it was due (ms after measuring
    /// began), its latency (ms) and the answer's status (0: no answer)
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
}

fn scenario_text(path: &Option<PathBuf>) -> Result<(String, PathBuf)> {
    match path {
        None => Ok((
            nestgrid_grid::DEFAULT_EXCHANGE_SCENARIO.to_string(),
            PathBuf::from("."),
        )),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the scenario {}", path.display()))?;
            let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            Ok((text, base))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn serve(args: ServeArgs) -> Result<()> {
    let (scenario, base_dir) = scenario_text(&args.scenario)?;
    let authorities = match &args.authorities {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let parsed: Authorities = serde_json::from_str(&text)
                .with_context(|| format!("{}: not an authorities file", path.display()))?;
            Some(parsed)
        }
    };
    let config = ServeConfig {
        scenario,
        base_dir,
        data_dir: args.data.clone(),
        listen: args.listen,
        speed: args.speed,
        limits: Limits {
            tenders_per_slot: args.tenders_per_slot,
            requests_per_second: args.requests_per_second,
            body_bytes: args.body_limit,
            ..Limits::default()
        },
        authorities,
        settle: args.settle,
    };
    runtime()?.block_on(async move {
        let server = Server::start(config).await?;
        let clock = &server.shared.timeline;
        let settings = &server.shared.topology.settings;
        println!(
            "nestgrid exchange `{}` listening on {}",
            settings.name,
            server.url()
        );
        println!(
            "  {} slots of {} s, first delivered from {} (scenario time), speed ×{}",
            settings.slot_count,
            settings.slot_seconds,
            jiff::Timestamp::from_millisecond(clock.start_ms)
                .map(|time| time.to_string())
                .unwrap_or_default(),
            clock.speed
        );
        println!("  data in {}", args.data.display());
        {
            let state = server.shared.read();
            if server.generated_keys.is_empty() && state.clock.closed > 0 {
                println!(
                    "  continuing the exchange in this folder: {} of {} slots closed",
                    state.clock.closed, settings.slot_count
                );
            }
            if state.clock.finished {
                println!(
                    "  its last slot has closed: it answers reads but takes no tenders; start a new exchange with another --data folder"
                );
            }
        }
        if args.settle {
            println!(
                "  settling on the ledger in {}",
                args.data.join("ledger").display()
            );
        }
        for (role, path) in &server.generated_keys {
            println!("  {} key written to {}", role.name(), path.display());
        }
        println!(
            "  dashboard {0}/  API docs {0}/docs  OpenAPI {0}/openapi.json",
            server.url()
        );
        wait_for_signal().await;
        println!("nestgrid exchange: shutting down");
        server.stop().await;
        anyhow::Ok(())
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).expect("signal handlers install");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn agent(args: AgentArgs) -> Result<()> {
    let keypair = read_key_file(&args.key).map_err(anyhow::Error::msg)?;
    let (scenario, base_dir) = scenario_text(&args.scenario)?;
    let config = nestgrid_server::agent::AgentConfig {
        server: args.server,
        scenario,
        base_dir,
        asset: args.asset,
        slots: args.slots,
    };
    runtime()?.block_on(async move {
        let mut log = |line: String| println!("{line}");
        tokio::select! {
            result = nestgrid_server::agent::run(config, keypair, &mut log) => {
                result.map_err(anyhow::Error::msg)
            }
            _ = wait_for_signal() => Ok(()),
        }
    })
}

pub fn loadgen(args: LoadgenArgs) -> Result<()> {
    let operator = read_key_file(&args.operator_key).map_err(anyhow::Error::msg)?;
    if args.agents == 0 || args.seconds <= 0.0 || args.rate.is_some_and(|rate| rate <= 0.0) {
        bail!("--agents, --seconds and --rate must be greater than 0");
    }
    let config = nestgrid_server::loadgen::LoadConfig {
        server: args.server,
        agents: args.agents,
        seconds: args.seconds,
        warmup: args.warmup,
        rate: args.rate,
        presign: args.presign,
        trace: args.trace.is_some(),
    };
    let report = runtime()?
        .block_on(nestgrid_server::loadgen::run(config, operator))
        .map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.trace {
        let mut text = String::from("sent_ms,latency_ms,status\n");
        for sample in &report.trace {
            text.push_str(&format!(
                "{:.3},{:.3},{}\n",
                sample.sent_ms, sample.latency_ms, sample.status
            ));
        }
        std::fs::write(path, text)
            .with_context(|| format!("writing the trace to {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if let Some(rate) = report.offered_per_second {
            println!("offered {rate:.0} tenders per second");
        }
        if report.presigned {
            println!(
                "requests signed before the clock started; {} signed during the run",
                report.signed_during_run
            );
        }
        println!(
            "{} agents, {} s: {} tenders accepted, {:.0} per second; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            report.agents,
            report.seconds,
            report.accepted,
            report.per_second,
            report.p50_ms,
            report.p99_ms,
            report.max_ms
        );
        if !report.refused.is_empty() || report.failed > 0 {
            println!(
                "  refused by status: {:?}; no answer: {}",
                report.refused, report.failed
            );
        }
        if let Some(machine) = report.machine {
            println!(
                "machine while measuring: {} cores, {:.0} % busy, {:.1} % taken by the host (steal)",
                machine.cores, machine.busy_percent, machine.steal_percent
            );
        }
    }
    Ok(())
}

pub fn register(args: RegisterArgs) -> Result<()> {
    let operator = read_key_file(&args.operator_key).map_err(anyhow::Error::msg)?;
    let public_key = match (&args.key, &args.public_key) {
        (Some(path), _) => read_key_file(path)
            .map_err(anyhow::Error::msg)?
            .public()
            .to_hex(),
        (None, Some(key)) => key.clone(),
        (None, None) => bail!("give --key FILE or --public-key HEX"),
    };
    let body = serde_json::json!({
        "public_key": public_key,
        "name": args.name,
        "role": args.role,
        "assets": args.asset,
    });
    let answer = runtime()?.block_on(async {
        nestgrid_server::client::Client::new(&args.server, Some(operator))
            .send("POST", "/v1/participants", Some(&body))
            .await
    })?;
    if answer.status != 201 {
        bail!(
            "the exchange refused the registration ({} {}): {}",
            answer.status,
            answer.body["title"].as_str().unwrap_or(""),
            answer.body["detail"].as_str().unwrap_or("")
        );
    }
    println!(
        "registered {} as {} for {}",
        public_key,
        args.role,
        if args.asset.is_empty() {
            "no assets".to_string()
        } else {
            args.asset.join(", ")
        }
    );
    Ok(())
}
