//! Request signatures checked in batches.
//!
//! One thread checks every request signature. A handler queues its signature and waits for
//! the answer; the thread takes everything waiting at that moment (up to [`MAX_BATCH`]) and
//! checks it together with [`nestgrid_ledger::verify_all_by`], which gives each signature the
//! answer a check alone gives in about half the time per signature (the keys come
//! decompressed, from the cache of [`nestgrid_ledger::request::Nonces`]). The queue is
//! bounded ([`QUEUE`]): when it is full, handlers wait for a place.
//!
//! A batch of [`FILL`] signatures or more costs about a quarter less per signature than a
//! smaller one (the multiplication of all points switches to Pippenger's method there). So
//! when signatures arrive fast enough to fill at least half such a batch within [`WAIT`], the
//! thread waits for it to fill, at most [`WAIT`]; at lower rates it checks what is waiting at
//! once, and a lone signature alone.
//!
//! A handler either waits for the answer ([`Signatures::check`]) or hands over what to do
//! with it ([`Signatures::check_then`]): a tender whose other checks passed goes from this
//! thread straight to the market thread, and its handler wakes once, for the market's answer.

use crate::auth::DOMAIN;
use nestgrid_ledger::{Signature, Verifier, VerifierCheck, verify_all_by};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Signatures checked together at most.
pub const MAX_BATCH: usize = 256;
/// Signatures waiting at most; a handler waits for a place beyond.
pub const QUEUE: usize = 1_024;
/// A batch this large is checked with Pippenger's method: curve25519-dalek switches to it
/// from 190 points, and a batch of `n` signatures has `2n + 1`.
pub const FILL: usize = 95;
/// The longest the first signature of a batch waits for the batch to fill.
pub const WAIT: Duration = Duration::from_millis(5);

/// The span over which the arrival rate is measured.
const RATE_WINDOW: Duration = Duration::from_millis(20);

/// Whether to wait for a batch to fill, from the rate signatures arrive at.
#[derive(Debug)]
struct Filling {
    /// Signatures per second over the last whole [`RATE_WINDOW`].
    rate: f64,
    /// When the current window began, and the signatures taken since.
    window: Instant,
    taken: usize,
}

impl Filling {
    fn new(now: Instant) -> Filling {
        Filling {
            rate: 0.0,
            window: now,
            taken: 0,
        }
    }

    /// `waiting` signatures were found at `now`. Returns until when to wait for more, if at
    /// the current rate at least half of [`FILL`] arrives within [`WAIT`] (9,500 a second).
    /// Below that, batches stay small however long they wait. Above it, the wait gives
    /// larger batches (full ones from 19,000 a second), and the market thread's database
    /// commits, which take what the batches release, grow with them.
    fn found(&self, waiting: usize, now: Instant) -> Option<Instant> {
        let arriving = self.rate * WAIT.as_secs_f64();
        (waiting < FILL && 2.0 * arriving >= FILL as f64).then(|| now + WAIT)
    }

    /// How long to sleep before looking again, with `waiting` signatures at `now`: the time
    /// the rest of the batch takes to arrive at the current rate, up to `deadline`.
    fn pause(&self, waiting: usize, now: Instant, deadline: Instant) -> Duration {
        let missing = FILL.saturating_sub(waiting) as f64;
        let expected = Duration::from_secs_f64(missing / self.rate.max(1.0));
        expected
            .max(Duration::from_micros(200))
            .min(deadline.saturating_duration_since(now))
    }

    /// A batch of `count` signatures was taken at `now`. Signatures are taken as they
    /// arrive, so what was taken over a window is what arrived; bursts (agents that send on
    /// the same timer tick) do not inflate the rate.
    fn taken(&mut self, count: usize, now: Instant) {
        self.taken += count;
        let elapsed = now.saturating_duration_since(self.window);
        if elapsed >= RATE_WINDOW {
            self.rate = self.taken as f64 / elapsed.as_secs_f64();
            self.window = now;
            self.taken = 0;
        }
    }
}

