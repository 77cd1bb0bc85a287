//! Blocks, storage and verification: a stored chain reopens to the same state, and every kind
//! of damage or forgery is found and named.

use nestgrid_ledger::{
    Authority, Block, Body, Certificate, Genesis, Keypair, Ledger, LedgerError, ResultCode, Role,
    Sequencer, SignedTransaction, Store, StoreError, Transaction, VotesOnly, verify, vote,
};

struct Keys {
    validator: Keypair,
    operator: Keypair,
    gateway: Keypair,
    alice: Keypair,
}

fn keys() -> Keys {
    Keys {
        validator: Keypair::derived(5, "validator"),
        operator: Keypair::derived(5, "operator"),
        gateway: Keypair::derived(5, "gateway"),
        alice: Keypair::derived(5, "alice"),
    }
}

fn genesis(keys: &Keys) -> Genesis {
    Genesis {
        chain_id: "chain-test".into(),
        currency: "EUR".into(),
        timestamp_ms: 1_000,
        validators: vec![keys.validator.public()],
        authorities: vec![
            Authority {
                name: "operator".into(),
                key: keys.operator.public(),
                roles: vec![Role::Operator],
            },
            Authority {
                name: "gateway".into(),
                key: keys.gateway.public(),
                roles: vec![Role::Gateway],
            },
        ],
    }
}

fn tx(keypair: &Keypair, nonce: u64, body: Body) -> SignedTransaction {
    Transaction {
        chain_id: "chain-test".into(),
        signer: keypair.public(),
        nonce,
        body,
    }
    .sign(keypair)
}

fn deposit(keys: &Keys, nonce: u64, amount: i64) -> SignedTransaction {
    tx(
        &keys.gateway,
        nonce,
        Body::Deposit {
            account: keys.alice.public(),
            amount,
        },
    )
}

/// A chain of four blocks in `dir`: registration, then deposits.
fn build(dir: &std::path::Path, keys: &Keys) -> Sequencer {
    let ledger = Ledger::create_or_open(dir, genesis(keys), &VotesOnly).unwrap();
    let mut sequencer = Sequencer::new(ledger, keys.validator.clone()).unwrap();
    let register = tx(
        &keys.operator,
        1,
        Body::Register {
            account: keys.alice.public(),
            name: "alice".into(),
            role: Role::Participant,
            assets: vec![],
        },
    );
    sequencer.commit(vec![register], 2_000, &VotesOnly).unwrap();
    for block in 0..3u64 {
        let txs = (0..5)
            .map(|i| deposit(keys, block * 5 + i + 1, 10))
            .collect();
        let committed = sequencer.commit(txs, 3_000 + block, &VotesOnly).unwrap();
        assert_eq!(committed.applied, 5);
    }
    sequencer
}

#[test]
fn a_stored_chain_reopens_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let sequencer = build(dir.path(), &keys);
    let state_hash = sequencer.ledger().state().hash();
    drop(sequencer);
    let reopened = Ledger::open(dir.path(), &VotesOnly).unwrap();
    assert_eq!(reopened.height(), 4);
    assert_eq!(reopened.state().hash(), state_hash);
    assert_eq!(reopened.state().accounts[&keys.alice.public()].balance, 150);
    // One process at a time holds the database.
    let error = verify::verify_dir(dir.path(), &VotesOnly).unwrap_err();
    assert!(error.to_string().contains("in use"), "{error}");
    drop(reopened);
    let report = verify::verify_dir(dir.path(), &VotesOnly).unwrap();
    assert_eq!(report.height, 4);
    assert_eq!(report.transactions, 16);
    assert_eq!(report.deposited, 150);
    assert_eq!(report.balances, 150);
}

