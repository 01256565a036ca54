//! Where the server's records go: the JSON Lines file, the console (human form), or both.
//!
//! Records are formatted by echo-core (the same bytes a device would emit) into in-memory
//! buffers; the event loop calls [`LogSink::end_of_batch`] after each round of events, which
//! hands the console lines to the console's writer thread (never waiting: lines it has no
//! room for are dropped and counted, see [`super::console`]) and writes the file when
//! enough has gathered or a second has passed. So the echo path never waits on the disk,
//! and [`LogSink::close`] loses no file record. A failing write prints one line on stderr
//! and the server goes on echoing. [`LogSink::reopen`] (SIGHUP) moves the file to a new
//! one at its path, every earlier record written to the old one first.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use echo_core::record::{Level, Record};

use super::console::Console;

/// Which outputs get records (`--log-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Human form on stdout only.
    Console,
    /// JSON Lines file only.
    File,
    /// Both.
    Both,
}

/// File buffer size that triggers a write before the periodic flush.
const FILE_FLUSH_BYTES: usize = 256 * 1024;
/// Pending bytes of one output that are written at once, even mid-batch: a flood of short
/// lines from many clients in one round must not grow the buffer without bound.
const HIGH_WATER: usize = 1024 * 1024;
/// Longest a record waits in memory before reaching the file.
const FILE_FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Longest the shutdown waits for a console that takes nothing (not being read).
const CONSOLE_CLOSE_STALL: Duration = Duration::from_millis(300);
/// Longest the shutdown waits for a console that is being read but slowly (the whole stop
/// stays within a second).
const CONSOLE_CLOSE_CAP: Duration = Duration::from_millis(800);

/// An output with its pending bytes and its failure state.
#[derive(Debug)]
struct Output<W> {
    writer: W,
    pending: Vec<u8>,
    /// Set after a failed write, so a failure streak is reported once.
    failing: bool,
    /// Records dropped because their output failed.
    lost: u64,
}

impl<W: Write> Output<W> {
    fn new(writer: W) -> Self {
        Output {
            writer,
            pending: Vec::with_capacity(64 * 1024),
            failing: false,
            lost: 0,
        }
    }

    /// Writes out what is pending. On error, reports once, drops the pending bytes (memory
    /// stays bounded) and counts them as lost records.
    fn flush(&mut self, what: &str) {
        if self.pending.is_empty() {
            return;
        }
        let result = self
            .writer
            .write_all(&self.pending)
            .and_then(|()| self.writer.flush());
        match result {
            Ok(()) => self.failing = false,
            Err(e) => {
                let records = memchr::memchr_iter(b'\n', &self.pending).count() as u64;
                self.lost += records;
                if !self.failing {
                    crate::exit::stderr_line(&format!(
                        "echokit server: error: writing {what}: {e}; echo goes on, records are being lost"
                    ));
                    self.failing = true;
                }
            }
        }
        self.pending.clear();
    }
}

/// The server's log: level filter plus outputs.
#[derive(Debug)]
pub struct LogSink {
    level: Level,
    /// The console and its lines of the current batch, not yet queued.
    console: Option<(Console, Vec<u8>)>,
    file: Option<(PathBuf, Output<File>)>,
    last_file_flush: Instant,
    line: Vec<u8>,
    /// Where file records are formatted before they are appended to the pending bytes.
    scratch: Vec<u8>,
    /// Set (by a SIGHUP handler) to ask for [`LogSink::reopen`] at the next batch's end.
    reopen_requested: Option<Arc<AtomicBool>>,
}

