//! The log file, shared by every worker's sink: whole batches written under one lock.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The log file, shared by the sinks of every worker: each sink gathers its own pending
/// bytes and writes them here in one call under the lock (whole records only, so lines from
/// different workers never interleave). Locked once per flush (every 256 KiB or second),
/// never per record.
#[derive(Debug)]
pub(super) struct SharedFile {
    path: PathBuf,
    state: Mutex<FileState>,
}

#[derive(Debug)]
struct FileState {
    writer: File,
    /// Set after a failed write, so a failure streak is reported once.
    failing: bool,
    /// Records dropped because writing failed.
    lost: u64,
}

impl SharedFile {
    /// Opens `path` for appending (created if missing).
    pub(super) fn open(path: &Path) -> io::Result<SharedFile> {
        let writer = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(SharedFile {
            path: path.to_path_buf(),
            state: Mutex::new(FileState {
                writer,
                failing: false,
                lost: 0,
            }),
        })
    }

    /// Records lost to write errors so far.
    pub(super) fn lost(&self) -> u64 {
        self.lock().lost
    }

    fn lock(&self) -> MutexGuard<'_, FileState> {
        // Nothing under the lock panics.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes `pending` out and clears it. On error, reports once, drops the bytes (memory
    /// stays bounded) and counts them as lost records.
    pub(super) fn write(&self, pending: &mut Vec<u8>) {
        if pending.is_empty() {
            return;
        }
        let state = self.lock();
        self.write_locked(state, pending);
    }

    /// [`SharedFile::write`] unless another worker is writing right now: then `false`, and
    /// the bytes stay pending for the next batch (or until the sink's high-water mark forces a write),
    /// so a loop does not wait for another loop's disk write.
    pub(super) fn try_write(&self, pending: &mut Vec<u8>) -> bool {
        if pending.is_empty() {
            return true;
        }
        let state = match self.state.try_lock() {
            Ok(state) => state,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return false,
        };
        self.write_locked(state, pending);
        true
    }

    fn write_locked(&self, mut state: MutexGuard<'_, FileState>, pending: &mut Vec<u8>) {
        let result = state
            .writer
            .write_all(pending)
            .and_then(|()| state.writer.flush());
        match result {
            Ok(()) => state.failing = false,
            Err(e) => {
                let records = memchr::memchr_iter(b'\n', pending).count() as u64;
                state.lost += records;
                if !state.failing {
                    crate::exit::stderr_line(&format!(
                        "echokit server: error: writing log file {}: {e}; echo goes on, records are being lost",
                        self.path.display()
                    ));
                    state.failing = true;
                }
            }
        }
        pending.clear();
    }

    /// Opens the file at its path again (SIGHUP). Every sink has written its pending
    /// records first (see [`super::LogSink::reopen`]).
    pub(super) fn reopen(&self) {
        match OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
        {
            Ok(f) => {
                let mut state = self.lock();
                state.writer = f;
                state.failing = false;
            }
            Err(e) => crate::exit::stderr_line(&format!(
                "echokit server: error: cannot reopen log file {}: {e}; logging goes on to the old file",
                self.path.display()
            )),
        }
    }
}
