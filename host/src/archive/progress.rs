//! A progress bar on stderr, shown only when stderr is a terminal and the work has already
//! taken a moment (a quick run prints nothing but its result line).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How long the work runs before the bar appears.
const DELAY: Duration = Duration::from_millis(500);

pub struct Progress {
    bar: Option<ProgressBar>,
    /// Input size, when known (a file, not a pipe).
    total: Option<u64>,
    started: Instant,
    enabled: bool,
}

impl Progress {
    pub fn new(total: Option<u64>) -> Self {
        Progress {
            bar: None,
            total,
            started: Instant::now(),
            enabled: std::io::stderr().is_terminal(),
        }
    }

    /// Reports `done` bytes of input read.
    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        if self.bar.is_none() {
            if self.started.elapsed() < DELAY {
                return;
            }
            self.bar = Some(self.make_bar(done));
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// A bar that starts where the work is (so its first rate is not a burst).
    fn make_bar(&self, done: u64) -> ProgressBar {
        let target = ProgressDrawTarget::stderr_with_hz(10);
        let (template, len) = match self.total {
            Some(total) => (
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
                Some(total),
            ),
            None => ("{spinner} {bytes} {binary_bytes_per_sec}", None),
        };
        let style =
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        ProgressBar::with_draw_target(len, target)
            .with_style(style)
            .with_position(done)
            .with_elapsed(self.started.elapsed())
    }

    /// Removes the bar (before the result line is printed).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
