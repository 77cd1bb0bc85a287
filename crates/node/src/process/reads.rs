//! Reads by role on a validator's API, and the client that signs them.
//!
//! Anyone reads the head, the genesis, transaction status and block headers. Whole blocks
//! (everyone's transactions) and accounts need a signed request
//! ([`nestgrid_ledger::request`], domain tag [`READ_DOMAIN`]): a key reads its own account,
//! and a key with the auditor role, or a validator's key, reads every account and block. The
//! roles are those of the validator's ledger state at its head: the genesis authorities and
//! validators, and the accounts the operator registered.
//!
//! A signed read is checked in this order: the headers and the signature (`401`), the key
//! being an account of the ledger (`403`), the nonce (`401` when reused) and the key's rate
//! (`429`), then the role (`403`). A request refused before its nonce is admitted leaves the
//! nonce unused.

use super::{MAX_BODY_BYTES, problem};
use crate::{ConsensusProof, LedgerApp};
use axum::extract::{FromRef, OriginalUri, Path as UrlPath, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nestgrid_ledger::request::{self, Admission, AuthError, Check, Nonces, READ_DOMAIN, Received};
use nestgrid_ledger::{
    Block, Body, Certificate, Genesis, KeyFile, Keypair, PublicKey, Role, Roles,
    State as LedgerState, TradeEntry, verify::VerifyError,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Signed reads a key may make per second on one validator.
pub const READS_PER_SECOND: u32 = 1_000;

/// Most blocks one `GET /v1/blocks?from=&count=` answers.
pub const BLOCKS_PER_READ: u64 = 1_000;

/// An answer of `GET /v1/blocks?from=&count=` stops after the block that takes it past this
/// many bytes (it always holds at least one block).
pub const BLOCK_READ_BYTES: usize = 8 << 20;

/// The API's state: the validator and the nonces of signed reads.
#[derive(Clone)]
pub struct Api {
    app: LedgerApp,
    nonces: Arc<Nonces>,
}

impl Api {
    /// The API of `app`.
    pub fn new(app: LedgerApp) -> Api {
        Api {
            app,
            nonces: Arc::new(Nonces::new(request::WINDOW_MS, READS_PER_SECOND)),
        }
    }
}

impl FromRef<Api> for LedgerApp {
    fn from_ref(api: &Api) -> LedgerApp {
        api.app.clone()
    }
}

/// Milliseconds since the Unix epoch, now: the clock that signed reads are checked against.
#[allow(clippy::disallowed_methods)]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// A fresh random nonce (32 hex digits).
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Whether `roles` read everything: an auditor's or a validator's.
pub fn reads_everything(roles: Roles) -> bool {
    roles.has(Role::Auditor) || roles.has(Role::Validator)
}

/// Who made a signed read.
struct Reader {
    key: PublicKey,
    roles: Roles,
}

/// A refused read, answered as a problem document.
struct Refusal {
    status: StatusCode,
    title: &'static str,
    detail: String,
}

impl Refusal {
    fn new(status: StatusCode, title: &'static str, detail: String) -> Refusal {
        Refusal {
            status,
            title,
            detail,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = problem(self.status, self.title, self.detail);
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

fn unauthorized(error: AuthError) -> Refusal {
    Refusal::new(
        StatusCode::UNAUTHORIZED,
        "not authenticated",
        error.to_string(),
    )
}

/// Checks a signed read: headers, signature and time, the key's account, the nonce, the rate.
fn authenticate(
    api: &Api,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
) -> Result<Reader, Refusal> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let received = Received {
        key: header(request::KEY),
        timestamp: header(request::TIMESTAMP),
        nonce: header(request::NONCE),
        signature: header(request::SIGNATURE),
    };
    if received.is_anonymous() {
        return Err(Refusal::new(
            StatusCode::UNAUTHORIZED,
            "not authenticated",
            "this read needs a signed request: headers x-nestgrid-key, x-nestgrid-timestamp, \
             x-nestgrid-nonce and x-nestgrid-signature under the domain tag \
             `nestgrid-ledger-read-v1` (docs/ledger.md, \"HTTP API of a validator\")"
                .into(),
        ));
    }
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let now = now_ms();
    let check = Check {
        domain: READ_DOMAIN,
        now_ms: now,
        window_ms: request::WINDOW_MS,
    };
    let (key, nonce) = request::verify(&received, check, method.as_str(), path, b"", &|key| {
        api.nonces.verifier(key)
    })
    .map_err(unauthorized)?;
    let roles = api
        .app
        .lock()
        .ledger()
        .state()
        .accounts
        .get(&key)
        .map(|account| account.roles);
    let Some(roles) = roles else {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "not an account",
            format!("key {key} is not an account of this ledger"),
        ));
    };
    match api.nonces.admit(&key, &nonce, now) {
        Ok(()) => Ok(Reader { key, roles }),
        Err(Admission::Replayed) => Err(unauthorized(AuthError::Replayed(nonce))),
        Err(Admission::RateLimited) => Err(Refusal::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests",
            format!("a key may make {READS_PER_SECOND} signed reads per second"),
        )),
    }
}

fn parse_height(text: &str) -> Result<u64, Refusal> {
    text.parse().map_err(|_| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad height",
            format!("`{text}` is not a block height (a whole number from 1)"),
        )
    })
}

