//! Where a run's results go besides the summary: `--json-stream` lines as each second ends,
//! and the `--hlog`, `--hgrm` and `--report` files. Each file is made (empty, beside its
//! final name) before any load is sent, so a path that cannot be written fails at once,
//! and is renamed into place only when it is complete: no partial output file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::Config;
use super::hlog::{self, HlogWriter};
use super::html::{self, Point};
use super::stats::{Counts, Latencies, Second};
use super::summary::Report;

/// An output file being prepared: its final path and the temporary one beside it.
struct Pending {
    path: PathBuf,
    temp: PathBuf,
}

impl Pending {
    /// Creates the temporary file; the error names the path.
    fn new(path: &Path) -> Result<Pending, String> {
        let name = path
            .file_name()
            .ok_or_else(|| format!("{}: not a file name", path.display()))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", std::process::id()));
        let temp = path.with_file_name(temp_name);
        File::create(&temp).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(Pending {
            path: path.to_path_buf(),
            temp,
        })
    }

    /// Writes the contents and renames the file into place.
    fn commit(self, bytes: &[u8]) -> Result<(), String> {
        let written =
            fs::write(&self.temp, bytes).and_then(|()| fs::rename(&self.temp, &self.path));
        written.map_err(|e| {
            let _ = fs::remove_file(&self.temp);
            format!("cannot write {}: {e}", self.path.display())
        })
    }
}

impl Drop for Pending {
    /// A file not committed (the run failed) leaves nothing behind; after the rename
    /// there is nothing left to remove.
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.temp);
    }
}

/// The paths asked for.
#[derive(Debug, Clone, Default)]
pub struct Paths {
    pub hlog: Option<PathBuf>,
    pub hgrm: Option<PathBuf>,
    pub report: Option<PathBuf>,
}

/// A run's outputs as it goes.
pub struct Outputs<'c> {
    config: &'c Config,
    threads: usize,
    json_stream: bool,
    hlog: Option<(Pending, Option<HlogWriter>)>,
    hgrm: Option<Pending>,
    report: Option<(Pending, Vec<Point>)>,
    /// The first error (of the stream's stdout, or of a histogram's encoding).
    error: Option<String>,
}

impl<'c> Outputs<'c> {
    /// Prepares each file; the error is one line (exit 2, before any load).
    pub fn new(
        config: &'c Config,
        threads: usize,
        json_stream: bool,
        paths: &Paths,
    ) -> Result<Outputs<'c>, String> {
        let mut made: Vec<Option<Pending>> = Vec::new();
        for path in [&paths.hlog, &paths.hgrm, &paths.report] {
            match path.as_deref().map(Pending::new).transpose() {
                Ok(pending) => made.push(pending),
                // Those made so far are removed as they drop.
                Err(e) => return Err(e),
            }
        }
        let mut made = made.into_iter();
        let (hlog, hgrm, report) = (
            made.next().flatten(),
            made.next().flatten(),
            made.next().flatten(),
        );
        Ok(Outputs {
            config,
            threads,
            json_stream,
            hlog: hlog.map(|p| (p, None)),
            hgrm,
            report: report.map(|p| (p, Vec::new())),
            error: None,
        })
    }

    /// One second of the measured window, merged over the threads.
    pub fn second(&mut self, second: &Second) {
        if self.json_stream && self.error.is_none() {
            let line = Report::second(self.config, second, self.threads).json();
            let mut stdout = io::stdout().lock();
            if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                self.error = Some(format!("cannot write to stdout: {e}"));
            }
        }
        if let Some((_, writer)) = &mut self.hlog {
            let writer = writer.get_or_insert_with(|| {
                // The window began this long ago (to the tick).
                let start = SystemTime::now() - Duration::from_secs_f64(second.end);
                HlogWriter::new(start, self.config.mode == super::Mode::Connect)
            });
            if let Err(e) = writer.second(second) {
                self.error
                    .get_or_insert(format!("cannot encode a histogram: {e}"));
            }
        }
        if let Some((_, points)) = &mut self.report {
            points.push(Point::of(second, self.config.mode == super::Mode::Stream));
        }
    }

    /// Writes the files once the run is over; the error is one line.
    pub fn finish(
        self,
        report: &Report,
        latencies: &Latencies,
        command: &str,
    ) -> Result<(), String> {
        let mut first_error = self.error;
        let mut keep = |result: Result<(), String>| {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        };
        if let Some((pending, writer)) = self.hlog {
            let writer = match writer {
                Some(writer) => Ok(writer),
                // No seconds (hold): the whole run as one interval.
                None => {
                    let secs = Duration::from_secs_f64(report.secs.max(0.0));
                    let mut writer = HlogWriter::new(
                        SystemTime::now() - secs,
                        self.config.mode == super::Mode::Connect,
                    );
                    let whole = Second {
                        index: 0,
                        end: report.secs,
                        counts: Counts::default(),
                        latencies: latencies.clone(),
                    };
                    writer.second(&whole).map(|()| writer)
                }
            };
            match writer {
                Ok(writer) => keep(pending.commit(&writer.finish(report))),
                Err(e) => keep(Err(format!("cannot encode a histogram: {e}"))),
            }
        }
        if let Some(pending) = self.hgrm {
            keep(pending.commit(hlog::hgrm(&latencies.latency).as_bytes()));
        }
        if let Some((pending, points)) = self.report {
            let page = html::page(command, report, &points, &latencies.latency);
            keep(pending.commit(page.as_bytes()));
        }
        first_error.map_or(Ok(()), Err)
    }
}
