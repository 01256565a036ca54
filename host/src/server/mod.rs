//! Server pieces shared by both transports: the service as the host runs it, its start-up
//! and shutdown, the clock, the host's buffer, the validated settings. (Its log is
//! [`crate::log`].)

pub mod buffer;
pub mod clock;
pub mod config;
pub mod service;
pub mod start;

/// What a run of either runner did, for the caller's exit status and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Records lost to log write errors (each failure already reported on stderr).
    pub lost_records: u64,
}

impl Summary {
    /// The closing line on stderr when records were lost (none otherwise).
    pub fn report(&self) {
        if self.lost_records > 0 {
            crate::exit::stderr_line(&format!(
                "echokit server: {} log records were lost to write errors",
                self.lost_records
            ));
        }
    }
}
