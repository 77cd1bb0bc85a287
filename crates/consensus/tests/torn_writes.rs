//! Whole-cluster power failures with torn writes: four validators on the deterministic runtime
//! with storage fault injection crash together at a seed-chosen moment, several times in a row,
//! and restart each time on the storage the crash left behind.
//!
//! # How writes are torn
//! The deterministic runtime crashes only as a whole: when the root future returns, every task
//! of every validator is dropped at the same instant and the storage is crashed. So each crash
//! here is a power failure of the whole simulated cluster; crashes of a single validator are in
//! `crash_restart`. The checkpoint of the crashed storage restarts the runtime
//! (`Runner::from(checkpoint)`, same clock, same random stream) and all four validators start
//! again on it. Writes are torn in two ways, both as [`WriteConfig`] says (retention rate 0.5;
//! [`PartialWriteMode::Prefix`] keeps the bytes before the first lost one,
//! [`PartialWriteMode::Subset`] keeps each byte independently; one test per mode):
//! - At the crash, every write that no completed `sync` covers is kept only in part. In
//!   practice the consensus storage leaves nothing unsynced at a crash here (the in-memory
//!   storage of the simulation syncs at once, and the storage layers sync what they write
//!   before waiting on anything else): with write failures off, 72 crashes (seeds 1 to 12, six
//!   each) came out exactly the same under `Prefix` and `Subset` tearing, which they would not
//!   if a single write had been torn, as the two modes draw different random numbers.
//! - So each cycle also makes writes fail ([`WRITE_FAILURE_RATE`]) until the crash: a failed
//!   write keeps only part of its bytes, durably, and returns an error. The consensus does not
//!   survive a failed write, by design: simplex and marshal panic (`unable to sync journal`,
//!   `failed to persist notarization`, `failed to start finalization archive sync`, …), so the
//!   validator stops rather than run on storage it cannot trust. That panic is the validator's
//!   crash with a torn write; it stays down until the power failure a moment later. The
//!   runtime catches task panics, and the test fails on any panic that an injected fault did
//!   not cause (the toy application's checks, a missing stored block, …; see
//!   [`caused_by_fault`]).
//!
//! # Application state
//! The [`ToyApp`] records live outside the runtime and survive every crash intact: they model an
//! application that makes each block durable before `finalized` returns. Each restart therefore
//! checks that the consensus continues from that record (the toy application panics on a gap,
//! a repeated height or a broken parent link). In each cycle one validator (rotating) runs with
//! a fresh, empty application instead, as if its application had lost its state: it gets the
//! chain replayed from its own torn consensus storage (and from peers), and that chain must be
//! the one every durable record holds. Its own record then lags and is brought up to date from
//! consensus storage the next time it runs.
//!
//! # Checks after every restart
//! - Safety and durability: every block any application has seen finalized, before any earlier
//!   crash or after it, is the same block on every validator at that height (nothing committed
//!   is lost or rewritten), and every certificate verifies against the validator set.
//! - Liveness: in most cycles, the chain grows [`GROWTH`] blocks beyond the highest applied
//!   height on all four running applications within [`LIVENESS_BOUND`] of simulated time, with
//!   no fault injected yet. In seed-chosen cycles faults are injected from the restart on and
//!   the crash comes without waiting (often while the validators are still recovering). The
//!   last restart always waits for growth.
//!
//! The seeds run by default are 1 and 2 for each mode; `NESTGRID_SEED=<n> NESTGRID_SEEDS=1`
//! replays one and `NESTGRID_SEEDS=<count>` runs more.

mod common;

use common::*;
use commonware_runtime::{
    Clock as _,
    deterministic::{self, FaultConfig, PartialWriteMode, WriteConfig},
};
use commonware_utils::{Probability, probability};
use nestgrid_consensus::FinalizedBlock;
use std::{
    sync::{Arc, Mutex, Once, PoisonError},
    thread::{self, ThreadId},
    time::Duration,
};

