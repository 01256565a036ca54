//! TCP pingpong: the [`engine`](super::engine)'s transport over TCP streams, where a
//! message may go out and its echo come back in pieces.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

use super::connect;
use super::engine::{self, Slot, Stall, Step, Transport};
use super::payload::{self, Outbox, Pattern};
use super::{Error, Outcome, Run};

/// Whether each arrival of data raises a new readiness event even when the last read did
/// not drain the socket (epoll and kqueue do; Windows' emulation needs the `WouldBlock`).
const EVENT_PER_ARRIVAL: bool = cfg!(unix);

/// Most memory the connections of a thread keep their messages in (see [`Conn::out`]).
const OWN_BUFFERS: usize = 64 << 20;

/// One connection's transport state.
pub struct Conn {
    sock: TcpStream,
    /// Its messages, stamped in place when they start: written from, and their echoes
    /// checked against, with no copy or reassembly per call. `None` when the connections'
    /// messages would not fit [`OWN_BUFFERS`]: then each write copies from the pattern into
    /// a shared buffer and each echo is checked part by part.
    out: Option<Outbox>,
    /// Bytes of the current message written, and echoed.
    sent: usize,
    got: usize,
    /// When a byte last moved (for `--timeout`).
    progress: Instant,
}

/// Pingpong over TCP streams.
struct Tcp<'a> {
    pattern: &'a Pattern,
    size: usize,
    rbuf: Vec<u8>,
    /// The message being written, made contiguous.
    sbuf: Vec<u8>,
}

/// Runs pingpong over TCP.
pub fn run(run: &Run) -> Result<Outcome, Error> {
    let config = run.config;
    let (mut poll, mut progress, opened) = connect::open_tcp(run)?;
    let now = Instant::now();
    let own = opened
        .socks
        .len()
        .saturating_mul(config.size * payload::BODIES)
        <= OWN_BUFFERS;
    let conns = opened
        .socks
        .into_iter()
        .map(|sock| {
            sock.map(|sock| Conn {
                sock,
                out: own.then(|| Outbox::new(config.size)),
                sent: 0,
                got: 0,
                progress: now,
            })
        })
        .collect();
    let mut stats = run.stats();
    // Connections that could not be opened are errors of this run.
    stats.counts.errors += opened.failed as u64;
    stats.first_problem = opened.first_error;
    let tcp = Tcp {
        pattern: run.pattern,
        size: config.size,
        rbuf: vec![0; config.size],
        sbuf: vec![0; config.size],
    };
    let ended = engine::run(run, tcp, conns, stats, &mut poll, &mut progress)?;
    Ok(Outcome::new(run, ended.stats, ended.clock, ended.stopped))
}

impl Tcp<'_> {
    /// Writes what is left of the current message.
    #[inline(always)]
    fn write(&mut self, conn: &mut Conn, slot: &Slot) -> io::Result<()> {
        while conn.sent < self.size {
            let bytes = match &conn.out {
                Some(out) => &out.bytes()[conn.sent..],
                None => self
                    .pattern
                    .bytes_from(&slot.message, conn.sent, &mut self.sbuf),
            };
            match conn.sock.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads the echo of the current message until it is complete or nothing is left.
    #[inline(always)]
    fn read(&mut self, conn: &mut Conn, slot: &Slot, stats: &mut super::stats::Stats) -> Step {
        loop {
            let want = self.size - conn.got;
            let n = match conn.sock.read(&mut self.rbuf[..want]) {
                Ok(0) => return Step::Failed(connect::closed()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Step::Pending,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Step::Failed(e),
            };
            let now = Instant::now();
            conn.progress = now;
            let at = conn.got;
            let got = &self.rbuf[..n];
            let wrong = match &conn.out {
                Some(out) => payload::wrong_bytes(&out.bytes()[at..at + n], got),
                None => self.pattern.mismatches(&slot.message, at, got),
            };
            stats.mismatched(wrong, || {
                format!(
                    "connection {}: echo of message {} differs in {wrong} of bytes {at}..{}",
                    slot.index,
                    slot.n,
                    at + n
                )
            });
            conn.got += n;
            if conn.got == self.size {
                return Step::Echoed(now);
            }
        }
    }

    /// Data or a close on a connection with nothing outstanding.
    fn read_idle(conn: &mut Conn, slot: &Slot, stats: &mut super::stats::Stats) -> Step {
        let mut byte = [0u8; 1];
        match conn.sock.read(&mut byte) {
            Ok(0) => Step::Failed(connect::closed()),
            Ok(_) => {
                let index = slot.index;
                stats.mismatched(1, || {
                    format!("connection {index}: bytes that were never sent came back")
                });
                Step::Pending
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Step::Pending,
            Err(e) => Step::Failed(e),
        }
    }
}

impl Transport for Tcp<'_> {
    type Conn = Conn;
    const AGAIN: bool = !EVENT_PER_ARRIVAL;
    const NOUN: &'static str = "connection";

    #[inline(always)]
    fn start(&mut self, conn: &mut Conn, slot: &Slot, now: Instant) -> io::Result<()> {
        conn.sent = 0;
        conn.got = 0;
        conn.progress = now;
        if let Some(out) = &mut conn.out {
            out.stamp(self.pattern, &slot.message);
        }
        self.write(conn, slot)
    }

    #[inline(always)]
    fn step(
        &mut self,
        conn: &mut Conn,
        slot: &Slot,
        readable: bool,
        stats: &mut super::stats::Stats,
    ) -> Step {
        if !slot.busy {
            // An idle connection has nothing outstanding; data or a close now is a fault.
            return if readable {
                Self::read_idle(conn, slot, stats)
            } else {
                Step::Pending
            };
        }
        if let Err(e) = self.write(conn, slot) {
            return Step::Failed(e);
        }
        if !readable {
            return Step::Pending;
        }
        self.read(conn, slot, stats)
    }

    fn stalled(&self, conn: &Conn, slot: &Slot, now: Instant, timeout: Duration) -> Option<Stall> {
        (now - conn.progress >= timeout).then(|| {
            Stall::Error(format!(
                "no echo for {timeout:?} ({} of {} bytes of message {} back)",
                conn.got, self.size, slot.n
            ))
        })
    }
}