#[test]
fn failing_transactions_stay_out_of_blocks_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let mut sequencer = build(dir.path(), &keys);
    let replay = deposit(&keys, 3, 10);
    let mut forged = deposit(&keys, 16, 10);
    forged.signature.0[0] ^= 1;
    let good = deposit(&keys, 16, 7);
    let committed = sequencer
        .commit(
            vec![replay.clone(), forged.clone(), good],
            9_000,
            &VotesOnly,
        )
        .unwrap();
    assert_eq!(committed.applied, 1);
    assert_eq!(
        committed.rejected,
        vec![
            (replay.hash(), ResultCode::StaleNonce),
            (forged.hash(), ResultCode::BadSignature)
        ]
    );
    let block = sequencer.ledger().block(5).unwrap().unwrap();
    assert_eq!(block.transactions.len(), 1);
}

/// A block signed by the real validator key but breaking a rule: a Byzantine proposer.
fn certified(keys: &Keys, mut block: Block) -> Block {
    block.header.tx_count = block.transactions.len() as u32;
    block.header.tx_root = Block::tx_root(&block.transactions);
    block.certificate = Certificate::Votes(vec![vote(&keys.validator, 0, &block.header)]);
    block
}

#[test]
fn forged_blocks_are_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let sequencer = build(dir.path(), &keys);
    let ledger = sequencer.into_ledger();
    let executed = ledger.execute(vec![deposit(&keys, 16, 1)], 10_000);
    let honest = Block {
        header: executed.header.clone(),
        transactions: executed.transactions().to_vec(),
        certificate: Certificate::Votes(vec![vote(&keys.validator, 0, &executed.header)]),
    };
    ledger.check_block(&honest, &VotesOnly).unwrap();

    // A transaction swapped after certification: the Merkle root no longer matches.
    let mut swapped = honest.clone();
    swapped.transactions[0] = deposit(&keys, 16, 1_000_000);
    let fault = ledger.check_block(&swapped, &VotesOnly).unwrap_err();
    assert!(fault.reason.contains("Merkle root"), "{fault}");

    // Header fixed up to match, but then the certificate does not match the header.
    let mut recomputed = swapped.clone();
    recomputed.header.tx_root = Block::tx_root(&recomputed.transactions);
    let fault = ledger.check_block(&recomputed, &VotesOnly).unwrap_err();
    assert!(fault.reason.contains("bad signature"), "{fault}");

    // Certified by a key that is not a validator.
    let mut outsider = honest.clone();
    outsider.certificate = Certificate::Votes(vec![vote(&keys.alice, 0, &honest.header)]);
    assert!(ledger.check_block(&outsider, &VotesOnly).is_err());
    outsider.certificate = Certificate::Votes(vec![]);
    let fault = ledger.check_block(&outsider, &VotesOnly).unwrap_err();
    assert!(fault.reason.contains("0 valid votes, 1 needed"), "{fault}");

    // The validator itself certifies a replayed transaction: named by position and hash.
    let replayed = deposit(&keys, 2, 10);
    let mut byzantine = honest.clone();
    byzantine.transactions.push(replayed.clone());
    let byzantine = certified(&keys, byzantine);
    let fault = ledger.check_block(&byzantine, &VotesOnly).unwrap_err();
    assert_eq!(fault.height, 5);
    assert_eq!(fault.transaction, Some((1, replayed.hash())));
    assert!(fault.reason.contains("stale_nonce"), "{fault}");

    // The validator certifies a wrong state hash.
    let mut lying = honest.clone();
    lying.header.state_hash = keys.alice.public().0.into_hash();
    let lying = certified(&keys, lying);
    let fault = ledger.check_block(&lying, &VotesOnly).unwrap_err();
    assert!(fault.reason.contains("the state after it"), "{fault}");

    // Time going backwards.
    let mut early = honest.clone();
    early.header.timestamp_ms = 10;
    let early = certified(&keys, early);
    let fault = ledger.check_block(&early, &VotesOnly).unwrap_err();
    assert!(fault.reason.contains("earlier than its parent"), "{fault}");
}

