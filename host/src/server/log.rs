//! Where the server's records go: the JSON Lines file, the console (human form), or both.
//!
//! Records are formatted by echo-core (the same bytes a device would emit) into in-memory
//! buffers; the event loop calls [`LogSink::end_of_batch`] after each round of events, which
//! writes the console out at once and the file when enough has gathered or a second has
//! passed. So the echo path never waits on the disk, and [`LogSink::close`] loses nothing.
//! A failing write prints one line on stderr and the server goes on echoing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use echo_core::record::{Level, Record};

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
/// Longest a record waits in memory before reaching the file.
const FILE_FLUSH_EVERY: Duration = Duration::from_secs(1);

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
                    eprintln!(
                        "echokit server: error: writing {what}: {e}; echo goes on, records are being lost"
                    );
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
    console: Option<Output<io::Stdout>>,
    file: Option<(PathBuf, Output<File>)>,
    last_file_flush: Instant,
    line: Vec<u8>,
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
        let console = matches!(mode, Mode::Console | Mode::Both).then(|| Output::new(io::stdout()));
        Ok(LogSink {
            level,
            console,
            file,
            last_file_flush: Instant::now(),
            line: Vec::new(),
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
            self.write_always(record);
        }
    }

    /// Writes `record` whatever the level.
    pub fn write_always(&mut self, record: &Record<'_>) {
        if let Some((_, out)) = &mut self.file {
            let len = record.max_formatted_len();
            let start = out.pending.len();
            out.pending.resize(start + len, 0);
            match record.format(&mut out.pending[start..]) {
                Ok(n) => out.pending.truncate(start + n),
                // NOTE: max_formatted_len is an upper bound, so this cannot happen.
                Err(_) => out.pending.truncate(start),
            }
        }
        if let Some(out) = &mut self.console {
            self.line.clear();
            // Writing to a Vec cannot fail.
            let _ = writeln!(self.line, "{}", record.human());
            out.pending.extend_from_slice(&self.line);
        }
    }

    /// Called after each round of events: the console is written now, the file when
    /// enough is pending or a second has passed.
    pub fn end_of_batch(&mut self) {
        if let Some(out) = &mut self.console {
            out.flush("the console");
        }
        if let Some((path, out)) = &mut self.file {
            let due = self.last_file_flush.elapsed() >= FILE_FLUSH_EVERY;
            if out.pending.len() >= FILE_FLUSH_BYTES || (due && !out.pending.is_empty()) {
                out.flush(&format!("log file {}", path.display()));
                self.last_file_flush = Instant::now();
            }
        }
    }

    /// Writes everything pending to every output now.
    pub fn flush(&mut self) {
        if let Some(out) = &mut self.console {
            out.flush("the console");
        }
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

    /// Writes everything out (shutdown). Returns how many records were lost to write errors.
    pub fn close(&mut self) -> u64 {
        let mut lost = 0;
        if let Some(out) = &mut self.console {
            out.flush("the console");
            lost += out.lost;
        }
        if let Some((path, out)) = &mut self.file {
            out.flush(&format!("log file {}", path.display()));
            lost += out.lost;
        }
        lost
    }
}
