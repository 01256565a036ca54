//! One worker: a thread's mio event loop over its connections. It only moves bytes: it
//! reads and writes sockets and hands everything else to its [`Service`].
//!
//! Readiness is edge-triggered, so a connection is pumped until its socket would block, and
//! one that stopped early (read budget spent, [`Progress::Open`] `more`) is pumped again in
//! the next round without waiting for an event. Writable interest is registered only while
//! bytes wait to be sent. A worker shares nothing with the others on the per-message path:
//! its own poll, connections, service, log buffers; the connection count is touched at
//! accept and close only.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use echo_core::record::Reason;
use echo_core::time::Instant;
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use super::crew::Crew;
use crate::net::stop::{Signals, Stopper};
use crate::net::timer::Timer;
use crate::server::clock::Clock;
use crate::server::service::{Connection, Progress, Service, Stream, StreamError, stream_error};

pub(super) const LISTENER: Token = Token(usize::MAX - 1);
pub(super) const UDP: Token = Token(usize::MAX - 2);
pub(super) const WAKER: Token = Token(usize::MAX - 3);
pub(super) const SIGNALS: Token = Token(usize::MAX - 4);
pub(super) const TIMER: Token = Token(usize::MAX - 5);

/// A served TCP connection: its socket, its service state and its registered interest.
#[derive(Debug)]
pub(super) struct Entry {
    pub socket: TcpStream,
    pub conn: Connection,
    pub writable: bool,
}

/// Whether a short read may stand for `WouldBlock` (see [`Socket`]): with epoll and kqueue
/// any new byte raises a new edge. mio on Windows re-arms a socket's readiness only when an
/// operation on it returned `WouldBlock`, so there every read goes on until it does.
const SHORT_READ_DRAINS: bool = cfg!(unix);

/// The mio [`Stream`]: a non-blocking TCP socket, edge-triggered.
///
/// A read that returns less than asked for emptied the socket's receive queue, and any
/// byte arriving later raises a new edge, so the next read is answered `WouldBlock` without
/// a system call (one syscall less per message). Not when the peer's FIN may already be
/// queued (`read_all`): then reads go on until the end of stream is seen.
struct Socket<'a> {
    stream: &'a mut TcpStream,
    read_all: bool,
    drained: bool,
}

impl Stream for Socket<'_> {
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        if self.drained {
            return Err(StreamError::WouldBlock);
        }
        let n = self.stream.read(buf).map_err(|e| stream_error(&e))?;
        self.drained = SHORT_READ_DRAINS && n < buf.len() && !self.read_all;
        Ok(n)
    }

    fn send(&mut self, data: &[u8]) -> Result<usize, StreamError> {
        self.stream.write(data).map_err(|e| stream_error(&e))
    }
}

/// Another worker's queue of handed connections, and its waker.
pub(super) type Handoff = (std::sync::mpsc::Sender<(TcpStream, SocketAddr)>, Arc<Waker>);

/// Where a worker's new connections come from.
#[derive(Debug)]
pub(super) enum Intake {
    /// Its own listener (Linux: one per worker on the shared port; elsewhere worker 0's),
    /// and, elsewhere, the other workers' queues it hands connections to in turn.
    Listener {
        listener: TcpListener,
        handoff: Vec<Handoff>,
        next: usize,
    },
    /// Connections handed over by the worker that owns the listener.
    Handed(Receiver<(TcpStream, SocketAddr)>),
}

/// One event loop with its connections.
#[derive(Debug)]
pub(super) struct Worker {
    pub(super) poll: Poll,
    pub(super) intake: Intake,
    pub(super) udp: Option<UdpSocket>,
    pub(super) udp_buf: Vec<u8>,
    /// The UDP budget ran out with datagrams possibly left: serve again without waiting.
    pub(super) udp_more: bool,
    pub(super) service: Service,
    /// The monotonic clock the service's deadlines are on.
    pub(super) clock: Clock,
    pub(super) conns: Slab<Entry>,
    /// Connections to pump again without an event (their read budget ran out).
    pub(super) again: Vec<usize>,
    /// When the next idle sweep is due (`None`: no connection can time out).
    pub(super) next_sweep: Option<Instant>,
    /// Wakes the loop for the idle sweep, so polls need no timeout.
    pub(super) timer: Timer,
    pub(super) accept_paused_until: Option<Instant>,
    /// An accept error was logged and no accept has worked since.
    pub(super) accept_failing: bool,
    /// Stops (and wakes) every worker of the server.
    pub(super) stop: Stopper,
    /// SIGINT/SIGTERM/SIGHUP (worker 0 of a server run by the binary).
    pub(super) signals: Option<Signals>,
    /// What the workers of one server coordinate on (log reopening, stopping).
    pub(super) crew: Crew,
}

