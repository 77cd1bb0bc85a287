//! Request signatures checked in batches.
//!
//! One thread checks every request signature. A handler queues its signature and waits for
//! the answer; the thread takes everything waiting at that moment (up to [`MAX_BATCH`]) and
//! checks it together with [`nestgrid_ledger::verify_all`], which gives each signature the
//! answer a check alone gives in about half the time per signature. A lone signature is
//! checked alone at once: nothing waits for a batch to fill. The queue is bounded
//! ([`QUEUE`]): when it is full, handlers wait for a place.

use crate::auth::DOMAIN;
use nestgrid_ledger::{PublicKey, Signature, SignatureCheck, Verifier, verify_all};
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// Signatures checked together at most.
pub const MAX_BATCH: usize = 256;
/// Signatures waiting at most; a handler waits for a place beyond.
pub const QUEUE: usize = 1_024;

/// One signature to check, and where its answer goes.
struct Pending {
    key: PublicKey,
    /// The decompressed key, for a check alone.
    verifier: Verifier,
    message: Vec<u8>,
    signature: Signature,
    answer: oneshot::Sender<bool>,
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

    /// Whether `signature` by `key` (decompressed: `verifier`) covers `message` under the
    /// exchange's domain tag: the answer of `verifier.verify`, given by the checking thread.
    /// After [`Signatures::stop`] the signature is checked here; `Err` only if the thread
    /// ended without answering (it panicked).
    pub async fn check(
        &self,
        key: PublicKey,
        verifier: Verifier,
        message: Vec<u8>,
        signature: Signature,
    ) -> Result<bool, Stopped> {
        let (answer, answered) = oneshot::channel();
        let job = Job::Check(Pending {
            key,
            verifier,
            message,
            signature,
            answer,
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

/// The checking thread: waits for a signature, takes every other one waiting, answers them.
fn run(mut receiver: mpsc::Receiver<Job>) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    // After `close`, `blocking_recv` gives what is still queued, then `None`.
    while let Some(first) = receiver.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next {
            match job {
                Job::Check(pending) => batch.push(pending),
                Job::Stop => receiver.close(),
            }
            next = if batch.len() < MAX_BATCH {
                receiver.try_recv().ok()
            } else {
                None
            };
        }
        answer(&mut batch);
    }
}

/// Checks `batch` (together when there are several) and sends each its answer.
fn answer(batch: &mut Vec<Pending>) {
    if batch.len() < 2 {
        for pending in batch.drain(..) {
            let valid = pending
                .verifier
                .verify(DOMAIN, &pending.message, &pending.signature);
            let _ = pending.answer.send(valid);
        }
        return;
    }
    let checks: Vec<SignatureCheck> = batch
        .iter()
        .map(|pending| SignatureCheck {
            key: &pending.key,
            domain: DOMAIN,
            message: &pending.message,
            signature: &pending.signature,
        })
        .collect();
    let valid = verify_all(&checks);
    drop(checks);
    for (pending, valid) in batch.drain(..).zip(valid) {
        let _ = pending.answer.send(valid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nestgrid_ledger::Keypair;

    fn signed(seed: u64, text: &str) -> (PublicKey, Verifier, Vec<u8>, Signature) {
        let keypair = Keypair::derived(seed, "agent");
        let message = text.as_bytes().to_vec();
        let signature = keypair.sign(DOMAIN, &message);
        let key = keypair.public();
        let verifier = key.verifier().expect("a generated key is a point");
        (key, verifier, message, signature)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_at_once_get_the_answers_of_single_checks() {
        let signatures = std::sync::Arc::new(Signatures::start().expect("a thread starts"));
        let mut tasks = Vec::new();
        for index in 0..600u64 {
            let signatures = signatures.clone();
            tasks.push(tokio::spawn(async move {
                let (key, verifier, message, mut signature) =
                    signed(index % 7, &format!("request {index}"));
                // Every fifth signature is broken: a bit of `s` flipped, or another message's.
                match index % 10 {
                    5 => signature.0[40] ^= 1,
                    0 if index > 0 => signature = signed(index % 7, "another request").3,
                    _ => {}
                }
                let expected = verifier.verify(DOMAIN, &message, &signature);
                let answer = signatures.check(key, verifier, message, signature).await;
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
        let (key, verifier, message, signature) = signed(1, "alone");
        assert_eq!(
            signatures
                .check(key, verifier.clone(), message.clone(), signature)
                .await,
            Ok(true)
        );
        let mut broken = signature;
        broken.0[0] ^= 1;
        assert_eq!(
            signatures
                .check(key, verifier.clone(), message.clone(), broken)
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
                .check(key, verifier.clone(), message.clone(), signature)
                .await,
            Ok(true)
        );
        assert_eq!(
            signatures.check(key, verifier, message, broken).await,
            Ok(false)
        );
        // Stopping twice is harmless.
        signatures.stop().await;
    }
}
