//! What a run shows while it goes: the progress line, once a second on stderr, only when
//! stderr is a terminal (a script reading the summary gets nothing else); and, with one
//! load thread, its finished seconds handed on (see [`Relay`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Relay, Run, TICK};

/// Prints a line each second while enabled; passes on finished seconds at each tick.
#[derive(Debug)]
pub struct Progress<'a> {
    enabled: bool,
    start: Instant,
    next: Instant,
    relay: Option<&'a Mutex<Relay<'a>>>,
    next_relay: Instant,
}

impl<'a> Progress<'a> {
    pub fn new(run: &Run<'a>) -> Progress<'a> {
        let start = Instant::now();
        Progress {
            enabled: run.progress,
            start,
            next: start + Duration::from_secs(1),
            relay: run.relay,
            next_relay: start + TICK,
        }
    }

    /// Prints `line()` with the elapsed time if a second has passed since the last one.
    pub fn tick(&mut self, now: Instant, line: impl FnOnce() -> String) {
        if let Some(relay) = self.relay.filter(|_| now >= self.next_relay) {
            self.next_relay = now + TICK;
            Relay::pass(relay);
        }
        if !self.enabled || now < self.next {
            return;
        }
        self.next = now + Duration::from_secs(1);
        let elapsed = (now - self.start).as_secs_f64();
        crate::exit::stderr_line(&format!("bench: {elapsed:5.1} s  {}", line()));
    }
}

/// The usual load line: rate so far, p99 so far, errors.
pub fn load_line(stats: &super::stats::Stats, measured: Duration, stream: bool) -> String {
    let secs = measured.as_secs_f64();
    let rate = if secs <= 0.0 {
        "warming up".to_string()
    } else if stream {
        format!("{:.1} MB/s", stats.counts.echoed as f64 / secs / 1e6)
    } else {
        format!(
            "{:.0} round trips/s",
            stats.counts.round_trips as f64 / secs
        )
    };
    let p99 = stats
        .quantile_us(0.99)
        .map_or_else(|| "-".to_string(), |us| format!("{us:.0} us"));
    format!(
        "{rate}  p99 {p99}  errors {}  mismatches {}",
        stats.counts.errors, stats.counts.mismatches
    )
}
