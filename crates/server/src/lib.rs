//! The live exchange: the simulator's markets on the wall clock, served over a signed HTTP +
//! JSON API with a WebSocket event stream (`nestgrid serve`).
//!
//! - [`exchange`]: the market thread that owns the engine, steps it on the clock and applies
//!   commands in durable batches; the state readers see.
//! - [`api`]: routes, signatures, roles, limits, problem documents, the event stream.
//! - [`auth`]: the request signature scheme (also used by clients).
//! - [`signatures`]: the thread that checks request signatures in batches.
//! - [`store`]: the database every accepted request is written to before it is answered.
//! - [`client`]: a signing HTTP client (agents, load generator, tests).
//! - [`agent`]: the reference agent that trades one asset with the simulator's strategies.
//!
//! A data folder holds one exchange: its database, its timeline (so a restart continues the
//! same slots) and, when none were given, the keys of its operator, DSO and auditor.

pub mod agent;
pub mod api;
pub mod auth;
pub mod client;
pub mod exchange;
pub mod loadgen;
pub mod model;
pub mod signatures;
pub mod store;

use crate::exchange::{Limits, Market, Shared};
use crate::model::{ParticipantRecord, Role, Timeline};
use crate::store::{Put, Store};
use axum::serve::ListenerExt;
use nestgrid_grid::{LoadOptions, Topology};
use nestgrid_ledger::{KeyFile, Keypair, PublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Why the exchange could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The scenario is not valid.
    #[error("{0}")]
    Scenario(String),
    /// The data folder could not be used.
    #[error("{0}")]
    Data(String),
    /// The address could not be bound.
    #[error("listening on {address}: {message}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        message: String,
    },
}

/// The keys with authority over a new exchange (`--authorities FILE`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorities {
    /// Registers participants.
    pub operator: String,
    /// Distribution system operators (meter readings, grid events).
    #[serde(default)]
    pub dso: Vec<String>,
    /// Read everything.
    #[serde(default)]
    pub auditors: Vec<String>,
}

/// How to run an exchange.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The scenario's text.
    pub scenario: String,
    /// Where its profile files are looked up.
    pub base_dir: PathBuf,
    /// The data folder.
    pub data_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// Scenario seconds per wall-clock second.
    pub speed: f64,
    /// Limits.
    pub limits: Limits,
    /// Keys with authority (first start only); generated into `DATA/keys` when absent.
    pub authorities: Option<Authorities>,
    /// Settle every closed slot on a ledger in `DATA/ledger` (one embedded validator).
    pub settle: bool,
}

/// A running exchange.
pub struct Server {
    /// The address it listens on.
    pub address: SocketAddr,
    /// Its shared state.
    pub shared: Arc<Shared>,
    market: Option<std::thread::JoinHandle<()>>,
    http: Option<tokio::task::JoinHandle<()>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// Keys written to the data folder at first start: (role, file).
    pub generated_keys: Vec<(Role, PathBuf)>,
}

/// Connections that may wait to be accepted: agents that reconnect together (after a restart
/// of the exchange, say) come in bursts of thousands.
const BACKLOG: u32 = 4_096;

/// A listening socket on `address` with room for [`BACKLOG`] connections waiting.
fn listen(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As the standard library's listeners: a restarted exchange can bind at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(BACKLOG)
}

fn data_error(path: &Path, error: impl std::fmt::Display) -> ServeError {
    ServeError::Data(format!("{}: {error}", path.display()))
}

/// Slots per wall-clock slot below which an exchange starts at the beginning of a trading
/// window rather than in the middle of the current one.
fn timeline_for(now_ms: i64, slot_seconds: u32, tick_seconds: u32, speed: f64) -> Timeline {
    let slot_ms = slot_seconds as i64 * 1_000;
    // The next slot boundary of the wall clock: slots line up with real quarter hours.
    let start_ms = (now_ms.div_euclid(slot_ms) + 1) * slot_ms;
    // At real speed the scenario time is the real time; an accelerated exchange starts at the
    // beginning of slot 0's trading window so that demonstrations and tests see whole slots.
    let sim_ms = if speed == 1.0 {
        now_ms
    } else {
        start_ms - slot_ms
    };
    Timeline {
        wall_ms: now_ms,
        sim_ms,
        speed,
        start_ms,
        slot_ms,
        tick_ms: tick_seconds as i64 * 1_000,
    }
}

