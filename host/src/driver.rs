//! The one driver between echo-core and a transport: the seam both runners share.
//!
//! A runner (std sockets through mio in [`crate::net::std_tcp`], smoltcp on a TAP in
//! [`crate::net::smol_tap`]) only moves bytes and reports events. Everything else lives
//! here, once: connection numbering and `--max-conns`, feeding each connection's
//! [`Machine`], logging `connected`/`echo`/`closed`/`rejected`/`refused`/`shutdown`
//! records, idle deadlines, the UDP policy, and the totals.
//!
//! Runner's contract:
//! 1. [`Service::listening`] once per bound socket.
//! 2. On a new TCP connection, [`Service::accept`]: `None` means rejected (already
//!    logged): close the socket at once.
//! 3. When a connection's socket is readable or writable, [`Service::pump`] with a
//!    [`Stream`] over it; on [`Progress::Closed`] close the socket (the record is logged).
//! 4. At [`Service::poll_timeout`], [`Service::timeout`] for connections whose deadline
//!    (idle close, or `--flush-after` of an unterminated line) passed.
//! 5. For each UDP datagram, [`Service::datagram`]; send the datagram back when it says so.
//! 6. After each round of events, [`Service::end_of_batch`]; at the end
//!    [`Service::shutdown`] with the connections still open.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;

use echo_core::echo::{self, Machine};
use echo_core::record::{Event, Proto, Reason, Record, Totals};
use echo_core::time::Instant;
use echo_core::udp;

use crate::server::buffer::CappedVec;
use crate::server::clock::{Clock, wall_now};
use crate::server::log::LogSink;

/// Source addresses the UDP rate limiter tracks at once.
pub const UDP_SOURCES: usize = 1024;

/// Bytes a connection may hold for sending before the server stops reading it.
pub const PENDING_CAP: usize = 64 * 1024;

/// Most bytes one [`Service::pump`] call reads, so one busy client cannot starve others.
const PUMP_BUDGET: usize = 256 * 1024;

/// A connected byte stream, non-blocking. Both transports implement it.
pub trait Stream {
    /// Reads into `buf`: `Ok(0)` is end of stream, `Err(WouldBlock)` means nothing now.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Sends from `data`: how many bytes were taken; `Err(WouldBlock)` means none now.
    fn send(&mut self, data: &[u8]) -> io::Result<usize>;
}

/// What a connection needs after a [`Service::pump`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Still open. `wants_write`: bytes wait to be sent (watch for writability; reading is
    /// paused until they go). `more`: the read budget ran out with data possibly left, so
    /// pump again soon even without a new readiness event.
    Open { wants_write: bool, more: bool },
    /// Closed for this reason; the `closed` record is written. Close the socket.
    Closed(Reason),
}

/// Server settings the driver needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Per-connection echo settings (max line, idle timeout, framing).
    pub echo: echo::Config,
    /// Concurrent TCP connections served; more are rejected.
    pub max_conns: usize,
    /// UDP datagrams a second per source address (0: unlimited).
    pub udp_rate: u32,
}

/// One served TCP connection.
#[derive(Debug)]
pub struct Connection {
    id: u64,
    peer: Box<str>,
    machine: Machine<CappedVec>,
}

impl Connection {
    /// The connection number in the log.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When [`Service::timeout`] should look at this connection again.
    pub fn deadline(&self) -> Option<Instant> {
        self.machine.poll_timeout()
    }

    /// Whether bytes are waiting to be sent.
    pub fn wants_write(&self) -> bool {
        !self.machine.poll_transmit().is_empty()
    }
}

/// The server-wide state shared by every connection and datagram.
#[derive(Debug)]
pub struct Service {
    settings: Settings,
    log: LogSink,
    clock: Clock,
    udp: Box<udp::Policy<UDP_SOURCES>>,
    scratch: Vec<u8>,
    next_conn: u64,
    open: usize,
    totals: Totals,
    bytes_in: u64,
    bytes_out: u64,
}