/// Block `height` of `ledger`, `None` above the head; a storage failure is refused with 500.
fn block_at(ledger: &nestgrid_ledger::Ledger, height: u64) -> Result<Option<Block>, Refusal> {
    ledger.block(height).map_err(|error| {
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage error",
            error.to_string(),
        )
    })
}

fn stored_block(app: &LedgerApp, height: u64) -> Result<Block, Refusal> {
    block_at(app.lock().ledger(), height)?.ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "no such block",
            format!("block {height} is not committed here"),
        )
    })
}

/// `GET /v1/headers/{height}`: a block's header and who certified it, for anyone.
pub async fn header_of(State(app): State<LedgerApp>, UrlPath(height): UrlPath<String>) -> Response {
    let block = match parse_height(&height).and_then(|height| stored_block(&app, height)) {
        Ok(block) => block,
        Err(refusal) => return refusal.into_response(),
    };
    let certificate = match &block.certificate {
        Certificate::Votes(votes) => {
            let genesis = app.lock().ledger().genesis().clone();
            let signers: Vec<String> = votes
                .iter()
                .filter_map(|vote| genesis.validators.get(vote.validator as usize))
                .map(PublicKey::to_hex)
                .collect();
            serde_json::json!({ "kind": "votes", "signers": signers })
        }
        Certificate::Consensus(bytes) => match borsh::from_slice::<ConsensusProof>(bytes) {
            Ok(proof) => serde_json::json!({ "kind": "consensus", "view": proof.view }),
            Err(_) => serde_json::json!({ "kind": "consensus" }),
        },
    };
    let header = &block.header;
    axum::Json(serde_json::json!({
        "chain_id": header.chain_id,
        "height": header.height,
        "hash": header.hash().to_hex(),
        "parent": header.parent.to_hex(),
        "timestamp_ms": header.timestamp_ms,
        "tx_root": header.tx_root.to_hex(),
        "state_hash": header.state_hash.to_hex(),
        "tx_count": header.tx_count,
        "certificate": certificate,
    }))
    .into_response()
}

/// Authenticates a read of whole blocks: an auditor's or a validator's.
fn block_reader(
    api: &Api,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let reader = authenticate(api, method, uri, headers)?;
    if !reads_everything(reader.roles) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "not allowed",
            format!(
                "key {} may not read whole blocks, which hold everyone's transactions: an \
                 auditor's or a validator's key may; anyone may read /v1/headers/{{height}}",
                reader.key
            ),
        ));
    }
    Ok(())
}

