//! What a run counts: round trips and bytes inside the measured window, latencies in HDR
//! histograms, errors, mismatches and lost datagrams over the whole run; and, second by
//! second of the measured window, the same for that second alone (sent to the thread that
//! prints `--json-stream` and writes `--hlog` and `--report`).

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Counters (totals, or one second's worth).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Round trips completed inside the measured window (connect mode: connections that
    /// opened, echoed and closed).
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
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.round_trips += other.round_trips;
        self.echoed += other.echoed;
        self.sent += other.sent;
        self.errors += other.errors;
        self.mismatches += other.mismatches;
        self.lost += other.lost;
    }

    fn since(&self, before: &Counts) -> Counts {
        Counts {
            round_trips: self.round_trips - before.round_trips,
            echoed: self.echoed - before.echoed,
            sent: self.sent - before.sent,
            errors: self.errors - before.errors,
            mismatches: self.mismatches - before.mismatches,
            lost: self.lost - before.lost,
        }
    }
}

/// Largest latency recorded exactly (an hour); longer ones are recorded as this.
const MAX_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds (3 significant digits: at most 0.1 % error).
pub fn histogram() -> Histogram<u64> {
    // NOTE(expect): constant bounds that hdrhistogram accepts (low >= 1, high >= 2 low,
    // 3 significant digits).
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds")
}

/// The latency histograms of a run (or a second), all in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latencies {
    /// From when each message was due (open loop) or sent (closed loop).
    pub latency: Histogram<u64>,
    /// From when each message was sent.
    pub uncorrected: Histogram<u64>,
    /// Connect mode: from `connect` to established.
    pub connect: Histogram<u64>,
}

impl Latencies {
    pub fn new() -> Latencies {
        Latencies {
            latency: histogram(),
            uncorrected: histogram(),
            connect: histogram(),
        }
    }

    /// The latencies from the send: the latencies themselves when none was recorded apart
    /// (closed loop).
    pub fn from_sent(&self) -> &Histogram<u64> {
        if self.uncorrected.is_empty() {
            &self.latency
        } else {
            &self.uncorrected
        }
    }

    /// Adds `other`'s counts (the same bounds: nothing can fail).
    pub fn add(&mut self, other: &Latencies) {
        for (to, from) in [
            (&mut self.latency, &other.latency),
            (&mut self.uncorrected, &other.uncorrected),
            (&mut self.connect, &other.connect),
        ] {
            // NOTE(ok): same bounds on both sides, and the counts of a run fit a u64.
            let _ = to.add(from);
        }
    }

    fn reset(&mut self) {
        self.latency.reset();
        self.uncorrected.reset();
        self.connect.reset();
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

fn nanos(latency: Duration) -> u64 {
    u64::try_from(latency.as_nanos())
        .unwrap_or(MAX_NS)
        .clamp(1, MAX_NS)
}

/// One second of the measured window (the last one may be shorter), of one thread or, once
/// merged, of all.
#[derive(Debug, Clone)]
pub struct Second {
    /// Seconds since the measured window began: `index`, and the second's end.
    pub index: u64,
    pub end: f64,
    pub counts: Counts,
    pub latencies: Latencies,
}

/// What a thread sends the coordinator.
#[derive(Debug)]
pub enum Note {
    Second(Second),
}

/// The clock of the seconds, once the measured window is known.
#[derive(Debug)]
struct Seconds {
    /// Index of the last second of the window (the drain's records go there).
    last: u64,
    index: u64,
    end: Instant,
    at_start: Counts,
}

impl Seconds {
    /// Whether the current second is over by `now` (the last one never is: it ends with
    /// the run).
    fn due(&self, now: Instant) -> bool {
        now >= self.end && self.index < self.last
    }
}

/// Counters of one run (one thread's share).
#[derive(Debug)]
pub struct Stats {
    pub counts: Counts,
    /// The whole run's histograms (complete after [`Stats::finish`]).
    pub total: Latencies,
    /// The current second's histograms.
    second: Latencies,
    seconds: Option<Seconds>,
    notes: Option<Sender<Note>>,
    /// The first error or mismatch, as one line for stderr.
    pub first_problem: Option<String>,
}

impl Stats {
    pub fn new() -> Stats {
        Stats::sending(None)
    }

    /// Stats that send each finished second to `notes`.
    pub fn sending(notes: Option<Sender<Note>>) -> Stats {
        Stats {
            counts: Counts::default(),
            total: Latencies::new(),
            second: Latencies::new(),
            seconds: None,
            notes,
            first_problem: None,
        }
    }

    /// The measured window begins at `origin` and lasts `duration`: seconds are counted.
    pub fn window(&mut self, origin: Instant, duration: Duration) {
        let last = duration.as_secs_f64().ceil().max(1.0) as u64 - 1;
        self.seconds = Some(Seconds {
            last,
            index: 0,
            end: origin + Duration::from_secs(1),
            at_start: self.counts,
        });
    }

    /// Ends the seconds that are over by `now` (cheap when none is: one comparison).
    #[inline]
    pub fn advance(&mut self, now: Instant) {
        if self.seconds.as_ref().is_some_and(|s| s.due(now)) {
            self.rotate(now);
        }
    }

    #[cold]
    fn rotate(&mut self, now: Instant) {
        while let Some(s) = self.seconds.as_ref().filter(|s| s.due(now)) {
            let end = (s.index + 1) as f64;
            self.close_second(end);
            if let Some(s) = &mut self.seconds {
                s.index += 1;
                s.end += Duration::from_secs(1);
            }
        }
    }

    /// Folds the current second into the totals and sends it.
    fn close_second(&mut self, end: f64) {
        let Some(s) = &mut self.seconds else {
            self.total.add(&self.second);
            self.second.reset();
            return;
        };
        let counts = self.counts.since(&s.at_start);
        s.at_start = self.counts;
        self.total.add(&self.second);
        if let Some(notes) = &self.notes {
            let second = Second {
                index: s.index,
                end,
                counts,
                latencies: self.second.clone(),
            };
            // NOTE(ok): the coordinator gone means the run is over; the totals still count.
            let _ = notes.send(Note::Second(second));
        }
        self.second.reset();
    }

    /// The run ended at `stopped`, having measured `measured`: the last second is sent and
    /// the totals are complete.
    pub fn finish(&mut self, stopped: Instant, measured: Duration) {
        self.advance(stopped);
        let end = match &self.seconds {
            Some(s) => measured.as_secs_f64().max(s.index as f64),
            None => 0.0,
        };
        self.close_second(end);
        self.seconds = None;
        // The coordinator reads seconds until every sender is gone.
        self.notes = None;
    }

    /// Counts a failed connection; `what` describes it (only the first is kept).
    pub fn error(&mut self, what: impl FnOnce() -> String) {
        self.counts.errors += 1;
        self.problem(what);
    }

    /// Counts `wrong` mismatched bytes (none: nothing happens).
    pub fn mismatched(&mut self, wrong: u64, what: impl FnOnce() -> String) {
        if wrong > 0 {
            self.counts.mismatches += wrong;
            self.problem(what);
        }
    }

    /// Keeps `what` as the first problem if there was none yet (counts nothing).
    pub fn problem(&mut self, what: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what());
        }
    }

