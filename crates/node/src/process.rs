//! A validator process: its configuration file, its HTTP API, and a local test network.
//!
//! `nestgrid-node run --config FILE` opens (or creates) the validator's ledger, starts the
//! HTTP API on its own thread and runs the consensus over TCP until killed. The ledger is
//! written before a block counts as applied, and the consensus replays what it finalized
//! while the ledger was behind, so a validator killed at any moment resumes where it was.
//!
//! HTTP API (JSON, errors as `application/problem+json`):
//!
//! | method and path | answer |
//! | --- | --- |
//! | `POST /v1/transactions` | body: a signed transaction's canonical bytes (`application/octet-stream`); `202` with its hash once it waits in the mempool, `4xx` with the result code if refused, `503` when the mempool is full |
//! | `POST /v1/transactions/batch` | body: transactions, each as a 4-byte little-endian length and its canonical bytes; `200` with the number accepted and the refused ones (position and reason) |
//! | `GET /v1/transactions/{hash}` | `pending`, `committed` (with the height), `rejected` (with the code) or `unknown` |
//! | `GET /v1/head` | height, hash and time of the last block, mempool size |
//! | `GET /v1/headers/{height}` | the block's header and its certificate's kind |
//! | `GET /v1/genesis` | the genesis file |
//! | `GET /v1/blocks/{height}` | signed, by an auditor or a validator: the block's canonical bytes |
//! | `GET /v1/blocks?from=H&count=N` | signed, as above: blocks `H` to `H + N - 1` (at most 1,000, or fewer up to the head or past 8 MiB), each as a 4-byte little-endian length and its canonical bytes |
//! | `GET /v1/accounts/{key}` | signed, by the account's own key, an auditor or a validator: balance, locked money, tokens, nonce, roles, assets |
//!
//! Signed reads are described in [`reads`].

pub mod reads;

use crate::{ConsensusCertificates, LedgerApp, Refused, Status};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nestgrid_consensus::{Config, NetworkConfig};
use nestgrid_ledger::{Genesis, Hash, KeyFile, Keypair, Ledger, PublicKey, SignedTransaction};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Largest request body the API takes (a signed transaction with a full trade batch).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// A validator's configuration file (JSON). Relative paths are relative to the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The validator's key file (`nestgrid keygen`).
    pub key_file: PathBuf,
    /// The chain's genesis file.
    pub genesis_file: PathBuf,
    /// Where the ledger and the consensus store their data.
    pub data_dir: PathBuf,
    /// Consensus (p2p) address to listen on.
    pub listen: SocketAddr,
    /// HTTP API address to listen on.
    pub api: SocketAddr,
    /// Every validator's key and consensus address.
    pub peers: Vec<Peer>,
    /// Most transactions per block.
    #[serde(default = "default_block_transactions")]
    pub max_block_transactions: usize,
    /// Largest block payload in bytes; all validators must agree on it.
    #[serde(default = "default_payload_bytes")]
    pub max_payload_bytes: u32,
    /// Longest a leader holds back a block while no waiting transaction may apply, in
    /// milliseconds ([`crate::consensus_timeouts`]); all validators should use the same.
    #[serde(default = "crate::default_empty_block_interval_ms")]
    pub empty_block_interval_ms: u64,
    /// Use the consensus network's profile for loopback and private networks.
    #[serde(default)]
    pub local: bool,
}

fn default_block_transactions() -> usize {
    5_000
}

fn default_payload_bytes() -> u32 {
    8 << 20
}

/// A validator's key and consensus address.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    /// Its public key.
    pub key: PublicKey,
    /// Its consensus address.
    pub address: SocketAddr,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// A file could not be read or parsed.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The configuration does not fit the genesis file.
    #[error("{0}")]
    Config(String),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] nestgrid_ledger::LedgerError),
    /// The consensus stopped.
    #[error("consensus: {0}")]
    Consensus(String),
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|error| NodeError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|error| NodeError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), NodeError> {
    let text = serde_json::to_string_pretty(value).expect("serializable");
    std::fs::write(path, text + "\n").map_err(|error| NodeError::File {
        path: path.to_path_buf(),
        message: error.to_string(),
    })
}

