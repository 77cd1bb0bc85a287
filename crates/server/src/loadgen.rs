//! The load generator (`nestgrid loadgen`): many agents, each with its own key and its own
//! external asset, place signed tenders, and the accepted tenders per second and the latencies
//! are reported. Without a rate each agent sends its next tender as soon as the last one is
//! answered (one request in flight per agent: the most the exchange sustains, and by
//! Little's law a latency of agents ÷ throughput); with a rate the agents send on a fixed
//! schedule and the latency is that of an exchange under that load.

use crate::client::Client;
use nestgrid_ledger::Keypair;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// How to load an exchange.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The exchange's URL.
    pub server: String,
    /// Number of agents (each needs a free external asset in the scenario).
    pub agents: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Seconds of load before measuring starts.
    pub warmup: f64,
    /// Tenders per second offered in total, spread evenly over the agents; `None`: as fast
    /// as they are answered (one request in flight per agent).
    pub rate: Option<f64>,
}

/// What was measured.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// Agents.
    pub agents: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Tenders per second offered, if the load was paced.
    pub offered_per_second: Option<f64>,
    /// Tenders answered `201` while measuring.
    pub accepted: u64,
    /// Accepted tenders per second.
    pub per_second: f64,
    /// Other answers while measuring, by status.
    pub refused: BTreeMap<u16, u64>,
    /// Requests that got no answer.
    pub failed: u64,
    /// Latency percentiles of accepted tenders, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest.
    pub max_ms: f64,
}

/// Registers `config.agents` fresh keys (one external asset each) with the operator's key,
/// then runs the load and reports.
pub async fn run(config: LoadConfig, operator: Keypair) -> Result<LoadReport, String> {
    let admin = Client::new(&config.server, Some(operator));
    let assets = admin
        .send("GET", "/v1/assets", None)
        .await
        .map_err(|error| error.to_string())?;
    let participants = admin
        .send("GET", "/v1/participants", None)
        .await
        .map_err(|error| error.to_string())?;
    if participants.status != 200 {
        return Err(format!(
            "listing participants with the operator's key: {} {}",
            participants.status, participants.body["detail"]
        ));
    }
    let taken: HashSet<&str> = participants.body["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|record| record["assets"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let free: Vec<String> = assets.body["assets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|asset| asset["external"] == true)
        .filter_map(|asset| asset["path"].as_str())
        .filter(|path| !taken.contains(path))
        .map(str::to_string)
        .collect();
    if free.len() < config.agents {
        return Err(format!(
            "{} agents need as many unregistered external assets; the exchange has {}",
            config.agents,
            free.len()
        ));
    }
    // Register the agents, 64 at a time.
    let mut agents = Vec::with_capacity(config.agents);
    for chunk in free[..config.agents].chunks(64) {
        let mut pending = Vec::new();
        for asset in chunk {
            let keypair = Keypair::from_secret(crate::random_secret());
            let body = json!({
                "public_key": keypair.public().to_hex(),
                "name": format!("load agent for {asset}"),
                "assets": [asset],
            });
            let admin = admin.clone();
            pending.push(tokio::spawn(async move {
                // The operator's key has a request budget too: wait and retry when over it.
                loop {
                    let answer = admin.send("POST", "/v1/participants", Some(&body)).await;
                    match &answer {
                        Ok(answer) if answer.status == 429 || answer.status == 503 => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        _ => return (answer, keypair),
                    }
                }
            }));
        }
        for (task, asset) in pending.into_iter().zip(chunk) {
            let (answer, keypair) = task.await.map_err(|error| error.to_string())?;
            let answer = answer.map_err(|error| error.to_string())?;
            if answer.status != 201 {
                return Err(format!(
                    "registering an agent: {} {}",
                    answer.status, answer.body["detail"]
                ));
            }
            agents.push((keypair, asset.clone()));
        }
    }
    let clock = admin
        .send("GET", "/v1/clock", None)
        .await
        .map_err(|error| error.to_string())?;
    let first = clock.body["trading"]["slot"]
        .as_u64()
        .map(|slot| slot as u32 + 1)
        .unwrap_or(clock.body["slots_closed"].as_u64().unwrap_or(0) as u32);
    let slot_count = clock.body["slot_count"].as_u64().unwrap_or(96) as u32;
    if first >= slot_count {
        return Err("the exchange has no slot left to place tenders for".into());
    }
    // Tenders go to the slots ahead, round robin, so that no key reaches its tenders-per-slot
    // limit during a run.
    let spread = (slot_count - first).min(90);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(config.warmup);
    let end = measure_from + Duration::from_secs_f64(config.seconds);
    let mut tasks = Vec::with_capacity(agents.len());
    // Paced: each agent sends on its own schedule, its first send offset so that the agents'
    // requests are spread evenly over time. Latency counts from the scheduled time, so an
    // exchange that falls behind shows it.
    let interval = config
        .rate
        .map(|rate| Duration::from_secs_f64(config.agents as f64 / rate));
    let agent_count = agents.len();
    for (number, (keypair, asset)) in agents.into_iter().enumerate() {
        let client = Client::new(&config.server, Some(keypair));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut refused: BTreeMap<u16, u64> = BTreeMap::new();
            let mut failed = 0u64;
            let mut count = number as u32;
            let mut due = interval
                .map(|interval| start + interval.mul_f64(number as f64 / agent_count as f64));
            loop {
                if let Some(at) = due {
                    tokio::time::sleep_until(at.into()).await;
                }
                let sent = due.unwrap_or_else(Instant::now);
                if let (Some(at), Some(interval)) = (&mut due, interval) {
                    *at += interval;
                }
                if sent >= end {
                    break;
                }
                let body = json!({
                    "asset": asset,
                    "side": "buy",
                    "slot": first + count % spread,
                    "energy_kwh": "0.001",
                    "price": "0.01",
                });
                count += 1;
                let answer = client.send("POST", "/v1/tenders", Some(&body)).await;
                let took = sent.elapsed();
                if sent < measure_from {
                    continue;
                }
                match answer {
                    Ok(answer) if answer.status == 201 => latencies.push(took.as_micros() as u32),
                    Ok(answer) => {
                        *refused.entry(answer.status).or_default() += 1;
                        if answer.status == 429 || answer.status == 503 {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    Err(_) => failed += 1,
                }
            }
            (latencies, refused, failed)
        }));
    }
    let mut latencies = Vec::new();
    let mut refused: BTreeMap<u16, u64> = BTreeMap::new();
    let mut failed = 0;
    for task in tasks {
        let (mine, theirs, lost) = task.await.map_err(|error| error.to_string())?;
        latencies.extend(mine);
        for (status, count) in theirs {
            *refused.entry(status).or_default() += count;
        }
        failed += lost;
    }
    latencies.sort_unstable();
    let percentile = |share: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let index = ((latencies.len() as f64 * share).ceil() as usize).clamp(1, latencies.len());
        latencies[index - 1] as f64 / 1_000.0
    };
    Ok(LoadReport {
        agents: config.agents,
        seconds: config.seconds,
        offered_per_second: config.rate,
        accepted: latencies.len() as u64,
        per_second: latencies.len() as f64 / config.seconds,
        refused,
        failed,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        max_ms: percentile(1.0),
    })
}