fn load(config: &ServeConfig, start_ms: Option<i64>) -> Result<Topology, ServeError> {
    let start = start_ms
        .map(|ms| {
            jiff::Timestamp::from_millisecond(ms).map_err(|e| ServeError::Data(e.to_string()))
        })
        .transpose()?;
    nestgrid_grid::load_str(
        &config.scenario,
        &config.base_dir,
        &LoadOptions {
            start,
            ..LoadOptions::default()
        },
    )
    .map_err(|error| ServeError::Scenario(error.to_string()))
}

impl Server {
    /// Starts the exchange: opens (or creates) the data folder, restores its state, starts
    /// the market thread and listens. Must be called inside a Tokio runtime.
    pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
        if !(config.speed.is_finite() && config.speed > 0.0 && config.speed <= 100_000.0) {
            return Err(ServeError::Scenario(format!(
                "--speed {} must be greater than 0 and at most 100000",
                config.speed
            )));
        }
        let store =
            Store::open(&config.data_dir).map_err(|error| ServeError::Data(error.to_string()))?;
        let loaded = store
            .load()
            .map_err(|error| ServeError::Data(error.to_string()))?;
        let fingerprint = hex::encode(Sha256::digest(config.scenario.as_bytes()));
        let mut generated_keys = Vec::new();
        let (topology, timeline, loaded) = match loaded.timeline {
            Some(timeline) => {
                if loaded.scenario.as_deref() != Some(fingerprint.as_str()) {
                    return Err(ServeError::Data(format!(
                        "{} holds an exchange of another scenario; use a new --data folder",
                        config.data_dir.display()
                    )));
                }
                if timeline.speed != config.speed {
                    return Err(ServeError::Data(format!(
                        "{} holds an exchange running at --speed {}; restart it with that speed",
                        config.data_dir.display(),
                        timeline.speed
                    )));
                }
                (load(&config, Some(timeline.start_ms))?, timeline, loaded)
            }
            None => {
                let probe = load(&config, None)?;
                let timeline = timeline_for(
                    auth::now_ms(),
                    probe.settings.slot_seconds,
                    probe.settings.tick_seconds,
                    config.speed,
                );
                let topology = load(&config, Some(timeline.start_ms))?;
                let (records, keys) = authorities(&config)?;
                generated_keys = keys;
                let mut puts = vec![
                    Put::Meta(
                        "timeline",
                        serde_json::to_vec(&timeline).expect("a timeline serializes"),
                    ),
                    Put::Meta("scenario", fingerprint.into_bytes()),
                ];
                puts.extend(records.into_iter().map(Put::Participant));
                store
                    .write(&puts)
                    .map_err(|error| ServeError::Data(error.to_string()))?;
                let loaded = store
                    .load()
                    .map_err(|error| ServeError::Data(error.to_string()))?;
                (topology, timeline, loaded)
            }
        };
        let topology: &'static Topology = Box::leak(Box::new(topology));
        let ledger = if config.settle {
            let secret = ledger_secret(&config.data_dir)?;
            let dir = config.data_dir.join("ledger");
            Some(
                nestgrid_settle::LiveLedger::open(topology, &dir, &secret)
                    .map_err(|error| data_error(&dir, error))?,
            )
        } else {
            None
        };
        let (shared, market) =
            Market::start(topology, timeline, config.limits, store, loaded, ledger)
                .map_err(ServeError::Scenario)?;
        let listener = listen(config.listen).map_err(|error| ServeError::Listen {
            address: config.listen,
            message: error.to_string(),
        })?;
        let address = listener.local_addr().map_err(|error| ServeError::Listen {
            address: config.listen,
            message: error.to_string(),
        })?;
        let market = std::thread::Builder::new()
            .name("market".into())
            .spawn(move || market.run())
            .map_err(|error| ServeError::Data(error.to_string()))?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(shared.clone());
        let http = tokio::spawn(async move {
            // Answers go out at once: no waiting to fill a packet (Nagle's algorithm).
            let listener = listener.tap_io(|stream| {
                let _ = stream.set_nodelay(true);
            });
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                eprintln!("nestgrid serve: {error}");
            }
        });
        Ok(Server {
            address,
            shared,
            market: Some(market),
            http: Some(http),
            shutdown: Some(shutdown),
            generated_keys,
        })
    }

    /// The base URL (`http://address`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops accepting requests, lets those in flight finish, stops the signature and market
    /// threads.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(http) = self.http.take() {
            let _ = http.await;
        }
        self.shared.signatures.stop().await;
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(market) = self.market.take() {
            let _ = tokio::task::spawn_blocking(move || market.join()).await;
        }
    }
}

