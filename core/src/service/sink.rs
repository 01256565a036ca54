//! What the service needs from its runner besides sockets: where records go, what time it
//! is on the wall, and which datagrams to answer.

use core::fmt;
use core::net::SocketAddr;

use crate::record::{Level, Record};
use crate::time::{Instant, Timestamp};
use crate::udp::{self, Verdict};

/// Where the service's records go (a file and a console on a PC, a UART on a device).
///
/// The sink decides the level threshold and the wall clock: the service asks
/// [`Log::enabled`] before it builds a record it might not need, and stamps records with
/// [`Log::timestamp`] of the runner's monotonic `now`.
pub trait Log {
    /// Whether a record at `level` is written (`listening` and `shutdown` always are).
    fn enabled(&self, level: Level) -> bool;

    /// Writes `record` whatever its level.
    fn write_always(&mut self, record: &Record<'_>);

    /// The wall-clock time of a record made at `now`. A PC answers real UTC; a device
    /// without a wall clock counts from boot as if boot were 1970-01-01T00:00:00.000Z
    /// ([`Timestamp::from_unix_millis`] of `now`).
    fn timestamp(&mut self, now: Instant) -> Timestamp;

    /// Records the sink dropped rather than wait for a slow reader (a console nobody
    /// reads), for the `shutdown` record's `console_dropped`. A sink that never drops
    /// (a file, a UART that blocks) keeps the default.
    fn dropped(&mut self) -> u64 {
        0
    }

    /// Writes `record` if its level is enabled.
    #[inline]
    fn write(&mut self, record: &Record<'_>) {
        if self.enabled(record.level) {
            self.write_always(record);
        }
    }
}

impl<L: Log + ?Sized> Log for &mut L {
    #[inline]
    fn enabled(&self, level: Level) -> bool {
        (**self).enabled(level)
    }

    fn write_always(&mut self, record: &Record<'_>) {
        (**self).write_always(record);
    }

    fn timestamp(&mut self, now: Instant) -> Timestamp {
        (**self).timestamp(now)
    }

    fn dropped(&mut self) -> u64 {
        (**self).dropped()
    }

    #[inline]
    fn write(&mut self, record: &Record<'_>) {
        (**self).write(record);
    }
}

/// Which UDP datagrams get an answer: [`udp::Policy`], owned or lent.
pub trait UdpPolicy {
    /// Decides on a datagram of `size` bytes from `source` at `now` (see [`udp::Policy::check`]).
    fn check(&mut self, now: Instant, source: SocketAddr, size: usize) -> Verdict;

    /// Sets the rate (datagrams a second per source address, 0: unlimited): the service
    /// passes its [`super::Settings::udp_rate`], so the settings are the one source of it.
    fn set_rate(&mut self, rate: u32);
}

impl<const N: usize> UdpPolicy for udp::Policy<N> {
    fn check(&mut self, now: Instant, source: SocketAddr, size: usize) -> Verdict {
        udp::Policy::check(self, now, source, size)
    }

    fn set_rate(&mut self, rate: u32) {
        udp::Policy::set_rate(self, rate);
    }
}

impl<P: UdpPolicy + ?Sized> UdpPolicy for &mut P {
    fn check(&mut self, now: Instant, source: SocketAddr, size: usize) -> Verdict {
        (**self).check(now, source, size)
    }

    fn set_rate(&mut self, rate: u32) {
        (**self).set_rate(rate);
    }
}

/// A peer address as text for a record, formatted on the stack (the core keeps addresses,
/// not strings: 32 bytes per connection instead of a heap string).
pub(super) struct PeerText(heapless::String<{ PeerText::MAX }>);

impl PeerText {
    /// `[` + the longest IPv6 text (45) + `%` + a 10-digit scope + `]:65535`.
    const MAX: usize = 1 + 45 + 11 + 7;

    pub(super) fn new(addr: &SocketAddr) -> Self {
        let mut text = heapless::String::new();
        // Cannot fail: MAX is the longest form a socket address takes.
        match addr {
            // The common case, by hand: `Display` through `core::fmt` costs ~10x more, and
            // an echo record is written per line.
            SocketAddr::V4(v4) => {
                for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                    if i > 0 {
                        let _ = text.push('.');
                    }
                    push_decimal(&mut text, u16::from(octet));
                }
                let _ = text.push(':');
                push_decimal(&mut text, v4.port());
            }
            SocketAddr::V6(_) => {
                let _ = fmt::write(&mut text, format_args!("{addr}"));
            }
        }
        PeerText(text)
    }

    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Appends `n` in decimal (what does not fit is left out).
fn push_decimal<const N: usize>(text: &mut heapless::String<N>, n: u16) {
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        let _ = text.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use std::string::ToString;

    use super::*;

    #[test]
    fn peer_text_is_the_display_form_even_at_its_longest() {
        let longest = SocketAddr::V6(core::net::SocketAddrV6::new(
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
                .parse()
                .unwrap(),
            65535,
            0,
            u32::MAX,
        ));
        for addr in [
            longest,
            SocketAddr::from(([127, 0, 0, 1], 50512)),
            SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], 7)),
        ] {
            assert_eq!(PeerText::new(&addr).as_str(), addr.to_string());
        }
    }

    proptest::proptest! {
        #[test]
        fn peer_text_is_the_display_form_of_any_address(
            ip4 in proptest::prelude::any::<[u8; 4]>(),
            ip6 in proptest::prelude::any::<[u16; 8]>(),
            port in proptest::prelude::any::<u16>(),
            scope in proptest::prelude::any::<u32>(),
        ) {
            let v4 = SocketAddr::from((ip4, port));
            let text = PeerText::new(&v4);
            proptest::prop_assert_eq!(text.as_str(), v4.to_string());
            let v6 = SocketAddr::V6(core::net::SocketAddrV6::new(ip6.into(), port, 0, scope));
            let text = PeerText::new(&v6);
            proptest::prop_assert_eq!(text.as_str(), v6.to_string());
        }
    }
}