trait IntoHash {
    fn into_hash(self) -> nestgrid_ledger::Hash;
}
impl IntoHash for [u8; 32] {
    fn into_hash(self) -> nestgrid_ledger::Hash {
        nestgrid_ledger::Hash(self)
    }
}

#[test]
fn a_block_damaged_on_disk_is_found_when_read_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let sequencer = build(dir.path(), &keys);
    let mut block = sequencer.ledger().block(3).unwrap().unwrap();
    drop(sequencer);
    // Change one deposit inside block 3, keeping it decodable.
    block.transactions[2] = deposit(&keys, 8, 1_000_000);
    block.header.tx_root = Block::tx_root(&block.transactions);
    let mut store = Store::open(dir.path()).unwrap();
    store.overwrite_for_tests(3, &block.to_bytes()).unwrap();
    drop(store);
    let error = verify::verify_dir(dir.path(), &VotesOnly).unwrap_err();
    assert_eq!(error.height(), Some(3), "{error}");
    assert!(
        error.to_string().contains("block 3 is damaged on disk"),
        "{error}"
    );
    let error = Ledger::open(dir.path(), &VotesOnly).unwrap_err();
    assert!(matches!(
        error,
        LedgerError::Store(StoreError::Corrupt { height: 3, .. })
    ));

    // Bytes that do not even decode.
    let mut store = Store::open(dir.path()).unwrap();
    store.overwrite_for_tests(2, b"garbage").unwrap();
    drop(store);
    let error = verify::verify_dir(dir.path(), &VotesOnly).unwrap_err();
    assert_eq!(error.height(), Some(2), "{error}");
}

#[test]
fn the_store_refuses_blocks_that_do_not_continue_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let sequencer = build(dir.path(), &keys);
    let block = sequencer.ledger().block(4).unwrap().unwrap();
    drop(sequencer);
    let mut store = Store::open(dir.path()).unwrap();
    let error = store.append(&block).unwrap_err();
    assert!(
        matches!(error, StoreError::NotNext { height: 4, .. }),
        "{error}"
    );
}

#[test]
fn another_genesis_is_refused_and_a_missing_ledger_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    drop(build(dir.path(), &keys));
    let mut other = genesis(&keys);
    other.chain_id = "other".into();
    let error = Ledger::create_or_open(dir.path(), other, &VotesOnly).unwrap_err();
    assert!(error.to_string().contains("another genesis"), "{error}");
    let empty = tempfile::tempdir().unwrap();
    let error = Ledger::open(empty.path(), &VotesOnly).unwrap_err();
    assert!(error.to_string().contains("holds no ledger"), "{error}");
}

#[test]
fn a_sequencer_needs_the_sole_validator_key() {
    let keys = keys();
    let ledger = Ledger::in_memory(genesis(&keys)).unwrap();
    let error = Sequencer::new(ledger, keys.alice.clone()).unwrap_err();
    assert_eq!(error.validators, 1);
}

#[test]
fn keys_of_small_order_are_refused_in_the_genesis_and_at_registration() {
    // The identity point (y = 1): anyone can sign for it under the cofactored rules.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let identity = nestgrid_ledger::PublicKey(identity);
    let keys = keys();
    let mut bad_genesis = genesis(&keys);
    bad_genesis.authorities[1].key = identity;
    let error = bad_genesis.validate().unwrap_err();
    assert!(
        error.to_string().starts_with("authorities[1].key: "),
        "{error}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut sequencer = build(dir.path(), &keys);
    let register = tx(
        &keys.operator,
        2,
        Body::Register {
            account: identity,
            name: "nobody".into(),
            role: Role::Participant,
            assets: vec![],
        },
    );
    let committed = sequencer
        .commit(vec![register.clone()], 9_000, &VotesOnly)
        .unwrap();
    assert_eq!(
        committed.rejected,
        vec![(register.hash(), ResultCode::BadKey)]
    );
    assert!(!sequencer.ledger().state().accounts.contains_key(&identity));
}