/// The query of `GET /v1/blocks` and `GET /v1/accounts/{key}/history`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockRange {
    /// First height.
    from: String,
    /// How many blocks at most.
    count: String,
}

/// The first height and the count of a `?from=H&count=N` query: `H` at least 1, `N` from 1
/// to [`BLOCKS_PER_READ`].
fn block_range(
    query: Result<axum::extract::Query<BlockRange>, axum::extract::rejection::QueryRejection>,
) -> Result<(u64, u64), Refusal> {
    let range = match query {
        Ok(axum::extract::Query(range)) => range,
        Err(rejection) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad range",
                format!("{rejection}: give ?from=HEIGHT&count=N"),
            ));
        }
    };
    let from = match parse_height(&range.from)? {
        0 => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad height",
                "from: the first block is at height 1".into(),
            ));
        }
        from => from,
    };
    let count = match range.count.parse::<u64>() {
        Ok(count) if (1..=BLOCKS_PER_READ).contains(&count) => count,
        _ => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "bad count",
                format!("count: a whole number from 1 to {BLOCKS_PER_READ}"),
            ));
        }
    };
    Ok((from, count))
}

/// `GET /v1/blocks?from=H&count=N`: blocks `H`, `H + 1`, … for an auditor or a validator, each
/// as a 4-byte little-endian length and its canonical bytes (the batch format of
/// `POST /v1/transactions/batch`). At most [`BLOCKS_PER_READ`], and it stops after the block
/// that passes [`BLOCK_READ_BYTES`] or at the head; an empty answer means `H` is above the
/// head.
pub async fn blocks(
    State(api): State<Api>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    query: Result<axum::extract::Query<BlockRange>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(refusal) = block_reader(&api, &method, &uri, &headers) {
        return refusal.into_response();
    }
    let (from, count) = match block_range(query) {
        Ok(range) => range,
        Err(refusal) => return refusal.into_response(),
    };
    let mut body = Vec::new();
    let app = api.app.lock();
    let ledger = app.ledger();
    let last = ledger.height().min(from.saturating_add(count - 1));
    for height in from..=last {
        match block_at(ledger, height) {
            Ok(Some(block)) => super::push_frame(&mut body, &block.to_bytes()),
            Ok(None) => break,
            Err(refusal) => return refusal.into_response(),
        }
        if body.len() > BLOCK_READ_BYTES {
            break;
        }
    }
    drop(app);
    ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
}

/// `GET /v1/blocks/{height}`: a whole block's canonical bytes, for an auditor or a validator.
pub async fn block(
    State(api): State<Api>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    UrlPath(height): UrlPath<String>,
) -> Response {
    if let Err(refusal) = block_reader(&api, &method, &uri, &headers) {
        return refusal.into_response();
    }
    match parse_height(&height).and_then(|height| stored_block(&api.app, height)) {
        Ok(block) => (
            [(header::CONTENT_TYPE, "application/octet-stream")],
            block.to_bytes(),
        )
            .into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// Authenticates a read of the account `account` (hex): by its own key, an auditor's or a
/// validator's.
fn account_reader(
    api: &Api,
    method: &Method,
    uri: &OriginalUri,
    headers: &HeaderMap,
    account: &str,
) -> Result<PublicKey, Refusal> {
    let reader = authenticate(api, method, uri, headers)?;
    let Ok(account) = PublicKey::from_hex(account) else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "bad account",
            "an account is an ed25519 public key, 64 hexadecimal digits".into(),
        ));
    };
    if account != reader.key && !reads_everything(reader.roles) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "not allowed",
            format!(
                "key {} may read its own account only; an auditor's or a validator's key reads \
                 every account",
                reader.key
            ),
        ));
    }
    Ok(account)
}

/// The refusal for an account the ledger does not have.
fn no_such_account(account: &PublicKey, height: u64) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "no such account",
        format!("{account} is not an account of this ledger at height {height}"),
    )
}

