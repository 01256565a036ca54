//! Connect mode (connection churn): each of the thread's workers opens a connection, sends
//! one message, checks its echo and closes, again and again. Counts how many such cycles a
//! second complete (`connect_per_s`), how long each connection took to open (from `connect`
//! to established: `connect_latency_us`) and its message's round trip (`latency_us`).

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::connect;
use super::payload::Pattern;
use super::progress::Progress;
use super::stats::Stats;
use super::{Clock, Error, Outcome, Run, TICK};

/// Where a worker is in its cycle.
enum State {
    /// Failed (an error was counted) or done.
    Stopped,
    Connecting {
        sock: TcpStream,
        since: Instant,
    },
    Echoing {
        sock: TcpStream,
        sent: usize,
        got: usize,
        sent_at: Instant,
        progress: Instant,
    },
}

struct Worker {
    state: State,
    /// Its number in the run, and the number of its current cycle.
    index: usize,
    n: u64,
}

/// The loop's state besides the workers.
struct Churn<'r, 'a> {
    run: &'r Run<'a>,
    poll: Poll,
    clock: Clock,
    stats: Stats,
    sbuf: Vec<u8>,
    rbuf: Vec<u8>,
    /// Connections that opened (none in the whole thread: "could not connect").
    opened: u64,
}

/// Runs connect mode.
pub fn run(run: &Run) -> Result<Outcome, Error> {
    let config = run.config;
    let clock = Clock::starting_now(config);
    let mut churn = Churn {
        run,
        poll: Poll::new()?,
        clock,
        stats: run.stats(),
        sbuf: vec![0; config.size],
        rbuf: vec![0; config.size],
        opened: 0,
    };
    churn.stats.window(clock.warm_end, config.duration);
    let mut workers: Vec<Worker> = run
        .part
        .clone()
        .map(|index| Worker {
            state: State::Stopped,
            index,
            n: 0,
        })
        .collect();
    for (token, worker) in workers.iter_mut().enumerate() {
        churn.begin(worker, token);
    }
    let mut progress = Progress::new(run);
    let mut events = Events::with_capacity(1024);
    let mut next_tick = clock.start + TICK;
    let stopped = loop {
        let now = Instant::now();
        let active = workers
            .iter()
            .filter(|w| !matches!(w.state, State::Stopped));
        if run.stop.is_set() || active.count() == 0 || now >= clock.end + config.timeout {
            break now;
        }
        super::poll(
            &mut churn.poll,
            &mut events,
            next_tick.saturating_duration_since(now),
        )?;
        for event in events.iter() {
            let token = event.token().0;
            if let Some(worker) = workers.get_mut(token) {
                churn.step(worker, token);
            }
        }
        let now = Instant::now();
        if now >= next_tick {
            next_tick = now + TICK;
            churn.stats.advance(now);
            for worker in workers.iter_mut() {
                churn.sweep(worker, now);
            }
            let (stats, measured) = (&churn.stats, clock.measured(now));
            progress.tick(now, || {
                let secs = measured.as_secs_f64();
                let rate = if secs > 0.0 {
                    format!(
                        "{:.0} connections/s",
                        stats.counts.round_trips as f64 / secs
                    )
                } else {
                    "warming up".into()
                };
                format!(
                    "{rate}  errors {}  mismatches {}",
                    stats.counts.errors, stats.counts.mismatches
                )
            });
        }
    };
    if churn.opened == 0 && !run.stop.is_set() {
        return Err(Error::Connect {
            target: config.target.clone(),
            cause: churn
                .stats
                .first_problem
                .unwrap_or_else(|| "no connection".into()),
        });
    }
    let mut stats = churn.stats;
    stats.finish(stopped, clock.measured(stopped));
    Ok(Outcome::new(run, stats, clock, stopped))
}

