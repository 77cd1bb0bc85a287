//! The HTTP + JSON API (named after the Common Transactive Services) and the event stream.
//!
//! Every handler reads the raw request (method, path, headers, body) so that the signature is
//! checked over exactly the bytes received, and every error, including those of the framework
//! (unknown route, wrong method, body too large), is answered as `application/problem+json`.
//! `/openapi.json` describes every route; `/docs` is the page for people.

use crate::auth::{self, Admission, AuthError, Received};
use crate::exchange::{
    Bill, Command, Event, LiveMarket, NewTender, Problem, Shared, State, role_of,
};
use crate::model::{
    DeliveryRecord, FillRecord, GridAction, GridEvent, LegRecord, ParticipantRecord, Role,
    TenderRecord, TenderStatus,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use nestgrid_ledger::PublicKey;
use nestgrid_types::Side;
use nestgrid_types::decimal::{format_fixed, parse_fixed};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;

/// The OpenAPI 3.1 document of this API.
pub const OPENAPI: &str = include_str!("openapi.json");
/// The page for people at `/docs`.
const DOCS: &str = include_str!("docs.html");
/// The live dashboard at `/`.
const DASHBOARD: &str = include_str!("dashboard.html");

type App = Arc<Shared>;

/// The router: every route of the API, the problem-document layer and the body limit.
pub fn router(shared: App) -> Router {
    let limit = shared.limits.body_bytes;
    Router::new()
        .route("/", get(dashboard))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs))
        .route("/v1/clock", get(clock))
        .route("/v1/areas", get(areas))
        .route("/v1/assets", get(assets))
        .route("/v1/participants", post(register).get(participants))
        .route("/v1/participants/me", get(me))
        .route("/v1/tenders", post(create_tenders).get(list_tenders))
        .route("/v1/tenders/{id}", get(show_tender).delete(cancel_tender))
        .route("/v1/transactions", get(transactions))
        .route("/v1/positions", get(positions))
        .route("/v1/bills", get(bills))
        .route("/v1/market", get(market))
        .route("/v1/market/{area}/book", get(book))
        .route("/v1/market/{area}/history", get(history))
        .route("/v1/deliveries", post(post_deliveries).get(deliveries))
        .route("/v1/grid", get(grid))
        .route("/v1/grid/events", post(grid_event))
        .route("/v1/stream", get(stream))
        .layer(DefaultBodyLimit::max(limit))
        .layer(ProblemDocuments)
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Problems, decimals, authentication.

fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "type": "about:blank",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response();
    if problem.status == 503 || problem.status == 429 {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        problem_response(&self)
    }
}

/// The layer that turns the framework's own error answers (unknown route, wrong method, body
/// too large) into problem documents. A layer of its own rather than `middleware::from_fn`: an
/// answer that needs nothing passes through without the boxing and cloning that costs every
/// request (about 2 µs each, 5 % of the HTTP threads' time at 20,000 requests a second).
#[derive(Clone, Copy, Debug)]
struct ProblemDocuments;

impl<S> tower_layer::Layer<S> for ProblemDocuments {
    type Service = ProblemService<S>;

    fn layer(&self, inner: S) -> ProblemService<S> {
        ProblemService { inner }
    }
}

#[derive(Clone, Debug)]
struct ProblemService<S> {
    inner: S,
}

/// An answer of the router (it never fails).
type Answered = Result<Response, std::convert::Infallible>;

/// An answer passed on as it is, or being rewritten (that reads the body, so it is boxed).
type Rewritten = futures_util::future::Either<
    std::future::Ready<Answered>,
    futures_util::future::BoxFuture<'static, Answered>,
>;

/// What [`ProblemService`] answers: the inner answer, rewritten only when it is an error that
/// is not a problem document yet.
type ProblemFuture<F> = futures_util::future::Then<F, Rewritten, fn(Answered) -> Rewritten>;

impl<S> tower_service::Service<Request> for ProblemService<S>
where
    S: tower_service::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ProblemFuture<S::Future>;

    fn poll_ready(
        &mut self,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        use futures_util::FutureExt;
        self.inner.call(request).then(|answer| {
            let Ok(response) = answer;
            if needs_problem_document(&response) {
                futures_util::future::Either::Right(
                    async move { Ok(problem_document(response).await) }.boxed(),
                )
            } else {
                futures_util::future::Either::Left(std::future::ready(Ok(response)))
            }
        })
    }
}

/// An error answer that is not a problem document.
fn needs_problem_document(response: &Response) -> bool {
    let status = response.status();
    (status.is_client_error() || status.is_server_error())
        && !response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"))
}

/// The problem document for the framework's error answer `response`.
async fn problem_document(response: Response) -> Response {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).trim().to_string();
    let (title, detail) = match status {
        StatusCode::NOT_FOUND => ("not found", "no such route; see /openapi.json".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method not allowed",
            "this route does not take this method; see /openapi.json".to_string(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body too large",
            "the request body is larger than the exchange accepts".to_string(),
        ),
        _ => (
            status.canonical_reason().unwrap_or("error"),
            if text.is_empty() {
                status.to_string()
            } else {
                text
            },
        ),
    };
    problem_response(&Problem::new(status.as_u16(), title, detail))
}

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(400, "bad request", detail)
}

fn unprocessable(detail: impl Into<String>) -> Problem {
    Problem::new(422, "invalid field", detail)
}

/// Energy as kWh, prices as currency per kWh, money as currency: decimal strings with up to
/// six decimals.
fn kwh(milli_wh: i64) -> String {
    format_fixed(milli_wh, 1_000_000)
}

fn money(micro: i64) -> String {
    format_fixed(micro, 1_000_000)
}

/// A decimal field given as a string or a number.
fn decimal(value: &Value, field: &str) -> Result<i64, Problem> {
    let text = match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        _ => {
            return Err(unprocessable(format!(
                "{field}: must be a decimal number (as a string like \"0.25\" or a number)"
            )));
        }
    };
    parse_fixed(&text, 1_000_000)
        .map_err(|error| unprocessable(format!("{field}: `{text}` is not a decimal: {error}")))
}

/// Who made a request.
#[derive(Clone, Debug)]
struct Caller {
    key: String,
    role: Role,
}

