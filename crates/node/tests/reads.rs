//! Reads by role on real validator processes: anyone reads heads and headers; whole blocks and
//! accounts need a signed request; a participant reads its own account only, an auditor reads
//! everything; refused requests change nothing; `nestgrid-node verify --url` reads the chain
//! with the auditor's key.

mod support;

use nestgrid_ledger::request::{self, READ_DOMAIN};
use nestgrid_ledger::{
    AssetSpec, Block, Body, Delivery, Genesis, KeyFile, Keypair, PublicKey, Role, TradeEntry,
};
use nestgrid_node::process::reads::{new_nonce, now_ms};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::{Net, Signer, VALIDATORS, free_base_port, key};

/// An answer: status, content type and body.
struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts a refusal: `status`, as a problem document.
    fn refused(&self, status: u16, what: &str) -> Value {
        assert_eq!(self.status, status, "{what}: {}", self.text());
        assert_eq!(
            self.content_type,
            "application/problem+json",
            "{what}: {}",
            self.text()
        );
        let problem = self.json();
        assert_eq!(problem["status"], status, "{what}");
        problem
    }
}

fn get(api: &str, path: &str, headers: &[(&'static str, String)]) -> Answer {
    let mut request = ureq::get(format!("{api}{path}"))
        .config()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build();
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let mut response = request.call().unwrap();
    Answer {
        status: response.status().as_u16(),
        content_type: response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap(),
    }
}

/// The headers of a read of `path` signed by `keypair` now, with a fresh nonce.
fn signed(keypair: &Keypair, path: &str) -> [(&'static str, String); 4] {
    signed_with(keypair, path, now_ms(), &new_nonce())
}

fn signed_with(
    keypair: &Keypair,
    path: &str,
    timestamp_ms: i64,
    nonce: &str,
) -> [(&'static str, String); 4] {
    request::sign(keypair, READ_DOMAIN, "GET", path, b"", timestamp_ms, nonce)
}

/// An account as answered, without the height (which moves with every block).
fn account_fields(answer: &Answer) -> Value {
    let mut json = answer.json();
    json.as_object_mut().unwrap().remove("height");
    json
}

fn node(args: &[&str], key_file: Option<&Path>) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nestgrid-node"));
    command.args(args);
    if let Some(path) = key_file {
        command.arg("--key").arg(path);
    }
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn reads_by_role_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::start(dir.path(), free_base_port(11 ^ std::process::id() as u64));
    net.wait("all validators up", Duration::from_secs(60), || {
        (0..VALIDATORS).all(|index| net.head(index).is_some_and(|height| height > 0))
    });
    let api = net.api(0);
    let operator = key(dir.path(), "operator");
    let gateway = key(dir.path(), "gateway");
    let auditor = key(dir.path(), "auditor");
    let validator = key(dir.path(), "validator-2");
    let alice = Keypair::derived(21, "alice");
    let bob = Keypair::derived(21, "bob");
    let mallory = Keypair::derived(21, "mallory");
    let genesis: Genesis = serde_json::from_slice(&get(&api, "/v1/genesis", &[]).body).unwrap();
    assert!(
        genesis
            .authorities
            .iter()
            .any(|authority| authority.key == auditor.public()
                && authority.roles == vec![Role::Auditor]),
        "testnet names auditor.key as the auditor"
    );

    // Alice and Bob are registered with an asset each, and paid in.
    let mut signer = Signer {
        chain_id: genesis.chain_id.clone(),
        nonces: BTreeMap::new(),
    };
    let mut transactions = Vec::new();
    for (keypair, name, asset) in [(&alice, "alice", 1), (&bob, "bob", 2)] {
        transactions.push(signer.sign(
            &operator,
            Body::Register {
                account: keypair.public(),
                name: name.into(),
                role: Role::Participant,
                assets: vec![AssetSpec {
                    asset,
                    name: format!("{name} pv"),
                    energy_sell_max_mwh: 5_000,
                    balancing_asset: None,
                }],
            },
        ));
    }
    for (keypair, amount) in [(&alice, 1_000), (&bob, 500)] {
        transactions.push(signer.sign(
            &gateway,
            Body::Deposit {
                account: keypair.public(),
                amount,
            },
        ));
    }
    for tx in &transactions {
        for index in 0..VALIDATORS {
            assert_eq!(net.submit(index, tx), Some(202));
        }
    }
    let last = transactions.last().unwrap().hash();
    net.wait("deposits committed", Duration::from_secs(60), || {
        net.committed(0, &last)
    });
    let first = transactions[0].hash();
    let status = get(&api, &format!("/v1/transactions/{first}"), &[]).json();
    let first_height = status["height"].as_u64().unwrap();

    // Anyone reads the head and the headers, without signing.
    let head = get(&api, "/v1/head", &[]);
    assert_eq!(head.status, 200, "{}", head.text());
    let head = head.json();
    let top = head["height"].as_u64().unwrap();
    assert!(top >= first_height);
    let mut parent = genesis.hash().to_hex();
    let mut headers = Vec::new();
    for height in 1..=top {
        let answer = get(&api, &format!("/v1/headers/{height}"), &[]);
        assert_eq!(answer.status, 200, "header {height}: {}", answer.text());
        let header = answer.json();
        assert_eq!(header["height"], height);
        assert_eq!(header["chain_id"], genesis.chain_id);
        assert_eq!(
            header["parent"], parent,
            "header {height} links to its parent"
        );
        assert_eq!(header["certificate"]["kind"], "consensus");
        parent = header["hash"].as_str().unwrap().to_string();
        headers.push(header);
    }
    assert_eq!(
        get(&api, &format!("/v1/headers/{top}"), &[]).json()["hash"],
        head["hash"],
        "the head's hash is its header's"
    );
    assert!(
        headers[first_height as usize - 1]["tx_count"]
            .as_u64()
            .unwrap()
            >= 1
    );
    get(&api, "/v1/headers/999999999", &[]).refused(404, "a header not committed yet");
    get(&api, "/v1/headers/x", &[]).refused(400, "a height that is not a number");

    let alice_path = format!("/v1/accounts/{}", alice.public());
    let bob_path = format!("/v1/accounts/{}", bob.public());
    let alice_before = get(&api, &alice_path, &signed(&alice, &alice_path));
    assert_eq!(alice_before.status, 200, "{}", alice_before.text());
    let alice_before = account_fields(&alice_before);
    let mempool_before = head["mempool"].clone();

    // Unsigned, wrongly signed, expired and replayed reads of an account or a block are
    // refused.
    for path in [alice_path.as_str(), "/v1/blocks/1"] {
        let problem = get(&api, path, &[]).refused(401, &format!("unsigned {path}"));
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("nestgrid-ledger-read-v1"),
            "{problem}"
        );
        // Signed by Mallory, sent as Alice's (and as the auditor's).
        for named in [&alice, &auditor] {
            let mut forged = signed(&mallory, path);
            forged[0].1 = named.public().to_hex();
            get(&api, path, &forged).refused(401, &format!("{path} signed by another key"));
        }
        // Signed for another path.
        get(&api, path, &signed(&auditor, &bob_path))
            .refused(401, &format!("{path} signed over {bob_path}"));
        // Signed with the exchange's domain tag.
        let exchange = request::sign(
            &auditor,
            b"nestgrid-api-v1",
            "GET",
            path,
            b"",
            now_ms(),
            &new_nonce(),
        );
        get(&api, path, &exchange).refused(401, &format!("{path} signed for the exchange"));
        // A signature that is not one.
        let mut broken = signed(&auditor, path);
        broken[3].1 = "zz".into();
        get(&api, path, &broken).refused(401, &format!("{path} with a broken signature"));
        // Expired, and from the future.
        for skew in [-60_000, 60_000] {
            let stale = signed_with(&auditor, path, now_ms() + skew, &new_nonce());
            get(&api, path, &stale).refused(401, &format!("{path} signed {skew} ms off"));
        }
        // Replayed: accepted once.
        let once = signed(&auditor, path);
        assert_eq!(get(&api, path, &once).status, 200, "{path} signed");
        let problem = get(&api, path, &once).refused(401, &format!("{path} replayed"));
        assert!(
            problem["detail"].as_str().unwrap().contains("already used"),
            "{problem}"
        );
        // A properly signed read by a key that is no account.
        get(&api, path, &signed(&mallory, path)).refused(403, &format!("{path} by a stranger"));
    }
    // A refused request leaves its nonce unused: Alice's own requests with the nonces of the
    // forged and the expired ones are accepted.
    let mut forged = signed_with(&mallory, &alice_path, now_ms(), "nonce-forged-1");
    forged[0].1 = alice.public().to_hex();
    get(&api, &alice_path, &forged).refused(401, "forged with Alice's key named");
    let stale = signed_with(&alice, &alice_path, now_ms() - 60_000, "nonce-stale-1");
    get(&api, &alice_path, &stale).refused(401, "expired");
    for nonce in ["nonce-forged-1", "nonce-stale-1"] {
        let answer = get(
            &api,
            &alice_path,
            &signed_with(&alice, &alice_path, now_ms(), nonce),
        );
        assert_eq!(answer.status, 200, "nonce {nonce}: {}", answer.text());
    }
    // And the ledger is as it was.
    let alice_after = get(&api, &alice_path, &signed(&alice, &alice_path));
    assert_eq!(account_fields(&alice_after), alice_before);
    assert_eq!(get(&api, "/v1/head", &[]).json()["mempool"], mempool_before);

    // A participant reads its own account, and nothing else.
    assert_eq!(alice_before["account"], alice.public().to_hex());
    assert_eq!(alice_before["name"], "alice");
    assert_eq!(alice_before["roles"], serde_json::json!(["participant"]));
    assert_eq!(alice_before["balance"], 1_000);
    assert_eq!(alice_before["locked"], 0);
    assert_eq!(alice_before["tokens_mwh"], 0);
    assert_eq!(alice_before["tokens_minted_mwh"], 0);
    assert_eq!(alice_before["nonce"], 0);
    assert_eq!(alice_before["currency"], genesis.currency);
    assert_eq!(alice_before["assets"][0]["asset"], 1);
    assert_eq!(alice_before["assets"][0]["energy_sell_max_mwh"], 5_000);
    assert_eq!(alice_before["assets"].as_array().unwrap().len(), 1);
    get(&api, &bob_path, &signed(&alice, &bob_path)).refused(403, "Alice reads Bob's account");
    let auditor_path = format!("/v1/accounts/{}", auditor.public());
    get(&api, &auditor_path, &signed(&alice, &auditor_path))
        .refused(403, "Alice reads the auditor's account");
    let nobody_path = format!("/v1/accounts/{}", mallory.public());
    get(&api, &nobody_path, &signed(&alice, &nobody_path))
        .refused(403, "Alice asks for an account that does not exist");
    get(&api, "/v1/blocks/1", &signed(&alice, "/v1/blocks/1"))
        .refused(403, "Alice reads a whole block");
    let bob_own = get(&api, &bob_path, &signed(&bob, &bob_path));
    assert_eq!(bob_own.status, 200, "{}", bob_own.text());
    assert_eq!(bob_own.json()["balance"], 500);

    // The auditor reads every account and every block; so does a validator.
    let mut accounts: Vec<PublicKey> = genesis.validators.clone();
    accounts.extend(genesis.authorities.iter().map(|authority| authority.key));
    accounts.extend([alice.public(), bob.public()]);
    for account in &accounts {
        let path = format!("/v1/accounts/{account}");
        let answer = get(&api, &path, &signed(&auditor, &path));
        assert_eq!(
            answer.status,
            200,
            "auditor reads {path}: {}",
            answer.text()
        );
        assert_eq!(answer.json()["account"], account.to_hex());
    }
    let path = format!("/v1/accounts/{}", operator.public());
    let operator_account = get(&api, &path, &signed(&auditor, &path)).json();
    assert_eq!(operator_account["nonce"], 2);
    assert_eq!(operator_account["roles"], serde_json::json!(["operator"]));
    assert_eq!(
        get(&api, &bob_path, &signed(&auditor, &bob_path)).json()["balance"],
        500
    );
    get(&api, &nobody_path, &signed(&auditor, &nobody_path))
        .refused(404, "the auditor asks for an account that does not exist");
    for height in 1..=top {
        let path = format!("/v1/blocks/{height}");
        let answer = get(&api, &path, &signed(&auditor, &path));
        assert_eq!(
            answer.status,
            200,
            "auditor reads {path}: {}",
            answer.text()
        );
        let block = Block::from_bytes(&answer.body).unwrap();
        let header = &headers[height as usize - 1];
        assert_eq!(header["hash"], block.header.hash().to_hex());
        assert_eq!(header["tx_root"], block.header.tx_root.to_hex());
        assert_eq!(header["state_hash"], block.header.state_hash.to_hex());
        assert_eq!(header["tx_count"], block.transactions.len());
        assert_eq!(header["timestamp_ms"], block.header.timestamp_ms);
    }
    let first_block = format!("/v1/blocks/{first_height}");
    let answer = get(&api, &first_block, &signed(&validator, &first_block));
    assert_eq!(answer.status, 200, "a validator reads a block");
    assert!(
        Block::from_bytes(&answer.body)
            .unwrap()
            .transactions
            .iter()
            .any(|tx| tx.hash() == first)
    );
    get(
        &api,
        "/v1/blocks/999999999",
        &signed(&auditor, "/v1/blocks/999999999"),
    )
    .refused(404, "a block not committed yet");

    // Ranges: the same blocks in one answer, cut at the head; refused to a participant.
    let range = |from: u64, count: u64| format!("/v1/blocks?from={from}&count={count}");
    let path = range(1, 1_000);
    let answer = get(&api, &path, &signed(&auditor, &path));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let parts = nestgrid_node::process::split_batch(&answer.body).unwrap();
    assert!(
        parts.len() as u64 >= top,
        "{} blocks up to the head",
        parts.len()
    );
    for (index, part) in parts.iter().enumerate().take(top as usize) {
        let block = Block::from_bytes(part).unwrap();
        assert_eq!(block.header.height, index as u64 + 1);
        assert_eq!(headers[index]["hash"], block.header.hash().to_hex());
    }
    net.wait("three blocks", Duration::from_secs(60), || {
        net.head(0).is_some_and(|height| height >= 3)
    });
    let path = range(2, 2);
    let answer = get(&api, &path, &signed(&auditor, &path));
    let parts = nestgrid_node::process::split_batch(&answer.body).unwrap();
    let heights: Vec<u64> = parts
        .iter()
        .map(|part| Block::from_bytes(part).unwrap().header.height)
        .collect();
    assert_eq!(heights, [2, 3]);
    let path = range(999_999_999, 5);
    let answer = get(&api, &path, &signed(&auditor, &path));
    assert_eq!(
        (answer.status, answer.body.len()),
        (200, 0),
        "above the head"
    );
    for path in [range(1, 0), range(1, 1_001), range(0, 1)] {
        get(&api, &path, &signed(&auditor, &path)).refused(400, &path);
    }
    let path = range(1, 10);
    get(&api, &path, &signed(&alice, &path)).refused(403, "Alice reads a range of blocks");

    // `nestgrid-node verify --url` reads the chain with the auditor's key, and says what is
    // wrong without one.
    let alice_file = dir.path().join("alice.key");
    std::fs::write(
        &alice_file,
        serde_json::to_string(&KeyFile::new(&alice)).unwrap(),
    )
    .unwrap();
    let (ok, stdout, stderr) = node(
        &["verify", "--url", &net.api(1)],
        Some(&dir.path().join("auditor.key")),
    );
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("Every hash link"), "{stdout}");
    let (ok, _, stderr) = node(&["verify", "--url", &net.api(1)], None);
    assert!(!ok);
    assert!(stderr.contains("--key FILE"), "{stderr}");
    let (ok, _, stderr) = node(&["verify", "--url", &net.api(1)], Some(&alice_file));
    assert!(!ok);
    assert!(
        stderr.contains("is not an auditor") && stderr.contains("participant"),
        "{stderr}"
    );

    // `nestgrid-node show` prints an account.
    let (ok, stdout, stderr) = node(&["show", "--url", &api], Some(&alice_file));
    assert!(ok, "{stderr}");
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(shown["account"], alice.public().to_hex());
    assert_eq!(shown["balance"], 1_000);
    let bob_hex = bob.public().to_hex();
    let (ok, _, stderr) = node(
        &["show", "--url", &api, "--account", &bob_hex],
        Some(&alice_file),
    );
    assert!(!ok);
    assert!(stderr.contains("403"), "{stderr}");
    let (ok, stdout, stderr) = node(
        &["show", "--url", &api, "--account", &bob_hex],
        Some(&dir.path().join("auditor.key")),
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()["balance"],
        500
    );

    // Trades of a slot not settled yet: each participant sees its own side of them.
    let market = key(dir.path(), "market");
    let trade = signer.sign(
        &market,
        Body::RecordTrades {
            slot: 7,
            trades: vec![TradeEntry {
                trade_id: 41,
                buyer_asset: 2,
                seller_asset: 1,
                energy_mwh: 1_500,
                buyer_amount: 300,
                seller_amount: 300,
                fees: vec![],
                surplus: None,
            }],
        },
    );
    for index in 0..VALIDATORS {
        assert_eq!(net.submit(index, &trade), Some(202));
    }
    let hash = trade.hash();
    net.wait("trade committed", Duration::from_secs(60), || {
        net.committed(0, &hash)
    });
    let alice_now = get(&api, &alice_path, &signed(&alice, &alice_path)).json();
    assert_eq!(
        alice_now["open_trades"],
        serde_json::json!([{ "slot": 7, "trade_id": 41, "side": "sell", "asset": 1,
            "energy_mwh": 1_500, "amount": 300 }])
    );
    let bob_now = get(&api, &bob_path, &signed(&auditor, &bob_path)).json();
    assert_eq!(bob_now["open_trades"][0]["side"], "buy");
    assert_eq!(bob_now["open_trades"].as_array().unwrap().len(), 1);
    assert_eq!(
        (bob_now["balance"].clone(), bob_now["locked"].clone()),
        (200.into(), 300.into())
    );
    assert_eq!(alice_now["open_deliveries"], serde_json::json!([]));

    // The slot is metered and settled: its trade leaves the open ones, and each participant
    // reads its own side of it, its deliveries and its deposits in its history.
    let meter = key(dir.path(), "meter");
    let deliveries = signer.sign(
        &meter,
        Body::PostDeliveries {
            slot: 7,
            deliveries: vec![
                Delivery {
                    asset: 1,
                    energy_in_mwh: 0,
                    energy_out_mwh: 1_500,
                },
                Delivery {
                    asset: 2,
                    energy_in_mwh: 1_500,
                    energy_out_mwh: 0,
                },
            ],
            data_hash: None,
        },
    );
    let settle = signer.sign(&market, Body::SettleSlot { slot: 7 });
    for tx in [&deliveries, &settle] {
        for index in 0..VALIDATORS {
            assert_eq!(net.submit(index, tx), Some(202));
        }
    }
    let settled = settle.hash();
    net.wait("slot 7 settled", Duration::from_secs(60), || {
        net.committed(0, &settled)
    });
    let settled_at = get(&api, &format!("/v1/transactions/{settled}"), &[]).json()["height"]
        .as_u64()
        .unwrap();
    let alice_now = get(&api, &alice_path, &signed(&alice, &alice_path)).json();
    assert_eq!(alice_now["open_trades"], serde_json::json!([]));
    assert_eq!(alice_now["balance"], 1_300, "paid for the energy sold");
    let history = |reader: &Keypair, account: &Keypair, from: u64, count: u64| {
        let path = format!(
            "/v1/accounts/{}/history?from={from}&count={count}",
            account.public()
        );
        get(&api, &path, &signed(reader, &path))
    };
    let entries = |answer: &Answer| -> Vec<Value> {
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| {
                let mut entry = entry.clone();
                let object = entry.as_object_mut().unwrap();
                assert!(object.remove("height").unwrap().as_u64().unwrap() >= first_height);
                assert!(object.remove("transaction").is_some());
                entry
            })
            .collect()
    };
    let alice_history = history(&alice, &alice, 1, 1_000);
    assert_eq!(
        alice_history.json()["next"],
        Value::Null,
        "the head is reached"
    );
    assert_eq!(
        entries(&alice_history),
        vec![
            serde_json::json!({ "kind": "deposit", "amount": 1_000 }),
            serde_json::json!({ "kind": "trade", "slot": 7, "trade_id": 41, "side": "sell",
                "asset": 1, "energy_mwh": 1_500, "amount": 300 }),
            serde_json::json!({ "kind": "delivery", "slot": 7, "asset": 1, "energy_in_mwh": 0,
                "energy_out_mwh": 1_500 }),
            serde_json::json!({ "kind": "settled", "slot": 7 }),
        ],
        "Alice's history holds her side only"
    );
    let bob_history = entries(&history(&auditor, &bob, 1, 1_000));
    assert_eq!(
        bob_history[0],
        serde_json::json!({ "kind": "deposit", "amount": 500 })
    );
    assert_eq!(bob_history[1]["side"], "buy");
    assert_eq!(bob_history[2]["energy_in_mwh"], 1_500);
    assert_eq!(bob_history.len(), 4);
    // Paging: the settlement's block alone, then what follows it.
    let page = history(&alice, &alice, settled_at, 1);
    assert_eq!(
        entries(&page),
        vec![serde_json::json!({ "kind": "settled", "slot": 7 })]
    );
    let page = page.json();
    assert_eq!(page["from"], settled_at);
    assert_eq!(page["to"], settled_at);
    let head = page["head"].as_u64().unwrap();
    assert_eq!(
        page["next"],
        if settled_at < head {
            Value::from(settled_at + 1)
        } else {
            Value::Null
        }
    );
    // The command line reads the same, a page at a time.
    let (ok, stdout, stderr) = node(
        &["show", "--url", &api, "--history"],
        Some(&dir.path().join("alice.key")),
    );
    assert!(ok, "{stderr}");
    let shown: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        shown,
        alice_history.json()["entries"].as_array().unwrap().clone()
    );
    // Refused: another participant's history, an unsigned read, a bad range.
    history(&alice, &bob, 1, 10).refused(403, "Alice reads Bob's history");
    let path = format!("/v1/accounts/{}/history?from=1&count=10", alice.public());
    get(&api, &path, &[]).refused(401, "an unsigned history");
    for (from, count) in [(0, 10), (1, 0), (1, 1_001)] {
        history(&alice, &alice, from, count)
            .refused(400, &format!("history from {from} count {count}"));
    }
}

