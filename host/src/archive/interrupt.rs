//! SIGINT, SIGTERM and SIGHUP stop the archiver cleanly: its temporary file is deleted, an
//! existing archive is left as it was, one line says so, and the exit status is 128 + the
//! signal (the default action would leave the temporary file behind).
//!
//! The handler does all of it itself, with async-signal-safe calls only (`unlink`, `write`,
//! `_exit`). A flag checked by the main loop would race: a signal landing after the check
//! but before a blocking read of stdin would leave the archiver waiting forever.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicPtr, Ordering};

/// The temporary file to delete on a signal: a C string owned by this module, or null.
static TEMP_FILE: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(signal: libc::c_int) {
    let temp = TEMP_FILE.swap(std::ptr::null_mut(), Ordering::SeqCst);
    let mut line = *b"echokit archive: error: interrupted by signal 00; nothing written\n";
    let digits = line.iter().position(|&b| b == b'0').unwrap_or(0);
    // NOTE(as): signal numbers are below 100 on Linux; `% 10` keeps each a digit.
    line[digits] = b'0' + (signal / 10 % 10) as u8;
    line[digits + 1] = b'0' + (signal % 10) as u8;
    // Safety: unlink, write and _exit are async-signal-safe; `temp` is a valid C string that
    // `guard` leaked for this purpose and nothing frees while it is registered.
    unsafe {
        if !temp.is_null() {
            libc::unlink(temp);
        }
        libc::write(2, line.as_ptr().cast(), line.len());
        libc::_exit(128 + signal);
    }
}

/// Installs the handlers (once per run, before any output file exists).
pub fn install() {
    for signal in SIGNALS {
        // Safety: `sigaction` is zeroed plain data; the handler is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// Registers `path` as the file a signal must delete (replacing any earlier one).
pub fn guard(path: &Path) {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    let old = TEMP_FILE.swap(c.into_raw(), Ordering::SeqCst);
    free(old);
}

/// Unregisters the file (it was committed or already deleted).
pub fn release() {
    free(TEMP_FILE.swap(std::ptr::null_mut(), Ordering::SeqCst));
}

fn free(ptr: *mut libc::c_char) {
    if !ptr.is_null() {
        // Safety: every non-null pointer stored in TEMP_FILE came from CString::into_raw,
        // and the swap handed it to us alone.
        drop(unsafe { CString::from_raw(ptr) });
    }
}
