//! Accepting: every waiting connection per readiness edge, a pause after running out of
//! descriptors, and (where workers do not each have a listener) handing connections to the
//! workers in turn.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;

use super::listen::is_transient_accept_error;
use super::worker::{Intake, Worker};

/// How long accepting pauses after running out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

impl Worker {
    /// Accepts every waiting connection (edge-triggered: until it would block).
    pub(super) fn accept_all(&mut self) {
        if self.accept_paused_until.is_some() {
            return;
        }
        loop {
            let Intake::Listener { listener, .. } = &self.intake else {
                return;
            };
            match listener.accept() {
                Ok((socket, peer)) => self.place(socket, peer),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // The backlog is drained: a streak of failures ends here, not at the
                    // first success (descriptors freed one at a time would otherwise log
                    // the same error once per freed descriptor).
                    self.accept_failing = false;
                    return;
                }
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors or memory: the connection stays queued in
                    // the kernel; try again shortly rather than spinning.
                    if !self.accept_failing {
                        // Once per streak: the retries every 100 ms would flood the log.
                        let now = self.clock.now();
                        self.service.error(now, &format!("accept failed: {e}"));
                        self.accept_failing = true;
                    }
                    self.accept_paused_until = Some(self.clock.now().saturating_add(ACCEPT_PAUSE));
                    return;
                }
            }
        }
    }

    /// Serves an accepted connection here, or hands it to the next worker in turn.
    fn place(&mut self, socket: TcpStream, peer: SocketAddr) {
        if let Intake::Listener { handoff, next, .. } = &mut self.intake {
            let turn = *next;
            *next = (turn + 1) % (handoff.len() + 1);
            if let Some((queue, wake)) = turn.checked_sub(1).and_then(|i| handoff.get(i)) {
                match queue.send((socket, peer)) {
                    // A failed wake leaves the connection to that worker's next round.
                    Ok(()) => {
                        let _ = wake.wake();
                    }
                    // That worker has ended (only while stopping): serve it here.
                    Err(returned) => {
                        let (socket, peer) = returned.0;
                        self.admit(socket, peer);
                    }
                }
                return;
            }
        }
        self.admit(socket, peer);
    }
}
