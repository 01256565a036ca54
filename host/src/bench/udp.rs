//! UDP pingpong: each socket sends a datagram and waits for its echo before the next. A
//! datagram with no echo within `--timeout` is `lost` (UDP may drop it; not an error); an
//! echo that arrives after that is recognised as late and ignored; any other datagram
//! that differs from what was sent is mismatched bytes.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Instant;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};

use super::config::MAX_DATAGRAM;
use super::payload::{self, Message, Pattern};
use super::progress::{Progress, load_line};
use super::schedule::Schedule;
use super::stats::Stats;
use super::summary::Report;
use super::{Clock, Error, Run, TICK, limits};

/// How many earlier datagrams of a socket a late echo is looked for among.
const LATE_WINDOW: u64 = 8;

struct Sock {
    sock: Option<UdpSocket>,
    seed: u64,
    n: u64,
    message: Message,
    busy: bool,
    /// The datagram is ready but the socket's buffer was full: send on the next event.
    unsent: bool,
    due: Instant,
    sent_at: Instant,
    released: u64,
    started: u64,
}

struct Driver<'r, 'a> {
    run: &'r Run<'a>,
    clock: Clock,
    stats: Stats,
    schedule: Option<Schedule>,
    busy: usize,
    alive: usize,
    /// Sockets that got at least one echo back (none: "could not connect").
    answered: usize,
    sbuf: Vec<u8>,
    rbuf: Vec<u8>,
}

