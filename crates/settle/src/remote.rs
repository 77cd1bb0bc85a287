//! Settling a run on a running validator set (`nestgrid run --settle --ledger URL --keys DIR`).
//!
//! The transactions are those of the embedded path ([`crate::settle`]), built by the same code
//! in the same order: registrations, deposits, then each slot's trades, rates, deliveries and
//! settlement. They are signed with the authority keys of the chain, read from key files (the
//! ones `nestgrid-node testnet` writes: `operator.key`, `gateway.key`, `market.key`,
//! `meter.key` and `auditor.key`), and sent over plain HTTP to every validator given, in order
//! (`POST /v1/transactions`). The run then waits until every transaction is committed (`GET
//! /v1/transactions/{hash}`), reads the final balances with the auditor's signed account reads
//! and returns them for [`crate::compare_nets`].
//!
//! A chain is shared by runs, so a run never assumes it is the first:
//! - each signer's nonces continue from its account's (a signed read of its own account);
//! - asset numbers and slots are ledger-wide, so the run reads the chain (the auditor's signed
//!   block reads, only of blocks whose header counts transactions) and takes the next free
//!   asset number and slot ([`Numbering`]);
//! - the run's participant and area operator accounts are new keys, derived from the
//!   scenario's seed, the names, the chain id and that numbering, and registered by the
//!   operator, so each run settles into accounts of its own.
//!
//! The chain's genesis must name the five keys with their roles (operator, gateway, market
//! operator, meter authority, auditor), and its currency must be the scenario's. Nothing else
//! is needed of it: area operators and participants are registered by transaction, and the
//! chain id, validators and genesis time are the chain's own. One settling client at a time:
//! two runs started together would read the same nonces and numbers.

use crate::{Collected, Keys, Nonces, Numbering, SettleError, setup_transactions, slot_block};
use nestgrid_grid::Topology;
use nestgrid_ledger::request::{self, READ_DOMAIN};
use nestgrid_ledger::{
    Block, Body, Genesis, Hash, KeyFile, Keypair, PublicKey, Role, SignedTransaction,
};
use nestgrid_types::{Energy, Money};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the run waits for one transaction to be committed (or for a full mempool to take
/// one) before it gives up.
pub const WAIT: Duration = Duration::from_secs(120);

/// How often the run asks a validator about a transaction.
const POLL: Duration = Duration::from_millis(20);

/// Largest answer read from a validator (a block with a full trade batch).
const MAX_ANSWER_BYTES: u64 = 64 << 20;

/// The key files a remote settlement signs with, by file name in the keys folder.
pub const KEY_FILES: [&str; 5] = [
    "operator.key",
    "gateway.key",
    "market.key",
    "meter.key",
    "auditor.key",
];

/// The authority keys of a chain: they sign the run's transactions and read its balances.
#[derive(Clone, Debug)]
pub struct AuthorityKeys {
    /// Registers the run's accounts (role `operator`).
    pub operator: Keypair,
    /// Deposits what the accounts pay (role `gateway`).
    pub gateway: Keypair,
    /// Records trades, posts prices, settles slots (role `market_operator`).
    pub market: Keypair,
    /// Posts the deliveries (role `meter_authority`).
    pub meter: Keypair,
    /// Reads blocks and every account (role `auditor`, or a validator's key).
    pub auditor: Keypair,
}

impl AuthorityKeys {
    /// Reads the keys from `dir`: `operator.key`, `gateway.key`, `market.key`, `meter.key`
    /// and `auditor.key`, as `nestgrid-node testnet` writes them.
    pub fn read(dir: &Path) -> Result<AuthorityKeys, SettleError> {
        let read = |name: &str| -> Result<Keypair, SettleError> {
            let path = dir.join(name);
            let problem = |message: String| {
                SettleError::Remote(format!(
                    "key file {}: {message} (--keys names the folder with {} that \
                     `nestgrid-node testnet` writes)",
                    path.display(),
                    KEY_FILES.join(", ")
                ))
            };
            let text = std::fs::read_to_string(&path).map_err(|e| problem(e.to_string()))?;
            let file: KeyFile = serde_json::from_str(&text).map_err(|e| problem(e.to_string()))?;
            file.keypair().map_err(|e| problem(e.to_string()))
        };
        Ok(AuthorityKeys {
            operator: read(KEY_FILES[0])?,
            gateway: read(KEY_FILES[1])?,
            market: read(KEY_FILES[2])?,
            meter: read(KEY_FILES[3])?,
            auditor: read(KEY_FILES[4])?,
        })
    }

    /// Each key with its file and the role the chain's genesis must give it.
    fn roles(&self) -> [(&'static str, &Keypair, Role); 5] {
        [
            (KEY_FILES[0], &self.operator, Role::Operator),
            (KEY_FILES[1], &self.gateway, Role::Gateway),
            (KEY_FILES[2], &self.market, Role::MarketOperator),
            (KEY_FILES[3], &self.meter, Role::MeterAuthority),
            (KEY_FILES[4], &self.auditor, Role::Auditor),
        ]
    }
}

/// The name of a role as the genesis file writes it.
fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{role:?}"))
}

/// Milliseconds since the Unix epoch: signed reads carry the time, which the validator checks
/// against its clock.
#[allow(clippy::disallowed_methods)]
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// A fresh random nonce for a signed read (32 hex digits).
fn read_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A validator's answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The problem document's detail, or the body as text.
    fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).into_owned())
    }
}

