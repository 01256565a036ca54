//! TCP pingpong: each connection sends a message and reads its whole echo before the next,
//! at once (closed loop) or when the next one is due (`--rate`, open loop; see
//! [`super::schedule`]).

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Poll};

use super::connect;
use super::payload::{self, Message, Pattern};
use super::progress::{Progress, load_line};
use super::schedule::Schedule;
use super::stats::Stats;
use super::summary::Report;
use super::{Clock, Error, Run, TICK};

/// Whether each arrival of data raises a new readiness event even when the last read did
/// not drain the socket (epoll and kqueue do; Windows' emulation needs the `WouldBlock`).
const EVENT_PER_ARRIVAL: bool = cfg!(unix);

/// One connection's state.
struct Conn {
    sock: Option<TcpStream>,
    /// Its number (and poll token).
    index: usize,
    seed: u64,
    /// Number of the current (or next) message of this connection.
    n: u64,
    message: Message,
    /// Bytes of the current message written, and echoed.
    sent: usize,
    got: usize,
    busy: bool,
    /// When the current message was due (closed loop: when it was started).
    due: Instant,
    /// When a byte last moved (for `--timeout`).
    progress: Instant,
    /// Open loop: messages of this connection handed out by the schedule, and started.
    released: u64,
    started: u64,
}

/// The loop's state besides the connections.
struct Driver<'r, 'a> {
    run: &'r Run<'a>,
    clock: Clock,
    stats: Stats,
    schedule: Option<Schedule>,
    /// Messages out (sent, echo not complete).
    busy: usize,
    alive: usize,
    rbuf: Vec<u8>,
    /// The message being written, made contiguous.
    sbuf: Vec<u8>,
}

/// Runs pingpong over TCP.
pub fn run(run: &Run) -> Result<Report, Error> {
    let config = run.config;
    let (mut poll, mut progress, opened) = connect::open_tcp(run)?;
    let now = Instant::now();
    let mut conns: Vec<Conn> = opened
        .socks
        .into_iter()
        .enumerate()
        .map(|(i, sock)| Conn {
            sock,
            index: i,
            seed: payload::seed(i),
            n: 0,
            message: Pattern::message(payload::seed(i), 0, config.size),
            sent: 0,
            got: 0,
            busy: false,
            due: now,
            progress: now,
            released: 0,
            started: 0,
        })
        .collect();
    let clock = Clock::starting_now(config);
    let mut driver = Driver {
        run,
        clock,
        stats: Stats::new(),
        schedule: config
            .rate
            .map(|rate| Schedule::new(clock.start, rate, config.conns)),
        busy: 0,
        alive: opened.connected,
        rbuf: vec![0; config.size],
        sbuf: vec![0; config.size],
    };
    // Connections that could not be opened are errors of this run.
    driver.stats.errors += opened.failed as u64;
    if let Some(first) = opened.first_error {
        driver.stats.first_problem = Some(first);
    }
    if driver.schedule.is_none() {
        for conn in conns.iter_mut() {
            driver.start(conn, clock.start, clock.start);
        }
    }
    let stopped = driver.run_loop(&mut poll, &mut conns, &mut progress)?;
    Ok(Report::round_trips(
        config,
        &driver.stats,
        clock.measured(stopped),
        run.stop.is_set(),
    ))
}

impl Driver<'_, '_> {
    /// Drives every connection until the end (and the drain), a stop, or all are dead;
    /// returns when it stopped.
    fn run_loop(
        &mut self,
        poll: &mut Poll,
        conns: &mut [Conn],
        progress: &mut Progress,
    ) -> io::Result<Instant> {
        let timeout = self.run.config.timeout;
        let mut events = Events::with_capacity(1024);
        let mut next_tick = self.clock.start + TICK;
        loop {
            let now = Instant::now();
            if self.run.stop.is_set() {
                return Ok(now);
            }
            let sending = now < self.clock.end;
            if self.alive == 0 || (!sending && self.busy == 0) {
                return Ok(now);
            }
            let mut wait = next_tick.saturating_duration_since(now);
            if sending {
                wait = wait.min(self.clock.end - now);
                if let Some(schedule) = &mut self.schedule {
                    wait = schedule.release(now, wait, |index| conns[index].released += 1);
                    // Idle connections with a message due start it now.
                    for conn in conns
                        .iter_mut()
                        .filter(|c| !c.busy && c.released > c.started)
                    {
                        self.start_due(conn, now);
                    }
                }
            }
            super::poll(poll, &mut events, wait)?;
            for event in events.iter() {
                let Some(conn) = conns.get_mut(event.token().0) else {
                    continue;
                };
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                self.drive(conn, readable);
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                for (index, conn) in conns.iter_mut().enumerate() {
                    if conn.busy && conn.sock.is_some() && now - conn.progress >= timeout {
                        let (got, size, n) = (conn.got, self.run.config.size, conn.n);
                        self.kill(conn, || {
                            format!("connection {index}: no echo for {timeout:?} ({got} of {size} bytes of message {n} back)")
                        });
                    }
                }
                let measured = self.clock.measured(now);
                let stats = &self.stats;
                progress.tick(now, || load_line(stats, measured, false));
                if now >= self.clock.end + timeout {
                    return Ok(now);
                }
            }
        }
    }

