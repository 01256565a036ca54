//! What the workers of one server coordinate on, outside the per-message path: stopping
//! together, and reopening the log file on SIGHUP so that every record written before the
//! signal is in the old file and every record after it in the new one.
//!
//! Worker 0 (the lead) watches the signals. For a reopen it wakes the others; each writes
//! its pending records to the old file and waits at a barrier; the lead then reopens the
//! file and lets them go on. A pause of microseconds, once per SIGHUP.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use crate::net::stop::Stopper;
use crate::server::log::LogSink;

#[derive(Debug)]
struct Shared {
    /// Every worker's stopper (also its waker), worker 0 first.
    stoppers: Vec<Stopper>,
    /// Reopens asked for so far.
    reopens: AtomicU64,
    /// All workers meet here twice per reopen: all flushed, then reopened.
    barrier: Barrier,
}

/// One worker's handle on its crew.
#[derive(Debug)]
pub(super) struct Crew {
    shared: Arc<Shared>,
    /// Reopens this worker has taken part in.
    seen: u64,
}

impl Crew {
    /// Handles for a crew of workers with these stoppers (one each, worker 0 first).
    pub(super) fn new(stoppers: Vec<Stopper>) -> Vec<Crew> {
        let shared = Arc::new(Shared {
            barrier: Barrier::new(stoppers.len()),
            stoppers,
            reopens: AtomicU64::new(0),
        });
        (0..shared.stoppers.len())
            .map(|_| Crew {
                shared: Arc::clone(&shared),
                seen: 0,
            })
            .collect()
    }

    /// The lead's SIGHUP: every worker writes its pending records to the old file, then
    /// `log` reopens the file at its path.
    pub(super) fn reopen(&mut self, log: &mut LogSink) {
        let others = &self.shared.stoppers[1..];
        if others.is_empty() {
            log.reopen();
            return;
        }
        self.seen = self.shared.reopens.fetch_add(1, Ordering::AcqRel) + 1;
        for other in others {
            other.wake();
        }
        log.flush();
        self.shared.barrier.wait();
        log.reopen();
        self.shared.barrier.wait();
    }

    /// Another worker, woken: takes part in a reopen the lead asked for, if any.
    pub(super) fn join_reopen(&mut self, log: &mut LogSink) {
        let asked = self.shared.reopens.load(Ordering::Acquire);
        if asked == self.seen {
            return;
        }
        self.seen = asked;
        log.flush();
        self.shared.barrier.wait();
        self.shared.barrier.wait();
    }

    /// Stops every worker (the lead, once it stopped).
    pub(super) fn stop_all(&self) {
        for s in &self.shared.stoppers {
            s.stop();
        }
    }
}
