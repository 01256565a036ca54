//! The server's clocks, and every conversion between them, here once (echo-core never
//! reads a clock): the monotonic [`Clock`] as echo-core's [`Instant`], as a std instant
//! and as smoltcp's; the wall clock as a record's [`Timestamp`].

use std::time::{SystemTime, UNIX_EPOCH};

use echo_core::time::{Instant, Timestamp};

/// Monotonic time since the server started, for idle deadlines and rate limits.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// Milliseconds since [`Clock::start`], as echo-core's instant.
    pub fn now(&self) -> Instant {
        Instant::ZERO.saturating_add(self.origin.elapsed())
    }

    /// How long from `now` until `at` (zero if past), for a poll timeout.
    pub fn until(&self, now: Instant, at: Instant) -> std::time::Duration {
        at.saturating_duration_since(now)
    }

    /// Now as smoltcp's instant (microseconds, same origin as [`Clock::now`]), for the TAP
    /// runner's stack; echo-core's `smoltcp::instant` turns it back into milliseconds.
    pub fn smoltcp_now(&self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(
            i64::try_from(self.origin.elapsed().as_micros()).unwrap_or(i64::MAX),
        )
    }

    /// `now` as a `std::time::Instant` (to compute poll timeouts).
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        self.origin + at.saturating_duration_since(Instant::ZERO)
    }
}

/// The wall-clock time for a record (UTC, milliseconds).
pub fn wall_now() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Timestamp::from_unix_millis(millis)
}
