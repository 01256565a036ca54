//! `echokit bench`: a load generator for any RFC 862 echo server that checks every echoed
//! byte (PRODUCT.md "bench").
//!
//! `--threads` threads each drive their share of the connections with one mio event loop:
//! no thread per connection, no allocation per message (see [`payload`]). Each thread
//! opens its connections ([`connect`]), then runs one of [`pingpong`] or [`udp`] (both
//! the [`engine`]'s scheduler over a transport), [`stream`], [`hold`] or [`churn`] (or,
//! for one connection in a closed loop, [`single`]'s blocking calls) for the warm-up and
//! the measured seconds, counting into [`stats::Stats`]. Each second of the window goes to
//! the calling thread, merged over the threads (`--json-stream`, `--hlog`, `--report`);
//! at the end the threads' histograms are merged ([`hdrhistogram::Histogram::add`]) and
//! [`summary`] prints what was measured, [`gate`] checks `--fail-if`.

pub mod churn;
pub mod config;
pub mod connect;
pub mod engine;
pub mod gate;
pub mod hlog;
pub mod hold;
pub mod html;
pub mod limits;
pub mod output;
pub mod payload;
pub mod pingpong;
pub mod progress;
pub mod schedule;
pub mod single;
pub mod stats;
pub mod stream;
pub mod summary;
pub mod svg;
pub mod udp;

use std::collections::BTreeMap;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use config::{Config, Mode};
pub use summary::Report;

use crate::client::Target;
use stats::{Note, Second, Stats};

/// Why a run could not be carried out at all (exit 2); problems of single connections
/// are counted in the report instead.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not one connection (or, over UDP, not one answer or send) could be made.
    #[error("could not connect to {target}: {cause}")]
    Connect { target: Target, cause: String },
    /// The event loop itself failed (e.g. no epoll instance could be made).
    #[error("{0}")]
    Setup(#[from] io::Error),
}

/// What a run (one thread's share, or all of them merged) measured.
#[derive(Debug)]
pub struct Outcome {
    pub stats: Stats,
    /// Seconds measured (shorter when stopped early).
    pub measured: Duration,
    pub interrupted: bool,
    /// Hold: connections held and failed, and opened a second.
    pub held: Option<u64>,
    pub failed: Option<u64>,
    pub connect_per_s: Option<f64>,
}

impl Outcome {
    /// The outcome of a run whose clock was `clock` and that stopped at `stopped`.
    pub fn new(run: &Run, stats: Stats, clock: Clock, stopped: Instant) -> Outcome {
        Outcome {
            stats,
            measured: clock.measured(stopped),
            interrupted: run.stop.is_set(),
            held: None,
            failed: None,
            connect_per_s: None,
        }
    }

    /// Adds another thread's outcome: counts and histograms summed, the longest window.
    fn merge(&mut self, other: Outcome) {
        fn sum<T: std::ops::Add<Output = T>>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        self.stats.merge(other.stats);
        self.measured = self.measured.max(other.measured);
        self.interrupted |= other.interrupted;
        self.held = sum(self.held, other.held);
        self.failed = sum(self.failed, other.failed);
        self.connect_per_s = sum(self.connect_per_s, other.connect_per_s);
    }
}

/// How many threads a run uses: `--threads`, but not more than connections, and one for
/// hold (idle connections need no CPU) and for one connection.
pub fn threads(config: &Config) -> usize {
    match config.mode {
        Mode::Hold => 1,
        _ => config.threads.clamp(1, config.conns.max(1)),
    }
}