impl Service {
    /// A service logging to `log`.
    pub fn new(settings: Settings, log: LogSink, clock: Clock) -> Self {
        let mut settings = settings;
        settings.echo.frame_lines = log.enabled(Event::Echo.level());
        let udp = Box::new(udp::Policy::new(settings.udp_rate));
        Service {
            settings,
            log,
            clock,
            udp,
            scratch: vec![0; PENDING_CAP.max(udp::MAX_DATAGRAM + 1)],
            next_conn: 1,
            open: 0,
            totals: Totals::default(),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// The monotonic clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The clock, for converting deadlines.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Logs `listening` for a bound socket (always written, whatever the level).
    pub fn listening(&mut self, addr: SocketAddr, proto: Proto) {
        let addr = addr.to_string();
        let r = Record {
            addr: Some(&addr),
            proto: Some(proto),
            ..Record::event(wall_now(), Event::Listening)
        };
        self.log.write_always(&r);
    }

    /// Logs an `error` record (e.g. a failed accept) with its text.
    pub fn error(&mut self, text: &str) {
        let r = Record {
            msg: Some(text.as_bytes()),
            ..Record::event(wall_now(), Event::Error)
        };
        self.log.write(&r);
    }

    /// A new TCP connection from `peer`: `Some` to serve it, `None` when over
    /// `--max-conns` (the `rejected` record is written; close the socket at once).
    pub fn accept(&mut self, peer: SocketAddr) -> Option<Connection> {
        let id = self.next_conn;
        self.next_conn += 1;
        let peer: Box<str> = peer.to_string().into_boxed_str();
        if self.open >= self.settings.max_conns {
            self.totals.rejected += 1;
            let r = Record {
                conn: Some(id),
                peer: Some(&peer),
                proto: Some(Proto::Tcp),
                reason: Some(Reason::MaxConns),
                ..Record::event(wall_now(), Event::Rejected)
            };
            self.log.write(&r);
            return None;
        }
        self.open += 1;
        self.totals.conns += 1;
        let r = Record {
            conn: Some(id),
            peer: Some(&peer),
            proto: Some(Proto::Tcp),
            ..Record::event(wall_now(), Event::Connected)
        };
        self.log.write(&r);
        let echo = &self.settings.echo;
        let machine = Machine::new(
            self.clock.now(),
            echo,
            CappedVec::new(PENDING_CAP),
            CappedVec::new(echo.max_line.saturating_add(2)),
        );
        Some(Connection { id, peer, machine })
    }

    /// Moves bytes on a ready connection: sends what is pending, then reads and echoes
    /// until the socket would block, the pending buffer is full (backpressure: stop
    /// reading), or the read budget is spent.
    pub fn pump(&mut self, conn: &mut Connection, stream: &mut impl Stream) -> Progress {
        let mut budget = PUMP_BUDGET;
        // One clock read per pump: the idle deadline needs milliseconds, not precision.
        let now = self.clock.now();
        loop {
            if let Err(reason) = self.flush(now, conn, stream) {
                return self.close(conn, reason);
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
            let window = conn
                .machine
                .receive_window()
                .min(self.scratch.len())
                .min(budget);
            match stream.recv(&mut self.scratch[..window]) {
                Ok(0) => {
                    // End of stream: whatever is pending was flushed above.
                    return self.close(conn, Reason::Eof);
                }
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    if let Err(reason) = self.input(now, conn, stream, n) {
                        return self.close(conn, reason);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    return Progress::Open {
                        wants_write: false,
                        more: false,
                    };
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return self.close(conn, reason_of(&e)),
            }
        }
    }

    /// Echoes and logs `scratch[..n]`. When nothing older waits, the bytes are sent straight
    /// from the scratch buffer (zero-copy) and only what the socket did not take is queued.
    /// A send error is returned after the input is logged.
    fn input(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        stream: &mut impl Stream,
        n: usize,
    ) -> Result<(), Reason> {
        let data = &self.scratch[..n];
        let mut sent = 0;
        let mut result = Ok(());
        if !conn.wants_write() {
            loop {
                match stream.send(data) {
                    Ok(k) => sent = k.min(n),
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => result = Err(reason_of(&e)),
                }
                break;
            }
        }
        let Connection { id, peer, machine } = conn;
        let log = &mut self.log;
        let echoes = &mut self.totals.echoes;
        let mut ts = None;
        // The window was the machine's receive window, so it takes all `n` bytes.
        machine.handle_input_sent(now, data, sent, |line| {
            *echoes += 1;
            let ts = *ts.get_or_insert_with(wall_now);
            log.write(&echo_record(ts, *id, peer, line));
        });
        self.bytes_in += n as u64;
        self.bytes_out += sent as u64;
        result
    }

    /// Sends pending bytes until done or the socket would block.
    fn flush(
        &mut self,
        now: Instant,
        conn: &mut Connection,
        stream: &mut impl Stream,
    ) -> Result<(), Reason> {
        while conn.wants_write() {
            match stream.send(conn.machine.poll_transmit()) {
                Ok(0) => return Err(Reason::Error),
                Ok(n) => {
                    conn.machine.handle_sent(now, n);
                    self.bytes_out += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(reason_of(&e)),
            }
        }
        Ok(())
    }

    /// The earliest idle deadline among `conns`, if any (for the poll timeout).
    pub fn poll_timeout<'c>(
        &self,
        conns: impl IntoIterator<Item = &'c Connection>,
    ) -> Option<Instant> {
        conns.into_iter().filter_map(Connection::deadline).min()
    }

    /// Checks `conn`'s deadlines: an unterminated line idle past `--flush-after` is logged
    /// as it stands; `Some(Progress::Closed(Idle))` when it was closed (record written:
    /// close the socket).
    pub fn timeout(&mut self, conn: &mut Connection) -> Option<Progress> {
        let Connection { id, peer, machine } = &mut *conn;
        let log = &mut self.log;
        let echoes = &mut self.totals.echoes;
        let reason = machine.handle_timeout(self.clock.now(), |line| {
            *echoes += 1;
            log.write(&echo_record(wall_now(), *id, peer, line));
        })?;
        Some(self.close(conn, reason))
    }

    /// Closes `conn` for `reason` (a pending partial line is logged): writes `closed`.
    /// Runners use it for shutdown and for errors they see themselves.
    pub fn close(&mut self, conn: &mut Connection, reason: Reason) -> Progress {
        let ts = wall_now();
        let Connection { id, peer, machine } = conn;
        let log = &mut self.log;
        let echoes = &mut self.totals.echoes;
        let stats = machine.handle_close(|line| {
            *echoes += 1;
            log.write(&echo_record(ts, *id, peer, line));
        });
        let r = Record {
            conn: Some(*id),
            peer: Some(peer),
            reason: Some(reason),
            bytes_in: Some(stats.bytes_in),
            bytes_out: Some(stats.bytes_out),
            ..Record::event(ts, Event::Closed)
        };
        self.log.write(&r);
        self.open = self.open.saturating_sub(1);
        Progress::Closed(reason)
    }

    /// After each round of events: flushes the console, and the file when due.
    pub fn end_of_batch(&mut self) {
        self.log.end_of_batch();
    }

    /// SIGHUP: reopens the log file at its path (see [`LogSink::reopen`]).
    pub fn reopen_log(&mut self) {
        self.log.reopen();
    }

    /// Writes every buffered record out now (after `listening`, so scripts see it at once).
    pub fn flush_log(&mut self) {
        self.log.flush();
    }

    /// How long the loop may sleep before [`Service::end_of_batch`] must run again.
    pub fn next_flush_in(&self) -> Option<std::time::Duration> {
        self.log.next_flush_in()
    }

    /// Stops: closes every connection still open (reason `shutdown`), writes `shutdown`
    /// with the totals, and flushes the log. Returns records lost to log write errors.
    pub fn shutdown<'c>(&mut self, open: impl IntoIterator<Item = &'c mut Connection>) -> u64 {
        for conn in open {
            self.close(conn, Reason::Shutdown);
        }
        let r = Record {
            bytes_in: Some(self.bytes_in),
            bytes_out: Some(self.bytes_out),
            totals: Some(Totals {
                console_dropped: self.log.console_dropped(),
                ..self.totals
            }),
            ..Record::event(wall_now(), Event::Shutdown)
        };
        self.log.write_always(&r);
        self.log.close()
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        self.totals
    }
}

fn echo_record<'a>(
    ts: echo_core::time::Timestamp,
    id: u64,
    peer: &'a str,
    line: echo::Line<'a>,
) -> Record<'a> {
    Record {
        conn: Some(id),
        peer: Some(peer),
        msg: Some(line.bytes),
        partial: line.partial,
        ..Record::event(ts, Event::Echo)
    }
}

fn reason_of(e: &io::Error) -> Reason {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Reason::Reset
        }
        _ => Reason::Error,
    }
}

mod datagram;

#[cfg(test)]
mod tests;
