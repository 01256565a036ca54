//! What an echo server decides, once, for every runner: connection numbering and
//! `--max-conns`, feeding each connection's [`Machine`], the `listening`, `connected`,
//! `echo`, `closed`, `rejected`, `refused`, `error` and `shutdown` records, idle deadlines,
//! the UDP policy's verdicts, the totals, and how bytes are pumped (a read budget per call,
//! zero-copy echo, backpressure).
//!
//! A runner (mio over OS sockets, smoltcp on a TAP or a device) only moves bytes and reports
//! events; it lends the memory (a scratch buffer, the UDP policy, each connection's
//! [`Buffer`]s), passes the time in, and gives records a [`Log`] sink.
//!
//! Runner's contract:
//! 1. [`Service::listening`] once per bound socket.
//! 2. On a new TCP connection, [`Service::accept`]: `None` means rejected (already
//!    logged): close the socket at once.
//! 3. When a connection's socket is readable or writable, [`Service::pump`] with a
//!    [`Stream`] over it; on [`Progress::Closed`] close the socket (the record is logged).
//! 4. At [`Connection::deadline`] (idle close, or `--flush-after` of an unterminated line),
//!    [`Service::timeout`].
//! 5. For each UDP datagram, [`Service::datagram`]; send the datagram back when it says so.
//! 6. At the end, [`Service::shutdown`] with the connections still open.

mod admission;
mod datagram;
pub mod defaults;
mod sink;
mod stream;
#[cfg(test)]
mod tests;

use core::net::SocketAddr;

use crate::buffer::{Buffer, NewBuffer};
use crate::echo::{self, Machine};
use crate::record::{Event, Proto, Reason, Record, Totals};
use crate::time::{Instant, Timestamp};

pub use admission::{Admission, Counter};
use sink::PeerText;
pub use sink::{Log, UdpPolicy};
pub use stream::{Stream, StreamError};

/// Bytes a connection may hold for sending before the server stops reading it (what
/// [`Service::accept`] asks of [`NewBuffer::with_capacity`] for the pending buffer).
pub const PENDING_CAP: usize = 64 * 1024;

/// Most bytes one [`Service::pump`] call reads, so one busy client cannot starve others.
pub const PUMP_BUDGET: usize = 256 * 1024;

/// What a connection needs after a [`Service::pump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// Still open. `wants_write`: bytes wait to be sent (watch for writability; reading is
    /// paused until they go). `more`: the read budget ran out with data possibly left, so
    /// pump again soon even without a new readiness event.
    Open {
        /// Bytes wait to be sent.
        wants_write: bool,
        /// The read budget ran out.
        more: bool,
    },
    /// Closed for this reason; the `closed` record is written. Close the socket.
    Closed(Reason),
}

/// Server settings the service needs.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Settings {
    /// Per-connection echo settings (max line, idle timeout, framing).
    pub echo: echo::Config,
    /// Concurrent TCP connections served; more are rejected.
    pub max_conns: usize,
    /// UDP datagrams a second per source address (0: unlimited): [`Service::new`] sets
    /// the lent policy to it ([`UdpPolicy::set_rate`]).
    pub udp_rate: u32,
}

impl Default for Settings {
    /// The documented defaults ([`defaults`]): what `echokit server` and the firmware use
    /// unless told otherwise.
    fn default() -> Self {
        Settings {
            echo: echo::Config::default(),
            max_conns: defaults::MAX_CONNS,
            udp_rate: defaults::UDP_RATE,
        }
    }
}

/// One served TCP connection: its number, its peer and its echo machine.
///
/// Closed once: [`Service::close`] takes it by value; a [`Service::pump`] or
/// [`Service::timeout`] that closes it marks it closed, and the runner drops it (a closed
/// connection given to the service again is left alone, never counted twice).
#[derive(Debug)]
pub struct Connection<B: Buffer> {
    /// The number; [`CLOSED`] once closed (numbers start at 1), so the mark costs no byte.
    id: u64,
    peer: SocketAddr,
    machine: Machine<B>,
}

