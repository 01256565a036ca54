//! The per-connection echo state machine.
//!
//! [`Machine`] is sans-IO: it is handed the bytes a runner received and hands back the bytes
//! to send, and it is told the time. It never blocks, reads a clock or allocates.
//!
//! # Driving it
//!
//! ```text
//! loop {
//!     let window = m.receive_window();          // 0: stop reading (TCP backpressure)
//!     read at most `window` bytes into `buf`     // runner's I/O
//!     m.handle_input(now, &buf[..n], |line| log(line));
//!     let out = m.poll_transmit();               // bytes to send, oldest first
//!     write `out`, then m.handle_sent(now, written);
//!     at m.poll_timeout(): m.handle_timeout(now) // Some(Reason::Idle): close
//! }
//! m.handle_close(|line| log(line))               // the final partial line, and the stats
//! ```
//!
//! Echo is byte-exact for any chunking: output is input, in order. Memory is bounded by the
//! two [`Buffer`]s the runner lends: `pending` (received, not yet sent) and `line` (the
//! unterminated line kept for the log, at most `max_line + 2` bytes).

mod framing;

use core::time::Duration;

use crate::buffer::Buffer;
use crate::record::Reason;
use crate::time::Instant;

pub use framing::Line;

/// Settings shared by every connection of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Longest message in one log record; longer lines are logged in pieces (`--max-line`).
    pub max_line: usize,
    /// Close a connection when no byte moved for this long (`--idle-timeout`); `None`: never.
    pub idle_timeout: Option<Duration>,
    /// Whether to frame lines for the log at all. Off when `echo` records are not written
    /// (log level below INFO), which saves scanning every byte.
    pub frame_lines: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_line: 4096,
            idle_timeout: Some(Duration::from_secs(300)),
            frame_lines: true,
        }
    }
}

/// What a connection moved, for its `closed` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Bytes received and accepted.
    pub bytes_in: u64,
    /// Bytes sent back.
    pub bytes_out: u64,
    /// Lines (and pieces) handed to the log callback.
    pub lines: u64,
}

/// One connection's echo state. See the [module docs](self) for the call order.
#[derive(Debug)]
pub struct Machine<B: Buffer> {
    pending: B,
    line: B,
    max_line: usize,
    frame_lines: bool,
    idle_timeout: Option<Duration>,
    last_activity: Instant,
    stats: Stats,
}

impl<B: Buffer> Machine<B> {
    /// A new connection at `now`. `pending` bounds the bytes held for sending (its capacity
    /// is the receive window). `line` holds an unterminated line for the log: if its
    /// capacity is below `config.max_line + 2`, the effective max line shrinks to fit; under
    /// 3 bytes it cannot hold a piece and its `\r`, so lines are not framed at all (rather
    /// than logged with bytes missing).
    pub fn new(now: Instant, config: &Config, pending: B, line: B) -> Self {
        let max_line = config
            .max_line
            .min(line.capacity().saturating_sub(2))
            .max(1);
        let frame_lines = config.frame_lines && line.capacity() >= max_line + 2;
        Machine {
            pending,
            line,
            max_line,
            frame_lines,
            idle_timeout: config.idle_timeout,
            last_activity: now,
            stats: Stats::default(),
        }
    }

    /// How many bytes the machine can take now. Zero means: stop reading until
    /// [`Machine::handle_sent`] makes room (this is what gives TCP backpressure).
    #[must_use]
    pub fn receive_window(&self) -> usize {
        self.pending.remaining()
    }

    /// Takes received bytes: queues them for echo and frames lines for the log, calling
    /// `on_line` for each complete line (and each `max_line` piece of a longer one).
    ///
    /// Returns how many bytes were taken: at most [`Machine::receive_window`]; the rest must
    /// be offered again later (a runner that reads at most the window never has any).
    pub fn handle_input(
        &mut self,
        now: Instant,
        data: &[u8],
        mut on_line: impl FnMut(Line<'_>),
    ) -> usize {
        let taken = self.pending.extend_up_to(data);
        if taken > 0 {
            self.last_activity = now;
            self.stats.bytes_in += taken as u64;
            if self.frame_lines {
                let lines = &mut self.stats.lines;
                framing::push(&mut self.line, self.max_line, &data[..taken], &mut |l| {
                    *lines += 1;
                    on_line(l);
                });
            }
        }
        taken
    }

    /// The bytes waiting to be echoed, oldest first (empty when all are sent).
    #[must_use]
    pub fn poll_transmit(&self) -> &[u8] {
        self.pending.as_slice()
    }

    /// Records that the first `n` bytes of [`Machine::poll_transmit`] were sent.
    pub fn handle_sent(&mut self, now: Instant, n: usize) {
        let n = n.min(self.pending.len());
        if n > 0 {
            self.pending.consume(n);
            self.stats.bytes_out += n as u64;
            self.last_activity = now;
        }
    }

    /// When [`Machine::handle_timeout`] should next be called, if ever.
    ///
    /// Calling it late delays the idle close; calling it early is a harmless no-op.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.idle_timeout
            .map(|t| self.last_activity.saturating_add(t))
    }

    /// Checks the idle deadline: `Some(Reason::Idle)` when the connection should close.
    /// Spurious calls are safe and return `None`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Reason> {
        match self.poll_timeout() {
            Some(deadline) if now >= deadline => Some(Reason::Idle),
            _ => None,
        }
    }

    /// Ends the connection: logs a pending unterminated line (as partial pieces), drops any
    /// unsent bytes, and returns what the connection moved. The machine is then empty.
    pub fn handle_close(&mut self, mut on_line: impl FnMut(Line<'_>)) -> Stats {
        if self.frame_lines {
            let lines = &mut self.stats.lines;
            framing::finish(&mut self.line, self.max_line, &mut |l| {
                *lines += 1;
                on_line(l);
            });
        }
        self.line.clear();
        self.pending.clear();
        self.stats
    }

    /// What the connection has moved so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Whether nothing is buffered: no unsent bytes and no unterminated line. A runner may
    /// then give the buffers' memory back ([`Machine::buffers_mut`]).
    pub fn is_drained(&self) -> bool {
        self.pending.is_empty() && self.line.is_empty()
    }

    /// The buffers, for a runner that recycles their memory when [`Machine::is_drained`].
    /// Bytes must not be added or removed through them.
    pub fn buffers_mut(&mut self) -> (&mut B, &mut B) {
        (&mut self.pending, &mut self.line)
    }

    /// The effective longest message of one log record.
    pub fn max_line(&self) -> usize {
        self.max_line
    }
}

#[cfg(test)]
mod tests;
