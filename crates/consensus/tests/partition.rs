//! Lossy, jittery links and a partition without a quorum on either side: finalization stops
//! during the partition and resumes within a bounded simulated time after it heals.

mod common;

use common::*;
use commonware_p2p::simulated::Link;
use commonware_runtime::{Clock as _, Runner as _};
use commonware_utils::probability;
use std::time::Duration;

/// 50 ms ± 20 ms, 10 % of messages lost.
const LOSSY_LINK: Link = Link {
    latency: Duration::from_millis(50),
    jitter: Duration::from_millis(20),
    success_rate: probability!(0.9),
};

/// Finalization must resume within this much simulated time after the partition heals.
const RECOVERY_BOUND: Duration = Duration::from_secs(60);

#[test]
fn finalization_resumes_after_partition_heals_on_lossy_links() {
    let seed = seed(4);
    runner(seed, Duration::from_secs(600)).start(|context| async move {
        let committee = Committee::new(4);
        let oracle = network(&context, &committee, LOSSY_LINK).await;
        let apps: Vec<ToyApp> = (0..4).map(|_| ToyApp::default()).collect();
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            handles.push(start(&context, &oracle, &committee, index, app.clone()).await);
        }
        let all: Vec<&ToyApp> = apps.iter().collect();
        let elapsed = wait_for_height(&context, &all, 10).await;
        eprintln!("10 blocks on lossy links in {elapsed:?} simulated");

        // Partition {0, 1} | {2, 3}: neither side has 2f + 1 = 3 validators.
        let side = |index: usize| index < 2;
        unlink(&oracle, &committee, |a, b| side(a) != side(b)).await;
        // Let in-flight votes settle, then check that nothing more is finalized.
        context.sleep(Duration::from_secs(5)).await;
        let stalled: Vec<u64> = apps.iter().map(ToyApp::height).collect();
        context.sleep(Duration::from_secs(20)).await;
        let after: Vec<u64> = apps.iter().map(ToyApp::height).collect();
        eprintln!("partitioned: heights {stalled:?} then {after:?} 20 s later");
        assert_eq!(
            stalled, after,
            "no quorum, so no finalization during the partition"
        );

        // Heal.
        link_all(&oracle, &committee, LOSSY_LINK, |a, b| side(a) != side(b)).await;
        let target = after.iter().max().unwrap() + 5;
        let elapsed = wait_for_height(&context, &all, target).await;
        eprintln!("after healing, all reached height {target} in {elapsed:?} simulated");
        assert!(elapsed <= RECOVERY_BOUND, "recovery took {elapsed:?}");
        assert!(assert_same_chain(&all) as u64 >= target);
        for app in &apps {
            committee.assert_certificates(&app.blocks());
        }
        for handle in handles {
            handle.abort();
        }
    });
}
