//! Which UDP echo datagrams get an answer (RFC 862 over UDP, made safe to expose).
//!
//! UDP echo is a classic amplifier: a spoofed datagram "from" another echo or chargen
//! service starts an endless loop, and a spoofed victim gets the replies. So [`Policy`]
//! never answers source ports below 1024, and answers at most `rate` datagrams a second
//! (with a burst of the same size) per source IP address, tracked in a fixed table.
//!
//! The table never forgets a source that could still be limited: an entry is reused only
//! once its bucket has refilled (it is then no different from a new one); when every entry
//! is still in use, a new source is refused as [`Reason::Busy`]. So no source ever gets
//! more than `rate` answers a second plus the burst, whatever the traffic.

use core::net::{IpAddr, SocketAddr};

use crate::record::Reason;
use crate::time::Instant;

/// The largest UDP payload over IPv4 (65,535 − 20 − 8).
pub const MAX_DATAGRAM: usize = 65_507;

/// Answer or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Echo the datagram.
    Reply,
    /// Drop it, for this reason (`port`, `rate`, `busy` or `size`).
    Refuse(Reason),
}

/// Milli-tokens one datagram costs.
const COST: u64 = 1000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: [u8; 16],
    milli_tokens: u64,
    last: Instant,
}

/// The UDP answer policy, with room to track `N` source addresses at once.
#[derive(Debug, Clone)]
pub struct Policy<const N: usize> {
    rate: u32,
    entries: [Option<Entry>; N],
}

impl<const N: usize> Policy<N> {
    /// A policy answering at most `rate` datagrams a second per source IP address, with a
    /// burst of `rate`. `rate == 0` means no rate limit (ports below 1024 are still refused).
    pub const fn new(rate: u32) -> Self {
        Policy {
            rate,
            entries: [None; N],
        }
    }

    /// The configured rate (datagrams a second per source address).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Changes the rate; sources already tracked keep their current budget.
    pub fn set_rate(&mut self, rate: u32) {
        self.rate = rate;
    }

    /// Decides on a datagram of `size` bytes from `source` at `now`, and counts it against
    /// the source's budget when answered. A pure function of the calls so far.
    pub fn check(&mut self, now: Instant, source: SocketAddr, size: usize) -> Verdict {
        if size > MAX_DATAGRAM {
            return Verdict::Refuse(Reason::Size);
        }
        if source.port() < 1024 {
            return Verdict::Refuse(Reason::Port);
        }
        if self.rate == 0 {
            return Verdict::Reply;
        }
        let ip = ip_key(source.ip());
        let capacity = u64::from(self.rate) * COST;
        let rate = u64::from(self.rate);
        let refill = |e: &Entry| {
            let elapsed = now.millis().saturating_sub(e.last.millis());
            e.milli_tokens
                .saturating_add(elapsed.saturating_mul(rate))
                .min(capacity)
        };
        let index = match self
            .entries
            .iter()
            .position(|e| e.is_some_and(|e| e.ip == ip))
        {
            Some(i) => i,
            None => {
                // A free entry, or one whose bucket is full again (as good as new).
                let Some(i) = self
                    .entries
                    .iter()
                    .position(|e| e.is_none_or(|e| refill(&e) >= capacity))
                else {
                    return Verdict::Refuse(Reason::Busy);
                };
                self.entries[i] = Some(Entry {
                    ip,
                    milli_tokens: capacity,
                    last: now,
                });
                i
            }
        };
        let Some(entry) = self.entries[index].as_mut() else {
            return Verdict::Refuse(Reason::Busy);
        };
        let tokens = refill(entry);
        // Never move `last` backwards: a clock that jumps back must not mint tokens later.
        entry.last = entry.last.max(now);
        if tokens >= COST {
            entry.milli_tokens = tokens - COST;
            Verdict::Reply
        } else {
            entry.milli_tokens = tokens;
            Verdict::Refuse(Reason::Rate)
        }
    }
}

/// An IP address as 16 bytes (IPv4 as IPv4-mapped IPv6), so both share one table.
fn ip_key(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_privileged_source_ports() {
        let mut p = Policy::<4>::new(100);
        assert_eq!(
            p.check(Instant::ZERO, addr("127.0.0.1:7"), 10),
            Verdict::Refuse(Reason::Port)
        );
        assert_eq!(
            p.check(Instant::ZERO, addr("127.0.0.1:1023"), 10),
            Verdict::Refuse(Reason::Port)
        );
        assert_eq!(
            p.check(Instant::ZERO, addr("127.0.0.1:1024"), 10),
            Verdict::Reply
        );
    }

    #[test]
    fn refuses_oversized() {
        let mut p = Policy::<4>::new(0);
        assert_eq!(
            p.check(Instant::ZERO, addr("127.0.0.1:5000"), MAX_DATAGRAM + 1),
            Verdict::Refuse(Reason::Size)
        );
        assert_eq!(
            p.check(Instant::ZERO, addr("127.0.0.1:5000"), MAX_DATAGRAM),
            Verdict::Reply
        );
    }

    #[test]
    fn bursts_then_limits_then_refills() {
        let mut p = Policy::<4>::new(10);
        let src = addr("10.0.0.1:5000");
        let t0 = Instant::from_millis(1000);
        for _ in 0..10 {
            assert_eq!(p.check(t0, src, 1), Verdict::Reply);
        }
        assert_eq!(p.check(t0, src, 1), Verdict::Refuse(Reason::Rate));
        // Another port of the same address shares the budget.
        assert_eq!(
            p.check(t0, addr("10.0.0.1:6000"), 1),
            Verdict::Refuse(Reason::Rate)
        );
        // Another address does not.
        assert_eq!(p.check(t0, addr("10.0.0.2:5000"), 1), Verdict::Reply);
        // 100 ms later, one more token.
        let t1 = Instant::from_millis(1100);
        assert_eq!(p.check(t1, src, 1), Verdict::Reply);
        assert_eq!(p.check(t1, src, 1), Verdict::Refuse(Reason::Rate));
    }

    #[test]
    fn full_table_refuses_new_sources_until_one_refills() {
        let mut p = Policy::<2>::new(10);
        let t0 = Instant::from_millis(0);
        assert_eq!(p.check(t0, addr("10.0.0.1:5000"), 1), Verdict::Reply);
        assert_eq!(p.check(t0, addr("10.0.0.2:5000"), 1), Verdict::Reply);
        assert_eq!(
            p.check(t0, addr("10.0.0.3:5000"), 1),
            Verdict::Refuse(Reason::Busy)
        );
        // After 100 ms both buckets are full again, so an entry can be reused.
        let t1 = Instant::from_millis(100);
        assert_eq!(p.check(t1, addr("10.0.0.3:5000"), 1), Verdict::Reply);
    }

    #[test]
    fn ipv4_and_ipv6_share_the_table() {
        let mut p = Policy::<4>::new(1);
        assert_eq!(
            p.check(Instant::ZERO, addr("127.0.0.1:5000"), 1),
            Verdict::Reply
        );
        assert_eq!(
            p.check(Instant::ZERO, addr("[::ffff:127.0.0.1]:5000"), 1),
            Verdict::Refuse(Reason::Rate)
        );
        assert_eq!(
            p.check(Instant::ZERO, addr("[::1]:5000"), 1),
            Verdict::Reply
        );
    }
}