impl Worker {
    /// Serves until stopped. Returns with the connections still open (see
    /// [`Worker::close_all`]).
    pub(super) fn serve(&mut self) -> io::Result<()> {
        let mut now = self.clock.now();
        let mut events = Events::with_capacity(1024);
        while !self.stop.is_stopped() {
            let timeout = self.poll_timeout(now);
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let again = std::mem::take(&mut self.again);
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    UDP => self.serve_udp(),
                    WAKER => self.on_wake(),
                    TIMER => self.timer.fired(),
                    SIGNALS => self.on_signal(),
                    Token(key) => {
                        self.pump(key, event.is_read_closed() || event.is_error());
                    }
                }
            }
            for key in again {
                self.pump(key, true);
            }
            if self.udp_more {
                self.serve_udp();
            }
            now = self.housekeeping();
            self.service.log_mut().end_of_batch();
        }
        Ok(())
    }

    /// How long the next poll may sleep (`None`: until an event; the idle sweep has its
    /// own [`Timer`]). `now` is the time of the last housekeeping, a few microseconds ago
    /// (one clock read less per round).
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.again.is_empty() || self.udp_more {
            return Some(Duration::ZERO);
        }
        let mut sleep = self.service.log().next_flush_in();
        if let Some(until) = self.timer.sleep_limit() {
            sleep = Some(sleep.map_or(until, |s| s.min(until)));
        }
        if let Some(at) = self.accept_paused_until {
            let until = self.clock.until(now, at);
            sleep = Some(sleep.map_or(until, |s| s.min(until)));
        }
        sleep
    }

    /// Serves or rejects one accepted socket.
    pub(super) fn admit(&mut self, mut socket: TcpStream, peer: SocketAddr) {
        let now = self.clock.now();
        let Some(conn) = self.service.accept(now, peer) else {
            return; // Rejected (logged); dropping the socket closes it.
        };
        // Echo is latency-bound: send small replies at once.
        let _ = socket.set_nodelay(true);
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut socket, Token(key), Interest::READABLE)
        {
            self.service
                .error(now, &format!("cannot watch a connection: {e}"));
            self.service.close(now, conn, Reason::Error);
            return;
        }
        if self.next_sweep.is_none() {
            self.next_sweep = conn.deadline();
        }
        entry.insert(Entry {
            socket,
            conn,
            writable: false,
        });
        // Data may have arrived before registration; edge-triggered epoll reports it, as
        // registering an already readable socket raises an event.
    }

    /// Moves bytes on connection `key` and updates its interest or closes it. `read_all`:
    /// read until the socket would block (see [`Socket`]).
    fn pump(&mut self, key: usize, read_all: bool) {
        let Some(entry) = self.conns.get_mut(key) else {
            return; // Closed earlier in this round.
        };
        let mut socket = Socket {
            stream: &mut entry.socket,
            read_all,
            drained: false,
        };
        // One clock read per pump: the idle deadline needs milliseconds, not precision.
        let now = self.clock.now();
        match self.service.pump(now, &mut entry.conn, &mut socket) {
            Progress::Open { wants_write, more } => {
                if wants_write != entry.writable {
                    let interest = if wants_write {
                        Interest::READABLE | Interest::WRITABLE
                    } else {
                        Interest::READABLE
                    };
                    if let Err(e) =
                        self.poll
                            .registry()
                            .reregister(&mut entry.socket, Token(key), interest)
                    {
                        self.service
                            .error(now, &format!("cannot watch a connection: {e}"));
                        let entry = self.conns.remove(key);
                        self.service.close(now, entry.conn, Reason::Error);
                        return;
                    }
                    entry.writable = wants_write;
                }
                if more {
                    self.again.push(key);
                }
                // An unterminated line brings its flush deadline (`--flush-after`), which
                // may come before every idle deadline the last sweep saw.
                if let Some(d) = entry.conn.deadline() {
                    if self.next_sweep.is_none_or(|at| d < at) {
                        self.next_sweep = Some(d);
                    }
                }
            }
            Progress::Closed(_) => {
                // Closing the socket also removes it from epoll.
                self.conns.remove(key);
            }
        }
    }

    /// The waker rang: a stop (seen at the loop's top), connections handed over, or a
    /// log reopen the crew asks every worker to take part in.
    fn on_wake(&mut self) {
        if let Intake::Handed(queue) = &self.intake {
            let handed: Vec<_> = queue.try_iter().collect();
            for (socket, peer) in handed {
                self.admit(socket, peer);
            }
        }
        self.crew.join_reopen(self.service.log_mut());
    }

    fn on_signal(&mut self) {
        let Some(s) = &mut self.signals else { return };
        s.drain();
        if s.take_hangup() {
            self.crew.reopen(self.service.log_mut());
        }
        if s.stop_asked() {
            self.stop.stop();
        }
    }

    /// Closes every open connection (reason `shutdown`, pending partial lines logged),
    /// without the `shutdown` record.
    pub(super) fn close_all(&mut self) {
        let now = self.clock.now();
        self.service
            .close_all(now, self.conns.iter_mut().map(|(_, e)| &mut e.conn));
        self.conns.clear();
    }
}
