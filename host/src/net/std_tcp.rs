//! The echo server over the OS's sockets: one thread, one mio (epoll) event loop.
//!
//! This runner only moves bytes: it accepts, reads and writes sockets and hands everything
//! else to [`Service`] (the driver). Readiness is edge-triggered, so a connection is pumped
//! until its socket would block, and one that stopped early (read budget spent,
//! [`Progress::Open`] `more`) is pumped again in the next round without waiting for an event.
//! Writable interest is registered only while bytes wait to be sent.
//!
//! Stopping: [`Stopper::stop`] (from any thread) or SIGINT/SIGTERM once
//! [`Server::stop_on_signals`] was called (which also makes SIGHUP reopen the log file); the loop then closes every connection through
//! the driver (logging pending partial lines), writes `shutdown` and flushes the log.

use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use echo_core::record::{Proto, Reason};
use echo_core::time::Instant;
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;

use crate::driver::{
    Connection, Progress, Service, Stream, StreamError, new_service, stream_error,
};
use crate::net::stop::Signals;
pub use crate::net::stop::Stopper;
use crate::net::timer::Timer;
use crate::server::clock::Clock;
use crate::server::config::Config;
use crate::server::log::LogSink;

const LISTENER: Token = Token(usize::MAX - 1);
const UDP: Token = Token(usize::MAX - 2);
const WAKER: Token = Token(usize::MAX - 3);
const SIGNALS: Token = Token(usize::MAX - 4);
const TIMER: Token = Token(usize::MAX - 5);

/// Listen backlog asked of the kernel (it caps this at `net.core.somaxconn`).
const BACKLOG: i32 = 65_535;
/// Datagrams handled per readiness round before other sockets get a turn.
const UDP_BUDGET: usize = 256;
/// How long accepting pauses after running out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// Least time between two idle sweeps: each walks every connection, so with many
/// staggered deadlines they must not run on every loop round. Idle closes may be this late.
const SWEEP_EVERY: Duration = Duration::from_millis(100);
/// Slots reserved up front so the connection table never copies itself while growing.
const PRESIZE_LIMIT: usize = 65_536;

/// Why the server could not start: each is a user error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No candidate address could be bound.
    #[error("cannot listen on {addr} (tcp)")]
    Bind { addr: SocketAddr, source: io::Error },
    /// The UDP socket could not take the same port.
    #[error("cannot listen on {addr} (udp)")]
    BindUdp { addr: SocketAddr, source: io::Error },
    /// The log file could not be opened.
    #[error("cannot open log file {path}")]
    Log { path: String, source: io::Error },
    /// No address to bind at all.
    #[error("no address to listen on")]
    NoAddress,
    /// epoll or signal set-up failed.
    #[error("cannot set up the event loop")]
    Setup(#[from] io::Error),
}

/// What a run did, for the caller's exit status and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records lost to log write errors (already reported on stderr).
    pub lost_records: u64,
}

