//! Agents trade with a real exchange over HTTP: one places tenders by hand for the heat pump,
//! the reference agent drives the battery with the simulator's strategy; the resulting
//! transactions, positions and bills must agree with each other and with the tenders.

mod support;

use futures_util::StreamExt;
use nestgrid_server::Server;
use nestgrid_server::agent::{AgentConfig, run as run_agent};
use nestgrid_server::client::Client;
use nestgrid_server::exchange::Limits;
use nestgrid_server::model::Role;
use serde_json::{Value, json};
use std::collections::HashMap;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_trade_and_transactions_positions_and_bills_agree() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let url = server.url();
    let operator = key(dir.path(), Role::Operator);
    let auditor = Client::new(&url, Some(key(dir.path(), Role::Auditor)));
    let alice_key = new_key("alice");
    let bob_key = new_key("bob");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    register(&url, &operator, &bob_key, &[BATTERY]).await;
    let alice = Client::new(&url, Some(alice_key));

    // Bob's battery is traded by the reference agent for three slots.
    let agent = tokio::spawn(run_agent(
        AgentConfig {
            server: url.clone(),
            scenario: nestgrid_grid::DEFAULT_EXCHANGE_SCENARIO.to_string(),
            base_dir: ".".into(),
            asset: BATTERY.to_string(),
            slots: Some(3),
        },
        bob_key.clone(),
        Box::leak(Box::new(|_line: String| {})),
    ));

    // Alice subscribes to her own transactions, then bids for two slots ahead: one tender
    // above the grid's price (it fills), one far below (it does not).
    let (mut stream, _) = tokio_tungstenite_connect(&url, &alice).await;
    let slot = next_slot(&alice).await;
    let high = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot, "until_slot": slot + 1,
                "energy_kwh": "0.5", "price": "0.40",
            })),
        )
        .await
        .unwrap();
    assert_eq!(high.status, 201, "{:?}", high.body);
    assert_eq!(high.body["tenders"].as_array().unwrap().len(), 2);
    let low = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot,
                "energy_kwh": "0.25", "price": "0.01",
            })),
        )
        .await
        .unwrap();
    assert_eq!(low.status, 201);
    let low_id = low.body["tenders"][0]["id"].as_u64().unwrap();
    assert_eq!(low.body["tenders"][0]["status"], "waiting");

    wait_closed(&alice, slot + 1).await;

    // Tenders: the high ones filled completely, the low one not at all.
    let tenders = alice.send("GET", "/v1/tenders", None).await.unwrap().body;
    let tenders = tenders["tenders"].as_array().unwrap();
    assert_eq!(tenders.len(), 3);
    for tender in tenders {
        assert_eq!(tender["status"], "closed", "{tender}");
        if tender["id"] == low_id {
            assert_eq!(tender["filled_kwh"], "0");
        } else {
            assert_eq!(tender["filled_kwh"], "0.5", "{tender}");
        }
    }

    // Transactions: hers only, each at most her limit price, each pointing at a tender.
    let transactions = alice
        .send("GET", "/v1/transactions", None)
        .await
        .unwrap()
        .body;
    let transactions = transactions["transactions"].as_array().unwrap().clone();
    assert!(!transactions.is_empty());
    let mut bought: HashMap<u64, i64> = HashMap::new();
    let mut paid = 0;
    let mut fees = 0;
    for transaction in &transactions {
        assert_eq!(transaction["asset"], HEAT_PUMP);
        assert_eq!(transaction["side"], "buy");
        assert!(decimal(&transaction["price"]) <= 400_000, "{transaction}");
        assert_ne!(transaction["tender"].as_u64(), Some(low_id));
        *bought
            .entry(transaction["slot"].as_u64().unwrap())
            .or_default() += decimal(&transaction["energy_kwh"]);
        paid += decimal(&transaction["amount"]);
        fees += decimal(&transaction["fees"]);
    }
    assert_eq!(bought[&(slot as u64)], 500_000);
    assert_eq!(bought[&(slot as u64 + 1)], 500_000);

    // Positions: the same energy per slot.
    let positions = alice.send("GET", "/v1/positions", None).await.unwrap().body;
    for position in positions["positions"].as_array().unwrap() {
        let slot = position["slot"].as_u64().unwrap();
        assert_eq!(decimal(&position["bought_kwh"]), bought[&slot]);
        assert_eq!(decimal(&position["net_kwh"]), bought[&slot]);
    }

    // The street's market history has every closed slot, oldest first.
    let history = Client::new(&url, None)
        .send("GET", "/v1/market/1/history", None)
        .await
        .unwrap()
        .body;
    assert_eq!(history["area"], "Exchange/Street");
    let slots: Vec<u64> = history["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["slot"].as_u64().unwrap())
        .collect();
    assert_eq!(slots, (0..slots.len() as u64).collect::<Vec<_>>());
    assert!(slots.len() as u32 > slot + 1);

    // Bill: the sum of the transactions.
    let bills = alice.send("GET", "/v1/bills", None).await.unwrap().body;
    let bill = &bills["bills"][0];
    assert_eq!(bill["asset"], HEAT_PUMP);
    assert_eq!(decimal(&bill["bought_kwh"]), 1_000_000);
    assert_eq!(decimal(&bill["paid"]), paid);
    assert_eq!(decimal(&bill["fees"]), fees);

    // The stream delivered the same transactions (her side only).
    let mut streamed = Vec::new();
    while streamed.len() < transactions.len() {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("the stream keeps sending")
            .unwrap()
            .unwrap();
        let value: Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        if value["type"] == "transaction" {
            streamed.push(value["id"].as_u64().unwrap());
        }
    }
    let mut listed: Vec<u64> = transactions
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    listed.sort_unstable();
    streamed.sort_unstable();
    assert_eq!(streamed, listed);

    // The battery's agent traded through the API too; the auditor sees both participants'
    // transactions, and every asset's transactions add up to its positions.
    agent.await.unwrap().expect("the battery's agent runs");
    // The scenario's own assets keep trading in the open slot while this reads: compare the
    // closed slots only.
    let closed = clock(&alice).await["slots_closed"].as_u64().unwrap();
    let all = auditor
        .send("GET", "/v1/transactions", None)
        .await
        .unwrap()
        .body;
    let mut per_position: HashMap<(String, u64), (i64, i64)> = HashMap::new();
    for transaction in all["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|transaction| transaction["slot"].as_u64().unwrap() < closed)
    {
        let entry = per_position
            .entry((
                transaction["asset"].as_str().unwrap().to_string(),
                transaction["slot"].as_u64().unwrap(),
            ))
            .or_default();
        let energy = decimal(&transaction["energy_kwh"]);
        if transaction["side"] == "buy" {
            entry.0 += energy;
        } else {
            entry.1 += energy;
        }
    }
    assert!(
        per_position.keys().any(|(asset, _)| asset == BATTERY),
        "the battery's agent traded nothing"
    );
    let positions = auditor
        .send("GET", "/v1/positions", None)
        .await
        .unwrap()
        .body;
    let positions: Vec<&Value> = positions["positions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|position| position["slot"].as_u64().unwrap() < closed)
        .collect();
    assert_eq!(positions.len(), per_position.len());
    for position in positions {
        let key = (
            position["asset"].as_str().unwrap().to_string(),
            position["slot"].as_u64().unwrap(),
        );
        assert_eq!(
            (
                decimal(&position["bought_kwh"]),
                decimal(&position["sold_kwh"])
            ),
            per_position[&key],
            "{position}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dso_meters_an_external_asset_and_its_imbalance_is_billed() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let url = server.url();
    let operator = key(dir.path(), Role::Operator);
    let dso = Client::new(&url, Some(key(dir.path(), Role::Dso)));
    let alice_key = new_key("alice");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    let alice = Client::new(&url, Some(alice_key));
    let slot = next_slot(&alice).await;
    let placed = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot,
                "energy_kwh": "1", "price": "0.50",
            })),
        )
        .await
        .unwrap();
    assert_eq!(placed.status, 201);
    // Readings are refused before the slot closed.
    let early = dso
        .send(
            "POST",
            "/v1/deliveries",
            Some(&json!({ "readings": [
                { "slot": slot, "asset": HEAT_PUMP, "energy_in_kwh": "1.5", "energy_out_kwh": "0" }
            ]})),
        )
        .await
        .unwrap();
    assert_problem(&early, 409);
    wait_closed(&alice, slot).await;
    let before = alice.send("GET", "/v1/bills", None).await.unwrap().body["bills"][0].clone();
    assert_eq!(before["imbalance_paid"], "0");
    // It used 0.5 kWh more than it bought: that is bought from the grid at its tariff.
    let hash = "ab".repeat(32);
    let reading = dso
        .send(
            "POST",
            "/v1/deliveries",
            Some(&json!({ "readings": [{
                "slot": slot, "asset": HEAT_PUMP, "energy_in_kwh": "1.5",
                "energy_out_kwh": "0", "data_hash": hash,
            }]})),
        )
        .await
        .unwrap();
    assert_eq!(reading.status, 201, "{:?}", reading.body);
    assert_eq!(reading.body["deliveries"][0]["imbalance_kwh"], "0.5");
    assert_eq!(reading.body["deliveries"][0]["imbalance_paid"], "0.15");
    let after = alice.send("GET", "/v1/bills", None).await.unwrap().body["bills"][0].clone();
    assert_eq!(after["imbalance_kwh"], "0.5");
    assert_eq!(after["imbalance_paid"], "0.15");
    assert_eq!(
        decimal(&after["net_cost"]),
        decimal(&before["net_cost"]) + 150_000
    );
    // A corrected reading replaces the first one's imbalance instead of adding to it.
    let corrected = dso
        .send(
            "POST",
            "/v1/deliveries",
            Some(&json!({ "readings": [{
                "slot": slot, "asset": HEAT_PUMP, "energy_in_kwh": "1", "energy_out_kwh": "0",
            }]})),
        )
        .await
        .unwrap();
    assert_eq!(corrected.status, 201);
    let after = alice.send("GET", "/v1/bills", None).await.unwrap().body["bills"][0].clone();
    assert_eq!(after["imbalance_paid"], "0");
    // The participant sees its own readings.
    let readings = alice
        .send("GET", "/v1/deliveries", None)
        .await
        .unwrap()
        .body;
    assert_eq!(readings["deliveries"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_islanded_house_trades_only_inside_until_reconnected() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let url = server.url();
    let operator = key(dir.path(), Role::Operator);
    let dso = Client::new(&url, Some(key(dir.path(), Role::Dso)));
    let alice_key = new_key("alice");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    let alice = Client::new(&url, Some(alice_key));
    let event = dso
        .send(
            "POST",
            "/v1/grid/events",
            Some(&json!({ "area": "Exchange/Street/Miller house", "action": "island" })),
        )
        .await
        .unwrap();
    assert_eq!(event.status, 201, "{:?}", event.body);
    let from = event.body["from_slot"].as_u64().unwrap() as u32;
    let slot = next_slot(&alice).await.max(from);
    wait_open(&alice, from).await;
    let grid = Client::new(&url, None)
        .send("GET", "/v1/grid", None)
        .await
        .unwrap()
        .body;
    let house = grid["areas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|area| area["area"] == "Exchange/Street/Miller house")
        .unwrap()
        .clone();
    assert_eq!(house["islanded"], true);
    // At night nothing inside the house sells: the bid finds nothing while islanded.
    let placed = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot,
                "curve": [ { "price": "0.35", "energy_kwh": "1" }, { "price": "0.60", "energy_kwh": "0.5" } ],
            })),
        )
        .await
        .unwrap();
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    assert_eq!(
        placed.body["tenders"][0]["steps"].as_array().unwrap().len(),
        2
    );
    wait_closed(&alice, slot).await;
    // While islanded, whatever it bought came from inside the house (its own PV): nothing
    // crossed the street's boundary, so no street fee was paid.
    let inside = alice
        .send("GET", &format!("/v1/transactions?slot={slot}"), None)
        .await
        .unwrap()
        .body;
    for transaction in inside["transactions"].as_array().unwrap() {
        assert_eq!(transaction["fees"], "0", "{transaction}");
    }
    // Reconnected: the same curve buys its whole energy from the grid, through the street.
    let event = dso
        .send(
            "POST",
            "/v1/grid/events",
            Some(&json!({ "area": "Exchange/Street/Miller house", "action": "reconnect" })),
        )
        .await
        .unwrap();
    assert_eq!(event.status, 201);
    let from = event.body["from_slot"].as_u64().unwrap() as u32;
    let slot = next_slot(&alice).await.max(from);
    let placed = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot,
                "curve": [ { "price": "0.35", "energy_kwh": "1" }, { "price": "0.60", "energy_kwh": "0.5" } ],
            })),
        )
        .await
        .unwrap();
    assert_eq!(placed.status, 201);
    wait_closed(&alice, slot).await;
    let outside = alice
        .send("GET", &format!("/v1/transactions?slot={slot}"), None)
        .await
        .unwrap()
        .body;
    let transactions = outside["transactions"].as_array().unwrap();
    let bought: i64 = transactions.iter().map(|t| decimal(&t["energy_kwh"])).sum();
    assert_eq!(bought, 1_000_000);
    assert!(
        transactions.iter().any(|t| decimal(&t["fees"]) > 0),
        "nothing came through the street: {transactions:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_exchange_keeps_every_tender_and_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path()).await;
    let url = server.url();
    let operator = key(dir.path(), Role::Operator);
    let alice_key = new_key("alice");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    let alice = Client::new(&url, Some(alice_key.clone()));
    let slot = next_slot(&alice).await;
    let placed = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot, "until_slot": slot + 40,
                "energy_kwh": "0.2", "price": "0.45",
            })),
        )
        .await
        .unwrap();
    assert_eq!(placed.status, 201);
    wait_closed(&alice, slot).await;
    let before_tenders = alice.send("GET", "/v1/tenders", None).await.unwrap().body;
    let before = alice
        .send("GET", "/v1/transactions", None)
        .await
        .unwrap()
        .body;
    assert!(!before["transactions"].as_array().unwrap().is_empty());
    server.stop().await;

    let server = start(dir.path()).await;
    let alice = Client::new(&server.url(), Some(alice_key));
    let after = alice
        .send("GET", "/v1/transactions", None)
        .await
        .unwrap()
        .body;
    let after_tenders = alice.send("GET", "/v1/tenders", None).await.unwrap().body;
    // Everything from before is there, unchanged (slots closed since may have added more).
    for transaction in before["transactions"].as_array().unwrap() {
        assert!(
            after["transactions"]
                .as_array()
                .unwrap()
                .contains(transaction),
            "lost {transaction}"
        );
    }
    let ids = |value: &Value| -> Vec<u64> {
        value["tenders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ids(&before_tenders), ids(&after_tenders));
    // It goes on trading: the next slots fill too, and no tender is filled beyond its energy.
    let last = after["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slot"].as_u64().unwrap())
        .max()
        .unwrap() as u32;
    wait_closed(&alice, last + 2).await;
    let tenders = alice.send("GET", "/v1/tenders", None).await.unwrap().body;
    for tender in tenders["tenders"].as_array().unwrap() {
        assert!(decimal(&tender["filled_kwh"]) <= decimal(&tender["energy_kwh"]));
    }
    let transactions = alice
        .send("GET", "/v1/transactions", None)
        .await
        .unwrap()
        .body;
    let mut seen = std::collections::HashSet::new();
    for transaction in transactions["transactions"].as_array().unwrap() {
        assert!(
            seen.insert(transaction["id"].as_u64().unwrap()),
            "duplicated {transaction}"
        );
    }
    assert!(seen.len() > before["transactions"].as_array().unwrap().len());
    server.stop().await;
}