/// Key files written at the first start: (role, file).
type KeyFiles = Vec<(Role, PathBuf)>;

/// The authority records of a new exchange: from `--authorities`, or fresh keys written to
/// `DATA/keys/{operator,dso,auditor}.key`.
fn authorities(config: &ServeConfig) -> Result<(Vec<ParticipantRecord>, KeyFiles), ServeError> {
    let now = auth::now_ms();
    let record = |key: &str, name: &str, role: Role| -> Result<ParticipantRecord, ServeError> {
        let key = PublicKey::from_hex(key)
            .map_err(|error| ServeError::Data(format!("authorities: {name}: {error}")))?;
        Ok(ParticipantRecord {
            public_key: key.to_hex(),
            name: name.to_string(),
            role,
            assets: Vec::new(),
            registered_ms: now,
        })
    };
    if let Some(given) = &config.authorities {
        let mut records = vec![record(&given.operator, "operator", Role::Operator)?];
        for (index, key) in given.dso.iter().enumerate() {
            records.push(record(key, &format!("dso {index}"), Role::Dso)?);
        }
        for (index, key) in given.auditors.iter().enumerate() {
            records.push(record(key, &format!("auditor {index}"), Role::Auditor)?);
        }
        return Ok((records, Vec::new()));
    }
    let dir = config.data_dir.join("keys");
    std::fs::create_dir_all(&dir).map_err(|error| data_error(&dir, error))?;
    let mut records = Vec::new();
    let mut files = Vec::new();
    for (name, role) in [
        ("operator", Role::Operator),
        ("dso", Role::Dso),
        ("auditor", Role::Auditor),
    ] {
        let keypair = Keypair::from_secret(random_secret());
        let path = dir.join(format!("{name}.key"));
        write_key_file(&path, &keypair).map_err(|error| data_error(&path, error))?;
        records.push(record(&keypair.public().to_hex(), name, role)?);
        files.push((role, path));
    }
    Ok((records, files))
}

/// The secret the ledger's keys derive from: `DATA/ledger.secret`, created (readable by its
/// owner only) at the first start with `--settle`.
fn ledger_secret(data: &Path) -> Result<[u8; 32], ServeError> {
    let path = data.join("ledger.secret");
    if !path.exists() {
        let secret = random_secret();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        options
            .open(&path)
            .and_then(|mut file| file.write_all(hex::encode(secret).as_bytes()))
            .map_err(|error| data_error(&path, error))?;
    }
    let text = std::fs::read_to_string(&path).map_err(|error| data_error(&path, error))?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut secret)
        .map_err(|_| data_error(&path, "not 64 hex digits"))?;
    Ok(secret)
}

/// 32 random bytes for a secret key.
pub fn random_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the operating system's random source works");
    secret
}

/// Writes a key file readable by its owner only; refuses to overwrite one.
pub fn write_key_file(path: &Path, keypair: &Keypair) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    let text = serde_json::to_string_pretty(&KeyFile::new(keypair)).expect("a key file serializes");
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// Reads a key file.
pub fn read_key_file(path: &Path) -> Result<Keypair, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|error| format!("{}: not a key file: {error}", path.display()))?;
    file.keypair()
        .map_err(|error| format!("{}: {error}", path.display()))
}
