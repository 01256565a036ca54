//! The progress line: once a second on stderr, only when stderr is a terminal (a script
//! reading the summary gets nothing else).

use std::time::{Duration, Instant};

/// Prints a line each second while enabled.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    start: Instant,
    next: Instant,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        let start = Instant::now();
        Progress {
            enabled,
            start,
            next: start + Duration::from_secs(1),
        }
    }

    /// Prints `line()` with the elapsed time if a second has passed since the last one.
    pub fn tick(&mut self, now: Instant, line: impl FnOnce() -> String) {
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
