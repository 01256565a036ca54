//! The pingpong scheduler, one per thread, the same over TCP and UDP: each connection sends
//! a message and waits for its echo before the next, at once (closed loop) or when the next
//! one is due (`--rate`, open loop; see [`super::schedule`]). What differs between TCP and
//! UDP (partial writes and reads, or whole datagrams that may be lost) is a [`Transport`].

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Poll};

use super::payload::{Message, Pattern};
use super::progress::{Progress, load_line};
use super::schedule::Schedule;
use super::stats::Stats;
use super::{Clock, Run, TICK};

/// The common state of one connection (or UDP socket).
#[derive(Debug)]
pub struct Slot {
    /// Its number in the run (names it, and goes into its messages).
    pub index: usize,
    /// Number of the current (or next) message of this connection.
    pub n: u64,
    pub message: Message,
    /// A message is out and its echo not complete.
    pub busy: bool,
    /// When the current message was due (closed loop: when it was started), and sent.
    pub due: Instant,
    pub sent_at: Instant,
    /// Open loop: messages of this connection handed out by the schedule, and started.
    released: u64,
    started: u64,
}

/// What a step of a transport came to.
#[derive(Debug)]
pub enum Step {
    /// Nothing more can move now.
    Pending,
    /// The echo of the current message is complete and right, at this instant.
    Echoed(Instant),
    /// The current message is over without a right echo (counted by the transport).
    Dropped(Instant),
    /// The connection failed.
    Failed(io::Error),
}

/// What a busy connection that waited `--timeout` is.
#[derive(Debug)]
pub enum Stall {
    /// An error that closes it (TCP: bytes outstanding, no progress).
    Error(String),
    /// A lost datagram (UDP): the next one goes.
    Lost,
}

/// How messages go out and echoes come back on one kind of connection.
pub trait Transport {
    type Conn;
    /// After an echo is complete, whether to step again before waiting for an event (a
    /// UDP socket must be drained; on Windows a TCP one must see `WouldBlock` to re-arm).
    const AGAIN: bool;
    /// What its connections are called in messages.
    const NOUN: &'static str;

    /// Starts sending `slot.message` (the slot is busy from now on).
    fn start(&mut self, conn: &mut Self::Conn, slot: &Slot, now: Instant) -> io::Result<()>;

    /// After an event (or a start): moves what can move, checks what came back.
    fn step(
        &mut self,
        conn: &mut Self::Conn,
        slot: &Slot,
        readable: bool,
        stats: &mut Stats,
    ) -> Step;

    /// At a tick, for a busy slot: whether it waited too long.
    fn stalled(
        &self,
        conn: &Self::Conn,
        slot: &Slot,
        now: Instant,
        timeout: Duration,
    ) -> Option<Stall>;
}

/// A connection: its transport state (`None` once it failed) and its slot.
pub struct Entry<C> {
    pub conn: Option<C>,
    pub slot: Slot,
}

/// What a scheduler run ends with.
pub struct Ended<T> {
    pub transport: T,
    pub stats: Stats,
    pub clock: Clock,
    pub stopped: Instant,
}

/// The loop's state besides the connections.
struct Engine<'r, 'a, T> {
    run: &'r Run<'a>,
    transport: T,
    clock: Clock,
    stats: Stats,
    schedule: Option<Schedule>,
    /// Messages out (sent, echo not complete).
    busy: usize,
    alive: usize,
}

/// Runs pingpong over `conns` (one per connection of `run.part`, `None` for those that
/// could not be opened; registered with `poll` under their position as token) until the end
/// (and the drain of what is in flight), a stop, or all are dead.
pub fn run<T: Transport>(
    run: &Run,
    transport: T,
    conns: Vec<Option<T::Conn>>,
    stats: Stats,
    poll: &mut Poll,
    progress: &mut Progress,
) -> io::Result<Ended<T>> {
    let config = run.config;
    let now = Instant::now();
    let alive = conns.iter().filter(|c| c.is_some()).count();
    let mut entries: Vec<Entry<T::Conn>> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let index = run.part.start + i;
            Entry {
                conn,
                slot: Slot {
                    index,
                    n: 0,
                    message: Pattern::message(index, 0, config.size),
                    busy: false,
                    due: now,
                    sent_at: now,
                    released: 0,
                    started: 0,
                },
            }
        })
        .collect();
    let clock = Clock::starting_now(config);
    let mut engine = Engine {
        run,
        transport,
        clock,
        stats,
        schedule: run
            .rate
            .map(|rate| Schedule::new(clock.start, rate, entries.len())),
        busy: 0,
        alive,
    };
    engine.stats.window(clock.warm_end, config.duration);
    if engine.schedule.is_none() {
        for entry in entries.iter_mut() {
            engine.start(entry, clock.start, clock.start);
        }
    }
    let stopped = engine.run_loop(poll, &mut entries, progress)?;
    engine.charge_unsent(&mut entries, stopped);
    let mut stats = engine.stats;
    stats.finish(stopped, clock.measured(stopped));
    Ok(Ended {
        transport: engine.transport,
        stats,
        clock,
        stopped,
    })
}

