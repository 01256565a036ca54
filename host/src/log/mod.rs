//! Where the server's records go: the JSON Lines file, the console (human form), or both.
//!
//! Records are formatted by echo-core (the same bytes a device would emit) into in-memory
//! buffers; the event loop calls [`LogSink::end_of_batch`] after each round of events, which
//! hands the console lines to the console's writer thread (never waiting: lines it has no
//! room for are dropped and counted, see [`console`]) and writes the file when
//! enough has gathered or a second has passed. So the echo path never waits on the disk,
//! and [`LogSink::close`] loses no file record. A failing write prints one line on stderr
//! and the server goes on echoing. [`LogSink::reopen`] (SIGHUP) moves the file to a new
//! one at its path, every earlier record written to the old one first.

pub mod console;
mod file;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use echo_core::record::{Level, Record};

use console::Console;
use file::SharedFile;

/// The log file could not be opened (a user error: exit 2, for either runner).
#[derive(Debug, thiserror::Error)]
#[error("cannot open log file {path}")]
pub struct OpenError {
    path: String,
    source: io::Error,
}

/// Opens the log `config` describes: the start-up step both runners share.
pub fn open(config: &LogConfig) -> Result<LogSink, OpenError> {
    LogSink::open(config.mode, &config.file, config.level).map_err(|source| OpenError {
        path: config.file.display().to_string(),
        source,
    })
}

/// The log's outputs (`--log-mode`, `--log-file`, `--log-level`).
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Console, file or both.
    pub mode: Mode,
    /// The JSON Lines file (appended).
    pub file: PathBuf,
    /// The threshold.
    pub level: Level,
}

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
/// When the file was busy with another loop's write: how soon to try again.
const FILE_RETRY: Duration = Duration::from_millis(5);
/// Longest the shutdown waits for a console that takes nothing (not being read).
const CONSOLE_CLOSE_STALL: Duration = Duration::from_millis(300);
/// Longest the shutdown waits for a console that is being read but slowly (the whole stop
/// stays within a second).
const CONSOLE_CLOSE_CAP: Duration = Duration::from_millis(800);

/// One sink's part of the file: its own pending bytes.
#[derive(Debug)]
struct FileOut {
    shared: Arc<SharedFile>,
    pending: Vec<u8>,
}

/// One sink's part of the console: its batch's lines, and lines it dropped without
/// formatting (added to the console's count once per batch).
#[derive(Debug)]
struct ConsoleOut {
    console: Arc<Console>,
    pending: Vec<u8>,
    dropped: u64,
}

impl ConsoleOut {
    /// Hands the batch's lines (and its drop count) to the console writer (never waits).
    fn queue(&mut self) {
        self.console.add_dropped(std::mem::take(&mut self.dropped));
        self.console.push(&self.pending, false);
        self.pending.clear();
    }
}

