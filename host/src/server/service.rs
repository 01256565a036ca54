//! echo-core's service ([`echo_core::service`]) as a PC runs it: what the host lends it.
//!
//! Everything a server decides (numbering, `--max-conns`, every record, idle deadlines,
//! the UDP policy, totals, the pump loop) is `echo_core::service::Service`, shared with the
//! firmware. Here are only the std pieces: the [`LogSink`] as its log (real UTC
//! timestamps), `io::Error` mapped to its [`StreamError`], [`CappedVec`] buffers that give
//! their memory back when empty, heap storage for the scratch buffer and the UDP table, and
//! [`SharedAdmission`]: the connection numbers and `--max-conns` count of a server whose
//! workers each run a service. Both runners ([`crate::net::sockets`], [`crate::net::smol_tap`])
//! drive this one type.

use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use echo_core::record::{Level, Record};
use echo_core::service::{self, Admission, Log, UdpPolicy};
use echo_core::time::{Instant, Timestamp};
use echo_core::udp::{self, Verdict};

pub use echo_core::service::{PENDING_CAP, Progress, Settings, Stream, StreamError};

use crate::log::LogSink;
use crate::server::buffer::CappedVec;
use crate::server::clock::wall_now;

/// Source addresses the UDP rate limiter tracks at once.
pub const UDP_SOURCES: usize = 1024;

/// The service as the host runs it, whichever way it admits connections.
pub type HostService<A> = service::Service<LogSink, Vec<u8>, HostPolicy, A>;

/// The service as the host runs it over the OS's sockets: connections numbered and
/// admitted by [`SharedAdmission`] (one count for all of a server's workers).
pub type Service = HostService<SharedAdmission>;

/// The service of the TAP runner (one loop, so the service counts connections itself).
pub type TapService = HostService<service::Counter>;

/// One served TCP connection on the host.
pub type Connection = service::Connection<CappedVec>;

/// A service logging to `log`, with a scratch buffer that takes any UDP datagram, admitting
/// connections through `admission` (clones of one [`SharedAdmission`] for every worker, or
/// a [`service::Counter`]).
pub fn new_service<A: Admission>(settings: Settings, log: LogSink, admission: A) -> HostService<A> {
    let udp = HostPolicy(Box::new(udp::Policy::new(settings.udp_rate)));
    let scratch = vec![0; PENDING_CAP.max(udp::MAX_DATAGRAM + 1)];
    service::Service::with_admission(settings, log, scratch, udp, admission)
}

/// The UDP policy's table (32 KiB) on the heap.
#[derive(Debug)]
pub struct HostPolicy(Box<udp::Policy<UDP_SOURCES>>);

impl UdpPolicy for HostPolicy {
    fn check(&mut self, now: Instant, source: std::net::SocketAddr, size: usize) -> Verdict {
        self.0.check(now, source, size)
    }

    fn set_rate(&mut self, rate: u32) {
        self.0.set_rate(rate);
    }
}

/// Connection numbers and the open count of a whole server, shared by its workers: one
/// atomic add per accept and one per close, nothing per message. Numbers are unique and
/// increase in the order connections are accepted; `--max-conns` holds for the sum.
#[derive(Debug, Clone, Default)]
pub struct SharedAdmission(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    /// Numbers taken so far (the next is this plus one).
    taken: AtomicU64,
    open: AtomicUsize,
}

impl Admission for SharedAdmission {
    fn admit(&mut self, max: usize) -> (u64, bool) {
        let id = self.0.taken.fetch_add(1, Ordering::Relaxed) + 1;
        // Take a slot only if one is free: a compare-and-swap loop, so the count never
        // goes above `max` even for a moment.
        let admitted = self
            .0
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .is_ok();
        (id, admitted)
    }

    fn release(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }

    fn open(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }
}

impl Log for LogSink {
    #[inline]
    fn enabled(&self, level: Level) -> bool {
        LogSink::enabled(self, level)
    }

    fn write_always(&mut self, record: &Record<'_>) {
        LogSink::write_always(self, record);
    }

    /// Not the trait's default (`write_always` when enabled): only the records written at
    /// every level may use the console's reserve, and the sink drops echo records unformatted
    /// while the console is full. Through the default, every record took the reserve, so a
    /// full console had no room left for `shutdown` and its drop notice.
    #[inline]
    fn write(&mut self, record: &Record<'_>) {
        LogSink::write(self, record);
    }

    /// Real UTC, whatever the monotonic `now`.
    fn timestamp(&mut self, _now: Instant) -> Timestamp {
        wall_now()
    }

    /// Console lines dropped because stdout was not read (the file never drops).
    fn dropped(&mut self) -> u64 {
        self.console_dropped()
    }
}

/// An OS error as the service's: would-block and interrupted as such; reset, aborted and
/// broken pipe as a reset; anything else as an error.
pub fn stream_error(e: &io::Error) -> StreamError {
    match e.kind() {
        ErrorKind::WouldBlock => StreamError::WouldBlock,
        ErrorKind::Interrupted => StreamError::Interrupted,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            StreamError::Reset
        }
        _ => StreamError::Other,
    }
}

#[cfg(test)]
mod tests {
    use echo_core::record::Reason;
    use echo_core::service::reason_of;

    use super::*;

    /// An idle connection must cost at most 256 bytes of server memory at 1,000,000
    /// connections (issue 12); its state is most of that: keep it from creeping up.
    /// Measured: 192 bytes (the peer is a 32-byte `SocketAddr`, formatted when logged; the
    /// two deadline settings are milliseconds, 8 bytes each).
    #[test]
    fn idle_connection_state_stays_small() {
        use std::mem::size_of;
        assert!(
            size_of::<Connection>() <= 192,
            "Connection is {} bytes",
            size_of::<Connection>()
        );
    }

    #[test]
    fn os_errors_map_to_the_reasons_users_read() {
        for (kind, reason) in [
            (ErrorKind::ConnectionReset, Reason::Reset),
            (ErrorKind::ConnectionAborted, Reason::Reset),
            (ErrorKind::BrokenPipe, Reason::Reset),
            (ErrorKind::TimedOut, Reason::Error),
            (ErrorKind::Other, Reason::Error),
        ] {
            assert_eq!(reason_of(stream_error(&kind.into())), reason, "{kind:?}");
        }
        assert_eq!(
            stream_error(&ErrorKind::WouldBlock.into()),
            StreamError::WouldBlock
        );
        assert_eq!(
            stream_error(&ErrorKind::Interrupted.into()),
            StreamError::Interrupted
        );
    }
}
