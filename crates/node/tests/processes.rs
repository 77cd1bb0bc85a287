//! Real validator processes on loopback: four `nestgrid-node` processes commit submitted
//! transactions over HTTP, and survive being killed with SIGKILL at random moments.
//!
//! After every restart the validator's ledger holds at least every block it had committed
//! before the kill; at the end every validator's stored chain verifies from genesis and all of
//! them hold the same blocks. `NESTGRID_KILLS` sets the number of kills (default 4; the issue's
//! crash test is `NESTGRID_KILLS=100 cargo test -p nestgrid-node --release --test processes`).

mod support;

use nestgrid_ledger::{Body, Keypair, Ledger, Role, verify};
use nestgrid_node::ConsensusCertificates;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;
use support::{Net, Signer, VALIDATORS, free_base_port, key};

/// A tiny deterministic generator for kill times and victims.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn validators_commit_over_http_and_survive_sigkill() {
    let seed: u64 = std::env::var("NESTGRID_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(7);
    let kills: usize = std::env::var("NESTGRID_KILLS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(4);
    eprintln!("seed = {seed}, kills = {kills}");
    let dir = tempfile::tempdir().unwrap();
    let mut net = Net::start(dir.path(), free_base_port(seed ^ std::process::id() as u64));
    let operator = key(dir.path(), "operator");
    let gateway = key(dir.path(), "gateway");
    let alice = Keypair::derived(seed, "alice");
    let mut signer = Signer {
        chain_id: "nestgrid-local".into(),
        nonces: BTreeMap::new(),
    };
    net.wait("all validators up", Duration::from_secs(60), || {
        (0..VALIDATORS).all(|index| net.head(index).is_some_and(|height| height > 0))
    });
    let register = signer.sign(
        &operator,
        Body::Register {
            account: alice.public(),
            name: "alice".into(),
            role: Role::Participant,
            assets: vec![],
        },
    );
    let mut expected = 0i64;
    let mut submitted = vec![register];
    for (index, tx) in submitted.iter().enumerate() {
        for validator in 0..VALIDATORS {
            assert_eq!(net.submit(validator, tx), Some(202), "transaction {index}");
        }
    }
    // A forged transaction is refused with its code.
    let mut forged = signer.sign(
        &gateway,
        Body::Deposit {
            account: alice.public(),
            amount: 1,
        },
    );
    forged.signature.0[0] ^= 1;
    assert_eq!(net.submit(0, &forged), Some(422));
    signer.nonces.insert(gateway.public(), 0);
    let first = submitted[0].hash();
    net.wait("registration committed", Duration::from_secs(60), || {
        (0..VALIDATORS).all(|index| net.committed(index, &first))
    });

    let mut random = Lcg(seed);
    for round in 0..kills {
        let victim = random.next(VALIDATORS as u64) as usize;
        let before = net.head(victim).expect("the victim is up");
        // A deposit per round, sent to every validator that is up.
        let amount = 1 + random.next(1_000) as i64;
        expected += amount;
        let deposit = signer.sign(
            &gateway,
            Body::Deposit {
                account: alice.public(),
                amount,
            },
        );
        for validator in 0..VALIDATORS {
            net.submit(validator, &deposit);
        }
        submitted.push(deposit);
        std::thread::sleep(Duration::from_millis(random.next(1_500)));
        net.kill(victim);
        net.spawn(victim);
        net.wait(
            &format!("round {round}: validator {victim} back"),
            Duration::from_secs(60),
            || net.head(victim).is_some(),
        );
        let after = net.head(victim).unwrap();
        assert!(
            after >= before,
            "round {round}: validator {victim} lost blocks: {before} → {after}"
        );
        eprintln!("round {round}: killed validator {victim} at height ≥ {before}, back at {after}");
        // Liveness: the chain moves on, and the restarted validator catches up with it, before
        // the next kill.
        let target = (0..VALIDATORS)
            .filter_map(|index| net.head(index))
            .max()
            .unwrap()
            + 1;
        net.wait(
            &format!("round {round}: every validator past height {target}"),
            Duration::from_secs(120),
            || (0..VALIDATORS).all(|index| net.head(index).is_some_and(|h| h >= target)),
        );
    }
    // Every transaction ends up committed on every validator (resent where it was lost with a
    // killed validator's mempool).
    net.wait(
        "every deposit committed everywhere",
        Duration::from_secs(180),
        || {
            submitted.iter().all(|tx| {
                (0..VALIDATORS).all(|index| {
                    let hash = tx.hash();
                    net.committed(index, &hash) || {
                        net.submit(index, tx);
                        false
                    }
                })
            })
        },
    );
    let heights: Vec<u64> = (0..VALIDATORS)
        .map(|index| net.head(index).unwrap())
        .collect();
    // The chain verifies through a running validator's API too.
    let output = Command::new(env!("CARGO_BIN_EXE_nestgrid-node"))
        .args(["verify", "--url", &net.api(1), "--key"])
        .arg(dir.path().join("auditor.key"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Every hash link"), "{stdout}");
    for index in 0..VALIDATORS {
        net.kill(index);
    }
    // Every stored chain verifies, and they agree.
    let mut tips = Vec::new();
    for (index, height) in heights.iter().enumerate() {
        let ledger_dir = dir.path().join(format!("validator-{index}/ledger"));
        let report = verify::verify_dir(&ledger_dir, &ConsensusCertificates)
            .unwrap_or_else(|error| panic!("validator {index}: {error}"));
        assert!(report.height >= *height);
        assert_eq!(report.deposited, expected, "validator {index}");
        let ledger = Ledger::open(&ledger_dir, &ConsensusCertificates).unwrap();
        assert_eq!(ledger.state().accounts[&alice.public()].balance, expected);
        tips.push(ledger);
    }
    let common = tips.iter().map(Ledger::height).min().unwrap();
    for height in 1..=common {
        let hash = tips[0].block(height).unwrap().unwrap().header.hash();
        for ledger in &tips[1..] {
            assert_eq!(
                ledger.block(height).unwrap().unwrap().header.hash(),
                hash,
                "height {height}"
            );
        }
    }
    eprintln!("{kills} kills; every chain verifies; common height {common}");
}
