//! Server pieces shared by both transports: the log sink, the clock, the host's buffer.

pub mod buffer;
pub mod clock;
pub mod config;
pub mod console;
pub mod limits;
pub mod log;