/// Runs the benchmark `config` describes until its duration is over or `stop` is set, on
/// [`threads`] threads, each with its own connections, loop and histograms; hands each
/// second of the measured window, merged over the threads, to `on_second` as it ends.
pub fn run(
    config: &Config,
    stop: &Stop,
    mut on_second: impl FnMut(&Second) + Send,
) -> Result<Outcome, Error> {
    let _ = crate::os::limits::raise_nofile(config.conns);
    let pattern = payload::Pattern::new();
    let threads = threads(config);
    let (tx, rx) = mpsc::channel::<Note>();
    // One load thread hands its seconds on itself (at its ticks, and at the end): no second
    // thread, as any second thread makes every later socket call pay the C library's
    // cancellation bookkeeping (two atomic operations per call; ~5% of a small round trip).
    let (relay, merging) = if threads == 1 {
        let on_second: &mut (dyn FnMut(&Second) + Send) = &mut on_second;
        (Some(Mutex::new(Relay { rx, on_second })), None)
    } else {
        (None, Some((rx, &mut on_second)))
    };
    let run_of = |t: usize| {
        let part = config.conns * t / threads..config.conns * (t + 1) / threads;
        let rate = config
            .rate
            .map(|rate| rate * part.len() as f64 / config.conns as f64);
        Run {
            config,
            pattern: &pattern,
            stop,
            part,
            rate,
            progress: config.progress && threads == 1,
            notes: Some(tx.clone()),
            relay: relay.as_ref(),
        }
    };
    // Thread 0's share runs on this thread (as a one-thread run always did); the others
    // and the merging of seconds on their own.
    let runs: Vec<Run> = (0..threads).map(run_of).collect();
    drop(tx);
    let results: Vec<Result<Outcome, Error>> = std::thread::scope(|scope| {
        let progress = config.progress && threads > 1;
        let merger = merging.map(|(rx, on_second)| {
            scope.spawn(move || merge_seconds(&rx, threads, progress, on_second))
        });
        let mut runs = runs.into_iter();
        let first = runs.next();
        let handles: Vec<_> = runs
            .enumerate()
            .map(|(t, run)| {
                std::thread::Builder::new()
                    .name(format!("bench-{}", t + 1))
                    .spawn_scoped(scope, move || run_part(&run))
            })
            .collect();
        let mut results = vec![match first {
            Some(run) => run_part(&run),
            None => Err(io::Error::other("no load thread").into()),
        }];
        results.extend(handles.into_iter().map(|h| {
            match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a load thread panicked").into())),
                Err(e) => Err(Error::Setup(e)),
            }
        }));
        if let Some(merger) = merger {
            // NOTE(ok): the merger only hands seconds on; it cannot fail.
            let _ = merger.join();
        }
        results
    });
    // The seconds the run closed after its last tick (its sender is gone by now).
    if let Some(relay) = &relay {
        Relay::pass(relay);
    }
    let mut merged: Option<Outcome> = None;
    let mut unconnected = Vec::new();
    for (t, result) in results.into_iter().enumerate() {
        match result {
            Ok(outcome) => match &mut merged {
                Some(m) => m.merge(outcome),
                None => merged = Some(outcome),
            },
            Err(Error::Connect { target, cause }) => unconnected.push((t, target, cause)),
            Err(e) => return Err(e),
        }
    }
    match merged {
        Some(mut outcome) => {
            // A thread none of whose connections opened: each is an error of the run.
            for (t, _, cause) in unconnected {
                let part = config.conns * t / threads..config.conns * (t + 1) / threads;
                outcome.stats.counts.errors += part.len() as u64;
                outcome.stats.problem(|| cause);
            }
            Ok(outcome)
        }
        None => {
            let (_, target, cause) = unconnected.swap_remove(0);
            Err(Error::Connect { target, cause })
        }
    }
}

/// One thread's share: the mode's loop over its connections.
fn run_part(run: &Run) -> Result<Outcome, Error> {
    let config = run.config;
    match (config.udp, config.mode) {
        (true, _) => udp::run(run),
        // One connection, closed loop: blocking calls are cheaper than any event loop.
        (false, Mode::Pingpong) if run.part.len() == 1 && run.rate.is_none() => single::run(run),
        (false, Mode::Pingpong) => pingpong::run(run),
        (false, Mode::Stream) => stream::run(run),
        (false, Mode::Hold) => hold::run(run),
        (false, Mode::Connect) => churn::run(run),
    }
}

