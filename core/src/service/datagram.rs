//! The UDP half of the [`Service`]: one datagram is one message, answered or refused by the
//! policy (source port, per-address rate), counted and logged.

use core::net::SocketAddr;

use super::sink::PeerText;
use super::{Admission, Counts, Log, Service, UdpPolicy};
use crate::record::{Event, Proto, Reason, Record};
use crate::time::{Instant, Timestamp};
use crate::udp::Verdict;

impl<L: Log, S: AsMut<[u8]>, P: UdpPolicy, A: Admission> Service<L, S, P, A> {
    /// A UDP datagram (`data`) from `source` at `now`: `true` to send it back. Logs `echo`
    /// for answered and `refused` for refused datagrams.
    pub fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) -> bool {
        let max_line = self.settings.echo.max_line;
        decide(
            &mut self.log,
            &mut self.udp,
            &mut self.counts,
            max_line,
            now,
            source,
            data,
        )
    }

    /// The scratch buffer, for a runner to receive a datagram into before
    /// [`Service::datagram_in_scratch`] (a datagram longer than it cannot be served).
    pub fn datagram_buffer(&mut self) -> &mut [u8] {
        self.scratch.as_mut()
    }

    /// [`Service::datagram`] for the datagram received into the first `len` bytes of
    /// [`Service::datagram_buffer`]; the runner sends those bytes back when it says `true`.
    pub fn datagram_in_scratch(&mut self, now: Instant, source: SocketAddr, len: usize) -> bool {
        let max_line = self.settings.echo.max_line;
        let scratch = self.scratch.as_mut();
        let data = &scratch[..len.min(scratch.len())];
        decide(
            &mut self.log,
            &mut self.udp,
            &mut self.counts,
            max_line,
            now,
            source,
            data,
        )
    }
}

/// The verdict on one datagram, counted and logged.
fn decide(
    log: &mut impl Log,
    udp: &mut impl UdpPolicy,
    counts: &mut Counts,
    max_line: usize,
    now: Instant,
    source: SocketAddr,
    data: &[u8],
) -> bool {
    match udp.check(now, source, data.len()) {
        Verdict::Reply => {
            counts.bytes_in += data.len() as u64;
            counts.bytes_out += data.len() as u64;
            if log.enabled(Event::Echo.level()) {
                let ts = log.timestamp(now);
                let peer = PeerText::new(&source);
                let peer = peer.as_str();
                let mut pieces = data.chunks(max_line.max(1)).peekable();
                if data.is_empty() {
                    counts.totals.echoes += 1;
                    log.write(&udp_record(ts, peer, b"", false));
                }
                while let Some(piece) = pieces.next() {
                    counts.totals.echoes += 1;
                    let partial = pieces.peek().is_some();
                    log.write(&udp_record(ts, peer, piece, partial));
                }
            }
            // Below the level no echo record is written, and `echoes` counts records (as TCP).
            true
        }
        Verdict::Refuse(reason) => {
            match reason {
                Reason::Port => counts.totals.refused_port += 1,
                Reason::Rate => counts.totals.refused_rate += 1,
                _ => counts.totals.refused_busy += 1,
            }
            if log.enabled(Event::Refused.level()) {
                let peer = PeerText::new(&source);
                let r = Record {
                    peer: Some(peer.as_str()),
                    proto: Some(Proto::Udp),
                    reason: Some(reason),
                    ..Record::event(log.timestamp(now), Event::Refused)
                };
                log.write(&r);
            }
            false
        }
    }
}

fn udp_record<'a>(ts: Timestamp, peer: &'a str, msg: &'a [u8], partial: bool) -> Record<'a> {
    Record {
        peer: Some(peer),
        proto: Some(Proto::Udp),
        msg: Some(msg),
        partial: partial.then_some(true),
        ..Record::event(ts, Event::Echo)
    }
}