/// Whether `account` owns asset `asset`. An asset's owner never changes.
fn owns(state: &LedgerState, account: &PublicKey, asset: u32) -> bool {
    state
        .assets
        .get(&asset)
        .is_some_and(|asset| asset.owner == *account)
}

/// The sides of `trade` (in `slot`) that assets `own` took, as `account` sees them: `slot`,
/// `trade_id`, `side`, `asset`, `energy_mwh`, and the `amount` paid or received.
fn own_sides(
    slot: u64,
    trade: &TradeEntry,
    own: impl Fn(u32) -> bool,
) -> impl Iterator<Item = serde_json::Value> {
    [
        ("buy", trade.buyer_asset, trade.buyer_amount),
        ("sell", trade.seller_asset, trade.seller_amount),
    ]
    .into_iter()
    .filter(move |(_, asset, _)| own(*asset))
    .map(move |(side, asset, amount)| {
        serde_json::json!({
            "slot": slot,
            "trade_id": trade.trade_id,
            "side": side,
            "asset": asset,
            "energy_mwh": trade.energy_mwh,
            "amount": amount,
        })
    })
}

/// `GET /v1/accounts/{key}`: an account, for its own key, an auditor or a validator.
pub async fn account(
    State(api): State<Api>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    UrlPath(account): UrlPath<String>,
) -> Response {
    let account = match account_reader(&api, &method, &uri, &headers, &account) {
        Ok(account) => account,
        Err(refusal) => return refusal.into_response(),
    };
    let shared = api.app.lock();
    let ledger = shared.ledger();
    let state = ledger.state();
    let Some(entry) = state.accounts.get(&account) else {
        return no_such_account(&account, ledger.height());
    };
    let assets: Vec<serde_json::Value> = state
        .assets
        .iter()
        .filter(|(_, asset)| asset.owner == account)
        .map(|(number, asset)| {
            serde_json::json!({
                "asset": number,
                "name": asset.name,
                "energy_sell_max_mwh": asset.energy_sell_max_mwh,
                "balancing_asset": asset.balancing_asset,
            })
        })
        .collect();
    // What the account's assets traded and delivered in the slots not settled yet; once a
    // slot is settled its outcome is in the balances and tokens.
    let own = |asset: u32| owns(state, &account, asset);
    let mut open_trades = Vec::new();
    let mut open_deliveries = Vec::new();
    for (slot, book) in &state.slots {
        for trade in &book.trades {
            open_trades.extend(own_sides(*slot, trade, own));
        }
        for (asset, (energy_in, energy_out)) in &book.deliveries {
            if own(*asset) {
                open_deliveries.push(serde_json::json!({
                    "slot": slot,
                    "asset": asset,
                    "energy_in_mwh": energy_in,
                    "energy_out_mwh": energy_out,
                }));
            }
        }
    }
    axum::Json(serde_json::json!({
        "account": account.to_hex(),
        "height": ledger.height(),
        "currency": ledger.genesis().currency,
        "name": entry.name,
        "roles": entry.roles.list(),
        "nonce": entry.nonce,
        "balance": entry.balance,
        "locked": entry.locked,
        "tokens_mwh": entry.tokens_mwh,
        "tokens_minted_mwh": entry.tokens_minted_mwh,
        "assets": assets,
        "open_trades": open_trades,
        "open_deliveries": open_deliveries,
    }))
    .into_response()
}

