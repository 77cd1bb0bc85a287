//! Requests that must be refused, each with its status and a problem document, and with
//! nothing changed: the auditor's view of tenders, participants and events is the same after.

mod support;

use nestgrid_ledger::Keypair;
use nestgrid_server::auth;
use nestgrid_server::client::{Answer, Client};
use nestgrid_server::exchange::Limits;
use nestgrid_server::model::Role;
use nestgrid_server::{ServeConfig, Server};
use serde_json::{Value, json};
use support::*;

/// Everything a refused request could have changed.
async fn snapshot(auditor: &Client) -> Vec<Value> {
    let mut all = Vec::new();
    for path in [
        "/v1/tenders",
        "/v1/participants",
        "/v1/grid",
        "/v1/deliveries",
    ] {
        let answer = auditor.send("GET", path, None).await.unwrap();
        assert_eq!(answer.status, 200, "{path}: {:?}", answer.body);
        all.push(answer.body);
    }
    all
}

fn tender(slot: u32) -> Value {
    json!({
        "asset": HEAT_PUMP, "side": "buy", "slot": slot,
        "energy_kwh": "0.5", "price": "0.20",
    })
}

struct Exchange {
    _dir: tempfile::TempDir,
    server: Server,
    url: String,
    alice: Client,
    alice_key: Keypair,
    bob: Client,
    auditor: Client,
    operator: Client,
    slot: u32,
    alices_tender: u64,
}

async fn exchange(limits: Limits) -> Exchange {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(ServeConfig {
        limits,
        ..config(dir.path(), Limits::default())
    })
    .await
    .unwrap();
    let url = server.url();
    let operator = key(dir.path(), Role::Operator);
    let alice_key = new_key("alice");
    let bob_key = new_key("bob");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    register(&url, &operator, &bob_key, &[BATTERY]).await;
    let alice = Client::new(&url, Some(alice_key.clone()));
    // Far ahead, so that its status does not change while a test runs.
    let slot = next_slot(&alice).await + 60;
    let placed = alice
        .send("POST", "/v1/tenders", Some(&tender(slot)))
        .await
        .unwrap();
    assert_eq!(placed.status, 201);
    Exchange {
        alices_tender: placed.body["tenders"][0]["id"].as_u64().unwrap(),
        auditor: Client::new(&url, Some(key(dir.path(), Role::Auditor))),
        bob: Client::new(&url, Some(bob_key)),
        operator: Client::new(&url, Some(operator)),
        alice,
        alice_key,
        url,
        server,
        slot,
        _dir: dir,
    }
}

