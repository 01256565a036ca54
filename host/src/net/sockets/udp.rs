//! UDP echo: one worker serves the UDP socket (the per-source rate is that worker's policy,
//! so it holds for the whole server without sharing anything per datagram).

use std::io::ErrorKind;

use super::worker::Worker;

/// Datagrams handled per readiness round before other sockets get a turn.
const UDP_BUDGET: usize = 256;

impl Worker {
    /// Answers waiting datagrams, a bounded number per round. Only a full budget of
    /// datagrams asks for another round at once: an error (an ICMP error from an earlier
    /// send, or one that persists) ends the round, and the socket's next readiness brings
    /// the next; it never makes the loop spin.
    pub(super) fn serve_udp(&mut self) {
        self.udp_more = false;
        let Some(socket) = &self.udp else { return };
        for _ in 0..UDP_BUDGET {
            match socket.recv_from(&mut self.udp_buf) {
                Ok((n, source)) => {
                    let data = &self.udp_buf[..n];
                    if self.service.datagram(self.clock.now(), source, data) {
                        // A full send buffer drops the echo, as UDP may.
                        let _ = socket.send_to(data, source);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // ICMP errors from earlier sends and the like: the socket still works, and
                // epoll reports it readable again if datagrams wait. Leave `udp_more`
                // unset: retrying at once an error that persists would spin.
                Err(_) => return,
            }
        }
        self.udp_more = true;
    }
}
