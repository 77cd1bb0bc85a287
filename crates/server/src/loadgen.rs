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
use std::collections::{BTreeMap, HashSet, VecDeque};
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
    /// Sign the requests before the clock starts (as agents on their own machines would, so
    /// that the machine's cores measure the exchange and not the agents' signing). Each is
    /// still signed over its own timestamp and nonce; the run must then end inside the
    /// exchange's 30-second timestamp window.
    pub presign: bool,
    /// Keep every measured request in [`LoadReport::trace`].
    pub trace: bool,
}

/// One measured request (with [`LoadConfig::trace`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// When it was due (paced) or sent, milliseconds after measuring started.
    pub sent_ms: f64,
    /// Milliseconds from then to the answer.
    pub latency_ms: f64,
    /// The answer's status; 0 for no answer.
    pub status: u16,
}

/// Requests signed ahead per agent and second of the run, with `presign` and no rate: twice
/// what an agent sends at 20,000 tenders per second from 1,000 agents. An agent that uses
/// them up signs the rest as it goes (counted in [`LoadReport::signed_during_run`]).
pub const PRESIGNED_PER_AGENT_SECOND: f64 = 40.0;

/// The longest `warmup + seconds` with `presign`: the oldest request must still be inside
/// the exchange's 30-second window when it is sent, after the signing itself.
pub const PRESIGNED_RUN_SECONDS: f64 = 20.0;

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
    /// Whether requests were signed before the clock started.
    pub presigned: bool,
    /// With `presign`: requests signed while the clock ran, because an agent used up those
    /// signed ahead.
    pub signed_during_run: u64,
    /// How busy the whole machine was while measuring (Linux only: read from `/proc/stat`).
    pub machine: Option<MachineLoad>,
    /// Every measured request in the order they were due, with [`LoadConfig::trace`].
    #[serde(skip)]
    pub trace: Vec<Sample>,
}

/// The whole machine's processor time while measuring: what the exchange, the load generator
/// and anything else running used, and what a virtual machine's host took for others. A run
/// with much `steal` measured a machine that was not all its own.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MachineLoad {
    /// Processors the kernel counts.
    pub cores: usize,
    /// Share of all processors' time spent working (user, system, interrupts), percent.
    pub busy_percent: f64,
    /// Share taken by the hypervisor for other machines ("steal"), percent.
    pub steal_percent: f64,
}

/// The machine's processor times from `/proc/stat`'s `cpu` line: working, idle (with
/// waiting for input and output) and stolen, in clock ticks; `None` where there is no such
/// file.
fn processor_times() -> Option<(u64, u64, u64)> {
    parse_processor_times(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_processor_times(text: &str) -> Option<(u64, u64, u64)> {
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest time is counted in user).
    let field = |index: usize| fields.get(index).copied().unwrap_or(0);
    let busy = field(0) + field(1) + field(2) + field(5) + field(6);
    Some((busy, field(3) + field(4), field(7)))
}

/// The machine's load between two [`processor_times`] readings.
fn machine_load(before: (u64, u64, u64), after: (u64, u64, u64)) -> Option<MachineLoad> {
    let busy = after.0.checked_sub(before.0)? as f64;
    let idle = after.1.checked_sub(before.1)? as f64;
    let steal = after.2.checked_sub(before.2)? as f64;
    let total = busy + idle + steal;
    if total <= 0.0 {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Some(MachineLoad {
        cores,
        busy_percent: 100.0 * busy / total,
        steal_percent: 100.0 * steal / total,
    })
}

/// Registers `config.agents` fresh keys (one external asset each) with the operator's key,
/// then runs the load and reports.
pub async fn run(config: LoadConfig, operator: Keypair) -> Result<LoadReport, String> {
    if config.presign && config.warmup + config.seconds > PRESIGNED_RUN_SECONDS {
        return Err(format!(
            "--presign: the exchange refuses requests signed more than 30 s before they \
             arrive, so --warmup plus --seconds may be at most {PRESIGNED_RUN_SECONDS}"
        ));
    }
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
    let address = socket_address(&config.server)?;
    let signing_address = address.clone();
    // What agent `number` sends as its `count`-th tender, signed now.
    let tender = std::sync::Arc::new(
        move |keypair: &Keypair, asset: &str, number: usize, count: u32| -> Vec<u8> {
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
            signed_post(
                &signing_address,
                keypair,
                "/v1/tenders",
                body.as_bytes(),
                &nonce,
            )
        },
    );
    let mut presigned: Vec<VecDeque<Vec<u8>>> = vec![VecDeque::new(); agents.len()];
    if config.presign {
        let per_agent = match config.rate {
            Some(rate) => rate / config.agents as f64,
            None => PRESIGNED_PER_AGENT_SECOND,
        };
        let per_agent = (per_agent * (config.warmup + config.seconds)).ceil() as u32 + 2;
        // Signed on every core, one chunk of agents each.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let chunk = agents.len().div_ceil(cores).max(1);
        let mut signers = Vec::new();
        for (index, group) in agents.chunks(chunk).enumerate() {
            let group = group.to_vec();
            let tender = tender.clone();
            signers.push(tokio::task::spawn_blocking(move || {
                group
                    .iter()
                    .enumerate()
                    .map(|(offset, (keypair, asset))| {
                        let number = index * chunk + offset;
                        (0..per_agent)
                            .map(|k| tender(keypair, asset, number, number as u32 + k))
                            .collect::<VecDeque<Vec<u8>>>()
                    })
                    .collect::<Vec<_>>()
            }));
        }
        let mut at = 0;
        for signer in signers {
            for requests in signer.await.map_err(|error| error.to_string())? {
                presigned[at] = requests;
                at += 1;
            }
        }
    }
    // Every agent connects before the clock starts, one after another (a burst of a thousand
    // connections would overflow the exchange's queue of connections waiting to be accepted):
    // agents keep their connection open, so connecting is not part of what is measured.
    let mut connections = Vec::with_capacity(agents.len());
    for _ in 0..agents.len() {
        let mut connection = Connection::new(address.clone());
        connection.connect().await?;
        connections.push(connection);
    }
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
    let config_trace = config.trace;
    // The machine's processor time over the measured seconds only.
    let machine = tokio::spawn(async move {
        tokio::time::sleep_until(measure_from.into()).await;
        let before = processor_times()?;
        tokio::time::sleep_until(end.into()).await;
        machine_load(before, processor_times()?)
    });
    let agents = agents
        .into_iter()
        .zip(connections)
        .enumerate()
        .zip(presigned);
    for ((number, ((keypair, asset), mut connection)), mut ready) in agents {
        let tender = tender.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut trace = Vec::new();
            let mut refused: BTreeMap<u16, u64> = BTreeMap::new();
            let mut failed = 0u64;
            let mut signed_during_run = 0u64;
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
                let request = match ready.pop_front() {
                    Some(request) => request,
                    None => {
                        signed_during_run += 1;
                        tender(&keypair, &asset, number, count)
                    }
                };
                count += 1;
                let answer = connection.send(&request).await;
                let took = sent.elapsed();
                if sent < measure_from {
                    continue;
                }
                if config_trace {
                    trace.push(Sample {
                        sent_ms: (sent - measure_from).as_secs_f64() * 1_000.0,
                        latency_ms: took.as_secs_f64() * 1_000.0,
                        status: *answer.as_ref().unwrap_or(&0),
                    });
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
            (latencies, refused, failed, signed_during_run, trace)
        }));
    }
    let mut latencies = Vec::new();
    let mut refused: BTreeMap<u16, u64> = BTreeMap::new();
    let mut failed = 0;
    let mut signed_during_run = 0;
    let mut trace = Vec::new();
    for task in tasks {
        let (mine, theirs, lost, signed, samples) =
            task.await.map_err(|error| error.to_string())?;
        trace.extend(samples);
        signed_during_run += signed;
        latencies.extend(mine);
        for (status, count) in theirs {
            *refused.entry(status).or_default() += count;
        }
        failed += lost;
    }
    let machine = machine.await.ok().flatten();
    latencies.sort_unstable();
    trace.sort_by(|a, b| a.sent_ms.total_cmp(&b.sent_ms));
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
        presigned: config.presign,
        signed_during_run: if config.presign { signed_during_run } else { 0 },
        machine,
        trace,
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
    answer: Vec<u8>,
}