/// Merges the threads' seconds by index and hands each on, in order, once every thread
/// has sent it (or, at the end, whatever came); returns when every thread is done.
fn merge_seconds(
    rx: &mpsc::Receiver<Note>,
    threads: usize,
    progress: bool,
    on_second: &mut impl FnMut(&Second),
) {
    let mut pending: BTreeMap<u64, (Second, usize)> = BTreeMap::new();
    let mut next = 0u64;
    let mut emit = |second: &Second| {
        if progress {
            let secs = (second.end - second.index as f64).max(f64::MIN_POSITIVE);
            crate::exit::stderr_line(&format!(
                "bench: second {}  {:.0} round trips/s  {:.1} MB/s  errors {}",
                second.index + 1,
                second.counts.round_trips as f64 / secs,
                second.counts.echoed as f64 / secs / 1e6,
                second.counts.errors
            ));
        }
        on_second(second);
    };
    for Note::Second(second) in rx.iter() {
        match pending.get_mut(&second.index) {
            Some((merged, count)) => {
                merged.counts.add(&second.counts);
                merged.latencies.add(&second.latencies);
                merged.end = merged.end.max(second.end);
                *count += 1;
            }
            None => {
                pending.insert(second.index, (second, 1));
            }
        }
        while let Some(entry) = pending.first_entry() {
            if *entry.key() != next || entry.get().1 < threads {
                break;
            }
            emit(&entry.remove().0);
            next += 1;
        }
    }
    for (_, (second, _)) in pending {
        emit(&second);
    }
}

/// What every mode gets: the configuration, the shared pattern, the stop flag, and its
/// share of the connections.
pub struct Run<'a> {
    pub config: &'a Config,
    pub pattern: &'a payload::Pattern,
    pub stop: &'a Stop,
    /// The connections this thread drives (their numbers in the run).
    pub part: Range<usize>,
    /// Open loop: this thread's share of `--rate`.
    pub rate: Option<f64>,
    /// Print the progress line from this thread (it is the only one, on a terminal).
    pub progress: bool,
    /// Where each second of the measured window goes.
    pub notes: Option<Sender<Note>>,
    /// One load thread: where it hands its seconds on (see [`Relay`]).
    pub relay: Option<&'a Mutex<Relay<'a>>>,
}

/// The seconds of a one-thread run, handed on by the load thread itself at its ticks.
pub struct Relay<'a> {
    rx: mpsc::Receiver<Note>,
    on_second: &'a mut (dyn FnMut(&Second) + Send),
}

impl Relay<'_> {
    /// Hands on every second closed so far, in order.
    pub fn pass(relay: &Mutex<Relay>) {
        let mut relay = relay.lock().unwrap_or_else(PoisonError::into_inner);
        let relay = &mut *relay;
        while let Ok(Note::Second(second)) = relay.rx.try_recv() {
            (relay.on_second)(&second);
        }
    }
}

impl std::fmt::Debug for Relay<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relay")
    }
}

impl Run<'_> {
    /// New counters that send their seconds to the coordinator.
    pub fn stats(&self) -> Stats {
        Stats::sending(self.notes.clone())
    }
}

/// Set by Ctrl-C (SIGINT) or SIGTERM; the loops look at it at least every 100 ms and then
/// stop and report what was measured.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// A flag that SIGINT and SIGTERM set (signal-hook's flag handlers, which exist on
    /// Windows too, where Ctrl-C and Ctrl-Break arrive as SIGINT).
    pub fn on_signals() -> io::Result<Stop> {
        let stop = Stop::default();
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&stop.0))?;
        }
        Ok(stop)
    }

    /// Whether a stop was asked for.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Asks the run to stop (as a signal does).
    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The run's timeline: warm-up, then the measured window, then a drain of the echoes
/// still in flight (at most `--timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: Instant,
    pub warm_end: Instant,
    pub end: Instant,
}

impl Clock {
    /// Starts the warm-up now.
    pub fn starting_now(config: &Config) -> Clock {
        let start = Instant::now();
        let warm_end = start + config.warmup;
        Clock {
            start,
            warm_end,
            end: warm_end + config.duration,
        }
    }

    /// Whether something that happened at `t` counts.
    pub fn measuring(&self, t: Instant) -> bool {
        t >= self.warm_end && t < self.end
    }

    /// Seconds measured when the run ended at `stopped` (shorter after Ctrl-C).
    pub fn measured(&self, stopped: Instant) -> Duration {
        stopped
            .min(self.end)
            .saturating_duration_since(self.warm_end)
    }
}

/// How often stalls are looked for and the progress line may be due.
pub const TICK: Duration = Duration::from_millis(100);

/// Polls, retrying when a signal interrupted the wait (the loop then sees the stop flag).
pub fn poll(poll: &mut mio::Poll, events: &mut mio::Events, wait: Duration) -> io::Result<()> {
    match poll.poll(events, Some(wait)) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}