impl<T: Transport> Engine<'_, '_, T> {
    /// Drives every connection until the end (and the drain), a stop, or all are dead;
    /// returns when it stopped.
    fn run_loop(
        &mut self,
        poll: &mut Poll,
        entries: &mut [Entry<T::Conn>],
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
                    wait = schedule.release(now, wait, |i| entries[i].slot.released += 1);
                    // Idle connections with a message due start it now.
                    for entry in entries
                        .iter_mut()
                        .filter(|e| !e.slot.busy && e.slot.released > e.slot.started)
                    {
                        self.start_due(entry, now);
                    }
                }
            }
            super::poll(poll, &mut events, wait)?;
            for event in events.iter() {
                let Some(entry) = entries.get_mut(event.token().0) else {
                    continue;
                };
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                self.step(entry, readable);
            }
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.stats.advance(now);
                for entry in entries.iter_mut().filter(|e| e.slot.busy) {
                    let Some(conn) = &entry.conn else { continue };
                    match self.transport.stalled(conn, &entry.slot, now, timeout) {
                        None => {}
                        Some(Stall::Lost) => {
                            self.stats.counts.lost += 1;
                            self.finish(entry, now, false);
                        }
                        Some(Stall::Error(what)) => {
                            let index = entry.slot.index;
                            self.kill(entry, || format!("{} {index}: {what}", T::NOUN));
                        }
                    }
                }
                let measured = self.clock.measured(now);
                let stats = &self.stats;
                progress.tick(now, || {
                    let line = load_line(stats, measured, false);
                    match T::NOUN {
                        "socket" => format!("{line}  lost {}", stats.counts.lost),
                        _ => line,
                    }
                });
                if now >= self.clock.end + timeout {
                    return Ok(now);
                }
            }
        }
    }

    /// Steps a connection after an event until nothing more moves.
    fn step(&mut self, entry: &mut Entry<T::Conn>, readable: bool) {
        loop {
            let Some(conn) = entry.conn.as_mut() else {
                return;
            };
            match self
                .transport
                .step(conn, &entry.slot, readable, &mut self.stats)
            {
                Step::Pending => return,
                Step::Echoed(now) => self.finish(entry, now, true),
                Step::Dropped(now) => self.finish(entry, now, false),
                Step::Failed(e) => return self.fail(entry, e),
            }
            if !T::AGAIN {
                return;
            }
        }
    }

    /// Starts the next message of `entry`, due at `due`, at `now`.
    #[inline(always)]
    fn start(&mut self, entry: &mut Entry<T::Conn>, due: Instant, now: Instant) {
        let Some(conn) = entry.conn.as_mut() else {
            return;
        };
        let slot = &mut entry.slot;
        // The next message is the current one counted up (no formatting per message).
        if slot.message.number() != slot.n {
            slot.message.advance();
            if slot.message.number() != slot.n {
                slot.message = Pattern::message(slot.index, slot.n, self.run.config.size);
            }
        }
        slot.busy = true;
        slot.due = due;
        slot.sent_at = now;
        self.busy += 1;
        if let Err(e) = self.transport.start(conn, slot, now) {
            self.fail(entry, e);
        }
    }

    /// Open loop: starts the connection's next scheduled message.
    fn start_due(&mut self, entry: &mut Entry<T::Conn>, now: Instant) {
        let Some(schedule) = &self.schedule else {
            return;
        };
        let local = entry.slot.index - self.run.part.start;
        let due = schedule.due_of(local, entry.slot.started);
        entry.slot.started += 1;
        self.start(entry, due, now);
    }

    /// Open loop, at the end (`stopped`): the messages that were due inside the window but
    /// never went out (their connection still waited for an earlier echo) are not sent
    /// after the end, as in wrk2, and not counted as round trips (the rate achieved stays
    /// what the server kept up with); but each is charged to the latency histogram with
    /// what it waited until the end, a lower bound of its latency: a server that stalls
    /// at the end of a run is charged for every message it held up, as it is earlier.
    /// Connections that failed are errors, not charged.
    fn charge_unsent(&mut self, entries: &mut [Entry<T::Conn>], stopped: Instant) {
        let Some(schedule) = &mut self.schedule else {
            return;
        };
        // What fell due between the loop's last release and the end.
        let end = stopped.min(self.clock.end);
        while let Some(i) = schedule.pop(end) {
            entries[i].slot.released += 1;
        }
        let start = self.run.part.start;
        for entry in entries.iter().filter(|e| e.conn.is_some()) {
            let slot = &entry.slot;
            for j in slot.started..slot.released {
                let due = schedule.due_of(slot.index - start, j);
                if self.clock.measuring(due) && due < end {
                    self.stats.charge(stopped - due);
                }
            }
        }
    }

    /// The current message is over at `now`: echoed right (counted), or not.
    #[inline(always)]
    fn finish(&mut self, entry: &mut Entry<T::Conn>, now: Instant, echoed: bool) {
        let slot = &mut entry.slot;
        slot.busy = false;
        self.busy -= 1;
        // Closed loop: what completes inside the window counts. Open loop: what was due
        // inside it, so the rate achieved is what the server kept up with (a backlog from
        // the warm-up caught up inside the window does not count twice).
        let counted = if self.schedule.is_some() {
            slot.due
        } else {
            now
        };
        if echoed && self.clock.measuring(counted) {
            self.stats.round_trip(
                now,
                self.run.config.size,
                now - slot.due,
                self.schedule.is_some().then(|| now - slot.sent_at),
            );
        }
        slot.n += 1;
        if now >= self.clock.end || self.run.stop.is_set() {
            return;
        }
        if self.schedule.is_none() {
            self.start(entry, now, now);
        } else if slot.released > slot.started {
            self.start_due(entry, now);
        }
    }

    fn fail(&mut self, entry: &mut Entry<T::Conn>, error: io::Error) {
        let index = entry.slot.index;
        self.kill(entry, || format!("{} {index}: {error}", T::NOUN));
    }

    /// Counts an error and closes the connection.
    fn kill(&mut self, entry: &mut Entry<T::Conn>, what: impl FnOnce() -> String) {
        if entry.conn.take().is_none() {
            return;
        }
        self.stats.error(what);
        self.alive -= 1;
        if entry.slot.busy {
            entry.slot.busy = false;
            self.busy -= 1;
        }
    }
}
