//! Windows' counterpart of the Unix `interrupt.rs`: Ctrl-C, Ctrl-Break and a closed console
//! stop the archiver cleanly: its temporary file is deleted, an existing archive is left as
//! it was, one line says so, and the exit status is 128 + the signal the event stands for
//! (see [`crate::os::console::Event::signal_number`]), as on Unix.
//!
//! Windows runs the handler on a thread of its own, so it may lock and call `std`. The file
//! is still open in the main thread: Rust opens files with `FILE_SHARE_DELETE`, so the
//! delete succeeds and the name is gone once the process exits.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::os::console;

/// The temporary file to delete on an event, if any.
static TEMP_FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Installs the handler (once per run, before any output file exists).
pub fn install() {
    let installed = console::on_event(|event| {
        let temp = TEMP_FILE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(temp) = temp {
            let _ = std::fs::remove_file(temp);
        }
        let signal = event.signal_number();
        crate::exit::stderr_line(&format!(
            "echokit archive: error: interrupted by signal {signal:02}; nothing written"
        ));
        std::process::exit(128 + signal);
    });
    // Without it Ctrl-C still stops the archiver, only leaving the temporary file behind.
    if let Err(e) = installed {
        crate::exit::stderr_line(&format!(
            "echokit archive: warning: cannot handle Ctrl-C: {e}"
        ));
    }
}

/// Registers `path` as the file an event must delete (replacing any earlier one).
pub fn guard(path: &Path) {
    *TEMP_FILE.lock().unwrap_or_else(PoisonError::into_inner) = Some(path.to_path_buf());
}

/// Unregisters the file (it was committed or already deleted).
pub fn release() {
    *TEMP_FILE.lock().unwrap_or_else(PoisonError::into_inner) = None;
}
