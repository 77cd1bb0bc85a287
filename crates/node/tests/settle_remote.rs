//! `nestgrid run --settle --ledger URL --keys DIR` as a library call on four real
//! `nestgrid-node` processes: a small run (two houses behind a street with a grid fee, four
//! slots) settles on a `testnet` chain, every account ends with its bill to the micro-unit,
//! every validator holds the same chain and it verifies; a second run on the same chain settles
//! too; a wrong key, a refused transaction and an unreachable validator are named in the error.

mod support;

use nestgrid_grid::{LoadOptions, Topology, load_str};
use nestgrid_ledger::{Body, KeyFile, Keypair, Transaction};
use nestgrid_node::process::reads::{self, Client};
use nestgrid_settle::remote::{AuthorityKeys, Validators, settle_remote};
use nestgrid_settle::{Collected, Collector, compare_nets};
use nestgrid_sim::{NullRecorder, Outcome, Simulation};
use std::path::Path;
use std::time::Duration;
use support::{Net, VALIDATORS, free_base_port};

/// One hour at noon (four 15-minute slots): house A has a load and a PV roof that sells, house
/// B only buys; the street charges a fee on its boundary, the grid connection settles the
/// imbalances.
fn scenario() -> Topology {
    let text = r#"
name: Lane
simulation:
  start: 2026-06-21T11:00
  time_zone: UTC
  duration: 1h
  slot_length: 15m
  tick_length: 60s
  seed: 7
  currency: EUR
market: { mechanism: pay-as-bid }
areas:
  - name: Grid
    grid_connection: { tariff: 0.30, feed_in: 0.05 }
  - name: Street
    fee: { constant: 0.01 }
    children:
      - name: A
        children:
          - name: Load
            load: { power_w: 500 }
          - name: PV
            pv: { capacity_kw: 6 }
      - name: B
        children:
          - name: Load
            load: { power_w: 1500 }
"#;
    load_str(text, Path::new("."), &LoadOptions::default()).expect("the scenario is valid")
}

fn simulate(topology: &Topology) -> (Outcome, Collected) {
    let mut null = NullRecorder;
    let mut collector = Collector::new(&mut null);
    let outcome = Simulation::new(topology)
        .expect("valid")
        .run(&mut collector, &mut |_| {})
        .expect("runs");
    (outcome, collector.finish().expect("collected"))
}

fn urls(net: &Net) -> Vec<String> {
    (0..VALIDATORS).map(|index| net.api(index)).collect()
}

