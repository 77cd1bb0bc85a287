//! Crash test of the live exchange: `nestgrid serve` is killed with SIGKILL in the middle of a
//! slot while agents place tenders, then restarted on the same data folder. Every tender
//! that was answered as accepted must still be there, no transaction may be lost or
//! duplicated, every tender's fills must add up to what it reports, and trading must go on.

#![cfg(unix)]

use nestgrid_ledger::Keypair;
use nestgrid_server::client::Client;
use nestgrid_server::read_key_file;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HEAT_PUMP: &str = "Exchange/Street/Miller house/Heat pump";
const BATTERY: &str = "Exchange/Street/Miller house/Battery";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(data: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nestgrid"))
        .args(["serve", "--speed", "900", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nestgrid serve starts")
}

async fn wait_ready(client: &Client) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(answer) = client.send("GET", "/v1/clock", None).await
            && answer.status == 200
        {
            return answer.body;
        }
        assert!(Instant::now() < deadline, "the exchange did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn kwh(value: &Value) -> i64 {
    nestgrid_types::decimal::parse_fixed(value.as_str().unwrap(), 1_000_000).unwrap()
}

async fn tenders(auditor: &Client) -> HashMap<u64, Value> {
    let tenders = auditor.send("GET", "/v1/tenders", None).await.unwrap().body;
    tenders["tenders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tender| (tender["id"].as_u64().unwrap(), tender.clone()))
        .collect()
}

/// Checks the invariants on the auditor's view and returns (tenders by id, transactions by
/// id). The exchange keeps trading while it is read, so the tenders are read before and after
/// the transactions: each tender's transactions must add up to between its filled energy in
/// the first reading and in the second.
async fn check(auditor: &Client) -> (HashMap<u64, Value>, HashMap<(u64, String), Value>) {
    let before = tenders(auditor).await;
    let transactions = auditor
        .send("GET", "/v1/transactions", None)
        .await
        .unwrap()
        .body;
    let after = tenders(auditor).await;
    let mut by_id = HashMap::new();
    let mut per_tender: HashMap<u64, i64> = HashMap::new();
    for transaction in transactions["transactions"].as_array().unwrap() {
        let key = (
            transaction["id"].as_u64().unwrap(),
            transaction["side"].as_str().unwrap().to_string(),
        );
        assert!(
            by_id.insert(key, transaction.clone()).is_none(),
            "duplicated transaction {transaction}"
        );
        if let Some(tender) = transaction["tender"].as_u64() {
            *per_tender.entry(tender).or_default() += kwh(&transaction["energy_kwh"]);
        }
    }
    for (id, tender) in &after {
        let filled = kwh(&tender["filled_kwh"]);
        assert!(filled <= kwh(&tender["energy_kwh"]), "overfilled {tender}");
        let earlier = before
            .get(id)
            .map_or(0, |tender| kwh(&tender["filled_kwh"]));
        let traded = per_tender.get(id).copied().unwrap_or(0);
        assert!(
            earlier <= traded && traded <= filled,
            "tender {id}: its transactions add up to {traded} mWh, but it was filled {earlier} then {filled} mWh"
        );
    }
    (after, by_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_slot_under_load_the_exchange_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("exchange");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = serve(&data, port);
    let anonymous = Client::new(&url, None);
    wait_ready(&anonymous).await;
    let operator = read_key_file(&data.join("keys/operator.key")).unwrap();
    let auditor = Client::new(
        &url,
        Some(read_key_file(&data.join("keys/auditor.key")).unwrap()),
    );
    let operator = Client::new(&url, Some(operator));
    let mut agents = Vec::new();
    for (name, asset, side) in [("alice", HEAT_PUMP, "buy"), ("bob", BATTERY, "sell")] {
        let keypair = Keypair::derived(11, name);
        let answer = operator
            .send(
                "POST",
                "/v1/participants",
                Some(&json!({ "public_key": keypair.public().to_hex(), "name": name, "assets": [asset] })),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 201);
        agents.push((Client::new(&url, Some(keypair)), asset, side));
    }

    // Load: each agent places small tenders for the next slots as fast as it is answered.
    let accepted: Arc<Mutex<Vec<(u64, Value)>>> = Arc::default();
    let stop = Instant::now() + Duration::from_millis(3_000);
    let mut tasks = Vec::new();
    for (client, asset, side) in agents.clone() {
        for worker in 0..3u32 {
            let client = client.clone();
            let accepted = accepted.clone();
            tasks.push(tokio::spawn(async move {
                let mut count = worker;
                while Instant::now() < stop {
                    let clock = client.send("GET", "/v1/clock", None).await;
                    let Ok(clock) = clock else { return };
                    let open = clock.body["trading"]["slot"].as_u64().unwrap_or(0) as u32;
                    let body = json!({
                        "asset": asset, "side": side, "slot": open + 1 + count % 3,
                        "energy_kwh": "0.01", "price": if side == "buy" { "0.35" } else { "0.05" },
                    });
                    count += 1;
                    match client.send("POST", "/v1/tenders", Some(&body)).await {
                        Ok(answer) if answer.status == 201 => {
                            let tender = answer.body["tenders"][0].clone();
                            accepted
                                .lock()
                                .unwrap()
                                .push((tender["id"].as_u64().unwrap(), tender));
                        }
                        // Refused (slot closed meanwhile, limits) or no answer (killed).
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            }));
        }
    }
    // Kill it in the middle of a slot, with the load running.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    let (_, before) = check(&auditor).await;
    assert!(!before.is_empty(), "nothing traded before the kill");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() > 20,
        "only {} tenders placed",
        accepted.len()
    );

    let mut child = serve(&data, port);
    wait_ready(&anonymous).await;
    let (tenders, after) = check(&auditor).await;
    for (id, tender) in &accepted {
        let stored = tenders
            .get(id)
            .unwrap_or_else(|| panic!("accepted tender {id} is lost"));
        // Filled energy and status move on; what was accepted does not change.
        for field in ["asset", "side", "slot", "energy_kwh", "price", "created"] {
            assert_eq!(stored[field], tender[field], "tender {id} changed");
        }
    }
    for (key, transaction) in &before {
        assert_eq!(
            after.get(key),
            Some(transaction),
            "transaction {key:?} lost or changed"
        );
    }
    // It goes on: two more slots close, and everything still adds up.
    let closed = anonymous.send("GET", "/v1/clock", None).await.unwrap().body["slots_closed"]
        .as_u64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while anonymous.send("GET", "/v1/clock", None).await.unwrap().body["slots_closed"]
        .as_u64()
        .unwrap()
        < closed + 2
    {
        assert!(
            Instant::now() < deadline,
            "the restarted exchange does not advance"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, later) = check(&auditor).await;
    for key in after.keys() {
        assert!(later.contains_key(key));
    }
    assert!(
        later.len() > after.len(),
        "nothing traded after the restart"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