/// [`Connection::id`] of a connection the service has closed.
const CLOSED: u64 = 0;

impl<B: Buffer> Connection<B> {
    /// The connection number in the log (0 once the service has closed it).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// When [`Service::timeout`] should look at this connection again.
    pub fn deadline(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }

    /// Whether the service has closed it (its `closed` record is written).
    pub fn is_closed(&self) -> bool {
        self.id == CLOSED
    }

    /// Whether bytes are waiting to be sent.
    pub fn wants_write(&self) -> bool {
        !self.machine.poll_transmit().is_empty()
    }

    /// The echo machine (for a runner's tests and memory accounting).
    pub fn machine_mut(&mut self) -> &mut Machine<B> {
        &mut self.machine
    }
}

/// Counters for the `shutdown` record. A server with several services (one per worker
/// thread) adds the others' into the one that writes `shutdown` ([`Service::absorb`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    totals: Totals,
    bytes_in: u64,
    bytes_out: u64,
}

impl Counts {
    /// Adds `other` in. Every field is named, so a new total cannot be forgotten here.
    fn add(&mut self, other: &Counts) {
        let Totals {
            conns,
            rejected,
            echoes,
            refused_port,
            refused_rate,
            refused_busy,
            console_dropped,
        } = other.totals;
        let t = &mut self.totals;
        t.conns += conns;
        t.rejected += rejected;
        t.echoes += echoes;
        t.refused_port += refused_port;
        t.refused_rate += refused_rate;
        t.refused_busy += refused_busy;
        t.console_dropped += console_dropped;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
    }
}

/// The server-wide state shared by every connection and datagram.
///
/// `L` is the log sink, `S` the scratch buffer reads land in (at least a few hundred
/// bytes; 65,508 to take any UDP datagram), `P` the UDP policy, `A` who numbers and admits
/// connections ([`Counter`] for one service; shared atomics for several worker threads).
#[derive(Debug)]
pub struct Service<L, S, P, A = Counter> {
    settings: Settings,
    log: L,
    udp: P,
    scratch: S,
    admission: A,
    counts: Counts,
}

impl<L: Log, S: AsMut<[u8]>, P: UdpPolicy> Service<L, S, P, Counter> {
    /// A service logging to `log`, reading into `scratch`, answering datagrams as `udp`
    /// says, numbering connections from 1 itself. Lines are framed only when `echo`
    /// records are written at the log's level.
    pub fn new(settings: Settings, log: L, scratch: S, udp: P) -> Self {
        Service::with_admission(settings, log, scratch, udp, Counter::default())
    }
}

impl<L: Log, S: AsMut<[u8]>, P: UdpPolicy, A: Admission> Service<L, S, P, A> {
    /// [`Service::new`] with connection numbers and the `--max-conns` count kept by
    /// `admission` (shared by the services of one server).
    pub fn with_admission(settings: Settings, log: L, scratch: S, udp: P, admission: A) -> Self {
        let mut settings = settings;
        settings.echo.frame_lines = settings.echo.frame_lines && log.enabled(Event::Echo.level());
        let mut udp = udp;
        udp.set_rate(settings.udp_rate);
        Service {
            settings,
            log,
            udp,
            scratch,
            admission,
            counts: Counts::default(),
        }
    }

    /// The log sink.
    pub fn log(&self) -> &L {
        &self.log
    }