/// One validator's API.
struct Validator {
    url: String,
    agent: ureq::Agent,
}

impl Validator {
    fn new(url: &str) -> Validator {
        Validator {
            url: url.trim_end_matches('/').to_string(),
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(30)))
                    .http_status_as_error(false)
                    .build(),
            ),
        }
    }

    fn unreachable(&self, path: &str, error: impl std::fmt::Display) -> SettleError {
        SettleError::Remote(format!(
            "the validator at {} does not answer ({path}): {error}",
            self.url
        ))
    }

    fn read(
        &self,
        path: &str,
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<Answer, SettleError> {
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|error| self.unreachable(path, error))?;
        Ok(Answer { status, body })
    }

    /// `GET path`, signed by `reader` if given; a read over the key's rate is asked again.
    fn get(&self, path: &str, reader: Option<&Keypair>) -> Result<Answer, SettleError> {
        let started = Instant::now();
        loop {
            let mut get = self.agent.get(format!("{}{path}", self.url));
            if let Some(keypair) = reader {
                for (name, value) in request::sign(
                    keypair,
                    READ_DOMAIN,
                    "GET",
                    path,
                    b"",
                    now_ms(),
                    &read_nonce(),
                ) {
                    get = get.header(name, value);
                }
            }
            let response = get.call().map_err(|error| self.unreachable(path, error))?;
            let answer = self.read(path, response)?;
            if answer.status == 429 && started.elapsed() < WAIT {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            return Ok(answer);
        }
    }

    /// `GET path` that must answer `200` with JSON.
    fn get_json(
        &self,
        path: &str,
        reader: Option<&Keypair>,
    ) -> Result<serde_json::Value, SettleError> {
        let answer = self.get(path, reader)?;
        if answer.status != 200 {
            return Err(SettleError::Remote(format!(
                "{}{path} answered {}: {}",
                self.url,
                answer.status,
                answer.detail()
            )));
        }
        serde_json::from_slice(&answer.body).map_err(|error| {
            SettleError::Remote(format!("{}{path} answered with no JSON: {error}", self.url))
        })
    }

    fn post(&self, path: &str, body: &[u8]) -> Result<Answer, SettleError> {
        let response = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/octet-stream")
            .send(body)
            .map_err(|error| self.unreachable(path, error))?;
        self.read(path, response)
    }

    /// What the validator knows of a transaction: its status answer as JSON.
    fn status(&self, hash: &Hash) -> Result<serde_json::Value, SettleError> {
        self.get_json(&format!("/v1/transactions/{hash}"), None)
    }

    /// Sends `tx` (called `label`) to the validator's mempool. A full mempool is asked again,
    /// up to [`WAIT`]; a duplicate is fine; a refusal is an error with its result code, unless
    /// the transaction is committed here already (its nonce is then used, which is why it was
    /// refused).
    fn submit(&self, label: &str, tx: &SignedTransaction) -> Result<(), SettleError> {
        let bytes = tx.to_bytes();
        let started = Instant::now();
        loop {
            let answer = self.post("/v1/transactions", &bytes)?;
            match answer.status {
                202 | 409 => return Ok(()),
                503 if started.elapsed() < WAIT => std::thread::sleep(Duration::from_millis(50)),
                422 if self.status(&tx.hash())?["status"] == "committed" => return Ok(()),
                status => {
                    return Err(SettleError::Remote(format!(
                        "the validator at {} refused {label} (transaction {}) with {status}: {}",
                        self.url,
                        tx.hash(),
                        answer.detail()
                    )));
                }
            }
        }
    }

    /// Waits until `tx` is committed here; returns its height. A rejection is an error with
    /// its result code, and so is waiting longer than [`WAIT`].
    fn wait_committed(&self, label: &str, tx: &SignedTransaction) -> Result<u64, SettleError> {
        let hash = tx.hash();
        let started = Instant::now();
        loop {
            let status = self.status(&hash)?;
            match status["status"].as_str() {
                Some("committed") => {
                    return status["height"].as_u64().ok_or_else(|| {
                        SettleError::Remote(format!(
                            "{}/v1/transactions/{hash} names no height: {status}",
                            self.url
                        ))
                    });
                }
                Some("rejected") => {
                    return Err(SettleError::Remote(format!(
                        "the validators rejected {label} (transaction {hash}): result code {} ({}), \
                         as {} says",
                        status["code"],
                        status["name"].as_str().unwrap_or("?"),
                        self.url
                    )));
                }
                _ if started.elapsed() > WAIT => {
                    return Err(SettleError::Remote(format!(
                        "{label} (transaction {hash}) was not committed within {} s; {} says {status}",
                        WAIT.as_secs(),
                        self.url
                    )));
                }
                _ => std::thread::sleep(POLL),
            }
        }
    }
}

