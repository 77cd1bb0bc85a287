//! A real exchange on a loopback port, its authority keys, and waiting for its clock.
#![allow(dead_code)]

use nestgrid_ledger::Keypair;
use nestgrid_server::client::{Answer, Client};
use nestgrid_server::exchange::Limits;
use nestgrid_server::model::Role;
use nestgrid_server::{ServeConfig, Server, read_key_file};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

pub const HEAT_PUMP: &str = "Exchange/Street/Miller house/Heat pump";
pub const BATTERY: &str = "Exchange/Street/Miller house/Battery";

/// Scenario seconds per wall second in the tests: one 15-minute slot per second.
pub const SPEED: f64 = 900.0;

pub fn config(dir: &Path, limits: Limits) -> ServeConfig {
    ServeConfig {
        scenario: nestgrid_grid::DEFAULT_EXCHANGE_SCENARIO.to_string(),
        base_dir: ".".into(),
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        speed: SPEED,
        limits,
        authorities: None,
        settle: false,
    }
}

pub async fn start(dir: &Path) -> Server {
    Server::start(config(dir, Limits::default()))
        .await
        .expect("the exchange starts")
}

pub fn key(dir: &Path, role: Role) -> Keypair {
    read_key_file(&dir.join("keys").join(format!("{}.key", role.name()))).unwrap()
}

pub fn new_key(name: &str) -> Keypair {
    Keypair::derived(7, name)
}

/// Registers `keypair` as a participant trading `assets`.
pub async fn register(server: &str, operator: &Keypair, keypair: &Keypair, assets: &[&str]) {
    let operator = Client::new(server, Some(operator.clone()));
    let answer = operator
        .send(
            "POST",
            "/v1/participants",
            Some(&json!({
                "public_key": keypair.public().to_hex(),
                "name": "test participant",
                "assets": assets,
            })),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 201, "{:?}", answer.body);
}

pub async fn clock(client: &Client) -> Value {
    client.send("GET", "/v1/clock", None).await.unwrap().body
}

/// The first slot that still takes tenders, with at least `margin` ticks of its window left.
pub async fn next_slot(client: &Client) -> u32 {
    let clock = clock(client).await;
    let ticks = clock["ticks_per_slot"].as_u64().unwrap();
    match clock["trading"]["slot"].as_u64() {
        Some(slot) if clock["trading"]["next_tick"].as_u64().unwrap() + 20 < ticks => {
            slot as u32 + 1
        }
        Some(slot) => slot as u32 + 2,
        None => clock["slots_closed"].as_u64().unwrap() as u32 + 1,
    }
}

/// Waits until `slot` has closed.
pub async fn wait_closed(client: &Client, slot: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let clock = clock(client).await;
        if clock["slots_closed"].as_u64().unwrap() > slot as u64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "slot {slot} did not close: {clock}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `slot` is open for trading.
pub async fn wait_open(client: &Client, slot: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let clock = clock(client).await;
        if clock["trading"]["slot"].as_u64() >= Some(slot as u64) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "slot {slot} did not open: {clock}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn decimal(value: &Value) -> i64 {
    nestgrid_types::decimal::parse_fixed(value.as_str().expect("a decimal string"), 1_000_000)
        .unwrap()
}

pub fn assert_problem(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{:?}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["status"], status);
    assert!(answer.body["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(
        answer.body["detail"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
}