    /// Counts a round trip of `bytes` that completed at `now` inside the window, `latency`
    /// after it was due and `uncorrected` after it was sent (`None`: the same, as in a
    /// closed loop; one histogram is then recorded, and read as both).
    #[inline]
    pub fn round_trip(
        &mut self,
        now: Instant,
        bytes: usize,
        latency: Duration,
        uncorrected: Option<Duration>,
    ) {
        self.advance(now);
        self.counts.round_trips += 1;
        self.counts.echoed += bytes as u64;
        self.second.latency.saturating_record(nanos(latency));
        if let Some(uncorrected) = uncorrected {
            self.second
                .uncorrected
                .saturating_record(nanos(uncorrected));
        }
    }

    /// Records the latency so far of a message due but never sent (open loop, at the end;
    /// see `engine`): a latency, not a round trip.
    pub fn charge(&mut self, waited: Duration) {
        self.second.latency.saturating_record(nanos(waited));
    }

    /// Records one latency outside the round trips' counting (hold's probes).
    pub fn record(&mut self, latency: Duration) {
        self.second.latency.saturating_record(nanos(latency));
    }

    /// Records how long a connection took to open (connect mode).
    pub fn record_connect(&mut self, latency: Duration) {
        self.second.connect.saturating_record(nanos(latency));
    }

    /// A latency quantile so far, in microseconds (`None` before the first one).
    pub fn quantile_us(&self, q: f64) -> Option<f64> {
        let h = if self.total.latency.is_empty() {
            &self.second.latency
        } else {
            &self.total.latency
        };
        (!h.is_empty()).then(|| h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// Adds another thread's finished stats to these (finished) ones.
    pub fn merge(&mut self, other: Stats) {
        self.counts.add(&other.counts);
        self.total.add(&other.total);
        if self.first_problem.is_none() {
            self.first_problem = other.first_problem;
        }
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn seconds_are_sent_and_add_up_to_the_totals() {
        let (tx, rx) = mpsc::channel();
        let mut stats = Stats::sending(Some(tx));
        let origin = Instant::now();
        stats.window(origin, Duration::from_millis(2500));
        let ms = |m| origin + Duration::from_millis(m);
        stats.round_trip(
            ms(100),
            10,
            Duration::from_micros(5),
            Some(Duration::from_micros(4)),
        );
        stats.round_trip(
            ms(2100),
            10,
            Duration::from_micros(7),
            Some(Duration::from_micros(7)),
        );
        // Past the window (the drain): the last second.
        stats.round_trip(
            ms(3200),
            10,
            Duration::from_micros(9),
            Some(Duration::from_micros(9)),
        );
        stats.finish(ms(3300), Duration::from_millis(2500));
        let seconds: Vec<Second> = rx.try_iter().map(|Note::Second(s)| s).collect();
        let shape: Vec<(u64, f64, u64)> = seconds
            .iter()
            .map(|s| (s.index, s.end, s.counts.round_trips))
            .collect();
        assert_eq!(shape, [(0, 1.0, 1), (1, 2.0, 0), (2, 2.5, 2)]);
        assert_eq!(stats.total.latency.len(), 3);
        assert_eq!(stats.total.uncorrected.min(), 4000);
    }
}
