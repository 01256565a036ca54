//! `echokit archive`: a server log (JSON Lines or the seed's legacy lines, detected per line)
//! to CSV or JSON Lines, streaming, through a temporary file renamed into place at the end.
//!
//! - [`input`]: each input opened (stdin, a file, gzip detected by content); several
//!   inputs are read one after the other as one log (rotated logs);
//! - [`reader`]: the input in large chunks cut on record boundaries;
//! - [`records`]: logical records in a chunk (legacy continuation lines joined);
//! - [`pipeline`]: worker threads parse (echo-core) and encode chunks, results in order;
//! - [`csv`], [`json`]: the encoders; [`output`]: naming and safe replacement;
//! - [`progress`], [`interrupt`]: the terminal's progress bar, and clean stops on signals.

pub mod csv;
pub mod input;
#[cfg_attr(windows, path = "interrupt_windows.rs")]
pub mod interrupt;
pub mod json;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod reader;
pub mod records;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use echo_core::time::Timestamp;

use crate::exit;
use output::{CommitError, Staged};
use pipeline::{Bad, Done, Stop};
use progress::Progress;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header (the default).
    Csv,
    /// JSON Lines, the log's own format (`-j`).
    Json,
    /// Echo messages as JSON values on stdout (`-p`); no file.
    Messages,
}

/// The archive command's settings (see PRODUCT.md "archive").
#[derive(Debug, Clone)]
pub struct Options {
    /// The logs, read in this order as one log; `-` is stdin.
    pub inputs: Vec<PathBuf>,
    /// The archive; `-` is stdout (ignored for [`Format::Messages`]).
    pub output: PathBuf,
    pub format: Format,
    /// Insert the first record's timestamp into the output name.
    pub add_timestamp: bool,
    /// Replace an existing output file.
    pub force: bool,
    /// Skip malformed records instead of failing.
    pub skip_invalid: bool,
}

/// Why the archive was not written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Input {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {path}")]
    Output {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("{file}:{line}: {reason}")]
    Malformed {
        file: String,
        line: u64,
        reason: String,
    },
    /// The reader of stdout went away (`| head`): stop quietly, as other filters do.
    #[error("broken pipe")]
    BrokenPipe,
}

impl Error {
    /// Prints the error (one line on stderr) and returns the exit code.
    pub fn report(self) -> ExitCode {
        let code = match &self {
            Error::BrokenPipe => return ExitCode::from(exit::OK),
            Error::Malformed { .. } => exit::FAILED,
            _ => exit::USAGE,
        };
        exit::report("archive", &anyhow::Error::new(self), code)
    }
}