/// The signature headers of a request.
fn signature_headers(headers: &HeaderMap) -> Received<'_> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    Received {
        key: header(auth::KEY),
        timestamp: header(auth::TIMESTAMP),
        nonce: header(auth::NONCE),
        signature: header(auth::SIGNATURE),
    }
}

/// The path a request's signature covers: its path with the query.
fn signed_path(uri: &Uri) -> &str {
    uri.path_and_query()
        .map(|path| path.as_str())
        .unwrap_or("/")
}

/// Checks a signed request: signature, time window, nonce, rate, registration.
async fn authenticate(
    app: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, Problem> {
    let received = signature_headers(headers);
    let path = signed_path(uri);
    authenticate_received(app, &received, method, path, body).await
}

/// Checks a signature given in `received` over `method`, `path` and `body`, then the nonce,
/// the rate and the registration. The headers and the time window are checked here, the
/// signature itself on the signature thread (with the others waiting at that moment).
async fn authenticate_received(
    app: &Shared,
    received: &Received<'_>,
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<Caller, Problem> {
    let now = auth::now_ms();
    let signed = auth::parse(
        received,
        method.as_str(),
        path,
        body,
        now,
        auth::DEFAULT_WINDOW_MS,
    )
    .map_err(unauthorized)?;
    // A key that is not a point of the curve has no valid signature.
    let valid = match app.nonces.verifier(&signed.key) {
        Some(verifier) => app
            .signatures
            .check(verifier, signed.message, signed.signature)
            .await
            .map_err(|_| {
                Problem::new(
                    503,
                    "exchange stopping",
                    "the signature check stopped before answering",
                )
            })?,
        None => false,
    };
    if !valid {
        return Err(unauthorized(AuthError::BadSignature));
    }
    let (key, nonce) = (signed.key, signed.nonce);
    let timestamp: i64 = received
        .timestamp
        .and_then(|text| text.parse().ok())
        .unwrap_or(0);
    admit(app, &key, nonce, timestamp, now)?;
    let key = key.to_hex();
    let role = role_of(&app.read(), &key).ok_or_else(|| {
        Problem::new(
            403,
            "not registered",
            format!("key {key} is not registered with this exchange; ask its operator"),
        )
    })?;
    Ok(Caller { key, role })
}

fn unauthorized(error: AuthError) -> Problem {
    Problem::new(401, "not authenticated", auth::describe(&error))
}

/// After a valid signature: refuses a request signed before the exchange (re)started, a
/// reused nonce and a key over its rate; otherwise remembers the nonce.
fn admit(
    app: &Shared,
    key: &PublicKey,
    nonce: String,
    timestamp: i64,
    now: i64,
) -> Result<(), Problem> {
    if timestamp < app.started_ms - 1_000 {
        return Err(Problem::new(
            401,
            "not authenticated",
            "the request was signed before the exchange (re)started; sign it again",
        ));
    }
    match app.nonces.admit(key, &nonce, now) {
        Ok(()) => Ok(()),
        Err(Admission::Replayed) => Err(unauthorized(AuthError::Replayed(nonce))),
        Err(Admission::RateLimited) => Err(Problem::new(
            429,
            "too many requests",
            format!(
                "a key may make {} requests per second",
                app.limits.requests_per_second
            ),
        )),
    }
}

fn require(caller: &Caller, allowed: &[Role], action: &str) -> Result<(), Problem> {
    if allowed.contains(&caller.role) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|role| role.name()).collect();
    Err(Problem::new(
        403,
        "wrong role",
        format!(
            "{action} needs the role {}; this key is a {}",
            names.join(" or "),
            caller.role.name()
        ),
    ))
}

fn json_response(status: StatusCode, value: impl Serialize) -> Response {
    let body = serde_json::to_vec(&value).expect("a view is always valid JSON");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn ok(value: impl Serialize) -> Response {
    json_response(StatusCode::OK, value)
}

/// The query's pairs, percent-decoded (`+` is a space).
fn query(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) => (percent_decode(key), percent_decode(value)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let hex = |byte: u8| (byte as char).to_digit(16).map(|digit| digit as u8);
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%'
            && index + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[index + 1]), hex(bytes[index + 2]))
        {
            out.push(high * 16 + low);
            index += 3;
            continue;
        }
        out.push(if byte == b'+' { b' ' } else { byte });
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The optional `slot` filter of list routes.
fn slot_filter(uri: &Uri, known: &[&str]) -> Result<Option<u32>, Problem> {
    let mut slot = None;
    for (key, value) in query(uri) {
        if key == "slot" && known.contains(&"slot") {
            slot = Some(value.parse::<u32>().map_err(|_| {
                bad_request(format!("query `slot`: `{value}` is not a slot number"))
            })?);
        } else if !known.contains(&key.as_str()) {
            return Err(bad_request(if known.is_empty() {
                format!("unknown query parameter `{key}`; this route takes none")
            } else {
                format!(
                    "unknown query parameter `{key}`; this route takes {}",
                    known.join(", ")
                )
            }));
        }
    }
    Ok(slot)
}

fn time_text(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|time| time.to_string())
        .unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let detail = if path == "." || path.is_empty() {
            inner.to_string()
        } else {
            format!("{path}: {inner}")
        };
        if inner.is_data() {
            unprocessable(detail)
        } else {
            bad_request(format!("the body is not valid JSON: {detail}"))
        }
    })?;
    deserializer
        .end()
        .map_err(|error| bad_request(format!("the body has more after its JSON value: {error}")))?;
    Ok(value)
}

// ---------------------------------------------------------------------------------------------
// Views.

/// A tender as the API shows it. Written straight to JSON (no intermediate `Value`): placing
/// tenders is the exchange's busiest request. Fields in alphabetical order, as a JSON object
/// built from a `Value` would have them.
#[derive(Serialize)]
struct TenderView<'a> {
    area: &'a str,
    asset: &'a str,
    created: String,
    curve: bool,
    energy_kwh: String,
    filled_kwh: String,
    id: u64,
    /// The price of a one-step tender that is not a curve; `null` otherwise.
    price: Option<String>,
    side: Side,
    slot: u32,
    status: TenderStatus,
    steps: Vec<StepView>,
}

