//! UDP echo: one worker serves the UDP socket (the per-source rate is that worker's policy,
//! so it holds for the whole server without sharing anything per datagram).

use std::io::{self, ErrorKind};
use std::net::SocketAddr;

use super::worker::Worker;

/// Datagrams handled per readiness round before other sockets get a turn.
const UDP_BUDGET: usize = 256;

impl Worker {
    /// Answers waiting datagrams, a bounded number per round (see [`drain`]).
    pub(super) fn serve_udp(&mut self) {
        self.udp_more = false;
        let Some(socket) = &self.udp else { return };
        let (service, clock, buf) = (&mut self.service, &self.clock, &mut self.udp_buf);
        self.udp_more = drain(
            buf,
            |buf| socket.recv_from(buf),
            |data, source| {
                if service.datagram(clock.now(), source, data) {
                    // A full send buffer drops the echo, as UDP may.
                    let _ = socket.send_to(data, source);
                }
            },
        );
    }
}

/// Receives and answers up to [`UDP_BUDGET`] datagrams; `true` when the budget ran out
/// on a datagram (more may be waiting: serve again without waiting for readiness). Other
/// errors than would-block (an ICMP error from an earlier send) are skipped, as datagrams
/// may wait behind them; but a round that ends on one does not ask for more, so an error
/// that persists costs one bounded round per readiness event, never a spinning loop.
fn drain(
    buf: &mut [u8],
    mut recv: impl FnMut(&mut [u8]) -> io::Result<(usize, SocketAddr)>,
    mut answer: impl FnMut(&[u8], SocketAddr),
) -> bool {
    let mut last_ok = false;
    for _ in 0..UDP_BUDGET {
        match recv(buf) {
            Ok((n, source)) => {
                answer(&buf[..n.min(buf.len())], source);
                last_ok = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => last_ok = false,
        }
    }
    last_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 5000))
    }

    /// The defect this fixes: a persistent error kept "more" set and the loop polled with
    /// a zero timeout forever.
    #[test]
    fn a_persistent_error_ends_the_round_without_asking_for_more() {
        let mut calls = 0;
        let more = drain(
            &mut [0; 16],
            |_| {
                calls += 1;
                Err(io::Error::other("persistent"))
            },
            |_, _| panic!("nothing to answer"),
        );
        assert!(!more, "no zero-timeout poll after errors");
        assert_eq!(calls, UDP_BUDGET, "bounded");
    }

    /// An ICMP error from an earlier send does not hide the datagrams behind it.
    #[test]
    fn datagrams_behind_an_error_are_served() {
        let mut script = vec![Ok((1, source())), Err(io::Error::other("icmp"))];
        let mut answered = 0;
        let more = drain(
            &mut [0; 16],
            |_| script.pop().unwrap_or(Err(ErrorKind::WouldBlock.into())),
            |_, _| answered += 1,
        );
        assert!(!more);
        assert_eq!(answered, 1);
    }

    #[test]
    fn would_block_ends_the_round_and_a_full_budget_asks_for_more() {
        let mut left = 3;
        let mut answered = 0;
        let more = drain(
            &mut [0; 16],
            |_| match left {
                0 => Err(ErrorKind::WouldBlock.into()),
                _ => {
                    left -= 1;
                    Ok((2, source()))
                }
            },
            |data, _| {
                assert_eq!(data.len(), 2);
                answered += 1;
            },
        );
        assert!(!more);
        assert_eq!(answered, 3);
        let more = drain(&mut [0; 16], |_| Ok((1, source())), |_, _| {});
        assert!(more, "a full budget: datagrams may be left");
    }
}