#[test]
fn the_load_generator_commits_what_it_sends_paced_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let net = Net::start(dir.path(), free_base_port(12 ^ std::process::id() as u64));
    net.wait("all validators up", Duration::from_secs(60), || {
        (0..VALIDATORS).all(|index| net.head(index).is_some_and(|height| height > 0))
    });
    let folder = dir.path().to_str().unwrap();
    for rate in [None, Some("2000")] {
        let mut args = vec![
            "loadgen",
            "--dir",
            folder,
            "--transactions",
            "600",
            "--accounts",
            "10",
            "--batch",
            "50",
        ];
        if let Some(rate) = rate {
            args.extend(["--rate", rate]);
        }
        let (ok, stdout, stderr) = node(&args, None);
        assert!(ok, "loadgen {rate:?}: {stderr}");
        assert!(
            stdout.starts_with("600 transactions committed in "),
            "loadgen {rate:?}: {stdout}"
        );
        if rate.is_some() {
            // 600 at 2,000 a second take at least the 0.3 s of the schedule.
            let seconds: f64 = stdout["600 transactions committed in ".len()..]
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(seconds >= 0.25, "{stdout}");
        }
    }
    let (ok, _, stderr) = node(
        &[
            "loadgen",
            "--dir",
            folder,
            "--transactions",
            "10",
            "--rate",
            "0",
        ],
        None,
    );
    assert!(!ok);
    assert!(stderr.contains("above 0"), "{stderr}");
}
