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
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    let address = socket_address(&config.server)?;
    for (number, (keypair, asset)) in agents.into_iter().enumerate() {
        let mut connection = Connection::new(address.clone());
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
                })
                .to_string();
                // The key is this run's own, so a counter is a nonce it never reuses.
                let nonce = format!("agent{number:04x}-{count:08x}");
                count += 1;
                let answer = connection
                    .post(&keypair, "/v1/tenders", body.as_bytes(), &nonce)
                    .await;
                let took = sent.elapsed();
                if sent < measure_from {
                    continue;
                }
                match answer {
                    Ok(201) => latencies.push(took.as_micros() as u32),
                    Ok(status) => {
                        *refused.entry(status).or_default() += 1;
                        if status == 429 || status == 503 {
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

/// The `host:port` of an `http://` URL.
fn socket_address(server: &str) -> Result<String, String> {
    let rest = server.strip_prefix("http://").ok_or_else(|| {
        format!("--server {server}: the load generator speaks plain HTTP; give an http:// URL")
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("--server {server}: no host in the URL"));
    }
    Ok(if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    })
}

/// One agent's keep-alive HTTP/1.1 connection, written and read directly. The load generator
/// shares the machine with the exchange, so its own cost per request is kept small: it signs
/// every request and speaks real HTTP, but skips a general client's connection pool, its
/// per-request tasks and parsing the answer's body (only the status counts here).
struct Connection {
    address: String,
    stream: Option<TcpStream>,
    request: Vec<u8>,
    answer: Vec<u8>,
}

impl Connection {
    fn new(address: String) -> Connection {
        Connection {
            address,
            stream: None,
            request: Vec::with_capacity(1024),
            answer: Vec::with_capacity(4096),
        }
    }

    /// Sends a signed `POST path` with a JSON `body` and returns the answer's status. Any
    /// failure drops the connection (the next request opens a new one).
    async fn post(
        &mut self,
        keypair: &Keypair,
        path: &str,
        body: &[u8],
        nonce: &str,
    ) -> Result<u16, String> {
        let result = self.exchange(keypair, path, body, nonce).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        keypair: &Keypair,
        path: &str,
        body: &[u8],
        nonce: &str,
    ) -> Result<u16, String> {
        use std::io::Write;
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|error| format!("connecting to {}: {error}", self.address))?;
            stream
                .set_nodelay(true)
                .map_err(|error| error.to_string())?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        self.request.clear();
        let headers = crate::auth::sign(keypair, "POST", path, body, crate::auth::now_ms(), nonce);
        write!(
            self.request,
            "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.address,
            body.len()
        )
        .map_err(|error| error.to_string())?;
        for (name, value) in headers {
            write!(self.request, "{name}: {value}\r\n").map_err(|error| error.to_string())?;
        }
        self.request.extend_from_slice(b"\r\n");
        self.request.extend_from_slice(body);
        stream
            .write_all(&self.request)
            .await
            .map_err(|error| error.to_string())?;
        // Read until the head is complete, then the rest of the body.
        self.answer.clear();
        let head_end = loop {
            if let Some(at) = find(&self.answer, b"\r\n\r\n") {
                break at + 4;
            }
            if self.answer.len() > 64 * 1024 {
                return Err("an answer's head is over 64 KiB".into());
            }
            read_more(stream, &mut self.answer).await?;
        };
        let head = std::str::from_utf8(&self.answer[..head_end])
            .map_err(|_| "an answer's head is not UTF-8".to_string())?;
        let status = parse_status(head)?;
        let mut length = None;
        let mut close = false;
        for line in head.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("bad content-length {value:?}"))?,
                );
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err("a chunked answer (the exchange sends a content-length)".into());
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            }
        }
        let length = length.ok_or("an answer without content-length")?;
        while self.answer.len() < head_end + length {
            read_more(stream, &mut self.answer).await?;
        }
        if self.answer.len() > head_end + length {
            return Err("the exchange sent more than one answer".into());
        }
        if close {
            self.stream = None;
        }
        Ok(status)
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let read = stream
        .read(&mut chunk)
        .await
        .map_err(|error| error.to_string())?;
    if read == 0 {
        return Err("the exchange closed the connection".into());
    }
    buffer.extend_from_slice(&chunk[..read]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The status of an answer's head (`HTTP/1.1 201 Created ...`).
fn parse_status(head: &str) -> Result<u16, String> {
    let line = head.split("\r\n").next().unwrap_or_default();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next().map(str::parse::<u16>)) {
        (Some(version), Some(Ok(status))) if version.starts_with("HTTP/1.") => Ok(status),
        _ => Err(format!("not an HTTP/1.1 status line: {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_status_lines_are_read() {
        assert_eq!(
            socket_address("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(socket_address("http://localhost/").unwrap(), "localhost:80");
        assert!(socket_address("https://example.org").is_err());
        assert!(socket_address("http://").is_err());
        assert_eq!(parse_status("HTTP/1.1 201 Created\r\n\r\n").unwrap(), 201);
        assert!(parse_status("SSH-2.0\r\n\r\n").is_err());
        assert_eq!(find(b"ab\r\n\r\nc", b"\r\n\r\n"), Some(2));
    }
}
