//! Per-OS seams: code that differs between Unix and Windows, one module per concern, each
//! with the same API for its callers. Everything else in the crate is portable.
//!
//! Here: the open-file limit (`limits`, for the server and the bench alike), the server's
//! signals on Unix (`signals`), and what Windows has instead: its console control events
//! (Ctrl-C, Ctrl-Break, a closed console window). Both feed `net::stop`; the timers are
//! `net::timer`.

#[cfg(windows)]
pub mod console;
pub mod limits;
#[cfg(unix)]
pub(crate) mod signals;
