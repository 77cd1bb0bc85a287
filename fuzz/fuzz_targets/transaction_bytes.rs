//! Arbitrary bytes as a signed transaction: decoding never panics and is canonical, and any
//! decoded transaction — also with its signature check skipped and its signer replaced by each
//! authority of a small world — either applies or changes nothing, and the audit totals hold.
#![no_main]

#[path = "../../crates/ledger/tests/support/model.rs"]
mod model;

use libfuzzer_sys::fuzz_target;
use nestgrid_ledger::{ResultCode, SignedTransaction, verify::audit};

fuzz_target!(|data: &[u8]| {
    let Ok(tx) = SignedTransaction::from_bytes(data) else {
        return;
    };
    assert_eq!(tx.to_bytes(), data, "decoding is canonical");
    let world = model::World::new();
    let (state, _) = model::setup(&world);
    let mut checked = state.clone();
    let code = checked.apply(&tx);
    if code != ResultCode::Ok {
        assert!(checked == state, "a failed transaction changed the state");
    }
    audit(&checked).unwrap();
    // The rules, whatever the body says, for every signer with a role.
    for signer in [
        &world.operator,
        &world.gateway,
        &world.market,
        &world.meter,
        &world.participants[0],
    ] {
        let mut forced = tx.clone();
        forced.transaction.signer = signer.public();
        forced.transaction.chain_id = state.chain_id.clone();
        forced.transaction.nonce = state.next_nonce(&signer.public());
        let mut after = state.clone();
        let code = after.apply_checked(&forced);
        if code != ResultCode::Ok {
            assert!(after == state, "a failed transaction changed the state");
        }
        audit(&after).unwrap();
    }
});