/// Opens a socket from connection `index`'s source, connected to the server (so only its
/// datagrams are received, and a closed port reports "refused").
fn open(run: &Run, index: usize) -> io::Result<UdpSocket> {
    let addr = run.config.addr;
    let local = run.config.source(index).unwrap_or(match addr {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    let sock = StdUdpSocket::bind(SocketAddr::new(local, 0))?;
    sock.connect(addr)?;
    sock.set_nonblocking(true)?;
    Ok(UdpSocket::from_std(sock))
}

/// Runs UDP pingpong.
pub fn run(run: &Run) -> Result<Report, Error> {
    let config = run.config;
    let poll = Poll::new()?;
    let mut progress = Progress::new(config.progress);
    let mut stats = Stats::new();
    let now = Instant::now();
    let mut socks = Vec::with_capacity(config.conns);
    let mut alive = 0;
    let mut limit = None;
    for index in 0..config.conns {
        let opened = match &limit {
            Some(advice) => Err(io::Error::other(String::clone(advice))),
            None => open(run, index).and_then(|mut s| {
                poll.registry()
                    .register(
                        &mut s,
                        Token(index),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map(|()| s)
            }),
        };
        let sock = match opened {
            Ok(sock) => {
                alive += 1;
                Some(sock)
            }
            Err(e) => {
                if limit.is_none() {
                    limit = limits::limit_reached(&e);
                }
                let cause = limit.clone().unwrap_or_else(|| e.to_string());
                stats.error(|| format!("socket {index}: {cause}"));
                None
            }
        };
        let seed = payload::seed(index);
        socks.push(Sock {
            sock,
            seed,
            n: 0,
            message: Pattern::message(seed, 0, config.size),
            busy: false,
            unsent: false,
            due: now,
            sent_at: now,
            released: 0,
            started: 0,
        });
    }
    if alive == 0 {
        return Err(Error::Connect {
            target: config.target.clone(),
            cause: stats.first_problem.unwrap_or_default(),
        });
    }
    let clock = Clock::starting_now(config);
    let mut driver = Driver {
        run,
        clock,
        stats,
        schedule: config
            .rate
            .map(|rate| Schedule::new(clock.start, rate, config.conns)),
        busy: 0,
        alive,
        answered: 0,
        sbuf: vec![0; config.size],
        rbuf: vec![0; MAX_DATAGRAM + 1],
    };
    if driver.schedule.is_none() {
        for sock in socks.iter_mut() {
            driver.start(sock, clock.start);
        }
    }
    let stopped = driver.run_loop(poll, &mut socks, &mut progress)?;
    if driver.answered == 0 && driver.stats.errors > 0 && !run.stop.is_set() {
        return Err(Error::Connect {
            target: config.target.clone(),
            cause: driver.stats.first_problem.unwrap_or_default(),
        });
    }
    Ok(Report::round_trips(
        config,
        &driver.stats,
        clock.measured(stopped),
        run.stop.is_set(),
    ))
}

impl Driver<'_, '_> {
    fn run_loop(
        &mut self,
        mut poll: Poll,
        socks: &mut [Sock],
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
                    wait = schedule.release(now, wait, |index| socks[index].released += 1);
                    for (index, sock) in socks.iter_mut().enumerate() {
                        if !sock.busy && sock.released > sock.started {
                            self.start_due(sock, index);
                        }
                    }
                }
            }
            super::poll(&mut poll, &mut events, wait)?;
            for event in events.iter() {
                let index = event.token().0;
                let Some(sock) = socks.get_mut(index) else {
                    continue;
                };
                if sock.unsent {
                    self.send(sock, index);
                }
                if event.is_readable() || event.is_error() {
                    self.receive(sock, index);
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                for (index, sock) in socks.iter_mut().enumerate() {
                    if sock.busy
                        && sock.sock.is_some()
                        && !sock.unsent
                        && now - sock.sent_at >= timeout
                    {
                        self.stats.lost += 1;
                        self.finish(sock, index, now, false);
                    }
                }
                let measured = self.clock.measured(now);
                let stats = &self.stats;
                progress.tick(now, || {
                    format!("{}  lost {}", load_line(stats, measured, false), stats.lost)
                });
                if now >= self.clock.end + timeout {
                    return Ok(now);
                }
            }
        }
    }

    fn start(&mut self, sock: &mut Sock, due: Instant) {
        if sock.sock.is_none() {
            return;
        }
        sock.message = Pattern::message(sock.seed, sock.n, self.run.config.size);
        sock.busy = true;
        sock.due = due;
        self.busy += 1;
        sock.unsent = true;
        // NOTE(index): the socket's number only names it in messages.
        self.send(sock, usize::MAX);
    }

    fn start_due(&mut self, sock: &mut Sock, index: usize) {
        let Some(schedule) = &self.schedule else {
            return;
        };
        let due = schedule.due_of(index, sock.started);
        sock.started += 1;
        self.start(sock, due);
    }

    fn send(&mut self, sock: &mut Sock, index: usize) {
        let Some(udp) = sock.sock.as_ref() else {
            return;
        };
        let datagram = self.run.pattern.fill(sock.message, &mut self.sbuf);
        match udp.send(datagram) {
            Ok(_) => {
                sock.unsent = false;
                sock.sent_at = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.fail(sock, index, e),
        }
    }

    /// Reads every datagram waiting on the socket.
    fn receive(&mut self, sock: &mut Sock, index: usize) {
        loop {
            let Some(udp) = sock.sock.as_ref() else {
                return;
            };
            let len = match udp.recv(&mut self.rbuf) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.fail(sock, index, e),
            };
            let now = Instant::now();
            let got = &self.rbuf[..len];
            let size = self.run.config.size;
            let wrong = |message: Message| {
                let pattern: &Pattern = self.run.pattern;
                let common = len.min(size);
                pattern.mismatches(message, 0, &got[..common]) + len.abs_diff(size) as u64
            };
            if sock.busy && !sock.unsent && wrong(sock.message) == 0 {
                self.answered += 1;
                self.finish(sock, index, now, true);
                continue;
            }
            // A late echo of a datagram already counted lost is no fault of this one.
            let late = (sock.n.saturating_sub(LATE_WINDOW)..sock.n)
                .any(|n| wrong(Pattern::message(sock.seed, n, size)) == 0);
            if late {
                continue;
            }
            let mismatched = wrong(sock.message);
            let n = sock.n;
            self.stats.mismatched(mismatched.max(1), || {
                format!("socket {index}: echo of datagram {n} differs in {mismatched} bytes ({len} bytes came, {size} were sent)")
            });
            if sock.busy && !sock.unsent {
                self.finish(sock, index, now, false);
            }
        }
    }

    /// The current datagram is done (echoed, or lost / wrong when `echoed` is false).
    fn finish(&mut self, sock: &mut Sock, index: usize, now: Instant, echoed: bool) {
        sock.busy = false;
        self.busy -= 1;
        // As over TCP: the open loop counts what was due inside the window.
        let counted = if self.schedule.is_some() {
            sock.due
        } else {
            now
        };
        if echoed && self.clock.measuring(counted) {
            self.stats.round_trips += 1;
            self.stats.echoed += self.run.config.size as u64;
            self.stats.record(now - sock.due);
        }
        sock.n += 1;
        if now >= self.clock.end || self.run.stop.is_set() {
            return;
        }
        if self.schedule.is_none() {
            self.start(sock, now);
        } else if sock.released > sock.started {
            self.start_due(sock, index);
        }
    }

    fn fail(&mut self, sock: &mut Sock, index: usize, error: io::Error) {
        if sock.sock.take().is_none() {
            return;
        }
        let cause = if error.kind() == io::ErrorKind::ConnectionRefused {
            "refused (nothing listens on that UDP port)".to_string()
        } else {
            error.to_string()
        };
        self.stats.error(|| format!("socket {index}: {cause}"));
        self.alive -= 1;
        if sock.busy {
            sock.busy = false;
            self.busy -= 1;
        }
    }
}
