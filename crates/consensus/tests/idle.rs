//! An idle validator set: while the application has nothing to propose, leaders hold their
//! proposals back for `Timeouts::empty_block_interval`, so an idle chain grows by about one
//! block per interval instead of one per network round trip, and no view is skipped for it.
//! Work that arrives wakes the leader at once.

mod common;

use common::*;
use commonware_runtime::{Clock as _, Runner as _, Spawner as _, Supervisor as _};
use nestgrid_consensus::{Application, FinalizedBlock, Timeouts, WorkSignal, run_validator};
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(1);

fn work_payload(height: u64) -> Vec<u8> {
    format!("work-{height}").into_bytes()
}

/// The toy application with a "mempool" of at most one item, shared by every validator (a
/// client sends its transaction to all of them): the leader proposes a work payload while it
/// is waiting, and the item is gone once a block carrying it is final.
#[derive(Clone)]
struct IdleApp {
    toy: ToyApp,
    waiting: Arc<AtomicBool>,
    signal: WorkSignal,
}

impl IdleApp {
    fn work_blocks(&self) -> usize {
        self.toy
            .blocks()
            .iter()
            .filter(|block| block.payload.starts_with(b"work-"))
            .count()
    }
}

impl Application for IdleApp {
    fn applied_height(&self) -> u64 {
        self.toy.applied_height()
    }

    fn has_work(&mut self) -> bool {
        self.waiting.load(Ordering::SeqCst)
    }

    fn work_signal(&self) -> Option<WorkSignal> {
        Some(self.signal.clone())
    }

    fn propose(&mut self, height: u64, timestamp_ms: u64) -> Vec<u8> {
        let payload = self.toy.propose(height, timestamp_ms);
        if self.waiting.load(Ordering::SeqCst) {
            work_payload(height)
        } else {
            payload
        }
    }

    fn verify(&mut self, height: u64, timestamp_ms: u64, payload: &[u8]) -> bool {
        payload == work_payload(height).as_slice() || self.toy.verify(height, timestamp_ms, payload)
    }

    fn finalized(&mut self, block: FinalizedBlock) {
        if block.payload.starts_with(b"work-") {
            self.waiting.store(false, Ordering::SeqCst);
        }
        self.toy.finalized(block);
    }
}

#[test]
fn idle_leaders_hold_back_empty_blocks_and_wake_for_work() {
    let seed = seed(1);
    runner(seed, Duration::from_secs(600)).start(|context| async move {
        let committee = Committee::new(4);
        let oracle = network(&context, &committee, GOOD_LINK).await;
        let waiting = Arc::new(AtomicBool::new(false));
        let apps: Vec<IdleApp> = (0..4)
            .map(|_| IdleApp {
                toy: ToyApp::default(),
                waiting: waiting.clone(),
                signal: WorkSignal::new(),
            })
            .collect();
        let mut handles = Vec::new();
        for (index, app) in apps.iter().enumerate() {
            let channels = channels(&oracle, &committee, index).await;
            let mut config = committee.config(index);
            config.timeouts = Timeouts {
                fetch: config.timeouts.fetch,
                finalize_wait: config.timeouts.finalize_wait,
                ..Timeouts::with_empty_block_interval(INTERVAL)
            };
            let peers = oracle.manager();
            let blocker = oracle.control(committee.key(index));
            let app = app.clone();
            handles.push(
                context
                    .child("validator")
                    .with_attribute("index", index)
                    .spawn(move |context| async move {
                        let result =
                            run_validator(context, config, app, channels, peers, blocker).await;
                        panic!("validator {index} stopped: {result:?}");
                    }),
            );
        }
        let toys: Vec<&ToyApp> = apps.iter().map(|app| &app.toy).collect();
        wait_for_height(&context, &toys, 3).await;

        // Idle for 60 s: about one block per interval. Without the hold it would be one per
        // round trip (four 10 ms links: about 16 a second, some 960 blocks).
        let idle = Duration::from_secs(60);
        let before = apps[0].toy.height();
        context.sleep(idle).await;
        let blocks = apps[0].toy.blocks();
        let after = blocks.len() as u64;
        let grown = after - before;
        eprintln!("idle for {idle:?}: {grown} blocks");
        let most = idle.as_secs() / INTERVAL.as_secs() + 5;
        assert!(
            grown <= most,
            "{grown} blocks in {idle:?} of idleness (at most {most})"
        );
        assert!(
            grown >= 30,
            "only {grown} blocks in {idle:?}: the chain must keep moving"
        );
        let interval_ms = INTERVAL.as_millis() as u64;
        for pair in blocks[before as usize..].windows(2) {
            let (parent, block) = (&pair[0], &pair[1]);
            // Every idle block waited its interval, and no view was skipped: the hold ends
            // well before the leader timeout.
            assert!(
                block.timestamp_ms >= parent.timestamp_ms + interval_ms,
                "height {}: {} ms after its parent",
                block.height,
                block.timestamp_ms - parent.timestamp_ms
            );
            assert_eq!(
                block.view,
                parent.view + 1,
                "height {}: a view was skipped",
                block.height
            );
        }

        // Work arriving at different moments of an interval is proposed at once, not at the
        // end of the hold.
        for round in 0..6u64 {
            context
                .sleep(Duration::from_millis(1_000 + 170 * round))
                .await;
            let done = apps[0].work_blocks() + 1;
            let start = context.current();
            waiting.store(true, Ordering::SeqCst);
            for app in &apps {
                app.signal.notify();
            }
            while apps.iter().any(|app| app.work_blocks() < done) {
                context.sleep(Duration::from_millis(5)).await;
            }
            let took = context.current().duration_since(start).unwrap();
            eprintln!("work {round}: final everywhere after {took:?}");
            assert!(
                took <= INTERVAL / 2,
                "work {round} waited {took:?}: the leader did not wake for it"
            );
        }
        assert_same_chain(&toys);
        for app in &apps {
            committee.assert_certificates(&app.toy.blocks());
        }
        for handle in handles {
            handle.abort();
        }
    });
}
