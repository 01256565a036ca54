//! How the event loop is told to stop: from another thread ([`Stopper`]) or by SIGINT and
//! SIGTERM (`Signals`, a self-pipe the loop watches like any socket). On Windows `Signals`
//! is `crate::os::console::Signals`: Ctrl-C, Ctrl-Break and a closed console, the same way.

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

/// Stops a running [`super::std_tcp::Server`] from another thread (or a test).
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
        // A failed wake only delays the stop until the loop's next round (at most 1 s).
        let _ = self.waker.wake();
    }
}

/// SIGINT/SIGTERM as readiness: the handlers write to a socket pair the loop watches.
#[cfg(unix)]
#[derive(Debug)]
pub(crate) struct Signals {
    read: UnixStream,
    ids: Vec<signal_hook::SigId>,
}

#[cfg(unix)]
impl Signals {
    /// Routes SIGINT and SIGTERM to [`Signals::source`].
    pub(crate) fn register() -> io::Result<Signals> {
        let (read, write) = StdUnixStream::pair()?;
        read.set_nonblocking(true)?;
        let mut ids = Vec::new();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            ids.push(signal_hook::low_level::pipe::register(
                signal,
                write.try_clone()?,
            )?);
        }
        Ok(Signals {
            read: UnixStream::from_std(read),
            ids,
        })
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
