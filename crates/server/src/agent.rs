//! The reference agent (`nestgrid agent`): trades one external asset through the API with the
//! simulator's own strategy for it.
//!
//! It loads the same scenario as the exchange, starting at the exchange's first slot, and
//! builds the asset's strategy as if the asset were not external. For each slot open for
//! trading it plans the asset's legs and places one tender per leg at the strategy's price for
//! the current tick; whenever the strategy's price steps, it cancels what is left and places
//! the rest at the new price. When a slot closes it reads its position and tells the model
//! what it traded (a battery's charge follows its trades).

use crate::client::{Answer, Client};
use nestgrid_agents::{AssetAgent, Leg, build_agents, seen_prices};
use nestgrid_grid::{LoadOptions, Topology};
use nestgrid_ledger::Keypair;
use nestgrid_types::decimal::{format_fixed, parse_fixed};
use nestgrid_types::{Energy, Side};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// How to run an agent.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The exchange's URL.
    pub server: String,
    /// The scenario the exchange serves (its text) and its folder for profile files.
    pub scenario: String,
    /// Folder for relative profile paths.
    pub base_dir: PathBuf,
    /// The asset's path.
    pub asset: String,
    /// Stop after this many slots (all when `None`).
    pub slots: Option<u32>,
}

/// One leg's tender in the open slot.
struct Placed {
    leg: Leg,
    tender: Option<u64>,
    price: i64,
    /// Energy traded by tenders of this leg that were replaced.
    done: i64,
}

fn field<'a>(answer: &'a Answer, name: &str) -> &'a Value {
    &answer.body[name]
}

fn kwh(text: &Value) -> i64 {
    text.as_str()
        .and_then(|text| parse_fixed(text, 1_000_000).ok())
        .unwrap_or(0)
}

fn problem(answer: &Answer) -> String {
    format!(
        "{} {}: {}",
        answer.status,
        answer.body["title"].as_str().unwrap_or(""),
        answer.body["detail"].as_str().unwrap_or("")
    )
}

