//! Per-OS seams: code that differs between Unix and Windows, one module per concern, each
//! with the same API for its callers. Everything else in the crate is portable.
//!
//! Here: the open-file limit (`limits`, for the server and the bench alike), and what
//! Windows needs instead of signals: its console control events (Ctrl-C, Ctrl-Break, a
//! closed console window). The Unix side of stop signals and timers is `net::stop` and
//! `net::timer`.

#[cfg(windows)]
pub mod console;
pub mod limits;