/// `GET /v1/accounts/{key}/history?from=H&count=N`: what blocks `H` … `H + N - 1` (at most
/// [`BLOCKS_PER_READ`], up to the head) did to one account, for its own key, an auditor or a
/// validator. The account's side of each trade of its assets (also of slots settled since),
/// its assets' metered deliveries, the grid fees and clearing surpluses paid to it, its
/// deposits and withdrawals, and every slot settled in those blocks; nothing of other
/// participants. `next` is the height to ask for next (`null` once the head is reached).
pub async fn history(
    State(api): State<Api>,
    method: Method,
    uri: OriginalUri,
    headers: HeaderMap,
    UrlPath(account): UrlPath<String>,
    query: Result<axum::extract::Query<BlockRange>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let account = match account_reader(&api, &method, &uri, &headers, &account) {
        Ok(account) => account,
        Err(refusal) => return refusal.into_response(),
    };
    let (from, count) = match block_range(query) {
        Ok(range) => range,
        Err(refusal) => return refusal.into_response(),
    };
    let shared = api.app.lock();
    let ledger = shared.ledger();
    let state = ledger.state();
    if !state.accounts.contains_key(&account) {
        return no_such_account(&account, ledger.height());
    }
    // An asset's owner never changes, so today's owners are those of every block.
    let own = |asset: u32| owns(state, &account, asset);
    let head = ledger.height();
    let last = head.min(from.saturating_add(count - 1));
    let mut entries = Vec::new();
    for height in from..=last {
        let block = match block_at(ledger, height) {
            Ok(Some(block)) => block,
            Ok(None) => break,
            Err(refusal) => return refusal.into_response(),
        };
        for (index, tx) in block.transactions.iter().enumerate() {
            let at = |entry: serde_json::Value| {
                let mut entry = entry;
                entry["height"] = height.into();
                entry["transaction"] = index.into();
                entry
            };
            match &tx.transaction.body {
                Body::Deposit {
                    account: credited,
                    amount,
                } if *credited == account => {
                    entries.push(at(
                        serde_json::json!({ "kind": "deposit", "amount": amount }),
                    ));
                }
                Body::Withdraw {
                    account: debited,
                    amount,
                } if *debited == account => {
                    entries.push(at(
                        serde_json::json!({ "kind": "withdraw", "amount": amount }),
                    ));
                }
                Body::RecordTrades { slot, trades } => {
                    for trade in trades {
                        for mut side in own_sides(*slot, trade, own) {
                            side["kind"] = "trade".into();
                            entries.push(at(side));
                        }
                        let paid = trade
                            .fees
                            .iter()
                            .map(|(operator, fee)| ("fee", operator, fee))
                            .chain(
                                trade
                                    .surplus
                                    .iter()
                                    .map(|(operator, surplus)| ("surplus", operator, surplus)),
                            );
                        for (kind, operator, amount) in paid {
                            if *operator == account {
                                entries.push(at(serde_json::json!({
                                    "kind": kind,
                                    "slot": slot,
                                    "trade_id": trade.trade_id,
                                    "amount": amount,
                                })));
                            }
                        }
                    }
                }
                Body::PostDeliveries {
                    slot, deliveries, ..
                } => {
                    for delivery in deliveries.iter().filter(|delivery| own(delivery.asset)) {
                        entries.push(at(serde_json::json!({
                            "kind": "delivery",
                            "slot": slot,
                            "asset": delivery.asset,
                            "energy_in_mwh": delivery.energy_in_mwh,
                            "energy_out_mwh": delivery.energy_out_mwh,
                        })));
                    }
                }
                Body::SettleSlot { slot } => {
                    entries.push(at(serde_json::json!({ "kind": "settled", "slot": slot })));
                }
                _ => {}
            }
        }
    }
    let scanned_to = last.max(from.saturating_sub(1));
    axum::Json(serde_json::json!({
        "account": account.to_hex(),
        "from": from,
        "to": scanned_to,
        "head": head,
        "next": (scanned_to < head).then_some(scanned_to + 1),
        "entries": entries,
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// The client.

/// Reads a key file (`nestgrid keygen`, or the ones `testnet` writes).
pub fn read_key_file(path: &Path) -> Result<Keypair, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: KeyFile =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    file.keypair()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Why a read failed.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The HTTP status, if the validator answered.
    pub status: Option<u16>,
    /// What happened, with the URL.
    pub message: String,
}

/// A client of one validator's API; it signs its reads when it has a key.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    keypair: Option<Keypair>,
}

impl Client {
    /// A client of the API at `url` (such as `http://127.0.0.1:7100`), signing with `keypair`.
    pub fn new(url: &str, keypair: Option<Keypair>) -> Client {
        Client {
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(30)))
                    .http_status_as_error(false)
                    .build(),
            ),
            url: url.trim_end_matches('/').to_string(),
            keypair,
        }
    }

    /// The signing key's public key.
    pub fn key(&self) -> Option<PublicKey> {
        self.keypair.as_ref().map(Keypair::public)
    }

    /// `GET path`, signed if the client has a key; waits and asks again when the key is over
    /// its rate. Any answer but `200` is a [`Failure`] with the status and the problem's detail.
    pub fn fetch(&self, path: &str) -> Result<Vec<u8>, Failure> {
        let target = format!("{}{path}", self.url);
        let failure = |status: Option<u16>, message: String| Failure { status, message };
        loop {
            let mut get = self.agent.get(&target);
            if let Some(keypair) = &self.keypair {
                for (name, value) in request::sign(
                    keypair,
                    READ_DOMAIN,
                    "GET",
                    path,
                    b"",
                    now_ms(),
                    &new_nonce(),
                ) {
                    get = get.header(name, value);
                }
            }
            let mut response = get
                .call()
                .map_err(|e| failure(None, format!("{target}: {e}")))?;
            let status = response.status().as_u16();
            let bytes = response
                .body_mut()
                .with_config()
                .limit(MAX_BODY_BYTES as u64 * 4)
                .read_to_vec()
                .map_err(|e| failure(Some(status), format!("{target}: {e}")))?;
            match status {
                200 => return Ok(bytes),
                429 => std::thread::sleep(Duration::from_millis(200)),
                _ => {
                    let problem: serde_json::Value =
                        serde_json::from_slice(&bytes).unwrap_or_default();
                    let detail = problem["detail"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
                    return Err(failure(
                        Some(status),
                        format!("{target} answered {status}: {detail}"),
                    ));
                }
            }
        }
    }

    /// [`Client::fetch`], with the failure as text.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, String> {
        self.fetch(path).map_err(|failure| failure.message)
    }

    /// `GET path` as JSON.
    pub fn get_json(&self, path: &str) -> Result<serde_json::Value, String> {
        let bytes = self.get(path)?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}{path}: {e}", self.url))
    }

    /// The validator's genesis file.
    pub fn genesis(&self) -> Result<Genesis, String> {
        let bytes = self.get("/v1/genesis")?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}/v1/genesis: {e}", self.url))
    }

    /// The height of the validator's last block.
    pub fn height(&self) -> Result<u64, String> {
        self.get_json("/v1/head")?["height"]
            .as_u64()
            .ok_or_else(|| format!("{}/v1/head names no height", self.url))
    }

    /// An account (signed: the key's own, or any for an auditor's or a validator's key).
    pub fn account(&self, account: &PublicKey) -> Result<serde_json::Value, String> {
        self.get_json(&format!("/v1/accounts/{account}"))
    }

    /// Every entry of an account's history, from height 1 to the head, read a page of
    /// [`BLOCKS_PER_READ`] blocks at a time (`GET /v1/accounts/{key}/history`).
    pub fn history(&self, account: &PublicKey) -> Result<Vec<serde_json::Value>, String> {
        let mut entries = Vec::new();
        let mut from = 1;
        loop {
            let page = self.get_json(&format!(
                "/v1/accounts/{account}/history?from={from}&count={BLOCKS_PER_READ}"
            ))?;
            if let Some(list) = page["entries"].as_array() {
                entries.extend(list.iter().cloned());
            }
            match page["next"].as_u64() {
                Some(next) if next > from => from = next,
                _ => return Ok(entries),
            }
        }
    }

    /// A whole block (signed by an auditor's or a validator's key).
    pub fn block(&self, height: u64) -> Result<Block, String> {
        let bytes = self.get(&format!("/v1/blocks/{height}"))?;
        Block::from_bytes(&bytes).map_err(|e| format!("{}/v1/blocks/{height}: {e}", self.url))
    }

    /// Whole blocks from `from` on, at most `count` in one request (fewer when they are large
    /// or the head is near; none when `from` is above the head).
    pub fn blocks(&self, from: u64, count: u64) -> Result<Vec<Block>, String> {
        let path = format!("/v1/blocks?from={from}&count={count}");
        let bytes = self.get(&path)?;
        let parts = super::split_batch(&bytes).map_err(|e| format!("{}{path}: {e}", self.url))?;
        parts
            .into_iter()
            .enumerate()
            .map(|(index, part)| {
                Block::from_bytes(part)
                    .map_err(|e| format!("{}{path}: block {}: {e}", self.url, from + index as u64))
            })
            .collect()
    }

    /// Checks that the client's key may read whole blocks here, with a message that says what
    /// to do when it may not.
    pub fn require_reader_of_blocks(&self) -> Result<(), String> {
        let Some(key) = self.key() else {
            return Err(
                "reading whole blocks needs the key of an auditor (or a validator) of \
                 the chain: give --key FILE, such as the auditor.key that `nestgrid-node testnet` \
                 writes"
                    .into(),
            );
        };
        let own = match self.fetch(&format!("/v1/accounts/{key}")) {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| format!("{}/v1/accounts/{key}: {e}", self.url))?,
            Err(Failure {
                status: Some(403),
                message,
            }) => {
                return Err(format!(
                    "the key {key} is not an auditor of this chain, so it may not read whole \
                     blocks ({message})"
                ));
            }
            Err(failure) => return Err(failure.message),
        };
        let roles: Vec<Role> = serde_json::from_value(own["roles"].clone()).unwrap_or_default();
        if !reads_everything(Roles::of(&roles)) {
            let names: Vec<String> = own["roles"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|role| role.as_str().map(str::to_string))
                .collect();
            return Err(format!(
                "the key {key} is not an auditor of this chain (its roles: {}), so it may not \
                 read whole blocks; give an auditor's or a validator's key",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        Ok(())
    }
}

/// Replays the chain served by the validator at `url` from its genesis, reading the blocks
/// with `keypair` (an auditor's or a validator's), and checks every block as `ledger verify`
/// does (hash links, consensus certificates, every transaction, the state hash, the audit
/// totals after each block). The error says whether the chain could not be read (no key, a key
/// that may not read blocks, the validator unreachable) or does not verify.
pub fn verify_url(
    url: &str,
    keypair: Option<Keypair>,
) -> Result<nestgrid_ledger::verify::Report, String> {
    let client = Client::new(url, keypair);
    let cannot_read = |error: String| format!("cannot read the chain at {url}: {error}");
    client.require_reader_of_blocks().map_err(cannot_read)?;
    let genesis = client.genesis().map_err(cannot_read)?;
    let top = client.height().map_err(cannot_read)?;
    // Read in ranges, one request per range, while the replay goes on.
    let mut next = 1u64;
    let mut pending = std::collections::VecDeque::new();
    let blocks = std::iter::from_fn(move || {
        if pending.is_empty() && next <= top {
            let count = (top - next + 1).min(BLOCKS_PER_READ);
            match client.blocks(next, count) {
                Ok(read) if !read.is_empty() => {
                    next += read.len() as u64;
                    pending.extend(read.into_iter().map(Ok));
                }
                Ok(_) => {
                    let height = next;
                    next = top + 1;
                    return Some(Err(VerifyError::Audit {
                        height,
                        reason: format!(
                            "the validator has no block {height}, below its head {top}"
                        ),
                    }));
                }
                Err(reason) => {
                    let height = next;
                    next = top + 1;
                    return Some(Err(VerifyError::Audit { height, reason }));
                }
            }
        }
        pending.pop_front()
    });
    nestgrid_ledger::verify::replay(genesis, blocks, &crate::ConsensusCertificates)
        .map_err(|error| format!("{url} does not verify: {error}"))
}