    /// The log sink, to flush it between rounds.
    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }

    /// The settings in force (`frame_lines` follows the log level).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Connections open now (in the whole server, when the admission is shared).
    pub fn open_connections(&self) -> usize {
        self.admission.open()
    }

    /// Logs `listening` for a bound socket (always written, whatever the level).
    pub fn listening(&mut self, now: Instant, addr: SocketAddr, proto: Proto) {
        let addr = PeerText::new(&addr);
        let r = Record {
            addr: Some(addr.as_str()),
            proto: Some(proto),
            ..Record::event(self.log.timestamp(now), Event::Listening)
        };
        self.log.write_always(&r);
    }

    /// Logs an `error` record (e.g. a failed accept) with its text.
    pub fn error(&mut self, now: Instant, text: &str) {
        if !self.log.enabled(Event::Error.level()) {
            return;
        }
        let r = Record {
            msg: Some(text.as_bytes()),
            ..Record::event(self.log.timestamp(now), Event::Error)
        };
        self.log.write(&r);
    }

    /// A new TCP connection from `peer`: `Some` to serve it, `None` when over
    /// `--max-conns` (the `rejected` record is written; close the socket at once). The
    /// connection's buffers are made with [`NewBuffer::with_capacity`]: [`PENDING_CAP`]
    /// for the echo, `max_line + 2` for the line kept for the log.
    pub fn accept<B: NewBuffer>(
        &mut self,
        now: Instant,
        peer: SocketAddr,
    ) -> Option<Connection<B>> {
        let (id, admitted) = self.admission.admit(self.settings.max_conns);
        let rejected = !admitted;
        let event = if rejected {
            self.counts.totals.rejected += 1;
            Event::Rejected
        } else {
            self.counts.totals.conns += 1;
            Event::Connected
        };
        if self.log.enabled(event.level()) {
            let text = PeerText::new(&peer);
            let r = Record {
                conn: Some(id),
                peer: Some(text.as_str()),
                proto: Some(Proto::Tcp),
                reason: rejected.then_some(Reason::MaxConns),
                ..Record::event(self.log.timestamp(now), event)
            };
            self.log.write(&r);
        }
        if rejected {
            return None;
        }
        let echo = &self.settings.echo;
        let machine = Machine::new(
            now,
            echo,
            B::with_capacity(PENDING_CAP),
            B::with_capacity(echo.max_line.saturating_add(2)),
        );
        Some(Connection { id, peer, machine })
    }

    /// Moves bytes on a ready connection: sends what is pending, then reads and echoes
    /// until the stream would block, the pending buffer is full (backpressure: stop
    /// reading), or the read budget is spent.
    pub fn pump<B: Buffer>(
        &mut self,
        now: Instant,
        conn: &mut Connection<B>,
        stream: &mut impl Stream,
    ) -> Progress {
        if conn.is_closed() {
            return Progress::Closed(Reason::Error);
        }
        let mut budget = PUMP_BUDGET;
        loop {
            if let Err(reason) = self.flush(now, conn, stream) {
                return self.close_in_place(now, conn, reason);
            }
            if conn.wants_write() {
                return Progress::Open {
                    wants_write: true,
                    more: false,
                };
            }
            if budget == 0 {
                return Progress::Open {
                    wants_write: false,
                    more: true,
                };
            }
            let scratch = self.scratch.as_mut();
            let window = conn.machine.receive_window().min(scratch.len()).min(budget);
            if window == 0 {
                // Only with an empty scratch buffer: nothing could ever be read.
                return self.close_in_place(now, conn, Reason::Error);
            }
            match stream.recv(&mut scratch[..window]) {
                Ok(0) => {
                    // End of stream: whatever is pending was flushed above.
                    return self.close_in_place(now, conn, Reason::Eof);
                }
                Ok(n) => {
                    let n = n.min(window);
                    budget = budget.saturating_sub(n);
                    if let Err(reason) = self.input(now, conn, stream, n) {
                        return self.close_in_place(now, conn, reason);
                    }
                }
                Err(StreamError::WouldBlock) => {
                    return Progress::Open {
                        wants_write: false,
                        more: false,
                    };
                }
                Err(StreamError::Interrupted) => {}
                Err(e) => return self.close_in_place(now, conn, reason_of(e)),
            }
        }
    }

    /// Echoes and logs `scratch[..n]`. When nothing older waits, the bytes are sent straight
    /// from the scratch buffer (zero-copy) and only what the stream did not take is queued.
    /// A send error is returned after the input is logged.
    fn input<B: Buffer>(
        &mut self,
        now: Instant,
        conn: &mut Connection<B>,
        stream: &mut impl Stream,
        n: usize,
    ) -> Result<(), Reason> {
        let data = &self.scratch.as_mut()[..n];
        let mut sent = 0;
        let mut result = Ok(());
        if !conn.wants_write() {
            loop {
                match stream.send(data) {
                    Ok(k) => sent = k.min(n),
                    Err(StreamError::Interrupted) => continue,
                    Err(StreamError::WouldBlock) => {}
                    Err(e) => result = Err(reason_of(e)),
                }
                break;
            }
        }
        let Connection {
            id, peer, machine, ..
        } = conn;
        let mut lines = Lines::new(&mut self.log, &mut self.counts, now, *id, peer);
        // The window was the machine's receive window, so it takes all `n` bytes.
        machine.handle_input_sent(now, data, sent, |line| lines.echo(line));
        self.counts.bytes_in += n as u64;
        self.counts.bytes_out += sent as u64;
        result
    }

    /// Sends pending bytes until done or the stream would block.
    fn flush<B: Buffer>(
        &mut self,
        now: Instant,
        conn: &mut Connection<B>,
        stream: &mut impl Stream,
    ) -> Result<(), Reason> {
        while conn.wants_write() {
            match stream.send(conn.machine.poll_transmit()) {
                Ok(0) => return Err(Reason::Error),
                Ok(n) => {
                    conn.machine.handle_sent(now, n);
                    self.counts.bytes_out += n as u64;
                }
                Err(StreamError::WouldBlock) => return Ok(()),
                Err(StreamError::Interrupted) => {}
                Err(e) => return Err(reason_of(e)),
            }
        }
        Ok(())
    }

    /// The earliest idle deadline among `conns`, if any (for the poll timeout).
    pub fn poll_timeout<'c, B: Buffer + 'c>(
        &self,
        conns: impl IntoIterator<Item = &'c Connection<B>>,
    ) -> Option<Instant> {
        conns.into_iter().filter_map(Connection::deadline).min()
    }

    /// Checks `conn`'s deadlines at `now`: an unterminated line idle past `--flush-after` is
    /// logged as it stands (`partial`); `Some(Progress::Closed(Idle))` when the connection
    /// was closed for idleness (record written: close the socket).
    pub fn timeout<B: Buffer>(
        &mut self,
        now: Instant,
        conn: &mut Connection<B>,
    ) -> Option<Progress> {
        if conn.is_closed() {
            return None;
        }
        let Connection {
            id, peer, machine, ..
        } = &mut *conn;
        let mut lines = Lines::new(&mut self.log, &mut self.counts, now, *id, peer);
        let reason = machine.handle_timeout(now, |line| lines.echo(line))?;
        Some(self.close_in_place(now, conn, reason))
    }

    /// Closes `conn` for `reason` (a pending partial line is logged): writes `closed`.
    /// Runners use it for errors they see themselves. It takes the connection, so it
    /// cannot be closed twice.
    pub fn close<B: Buffer>(
        &mut self,
        now: Instant,
        conn: Connection<B>,
        reason: Reason,
    ) -> Progress {
        let mut conn = conn;
        self.close_in_place(now, &mut conn, reason)
    }

    /// Closes `conn` unless it already is (then nothing is logged or counted).
    fn close_in_place<B: Buffer>(
        &mut self,
        now: Instant,
        conn: &mut Connection<B>,
        reason: Reason,
    ) -> Progress {
        if conn.is_closed() {
            return Progress::Closed(reason);
        }
        let Connection {
            id, peer, machine, ..
        } = conn;
        let mut lines = Lines::new(&mut self.log, &mut self.counts, now, *id, peer);
        let stats = machine.handle_close(|line| lines.echo(line));
        lines.closed(reason, stats);
        *id = CLOSED;
        self.admission.release();
        Progress::Closed(reason)
    }

    /// Closes every connection in `open` (reason `shutdown`), without the `shutdown`
    /// record: for a worker whose totals another service writes ([`Service::absorb`]).
    pub fn close_all<'c, B: Buffer + 'c>(
        &mut self,
        now: Instant,
        open: impl IntoIterator<Item = &'c mut Connection<B>>,
    ) {
        for conn in open {
            self.close_in_place(now, conn, Reason::Shutdown);
        }
    }

    /// What this service counted so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Adds another service's counts (another worker's) into this one's, for `shutdown`.
    pub fn absorb(&mut self, other: &Counts) {
        self.counts.add(other);
    }

    /// Stops: closes every connection still open (reason `shutdown`) and writes
    /// `shutdown` with the totals (always, whatever the level). The runner flushes its sink.
    pub fn shutdown<'c, B: Buffer + 'c>(
        &mut self,
        now: Instant,
        open: impl IntoIterator<Item = &'c mut Connection<B>>,
    ) {
        self.close_all(now, open);
        let r = Record {
            bytes_in: Some(self.counts.bytes_in),
            bytes_out: Some(self.counts.bytes_out),
            totals: Totals {
                console_dropped: self.log.dropped(),
                ..self.counts.totals
            }
            .into(),
            ..Record::event(self.log.timestamp(now), Event::Shutdown)
        };
        self.log.write_always(&r);
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        self.counts.totals
    }

    /// Bytes received and sent so far, TCP and UDP together.
    pub fn bytes(&self) -> (u64, u64) {
        (self.counts.bytes_in, self.counts.bytes_out)
    }
}

