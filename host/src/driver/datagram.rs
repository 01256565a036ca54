//! The UDP half of the [`Service`]: one datagram is one message, answered or refused by
//! echo-core's policy (source port, per-address rate), counted and logged.

use std::net::SocketAddr;

use echo_core::record::{Event, Proto, Reason, Record};
use echo_core::udp::Verdict;

use super::Service;
use crate::server::clock::wall_now;

impl Service {
    /// A UDP datagram of `len` bytes (in `data`) from `source`: `true` to send it back.
    /// Logs `echo` for answered and `refused` for refused datagrams.
    pub fn datagram(&mut self, source: SocketAddr, data: &[u8]) -> bool {
        let verdict = self.udp.check(self.clock.now(), source, data.len());
        let ts = wall_now();
        match verdict {
            Verdict::Reply => {
                self.bytes_in += data.len() as u64;
                self.bytes_out += data.len() as u64;
                if self.log.enabled(Event::Echo.level()) {
                    let peer = source.to_string();
                    let max = self.settings.echo.max_line.max(1);
                    let mut pieces = data.chunks(max).peekable();
                    if data.is_empty() {
                        self.totals.echoes += 1;
                        self.log.write(&udp_record(ts, &peer, b"", false));
                    }
                    while let Some(piece) = pieces.next() {
                        self.totals.echoes += 1;
                        let partial = pieces.peek().is_some();
                        self.log.write(&udp_record(ts, &peer, piece, partial));
                    }
                } else {
                    self.totals.echoes += 1;
                }
                true
            }
            Verdict::Refuse(reason) => {
                match reason {
                    Reason::Port => self.totals.refused_port += 1,
                    Reason::Rate => self.totals.refused_rate += 1,
                    _ => self.totals.refused_busy += 1,
                }
                if self.log.enabled(Event::Refused.level()) {
                    let peer = source.to_string();
                    let r = Record {
                        peer: Some(&peer),
                        proto: Some(Proto::Udp),
                        reason: Some(reason),
                        ..Record::event(ts, Event::Refused)
                    };
                    self.log.write(&r);
                }
                false
            }
        }
    }

    /// Scratch space for a runner to receive a datagram into (at least 65,508 bytes).
    pub fn datagram_buffer(&mut self) -> &mut [u8] {
        &mut self.scratch
    }
}

fn udp_record<'a>(
    ts: echo_core::time::Timestamp,
    peer: &'a str,
    msg: &'a [u8],
    partial: bool,
) -> Record<'a> {
    Record {
        peer: Some(peer),
        proto: Some(Proto::Udp),
        msg: Some(msg),
        partial,
        ..Record::event(ts, Event::Echo)
    }
}