/// The server's log: level filter plus outputs. One per event loop; [`LogSink::another`]
/// makes one for another worker thread over the same file and console.
#[derive(Debug)]
pub struct LogSink {
    level: Level,
    console: Option<ConsoleOut>,
    file: Option<FileOut>,
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
            Mode::File | Mode::Both => Some(Arc::new(SharedFile::open(path)?)),
        };
        let console = match mode {
            Mode::File => None,
            Mode::Console | Mode::Both => Some(Arc::new(Console::stdout()?)),
        };
        Ok(LogSink::over(level, console, file))
    }

    fn over(level: Level, console: Option<Arc<Console>>, file: Option<Arc<SharedFile>>) -> Self {
        LogSink {
            level,
            console: console.map(|console| ConsoleOut {
                console,
                pending: Vec::with_capacity(64 * 1024),
                dropped: 0,
            }),
            file: file.map(|shared| FileOut {
                shared,
                pending: Vec::with_capacity(64 * 1024),
            }),
            last_file_flush: Instant::now(),
            reopen_requested: None,
            line: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// A sink for another worker thread: the same file and console and level, its own
    /// buffers. Only one sink [`LogSink::close`]s, after the others have flushed.
    pub fn another(&self) -> LogSink {
        LogSink::over(
            self.level,
            self.console.as_ref().map(|c| Arc::clone(&c.console)),
            self.file.as_ref().map(|f| Arc::clone(&f.shared)),
        )
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
        if let Some(out) = &mut self.file {
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
        if let Some(out) = &mut self.console {
            if !always && out.console.is_full(out.pending.len()) {
                // Stdout is not being read: drop (and count) without formatting, so an
                // unread console costs the echo path next to nothing.
                out.dropped += 1;
            } else if always {
                self.line.clear();
                // Writing to a Vec cannot fail.
                let _ = writeln!(self.line, "{}", record.human());
                out.queue();
                out.console.push(&self.line, true);
            } else {
                let _ = writeln!(out.pending, "{}", record.human());
                if out.pending.len() >= HIGH_WATER {
                    out.queue();
                }
            }
        }
        if let Some(out) = &mut self.file {
            if out.pending.len() >= HIGH_WATER {
                out.shared.write(&mut out.pending);
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
        if let Some(out) = &mut self.console {
            out.queue();
        }
        if let Some(out) = &mut self.file {
            let due = self.last_file_flush.elapsed() >= FILE_FLUSH_EVERY;
            if out.pending.len() >= FILE_FLUSH_BYTES || (due && !out.pending.is_empty()) {
                if out.shared.try_write(&mut out.pending) {
                    self.last_file_flush = Instant::now();
                } else if due {
                    // Another loop is writing: try again shortly, without spinning.
                    self.last_file_flush = Instant::now()
                        .checked_sub(FILE_FLUSH_EVERY - FILE_RETRY)
                        .unwrap_or(self.last_file_flush);
                }
            }
        }
    }

    /// Console lines dropped so far because stdout was not taking them, by every sink of
    /// the console (this batch's lines are queued first, so the count includes them).
    pub fn console_dropped(&mut self) -> u64 {
        match &mut self.console {
            Some(out) => {
                out.queue();
                out.console.dropped()
            }
            None => 0,
        }
    }

    /// SIGHUP: writes every pending record to the current file, then opens the file at its
    /// path again (created if it was moved away, as `logrotate` does) and writes there from
    /// now on. If that fails, one line on stderr and records keep going to the old file.
    /// With several sinks, each must [`LogSink::flush`] first (the std runner does that).
    pub fn reopen(&mut self) {
        let Some(out) = &mut self.file else {
            return;
        };
        out.shared.write(&mut out.pending);
        self.last_file_flush = Instant::now();
        out.shared.reopen();
    }

    /// Writes everything pending to every output now (the console: queued for its writer).
    pub fn flush(&mut self) {
        if let Some(out) = &mut self.console {
            out.queue();
        }
        if let Some(out) = &mut self.file {
            out.shared.write(&mut out.pending);
            self.last_file_flush = Instant::now();
        }
    }

    /// How long the event loop may sleep before [`LogSink::end_of_batch`] must run again.
    pub fn next_flush_in(&self) -> Option<Duration> {
        let out = self.file.as_ref()?;
        if out.pending.is_empty() {
            None
        } else {
            Some(FILE_FLUSH_EVERY.saturating_sub(self.last_file_flush.elapsed()))
        }
    }

    /// Writes everything out (shutdown; the console gets a bounded wait, so a stdout that
    /// is not read cannot hold the exit). Returns how many records were lost to write
    /// errors. The other sinks of the same outputs have flushed before.
    pub fn close(&mut self) -> u64 {
        self.flush();
        let mut lost = 0;
        if let Some(out) = &self.file {
            lost += out.shared.lost();
        }
        if let Some(out) = &self.console {
            lost += out.console.close(CONSOLE_CLOSE_STALL, CONSOLE_CLOSE_CAP);
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
            let out = sink.file.as_ref().unwrap();
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