/// Validators in the committee (f = 1).
const VALIDATORS: usize = 4;
/// Whole-cluster crashes per seed; one more restart follows the last one.
const CRASHES: u64 = 6;
/// Blocks the chain must grow by after a restart before a waiting cycle injects faults.
const GROWTH: u64 = 5;
/// Simulated time within which the chain must grow by [`GROWTH`] blocks after a restart.
const LIVENESS_BOUND: Duration = Duration::from_secs(30);
/// A cycle crashes at a random moment below this after it starts injecting faults.
const MAX_CRASH_DELAY_MS: u64 = 2_000;
/// Share of writes that fail (and are torn) while a cycle injects faults.
const WRITE_FAILURE_RATE: Probability = probability!(1, 200);
/// Share of a torn write's bytes that are kept.
const RETENTION_RATE: Probability = probability!(1, 2);
/// Simulated time limit of a whole seed, across all restarts.
const TOTAL_LIMIT: Duration = Duration::from_secs(900);
/// What the runtime's error for an injected storage fault says.
const INJECTED: &str = "injected storage fault";

/// Panic messages by thread: the runtime catches the panics of validator tasks.
static PANICS: Mutex<Vec<(ThreadId, String)>> = Mutex::new(Vec::new());

/// Records every panic message; prints those not caused by an injected fault as usual.
fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_default();
            let injected = message.contains(INJECTED);
            PANICS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((thread::current().id(), message));
            if !injected {
                previous(info);
            }
        }));
    });
}

/// The panic messages raised on this thread (the runtime runs on the test's thread) since the
/// last call.
fn take_panics() -> Vec<String> {
    let me = thread::current().id();
    let mut panics = PANICS.lock().unwrap_or_else(PoisonError::into_inner);
    let (mine, others): (Vec<_>, Vec<_>) = panics.drain(..).partition(|(id, _)| *id == me);
    *panics = others;
    mine.into_iter().map(|(_, message)| message).collect()
}

/// Whether a caught panic comes from an injected fault: its message carries the runtime's
/// error or, in a cycle that injects faults from its start on, it is marshal's `failed to
/// initialize … archive`, which drops the error. An archive that truly cannot be recovered
/// fails again at a later start without faults (the last start injects none), and fails the
/// test there.
fn caused_by_fault(message: &str, faults_at_start: bool) -> bool {
    message.contains(INJECTED)
        || (faults_at_start
            && message.starts_with("failed to initialize ")
            && message.ends_with(" archive"))
}

/// The storage faults: unsynced writes torn at a crash as `mode` says, and `failure_rate` of
/// writes failing with part of their bytes kept.
fn faults(mode: PartialWriteMode, failure_rate: Probability) -> FaultConfig {
    FaultConfig::default().write(WriteConfig {
        failure_rate,
        retention_rate: RETENTION_RATE,
        mode,
    })
}

/// How one cycle ends.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Inject faults from the restart on, without waiting for the chain to grow first.
    early: bool,
    /// Simulated time from the start of the fault injection to the crash.
    delay: Duration,
}

