//! How a server is told to stop, for both runners: from another thread ([`Stopper`]) or
//! by SIGINT and SIGTERM (`Signals`, a self-pipe the std loop watches like any socket, and
//! flags the TAP loop checks); and SIGHUP, which reopens the log file (`logrotate`),
//! through the same pipe and flags. On Windows `Signals` is
//! `crate::os::console::Signals`: Ctrl-C, Ctrl-Break and a closed console, the same way.

#[cfg(unix)]
use std::io::{self, Read};
#[cfg(unix)]
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::Waker;
#[cfg(unix)]
use mio::net::UnixStream;

#[cfg(windows)]
pub(crate) use crate::os::console::Signals;

/// Stops (and wakes) one event loop of a [`super::sockets::Server`] from another thread.
#[derive(Debug, Clone)]
pub struct Stopper {
    flag: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// A stopper that wakes the loop through `waker`.
    pub(crate) fn new(waker: Waker) -> Self {
        Stopper {
            flag: Arc::new(AtomicBool::new(false)),
            waker: Arc::new(waker),
        }
    }

    /// Whether a stop was asked for.
    pub(crate) fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Asks the loop to shut down; it does within a second.
    pub fn stop(&self) {
        self.flag.store(true, Ordering::Release);
        self.wake();
    }

    /// Wakes the loop (for work another thread left it: a connection, a log reopen).
    pub(crate) fn wake(&self) {
        // A failed wake only delays the work until the loop's next round (at most 1 s).
        let _ = self.waker.wake();
    }
}

/// SIGINT/SIGTERM/SIGHUP as readiness: the handlers set a flag, then write to a socket pair
/// the loop watches.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct Signals {
    read: UnixStream,
    ids: Vec<signal_hook::SigId>,
    /// SIGINT or SIGTERM arrived.
    stop: Arc<AtomicBool>,
    /// SIGHUP arrived since [`Signals::take_hangup`] last looked.
    hangup: Arc<AtomicBool>,
}

#[cfg(unix)]
impl Signals {
    /// Routes SIGINT, SIGTERM and SIGHUP to [`Signals::source`].
    pub(crate) fn register() -> io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let (read, write) = StdUnixStream::pair()?;
        read.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
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

    /// The flag SIGINT and SIGTERM set, for a loop that checks a flag each round rather
    /// than watching [`Signals::source`] (the TAP runner).
    #[cfg(target_os = "linux")]
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// The flag SIGHUP sets (see [`crate::server::log::LogSink::reopen_when`]).
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