/// Runs a validator from its configuration file until the process is stopped.
pub fn run(config_path: &Path) -> Result<(), NodeError> {
    let base = config_path.parent().unwrap_or(Path::new("."));
    let config: NodeConfig = read_json(config_path)?;
    let resolve = |path: &Path| base.join(path);
    let keys: KeyFile = read_json(&resolve(&config.key_file))?;
    let keypair = keys.keypair().map_err(|error| NodeError::File {
        path: resolve(&config.key_file),
        message: error.to_string(),
    })?;
    let genesis: Genesis = read_json(&resolve(&config.genesis_file))?;
    if !genesis.validators.contains(&keypair.public()) {
        return Err(NodeError::Config(format!(
            "the key {} is not a validator of the genesis file",
            keypair.public()
        )));
    }
    let data_dir = resolve(&config.data_dir);
    let ledger = Ledger::create_or_open(
        &data_dir.join("ledger"),
        genesis.clone(),
        &ConsensusCertificates,
    )?;
    let app = LedgerApp::new(ledger, config.max_block_transactions);
    serve_in_background(app.clone(), config.api)?;
    let mut consensus = Config::new(
        keypair.secret(),
        genesis.validators.iter().map(|key| key.0).collect(),
        "validator",
    );
    consensus.max_payload_bytes = config.max_payload_bytes;
    consensus.timeouts = crate::consensus_timeouts(config.empty_block_interval_ms);
    let network = NetworkConfig {
        listen: config.listen,
        peers: config
            .peers
            .iter()
            .map(|peer| (peer.key.0, peer.address))
            .collect(),
        local: config.local,
    };
    nestgrid_consensus::run_tcp_validator_blocking(
        data_dir.join("consensus"),
        consensus,
        network,
        app,
    )
    .map_err(|error| NodeError::Consensus(error.to_string()))
}

/// Starts the HTTP API on its own thread and runtime.
fn serve_in_background(app: LedgerApp, address: SocketAddr) -> Result<(), NodeError> {
    let listener = std::net::TcpListener::bind(address).map_err(|error| {
        NodeError::Config(format!("the API cannot listen on {address}: {error}"))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|error| NodeError::Config(error.to_string()))?;
    std::thread::Builder::new()
        .name("api".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("a runtime for the API");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a listener");
                axum::serve(listener, router(app))
                    .await
                    .expect("the API serves");
            });
        })
        .map_err(|error| NodeError::Config(error.to_string()))?;
    Ok(())
}

/// The API's routes (also used by tests without a socket).
pub fn router(app: LedgerApp) -> Router {
    Router::new()
        .route("/v1/transactions", post(submit))
        .route("/v1/transactions/batch", post(submit_batch))
        .route("/v1/transactions/{hash}", get(status))
        .route("/v1/head", get(head))
        .route("/v1/headers/{height}", get(reads::header_of))
        .route("/v1/blocks", get(reads::blocks))
        .route("/v1/blocks/{height}", get(reads::block))
        .route("/v1/accounts/{key}", get(reads::account))
        .route("/v1/accounts/{key}/history", get(reads::history))
        .route("/v1/genesis", get(genesis))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(reads::Api::new(app))
}

fn problem(status: StatusCode, title: &str, detail: String) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn submit(State(app): State<LedgerApp>, body: Bytes) -> Response {
    let Ok(tx) = SignedTransaction::from_bytes(&body) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "malformed transaction",
            "the body is not a signed transaction's canonical bytes (result code 1, malformed)"
                .into(),
        );
    };
    match app.submit(tx) {
        Ok(hash) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "hash": hash.to_hex(), "status": "pending" })),
        )
            .into_response(),
        Err(Refused::Full) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "mempool full",
            Refused::Full.to_string(),
        ),
        Err(Refused::Duplicate) => problem(
            StatusCode::CONFLICT,
            "duplicate transaction",
            Refused::Duplicate.to_string(),
        ),
        Err(Refused::Invalid(code)) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "transaction refused",
            format!("result code {}: {}", code.number(), code.name()),
        ),
    }
}

/// Splits a batch body into transactions' bytes.
pub fn split_batch(body: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut parts = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(format!("{} stray bytes at the end", rest.len()));
        }
        let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        if rest.len() < length {
            return Err(format!(
                "transaction {} says {length} bytes, {} are left",
                parts.len(),
                rest.len()
            ));
        }
        parts.push(&rest[..length]);
        rest = &rest[length..];
    }
    Ok(parts)
}

/// Appends one part of a batch body: its 4-byte little-endian length, then its bytes.
pub fn push_frame(body: &mut Vec<u8>, bytes: &[u8]) {
    body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    body.extend_from_slice(bytes);
}

/// Joins transactions into a batch body.
pub fn join_batch(transactions: &[SignedTransaction]) -> Vec<u8> {
    let mut body = Vec::new();
    for tx in transactions {
        push_frame(&mut body, &tx.to_bytes());
    }
    body
}

async fn submit_batch(State(app): State<LedgerApp>, body: Bytes) -> Response {
    let parts = match split_batch(&body) {
        Ok(parts) => parts,
        Err(detail) => return problem(StatusCode::BAD_REQUEST, "malformed batch", detail),
    };
    let mut refused = Vec::new();
    let mut decoded = Vec::with_capacity(parts.len());
    let mut positions = Vec::with_capacity(parts.len());
    for (index, bytes) in parts.iter().enumerate() {
        match SignedTransaction::from_bytes(bytes) {
            Ok(tx) => {
                decoded.push(tx);
                positions.push(index);
            }
            Err(_) => refused.push(serde_json::json!({
                "index": index,
                "reason": "malformed (result code 1)",
                "full": false,
            })),
        }
    }
    // Checking the signatures is most of the work: off the async workers.
    let answers = match tokio::task::spawn_blocking(move || app.submit_all(decoded)).await {
        Ok(answers) => answers,
        Err(error) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "batch not submitted",
                format!("checking the batch failed: {error}"),
            );
        }
    };
    let mut accepted = 0usize;
    for (index, answer) in positions.into_iter().zip(answers) {
        match answer {
            Ok(_) => accepted += 1,
            Err(reason) => refused.push(serde_json::json!({
                "index": index,
                "reason": reason.to_string(),
                "full": reason == Refused::Full,
            })),
        }
    }
    refused.sort_by_key(|entry| entry["index"].as_u64());
    axum::Json(serde_json::json!({ "accepted": accepted, "refused": refused })).into_response()
}

