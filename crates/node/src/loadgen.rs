//! The ledger's throughput benchmark (`nestgrid-node loadgen`): signed transactions sent over
//! HTTP to every validator of a running network, committed transactions per second and commit
//! latency measured from the client's side.
//!
//! It needs the folder `testnet` wrote: the operator's and the gateway's keys sign, and the
//! auditor's key reads the blocks.
//!
//! Workload: the operator registers `accounts` participants; then the gateway signs
//! `transactions` deposits to them, round robin, before the clock starts (signing is the
//! clients' work, not the ledger's). They are sent in batches to every validator, one sender
//! thread per validator; a full mempool (HTTP 503 or refused as full) is retried after a pause,
//! so the load adapts to what the ledger takes. A watcher follows validator 0's new blocks and
//! notes when each transaction was committed. Latency is commit time minus the time its batch
//! was first sent; throughput is the number committed over the time from the first send to the
//! last commit.

use crate::process::reads::{Client, read_key_file};
use crate::process::{NodeConfig, join_batch};
use nestgrid_ledger::{Body, Genesis, Hash, KeyFile, Keypair, Role, Transaction};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What the benchmark measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    /// Transactions committed.
    pub committed: usize,
    /// Seconds from the first send to the last commit.
    pub seconds: f64,
    /// Committed transactions per second.
    pub per_second: f64,
    /// Median commit latency (ms).
    pub latency_p50_ms: f64,
    /// 99th percentile commit latency (ms).
    pub latency_p99_ms: f64,
    /// Blocks that held the transactions.
    pub blocks: u64,
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn new_agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build(),
    )
}

fn height(agent: &ureq::Agent, api: &str) -> Option<u64> {
    let mut response = agent.get(format!("{api}/v1/head")).call().ok()?;
    let json: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().ok()?).ok()?;
    json["height"].as_u64()
}