/// One step of a tender's price-energy list.
#[derive(Serialize)]
struct StepView {
    energy_kwh: String,
    filled_kwh: String,
    price: String,
}

fn tender_view<'a>(app: &'a Shared, tender: &TenderRecord) -> TenderView<'a> {
    let asset = &app.topology.assets[tender.asset as usize];
    TenderView {
        area: &app.topology.areas[asset.area.index()].path,
        asset: &asset.path,
        created: time_text(tender.created_ms),
        curve: tender.curve,
        energy_kwh: kwh(tender.energy().0),
        filled_kwh: kwh(tender.filled().0),
        id: tender.id,
        price: (!tender.curve && tender.legs.len() == 1).then(|| money(tender.legs[0].price)),
        side: tender.side,
        slot: tender.slot,
        status: tender.status,
        steps: tender
            .legs
            .iter()
            .map(|leg| StepView {
                energy_kwh: kwh(leg.energy),
                filled_kwh: kwh(leg.filled),
                price: money(leg.price),
            })
            .collect(),
    }
}

/// A list of tenders: `{"tenders": [...]}`.
#[derive(Serialize)]
struct TenderList<'a> {
    tenders: Vec<TenderView<'a>>,
}

/// One side of a fill, as its owner sees it. The counterparty is not named: the owner sees
/// the market (area) where the energy was matched.
fn transaction_view(app: &Shared, fill: &FillRecord, side: Side) -> Value {
    let topology = app.topology;
    let (asset, tender, price, amount, fees) = match side {
        Side::Buy => (
            fill.buyer,
            fill.buy_tender,
            fill.buyer_price.0,
            fill.buyer_pays.0,
            fill.buyer_fees.0,
        ),
        Side::Sell => (
            fill.seller,
            fill.sell_tender,
            fill.seller_price.0,
            fill.seller_receives.0,
            fill.seller_fees.0,
        ),
    };
    json!({
        "id": fill.id,
        "slot": fill.slot,
        "tick": fill.tick,
        "asset": topology.assets[asset as usize].path,
        "side": side,
        "energy_kwh": kwh(fill.energy.0),
        "price": money(price),
        "amount": money(amount),
        "fees": money(fees),
        "tender": tender,
        "market": topology.areas[fill.market as usize].path,
        "time": time_text(fill.time_ms),
    })
}

fn participant_view(app: &Shared, record: &ParticipantRecord) -> Value {
    let assets: Vec<&str> = record
        .assets
        .iter()
        .map(|asset| app.topology.assets[*asset as usize].path.as_str())
        .collect();
    json!({
        "public_key": record.public_key,
        "name": record.name,
        "role": record.role,
        "assets": assets,
        "registered": time_text(record.registered_ms),
    })
}

/// The assets whose records `caller` may read: all for roles that read everything.
fn visible_assets(state: &State, caller: &Caller) -> Option<Vec<u32>> {
    if caller.role.reads_all() {
        return None;
    }
    Some(
        state
            .participants
            .get(&caller.key)
            .map(|record| record.assets.clone())
            .unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------------------------
// Public routes.

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        OPENAPI.to_string(),
    )
        .into_response()
}

async fn docs() -> Html<&'static str> {
    Html(DOCS)
}

async fn clock(Extract(app): Extract<App>) -> Response {
    let state = app.read();
    let settings = &app.topology.settings;
    let timeline = &app.timeline;
    let now = auth::now_ms();
    let sim = timeline.sim_at(now);
    let trading = state.clock.open_slot.map(|slot| {
        json!({
            "slot": slot,
            "next_tick": state.clock.next_tick,
            "delivery_start": time_text(timeline.tick_start(slot + 1, 0)),
        })
    });
    ok(json!({
        "scenario": settings.name,
        "now": time_text(now),
        "scenario_time": time_text(sim),
        "speed": timeline.speed,
        "slot_seconds": settings.slot_seconds,
        "tick_seconds": settings.tick_seconds,
        "ticks_per_slot": settings.ticks_per_slot(),
        "slot_count": settings.slot_count,
        "first_slot_start": time_text(timeline.start_ms),
        "trading": trading,
        "slots_closed": state.clock.closed,
        "finished": state.clock.finished,
        "currency": settings.currency,
        "time_zone": settings.start.time_zone().iana_name(),
        "ledger": state.ledger,
    }))
}

async fn areas(Extract(app): Extract<App>) -> Response {
    let state = app.read();
    let areas: Vec<Value> = app
        .topology
        .areas
        .iter()
        .enumerate()
        .map(|(index, area)| {
            json!({
                "id": index,
                "path": area.path,
                "name": area.name,
                "parent": area.parent.map(|parent| parent.0),
                "children": area.children.iter().map(|child| child.0).collect::<Vec<_>>(),
                "mechanism": area.mechanism.name(),
                "import_limit_kw": area.import_limit.map(|limit| format_fixed(limit.0, 1_000_000)),
                "export_limit_kw": area.export_limit.map(|limit| format_fixed(limit.0, 1_000_000)),
                "islanded": state.islanded.get(index).copied().unwrap_or(false),
            })
        })
        .collect();
    ok(json!({ "areas": areas }))
}

async fn assets(Extract(app): Extract<App>) -> Response {
    let assets: Vec<Value> = app
        .topology
        .assets
        .iter()
        .map(|asset| {
            json!({
                "path": asset.path,
                "kind": asset.kind.name(),
                "area": app.topology.areas[asset.area.index()].path,
                "external": asset.external,
            })
        })
        .collect();
    ok(json!({ "assets": assets }))
}

/// An area's import and export limits as energy per slot (mWh).
fn slot_limits(app: &Shared, index: usize) -> (Option<i64>, Option<i64>) {
    let area = &app.topology.areas[index];
    let slot_seconds = app.topology.settings.slot_seconds;
    (
        area.import_limit
            .map(|limit| limit.energy_over(slot_seconds).0),
        area.export_limit
            .map(|limit| limit.energy_over(slot_seconds).0),
    )
}