async fn status(State(app): State<LedgerApp>, UrlPath(hash): UrlPath<String>) -> Response {
    let Ok(hash) = Hash::from_hex(&hash) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "bad hash",
            "a transaction hash is 64 hexadecimal digits".into(),
        );
    };
    let answer = match app.lock().status(&hash) {
        Status::Pending => serde_json::json!({ "status": "pending" }),
        Status::Committed { height } => {
            serde_json::json!({ "status": "committed", "height": height })
        }
        Status::Rejected(code) => {
            serde_json::json!({ "status": "rejected", "code": code.number(), "name": code.name() })
        }
        Status::Unknown => serde_json::json!({ "status": "unknown" }),
    };
    axum::Json(answer).into_response()
}

async fn head(State(app): State<LedgerApp>) -> Response {
    let shared = app.lock();
    let ledger = shared.ledger();
    axum::Json(serde_json::json!({
        "chain_id": ledger.genesis().chain_id,
        "height": ledger.height(),
        "hash": ledger.head().to_hex(),
        "timestamp_ms": ledger.timestamp_ms(),
        "mempool": shared.mempool_len(),
    }))
    .into_response()
}

async fn genesis(State(app): State<LedgerApp>) -> Response {
    axum::Json(app.lock().ledger().genesis().clone()).into_response()
}

/// Writes a local network of `validators` validators into `dir`: one key file, data folder
/// and configuration file per validator (`validator-N.json`), a shared genesis file with an
/// operator, a gateway, a market operator, a meter authority and an auditor (their key files
/// too), consensus ports from `base_port` and API ports from `base_port + 100`.
pub fn write_testnet(
    dir: &Path,
    validators: usize,
    base_port: u16,
) -> Result<Vec<PathBuf>, NodeError> {
    std::fs::create_dir_all(dir).map_err(|error| NodeError::File {
        path: dir.to_path_buf(),
        message: error.to_string(),
    })?;
    let random = || {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("randomness");
        Keypair::from_secret(secret)
    };
    let validator_keys: Vec<Keypair> = (0..validators).map(|_| random()).collect();
    let mut authorities = Vec::new();
    for (name, role) in [
        ("operator", nestgrid_ledger::Role::Operator),
        ("gateway", nestgrid_ledger::Role::Gateway),
        ("market", nestgrid_ledger::Role::MarketOperator),
        ("meter", nestgrid_ledger::Role::MeterAuthority),
        ("auditor", nestgrid_ledger::Role::Auditor),
    ] {
        let keypair = random();
        write_json(&dir.join(format!("{name}.key")), &KeyFile::new(&keypair))?;
        authorities.push(nestgrid_ledger::Authority {
            name: name.into(),
            key: keypair.public(),
            roles: vec![role],
        });
    }
    let genesis = Genesis {
        chain_id: "nestgrid-local".into(),
        currency: "EUR".into(),
        timestamp_ms: 0,
        validators: validator_keys.iter().map(Keypair::public).collect(),
        authorities,
    };
    write_json(&dir.join("genesis.json"), &genesis)?;
    let peers: Vec<Peer> = validator_keys
        .iter()
        .enumerate()
        .map(|(index, key)| Peer {
            key: key.public(),
            address: SocketAddr::from(([127, 0, 0, 1], base_port + index as u16)),
        })
        .collect();
    let mut configs = Vec::new();
    for (index, key) in validator_keys.iter().enumerate() {
        let key_file = PathBuf::from(format!("validator-{index}.key"));
        write_json(&dir.join(&key_file), &KeyFile::new(key))?;
        let config = NodeConfig {
            key_file,
            genesis_file: "genesis.json".into(),
            data_dir: format!("validator-{index}").into(),
            listen: peers[index].address,
            api: SocketAddr::from(([127, 0, 0, 1], base_port + 100 + index as u16)),
            peers: peers.clone(),
            max_block_transactions: default_block_transactions(),
            max_payload_bytes: default_payload_bytes(),
            empty_block_interval_ms: crate::default_empty_block_interval_ms(),
            local: true,
        };
        let path = dir.join(format!("validator-{index}.json"));
        write_json(&path, &config)?;
        configs.push(path);
    }
    Ok(configs)
}
