//! The idle-sweep deadline on systems without a timer descriptor (macOS, Windows): kept
//! here and turned into the poll's timeout ([`Timer::sleep_limit`]). Same API as the Linux
//! timerfd `Timer` in `timer.rs`, whose readiness event this one never raises.

use std::io;
use std::time::{Duration, Instant};

use mio::{Registry, Token};

/// One re-armable deadline.
#[derive(Debug)]
pub(crate) struct Timer {
    armed: Option<Instant>,
}

impl Timer {
    /// A disarmed timer (nothing to register: the poll's timeout does the waking).
    pub(crate) fn new(_registry: &Registry, _token: Token) -> io::Result<Timer> {
        Ok(Timer { armed: None })
    }

    /// Makes the timer due at `at` (`None`: never).
    pub(crate) fn set(&mut self, at: Option<Instant>) -> io::Result<()> {
        self.armed = at;
        Ok(())
    }

    /// Never called here (no event); kept for the shared API.
    pub(crate) fn fired(&mut self) {
        self.armed = None;
    }

    /// How long the poll may sleep before the deadline (`None`: no deadline).
    pub(crate) fn sleep_limit(&self) -> Option<Duration> {
        self.armed
            .map(|at| at.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_bounds_the_sleep_until_disarmed() {
        let poll = mio::Poll::new().unwrap();
        let mut timer = Timer::new(poll.registry(), Token(7)).unwrap();
        assert_eq!(timer.sleep_limit(), None);
        timer
            .set(Some(Instant::now() + Duration::from_millis(50)))
            .unwrap();
        let left = timer.sleep_limit().unwrap();
        assert!(left <= Duration::from_millis(50) && left > Duration::ZERO);
        timer.set(Some(Instant::now())).unwrap();
        assert_eq!(timer.sleep_limit(), Some(Duration::ZERO));
        timer.set(None).unwrap();
        assert_eq!(timer.sleep_limit(), None);
    }
}