/// Which of an area's limits its trades in a slot reached: `import`, `export`. (The markets
/// never trade beyond a limit: a reached limit is one that held trades back.)
fn binding(
    market: &crate::model::MarketSlot,
    limits: (Option<i64>, Option<i64>),
) -> Vec<&'static str> {
    let mut reached = Vec::new();
    if limits.0.is_some_and(|limit| market.imported >= limit) {
        reached.push("import");
    }
    if limits.1.is_some_and(|limit| market.exported >= limit) {
        reached.push("export");
    }
    reached
}

/// One area's market in one slot: volume, trades and prices.
fn market_summary(market: &crate::model::MarketSlot) -> Value {
    json!({
        "volume_kwh": kwh(market.volume),
        "imported_kwh": kwh(market.imported),
        "exported_kwh": kwh(market.exported),
        "trades": market.trades,
        "min_price": money(market.min),
        "max_price": money(market.max),
        "last_price": money(market.last),
        "mean_price": money(if market.volume > 0 {
            (market.value as i128 * 1_000_000 / market.volume as i128) as i64
        } else {
            0
        }),
    })
}

fn market_view(app: &Shared, state: &State, index: usize, live: &LiveMarket) -> Value {
    let last_closed = state
        .slots
        .values()
        .next_back()
        .and_then(|slot| slot.markets.get(index))
        .filter(|market| market.trades > 0);
    let summary = market_summary;
    // Limits as energy per slot, and which of them the open slot's trades reached.
    let limits = slot_limits(app, index);
    json!({
        "area": app.topology.areas[index].path,
        "id": index,
        "islanded": state.islanded.get(index).copied().unwrap_or(false),
        "imported_kwh": kwh(live.slot.imported),
        "exported_kwh": kwh(live.slot.exported),
        "import_limit_kwh": limits.0.map(kwh),
        "export_limit_kwh": limits.1.map(kwh),
        "binding": binding(&live.slot, limits),
        "best_bid": live.best_bid.map(money),
        "best_offer": live.best_offer.map(money),
        "open": (live.slot.trades > 0).then(|| summary(&live.slot)),
        "last_closed": last_closed.map(|market| {
            let mut value = summary(market);
            value["binding"] = json!(binding(market, limits));
            value["slot"] = json!(state.slots.keys().next_back());
            value
        }),
    })
}

async fn market(Extract(app): Extract<App>) -> Response {
    let state = app.read();
    let areas: Vec<Value> = state
        .live
        .iter()
        .enumerate()
        .map(|(index, live)| market_view(&app, &state, index, live))
        .collect();
    ok(json!({
        "slot": state.clock.open_slot,
        "next_tick": state.clock.next_tick,
        "last_closed_slot": state.slots.keys().next_back(),
        "areas": areas,
    }))
}

async fn book(
    Extract(app): Extract<App>,
    axum::extract::Path(area): axum::extract::Path<String>,
) -> Response {
    let index = match area_index(&app, &area) {
        Ok(index) => index,
        Err(problem) => return problem.into_response(),
    };
    let state = app.read();
    let live = &state.live[index];
    let levels = |levels: &[(i64, i64)]| -> Vec<Value> {
        levels
            .iter()
            .map(|(price, energy)| json!({ "price": money(*price), "energy_kwh": kwh(*energy) }))
            .collect()
    };
    ok(json!({
        "area": app.topology.areas[index].path,
        "slot": state.clock.open_slot,
        "bids": levels(&live.bids),
        "offers": levels(&live.offers),
    }))
}

/// The area of a `/v1/market/{area}/...` route, or a problem naming the valid range.
fn area_index(app: &Shared, area: &str) -> Result<usize, Problem> {
    match area.parse::<usize>() {
        Ok(index) if index < app.topology.areas.len() => Ok(index),
        _ => Err(Problem::new(
            404,
            "unknown area",
            format!(
                "no area {area}: areas are numbered 0 to {} (see /v1/areas)",
                app.topology.areas.len() - 1
            ),
        )),
    }
}

/// Every closed slot of one area's market, oldest first (slots without trades included, with
/// zero volume).
async fn history(
    Extract(app): Extract<App>,
    axum::extract::Path(area): axum::extract::Path<String>,
) -> Response {
    let index = match area_index(&app, &area) {
        Ok(index) => index,
        Err(problem) => return problem.into_response(),
    };
    let state = app.read();
    let slots: Vec<Value> = state
        .slots
        .values()
        .map(|record| {
            let market = record.markets.get(index).copied().unwrap_or_default();
            let mut value = if market.trades > 0 {
                market_summary(&market)
            } else {
                json!({ "volume_kwh": "0", "imported_kwh": kwh(market.imported), "exported_kwh": kwh(market.exported), "trades": 0 })
            };
            value["slot"] = json!(record.slot);
            value["binding"] = json!(binding(&market, slot_limits(&app, index)));
            value
        })
        .collect();
    ok(json!({ "area": app.topology.areas[index].path, "slots": slots }))
}

async fn grid(Extract(app): Extract<App>) -> Response {
    let state = app.read();
    let events: Vec<Value> = state
        .events
        .iter()
        .map(|event| grid_event_view(&app, event))
        .collect();
    let areas: Vec<Value> = app
        .topology
        .areas
        .iter()
        .enumerate()
        .map(|(index, area)| {
            json!({
                "area": area.path,
                "islanded": state.islanded.get(index).copied().unwrap_or(false),
                "import_limit_kw": area.import_limit.map(|limit| format_fixed(limit.0, 1_000_000)),
                "export_limit_kw": area.export_limit.map(|limit| format_fixed(limit.0, 1_000_000)),
            })
        })
        .collect();
    ok(json!({ "areas": areas, "events": events }))
}

fn grid_event_view(app: &Shared, event: &GridEvent) -> Value {
    json!({
        "id": event.id,
        "area": app.topology.areas[event.area as usize].path,
        "action": event.action,
        "from_slot": event.from_slot,
        "posted": time_text(event.posted_ms),
    })
}

// ---------------------------------------------------------------------------------------------
// Signed routes.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    public_key: String,
    name: String,
    #[serde(default = "participant_role")]
    role: Role,
    #[serde(default)]
    assets: Vec<String>,
}

fn participant_role() -> Role {
    Role::Participant
}

