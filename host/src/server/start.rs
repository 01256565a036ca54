//! Start-up and shutdown, written once for both runners (the std sockets and the TAP).
//!
//! `cmd::server` opens the runner's transport (binding, or the TAP), then [`start`]: the
//! log, the stop signal (SIGINT/SIGTERM stop, SIGHUP reopens the log; Ctrl-C on Windows)
//! and one ready service per worker. The runner serves them until stopped, closes its
//! connections, and ends with [`finish`]: worker 0's service takes every other worker's
//! totals, writes the one `shutdown` record and closes the log.

use std::io;

use echo_core::service::{Admission, Counts};
use echo_core::time::Instant;

use super::Summary;
use super::service::{HostService, Settings, new_service};
use crate::log::{self, LogConfig};
use crate::net::stop::Stop;

/// What a runner is handed: one ready service per worker (worker 0's first), all logging
/// to the same outputs and admitting through one admission, and the one stop signal.
#[derive(Debug)]
pub struct Started<A> {
    /// One per worker, worker 0's first.
    pub services: Vec<HostService<A>>,
    /// What stops every worker.
    pub stop: Stop,
}

/// Why the start-up failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The log file could not be opened (the user's to fix: exit 2).
    #[error(transparent)]
    Log(#[from] log::OpenError),
    /// The signal handlers could not be installed (exit 1).
    #[error("cannot handle SIGINT/SIGTERM/SIGHUP")]
    Signals(#[source] io::Error),
}

/// Opens the log, installs the signal handlers when `signals` (the binary; tests stop
/// through [`Stop::stopper`]) and builds `workers` services (at least one) over them, each
/// admitting through a clone of `admission`.
pub fn start<A: Admission + Clone>(
    log: &LogConfig,
    settings: &Settings,
    workers: usize,
    admission: A,
    signals: bool,
) -> Result<Started<A>, StartError> {
    let sink = log::open(log)?;
    let stop = if signals {
        Stop::on_signals().map_err(StartError::Signals)?
    } else {
        Stop::new()
    };
    let mut services = Vec::with_capacity(workers.max(1));
    for _ in 1..workers.max(1) {
        services.push(new_service(
            settings.clone(),
            sink.another(),
            admission.clone(),
        ));
    }
    // Worker 0 keeps the sink that was opened: it writes `shutdown` and closes the log.
    services.insert(0, new_service(settings.clone(), sink, admission));
    Ok(Started { services, stop })
}

/// Shutdown, once every worker stopped and closed its connections: worker 0's `lead`
/// service adds the `others`' totals (their records already flushed), writes `shutdown`
/// and closes the log.
pub fn finish<A: Admission>(
    mut lead: HostService<A>,
    others: impl IntoIterator<Item = Counts>,
    now: Instant,
) -> Summary {
    for counts in others {
        lead.absorb(&counts);
    }
    lead.shutdown(now, std::iter::empty::<&mut super::service::Connection>());
    close(lead)
}

/// Closes the log of a service that already wrote `shutdown` (the TAP runner, whose stack
/// writes it as it closes its sockets, as the firmware's does).
pub fn close<A: Admission>(mut lead: HostService<A>) -> Summary {
    Summary {
        lost_records: lead.log_mut().close(),
    }
}

#[cfg(test)]
mod tests {
    use echo_core::record::{Event, Level, Reason, Record};

    use super::*;
    use crate::log::Mode;
    use crate::server::service::{Connection, SharedAdmission};

    /// Every worker's service writes to the one log; `finish` writes one `shutdown` with
    /// the totals of all of them, last.
    #[test]
    fn services_share_the_log_and_finish_sums_their_totals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let log = LogConfig {
            mode: Mode::File,
            file: path.clone(),
            level: Level::Info,
        };
        let settings = Settings::default();
        let Started { services, stop } =
            start(&log, &settings, 3, SharedAdmission::default(), false).unwrap();
        assert_eq!(services.len(), 3);
        assert!(!stop.stopper().is_stopped());
        let now = Instant::from_millis(0);
        let peer = "127.0.0.1:5".parse().unwrap();
        let mut services = services.into_iter();
        let mut lead = services.next().unwrap();
        let mut others = Vec::new();
        for mut s in services {
            let conn: Connection = s.accept(now, peer).unwrap();
            s.close(now, conn, Reason::Eof);
            s.log_mut().flush();
            others.push(s.counts());
        }
        let conn: Connection = lead.accept(now, peer).unwrap();
        lead.close(now, conn, Reason::Eof);
        assert_eq!(finish(lead, others, now).lost_records, 0);
        let text = std::fs::read(&path).unwrap();
        let mut scratch = vec![0; text.len()];
        let lines: Vec<_> = text.split_inclusive(|&b| b == b'\n').collect();
        let last = Record::parse(lines[lines.len() - 1], &mut scratch).unwrap();
        assert_eq!(last.event, Event::Shutdown);
        assert_eq!(last.totals.conns, Some(3));
        let shutdowns = lines
            .iter()
            .filter(|l| Record::parse(l, &mut scratch).unwrap().event == Event::Shutdown)
            .count();
        assert_eq!(shutdowns, 1);
    }
}