/// Opens the event stream signed by `client`'s key.
async fn tokio_tungstenite_connect(
    url: &str,
    client: &Client,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (),
) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let ws_url = format!("{}/v1/stream", url.replace("http://", "ws://"));
    let mut request = ws_url.into_client_request().unwrap();
    for (name, value) in client.sign_headers("GET", "/v1/stream", b"") {
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    (stream, ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settled_slots_on_the_ledger_match_the_bills() {
    let dir = tempfile::tempdir().unwrap();
    let server = nestgrid_server::Server::start(nestgrid_server::ServeConfig {
        settle: true,
        ..config(dir.path(), Default::default())
    })
    .await
    .unwrap();
    let url = server.url();
    let topology = server.shared.topology;
    let operator = key(dir.path(), Role::Operator);
    let dso = Client::new(&url, Some(key(dir.path(), Role::Dso)));
    let alice_key = new_key("alice");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    let alice = Client::new(&url, Some(alice_key));
    let slot = next_slot(&alice).await;
    let placed = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot, "until_slot": slot + 1,
                "energy_kwh": "1", "price": "0.50",
            })),
        )
        .await
        .unwrap();
    assert_eq!(placed.status, 201);
    wait_closed(&alice, slot).await;
    // The DSO's reading of the first slot arrives in time: it is settled with it.
    let reading = dso
        .send(
            "POST",
            "/v1/deliveries",
            Some(&json!({ "readings": [
                { "slot": slot, "asset": HEAT_PUMP, "energy_in_kwh": "1.25", "energy_out_kwh": "0" }
            ]})),
        )
        .await
        .unwrap();
    assert_eq!(reading.status, 201, "{:?}", reading.body);
    // Wait until both slots are settled on the ledger.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let clock = clock(&alice).await;
        if clock["ledger"]["settled_slots"].as_u64().unwrap_or(0) > slot as u64 + 1 {
            assert!(clock["ledger"]["error"].is_null(), "{clock}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not settled: {clock}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A late reading for a settled slot is refused.
    let late = dso
        .send(
            "POST",
            "/v1/deliveries",
            Some(&json!({ "readings": [
                { "slot": slot, "asset": HEAT_PUMP, "energy_in_kwh": "2", "energy_out_kwh": "0" }
            ]})),
        )
        .await
        .unwrap();
    assert_problem(&late, 409);
    let auditor = Client::new(&url, Some(key(dir.path(), Role::Auditor)));
    let bills = auditor.send("GET", "/v1/bills", None).await.unwrap().body;
    let settled = clock(&alice).await["ledger"]["settled_slots"]
        .as_u64()
        .unwrap() as u32;
    server.stop().await;

    // The ledger replays and checks, and every asset's account moved by its bill (for the
    // slots settled: the test stopped the exchange right after reading them).
    let ledger_dir = dir.path().join("ledger");
    nestgrid_ledger::verify::verify_dir(&ledger_dir, &nestgrid_ledger::VotesOnly)
        .expect("the ledger verifies");
    let secret_text = std::fs::read_to_string(dir.path().join("ledger.secret")).unwrap();
    let mut secret = [0u8; 32];
    hex::decode_to_slice(secret_text.trim(), &mut secret).unwrap();
    let ledger = nestgrid_settle::LiveLedger::open(topology, &ledger_dir, &secret).unwrap();
    let balances = ledger.asset_balances();
    let deposits = ledger.deposits().unwrap();
    let pump = topology
        .assets
        .iter()
        .position(|a| a.path == HEAT_PUMP)
        .unwrap();
    let bill = bills["bills"]
        .as_array()
        .unwrap()
        .iter()
        .find(|bill| bill["asset"] == HEAT_PUMP)
        .unwrap();
    // Alice's heat pump traded only in the two slots, both settled: the bills and the ledger
    // must agree to the micro-unit, the DSO's imbalance included.
    assert!(settled > slot + 1);
    assert_eq!(bill["imbalance_kwh"], "0.25");
    assert_eq!(
        balances[pump].0 - deposits[pump].0,
        -decimal(&bill["net_cost"]),
        "ledger and bill disagree for the heat pump"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_generator_registers_agents_and_measures() {
    let dir = tempfile::tempdir().unwrap();
    // Two agents on loopback answered within a millisecond would pass the default rate of
    // a key: raised, so that every request is accepted.
    let limits = Limits {
        requests_per_second: 100_000,
        ..Limits::default()
    };
    let server = Server::start(config(dir.path(), limits))
        .await
        .expect("the exchange starts");
    let report = nestgrid_server::loadgen::run(
        nestgrid_server::loadgen::LoadConfig {
            server: server.url(),
            agents: 2,
            seconds: 1.0,
            warmup: 0.2,
            rate: None,
            presign: true,
            trace: true,
        },
        key(dir.path(), Role::Operator),
    )
    .await
    .expect("the load runs");
    assert!(report.accepted > 10, "{report:?}");
    // The trace holds every measured request, in order, with the report's latencies.
    let trace = &report.trace;
    assert_eq!(
        trace.iter().filter(|sample| sample.status == 201).count() as u64,
        report.accepted
    );
    assert!(
        trace
            .windows(2)
            .all(|pair| pair[0].sent_ms <= pair[1].sent_ms)
    );
    assert!(
        trace
            .iter()
            .all(|sample| (0.0..1_000.0).contains(&sample.sent_ms))
    );
    let slowest = trace
        .iter()
        .map(|sample| sample.latency_ms)
        .fold(0.0, f64::max);
    assert!(
        (slowest - report.max_ms).abs() < 0.01,
        "{slowest} {report:?}"
    );
    // Signed ahead: 40 a second per agent; agents answered within milliseconds use them up
    // and sign the rest as they go.
    assert!(
        report.presigned && report.signed_during_run > 0,
        "{report:?}"
    );
    assert!(
        report.refused.is_empty(),
        "presigned requests are accepted: {report:?}"
    );
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms);
    // Every accepted tender is in the exchange.
    let auditor = Client::new(&server.url(), Some(key(dir.path(), Role::Auditor)));
    let tenders = auditor.send("GET", "/v1/tenders", None).await.unwrap().body;
    assert!(tenders["tenders"].as_array().unwrap().len() as u64 >= report.accepted);
    // A third agent finds no free external asset.
    let error = nestgrid_server::loadgen::run(
        nestgrid_server::loadgen::LoadConfig {
            server: server.url(),
            agents: 1,
            seconds: 0.1,
            warmup: 0.0,
            rate: Some(10.0),
            presign: false,
            trace: false,
        },
        key(dir.path(), Role::Operator),
    )
    .await
    .unwrap_err();
    assert!(error.contains("unregistered external assets"), "{error}");
    // Presigned requests must arrive inside the exchange's timestamp window.
    let error = nestgrid_server::loadgen::run(
        nestgrid_server::loadgen::LoadConfig {
            server: server.url(),
            agents: 1,
            seconds: 25.0,
            warmup: 0.0,
            rate: None,
            presign: true,
            trace: false,
        },
        key(dir.path(), Role::Operator),
    )
    .await
    .unwrap_err();
    assert!(error.contains("at most 20"), "{error}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_across_boundaries_show_which_limits_they_reach() {
    let dir = tempfile::tempdir().unwrap();
    // A 1 kW PV covers at most 0.25 kWh of the heat pump's 1 kWh in any slot, whatever the
    // time of day, and the house may import at most 1 kW, 0.25 kWh a slot: the heat pump gets
    // what its PV makes plus 0.25 kWh from outside, and the import limit holds it back.
    let scenario = nestgrid_grid::DEFAULT_EXCHANGE_SCENARIO
        .replace(
            "      - name: Miller house\n",
            "      - name: Miller house\n        import_limit_kw: 1\n        export_limit_kw: 3\n",
        )
        .replace("pv: { capacity_kw: 6 }", "pv: { capacity_kw: 1 }");
    assert_ne!(scenario, nestgrid_grid::DEFAULT_EXCHANGE_SCENARIO);
    let server = nestgrid_server::Server::start(nestgrid_server::ServeConfig {
        scenario,
        ..config(dir.path(), Default::default())
    })
    .await
    .unwrap();
    let url = server.url();
    let operator = key(dir.path(), Role::Operator);
    let alice_key = new_key("alice");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    let alice = Client::new(&url, Some(alice_key));
    let slot = next_slot(&alice).await;
    // 1 kWh in a 15-minute slot is 4 kW on average: above the house's 1 kW import limit.
    let placed = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot,
                "energy_kwh": "1", "price": "0.50",
            })),
        )
        .await
        .unwrap();
    assert_eq!(placed.status, 201);
    wait_closed(&alice, slot).await;
    let public = Client::new(&url, None);
    let areas = public.send("GET", "/v1/areas", None).await.unwrap().body;
    let house = areas["areas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|area| area["path"] == "Exchange/Street/Miller house")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let history = public
        .send("GET", &format!("/v1/market/{house}/history"), None)
        .await
        .unwrap()
        .body;
    let entry = history["slots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["slot"] == slot)
        .unwrap()
        .clone();
    // The markets never trade beyond the limit: exactly 0.25 kWh crossed into the house (the
    // heat pump bids above the grid's price), and the heat pump bought that plus at most
    // 0.25 kWh of its own PV.
    let transactions = alice
        .send("GET", &format!("/v1/transactions?slot={slot}"), None)
        .await
        .unwrap()
        .body;
    let bought: i64 = transactions["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| decimal(&t["energy_kwh"]))
        .sum();
    assert!((250_000..=500_000).contains(&bought), "{transactions}");
    let imported = decimal(&entry["imported_kwh"]);
    assert_eq!(imported, 250_000, "{entry}");
    assert_eq!(entry["binding"], json!(["import"]), "{entry}");
    let market = public.send("GET", "/v1/market", None).await.unwrap().body;
    let view = &market["areas"][house as usize];
    assert_eq!(view["import_limit_kwh"], "0.25");
    assert_eq!(view["export_limit_kwh"], "0.75");
    // The street has no limits: nothing to reach.
    let street = public
        .send("GET", "/v1/market/1/history", None)
        .await
        .unwrap()
        .body;
    for entry in street["slots"].as_array().unwrap() {
        assert_eq!(entry["binding"], json!([]));
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_curve_street_fills_tenders_at_one_price() {
    let dir = tempfile::tempdir().unwrap();
    // The street and its houses clear by bid curves below the pay-as-bid root: a tender is a
    // step at its price, and everyone in an area trades at that area's one price.
    let scenario = nestgrid_grid::DEFAULT_EXCHANGE_SCENARIO.replace(
        "    fee: { constant: 0.01 }     # per kWh crossing the street's boundary\n",
        "    fee: { constant: 0.01 }\n    mechanism: curve\n",
    );
    assert_ne!(scenario, nestgrid_grid::DEFAULT_EXCHANGE_SCENARIO);
    let server = nestgrid_server::Server::start(nestgrid_server::ServeConfig {
        scenario,
        ..config(dir.path(), Default::default())
    })
    .await
    .unwrap();
    let url = server.url();
    let operator = key(dir.path(), Role::Operator);
    let alice_key = new_key("alice");
    register(&url, &operator, &alice_key, &[HEAT_PUMP]).await;
    let alice = Client::new(&url, Some(alice_key));
    let slot = next_slot(&alice).await;
    let placed = alice
        .send(
            "POST",
            "/v1/tenders",
            Some(&json!({
                "asset": HEAT_PUMP, "side": "buy", "slot": slot,
                "energy_kwh": "1", "price": "0.50",
            })),
        )
        .await
        .unwrap();
    assert_eq!(placed.status, 201, "{:?}", placed.body);
    wait_closed(&alice, slot).await;
    let transactions = alice
        .send("GET", &format!("/v1/transactions?slot={slot}"), None)
        .await
        .unwrap()
        .body;
    let transactions = transactions["transactions"].as_array().unwrap();
    let bought: i64 = transactions.iter().map(|t| decimal(&t["energy_kwh"])).sum();
    assert_eq!(bought, 1_000_000, "{transactions:?}");
    // One price for the house, and never above what the grid costs in the street (0.30 plus
    // the street's fee): the region sees the grid's offer that the root forwards down.
    let prices: Vec<i64> = transactions.iter().map(|t| decimal(&t["price"])).collect();
    assert!(prices.iter().all(|&price| price == prices[0]), "{prices:?}");
    assert!(prices[0] <= 310_000, "{prices:?}");
    server.stop().await;
}