/// What to do with a signature's answer.
pub type Then = Box<dyn FnOnce(bool) + Send>;

/// Where a signature's answer goes.
enum Answer {
    /// To a handler that waits for it.
    Wait(oneshot::Sender<bool>),
    /// To be acted on by the checking thread.
    Call(Then),
}

impl Answer {
    fn give(self, valid: bool) {
        match self {
            Answer::Wait(sender) => drop(sender.send(valid)),
            Answer::Call(then) => then(valid),
        }
    }
}

/// One signature to check, and where its answer goes.
struct Pending {
    /// The signer's key, decompressed.
    verifier: Verifier,
    message: Vec<u8>,
    signature: Signature,
    answer: Answer,
}

// Every job but the last is a check: boxing it would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Job {
    Check(Pending),
    /// Answer what is queued, then end.
    Stop,
}

/// Why a signature got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stopped;

/// The queue of the thread that checks request signatures.
pub struct Signatures {
    sender: mpsc::Sender<Job>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Signatures {
    /// Starts the checking thread. It ends after [`Signatures::stop`], or when this is dropped.
    pub fn start() -> std::io::Result<Signatures> {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("signatures".into())
            .spawn(move || run(receiver))?;
        Ok(Signatures {
            sender,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Whether `signature` by the key of `verifier` covers `message` under the
    /// exchange's domain tag: the answer of `verifier.verify`, given by the checking thread.
    /// After [`Signatures::stop`] the signature is checked here; `Err` only if the thread
    /// ended without answering (it panicked).
    pub async fn check(
        &self,
        verifier: Verifier,
        message: Vec<u8>,
        signature: Signature,
    ) -> Result<bool, Stopped> {
        let (answer, answered) = oneshot::channel();
        let job = Job::Check(Pending {
            verifier,
            message,
            signature,
            answer: Answer::Wait(answer),
        });
        match self.sender.send(job).await {
            Ok(()) => answered.await.map_err(|_| Stopped),
            Err(mpsc::error::SendError(Job::Check(pending))) => {
                Ok(pending
                    .verifier
                    .verify(DOMAIN, &pending.message, &pending.signature))
            }
            Err(mpsc::error::SendError(Job::Stop)) => unreachable!("a check was sent"),
        }
    }

    /// Like [`Signatures::check`], but the checking thread calls `then` with the answer;
    /// returns once the signature is queued. After [`Signatures::stop`], the signature is
    /// checked and `then` called here.
    pub async fn check_then(
        &self,
        verifier: Verifier,
        message: Vec<u8>,
        signature: Signature,
        then: Then,
    ) {
        let job = Job::Check(Pending {
            verifier,
            message,
            signature,
            answer: Answer::Call(then),
        });
        if let Err(mpsc::error::SendError(Job::Check(pending))) = self.sender.send(job).await {
            let valid = pending
                .verifier
                .verify(DOMAIN, &pending.message, &pending.signature);
            pending.answer.give(valid);
        }
    }

    /// Answers every signature queued, then ends the thread and waits for it. Signatures sent
    /// later are checked by their senders.
    pub async fn stop(&self) {
        let _ = self.sender.send(Job::Stop).await;
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The checking thread: waits for a signature, takes every other one waiting (and, at high
/// rates, those that arrive until the batch fills), answers them.
fn run(mut receiver: mpsc::Receiver<Job>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    let mut filling = Filling::new(Instant::now());
    let mut stopping = false;
    // After `close`, `blocking_recv` gives what is still queued, then `None`.
    while let Some(first) = receiver.blocking_recv() {
        take(first, &mut batch, &mut stopping, &mut receiver);
        let deadline = filling.found(batch.len(), Instant::now());
        if let Some(deadline) = deadline {
            loop {
                let now = Instant::now();
                if stopping || batch.len() >= FILL || now >= deadline {
                    break;
                }
                std::thread::sleep(filling.pause(batch.len(), now, deadline));
                while batch.len() < MAX_BATCH {
                    let Ok(job) = receiver.try_recv() else { break };
                    take(job, &mut batch, &mut stopping, &mut receiver);
                }
            }
        }
        filling.taken(batch.len(), Instant::now());
        answer(&mut batch);
    }
}

/// Adds `job` and every job waiting after it to `batch`, up to [`MAX_BATCH`].
fn take(
    job: Job,
    batch: &mut Vec<Pending>,
    stopping: &mut bool,
    receiver: &mut mpsc::Receiver<Job>,
) {
    let mut next = Some(job);
    while let Some(job) = next {
        match job {
            Job::Check(pending) => batch.push(pending),
            Job::Stop => {
                *stopping = true;
                receiver.close();
            }
        }
        next = if batch.len() < MAX_BATCH {
            receiver.try_recv().ok()
        } else {
            None
        };
    }
}

/// Checks `batch` (together when there are several) and sends each its answer.
fn answer(batch: &mut Vec<Pending>) {
    if batch.len() < 2 {
        for pending in batch.drain(..) {
            let valid = pending
                .verifier
                .verify(DOMAIN, &pending.message, &pending.signature);
            pending.answer.give(valid);
        }
        return;
    }
    let checks: Vec<VerifierCheck> = batch
        .iter()
        .map(|pending| VerifierCheck {
            verifier: &pending.verifier,
            domain: DOMAIN,
            message: &pending.message,
            signature: &pending.signature,
        })
        .collect();
    let valid = verify_all_by(&checks);
    drop(checks);
    for (pending, valid) in batch.drain(..).zip(valid) {
        pending.answer.give(valid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestgrid_ledger::Keypair;

    #[test]
    fn batches_wait_to_fill_only_at_rates_that_fill_them() {
        let start = Instant::now();
        let mut filling = Filling::new(start);
        let mut now = start;
        // 5,000 a second, arriving in bursts of 5 every millisecond and taken one at a time:
        // below FILL / 2 / WAIT = 9,500 a second, so never a wait.
        for _ in 0..100 {
            now += Duration::from_millis(1);
            for burst in 0..5 {
                let at = now + Duration::from_micros(burst * 5);
                assert_eq!(filling.found(1, at), None);
                filling.taken(1, at);
            }
        }
        assert!((filling.rate - 5_000.0).abs() < 500.0, "{}", filling.rate);
        // 30,000 a second: the thread comes to wait once a window has measured the rate.
        let mut waits = Vec::new();
        for _ in 0..40 {
            now += Duration::from_millis(1);
            waits.push(filling.found(30, now));
            filling.taken(30, now);
        }
        assert_eq!(
            waits[0], None,
            "the rate of the last window was 5,000 a second"
        );
        assert_eq!(waits[39], Some(now + WAIT));
        // It sleeps for the time the rest takes to arrive (65 more at 30 a ms), not past
        // the deadline.
        let pause = filling.pause(30, now, now + WAIT);
        assert!(
            pause > Duration::from_millis(1) && pause < Duration::from_millis(4),
            "{pause:?}"
        );
        assert_eq!(
            filling.pause(30, now + Duration::from_millis(4), now + WAIT),
            Duration::from_millis(1)
        );
        // A full batch never waits.
        assert_eq!(filling.found(FILL, now), None);
        // 12,000 a second still waits (batches of 60 instead of a few); back to 4,000 a
        // second, waiting stops once a window has measured it.
        for (per_ms, waiting) in [(12, true), (4, false)] {
            let mut waits = Vec::new();
            for _ in 0..40 {
                now += Duration::from_millis(1);
                waits.push(filling.found(per_ms, now));
                filling.taken(per_ms, now);
            }
            assert_eq!(waits[39].is_some(), waiting, "{per_ms} a millisecond");
        }
    }

    fn signed(seed: u64, text: &str) -> (Verifier, Vec<u8>, Signature) {
        let keypair = Keypair::derived(seed, "agent");
        let message = text.as_bytes().to_vec();
        let signature = keypair.sign(DOMAIN, &message);
        let verifier = keypair
            .public()
            .verifier()
            .expect("a generated key is a point");
        (verifier, message, signature)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_at_once_get_the_answers_of_single_checks() {
        let signatures = std::sync::Arc::new(Signatures::start().expect("a thread starts"));
        let mut tasks = Vec::new();
        for index in 0..600u64 {
            let signatures = signatures.clone();
            tasks.push(tokio::spawn(async move {
                let (verifier, message, mut signature) =
                    signed(index % 7, &format!("request {index}"));
                // Every fifth signature is broken: a bit of `s` flipped, or another message's.
                match index % 10 {
                    5 => signature.0[40] ^= 1,
                    0 if index > 0 => signature = signed(index % 7, "another request").2,
                    _ => {}
                }
                let expected = verifier.verify(DOMAIN, &message, &signature);
                let answer = signatures.check(verifier, message, signature).await;
                (index, expected, answer)
            }));
        }
        let mut refused = 0;
        for task in tasks {
            let (index, expected, answer) = task.await.expect("the task ends");
            assert_eq!(answer, Ok(expected), "signature {index}");
            assert_eq!(expected, index % 5 != 0 || index == 0, "signature {index}");
            refused += usize::from(!expected);
        }
        assert_eq!(refused, 119);
        signatures.stop().await;
    }

    #[tokio::test]
    async fn a_lone_signature_is_answered_and_after_stop_it_is_checked_by_its_sender() {
        let signatures = Signatures::start().expect("a thread starts");
        let (verifier, message, signature) = signed(1, "alone");
        assert_eq!(
            signatures
                .check(verifier.clone(), message.clone(), signature)
                .await,
            Ok(true)
        );
        let mut broken = signature;
        broken.0[0] ^= 1;
        assert_eq!(
            signatures
                .check(verifier.clone(), message.clone(), broken)
                .await,
            Ok(false)
        );
        signatures.stop().await;
        assert!(
            signatures.thread.lock().expect("not poisoned").is_none(),
            "the thread was joined"
        );
        assert_eq!(
            signatures
                .check(verifier.clone(), message.clone(), signature)
                .await,
            Ok(true)
        );
        assert_eq!(signatures.check(verifier, message, broken).await, Ok(false));
        // Stopping twice is harmless.
        signatures.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn handed_over_answers_are_acted_on_by_the_thread_and_after_stop_by_the_sender() {
        let signatures = Signatures::start().expect("a thread starts");
        let (sender, mut acted) = tokio::sync::mpsc::unbounded_channel();
        for index in 0..200u64 {
            let (verifier, message, mut signature) = signed(index % 5, &format!("tender {index}"));
            if index % 3 == 0 {
                signature.0[10] ^= 1;
            }
            let sender = sender.clone();
            let then: Then = Box::new(move |valid| {
                let thread = std::thread::current().name().map(str::to_string);
                let _ = sender.send((index, valid, thread));
            });
            signatures
                .check_then(verifier, message, signature, then)
                .await;
        }
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let (index, valid, thread) = acted.recv().await.expect("every one is answered");
            assert_eq!(valid, index % 3 != 0, "signature {index}");
            assert_eq!(thread.as_deref(), Some("signatures"), "signature {index}");
            seen.insert(index);
        }
        assert_eq!(seen.len(), 200);
        signatures.stop().await;
        // Stopped: checked and acted on by the caller, before `check_then` returns.
        let (verifier, message, signature) = signed(9, "late");
        let sender_late = sender.clone();
        signatures
            .check_then(
                verifier,
                message,
                signature,
                Box::new(move |valid| {
                    let _ = sender_late.send((1_000, valid, None));
                }),
            )
            .await;
        assert_eq!(acted.try_recv().ok(), Some((1_000, true, None)));
    }
}