/// Sends `batch` to `api` until every transaction in it is accepted (or refused for a reason
/// other than a full mempool).
fn send(agent: &ureq::Agent, api: &str, body: &[u8]) -> Result<(), String> {
    loop {
        let mut response = agent
            .post(format!("{api}/v1/transactions/batch"))
            .header("content-type", "application/octet-stream")
            .send(body)
            .map_err(|e| format!("{api}: {e}"))?;
        if response.status() == 503 {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let full = json["refused"]
            .as_array()
            .is_some_and(|refused| refused.iter().any(|entry| entry["full"] == true));
        if !full {
            return Ok(());
        }
        // Resending the whole batch is safe: the accepted ones come back as duplicates.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the benchmark against the network written by `testnet` into `dir`.
pub fn run(
    dir: &Path,
    transactions: usize,
    accounts: usize,
    batch: usize,
    rate: Option<f64>,
) -> Result<LoadReport, String> {
    if rate.is_some_and(|rate| !(rate > 0.0 && rate.is_finite())) {
        return Err("the rate must be a number of transactions per second above 0".into());
    }
    let genesis: Genesis = read(&dir.join("genesis.json"))?;
    let operator = read::<KeyFile>(&dir.join("operator.key"))?
        .keypair()
        .map_err(|e| e.to_string())?;
    let gateway = read::<KeyFile>(&dir.join("gateway.key"))?
        .keypair()
        .map_err(|e| e.to_string())?;
    // Whole blocks are read with the auditor's key.
    let auditor = read_key_file(&dir.join("auditor.key")).map_err(|error| {
        format!(
            "{error}: the load generator reads blocks with the auditor's key that `testnet` writes"
        )
    })?;
    let mut apis = Vec::new();
    for index in 0.. {
        let path = dir.join(format!("validator-{index}.json"));
        if !path.exists() {
            break;
        }
        let config: NodeConfig = read(&path)?;
        apis.push(format!("http://{}", config.api));
    }
    if apis.is_empty() {
        return Err(format!("{} holds no validator-N.json", dir.display()));
    }
    let agent = new_agent();
    let blocks_reader = Client::new(&apis[0], Some(auditor));
    let start_height = height(&agent, &apis[0]).ok_or("validator 0 does not answer")?;
    let sign = |keypair: &Keypair, nonce: u64, body: Body| {
        Transaction {
            chain_id: genesis.chain_id.clone(),
            signer: keypair.public(),
            nonce,
            body,
        }
        .sign(keypair)
    };
    // Nonces continue from what the chain has seen (the benchmark may run more than once):
    // the signer reads its own account.
    let next_nonce = |keypair: &Keypair| -> Result<u64, String> {
        let account = Client::new(&apis[0], Some(keypair.clone())).account(&keypair.public())?;
        Ok(account["nonce"].as_u64().unwrap_or(0) + 1)
    };
    let participants: Vec<Keypair> = (0..accounts)
        .map(|index| Keypair::derived(start_height, &format!("load account {index}")))
        .collect();
    let first_operator_nonce = next_nonce(&operator)?;
    let registrations: Vec<_> = participants
        .iter()
        .enumerate()
        .map(|(index, keypair)| {
            sign(
                &operator,
                first_operator_nonce + index as u64,
                Body::Register {
                    account: keypair.public(),
                    name: format!("load account {index}"),
                    role: Role::Participant,
                    assets: vec![],
                },
            )
        })
        .collect();
    let body = join_batch(&registrations);
    for api in &apis {
        send(&agent, api, &body)?;
    }
    let last = registrations.last().map(|tx| tx.hash());
    if let Some(last) = last {
        wait_committed(&agent, &apis[0], &last, Duration::from_secs(120))?;
    }
    let first_gateway_nonce = next_nonce(&gateway)?;
    let deposits: Vec<_> = (0..transactions)
        .map(|index| {
            sign(
                &gateway,
                first_gateway_nonce + index as u64,
                Body::Deposit {
                    account: participants[index % accounts].public(),
                    amount: 1 + (index % 1_000) as i64,
                },
            )
        })
        .collect();
    let hashes: Vec<Hash> = deposits.iter().map(|tx| tx.hash()).collect();
    let index_of: HashMap<Hash, usize> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| (*hash, i))
        .collect();
    let bodies: Vec<Vec<u8>> = deposits.chunks(batch).map(join_batch).collect();
    let sent_at: Arc<Vec<std::sync::OnceLock<Instant>>> = Arc::new(
        (0..bodies.len())
            .map(|_| std::sync::OnceLock::new())
            .collect(),
    );
    let bodies = Arc::new(bodies);
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let first_block = height(&agent, &apis[0]).unwrap_or(0) + 1;
    let mut senders = Vec::new();
    for api in apis.clone() {
        let bodies = Arc::clone(&bodies);
        let sent_at = Arc::clone(&sent_at);
        senders.push(std::thread::spawn(move || -> Result<(), String> {
            let agent = new_agent();
            for (index, body) in bodies.iter().enumerate() {
                match rate {
                    // Paced: batch `index` is due at its place in the schedule, and its
                    // latency counts from then, so a network that falls behind shows it.
                    Some(rate) => {
                        let due = started + Duration::from_secs_f64((index * batch) as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let _ = sent_at[index].set(due);
                    }
                    None => {
                        let _ = sent_at[index].set(Instant::now());
                    }
                }
                send(&agent, &api, body)?;
            }
            Ok(())
        }));
    }
    // Watch validator 0's blocks.
    let mut committed_at: Vec<Option<Instant>> = vec![None; transactions];
    let mut committed = 0usize;
    let mut next = first_block;
    let mut blocks = 0u64;
    let limit = Duration::from_secs(600);
    while committed < transactions {
        if started.elapsed() > limit {
            done.store(true, Ordering::Relaxed);
            return Err(format!(
                "only {committed} of {transactions} committed after {limit:?}"
            ));
        }
        let top = height(&agent, &apis[0]).unwrap_or(0);
        if top < next {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let now = Instant::now();
        for h in next..=top {
            let block = blocks_reader.block(h)?;
            let mut here = 0;
            for tx in &block.transactions {
                if let Some(index) = index_of.get(&tx.hash())
                    && committed_at[*index].is_none()
                {
                    committed_at[*index] = Some(now);
                    committed += 1;
                    here += 1;
                }
            }
            if here > 0 {
                blocks += 1;
            }
        }
        next = top + 1;
    }
    let finished = committed_at
        .iter()
        .flatten()
        .max()
        .copied()
        .unwrap_or(started);
    for sender in senders {
        sender
            .join()
            .map_err(|_| "a sender thread panicked".to_string())??;
    }
    let mut latencies: Vec<f64> = committed_at
        .iter()
        .enumerate()
        .filter_map(|(index, at)| {
            let sent = sent_at[index / batch].get()?;
            Some(at.as_ref()?.duration_since(*sent).as_secs_f64() * 1_000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let percentile = |p: f64| {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1]
    };
    let seconds = finished.duration_since(started).as_secs_f64();
    Ok(LoadReport {
        committed,
        seconds,
        per_second: committed as f64 / seconds.max(1e-9),
        latency_p50_ms: percentile(0.50),
        latency_p99_ms: percentile(0.99),
        blocks,
    })
}

fn wait_committed(
    agent: &ureq::Agent,
    api: &str,
    hash: &Hash,
    limit: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let mut response = agent
            .get(format!("{api}/v1/transactions/{hash}"))
            .call()
            .map_err(|e| e.to_string())?;
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if text.contains("\"committed\"") {
            return Ok(());
        }
        if start.elapsed() > limit {
            return Err(format!(
                "transaction {hash} not committed within {limit:?}: {text}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
