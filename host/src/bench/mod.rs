//! `echokit bench`: a load generator for any RFC 862 echo server that checks every echoed
//! byte (PRODUCT.md "bench").
//!
//! One mio event loop on one thread drives every connection: no thread per connection, no
//! allocation per message (messages are slices of one shared [`payload::Pattern`]).
//! Connections are opened first ([`connect`]); then one of [`pingpong`], [`stream`],
//! [`hold`] or [`udp`] (or, for one connection in a closed loop, [`single`]'s blocking
//! calls) runs for the warm-up and the measured seconds, counting into
//! [`stats::Stats`]; [`summary`] prints what was measured.

pub mod config;
pub mod connect;
pub mod hold;
pub mod limits;
pub mod payload;
pub mod pingpong;
pub mod progress;
pub mod schedule;
pub mod single;
pub mod stats;
pub mod stream;
pub mod summary;
pub mod udp;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use config::{Config, Mode};
pub use summary::Report;

use crate::client::Target;

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

/// Runs the benchmark `config` describes until its duration is over or `stop` is set.
pub fn run(config: &Config, stop: &Stop) -> Result<Report, Error> {
    let _ = crate::os::limits::raise_nofile(config.conns);
    let pattern = payload::Pattern::new();
    let run = Run {
        config,
        pattern: &pattern,
        stop,
    };
    match (config.udp, config.mode) {
        (true, _) => udp::run(&run),
        // One connection, closed loop: blocking calls are cheaper than any event loop.
        (false, Mode::Pingpong) if config.conns == 1 && config.rate.is_none() => single::run(&run),
        (false, Mode::Pingpong) => pingpong::run(&run),
        (false, Mode::Stream) => stream::run(&run),
        (false, Mode::Hold) => hold::run(&run),
    }
}

/// What every mode gets: the configuration, the shared pattern and the stop flag.
pub struct Run<'a> {
    pub config: &'a Config,
    pub pattern: &'a payload::Pattern,
    pub stop: &'a Stop,
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
