//! Per-OS seams: code that differs between Unix and Windows, one module per concern, each
//! with the same API for its callers. Everything else in the crate is portable.
//!
//! The Unix side of each concern stays where it was written (`net::stop` for SIGINT/SIGTERM,
//! `net::timer`, `server::limits`, `archive::interrupt`, `client::interactive`); this module
//! holds what Windows needs instead: its console control events (Ctrl-C, Ctrl-Break, a
//! closed console window), which Unix delivers as signals.

#[cfg(windows)]
pub mod console;