#[test]
fn a_run_settles_on_a_validator_set_to_its_bills() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::start(dir.path(), free_base_port(23 ^ std::process::id() as u64));
    net.wait("all validators up", Duration::from_secs(60), || {
        (0..VALIDATORS).all(|index| net.head(index).is_some())
    });
    let keys = AuthorityKeys::read(dir.path()).unwrap();
    let urls = urls(&net);
    let topology = scenario();
    let (outcome, collected) = simulate(&topology);
    let fees: i64 = outcome.areas.iter().map(|a| a.fees_collected.0).sum();
    assert!(outcome.matches > 0, "the run trades");
    assert!(fees > 0, "the run pays a grid fee");

    // The first run: its balances equal the bills to the micro-unit.
    let first = settle_remote(&topology, &collected, &urls, &keys).unwrap();
    assert_eq!(first.trades, outcome.matches);
    assert_eq!(first.numbering.asset_base, 0);
    assert_eq!(first.numbering.slot_base, 0);
    assert_eq!(
        compare_nets(&topology, &outcome, &first.asset_net, &first.area_net),
        Ok(topology.assets.len() + topology.areas.len())
    );
    let operators: i64 = first.area_net.iter().map(|m| m.0).sum();
    assert_eq!(operators, fees, "the street's operator holds the fees");
    assert!(
        first.tokens_minted.0 > 0,
        "delivered traded energy is minted"
    );
    // The comparison is to the micro-unit.
    let mut off = first.asset_net.clone();
    off[1].0 += 1;
    let mismatch = compare_nets(&topology, &outcome, &off, &first.area_net).unwrap_err();
    assert_eq!(mismatch.name, topology.assets[1].path);

    // A second run on the same chain: nonces continue, numbers and accounts are new.
    let second = settle_remote(&topology, &collected, &urls, &keys).unwrap();
    assert_eq!(second.numbering.asset_base, topology.assets.len() as u32);
    assert!(second.numbering.slot_base >= topology.settings.slot_count as u64);
    assert!(second.height > first.height);
    assert!(
        second
            .accounts
            .iter()
            .all(|key| !first.accounts.contains(key))
    );
    assert_eq!(
        compare_nets(&topology, &outcome, &second.asset_net, &second.area_net),
        Ok(topology.assets.len() + topology.areas.len())
    );

    // Every validator holds the same chain, and it verifies from its genesis.
    net.wait(
        "every validator past the run",
        Duration::from_secs(60),
        || (0..VALIDATORS).all(|index| net.head(index).is_some_and(|h| h >= second.height)),
    );
    let clients: Vec<Client> = urls.iter().map(|url| Client::new(url, None)).collect();
    for height in 1..=second.height {
        let hashes: Vec<serde_json::Value> = clients
            .iter()
            .map(|client| {
                client.get_json(&format!("/v1/headers/{height}")).unwrap()["hash"].clone()
            })
            .collect();
        assert!(hashes[0].is_string(), "{hashes:?}");
        assert!(
            hashes.iter().all(|hash| *hash == hashes[0]),
            "block {height}: {hashes:?}"
        );
    }
    for url in &urls {
        let report = reads::verify_url(url, Some(keys.auditor.clone())).unwrap();
        assert!(report.height >= second.height, "{url}: {report:?}");
        assert_eq!(report.trades, 2 * outcome.matches, "{url}");
        assert_eq!(report.slots_open, 0, "{url}: every slot is settled");
        assert_eq!(report.locked, 0, "{url}: no money is left locked");
    }

    // A key the genesis does not name is refused before anything is sent.
    let wrong = tempfile::tempdir().unwrap();
    for name in nestgrid_settle::remote::KEY_FILES {
        std::fs::copy(dir.path().join(name), wrong.path().join(name)).unwrap();
    }
    let stranger = Keypair::from_secret([9; 32]);
    std::fs::write(
        wrong.path().join("gateway.key"),
        serde_json::to_string(&KeyFile::new(&stranger)).unwrap(),
    )
    .unwrap();
    let wrong_keys = AuthorityKeys::read(wrong.path()).unwrap();
    let error = settle_remote(&topology, &collected, &urls, &wrong_keys)
        .unwrap_err()
        .to_string();
    assert!(error.contains("gateway.key"), "{error}");
    assert!(error.contains(&stranger.public().to_hex()), "{error}");
    assert!(error.contains("the role `gateway`"), "{error}");

    // A transaction the validators refuse is named with its result code.
    let validators = Validators::connect(&urls).unwrap();
    let tx = Transaction {
        chain_id: validators.genesis().chain_id.clone(),
        signer: stranger.public(),
        nonce: 1,
        body: Body::Deposit {
            account: stranger.public(),
            amount: 5,
        },
    }
    .sign(&stranger);
    let error = validators
        .submit_all(&[("a deposit by a stranger".into(), tx)])
        .unwrap_err()
        .to_string();
    assert!(error.contains("a deposit by a stranger"), "{error}");
    assert!(error.contains("unknown_signer"), "{error}");
    assert!(error.contains("result code 6"), "{error}");

    // A missing key file and an unreachable validator are named.
    std::fs::remove_file(wrong.path().join("meter.key")).unwrap();
    let error = AuthorityKeys::read(wrong.path()).unwrap_err().to_string();
    assert!(error.contains("meter.key"), "{error}");
    let closed = format!(
        "http://127.0.0.1:{}",
        free_base_port(29 ^ std::process::id() as u64)
    );
    let error = settle_remote(&topology, &collected, std::slice::from_ref(&closed), &keys)
        .unwrap_err()
        .to_string();
    assert!(error.contains(&closed), "{error}");
    assert!(error.contains("does not answer"), "{error}");
}