impl Churn<'_, '_> {
    /// Starts the worker's next cycle (before the end): a new connection.
    fn begin(&mut self, worker: &mut Worker, token: usize) {
        worker.state = State::Stopped;
        let now = Instant::now();
        if now >= self.clock.end || self.run.stop.is_set() {
            return;
        }
        let config = self.run.config;
        let attempt =
            connect::start(config.addr, config.source(worker.index)).and_then(|mut sock| {
                self.poll
                    .registry()
                    .register(
                        &mut sock,
                        Token(token),
                        Interest::READABLE | Interest::WRITABLE,
                    )
                    .map(|()| sock)
            });
        match attempt {
            Ok(sock) => worker.state = State::Connecting { sock, since: now },
            Err(e) => self.fail(worker, &e),
        }
    }

    /// Moves the worker's cycle on after an event.
    fn step(&mut self, worker: &mut Worker, token: usize) {
        if let State::Connecting { sock, since } = &worker.state {
            match connect::finished(sock) {
                Ok(false) => return,
                Ok(true) => {
                    let now = Instant::now();
                    self.opened += 1;
                    if self.clock.measuring(now) {
                        self.stats.advance(now);
                        self.stats.record_connect(now - *since);
                    }
                    let State::Connecting { sock, .. } =
                        std::mem::replace(&mut worker.state, State::Stopped)
                    else {
                        return;
                    };
                    worker.state = State::Echoing {
                        sock,
                        sent: 0,
                        got: 0,
                        sent_at: now,
                        progress: now,
                    };
                }
                Err(e) => return self.fail(worker, &e),
            }
        }
        match self.echo(worker) {
            Ok(false) => {}
            Ok(true) => {
                worker.n += 1;
                // Dropping the old connection closes it.
                self.begin(worker, token);
            }
            Err(e) => self.fail(worker, &e),
        }
    }

    /// Writes the message and reads its echo; `Ok(true)` when it came back whole.
    fn echo(&mut self, worker: &mut Worker) -> io::Result<bool> {
        let size = self.run.config.size;
        let message = Pattern::message(worker.index, worker.n, size);
        let State::Echoing {
            sock,
            sent,
            got,
            sent_at,
            progress,
        } = &mut worker.state
        else {
            return Ok(false);
        };
        while *sent < size {
            let bytes = self.run.pattern.bytes_from(&message, *sent, &mut self.sbuf);
            match sock.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => *sent += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        while *got < size {
            let k = match sock.read(&mut self.rbuf[..size - *got]) {
                Ok(0) => return Err(connect::closed()),
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let wrong = self.run.pattern.mismatches(&message, *got, &self.rbuf[..k]);
            let (index, n, at) = (worker.index, worker.n, *got);
            self.stats.mismatched(wrong, || {
                format!(
                    "connection {index}: echo of message {n} differs in {wrong} of bytes {at}..{}",
                    at + k
                )
            });
            *got += k;
            *progress = Instant::now();
        }
        let now = Instant::now();
        if self.clock.measuring(now) {
            let latency = now - *sent_at;
            self.stats.round_trip(now, size, latency, None);
        }
        Ok(true)
    }

    /// At a tick: a connection that has not opened, or not echoed, within `--timeout`.
    fn sweep(&mut self, worker: &mut Worker, now: Instant) {
        let timeout = self.run.config.timeout;
        let stalled = match &worker.state {
            State::Stopped => false,
            State::Connecting { since, .. } => now - *since >= timeout,
            State::Echoing { progress, .. } => now - *progress >= timeout,
        };
        if stalled {
            let e = io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no progress for {timeout:?}"),
            );
            self.fail(worker, &e);
        }
    }

    /// Counts an error; the worker stops.
    fn fail(&mut self, worker: &mut Worker, error: &io::Error) {
        worker.state = State::Stopped;
        let index = worker.index;
        let cause = super::limits::limit_reached(error).unwrap_or_else(|| error.to_string());
        self.stats.error(|| format!("connection {index}: {cause}"));
    }
}
