//! n = 1: the single validator is its own quorum and uses the same code path.

mod common;

use common::*;
use commonware_runtime::Runner as _;
use std::time::Duration;

#[test]
fn single_validator_finalizes_and_replays_after_restart() {
    let seed = seed(5);
    runner(seed, Duration::from_secs(120)).start(|context| async move {
        let committee = Committee::new(1);
        let oracle = network(&context, &committee, GOOD_LINK).await;
        let app = ToyApp::default();
        let handle = start(&context, &oracle, &committee, 0, app.clone()).await;
        let elapsed = wait_for_height(&context, &[&app], 20).await;
        eprintln!("n = 1: 20 blocks in {elapsed:?} simulated");
        committee.assert_certificates(&app.blocks());
        assert!(
            app.blocks()
                .iter()
                .all(|block| block.payload == toy_payload(block.height))
        );

        // Crash, restart with an empty application: the chain is replayed from storage, then
        // extended.
        handle.abort();
        let _ = handle.await;
        let fresh = ToyApp::default();
        let handle = start(&context, &oracle, &committee, 0, fresh.clone()).await;
        let target = app.height() + 5;
        wait_for_height(&context, &[&fresh], target).await;
        assert_eq!(fresh.blocks()[..app.blocks().len()], app.blocks()[..]);
        handle.abort();
    });
}
