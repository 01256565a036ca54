//! What a run counts: round trips and bytes inside the measured window, latencies in an
//! HDR histogram, errors, mismatches and lost datagrams over the whole run.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Counters of one run.
#[derive(Debug)]
pub struct Stats {
    /// Round trips completed inside the measured window.
    pub round_trips: u64,
    /// Echoed bytes checked inside the window.
    pub echoed: u64,
    /// Bytes written inside the window.
    pub sent: u64,
    /// Connections that failed (refused, reset, closed, stalled).
    pub errors: u64,
    /// Echoed bytes that differed from what was sent at their position.
    pub mismatches: u64,
    /// UDP: datagrams whose echo did not come within `--timeout`.
    pub lost: u64,
    /// Latency in nanoseconds (3 significant digits: at most 0.1 % error).
    pub latency: Histogram<u64>,
    /// The first error or mismatch, as one line for stderr.
    pub first_problem: Option<String>,
}

/// Largest latency recorded exactly (an hour); longer ones are recorded as this.
const MAX_NS: u64 = 3_600_000_000_000;

impl Stats {
    pub fn new() -> Stats {
        Stats {
            round_trips: 0,
            echoed: 0,
            sent: 0,
            errors: 0,
            mismatches: 0,
            lost: 0,
            // NOTE(expect): constant bounds that hdrhistogram accepts (low >= 1, high >= 2 low,
            // 3 significant digits).
            latency: Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds"),
            first_problem: None,
        }
    }

    /// Counts a failed connection; `what` describes it (only the first is kept).
    pub fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        self.problem(what);
    }

    /// Counts `wrong` mismatched bytes (none: nothing happens).
    pub fn mismatched(&mut self, wrong: u64, what: impl FnOnce() -> String) {
        if wrong > 0 {
            self.mismatches += wrong;
            self.problem(what);
        }
    }

    /// Keeps `what` as the first problem if there was none yet (counts nothing).
    pub fn problem(&mut self, what: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what());
        }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(MAX_NS);
        self.latency.saturating_record(ns.clamp(1, MAX_NS));
    }

    /// A latency quantile so far, in microseconds (`None` before the first one).
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        (!self.latency.is_empty()).then(|| self.latency.value_at_quantile(q) as f64 / 1000.0)
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}
