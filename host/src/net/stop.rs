//! The one stop signal a runner is handed ([`Stop`]), the same for both runners: a
//! [`Stopper`] any thread may pull, and, for the binary, the OS's signals feeding it.
//! SIGINT and SIGTERM set the stopper's flag; SIGHUP asks for the log file to be reopened
//! (`logrotate`). The std loop watches the signals' self-pipe like any socket; the TAP
//! loop checks the flags each round (a signal also cuts its wait short). On Windows the
//! signals are `crate::os::console::Signals`: Ctrl-C, Ctrl-Break and a closed console,
//! the same way.

use std::io;
#[cfg(unix)]
use std::io::Read;
#[cfg(unix)]
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use mio::Waker;
#[cfg(unix)]
use mio::net::UnixStream;

#[cfg(windows)]
pub(crate) use crate::os::console::Signals;

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
        let stopper = Stopper::default();
        let signals = Signals::register(Arc::clone(&stopper.flag))?;
        Ok(Stop {
            stopper,
            signals: Some(signals),
        })
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

/// SIGINT/SIGTERM/SIGHUP as readiness: the handlers set a flag, then write to a socket pair
/// the loop watches.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct Signals {
    read: UnixStream,
    ids: Vec<signal_hook::SigId>,
    /// SIGINT or SIGTERM arrived (the [`Stopper`]'s flag).
    stop: Arc<AtomicBool>,
    /// SIGHUP arrived since [`Signals::take_hangup`] last looked.
    hangup: Arc<AtomicBool>,
}

#[cfg(unix)]
impl Signals {
    /// Makes SIGINT and SIGTERM set `stop` and SIGHUP a flag of its own, each also waking
    /// [`Signals::source`].
    fn register(stop: Arc<AtomicBool>) -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let (read, write) = StdUnixStream::pair()?;
        read.set_nonblocking(true)?;
        let hangup = Arc::new(AtomicBool::new(false));
        let mut ids = Vec::new();
        for (signal, flag) in [(SIGINT, &stop), (SIGTERM, &stop), (SIGHUP, &hangup)] {
            // The flag first: actions run in registration order, so the loop woken by the
            // pipe finds it set.
            ids.push(signal_hook::flag::register(signal, Arc::clone(flag))?);
            ids.push(signal_hook::low_level::pipe::register(
                signal,
                write.try_clone()?,
            )?);
        }
        Ok(Signals {
            read: UnixStream::from_std(read),
            ids,
            stop,
            hangup,
        })
    }

    /// The flag SIGHUP sets, for a loop that checks it each round rather than watching
    /// [`Signals::source`] (see [`crate::log::LogSink::reopen_when`]).
    #[cfg(target_os = "linux")]
    pub(crate) fn hangup_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.hangup)
    }

    /// Whether SIGINT or SIGTERM arrived.
    pub(crate) fn stop_asked(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Whether SIGHUP arrived since the last call.
    pub(crate) fn take_hangup(&self) -> bool {
        self.hangup.swap(false, Ordering::AcqRel)
    }

    /// The readable end to register with the poll.
    pub(crate) fn source(&mut self) -> &mut UnixStream {
        &mut self.read
    }

    /// Reads the wake-up bytes so the next signal raises a new edge.
    pub(crate) fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.read.read(&mut buf), Ok(n) if n > 0) {}
    }
}

#[cfg(unix)]
impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
