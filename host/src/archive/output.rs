//! Where the archive goes: its name (with the first record's timestamp) and a temporary file
//! beside it that becomes the archive only when everything was written.
//!
//! Until [`Staged::commit`], the archive's name is untouched: an existing file stays as it
//! was and a failed run leaves nothing behind (dropping a [`Staged`] deletes its temporary
//! file). Without `--force` the final step is a hard link, which fails atomically when the
//! name exists, so a file created meanwhile is not overwritten either.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use echo_core::time::Timestamp;

/// `archive.csv` with a first record at `2026-11-23T10:15:02.123Z` becomes
/// `archive.2026-11-23T10-15-02.123Z.csv`: the stamp (colons replaced) goes before the last
/// extension, or after a dot at the end of a name without one. Directories are not touched.
pub fn stamped(path: &Path, ts: &Timestamp) -> PathBuf {
    let mut buf = [0u8; Timestamp::MAX_LEN];
    let stamp = ts.format(&mut buf).replace(':', "-");
    let Some(name) = path.file_name() else {
        return path.to_path_buf();
    };
    let mut new = OsString::new();
    match (Path::new(name).file_stem(), Path::new(name).extension()) {
        (Some(stem), Some(ext)) => {
            new.push(stem);
            new.push(".");
            new.push(&stamp);
            new.push(".");
            new.push(ext);
        }
        _ => {
            new.push(name);
            new.push(".");
            new.push(&stamp);
        }
    }
    // The directory as the user wrote it: `with_file_name` would join with `\` on Windows.
    if let (Some(full), Some(old), Some(new)) = (path.to_str(), name.to_str(), new.to_str()) {
        if let Some(dir) = full.strip_suffix(old) {
            return PathBuf::from(format!("{dir}{new}"));
        }
    }
    path.with_file_name(new)
}

/// Why the archive could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("{} already exists (use --force to overwrite it)", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A temporary file in the archive's directory; deleted on drop unless committed.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    file: Option<File>,
    force: bool,
}

impl Staged {
    /// Creates the temporary file beside `target`.
    pub fn create(target: &Path, force: bool) -> io::Result<Staged> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let pid = std::process::id();
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(".{name}.{pid}.{attempt}.tmp"));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    super::interrupt::guard(&temp);
                    return Ok(Staged {
                        temp,
                        file: Some(file),
                        force,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The temporary file, to write the archive into.
    pub fn file(&mut self) -> Option<&mut File> {
        self.file.as_mut()
    }

    /// Gives the temporary file the name `path`. Without `--force` an existing `path` is
    /// an error and is left as it was.
    pub fn commit(mut self, path: &Path) -> Result<(), CommitError> {
        let io = |source| CommitError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Writes went straight to the file (no user-space buffer is left to flush).
        self.file = None;
        if self.force {
            fs::rename(&self.temp, path).map_err(io)?;
        } else {
            match fs::hard_link(&self.temp, path) {
                Ok(()) => {
                    // The archive is in place; a stale temporary name is only untidy.
                    let _ = fs::remove_file(&self.temp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(CommitError::Exists(path.to_path_buf()));
                }
                // A file system without hard links: check, then rename.
                Err(_) => {
                    if path.symlink_metadata().is_ok() {
                        return Err(CommitError::Exists(path.to_path_buf()));
                    }
                    fs::rename(&self.temp, path).map_err(io)?;
                }
            }
        }
        // Committed: nothing left to delete.
        super::interrupt::release();
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        self.file = None;
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
            super::interrupt::release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(p: &str) -> String {
        let ts = Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap();
        stamped(Path::new(p), &ts).to_string_lossy().into_owned()
    }

    #[test]
    fn stamp_goes_before_the_last_extension() {
        assert_eq!(stamp("archive.csv"), "archive.2026-11-23T10-15-02.123Z.csv");
        assert_eq!(stamp("a.b.jsonl"), "a.b.2026-11-23T10-15-02.123Z.jsonl");
        assert_eq!(stamp("archive"), "archive.2026-11-23T10-15-02.123Z");
        assert_eq!(
            stamp("out.d/archive"),
            "out.d/archive.2026-11-23T10-15-02.123Z"
        );
        assert_eq!(stamp(".hidden"), ".hidden.2026-11-23T10-15-02.123Z");
    }

    #[test]
    fn legacy_stamp_has_no_zone() {
        let ts = Timestamp::parse(b"2023-05-01T12:00:00.123").unwrap();
        assert_eq!(
            stamped(Path::new("x.csv"), &ts),
            Path::new("x.2023-05-01T12-00-00.123.csv")
        );
    }
}
