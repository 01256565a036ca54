//! The one stop signal a runner is handed ([`Stop`]), the same for both runners: a
//! [`Stopper`] any thread may pull, and, for the binary, the OS's signals: SIGINT and
//! SIGTERM stop, SIGHUP asks for the log file to be reopened (`logrotate`). The std loop watches the signals' self-pipe like any socket; the TAP
//! loop checks the flags each round (a signal also cuts its wait short). On Windows the
//! signals are `crate::os::console::Signals`: Ctrl-C, Ctrl-Break and a closed console,
//! the same way (the Unix side is `crate::os::signals`).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mio::Waker;

#[cfg(windows)]
pub(crate) use crate::os::console::Signals;
#[cfg(unix)]
pub(crate) use crate::os::signals::Signals;

/// Stops a server from any thread: sets the flag every loop of the runner checks each
/// round, and wakes the loops that sleep on a poll.
#[derive(Debug, Clone, Default)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    wakers: Arc<Mutex<Vec<Arc<Waker>>>>,
}

impl Stopper {
    /// Whether a stop was asked for.
    #[inline]
    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Asks the server to shut down; it does within a second.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::Release);
        for waker in self
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            // A failed wake only delays the stop until the loop's next round (at most 1 s).
            let _ = waker.wake();
        }
    }

    /// Makes [`Stopper::stop`] wake `waker`'s loop too (a loop checks the flag at the top
    /// of each round, so a stop asked before this is seen all the same).
    pub(crate) fn wake_on_stop(&self, waker: Arc<Waker>) {
        self.wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(waker);
    }
}

/// What a runner is told to stop by: its [`Stopper`], and the OS's signals when the binary
/// asked for them ([`Stop::on_signals`]).
#[derive(Debug, Default)]
pub struct Stop {
    stopper: Stopper,
    signals: Option<Signals>,
}

impl Stop {
    /// Stopped only through [`Stop::stopper`] (tests, a server embedded in a program).
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Also stopped by SIGINT and SIGTERM (Windows: Ctrl-C, Ctrl-Break, a closed console),
    /// with SIGHUP reopening the log file.
    pub fn on_signals() -> io::Result<Stop> {
        Ok(Stop {
            stopper: Stopper::default(),
            signals: Some(Signals::register()?),
        })
    }

    /// Whether a stop was asked for, through the stopper or by a signal: for a loop that
    /// checks each round rather than watching the signals (the TAP runner). The std
    /// runner's lead turns a signal into [`Stopper::stop`] only after it has handled a
    /// SIGHUP that came first, so a reopen is never skipped.
    pub fn is_stopped(&self) -> bool {
        self.stopper.is_stopped() || self.signals.as_ref().is_some_and(Signals::stop_asked)
    }

    /// The OS's signals, if the binary asked for them.
    #[cfg(target_os = "linux")]
    pub(crate) fn signals(&self) -> Option<&Signals> {
        self.signals.as_ref()
    }

    /// A handle that stops the runner from elsewhere.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// The stopper and the signals (if any), for the runner to watch.
    pub(crate) fn into_parts(self) -> (Stopper, Option<Signals>) {
        (self.stopper, self.signals)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mio::{Events, Poll, Token};

    use super::*;

    /// One stop reaches every loop: each poll wakes, and every clone sees the flag, even
    /// one whose waker came after the stop.
    #[test]
    fn a_stop_wakes_every_loop_and_every_clone_sees_it() {
        let stop = Stop::new();
        let stopper = stop.stopper();
        let mut polls: Vec<Poll> = (0..3).map(|_| Poll::new().unwrap()).collect();
        for poll in &polls {
            let waker = Waker::new(poll.registry(), Token(1)).unwrap();
            stopper.wake_on_stop(Arc::new(waker));
        }
        let (handed, signals) = stop.into_parts();
        assert!(signals.is_none());
        assert!(!handed.is_stopped());
        stopper.stop();
        assert!(handed.is_stopped());
        let mut events = Events::with_capacity(4);
        for poll in &mut polls {
            poll.poll(&mut events, Some(Duration::from_secs(5)))
                .unwrap();
            assert!(events.iter().any(|e| e.token() == Token(1)), "woken");
        }
        let late = Poll::new().unwrap();
        handed.wake_on_stop(Arc::new(Waker::new(late.registry(), Token(1)).unwrap()));
        assert!(handed.is_stopped());
    }
}