/// A served TCP connection: its socket, its driver state and its registered interest.
#[derive(Debug)]
struct Entry {
    socket: TcpStream,
    conn: Connection,
    writable: bool,
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

/// A bound, not yet running, echo server.
#[derive(Debug)]
pub struct Server {
    poll: Poll,
    listener: TcpListener,
    udp: Option<UdpSocket>,
    udp_buf: Vec<u8>,
    udp_more: bool,
    service: Service,
    /// The monotonic clock the service's deadlines are on.
    clock: Clock,
    conns: Slab<Entry>,
    /// Connections to pump again without an event (their read budget ran out).
    again: Vec<usize>,
    /// When the next idle sweep is due (`None`: no connection can time out).
    next_sweep: Option<Instant>,
    /// Wakes the loop for the idle sweep, so polls need no timeout.
    timer: Timer,
    accept_paused_until: Option<Instant>,
    /// An accept error was logged and no accept has worked since.
    accept_failing: bool,
    stop: Stopper,
    signals: Option<Signals>,
    local: SocketAddr,
}

impl Server {
    /// Binds the first of `config.addrs` that works (TCP, and UDP on the same port with
    /// `--udp`) and opens the log.
    pub fn bind(config: &Config) -> Result<Server, StartError> {
        let mut last = None;
        let mut bound = None;
        for &addr in &config.addrs {
            match listen(addr) {
                Ok(l) => {
                    bound = Some(l);
                    break;
                }
                Err(source) => last = Some(StartError::Bind { addr, source }),
            }
        }
        let Some(mut listener) = bound else {
            return Err(last.unwrap_or(StartError::NoAddress));
        };
        let local = listener.local_addr()?;
        let mut udp = match config.udp {
            true => Some(
                UdpSocket::bind(local).map_err(|source| StartError::BindUdp {
                    addr: local,
                    source,
                })?,
            ),
            false => None,
        };
        // Opened after binding, so a failed start leaves no new log file behind.
        let log = LogSink::open(config.log.mode, &config.log.file, config.log.level).map_err(
            |source| StartError::Log {
                path: config.log.file.display().to_string(),
                source,
            },
        )?;
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        if let Some(u) = &mut udp {
            poll.registry().register(u, UDP, Interest::READABLE)?;
        }
        let stop = Stopper::new(Waker::new(poll.registry(), WAKER)?);
        let timer = Timer::new(poll.registry(), TIMER)?;
        let service = new_service(config.service.clone(), log);
        let presize = config.service.max_conns.min(PRESIZE_LIMIT);
        Ok(Server {
            poll,
            listener,
            udp_buf: if udp.is_some() {
                vec![0; 1 << 16]
            } else {
                Vec::new()
            },
            udp,
            udp_more: false,
            service,
            clock: Clock::start(),
            conns: Slab::with_capacity(presize),
            again: Vec::new(),
            next_sweep: None,
            timer,
            accept_paused_until: None,
            accept_failing: false,
            stop,
            signals: None,
            local,
        })
    }

    /// The address actually bound (the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle that stops the server from elsewhere.
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// Makes SIGINT and SIGTERM (Windows: Ctrl-C, Ctrl-Break, a closed console) stop the
    /// server gracefully (for the binary; tests use [`Server::stopper`]).
    pub fn stop_on_signals(&mut self) -> io::Result<()> {
        let mut signals = Signals::register()?;
        self.poll
            .registry()
            .register(signals.source(), SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Writes the `listening` records, serves until stopped, then shuts down (see the
    /// module docs). Announcing here, not in [`Server::bind`], means a script that signals
    /// the server as soon as it reads `listening` finds the signal handlers in place.
    pub fn run(mut self) -> io::Result<Summary> {
        let mut now = self.clock.now();
        self.service.listening(now, self.local, Proto::Tcp);
        if self.udp.is_some() {
            self.service.listening(now, self.local, Proto::Udp);
        }
        self.service.log_mut().flush();
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
                    WAKER => {}
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
        Ok(self.shutdown())
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
            let until = Duration::from_millis(at.millis().saturating_sub(now.millis()));
            sleep = Some(sleep.map_or(until, |s| s.min(until)));
        }
        sleep
    }

    /// Accepts every waiting connection (edge-triggered: until it would block).
    fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            match self.listener.accept() {
                Ok((socket, peer)) => self.admit(socket, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // The backlog is drained: a streak of failures ends here, not at the
                    // first success (descriptors freed one at a time would otherwise log
                    // the same error once per freed descriptor).
                    self.accept_failing = false;
                    return;
                }
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors or memory: the connection stays queued in
                    // the kernel; try again shortly rather than spinning.
                    if !self.accept_failing {
                        // Once per streak: the retries every 100 ms would flood the log.
                        let now = self.clock.now();
                        self.service.error(now, &format!("accept failed: {e}"));
                        self.accept_failing = true;
                    }
                    self.accept_paused_until = Some(self.clock.now().saturating_add(ACCEPT_PAUSE));
                    return;
                }
            }
        }
    }