    /// Starts the next message of `conn`, due at `due`, at `now`.
    fn start(&mut self, conn: &mut Conn, due: Instant, now: Instant) {
        if conn.sock.is_none() {
            return;
        }
        conn.message = Pattern::message(conn.seed, conn.n, self.run.config.size);
        conn.sent = 0;
        conn.got = 0;
        conn.busy = true;
        conn.due = due;
        conn.progress = now;
        self.busy += 1;
        if let Err(e) = self.write(conn) {
            self.fail(conn, e);
        }
    }

    /// Open loop: starts the connection's next scheduled message.
    fn start_due(&mut self, conn: &mut Conn, now: Instant) {
        let Some(schedule) = &self.schedule else {
            return;
        };
        let due = schedule.due_of(conn.index, conn.started);
        conn.started += 1;
        self.start(conn, due, now);
    }

    /// Writes what is left of the current message.
    fn write(&mut self, conn: &mut Conn) -> io::Result<()> {
        let size = self.run.config.size;
        let Some(sock) = conn.sock.as_mut() else {
            return Ok(());
        };
        while conn.sent < size {
            let bytes = self
                .run
                .pattern
                .bytes_from(conn.message, conn.sent, &mut self.sbuf);
            match sock.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => conn.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Handles an event: finish a write, read the echo, start the next message.
    fn drive(&mut self, conn: &mut Conn, readable: bool) {
        if conn.sock.is_none() || !conn.busy {
            // An idle connection has nothing outstanding; data or a close now is a fault
            // that the next message (or the final drain) will see.
            if readable && conn.sock.is_some() && !conn.busy {
                self.read_idle(conn);
            }
            return;
        }
        if let Err(e) = self.write(conn) {
            return self.fail(conn, e);
        }
        if !readable {
            return;
        }
        if let Err(e) = self.read(conn) {
            self.fail(conn, e);
        }
    }

    /// Reads the echo of the current message until it is complete or nothing is left.
    fn read(&mut self, conn: &mut Conn) -> io::Result<()> {
        loop {
            let size = self.run.config.size;
            let want = size - conn.got;
            let Some(sock) = conn.sock.as_mut() else {
                return Ok(());
            };
            let n = match sock.read(&mut self.rbuf[..want]) {
                Ok(0) => return Err(connect::closed()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let now = Instant::now();
            conn.progress = now;
            let wrong = self
                .run
                .pattern
                .mismatches(conn.message, conn.got, &self.rbuf[..n]);
            let (at, number) = (conn.got, conn.n);
            self.stats.mismatched(wrong, || {
                format!(
                    "connection {}: echo of message {number} differs in {wrong} of bytes {at}..{}",
                    conn.index,
                    at + n
                )
            });
            conn.got += n;
            if conn.got < size {
                continue;
            }
            self.complete(conn, now);
            if EVENT_PER_ARRIVAL {
                return Ok(());
            }
            if !conn.busy {
                // Idle (open loop, next message not due): on Windows mio re-arms a socket
                // only after a read saw WouldBlock, so look once more, as an idle one.
                self.read_idle(conn);
                return Ok(());
            }
        }
    }

    /// The echo of the current message is complete at `now`.
    fn complete(&mut self, conn: &mut Conn, now: Instant) {
        conn.busy = false;
        self.busy -= 1;
        // Closed loop: what completes inside the window counts. Open loop: what was due
        // inside it, so the rate achieved is what the server kept up with (a backlog from
        // the warm-up caught up inside the window does not count twice).
        let counted = if self.schedule.is_some() {
            conn.due
        } else {
            now
        };
        if self.clock.measuring(counted) {
            self.stats.round_trips += 1;
            self.stats.echoed += self.run.config.size as u64;
            self.stats.record(now - conn.due);
        }
        conn.n += 1;
        if now >= self.clock.end || self.run.stop.is_set() {
            return;
        }
        if self.schedule.is_none() {
            self.start(conn, now, now);
        } else if conn.released > conn.started {
            self.start_due(conn, now);
        }
    }

    /// Data or a close on a connection with nothing outstanding.
    fn read_idle(&mut self, conn: &mut Conn) {
        let Some(sock) = conn.sock.as_mut() else {
            return;
        };
        let mut byte = [0u8; 1];
        match sock.read(&mut byte) {
            Ok(0) => self.fail(conn, connect::closed()),
            Ok(_) => {
                let index = conn.index;
                self.stats.mismatched(1, || {
                    format!("connection {index}: bytes that were never sent came back")
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.fail(conn, e),
        }
    }

    fn fail(&mut self, conn: &mut Conn, error: io::Error) {
        let index = conn.index;
        self.kill(conn, || format!("connection {index}: {error}"));
    }

    /// Counts an error and closes the connection.
    fn kill(&mut self, conn: &mut Conn, what: impl FnOnce() -> String) {
        if conn.sock.take().is_none() {
            return;
        }
        self.stats.error(what);
        self.alive -= 1;
        if conn.busy {
            conn.busy = false;
            self.busy -= 1;
        }
    }
}
