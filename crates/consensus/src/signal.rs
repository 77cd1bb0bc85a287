//! [`WorkSignal`]: how an application wakes a leader that holds back an empty proposal.

use commonware_utils::sync::Mutex;
use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, Waker},
};

/// Wakes a leader that holds back a proposal because the application had nothing to put in
/// it (see [`crate::Application::has_work`] and [`crate::Timeouts::empty_block_interval`]).
///
/// The application keeps one, hands a clone to the consensus through
/// [`crate::Application::work_signal`], and calls [`WorkSignal::notify`] whenever work arrives
/// (a transaction enters the mempool, say). Clones share one signal. Notifying costs an atomic
/// increment and an uncontended lock when nobody waits, and is safe from any thread or runtime.
#[derive(Clone, Default)]
pub struct WorkSignal {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Bumped by every notification.
    generation: AtomicU64,
    /// Tasks waiting for the next notification.
    wakers: Mutex<Vec<Waker>>,
}

impl std::fmt::Debug for WorkSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkSignal")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl WorkSignal {
    /// A new signal.
    pub fn new() -> WorkSignal {
        WorkSignal::default()
    }

    /// Work arrived: wakes every leader waiting on this signal, so it asks
    /// [`crate::Application::has_work`] again.
    pub fn notify(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        let wakers = std::mem::take(&mut *self.inner.wakers.lock());
        for waker in wakers {
            waker.wake();
        }
    }

    /// The number of notifications so far. Read it before checking for work, then wait with
    /// [`WorkSignal::changed`], and no notification in between is missed.
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Resolves once a notification came after `seen` was read from
    /// [`WorkSignal::generation`].
    pub(crate) fn changed(&self, seen: u64) -> Changed<'_> {
        Changed { signal: self, seen }
    }
}

/// The future of [`WorkSignal::changed`].
pub(crate) struct Changed<'a> {
    signal: &'a WorkSignal,
    seen: u64,
}

impl Future for Changed<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &self.signal.inner;
        if inner.generation.load(Ordering::Acquire) != self.seen {
            return Poll::Ready(());
        }
        let mut wakers = inner.wakers.lock();
        // Checked again under the lock: `notify` bumps the generation before it takes the
        // wakers, so either it sees this waker or this check sees its bump.
        if inner.generation.load(Ordering::Acquire) != self.seen {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|waker| waker.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt as _;

    #[test]
    fn a_notification_after_the_read_is_never_missed() {
        let signal = WorkSignal::new();
        let seen = signal.generation();
        let mut changed = Box::pin(signal.changed(seen));
        assert!(
            (&mut changed).now_or_never().is_none(),
            "nothing notified yet"
        );
        signal.notify();
        assert!(
            changed.now_or_never().is_some(),
            "woken by the notification"
        );
        // A notification between the read and the wait counts too.
        let seen = signal.generation();
        signal.clone().notify();
        assert!(signal.changed(seen).now_or_never().is_some());
    }

    #[test]
    fn notify_wakes_a_waiting_task_on_another_thread() {
        let signal = WorkSignal::new();
        let seen = signal.generation();
        let notifier = signal.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            notifier.notify();
        });
        futures::executor::block_on(signal.changed(seen));
        thread.join().unwrap();
        assert!(signal.inner.wakers.lock().is_empty(), "wakers are released");
    }
}
