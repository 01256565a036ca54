//! The open loop (`--rate N`): message k of the whole run is due at `start + k / N` and
//! belongs to connection `k % conns`. A connection still waiting for an echo when its next
//! message is due sends it as soon as the echo is in, and that message's latency counts
//! from when it was due, not when it went out: a server that stalls is charged for every
//! message it held up (no coordinated omission), also those still unsent at the end (see
//! `Engine::charge_unsent`).

use std::time::{Duration, Instant};

/// Due times of the open loop.
#[derive(Debug)]
pub struct Schedule {
    start: Instant,
    /// Seconds between two messages of the run.
    interval: f64,
    conns: u64,
    /// The next message of the run to hand out.
    next: u64,
}

impl Schedule {
    pub fn new(start: Instant, rate: f64, conns: usize) -> Schedule {
        Schedule {
            start,
            interval: 1.0 / rate,
            conns: conns as u64,
            next: 0,
        }
    }

    /// When message `k` of the run is due.
    fn due(&self, k: u64) -> Instant {
        self.start + Duration::from_secs_f64(k as f64 * self.interval)
    }

    /// When the `j`-th message of connection `conn` is due.
    pub fn due_of(&self, conn: usize, j: u64) -> Instant {
        self.due(conn as u64 + j * self.conns)
    }

    /// When the next message of the run is due.
    pub fn next_due(&self) -> Instant {
        self.due(self.next)
    }

    /// The connection whose message is due by `now`, if any (call until `None`).
    pub fn pop(&mut self, now: Instant) -> Option<usize> {
        if self.due(self.next) > now {
            return None;
        }
        let conn = self.next % self.conns;
        self.next += 1;
        // NOTE(as): below `conns`, a usize.
        Some(conn as usize)
    }

    /// What the loops do while sending: hands each connection whose message is due by `now`
    /// to `on_due` (see [`Schedule::pop`]), then says how long the loop may sleep, at most
    /// `longest` ([`Schedule::wait`]).
    pub fn release(
        &mut self,
        now: Instant,
        longest: Duration,
        mut on_due: impl FnMut(usize),
    ) -> Duration {
        while let Some(conn) = self.pop(now) {
            on_due(conn);
        }
        self.wait(now, longest)
    }

    /// How long the loop may sleep: until the next message is due, but it must not oversleep:
    /// the poll's timeout has millisecond steps, so under a millisecond it does not sleep.
    pub fn wait(&self, now: Instant, longest: Duration) -> Duration {
        let until = self.next_due().saturating_duration_since(now);
        if until < Duration::from_millis(1) {
            Duration::ZERO
        } else {
            // Whole milliseconds, rounded down, so the wake-up is never late.
            Duration::from_millis(until.as_millis() as u64).min(longest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_go_round_the_connections_at_the_rate() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 1000.0, 3);
        let later = start + Duration::from_micros(4500);
        let conns: Vec<usize> = std::iter::from_fn(|| schedule.pop(later)).collect();
        assert_eq!(conns, [0, 1, 2, 0, 1]);
        assert_eq!(schedule.due_of(1, 1), start + Duration::from_millis(4));
        assert_eq!(schedule.wait(later, Duration::from_secs(1)), Duration::ZERO);
    }
}