/// splitmix64 of `seed` and `cycle`: the seed-chosen crash moments.
fn mix(seed: u64, cycle: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(cycle.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn plan(seed: u64, cycle: u64) -> Plan {
    let random = mix(seed, cycle);
    Plan {
        early: random.is_multiple_of(3),
        delay: Duration::from_millis((random >> 8) % MAX_CRASH_DELAY_MS),
    }
}

/// What one runtime did before it crashed.
struct Outcome {
    /// The fresh application the probed validator ran with.
    probe: ToyApp,
    /// The height all running applications reached and how long that took, if waited for.
    grew: Option<(u64, Duration)>,
    /// Validators that stopped, and why.
    stopped: Vec<(usize, String)>,
}

/// One runtime: starts all validators (validator `probe_index` with a fresh application), waits
/// for the chain to grow unless the plan says early, injects write failures for the plan's
/// delay and returns, which crashes the runtime. Without a plan it waits for growth and returns
/// at once, with no fault injected.
async fn cycle(
    context: deterministic::Context,
    committee: &Committee,
    apps: &[ToyApp],
    probe_index: usize,
    mode: PartialWriteMode,
    plan: Option<Plan>,
) -> Outcome {
    let fault_config = context.storage_fault_config();
    *fault_config.write() = faults(mode, probability!(0.0));
    let oracle = network(&context, committee, GOOD_LINK).await;
    let probe = ToyApp::default();
    let stopped = Arc::new(Mutex::new(Vec::new()));
    let mut running = apps.to_vec();
    running[probe_index] = probe.clone();
    let mut handles = Vec::new();
    for (index, app) in running.iter().enumerate() {
        handles.push(
            start_recording_stop(
                &context,
                &oracle,
                committee,
                index,
                app.clone(),
                stopped.clone(),
            )
            .await,
        );
    }
    let live: Vec<&ToyApp> = running.iter().collect();
    let grew = if plan.is_some_and(|plan| plan.early) {
        None
    } else {
        let from = apps.iter().map(ToyApp::height).max().unwrap_or(0);
        let target = from + GROWTH;
        let elapsed = wait_for_height_within(&context, &live, target, LIVENESS_BOUND)
            .await
            .unwrap_or_else(|| {
                let heights: Vec<u64> = live.iter().map(|app| app.height()).collect();
                panic!(
                    "liveness: the chain did not grow from {from} to {target} within \
                     {LIVENESS_BOUND:?} of the restart (heights {heights:?}, stopped {:?})",
                    stopped.lock().unwrap()
                )
            });
        assert!(
            stopped.lock().unwrap().is_empty(),
            "validators stopped with no fault injected: {:?}",
            stopped.lock().unwrap()
        );
        Some((target, elapsed))
    };
    if let Some(plan) = plan {
        *fault_config.write() = faults(mode, WRITE_FAILURE_RATE);
        context.sleep(plan.delay).await;
    }
    // Returning drops every task mid-work: the whole cluster loses power.
    drop(handles);
    let stopped = stopped.lock().unwrap().clone();
    Outcome {
        probe,
        grew,
        stopped,
    }
}

/// Compares `blocks` with the reference chain at every height both have (all but the
/// certificate, which may hold another quorum) and extends the reference with the rest.
fn check_against_reference(
    reference: &mut Vec<FinalizedBlock>,
    blocks: &[FinalizedBlock],
    who: &str,
) {
    for (block, known) in blocks.iter().zip(reference.iter()) {
        assert_eq!(
            (
                block.height,
                block.view,
                block.timestamp_ms,
                block.parent,
                block.digest,
                &block.payload
            ),
            (
                known.height,
                known.view,
                known.timestamp_ms,
                known.parent,
                known.digest,
                &known.payload
            ),
            "{who}: the block at height {} differs from the one finalized before",
            block.height
        );
    }
    if blocks.len() > reference.len() {
        reference.extend_from_slice(&blocks[reference.len()..]);
    }
}

/// All crash/restart cycles of one seed; returns how many times a failed (torn) write stopped
/// a validator or part of it.
fn run(seed: u64, mode: PartialWriteMode) -> usize {
    let committee = Committee::new(VALIDATORS as u64);
    // The durable application records: they outlive every runtime.
    let apps: Vec<ToyApp> = (0..VALIDATORS).map(|_| ToyApp::default()).collect();
    let mut runner = deterministic::Runner::new(
        deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(TOTAL_LIMIT))
            .with_catch_panics(true)
            .with_storage_fault_config(faults(mode, probability!(0.0))),
    );
    // Every block seen finalized so far, by any application, in any runtime.
    let mut reference: Vec<FinalizedBlock> = Vec::new();
    let mut waited = 0;
    let mut torn_stops = 0;
    take_panics();
    for index in 0..=CRASHES {
        let plan = (index < CRASHES).then(|| plan(seed, index));
        let probe_index = ((seed + index) % VALIDATORS as u64) as usize;
        let before: Vec<u64> = apps.iter().map(ToyApp::height).collect();
        let (outcome, checkpoint) = runner.start_and_recover(|context| {
            cycle(context, &committee, &apps, probe_index, mode, plan)
        });
        runner = deterministic::Runner::from(checkpoint);

        let after: Vec<u64> = apps.iter().map(ToyApp::height).collect();
        let panics = take_panics();
        let faults_at_start = plan.is_some_and(|plan| plan.early);
        // What panicked on an injected fault: the message up to the error.
        let injected: Vec<&str> = panics
            .iter()
            .filter(|message| caused_by_fault(message, faults_at_start))
            .map(|message| message.split(':').next().unwrap_or_default())
            .collect();
        eprintln!(
            "run {index}: {plan:?}, fresh application on validator {probe_index}, heights \
             {before:?} -> {after:?}, fresh one {}, grew {:?}, stopped {:?}, panicked on an \
             injected write failure: {injected:?}",
            outcome.probe.height(),
            outcome.grew,
            outcome
                .stopped
                .iter()
                .map(|(index, _)| index)
                .collect::<Vec<_>>(),
        );

        // Every stop and every panic comes from an injected fault.
        let other: Vec<&String> = panics
            .iter()
            .filter(|message| !caused_by_fault(message, faults_at_start))
            .collect();
        assert!(
            other.is_empty(),
            "seed {seed} run {index}: a validator panicked: {other:#?}"
        );
        let failed_opening = outcome
            .stopped
            .iter()
            .filter(|(_, reason)| reason.contains(INJECTED))
            .count();
        assert!(
            outcome.stopped.len() <= injected.len() + failed_opening,
            "seed {seed} run {index}: more validators stopped than faults were injected: {:?}",
            outcome.stopped
        );
        torn_stops += injected.len() + failed_opening;

        // Safety and durability: every application, the fresh one included, agrees with every
        // block seen before this crash and in this runtime.
        let mut all: Vec<&ToyApp> = apps.iter().collect();
        all.push(&outcome.probe);
        assert_same_chain(&all);
        for (validator, app) in apps.iter().enumerate() {
            let blocks = app.blocks();
            check_against_reference(&mut reference, &blocks, &format!("validator {validator}"));
            committee.assert_certificates(&blocks[before[validator] as usize..]);
        }
        let probe = outcome.probe.blocks();
        check_against_reference(
            &mut reference,
            &probe,
            &format!("validator {probe_index} with a fresh application"),
        );
        committee.assert_certificates(&probe);

        // Liveness: the chain grew on every running application.
        if let Some((target, _)) = outcome.grew {
            waited += 1;
            for (validator, height) in after.iter().enumerate() {
                if validator != probe_index {
                    assert!(
                        *height >= target,
                        "validator {validator} at {height} < {target}"
                    );
                }
            }
            // The target is above every durable record, so the fresh application got back
            // every block its validator's record holds, and more.
            assert!(outcome.probe.height() >= target);
        }
    }
    assert!(waited >= 1, "the last restart always waits for growth");
    assert!(
        reference.len() as u64 >= waited * GROWTH,
        "the chain grew by {GROWTH} blocks per waiting restart (height {})",
        reference.len()
    );
    eprintln!(
        "seed {seed} ({mode:?}): height {} after {CRASHES} crashes; {torn_stops} stops on a \
         torn write",
        reference.len()
    );
    torn_stops
}

fn torn_write_cycles(mode: PartialWriteMode) {
    record_panics();
    let mut torn_stops = 0;
    for seed in seeds(2) {
        eprintln!(
            "seed = {seed}, {mode:?} tearing (replay with NESTGRID_SEED={seed} NESTGRID_SEEDS=1)"
        );
        torn_stops += run(seed, mode);
    }
    assert!(
        torn_stops > 0,
        "no write failed: these seeds tore nothing; raise the failure rate"
    );
}

#[test]
fn whole_cluster_crashes_tearing_a_prefix_of_written_bytes() {
    torn_write_cycles(PartialWriteMode::Prefix);
}

#[test]
fn whole_cluster_crashes_tearing_a_subset_of_written_bytes() {
    torn_write_cycles(PartialWriteMode::Subset);
}