/// A running validator set, as a client sees it: every validator's API, and the chain's
/// genesis (the same on each).
pub struct Validators {
    validators: Vec<Validator>,
    genesis: Genesis,
}

impl std::fmt::Debug for Validators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validators")
            .field("urls", &self.urls())
            .field("chain_id", &self.genesis.chain_id)
            .finish()
    }
}

impl Validators {
    /// Connects to the validators at `urls` (such as `http://127.0.0.1:7100`): reads each one's
    /// genesis, which must be the same.
    pub fn connect(urls: &[String]) -> Result<Validators, SettleError> {
        if urls.is_empty() {
            return Err(SettleError::Remote(
                "no validator given: name at least one validator's API".into(),
            ));
        }
        let validators: Vec<Validator> = urls.iter().map(|url| Validator::new(url)).collect();
        let mut genesis: Option<Genesis> = None;
        for validator in &validators {
            let value = validator.get_json("/v1/genesis", None)?;
            let theirs: Genesis = serde_json::from_value(value).map_err(|error| {
                SettleError::Remote(format!(
                    "{}/v1/genesis is not a genesis file: {error}",
                    validator.url
                ))
            })?;
            match &genesis {
                None => genesis = Some(theirs),
                Some(first) if *first != theirs => {
                    return Err(SettleError::Remote(format!(
                        "the validators at {} and {} serve different chains ({} and {})",
                        validators[0].url, validator.url, first.chain_id, theirs.chain_id
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(Validators {
            validators,
            genesis: genesis.expect("at least one validator"),
        })
    }

    /// The chain's genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The validators' API addresses.
    pub fn urls(&self) -> Vec<String> {
        self.validators.iter().map(|v| v.url.clone()).collect()
    }

    /// Sends every transaction (each with a label that names it in errors) to every
    /// validator, in order, then waits until each is committed. Returns the height of the
    /// block that holds the last one.
    pub fn submit_all(
        &self,
        transactions: &[(String, SignedTransaction)],
    ) -> Result<u64, SettleError> {
        for (label, tx) in transactions {
            for validator in &self.validators {
                validator.submit(label, tx)?;
            }
        }
        let mut height = 0;
        for (label, tx) in transactions {
            height = height.max(self.validators[0].wait_committed(label, tx)?);
        }
        // Every validator holds the chain up to the last one.
        if let Some((label, tx)) = transactions.last() {
            for validator in &self.validators[1..] {
                validator.wait_committed(label, tx)?;
            }
        }
        Ok(height)
    }

    /// The account `key` on every validator, read with `reader`'s signed reads; they must
    /// agree on its balance, locked money and tokens.
    pub fn account(
        &self,
        reader: &Keypair,
        key: &PublicKey,
    ) -> Result<serde_json::Value, SettleError> {
        let path = format!("/v1/accounts/{key}");
        let first = self.validators[0].get_json(&path, Some(reader))?;
        let fields = [
            "balance",
            "locked",
            "tokens_mwh",
            "tokens_minted_mwh",
            "nonce",
        ];
        for validator in &self.validators[1..] {
            let theirs = validator.get_json(&path, Some(reader))?;
            for field in fields {
                if theirs[field] != first[field] {
                    return Err(SettleError::Remote(format!(
                        "the validators at {} and {} disagree on account {key}: {field} {} and {}",
                        self.validators[0].url, validator.url, first[field], theirs[field]
                    )));
                }
            }
        }
        Ok(first)
    }

    /// A signer's last used nonce, from a signed read of its own account (0 if it has none).
    fn last_nonce(&self, signer: &Keypair) -> Result<u64, SettleError> {
        let path = format!("/v1/accounts/{}", signer.public());
        let answer = self.validators[0].get(&path, Some(signer))?;
        match answer.status {
            200 => Ok(answer.json()["nonce"].as_u64().unwrap_or(0)),
            404 => Ok(0),
            status => Err(SettleError::Remote(format!(
                "{}{path} answered {status} to the key's own read: {}",
                self.validators[0].url,
                answer.detail()
            ))),
        }
    }

    /// The next free asset number and slot: one past the highest that any block registers or
    /// names (read by `auditor` from the first validator).
    fn next_numbering(&self, auditor: &Keypair) -> Result<Numbering, SettleError> {
        let validator = &self.validators[0];
        let top = validator.get_json("/v1/head", None)?["height"]
            .as_u64()
            .ok_or_else(|| {
                SettleError::Remote(format!("{}/v1/head names no height", validator.url))
            })?;
        let mut next = Numbering::default();
        for height in 1..=top {
            let header = validator.get_json(&format!("/v1/headers/{height}"), None)?;
            if header["tx_count"].as_u64() == Some(0) {
                continue;
            }
            let path = format!("/v1/blocks/{height}");
            let answer = validator.get(&path, Some(auditor))?;
            if answer.status != 200 {
                return Err(SettleError::Remote(format!(
                    "{}{path} answered {} to the auditor's read: {}",
                    validator.url,
                    answer.status,
                    answer.detail()
                )));
            }
            let block = Block::from_bytes(&answer.body).map_err(|error| {
                SettleError::Remote(format!("{}{path} is not a block: {error}", validator.url))
            })?;
            for tx in &block.transactions {
                let slot = match &tx.transaction.body {
                    Body::Register { assets, .. } => {
                        for asset in assets {
                            next.asset_base = next.asset_base.max(asset.asset.saturating_add(1));
                        }
                        None
                    }
                    Body::RecordTrades { slot, .. }
                    | Body::PostPrices { slot, .. }
                    | Body::PostDeliveries { slot, .. }
                    | Body::SettleSlot { slot } => Some(*slot),
                    _ => None,
                };
                if let Some(slot) = slot {
                    next.slot_base = next.slot_base.max(slot.saturating_add(1));
                }
            }
        }
        Ok(next)
    }
}

/// Checks that the chain's genesis names each key with its role (the auditor may also be a
/// validator) and that its currency is `currency`.
pub fn check_genesis(
    genesis: &Genesis,
    keys: &AuthorityKeys,
    currency: &str,
) -> Result<(), SettleError> {
    for (file, keypair, role) in keys.roles() {
        let key = keypair.public();
        let named = genesis
            .authorities
            .iter()
            .any(|authority| authority.key == key && authority.roles.contains(&role))
            || (role == Role::Auditor && genesis.validators.contains(&key));
        if !named {
            let held: Vec<String> = genesis
                .authorities
                .iter()
                .filter(|authority| authority.key == key)
                .flat_map(|authority| authority.roles.iter().map(|role| role_name(*role)))
                .collect();
            let has = if held.is_empty() {
                "it is no authority of the chain".to_string()
            } else {
                format!("its roles there: {}", held.join(", "))
            };
            return Err(SettleError::Remote(format!(
                "the genesis of chain `{}` does not give the key in {file} ({key}) the role `{}`; {has}. \
                 Give --keys the folder of this chain's key files",
                genesis.chain_id,
                role_name(role)
            )));
        }
    }
    if genesis.currency != currency {
        return Err(SettleError::Remote(format!(
            "the chain `{}` counts in {}, the scenario in {currency}",
            genesis.chain_id, genesis.currency
        )));
    }
    Ok(())
}

/// The outcome of settling a run on a validator set.
#[derive(Debug, Clone)]
pub struct RemoteSettlement {
    /// The chain's id.
    pub chain_id: String,
    /// The validators' API addresses.
    pub validators: Vec<String>,
    /// Where the run's asset numbers and slots start on the chain.
    pub numbering: Numbering,
    /// The height of the block with the run's last transaction.
    pub height: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Trades recorded.
    pub trades: u64,
    /// The run's accounts: one per asset, then one per area operator.
    pub accounts: Vec<PublicKey>,
    /// Per asset: its account's balance at the end minus its deposit.
    pub asset_net: Vec<Money>,
    /// Per area: its operator's balance at the end.
    pub area_net: Vec<Money>,
    /// Energy tokens the run's accounts minted (delivered traded energy).
    pub tokens_minted: Energy,
}

/// Settles `collected` on the running validators at `urls`, signing with `keys`, and reads
/// the run's final balances back (see the module's documentation). Compare them with the bills
/// with [`crate::compare_nets`].
pub fn settle_remote(
    topology: &Topology,
    collected: &Collected,
    urls: &[String],
    keys: &AuthorityKeys,
) -> Result<RemoteSettlement, SettleError> {
    let validators = Validators::connect(urls)?;
    let genesis = validators.genesis().clone();
    check_genesis(&genesis, keys, &topology.settings.currency)?;
    let numbering = validators.next_numbering(&keys.auditor)?;
    if u32::try_from(topology.assets.len())
        .ok()
        .and_then(|count| numbering.asset_base.checked_add(count))
        .is_none()
    {
        return Err(SettleError::Remote(format!(
            "the chain `{}` has no asset numbers left for {} assets",
            genesis.chain_id,
            topology.assets.len()
        )));
    }
    // The run's own accounts: new keys for each run on the chain.
    let seed = topology.settings.seed;
    let tag = format!(
        "{} run from asset {} slot {}",
        genesis.chain_id, numbering.asset_base, numbering.slot_base
    );
    let mut run_keys = Keys::with(topology, &|name| {
        Keypair::derived(seed, &format!("{tag}: {name}"))
    });
    run_keys.operator = keys.operator.clone();
    run_keys.gateway = keys.gateway.clone();
    run_keys.market = keys.market.clone();
    run_keys.meter = keys.meter.clone();
    let mut last = BTreeMap::new();
    for signer in [&keys.operator, &keys.gateway, &keys.market, &keys.meter] {
        last.insert(signer.public(), validators.last_nonce(signer)?);
    }
    let mut nonces = Nonces::new(&genesis.chain_id, last);

    // The embedded path's transactions, in its order.
    let (setup, deposits) =
        setup_transactions(topology, collected, &run_keys, &mut nonces, numbering)?;
    let mut transactions: Vec<(String, SignedTransaction)> = setup
        .into_iter()
        .map(|tx| (format!("the setup's {}", tx.transaction.body.kind()), tx))
        .collect();
    let mut trades = 0u64;
    for (slot, data) in &collected.slots {
        let block = slot_block(
            topology,
            &run_keys,
            &mut nonces,
            numbering,
            *slot,
            data,
            Vec::new(),
        );
        trades += data.trades.len() as u64;
        transactions.extend(block.into_iter().map(|tx| {
            (
                format!(
                    "slot {slot}'s {} (ledger slot {})",
                    tx.transaction.body.kind(),
                    numbering.slot(*slot)
                ),
                tx,
            )
        }));
    }
    let height = validators.submit_all(&transactions)?;

    // The final balances, as the auditor reads them on every validator.
    let mut accounts = Vec::new();
    let mut balances = Vec::new();
    let mut tokens_minted = 0i64;
    for keypair in run_keys.assets.iter().chain(&run_keys.areas) {
        let key = keypair.public();
        let account = validators.account(&keys.auditor, &key)?;
        let number = |field: &str| {
            account[field].as_i64().ok_or_else(|| {
                SettleError::Remote(format!(
                    "account {key} is read without `{field}`: {account}"
                ))
            })
        };
        balances.push(number("balance")? + number("locked")?);
        tokens_minted += number("tokens_minted_mwh")?;
        accounts.push(key);
    }
    let (asset_balances, area_balances) = balances.split_at(topology.assets.len());
    Ok(RemoteSettlement {
        chain_id: genesis.chain_id.clone(),
        validators: validators.urls(),
        numbering,
        height,
        transactions: transactions.len() as u64,
        trades,
        accounts,
        asset_net: asset_balances
            .iter()
            .zip(&deposits)
            .map(|(balance, deposit)| Money(balance - deposit.0))
            .collect(),
        area_net: area_balances
            .iter()
            .map(|balance| Money(*balance))
            .collect(),
        tokens_minted: Energy(tokens_minted),
    })
}
