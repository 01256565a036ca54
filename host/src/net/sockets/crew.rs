//! What the workers of one server coordinate on, outside the per-message path: stopping
//! together, and reopening the log file on SIGHUP so that every record written before the
//! signal is in the old file and every record after it in the new one.
//!
//! Worker 0 (the lead) watches the signals. For a reopen it wakes the others; each writes
//! its pending records to the old file and waits; once all have (or after [`GATHER_WAIT`],
//! should a worker have ended), the lead reopens the file and lets them go on. A pause of
//! microseconds, once per SIGHUP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mio::Waker;

use crate::log::LogSink;
use crate::net::stop::Stopper;

/// Longest the lead waits for the others to flush, and they for the reopen: a worker that
/// ended (its records are written at its end) must not hold the rest.
const GATHER_WAIT: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Reopen {
    /// The reopen asked for last (numbered from 1).
    asked: u64,
    /// Workers other than the lead that flushed for it.
    flushed: usize,
    /// The last reopen done.
    done: u64,
}

#[derive(Debug)]
struct Shared {
    /// Every worker's waker, worker 0 first.
    wakers: Vec<Arc<Waker>>,
    /// Stops them all.
    stopper: Stopper,
    /// `reopen.asked`, readable without the lock (a woken worker checks it).
    asked: AtomicU64,
    reopen: Mutex<Reopen>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Reopen> {
        // Nothing under the lock panics.
        self.reopen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `changed` until `done` holds, at most [`GATHER_WAIT`].
    fn wait_until(&self, mut done: impl FnMut(&Reopen) -> bool) {
        let until = Instant::now() + GATHER_WAIT;
        let mut state = self.lock();
        while !done(&state) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// One worker's handle on its crew.
#[derive(Debug)]
pub(super) struct Crew {
    shared: Arc<Shared>,
    /// The last reopen this worker took part in.
    seen: u64,
}

impl Crew {
    /// Handles for a crew of workers with these wakers (one each, worker 0 first), all
    /// stopped by `stopper`.
    pub(super) fn new(wakers: Vec<Arc<Waker>>, stopper: Stopper) -> Vec<Crew> {
        let shared = Arc::new(Shared {
            wakers,
            stopper,
            asked: AtomicU64::new(0),
            reopen: Mutex::new(Reopen::default()),
            changed: Condvar::new(),
        });
        (0..shared.wakers.len())
            .map(|_| Crew {
                shared: Arc::clone(&shared),
                seen: 0,
            })
            .collect()
    }

    /// The lead's SIGHUP: every worker writes its pending records to the old file, then
    /// `log` reopens the file at its path.
    pub(super) fn reopen(&mut self, log: &mut LogSink) {
        let others = self.shared.wakers.len() - 1;
        if others == 0 {
            log.reopen();
            return;
        }
        let asked = {
            let mut state = self.shared.lock();
            state.asked += 1;
            state.flushed = 0;
            self.shared.asked.store(state.asked, Ordering::Release);
            state.asked
        };
        self.seen = asked;
        for other in &self.shared.wakers[1..] {
            // A failed wake leaves that worker to its next round; the wait below is bounded.
            let _ = other.wake();
        }
        log.flush();
        self.shared.wait_until(|s| s.flushed >= others);
        log.reopen();
        self.shared.lock().done = asked;
        self.shared.changed.notify_all();
    }

    /// Another worker, woken: takes part in a reopen the lead asked for, if any.
    pub(super) fn join_reopen(&mut self, log: &mut LogSink) {
        let asked = self.shared.asked.load(Ordering::Acquire);
        if asked == self.seen {
            return;
        }
        self.seen = asked;
        log.flush();
        self.shared.lock().flushed += 1;
        self.shared.changed.notify_all();
        self.shared.wait_until(|s| s.done >= asked);
    }

    /// Stops every worker (the lead once it stopped, or a worker whose loop failed).
    pub(super) fn stop_all(&self) {
        self.shared.stopper.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker that ended never answers: the lead reopens anyway, after the wait.
    #[test]
    fn a_reopen_does_not_wait_forever_for_an_ended_worker() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut log = LogSink::open(
            crate::log::Mode::File,
            &path,
            echo_core::record::Level::Info,
        )
        .unwrap();
        let polls: Vec<mio::Poll> = (0..2).map(|_| mio::Poll::new().unwrap()).collect();
        let wakers = polls
            .iter()
            .map(|p| Arc::new(Waker::new(p.registry(), mio::Token(0)).unwrap()))
            .collect();
        let mut crews = Crew::new(wakers, Stopper::default());
        let started = Instant::now();
        std::fs::rename(&path, dir.path().join("a.log.1")).unwrap();
        crews[0].reopen(&mut log);
        assert!(started.elapsed() < GATHER_WAIT + Duration::from_millis(500));
        assert!(path.exists(), "reopened at its path");
    }
}
