//! A deadline as a readiness source (Linux timerfd), so the event loop can sleep with no
//! timeout at all.
//!
//! Why: `epoll_wait` with a timeout arms and cancels a kernel timer on every sleep, which
//! costs a measurable share of a loopback round trip (a few percent of the server's CPU per
//! echo). The idle sweep's deadline changes at most every sweep, so arming a timerfd then is
//! almost free.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// One re-armable deadline.
#[derive(Debug)]
pub(crate) struct Timer {
    fd: OwnedFd,
    armed: Option<Instant>,
}

impl Timer {
    /// A disarmed timer, registered with `registry` under `token`.
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<Timer> {
        // Safety: timerfd_create takes no pointers; the fd is checked before use.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Timer { fd, armed: None })
    }

    /// Makes the timer fire at `at` (`None`: never). A no-op when already set so.
    pub(crate) fn set(&mut self, at: Option<Instant>) -> io::Result<()> {
        if at == self.armed {
            return Ok(());
        }
        // A zero value disarms, so a deadline already past fires after a nanosecond.
        let after = at.map_or(Duration::ZERO, |at| {
            at.saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1))
        });
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
                // NOTE: below 1e9, so it fits a c_long of any width.
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // Safety: `spec` is a valid itimerspec; the old value is not asked for.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = at;
        Ok(())
    }

    /// How long the poll may sleep for this timer: no limit, its own event wakes the loop.
    pub(crate) fn sleep_limit(&self) -> Option<Duration> {
        None
    }

    /// After the timer fired: consumes the expiry so the next one raises a new edge.
    pub(crate) fn fired(&mut self) {
        let mut ticks = [0u8; 8];
        // Safety: reads at most 8 bytes into `ticks`. Nothing to read (WouldBlock) is fine.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), ticks.as_mut_ptr().cast(), 8) };
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use mio::{Events, Poll};

    use super::*;

    #[test]
    fn fires_once_at_its_deadline_and_can_be_rearmed() {
        let mut poll = Poll::new().unwrap();
        let mut timer = Timer::new(poll.registry(), Token(7)).unwrap();
        let mut events = Events::with_capacity(4);
        for delay in [30, 10] {
            let start = Instant::now();
            timer
                .set(Some(start + Duration::from_millis(delay)))
                .unwrap();
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            assert!(events.iter().any(|e| e.token() == Token(7)));
            assert!(start.elapsed() >= Duration::from_millis(delay));
            timer.fired();
        }
        // Disarmed: nothing fires.
        timer
            .set(Some(Instant::now() + Duration::from_millis(5)))
            .unwrap();
        timer.set(None).unwrap();
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        assert!(events.is_empty());
    }
}