/// Sends a request, expects `status` as a problem document and nothing changed.
async fn refused(
    exchange: &Exchange,
    status: u16,
    request: impl std::future::Future<Output = Answer>,
) {
    let before = snapshot(&exchange.auditor).await;
    let answer = request.await;
    assert_problem(&answer, status);
    assert_eq!(
        snapshot(&exchange.auditor).await,
        before,
        "a refused request changed the state"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_and_change_nothing() {
    let ex = exchange(Limits::default()).await;
    let body = tender(ex.slot).to_string().into_bytes();
    // Unsigned.
    let anonymous = Client::new(&ex.url, None);
    refused(&ex, 401, async {
        anonymous
            .send("POST", "/v1/tenders", Some(&tender(ex.slot)))
            .await
            .unwrap()
    })
    .await;
    // Signed by another key than the one named.
    let mallory = Keypair::derived(9, "mallory");
    let mut headers = auth::sign(
        &mallory,
        "POST",
        "/v1/tenders",
        &body,
        auth::now_ms(),
        "nonce-forged-1",
    );
    headers[0].1 = ex.alice_key.public().to_hex();
    refused(
        &ex,
        401,
        raw(&ex.url, "POST", "/v1/tenders", &body, &headers),
    )
    .await;
    // Signed over another body.
    let headers = auth::sign(
        &ex.alice_key,
        "POST",
        "/v1/tenders",
        b"{}",
        auth::now_ms(),
        "nonce-other-1",
    );
    refused(
        &ex,
        401,
        raw(&ex.url, "POST", "/v1/tenders", &body, &headers),
    )
    .await;
    // Expired: signed a minute ago.
    refused(&ex, 401, async {
        ex.alice
            .send_raw(
                "POST",
                "/v1/tenders",
                body.clone(),
                "nonce-old-0001",
                auth::now_ms() - 60_000,
            )
            .await
            .unwrap()
    })
    .await;
    // From the future.
    refused(&ex, 401, async {
        ex.alice
            .send_raw(
                "POST",
                "/v1/tenders",
                body.clone(),
                "nonce-new-0001",
                auth::now_ms() + 60_000,
            )
            .await
            .unwrap()
    })
    .await;
    // Malformed headers.
    let mut headers = auth::sign(
        &ex.alice_key,
        "POST",
        "/v1/tenders",
        &body,
        auth::now_ms(),
        "nonce-bad-0001",
    );
    headers[3].1 = "zz".into();
    refused(
        &ex,
        401,
        raw(&ex.url, "POST", "/v1/tenders", &body, &headers),
    )
    .await;
    // Replayed: the first is accepted, the same request again is not.
    let now = auth::now_ms();
    let first = ex
        .alice
        .send_raw("POST", "/v1/tenders", body.clone(), "nonce-replay-1", now)
        .await
        .unwrap();
    assert_eq!(first.status, 201);
    refused(&ex, 401, async {
        ex.alice
            .send_raw("POST", "/v1/tenders", body.clone(), "nonce-replay-1", now)
            .await
            .unwrap()
    })
    .await;
    // An unregistered key.
    let stranger = Client::new(&ex.url, Some(Keypair::derived(9, "stranger")));
    refused(&ex, 403, async {
        stranger.send("GET", "/v1/tenders", None).await.unwrap()
    })
    .await;
    ex.server.stop().await;
}

async fn raw(
    url: &str,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&'static str, String); 4],
) -> Answer {
    // A keyless client sends exactly the headers given.
    let client = RawClient::new(url);
    client.send(method, path, body, headers).await
}

/// Sends requests with hand-made signature headers.
struct RawClient {
    url: String,
}

impl RawClient {
    fn new(url: &str) -> Self {
        RawClient {
            url: url.to_string(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        headers: &[(&'static str, String); 4],
    ) -> Answer {
        use http_body_util::{BodyExt, Full};
        use hyper_util::client::legacy::Client as Http;
        let http = Http::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.url, path))
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = http
            .request(
                request
                    .body(Full::new(hyper::body::Bytes::from(body.to_vec())))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            content_type,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_and_ownership_are_enforced() {
    let ex = exchange(Limits::default()).await;
    let dir_auditor = &ex.auditor;
    // The auditor reads everything and writes nothing.
    refused(&ex, 403, async {
        dir_auditor
            .send("POST", "/v1/tenders", Some(&tender(ex.slot)))
            .await
            .unwrap()
    })
    .await;
    refused(&ex, 403, async {
        dir_auditor
            .send(
                "POST",
                "/v1/grid/events",
                Some(&json!({ "area": "Exchange/Street", "action": "island" })),
            )
            .await
            .unwrap()
    })
    .await;
    // A participant registers nobody, posts no readings, islands nothing.
    refused(&ex, 403, async {
        ex.alice
            .send(
                "POST",
                "/v1/participants",
                Some(&json!({
                    "public_key": Keypair::derived(3, "x").public().to_hex(),
                    "name": "friend", "assets": [BATTERY],
                })),
            )
            .await
            .unwrap()
    })
    .await;
    refused(&ex, 403, async {
        ex.alice
            .send(
                "POST",
                "/v1/deliveries",
                Some(&json!({ "readings": [
                    { "slot": 0, "asset": HEAT_PUMP, "energy_in_kwh": "0", "energy_out_kwh": "0" }
                ]})),
            )
            .await
            .unwrap()
    })
    .await;
    refused(&ex, 403, async {
        ex.alice
            .send(
                "POST",
                "/v1/grid/events",
                Some(&json!({ "area": "Exchange/Street", "action": "island" })),
            )
            .await
            .unwrap()
    })
    .await;
    // Not even the operator registers a key of small order (anyone could sign for it).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    refused(&ex, 422, async {
        ex.operator
            .send(
                "POST",
                "/v1/participants",
                Some(&json!({
                    "public_key": nestgrid_ledger::PublicKey(identity).to_hex(),
                    "name": "anyone", "assets": [],
                })),
            )
            .await
            .unwrap()
    })
    .await;
    refused(&ex, 403, async {
        ex.alice
            .send("GET", "/v1/participants", None)
            .await
            .unwrap()
    })
    .await;
    // A participant trades only its own assets.
    refused(&ex, 403, async {
        ex.bob
            .send("POST", "/v1/tenders", Some(&tender(ex.slot)))
            .await
            .unwrap()
    })
    .await;
    // Another participant's tender can be neither read nor cancelled.
    let path = format!("/v1/tenders/{}", ex.alices_tender);
    refused(&ex, 404, async {
        ex.bob.send("GET", &path, None).await.unwrap()
    })
    .await;
    refused(&ex, 404, async {
        ex.bob.send("DELETE", &path, None).await.unwrap()
    })
    .await;
    let mine = ex.alice.send("GET", &path, None).await.unwrap();
    assert_eq!(mine.body["status"], "waiting");
    // Bob's lists do not show it.
    let listed = ex.bob.send("GET", "/v1/tenders", None).await.unwrap().body;
    assert_eq!(listed["tenders"], json!([]));
    // The owner can cancel it, once.
    let cancelled = ex.alice.send("DELETE", &path, None).await.unwrap();
    assert_eq!(cancelled.status, 200);
    assert_eq!(cancelled.body["status"], "cancelled");
    refused(&ex, 409, async {
        ex.alice.send("DELETE", &path, None).await.unwrap()
    })
    .await;
    ex.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tenders_are_refused_with_the_field_named() {
    let ex = exchange(Limits {
        tenders_per_slot: 3,
        ..Limits::default()
    })
    .await;
    let send = |body: Value| {
        let alice = ex.alice.clone();
        async move {
            alice
                .send("POST", "/v1/tenders", Some(&body))
                .await
                .unwrap()
        }
    };
    let mut unknown_area = tender(ex.slot);
    unknown_area["area"] = json!("Exchange/Nowhere");
    refused(&ex, 422, send(unknown_area)).await;
    let mut wrong_area = tender(ex.slot);
    wrong_area["area"] = json!("Exchange/Street");
    refused(&ex, 422, send(wrong_area)).await;
    let mut unknown_asset = tender(ex.slot);
    unknown_asset["asset"] = json!("Exchange/Street/Nobody");
    refused(&ex, 422, send(unknown_asset)).await;
    // A slot whose window is over.
    wait_closed(&ex.alice, 0).await;
    refused(&ex, 409, send(tender(0))).await;
    // Beyond the scenario.
    refused(&ex, 422, send(tender(10_000))).await;
    let mut negative = tender(ex.slot);
    negative["energy_kwh"] = json!("-1");
    refused(&ex, 422, send(negative)).await;
    let mut extra = tender(ex.slot);
    extra["colour"] = json!("blue");
    refused(&ex, 422, send(extra)).await;
    let rising = json!({
        "asset": HEAT_PUMP, "side": "buy", "slot": ex.slot,
        "curve": [ { "price": "0.1", "energy_kwh": "1" }, { "price": "0.2", "energy_kwh": "2" } ],
    });
    let answer = send(rising.clone()).await;
    assert!(
        answer.body["detail"]
            .as_str()
            .unwrap()
            .starts_with("curve[1].energy_kwh")
    );
    refused(&ex, 422, send(rising)).await;
    refused(&ex, 400, async {
        ex.alice
            .send_raw(
                "POST",
                "/v1/tenders",
                b"{not json".to_vec(),
                &auth::new_nonce(),
                auth::now_ms(),
            )
            .await
            .unwrap()
    })
    .await;
    // Oversized body.
    let mut huge = tender(ex.slot);
    huge["asset"] = json!("x".repeat(100 * 1024));
    refused(&ex, 413, send(huge)).await;
    // Tenders per key and slot: one placed already, two more fit, the fourth does not.
    assert_eq!(send(tender(ex.slot)).await.status, 201);
    assert_eq!(send(tender(ex.slot)).await.status, 201);
    refused(&ex, 429, send(tender(ex.slot))).await;
    // Unknown routes and methods are problem documents too.
    let anonymous = Client::new(&ex.url, None);
    assert_problem(
        &anonymous.send("GET", "/v1/nothing", None).await.unwrap(),
        404,
    );
    assert_problem(
        &anonymous.send("PUT", "/v1/clock", None).await.unwrap(),
        405,
    );
    ex.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_is_refused() {
    let ex = exchange(Limits {
        requests_per_second: 5,
        ..Limits::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            ex.alice
                .send("GET", "/v1/tenders", None)
                .await
                .unwrap()
                .status,
        );
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // Tenders too: those over the rate are refused and not placed, those within it are.
    // (The auditor's key has the same rate: its four reads wait for a second of their own.)
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let before = snapshot(&ex.auditor).await;
    let placed_before = before[0]["tenders"].as_array().unwrap().len();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let answer = ex
            .alice
            .send("POST", "/v1/tenders", Some(&tender(ex.slot)))
            .await
            .unwrap();
        if answer.status != 201 {
            assert_problem(&answer, 429);
        }
        statuses.push(answer.status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let accepted = statuses.iter().filter(|status| **status == 201).count();
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let after = snapshot(&ex.auditor).await;
    assert_eq!(
        after[0]["tenders"].as_array().unwrap().len(),
        placed_before + accepted,
        "{statuses:?}"
    );
    ex.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_found_by_fuzzing_are_refused() {
    let ex = exchange(Limits::default()).await;
    // Trailing bytes after the JSON body.
    let mut body = tender(ex.slot).to_string().into_bytes();
    body.extend_from_slice(b" trailing garbage");
    refused(&ex, 400, async {
        ex.alice
            .send_raw(
                "POST",
                "/v1/tenders",
                body,
                &auth::new_nonce(),
                auth::now_ms(),
            )
            .await
            .unwrap()
    })
    .await;
    // A timestamp at the end of the range is stale, not an overflow.
    refused(&ex, 401, async {
        ex.alice
            .send_raw(
                "GET",
                "/v1/tenders",
                Vec::new(),
                &auth::new_nonce(),
                i64::MIN,
            )
            .await
            .unwrap()
    })
    .await;
    refused(&ex, 401, async {
        ex.alice
            .send_raw(
                "GET",
                "/v1/tenders",
                Vec::new(),
                &auth::new_nonce(),
                i64::MAX,
            )
            .await
            .unwrap()
    })
    .await;
    // Amounts beyond the bounds are refused (they could overflow the bills).
    let mut huge = tender(ex.slot);
    huge["energy_kwh"] = json!("1000000");
    huge["price"] = json!("1000000");
    refused(&ex, 422, async {
        ex.alice
            .send("POST", "/v1/tenders", Some(&huge))
            .await
            .unwrap()
    })
    .await;
    // A route without query parameters takes none, `slot` included.
    refused(&ex, 400, async {
        ex.alice
            .send("GET", "/v1/bills?slot=3", None)
            .await
            .unwrap()
    })
    .await;
    // Query values are percent-decoded.
    let open = ex
        .alice
        .send("GET", "/v1/tenders?status=%77aiting&slot=%3", None)
        .await
        .unwrap();
    assert_problem(&open, 400);
    let waiting = ex
        .alice
        .send("GET", "/v1/tenders?status=%77aiting", None)
        .await
        .unwrap();
    assert_eq!(waiting.status, 200, "{:?}", waiting.body);
    assert_eq!(waiting.body["tenders"].as_array().unwrap().len(), 1);
    ex.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_takes_its_signature_as_query_parameters_once() {
    use tokio_tungstenite::tungstenite::Error;
    let ex = exchange(Limits::default()).await;
    let signed_url = |nonce: &str, timestamp: i64, keypair: &Keypair| {
        let headers = auth::sign(keypair, "GET", "/v1/stream", b"", timestamp, nonce);
        format!(
            "{}/v1/stream?key={}&timestamp={}&nonce={}&signature={}",
            ex.url.replace("http://", "ws://"),
            headers[0].1,
            headers[1].1,
            headers[2].1,
            headers[3].1
        )
    };
    let status = |result: Result<_, Error>| match result {
        Ok(_) => 101,
        Err(Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("{other}"),
    };
    let url = signed_url("stream-nonce-1", auth::now_ms(), &ex.alice_key);
    assert_eq!(status(tokio_tungstenite::connect_async(&url).await), 101);
    // The same signed address again: a replay.
    assert_eq!(status(tokio_tungstenite::connect_async(&url).await), 401);
    // Signed by another key than the one named.
    let mallory = Keypair::derived(9, "mallory");
    let forged = signed_url("stream-nonce-2", auth::now_ms(), &mallory)
        .replace(&mallory.public().to_hex(), &ex.alice_key.public().to_hex());
    assert_eq!(status(tokio_tungstenite::connect_async(&forged).await), 401);
    // Expired.
    let old = signed_url("stream-nonce-3", auth::now_ms() - 60_000, &ex.alice_key);
    assert_eq!(status(tokio_tungstenite::connect_async(&old).await), 401);
    // Anonymous still works; unknown parameters do not.
    let anonymous = format!("{}/v1/stream", ex.url.replace("http://", "ws://"));
    assert_eq!(
        status(tokio_tungstenite::connect_async(&anonymous).await),
        101
    );
    assert_eq!(
        status(tokio_tungstenite::connect_async(format!("{anonymous}?colour=blue")).await),
        400
    );
    ex.server.stop().await;
}