    /// Serves or rejects one accepted socket.
    fn admit(&mut self, mut socket: TcpStream, peer: SocketAddr) {
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
            let mut conn = conn;
            self.service
                .error(now, &format!("cannot watch a connection: {e}"));
            self.service.close(now, &mut conn, Reason::Error);
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
                        self.service.close(now, &mut entry.conn, Reason::Error);
                        self.conns.remove(key);
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

    /// Answers waiting datagrams, a bounded number per round.
    fn serve_udp(&mut self) {
        self.udp_more = false;
        let Some(socket) = &self.udp else { return };
        for _ in 0..UDP_BUDGET {
            match socket.recv_from(&mut self.udp_buf) {
                Ok((n, source)) => {
                    let data = &self.udp_buf[..n];
                    if self.service.datagram(self.clock.now(), source, data) {
                        // A full send buffer drops the echo, as UDP may.
                        let _ = socket.send_to(data, source);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                // ICMP errors from earlier sends and the like: the socket still works.
                Err(_) => {}
            }
        }
        self.udp_more = true;
    }

    /// Idle sweep and accept retry, when due. Returns the time it ran at.
    fn housekeeping(&mut self) -> Instant {
        let now = self.clock.now();
        if self.accept_paused_until.is_some_and(|at| now >= at) {
            self.accept_paused_until = None;
            self.accept_all();
        }
        if self.next_sweep.is_some_and(|at| now >= at) {
            self.sweep();
        }
        let at = self.next_sweep.map(|at| self.clock.to_std(at));
        // Only fails for invalid values, which `set` never passes.
        let _ = self.timer.set(at);
        now
    }

    /// Closes idle connections, logs lines idle past `--flush-after`, and finds the next
    /// deadline. Idle deadlines only move later as bytes flow and a new connection's is
    /// later than every existing one; a flush deadline that comes earlier is noted by
    /// [`Server::pump`]; so the earliest deadline seen here is a safe time for the next sweep.
    fn sweep(&mut self) {
        let mut next: Option<Instant> = None;
        let mut idle = Vec::new();
        let now = self.clock.now();
        for (key, entry) in self.conns.iter_mut() {
            match self.service.timeout(now, &mut entry.conn) {
                Some(_) => idle.push(key),
                None => {
                    if let Some(d) = entry.conn.deadline() {
                        next = Some(next.map_or(d, |n| n.min(d)));
                    }
                }
            }
        }
        for key in idle {
            self.conns.remove(key);
        }
        let soonest = self.clock.now().saturating_add(SWEEP_EVERY);
        self.next_sweep = next.map(|at| at.max(soonest));
    }

    fn on_signal(&mut self) {
        let Some(s) = &mut self.signals else { return };
        s.drain();
        if s.take_hangup() {
            self.service.log_mut().reopen();
        }
        if s.stop_asked() {
            self.stop.stop();
        }
    }

    /// Closes everything through the driver and writes `shutdown`.
    fn shutdown(mut self) -> Summary {
        let now = self.clock.now();
        self.service
            .shutdown(now, self.conns.iter_mut().map(|(_, e)| &mut e.conn));
        let lost_records = self.service.log_mut().close();
        self.conns.clear();
        Summary { lost_records }
    }
}

/// A non-blocking listener with SO_REUSEADDR (Unix) and a large backlog.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // Unix: rebind at once over connections in TIME_WAIT. Windows does that by default, and
    // there SO_REUSEADDR would let a second server take the same port.
    if cfg!(unix) {
        socket.set_reuse_address(true)?;
    }
    if addr.is_ipv6() {
        // `::` serves IPv4 too where the system allows; a failure here is harmless.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Accept errors about one connection that leave the listener fine.
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Interrupted | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) || is_eproto(e)
}

/// EPROTO: a protocol error on a connection still in the accept queue (Unix only).
#[cfg(unix)]
fn is_eproto(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EPROTO)
}

#[cfg(not(unix))]
fn is_eproto(_: &io::Error) -> bool {
    false
}
