//! One of four validators crashes: the other three keep finalizing; restarted on the same
//! storage it catches up and holds the same chain.

mod common;

use common::*;
use commonware_runtime::Runner as _;
use std::time::Duration;

#[test]
fn crashed_validator_catches_up_after_restart() {
    let seed = seed(2);
    runner(seed, Duration::from_secs(300)).start(|context| async move {
        let committee = Committee::new(4);
        let oracle = network(&context, &committee, GOOD_LINK).await;
        let apps: Vec<ToyApp> = (0..4).map(|_| ToyApp::default()).collect();
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            handles.push(Some(
                start(&context, &oracle, &committee, index, app.clone()).await,
            ));
        }
        let all: Vec<&ToyApp> = apps.iter().collect();
        wait_for_height(&context, &all, 10).await;

        // Crash validator 3.
        let crashed = handles[3].take().unwrap();
        crashed.abort();
        let _ = crashed.await;
        let height_at_crash = apps[3].height();
        eprintln!("validator 3 crashed at height {height_at_crash}");

        // The other three keep finalizing (its leader views time out and are skipped).
        let live: Vec<&ToyApp> = apps[..3].iter().collect();
        let target = apps[0].height() + 20;
        let elapsed = wait_for_height(&context, &live, target).await;
        eprintln!("3 validators reached height {target} in {elapsed:?} simulated");
        assert_eq!(
            apps[3].height(),
            height_at_crash,
            "a crashed validator finalizes nothing"
        );

        // Restart validator 3 on the same storage with its (durable) application state.
        handles[3] = Some(start(&context, &oracle, &committee, 3, apps[3].clone()).await);
        let target = apps[0].height() + 10;
        let elapsed = wait_for_height(&context, &all, target).await;
        eprintln!("all 4 reached height {target} {elapsed:?} after the restart");
        assert!(assert_same_chain(&all) as u64 >= target);
        committee.assert_certificates(&apps[3].blocks());
        for handle in handles.into_iter().flatten() {
            handle.abort();
        }
    });
}

#[test]
fn restart_with_empty_application_replays_from_consensus_storage() {
    let seed = seed(3);
    runner(seed, Duration::from_secs(300)).start(|context| async move {
        let committee = Committee::new(4);
        let oracle = network(&context, &committee, GOOD_LINK).await;
        let apps: Vec<ToyApp> = (0..4).map(|_| ToyApp::default()).collect();
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            handles.push(Some(
                start(&context, &oracle, &committee, index, app.clone()).await,
            ));
        }
        let all: Vec<&ToyApp> = apps.iter().collect();
        wait_for_height(&context, &all, 15).await;

        // Crash validator 1 and restart it with an application that lost its state.
        let crashed = handles[1].take().unwrap();
        crashed.abort();
        let _ = crashed.await;
        let fresh = ToyApp::default();
        handles[1] = Some(start(&context, &oracle, &committee, 1, fresh.clone()).await);
        let target = apps[0].height() + 5;
        wait_for_height(&context, &[&apps[0], &fresh], target).await;
        assert!(assert_same_chain(&[&apps[0], &fresh]) as u64 >= target);
        committee.assert_certificates(&fresh.blocks());
        for handle in handles.into_iter().flatten() {
            handle.abort();
        }
    });
}