impl LogSink {
    /// Opens the outputs `mode` asks for; the file is created if missing and appended to.
    pub fn open(mode: Mode, path: &Path, level: Level) -> io::Result<Self> {
        let file = match mode {
            Mode::Console => None,
            Mode::File | Mode::Both => {
                let f = OpenOptions::new().create(true).append(true).open(path)?;
                Some((path.to_path_buf(), Output::new(f)))
            }
        };
        let console = match mode {
            Mode::File => None,
            Mode::Console | Mode::Both => Some((Console::stdout()?, Vec::with_capacity(64 * 1024))),
        };
        Ok(LogSink {
            level,
            console,
            file,
            last_file_flush: Instant::now(),
            reopen_requested: None,
            line: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// Whether a record at `level` is written (`listening` and `shutdown` always are: use
    /// [`LogSink::write_always`] for them).
    #[inline]
    pub fn enabled(&self, level: Level) -> bool {
        level <= self.level
    }

    /// The threshold (`--log-level`).
    pub fn level(&self) -> Level {
        self.level
    }

    /// Writes `record` if its level is enabled.
    #[inline]
    pub fn write(&mut self, record: &Record<'_>) {
        if self.enabled(record.level) {
            self.write_record(record, false);
        }
    }

    /// Writes `record` whatever the level (and it may use the console's reserve, so a
    /// `shutdown` record reaches a console that is dropping lines).
    pub fn write_always(&mut self, record: &Record<'_>) {
        self.write_record(record, true);
    }

    fn write_record(&mut self, record: &Record<'_>, always: bool) {
        if let Some((_, out)) = &mut self.file {
            // Formatted into a scratch buffer that only grows: zero-filling room for the
            // worst case in `pending` for every record cost more than copying the result.
            let len = record.max_formatted_len();
            if self.scratch.len() < len {
                self.scratch.resize(len, 0);
            }
            // NOTE: max_formatted_len is an upper bound, so the error cannot happen.
            if let Ok(n) = record.format(&mut self.scratch) {
                out.pending.extend_from_slice(&self.scratch[..n]);
            }
        }
        if let Some((console, pending)) = &mut self.console {
            if !always && console.is_full(pending.len()) {
                // Stdout is not being read: drop (and count) without formatting, so an
                // unread console costs the echo path next to nothing.
                console.drop_line();
            } else if always {
                self.line.clear();
                // Writing to a Vec cannot fail.
                let _ = writeln!(self.line, "{}", record.human());
                console.push(pending, false);
                pending.clear();
                console.push(&self.line, true);
            } else {
                let _ = writeln!(pending, "{}", record.human());
                if pending.len() >= HIGH_WATER {
                    console.push(pending, false);
                    pending.clear();
                }
            }
        }
        if let Some((path, out)) = &mut self.file {
            if out.pending.len() >= HIGH_WATER {
                out.flush(&format!("log file {}", path.display()));
                self.last_file_flush = Instant::now();
            }
        }
    }

    /// Makes [`LogSink::end_of_batch`] reopen the file once `flag` is set (and clear it):
    /// for a runner whose loop does not watch signals itself (the TAP server's SIGHUP).
    pub fn reopen_when(&mut self, flag: Arc<AtomicBool>) {
        self.reopen_requested = Some(flag);
    }

    /// Called after each round of events: the console lines are queued now, the file is
    /// written when enough is pending or a second has passed (after a reopen, if one was
    /// asked for with [`LogSink::reopen_when`]).
    pub fn end_of_batch(&mut self) {
        if let Some(flag) = &self.reopen_requested {
            if flag.swap(false, Ordering::AcqRel) {
                self.reopen();
            }
        }
        self.queue_console();
        if let Some((path, out)) = &mut self.file {
            let due = self.last_file_flush.elapsed() >= FILE_FLUSH_EVERY;
            if out.pending.len() >= FILE_FLUSH_BYTES || (due && !out.pending.is_empty()) {
                out.flush(&format!("log file {}", path.display()));
                self.last_file_flush = Instant::now();
            }
        }
    }

    /// Hands the batch's console lines to the console writer (never waits).
    fn queue_console(&mut self) {
        if let Some((console, pending)) = &mut self.console {
            console.push(pending, false);
            pending.clear();
        }
    }

    /// Console lines dropped so far because stdout was not taking them (the batch's lines
    /// are queued first, so the count includes them).
    pub fn console_dropped(&mut self) -> u64 {
        self.queue_console();
        self.console.as_ref().map_or(0, |(c, _)| c.dropped())
    }

    /// SIGHUP: writes every pending record to the current file, then opens the file at its
    /// path again (created if it was moved away, as `logrotate` does) and writes there from
    /// now on. If that fails, one line on stderr and records keep going to the old file.
    pub fn reopen(&mut self) {
        let Some((path, out)) = &mut self.file else {
            return;
        };
        out.flush(&format!("log file {}", path.display()));
        self.last_file_flush = Instant::now();
        match OpenOptions::new().create(true).append(true).open(&*path) {
            Ok(f) => {
                out.writer = f;
                out.failing = false;
            }
            Err(e) => crate::exit::stderr_line(&format!(
                "echokit server: error: cannot reopen log file {}: {e}; logging goes on to the old file",
                path.display()
            )),
        }
    }

    /// Writes everything pending to every output now (the console: queued for its writer).
    pub fn flush(&mut self) {
        self.queue_console();
        if let Some((path, out)) = &mut self.file {
            out.flush(&format!("log file {}", path.display()));
            self.last_file_flush = Instant::now();
        }
    }

    /// How long the event loop may sleep before [`LogSink::end_of_batch`] must run again.
    pub fn next_flush_in(&self) -> Option<Duration> {
        let (_, out) = self.file.as_ref()?;
        if out.pending.is_empty() {
            None
        } else {
            Some(FILE_FLUSH_EVERY.saturating_sub(self.last_file_flush.elapsed()))
        }
    }

    /// Writes everything out (shutdown; the console gets a bounded wait, so a stdout that
    /// is not read cannot hold the exit). Returns how many records were lost to write errors.
    pub fn close(&mut self) -> u64 {
        let mut lost = 0;
        if let Some((path, out)) = &mut self.file {
            out.flush(&format!("log file {}", path.display()));
            lost += out.lost;
        }
        self.queue_console();
        if let Some((console, _)) = &mut self.console {
            lost += console.close(CONSOLE_CLOSE_STALL, CONSOLE_CLOSE_CAP);
        }
        lost
    }
}

#[cfg(test)]
mod tests {
    use echo_core::record::Event;
    use echo_core::time::Timestamp;

    use super::*;

    #[test]
    fn a_flood_within_one_batch_is_written_out_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flood.log");
        let mut sink = LogSink::open(Mode::File, &path, Level::Info).unwrap();
        let msg = [b'x'; 100];
        let record = Record {
            conn: Some(1),
            peer: Some("127.0.0.1:5"),
            msg: Some(&msg),
            ..Record::event(Timestamp::from_unix_millis(0), Event::Echo)
        };
        for _ in 0..20_000 {
            sink.write(&record);
            let (_, out) = sink.file.as_ref().unwrap();
            assert!(out.pending.len() < HIGH_WATER);
        }
        let written = std::fs::metadata(&path).unwrap().len();
        assert!(
            written >= HIGH_WATER as u64,
            "wrote {written} bytes before the batch ended"
        );
        assert_eq!(sink.close(), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 20_000);
    }
}
