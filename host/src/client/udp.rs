//! UDP: one datagram per line or probe; the echo is the one datagram that comes back.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use echo_core::udp::MAX_DATAGRAM;

use super::{Error, Failure, Link, Target, Wait, first_difference, read_failure, stopped};

/// A UDP socket connected to the server, so only its datagrams are received and an ICMP
/// "port unreachable" shows up as [`Failure::Refused`].
#[derive(Debug)]
pub struct UdpLink {
    socket: UdpSocket,
    buffer: Vec<u8>,
    read_timeout: Option<Duration>,
}

impl UdpLink {
    /// Binds an ephemeral port of the target's address family and connects it.
    pub fn connect(target: &Target) -> Result<(Self, SocketAddr), Error> {
        let connect_error = |source| Error::Connect {
            target: target.clone(),
            source,
        };
        let addr = target.resolve()?[0];
        let local: SocketAddr = match addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).map_err(connect_error)?;
        socket.connect(addr).map_err(connect_error)?;
        let link = UdpLink {
            socket,
            // One more than the largest datagram, so a longer reply shows as too long.
            buffer: vec![0; MAX_DATAGRAM + 1],
            read_timeout: None,
        };
        Ok((link, addr))
    }

    /// Checks that `size` bytes fit in one datagram.
    pub fn check_size(size: usize) -> Result<(), Error> {
        if size > MAX_DATAGRAM {
            return Err(Error::Unsendable(Failure::TooBig { len: size }.to_string()));
        }
        Ok(())
    }

    /// Receives datagrams until one is not `stale`, and compares it with `line`.
    ///
    /// Ping uses `stale` to drop late replies to earlier probes; the line modes drop none.
    pub fn expect_skipping(
        &mut self,
        line: &[u8],
        wait: Wait,
        stale: impl Fn(&[u8]) -> bool,
    ) -> Result<(), Failure> {
        let len = line.len();
        // A datagram arrives whole or not at all: the silence limit is the whole wait.
        let wait = match wait {
            Wait::Silence(limit) => Wait::Until(std::time::Instant::now() + limit),
            until => until,
        };
        loop {
            let Some(limit) = wait.limit() else {
                return Err(Failure::TimedOut { got: 0, len });
            };
            if self.read_timeout != Some(limit) {
                self.socket.set_read_timeout(Some(limit))?;
                self.read_timeout = Some(limit);
            }
            let n = match self.socket.recv(&mut self.buffer) {
                Ok(n) => n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {
                    if stopped() {
                        return Err(Failure::Interrupted);
                    }
                    continue;
                }
                // Windows reports an ICMP "port unreachable" as a reset (WSAECONNRESET).
                Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(Failure::Refused);
                }
                Err(error) => return Err(read_failure(error, 0, len)),
            };
            let reply = &self.buffer[..n];
            if stale(reply) {
                continue;
            }
            if let Some(offset) = first_difference(line, 0, reply) {
                return Err(Failure::Wrong {
                    offset,
                    len,
                    sent: line[offset],
                    got: reply[offset],
                });
            }
            return match n.cmp(&len) {
                std::cmp::Ordering::Less => Err(Failure::Short { got: n, len }),
                std::cmp::Ordering::Greater => Err(Failure::Long { got: n, len }),
                std::cmp::Ordering::Equal => Ok(()),
            };
        }
    }
}

impl Link for UdpLink {
    fn send(&mut self, line: &[u8]) -> Result<(), Failure> {
        if line.len() > MAX_DATAGRAM {
            return Err(Failure::TooBig { len: line.len() });
        }
        match self.socket.send(line) {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => Err(Failure::Refused),
            Err(error) => Err(Failure::Io(error)),
        }
    }

    fn expect(&mut self, line: &[u8], wait: Wait) -> Result<(), Failure> {
        self.expect_skipping(line, wait, |_| false)
    }
}