/// One connection's records at one instant: each line the machine hands out is counted and
/// logged as `echo`; the time is read and the peer formatted once, and only when a record
/// is written.
struct Lines<'s, L> {
    log: &'s mut L,
    counts: &'s mut Counts,
    now: Instant,
    id: u64,
    peer: &'s SocketAddr,
    stamp: Option<(Timestamp, PeerText)>,
}

impl<'s, L: Log> Lines<'s, L> {
    fn new(
        log: &'s mut L,
        counts: &'s mut Counts,
        now: Instant,
        id: u64,
        peer: &'s SocketAddr,
    ) -> Self {
        Lines {
            log,
            counts,
            now,
            id,
            peer,
            stamp: None,
        }
    }

    /// Writes the record `make` builds from the time and the peer's text.
    fn write(&mut self, make: impl FnOnce(Timestamp, &str, u64, &mut L)) {
        let Lines {
            log,
            now,
            id,
            peer,
            stamp,
            ..
        } = self;
        let (ts, text) = stamp.get_or_insert_with(|| (log.timestamp(*now), PeerText::new(peer)));
        make(*ts, text.as_str(), *id, log);
    }

    /// An `echo` record for `line`.
    fn echo(&mut self, line: echo::Line<'_>) {
        // `echoes` counts echo records written, so it means the same at every level.
        if !self.log.enabled(Event::Echo.level()) {
            return;
        }
        self.counts.totals.echoes += 1;
        self.write(|ts, peer, id, log| {
            log.write(&Record {
                conn: Some(id),
                peer: Some(peer),
                msg: Some(line.bytes),
                partial: line.partial.then_some(true),
                ..Record::event(ts, Event::Echo)
            });
        });
    }

    /// The `closed` record of a connection that moved `stats`.
    fn closed(&mut self, reason: Reason, stats: echo::Stats) {
        if !self.log.enabled(Event::Closed.level()) {
            return;
        }
        self.write(|ts, peer, id, log| {
            log.write(&Record {
                conn: Some(id),
                peer: Some(peer),
                reason: Some(reason),
                bytes_in: Some(stats.bytes_in),
                bytes_out: Some(stats.bytes_out),
                ..Record::event(ts, Event::Closed)
            });
        });
    }
}

/// The `reason` of a connection that ended in a stream error.
pub fn reason_of(e: StreamError) -> Reason {
    match e {
        StreamError::Reset => Reason::Reset,
        _ => Reason::Error,
    }
}
