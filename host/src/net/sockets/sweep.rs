//! The idle sweep: closes idle connections and logs lines idle past `--flush-after`, at
//! most every [`SWEEP_EVERY`], woken by the worker's timer; and the accept retry.

use std::time::Duration;

use echo_core::time::Instant;

use super::worker::Worker;

/// Least time between two idle sweeps: each walks every connection, so with many
/// staggered deadlines they must not run on every loop round. Idle closes may be this late.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

impl Worker {
    /// Idle sweep and accept retry, when due. Returns the time it ran at.
    pub(super) fn housekeeping(&mut self) -> Instant {
        let now = self.clock.now();
        if self.accept_paused_until.is_some_and(|at| now >= at) {
            self.accept_paused_until = None;
            self.accept_all();
        }
        if self.next_sweep.is_some_and(|at| now >= at) {
            self.sweep();
        }
        let at = self.next_sweep.map(|at| self.clock.to_std(at));
        // Only fails for invalid values, which `set` never passes.
        let _ = self.timer.set(at);
        now
    }

    /// Closes idle connections, logs lines idle past `--flush-after`, and finds the next
    /// deadline. Idle deadlines only move later as bytes flow and a new connection's is
    /// later than every existing one; a flush deadline that comes earlier is noted by the
    /// pump; so the earliest deadline seen here is a safe time for the next sweep.
    fn sweep(&mut self) {
        let mut next: Option<Instant> = None;
        let mut idle = Vec::new();
        let now = self.clock.now();
        for (key, entry) in self.conns.iter_mut() {
            match self.service.timeout(now, &mut entry.conn) {
                Some(_) => idle.push(key),
                None => {
                    if let Some(d) = entry.conn.deadline() {
                        next = Some(next.map_or(d, |n| n.min(d)));
                    }
                }
            }
        }
        for key in idle {
            self.conns.remove(key);
        }
        let soonest = self.clock.now().saturating_add(SWEEP_EVERY);
        self.next_sweep = next.map(|at| at.max(soonest));
    }
}
