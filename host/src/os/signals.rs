//! Unix signals for the server: SIGINT and SIGTERM stop it, SIGHUP reopens its log file.
//! What Windows has instead is `super::console`; both are `crate::net::stop::Signals`.

use std::io::{self, Read};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::net::UnixStream;

/// SIGINT/SIGTERM/SIGHUP as readiness: the handlers set a flag, then write to a socket pair
/// the loop watches.
#[derive(Debug)]
pub(crate) struct Signals {
    read: UnixStream,
    ids: Vec<signal_hook::SigId>,
    /// SIGINT or SIGTERM arrived.
    stop: Arc<AtomicBool>,
    /// SIGHUP arrived since [`Signals::take_hangup`] last looked.
    hangup: Arc<AtomicBool>,
}

impl Signals {
    /// Makes SIGINT and SIGTERM set one flag and SIGHUP another, each also waking
    /// [`Signals::source`].
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

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