async fn register(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, &body).await?;
        require(&caller, &[Role::Operator], "registering a key")?;
        let request: RegisterBody = decode(&body)?;
        let key = PublicKey::from_hex(&request.public_key)
            .map_err(|error| unprocessable(format!("public_key: {error}")))?;
        if !key.is_usable() {
            return Err(unprocessable(
                "public_key: not a usable ed25519 public key (not a curve point, or of small order)",
            ));
        }
        if request.name.trim().is_empty() || request.name.len() > 200 {
            return Err(unprocessable("name: must be 1 to 200 characters"));
        }
        if request.role != Role::Participant && !request.assets.is_empty() {
            return Err(unprocessable(
                "assets: only participants trade assets; a dso, auditor or operator has none",
            ));
        }
        let mut assets = Vec::with_capacity(request.assets.len());
        for (index, path) in request.assets.iter().enumerate() {
            let Some(&asset) = app.asset_by_path.get(path) else {
                return Err(Problem::new(
                    422,
                    "unknown asset",
                    format!("assets[{index}]: no asset `{path}` (see /v1/assets)"),
                ));
            };
            if !app.topology.assets[asset as usize].external {
                return Err(Problem::new(
                    422,
                    "asset not external",
                    format!(
                        "assets[{index}]: `{path}` trades by its own strategy; mark it `external: true` in the scenario to trade it through the API"
                    ),
                ));
            }
            if !assets.contains(&asset) {
                assets.push(asset);
            }
        }
        let record = ParticipantRecord {
            public_key: key.to_hex(),
            name: request.name,
            role: request.role,
            assets,
            registered_ms: auth::now_ms(),
        };
        let record = app
            .ask(|reply| Command::Register { record, reply })
            .await?;
        Ok(json_response(
            StatusCode::CREATED,
            participant_view(&app, &record),
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn participants(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        require(
            &caller,
            &[Role::Operator, Role::Auditor, Role::Dso],
            "listing participants",
        )?;
        let state = app.read();
        let mut list: Vec<&ParticipantRecord> = state.participants.values().collect();
        list.sort_by_key(|record| record.registered_ms);
        let list: Vec<Value> = list
            .into_iter()
            .map(|record| participant_view(&app, record))
            .collect();
        Ok(ok(json!({ "participants": list })))
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

async fn me(Extract(app): Extract<App>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        let state = app.read();
        let record = &state.participants[&caller.key];
        Ok(ok(participant_view(&app, record)))
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenderBody {
    asset: String,
    side: Side,
    slot: u32,
    #[serde(default)]
    until_slot: Option<u32>,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    energy_kwh: Option<Value>,
    #[serde(default)]
    price: Option<Value>,
    #[serde(default)]
    curve: Option<Vec<CurvePoint>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CurvePoint {
    price: Value,
    energy_kwh: Value,
}

/// Largest energy of one tender step or reading: 100 MWh.
const MAX_ENERGY: i64 = 100_000 * 1_000_000;
/// Largest absolute price: 10,000 per kWh.
const MAX_PRICE: i64 = 10_000 * 1_000_000;

fn check_price(price: i64, field: &str) -> Result<i64, Problem> {
    if price.abs() > MAX_PRICE {
        return Err(unprocessable(format!(
            "{field}: must be between -10000 and 10000 per kWh"
        )));
    }
    Ok(price)
}

/// The price steps of a tender: one step for a price and an energy; for a curve, one step per
/// point (a buy curve's energy falls as the price rises, a sell curve's rises; each point
/// adds the difference to its neighbour as a step at its price, so at any price the steps
/// that trade add up to the curve's energy at that price).
fn tender_legs(app: &Shared, body: &TenderBody) -> Result<(Vec<LegRecord>, bool), Problem> {
    match (&body.energy_kwh, &body.price, &body.curve) {
        (Some(energy), Some(price), None) => {
            let energy = decimal(energy, "energy_kwh")?;
            if energy <= 0 || energy > MAX_ENERGY {
                return Err(unprocessable(
                    "energy_kwh: must be greater than 0 and at most 100000",
                ));
            }
            let price = check_price(decimal(price, "price")?, "price")?;
            Ok((
                vec![LegRecord {
                    price,
                    energy,
                    filled: 0,
                }],
                false,
            ))
        }
        (None, None, Some(points)) => {
            if points.is_empty() || points.len() > app.limits.legs_per_tender {
                return Err(unprocessable(format!(
                    "curve: must have 1 to {} points",
                    app.limits.legs_per_tender
                )));
            }
            let mut parsed = Vec::with_capacity(points.len());
            for (index, point) in points.iter().enumerate() {
                let price = check_price(
                    decimal(&point.price, &format!("curve[{index}].price"))?,
                    &format!("curve[{index}].price"),
                )?;
                let energy = decimal(&point.energy_kwh, &format!("curve[{index}].energy_kwh"))?;
                if !(0..=MAX_ENERGY).contains(&energy) {
                    return Err(unprocessable(format!(
                        "curve[{index}].energy_kwh: must be between 0 and 100000"
                    )));
                }
                if let Some(&(previous, previous_energy)) = parsed.last() {
                    if price <= previous {
                        return Err(unprocessable(format!(
                            "curve[{index}].price: points must be in increasing order of price"
                        )));
                    }
                    let monotone = match body.side {
                        Side::Buy => energy <= previous_energy,
                        Side::Sell => energy >= previous_energy,
                    };
                    if !monotone {
                        return Err(unprocessable(format!(
                            "curve[{index}].energy_kwh: a {} curve's energy must {} as the price rises",
                            if body.side == Side::Buy {
                                "buy"
                            } else {
                                "sell"
                            },
                            if body.side == Side::Buy {
                                "not increase"
                            } else {
                                "not decrease"
                            }
                        )));
                    }
                }
                parsed.push((price, energy));
            }
            let mut legs = Vec::new();
            for (index, &(price, energy)) in parsed.iter().enumerate() {
                let step = match body.side {
                    Side::Buy => energy - parsed.get(index + 1).map_or(0, |next| next.1),
                    Side::Sell => energy - if index == 0 { 0 } else { parsed[index - 1].1 },
                };
                if step > 0 {
                    legs.push(LegRecord {
                        price,
                        energy: step,
                        filled: 0,
                    });
                }
            }
            if legs.is_empty() {
                return Err(unprocessable("curve: has no energy at any price"));
            }
            Ok((legs, true))
        }
        _ => Err(unprocessable(
            "a tender has either `energy_kwh` and `price`, or a `curve` of points",
        )),
    }
}

async fn create_tenders(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<Response, Problem> = async {
        let records = match quick_tenders(&app, &method, &uri, &headers, &body) {
            Some(quick) => place_quick(&app, quick).await?,
            None => {
                let caller = authenticate(&app, &method, &uri, &headers, &body).await?;
                require(&caller, &[Role::Participant], "placing a tender")?;
                let tenders = new_tenders(&app, &body)?;
                let owner = caller.key;
                app.ask(|reply| Command::Tenders {
                    owner,
                    tenders,
                    reply,
                })
                .await?
            }
        };
        let tenders = records
            .iter()
            .map(|record| tender_view(&app, record))
            .collect();
        Ok(json_response(StatusCode::CREATED, TenderList { tenders }))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The tenders a request body asks for, checked against the scenario and the limits.
fn new_tenders(app: &Shared, body: &[u8]) -> Result<Vec<NewTender>, Problem> {
    let request: TenderBody = decode(body)?;
    let Some(&asset) = app.asset_by_path.get(&request.asset) else {
        return Err(Problem::new(
            422,
            "unknown asset",
            format!("asset: no asset `{}` (see /v1/assets)", request.asset),
        ));
    };
    let area = app.topology.assets[asset as usize].area;
    if let Some(path) = &request.area {
        let Some(&named) = app.area_by_path.get(path) else {
            return Err(Problem::new(
                422,
                "unknown area",
                format!("area: no area `{path}` (see /v1/areas)"),
            ));
        };
        if named != area.0 {
            return Err(Problem::new(
                422,
                "wrong area",
                format!(
                    "area: asset `{}` trades in `{}`, not in `{path}`",
                    request.asset,
                    app.topology.areas[area.index()].path
                ),
            ));
        }
    }
    let last = request.until_slot.unwrap_or(request.slot);
    if last < request.slot || last - request.slot >= app.limits.slots_per_tender {
        return Err(unprocessable(format!(
            "until_slot: must be from slot to slot + {}",
            app.limits.slots_per_tender - 1
        )));
    }
    let (legs, curve) = tender_legs(app, &request)?;
    let tenders: Vec<NewTender> = (request.slot..=last)
        .map(|slot| NewTender {
            asset,
            side: request.side,
            slot,
            legs: legs.clone(),
            curve,
        })
        .collect();
    Ok(tenders)
}

/// A tender request that passed every check but its signature's (see [`quick_tenders`]).
struct Quick {
    verifier: nestgrid_ledger::Verifier,
    signed: auth::Signed,
    timestamp: i64,
    now: i64,
    owner: String,
    tenders: Vec<NewTender>,
}

/// The quick path of the most frequent request. Every check that needs no signature comes
/// first: headers and time window, a registered participant, a valid body. When they all
/// pass, [`place_quick`] lets the signature thread check the signature, admit the nonce and
/// hand the tenders to the market thread itself. `None` when one fails: the ordinary path
/// then checks the signature first and reports the failure exactly as before, so the answer
/// to every request is the same either way.
fn quick_tenders(
    app: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Quick> {
    let received = signature_headers(headers);
    let path = signed_path(uri);
    let now = auth::now_ms();
    let signed = auth::parse(
        &received,
        method.as_str(),
        path,
        body,
        now,
        auth::DEFAULT_WINDOW_MS,
    )
    .ok()?;
    let verifier = app.nonces.verifier(&signed.key)?;
    let owner = signed.key.to_hex();
    if role_of(&app.read(), &owner)? != Role::Participant {
        return None;
    }
    let tenders = new_tenders(app, body).ok()?;
    let timestamp = received.timestamp?.parse().ok()?;
    Some(Quick {
        verifier,
        signed,
        timestamp,
        now,
        owner,
        tenders,
    })
}

/// Places the tenders of `quick`: the signature thread checks the signature and, if it is
/// valid and the nonce and rate admit the request, queues the tenders for the market thread.
/// The handler wakes once, for the answer.
async fn place_quick(app: &App, quick: Quick) -> Result<Vec<TenderRecord>, Problem> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let command = Command::Tenders {
        owner: quick.owner,
        tenders: quick.tenders,
        reply,
    };
    let shared = app.clone();
    let auth::Signed {
        key,
        nonce,
        message,
        signature,
    } = quick.signed;
    let (timestamp, now) = (quick.timestamp, quick.now);
    let then = Box::new(move |valid: bool| {
        if !valid {
            return command.refuse(unauthorized(AuthError::BadSignature));
        }
        match admit(&shared, &key, nonce, timestamp, now) {
            Ok(()) => shared.forward(command),
            Err(problem) => command.refuse(problem),
        }
    });
    app.signatures
        .check_then(quick.verifier, message, signature, then)
        .await;
    crate::exchange::answered(answer).await
}

async fn list_tenders(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        let mut slot = None;
        let mut status = None;
        for (key, value) in query(&uri) {
            match key.as_str() {
                "slot" => {
                    slot = Some(value.parse::<u32>().map_err(|_| {
                        bad_request(format!("query `slot`: `{value}` is not a slot number"))
                    })?)
                }
                "status" => {
                    status = Some(
                        serde_json::from_value::<TenderStatus>(Value::String(value.clone()))
                            .map_err(|_| {
                                bad_request(format!(
                                    "query `status`: `{value}` is not one of waiting, open, cancelled, closed"
                                ))
                            })?,
                    )
                }
                other => {
                    return Err(bad_request(format!(
                        "unknown query parameter `{other}`; this route takes slot, status"
                    )));
                }
            }
        }
        let state = app.read();
        let keep = |tender: &&TenderRecord| {
            slot.is_none_or(|slot| tender.slot == slot)
                && status.is_none_or(|status| tender.status == status)
        };
        let tenders: Vec<TenderView> = if caller.role.reads_all() {
            state
                .tenders
                .values()
                .filter(keep)
                .map(|tender| tender_view(&app, tender))
                .collect()
        } else {
            state
                .tenders_by_owner
                .get(&caller.key)
                .into_iter()
                .flatten()
                .map(|id| &state.tenders[id])
                .filter(keep)
                .map(|tender| tender_view(&app, tender))
                .collect()
        };
        Ok(ok(TenderList { tenders }))
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

fn tender_id(text: &str) -> Result<u64, Problem> {
    text.parse::<u64>().map_err(|_| {
        Problem::new(
            404,
            "no such tender",
            format!("`{text}` is not a tender number"),
        )
    })
}

async fn show_tender(
    Extract(app): Extract<App>,
    axum::extract::Path(id): axum::extract::Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        let id = tender_id(&id)?;
        let state = app.read();
        match state.tenders.get(&id) {
            Some(tender) if caller.role.reads_all() || tender.owner == caller.key => {
                Ok(ok(tender_view(&app, tender)))
            }
            // Another participant's tender is answered like a missing one: its existence is
            // not revealed.
            _ => Err(Problem::new(
                404,
                "no such tender",
                format!("you have no tender {id}"),
            )),
        }
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

async fn cancel_tender(
    Extract(app): Extract<App>,
    axum::extract::Path(id): axum::extract::Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, &body).await?;
        require(&caller, &[Role::Participant], "cancelling a tender")?;
        let id = tender_id(&id)?;
        let owner = caller.key;
        let record = app
            .ask(|reply| Command::Cancel { owner, id, reply })
            .await?;
        Ok(ok(tender_view(&app, &record)))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn transactions(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        let slot = slot_filter(&uri, &["slot"])?;
        let state = app.read();
        let mut list = Vec::new();
        let mut push = |fill: &FillRecord, visible: &dyn Fn(u32) -> bool| {
            if slot.is_some_and(|slot| fill.slot != slot) {
                return;
            }
            if visible(fill.buyer) {
                list.push(transaction_view(&app, fill, Side::Buy));
            }
            if visible(fill.seller) {
                list.push(transaction_view(&app, fill, Side::Sell));
            }
        };
        match visible_assets(&state, &caller) {
            None => {
                for fill in &state.fills {
                    push(fill, &|_| true);
                }
            }
            Some(assets) => {
                let mut positions: Vec<usize> = assets
                    .iter()
                    .flat_map(|asset| state.fills_by_asset.get(asset).into_iter().flatten())
                    .copied()
                    .collect();
                positions.sort_unstable();
                positions.dedup();
                for position in positions {
                    push(&state.fills[position], &|asset| assets.contains(&asset));
                }
            }
        }
        Ok(ok(json!({ "transactions": list })))
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

async fn positions(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        let slot = slot_filter(&uri, &["slot"])?;
        let state = app.read();
        let visible = visible_assets(&state, &caller);
        let list: Vec<Value> = state
            .positions
            .iter()
            .filter(|((asset, position_slot), _)| {
                slot.is_none_or(|slot| *position_slot == slot)
                    && visible.as_ref().is_none_or(|assets| assets.contains(asset))
            })
            .map(|((asset, slot), (bought, sold))| {
                json!({
                    "asset": app.topology.assets[*asset as usize].path,
                    "slot": slot,
                    "bought_kwh": kwh(*bought),
                    "sold_kwh": kwh(*sold),
                    "net_kwh": kwh(bought - sold),
                })
            })
            .collect();
        Ok(ok(json!({ "positions": list })))
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

fn bill_view(app: &Shared, asset: u32, bill: &Bill) -> Value {
    json!({
        "asset": app.topology.assets[asset as usize].path,
        "bought_kwh": kwh(bill.bought),
        "sold_kwh": kwh(bill.sold),
        "paid": money(bill.paid),
        "received": money(bill.received),
        "fees": money(bill.fees),
        "imbalance_kwh": kwh(bill.imbalance_energy),
        "imbalance_paid": money(bill.imbalance_paid),
        "net_cost": money(
            bill.paid
                .saturating_sub(bill.received)
                .saturating_add(bill.imbalance_paid)
        ),
    })
}

async fn bills(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        slot_filter(&uri, &[])?;
        let state = app.read();
        let assets: Vec<u32> = match visible_assets(&state, &caller) {
            Some(assets) => assets,
            None => {
                let mut all: Vec<u32> = state.bills.keys().copied().collect();
                all.sort_unstable();
                all
            }
        };
        let list: Vec<Value> = assets
            .iter()
            .map(|asset| {
                bill_view(
                    &app,
                    *asset,
                    &state.bills.get(asset).copied().unwrap_or_default(),
                )
            })
            .collect();
        Ok(ok(json!({ "bills": list })))
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesBody {
    readings: Vec<Reading>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reading {
    slot: u32,
    asset: String,
    energy_in_kwh: Value,
    energy_out_kwh: Value,
    #[serde(default)]
    data_hash: Option<String>,
}

fn delivery_view(app: &Shared, record: &DeliveryRecord) -> Value {
    json!({
        "slot": record.slot,
        "asset": app.topology.assets[record.asset as usize].path,
        "energy_in_kwh": kwh(record.energy_in),
        "energy_out_kwh": kwh(record.energy_out),
        "data_hash": record.data_hash,
        "imbalance_kwh": record.imbalance.map(|(energy, _)| kwh(energy)),
        "imbalance_paid": record.imbalance.map(|(_, paid)| money(paid)),
        "posted": time_text(record.posted_ms),
    })
}

async fn post_deliveries(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, &body).await?;
        require(&caller, &[Role::Dso], "posting meter readings")?;
        let request: DeliveriesBody = decode(&body)?;
        if request.readings.is_empty() || request.readings.len() > 10_000 {
            return Err(unprocessable("readings: must hold 1 to 10000 readings"));
        }
        let now = auth::now_ms();
        let mut records = Vec::with_capacity(request.readings.len());
        for (index, reading) in request.readings.iter().enumerate() {
            let Some(&asset) = app.asset_by_path.get(&reading.asset) else {
                return Err(Problem::new(
                    422,
                    "unknown asset",
                    format!("readings[{index}].asset: no asset `{}`", reading.asset),
                ));
            };
            let energy_in = decimal(
                &reading.energy_in_kwh,
                &format!("readings[{index}].energy_in_kwh"),
            )?;
            let energy_out = decimal(
                &reading.energy_out_kwh,
                &format!("readings[{index}].energy_out_kwh"),
            )?;
            for (value, field) in [(energy_in, "energy_in_kwh"), (energy_out, "energy_out_kwh")] {
                if !(0..=MAX_ENERGY).contains(&value) {
                    return Err(unprocessable(format!(
                        "readings[{index}].{field}: must be between 0 and 100000"
                    )));
                }
            }
            if let Some(hash) = &reading.data_hash
                && (hash.len() != 64 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()))
            {
                return Err(unprocessable(format!(
                    "readings[{index}].data_hash: must be 64 hex digits (a SHA-256 hash)"
                )));
            }
            records.push(DeliveryRecord {
                slot: reading.slot,
                asset,
                energy_in,
                energy_out,
                data_hash: reading.data_hash.as_ref().map(|hash| hash.to_lowercase()),
                imbalance: None,
                posted_by: caller.key.clone(),
                posted_ms: now,
            });
        }
        let records = app
            .ask(|reply| Command::Deliveries { records, reply })
            .await?;
        let views: Vec<Value> = records
            .iter()
            .map(|record| delivery_view(&app, record))
            .collect();
        Ok(json_response(
            StatusCode::CREATED,
            json!({ "deliveries": views }),
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn deliveries(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, b"").await?;
        let slot = slot_filter(&uri, &["slot"])?;
        let state = app.read();
        let visible = visible_assets(&state, &caller);
        let list: Vec<Value> = state
            .deliveries
            .values()
            .filter(|record| {
                slot.is_none_or(|slot| record.slot == slot)
                    && visible
                        .as_ref()
                        .is_none_or(|assets| assets.contains(&record.asset))
            })
            .map(|record| delivery_view(&app, record))
            .collect();
        Ok(ok(json!({ "deliveries": list })))
    }
    .await;
    result.unwrap_or_else(|problem: Problem| problem.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GridEventBody {
    area: String,
    action: GridAction,
}

async fn grid_event(
    Extract(app): Extract<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result: Result<Response, Problem> = async {
        let caller = authenticate(&app, &method, &uri, &headers, &body).await?;
        require(&caller, &[Role::Dso], "islanding or reconnecting an area")?;
        let request: GridEventBody = decode(&body)?;
        let Some(&area) = app.area_by_path.get(&request.area) else {
            return Err(Problem::new(
                422,
                "unknown area",
                format!("area: no area `{}` (see /v1/areas)", request.area),
            ));
        };
        if area == 0 {
            return Err(unprocessable(
                "area: the root area has no parent to island from",
            ));
        }
        let event = GridEvent {
            id: 0,
            area,
            action: request.action,
            from_slot: 0,
            posted_by: caller.key,
            posted_ms: auth::now_ms(),
        };
        let event = app.ask(|reply| Command::Grid { event, reply }).await?;
        Ok(json_response(
            StatusCode::CREATED,
            grid_event_view(&app, &event),
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

// ---------------------------------------------------------------------------------------------
// The event stream.

async fn stream(Extract(app): Extract<App>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    // Anonymous subscribers get ticks and market results; a signed upgrade request also gets
    // the key's own fills (all fills for roles that read everything).
    // A browser cannot set headers on a WebSocket request: the signature may come as the
    // query parameters `key`, `timestamp`, `nonce` and `signature` instead, signed over the
    // path `/v1/stream` without the query.
    let signed_by_header =
        parts.headers.contains_key(auth::KEY) || parts.headers.contains_key(auth::SIGNATURE);
    let pairs = query(&parts.uri);
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    if let Some((unknown, _)) = pairs
        .iter()
        .find(|(key, _)| !["key", "timestamp", "nonce", "signature"].contains(&key.as_str()))
    {
        return bad_request(format!(
            "unknown query parameter `{unknown}`; this route takes key, timestamp, nonce, signature"
        ))
        .into_response();
    }
    let signed_by_query = param("key").is_some() || param("signature").is_some();
    let caller = if signed_by_header {
        match authenticate(&app, &parts.method, &parts.uri, &parts.headers, b"").await {
            Ok(caller) => Some(caller),
            Err(problem) => return problem.into_response(),
        }
    } else if signed_by_query {
        let received = Received {
            key: param("key"),
            timestamp: param("timestamp"),
            nonce: param("nonce"),
            signature: param("signature"),
        };
        match authenticate_received(&app, &received, &parts.method, "/v1/stream", b"").await {
            Ok(caller) => Some(caller),
            Err(problem) => return problem.into_response(),
        }
    } else {
        None
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return Problem::new(
                400,
                "not a WebSocket request",
                format!("/v1/stream is a WebSocket: {rejection}"),
            )
            .into_response();
        }
    };
    let events = app.events.subscribe();
    upgrade.on_upgrade(move |socket| forward_events(app, socket, events, caller))
}

async fn forward_events(
    app: App,
    mut socket: WebSocket,
    mut events: tokio::sync::broadcast::Receiver<Arc<Event>>,
    caller: Option<Caller>,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            },
        };
        let event = match event {
            Ok(event) => event,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                let notice = json!({ "type": "lagged", "missed": missed }).to_string();
                if socket.send(Message::Text(notice.into())).await.is_err() {
                    return;
                }
                continue;
            }
            Err(_) => return,
        };
        // A fill goes out as a transaction per side the subscriber may see: its own side,
        // or both for roles that read everything. Anonymous subscribers see none.
        let texts: Vec<String> = match event.as_ref() {
            Event::Fill { fill, owners } => {
                let Some(caller) = &caller else { continue };
                [(Side::Buy, &owners[0]), (Side::Sell, &owners[1])]
                    .into_iter()
                    .filter(|(_, owner)| {
                        caller.role.reads_all() || owner.as_deref() == Some(caller.key.as_str())
                    })
                    .map(|(side, _)| {
                        let mut view = transaction_view(&app, fill, side);
                        view["type"] = json!("transaction");
                        view.to_string()
                    })
                    .collect()
            }
            other => vec![serde_json::to_string(other).expect("events serialize")],
        };
        for text in texts {
            if socket.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    }
}
