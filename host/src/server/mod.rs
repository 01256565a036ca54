//! Server pieces shared by both transports: the service as the host runs it, the log
//! sink and console, the clock, the host's buffer, the validated settings.

pub mod buffer;
pub mod clock;
pub mod config;
pub mod console;
pub mod log;
pub mod service;