/// Runs the agent until the exchange's last slot (or `config.slots`) closed. Progress goes to
/// `log`.
pub async fn run(
    config: AgentConfig,
    keypair: Keypair,
    log: &mut (dyn FnMut(String) + Send),
) -> Result<(), String> {
    let client = Client::new(&config.server, Some(keypair));
    let clock = client
        .send("GET", "/v1/clock", None)
        .await
        .map_err(|error| error.to_string())?;
    if clock.status != 200 {
        return Err(format!("reading the exchange's clock: {}", problem(&clock)));
    }
    let start = field(&clock, "first_slot_start")
        .as_str()
        .and_then(|text| text.parse::<jiff::Timestamp>().ok())
        .ok_or("the exchange's clock has no first slot start")?;
    let mut topology: Topology = nestgrid_grid::load_str(
        &config.scenario,
        &config.base_dir,
        &LoadOptions {
            start: Some(start),
            ..LoadOptions::default()
        },
    )
    .map_err(|error| format!("the scenario: {error}"))?;
    let index = topology
        .assets
        .iter()
        .position(|asset| asset.path == config.asset)
        .ok_or_else(|| format!("the scenario has no asset `{}`", config.asset))?;
    if !topology.assets[index].external {
        return Err(format!(
            "`{}` is not external: the exchange trades it with its own strategy",
            config.asset
        ));
    }
    // The asset's strategy, built as if the simulator traded it.
    topology.assets[index].external = false;
    let mut agents = build_agents(&topology).map_err(|error| error.to_string())?;
    let mut agent: AssetAgent = agents.swap_remove(index);
    let area = topology.assets[index].area;
    let ticks = field(&clock, "ticks_per_slot").as_u64().unwrap_or(60) as u32;
    let tick_seconds = field(&clock, "tick_seconds").as_f64().unwrap_or(15.0);
    let speed = field(&clock, "speed").as_f64().unwrap_or(1.0);
    let poll = Duration::from_secs_f64((tick_seconds / speed / 2.0).clamp(0.01, 1.0));
    let me = client
        .send("GET", "/v1/participants/me", None)
        .await
        .map_err(|error| error.to_string())?;
    if me.status != 200 {
        return Err(format!("this key: {}", problem(&me)));
    }
    log(format!(
        "agent for {} (key {}), {} ticks per slot",
        config.asset,
        me.body["public_key"].as_str().unwrap_or("?"),
        ticks
    ));
    let mut current: Option<(u32, Vec<Placed>)> = None;
    let mut slots_done = 0;
    loop {
        let clock = client
            .send("GET", "/v1/clock", None)
            .await
            .map_err(|error| error.to_string())?;
        let trading = field(&clock, "trading");
        let open = trading["slot"].as_u64().map(|slot| slot as u32);
        let tick = trading["next_tick"].as_u64().unwrap_or(0) as u32;
        // A slot closed: settle the model with what was traded.
        if let Some((slot, _)) = &current
            && open != Some(*slot)
        {
            let slot = *slot;
            let (bought, sold) = position(&client, &config.asset, slot).await?;
            agent.deliver(slot, Energy(bought), Energy(sold), (0, index as u32, 0));
            log(format!(
                "slot {slot} closed: bought {} kWh, sold {} kWh",
                format_fixed(bought, 1_000_000),
                format_fixed(sold, 1_000_000)
            ));
            current = None;
            slots_done += 1;
            if config.slots.is_some_and(|limit| slots_done >= limit) {
                return Ok(());
            }
        }
        if field(&clock, "finished").as_bool() == Some(true) {
            log("the exchange's last slot closed".to_string());
            return Ok(());
        }
        if let Some(slot) = open
            && tick < ticks
        {
            if current.is_none() {
                let seen = seen_prices(&topology, slot)[area.index()];
                let plan = agent
                    .plan(&topology, slot, seen)
                    .map_err(|error| error.to_string())?;
                let placed = plan
                    .legs()
                    .map(|leg| Placed {
                        leg: *leg,
                        tender: None,
                        price: i64::MIN,
                        done: 0,
                    })
                    .collect();
                current = Some((slot, placed));
            }
            let (slot, placed) = current.as_mut().expect("set above");
            for leg in placed.iter_mut() {
                let price = leg.leg.ramp.price_at(tick, ticks).0;
                if price == leg.price {
                    continue;
                }
                // Replace what is left at the new price.
                if let Some(id) = leg.tender.take() {
                    let answer = client
                        .send("DELETE", &format!("/v1/tenders/{id}"), None)
                        .await
                        .map_err(|error| error.to_string())?;
                    leg.done += kwh(&answer.body["filled_kwh"]);
                }
                let left = leg.leg.energy.0 - leg.done;
                if left <= 0 {
                    leg.price = price;
                    continue;
                }
                let body = json!({
                    "asset": config.asset,
                    "side": leg.leg.side,
                    "slot": *slot,
                    "energy_kwh": format_fixed(left, 1_000_000),
                    "price": format_fixed(price, 1_000_000),
                });
                let answer = client
                    .send("POST", "/v1/tenders", Some(&body))
                    .await
                    .map_err(|error| error.to_string())?;
                match answer.status {
                    201 => {
                        leg.tender = answer.body["tenders"][0]["id"].as_u64();
                        leg.price = price;
                        log(format!(
                            "slot {slot} tick {tick}: {} {} kWh at {}",
                            if leg.leg.side == Side::Buy {
                                "bid"
                            } else {
                                "offer"
                            },
                            format_fixed(left, 1_000_000),
                            format_fixed(price, 1_000_000)
                        ));
                    }
                    // The window closed meanwhile: the next round sees the new slot.
                    409 => break,
                    _ => return Err(format!("placing a tender: {}", problem(&answer))),
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

async fn position(client: &Client, asset: &str, slot: u32) -> Result<(i64, i64), String> {
    let answer = client
        .send("GET", &format!("/v1/positions?slot={slot}"), None)
        .await
        .map_err(|error| error.to_string())?;
    if answer.status != 200 {
        return Err(format!("reading positions: {}", problem(&answer)));
    }
    let mut total = (0, 0);
    for position in answer.body["positions"].as_array().into_iter().flatten() {
        if position["asset"] == asset {
            total.0 += kwh(&position["bought_kwh"]);
            total.1 += kwh(&position["sold_kwh"]);
        }
    }
    Ok(total)
}