impl Connection {
    fn new(address: String) -> Connection {
        Connection {
            address,
            stream: None,
            answer: Vec::with_capacity(4096),
        }
    }

    /// Sends `request` (a whole HTTP/1.1 request, as [`signed_post`] writes it) and returns
    /// the answer's status. Any failure drops the connection (the next request opens a new
    /// one).
    async fn send(&mut self, request: &[u8]) -> Result<u16, String> {
        let result = self.exchange(request).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    /// Opens the connection if it is not open.
    async fn connect(&mut self) -> Result<(), String> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.address)
                .await
                .map_err(|error| format!("connecting to {}: {error}", self.address))?;
            stream
                .set_nodelay(true)
                .map_err(|error| error.to_string())?;
            self.stream = Some(stream);
        }
        Ok(())
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<u16, String> {
        self.connect().await?;
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(request)
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

/// A whole HTTP/1.1 `POST path` to `address` with a JSON `body`, signed by `keypair` now
/// with `nonce`.
fn signed_post(address: &str, keypair: &Keypair, path: &str, body: &[u8], nonce: &str) -> Vec<u8> {
    use std::io::Write;
    let headers = crate::auth::sign(keypair, "POST", path, body, crate::auth::now_ms(), nonce);
    let mut request = Vec::with_capacity(512 + body.len());
    write!(
        request,
        "POST {path} HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    )
    .expect("writing to a vector cannot fail");
    for (name, value) in headers {
        write!(request, "{name}: {value}\r\n").expect("writing to a vector cannot fail");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    request
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
    memchr::memmem::find(haystack, needle)
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

    #[test]
    fn the_machines_load_is_read_from_proc_stat() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let before = "cpu  100 0 50 800 10 5 5 30 0 0\ncpu0 50 0 25 400 5 2 3 15 0 0\n";
        let after = "cpu  250 10 90 1000 20 10 10 110 0 0\nintr 1 2 3\n";
        let before = parse_processor_times(before).unwrap();
        let after = parse_processor_times(after).unwrap();
        assert_eq!(before, (160, 810, 30));
        assert_eq!(after, (370, 1020, 110));
        let load = machine_load(before, after).unwrap();
        // 210 busy, 210 idle, 80 stolen of 500 ticks.
        assert!((load.busy_percent - 42.0).abs() < 1e-9);
        assert!((load.steal_percent - 16.0).abs() < 1e-9);
        assert!(load.cores >= 1);
        // No time passed, or the counters went back: nothing to say.
        assert_eq!(machine_load(after, after), None);
        assert_eq!(machine_load(after, before), None);
        assert_eq!(parse_processor_times("intr 1 2\n"), None);
        assert_eq!(parse_processor_times("cpu  1 x 3\n"), None);
    }
}