/// Where the encoded records go.
enum Sink {
    Stdout(io::StdoutLock<'static>),
    File {
        staged: Staged,
        /// The archive's name before the timestamp is added.
        target: PathBuf,
    },
}

/// Runs the archiver: reads `options.inputs` and writes the archive, or nothing on error.
pub fn run(options: &Options) -> Result<(), Error> {
    interrupt::install();
    // Every input is opened first, so a missing one fails before anything is written.
    let mut inputs = Vec::with_capacity(options.inputs.len());
    for path in &options.inputs {
        inputs.push(input::open(path).map_err(|source| Error::Input {
            path: path.display().to_string(),
            source,
        })?);
    }
    let size = inputs.iter().map(|i| i.size).sum::<Option<u64>>();
    let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let all_names = names.join(", ");
    let to_stdout = options.format == Format::Messages || options.output == Path::new("-");
    let mut sink = if to_stdout {
        Sink::Stdout(io::stdout().lock())
    } else {
        let target = options.output.clone();
        if !options.add_timestamp && !options.force && target.symlink_metadata().is_ok() {
            return Err(CommitError::Exists(target).into());
        }
        let staged = Staged::create(&target, options.force).map_err(|source| Error::Output {
            path: target.display().to_string(),
            source,
        })?;
        Sink::File { staged, target }
    };
    let out_name = if to_stdout {
        "stdout".to_string()
    } else {
        options.output.display().to_string()
    };
    if options.format == Format::Csv {
        let header = csv::header().map_err(|source| Error::Output {
            path: out_name.clone(),
            source,
        })?;
        write(&mut sink, &header, &out_name)?;
    }

    let mut progress = Progress::new(size);
    let mut totals = Totals::default();
    let stamp_check = options.add_timestamp && !options.force;
    let mut base = 0u64;
    for input in inputs {
        let file_name = input.name;
        totals.start_file();
        let mut read_here = 0;
        let result = pipeline::run(
            input.reader,
            options.format,
            options.skip_invalid,
            |done: &Done| {
                let had_ts = totals.first_ts.is_some();
                totals.add(done, &file_name)?;
                write(&mut sink, &done.out, &out_name)?;
                // Fail early when the stamped name turns out to exist.
                if let (Sink::File { target, .. }, Some(ts)) = (&sink, totals.first_ts) {
                    let path = output::stamped(target, &ts);
                    if stamp_check && !had_ts && path.symlink_metadata().is_ok() {
                        return Err(CommitError::Exists(path).into());
                    }
                }
                Ok(())
            },
            |read| {
                read_here = read;
                progress.update(base + read);
            },
        );
        base += read_here;
        match result {
            Ok(()) => {}
            Err(stop) => {
                progress.finish();
                return Err(stop_error(stop, file_name));
            }
        }
        totals.warn_torn(&file_name);
    }
    progress.finish();
    totals.warn_skipped();

    let written = match sink {
        Sink::Stdout(mut out) => {
            out.flush().map_err(|e| write_error(e, &out_name))?;
            out_name
        }
        Sink::File { staged, target } => {
            let path = match (options.add_timestamp, totals.first_ts) {
                (true, Some(ts)) => output::stamped(&target, &ts),
                (true, None) => {
                    crate::exit::stderr_line(&format!(
                        "echokit archive: warning: no records in {all_names}, so no timestamp \
                         for the name"
                    ));
                    target
                }
                (false, _) => target,
            };
            staged.commit(&path)?;
            path.display().to_string()
        }
    };
    if options.format == Format::Messages {
        crate::exit::stderr_line(&format!(
            "echokit archive: printed the messages of {}",
            records(totals.records)
        ));
    } else {
        crate::exit::stderr_line(&format!(
            "echokit archive: wrote {} to {written}",
            records(totals.records)
        ));
    }
    Ok(())
}

/// The error for a pipeline that stopped while reading `file`.
fn stop_error(stop: Stop<Error>, file: String) -> Error {
    match stop {
        Stop::Handler(e) => e,
        Stop::Read(source) => Error::Input { path: file, source },
        Stop::TooLong(line) => Error::Malformed {
            file,
            line,
            reason: format!(
                "record longer than {} MiB",
                reader::MAX_RECORD / (1024 * 1024)
            ),
        },
    }
}

fn write(sink: &mut Sink, bytes: &[u8], name: &str) -> Result<(), Error> {
    if bytes.is_empty() {
        return Ok(());
    }
    let result = match sink {
        Sink::Stdout(out) => out.write_all(bytes),
        Sink::File { staged, .. } => match staged.file() {
            Some(f) => f.write_all(bytes),
            None => Ok(()),
        },
    };
    result.map_err(|e| write_error(e, name))
}

fn write_error(source: io::Error, name: &str) -> Error {
    if source.kind() == io::ErrorKind::BrokenPipe {
        Error::BrokenPipe
    } else {
        Error::Output {
            path: name.to_string(),
            source,
        }
    }
}

/// Counts over all inputs, and the line numbers within the current one.
#[derive(Default)]
struct Totals {
    records: u64,
    /// Lines of the current input in the chunks seen so far.
    lines: u64,
    first_ts: Option<Timestamp>,
    skipped: u64,
    /// The first skipped line: its input, line and reason.
    first_skipped: Option<(String, u64, String)>,
    /// The current input's torn last line.
    torn: Option<(u64, String)>,
}

impl Totals {
    /// Adds one chunk's result; its malformed record (unless skipping) is the error.
    fn add(&mut self, done: &Done, file: &str) -> Result<(), Error> {
        let line = |bad: &Bad| (self.lines + bad.line + 1, bad.reason.clone());
        if let Some(bad) = &done.error {
            let (line, reason) = line(bad);
            return Err(Error::Malformed {
                file: file.to_string(),
                line,
                reason,
            });
        }
        if self.first_skipped.is_none() {
            self.first_skipped = done.first_skipped.as_ref().map(|bad| {
                let (line, reason) = line(bad);
                (file.to_string(), line, reason)
            });
        }
        if let Some(bad) = &done.torn {
            self.torn = Some(line(bad));
        }
        self.skipped += done.skipped;
        self.records += done.records;
        self.lines += done.lines;
        if self.first_ts.is_none() {
            self.first_ts = done.first_ts;
        }
        Ok(())
    }

    /// A new input starts: its lines count from 1.
    fn start_file(&mut self) {
        self.lines = 0;
        self.torn = None;
    }

    /// Warns about the current input's torn last line.
    fn warn_torn(&self, file: &str) {
        if let Some((line, reason)) = &self.torn {
            crate::exit::stderr_line(&format!(
                "echokit archive: warning: {file}:{line}: last line is incomplete (torn \
                 write?), left out: {reason}"
            ));
        }
    }

    /// Warns about the skipped records of all inputs.
    fn warn_skipped(&self) {
        if let Some((file, line, reason)) = &self.first_skipped {
            let s = if self.skipped == 1 { "" } else { "s" };
            crate::exit::stderr_line(&format!(
                "echokit archive: warning: skipped {} invalid line{s} (first: {file}:{line}: \
                 {reason})",
                self.skipped
            ));
        }
    }
}

/// "1 record", "2 records".
fn records(n: u64) -> String {
    if n == 1 {
        "1 record".to_string()
    } else {
        format!("{n} records")
    }
}
