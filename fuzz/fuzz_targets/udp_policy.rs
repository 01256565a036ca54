//! The UDP echo policy over arbitrary (time, source, size) sequences: never a reply to a
//! source port below 1024 or to an oversized datagram, and never more replies per source IP
//! address than the rate allows: in any interval, at most `rate` (the burst) plus
//! `rate * elapsed`. With room in the table for every source, no source is refused as busy.
#![no_main]

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};

use arbitrary::Arbitrary;
use echo_core::record::Reason;
use echo_core::time::Instant;
use echo_core::udp::{MAX_DATAGRAM, Policy, Verdict};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Datagram {
    advance_ms: u16,
    /// Which of a few sources (so that sources repeat); odd ones are IPv6, and source 0 is
    /// also sent as its IPv4-mapped IPv6 form, which is the same address.
    source: u8,
    port: u16,
    size: u32,
}

#[derive(Arbitrary, Debug)]
struct Input {
    rate: u8,
    datagrams: Vec<Datagram>,
}

#[path = "../../core/tests/common/reference.rs"]
mod reference;
use reference::{key, source_ip};

/// Checks one policy; `roomy` when its table holds every source.
fn check<const N: usize>(input: &Input, roomy: bool) {
    let rate = u64::from(input.rate);
    let mut policy = Policy::<N>::new(input.rate.into());
    let mut now = 0u64;
    let mut replies: HashMap<Ipv6Addr, Vec<u64>> = HashMap::new();
    for d in &input.datagrams {
        now += u64::from(d.advance_ms);
        let ip = source_ip(d.source);
        let size = d.size as usize;
        let verdict = policy.check(Instant::from_millis(now), SocketAddr::new(ip, d.port), size);
        if size > MAX_DATAGRAM {
            assert_eq!(verdict, Verdict::Refuse(Reason::Size));
            continue;
        }
        if d.port < 1024 {
            assert_eq!(verdict, Verdict::Refuse(Reason::Port));
            continue;
        }
        if rate == 0 {
            assert_eq!(verdict, Verdict::Reply, "rate 0 is no limit");
            continue;
        }
        if roomy {
            assert_ne!(verdict, Verdict::Refuse(Reason::Busy));
        }
        if verdict != Verdict::Reply {
            continue;
        }
        let times = replies.entry(key(ip)).or_default();
        times.push(now);
        // Every window ending now: replies in [t, now] <= rate + rate * (now - t) / 1000.
        for (i, &t) in times.iter().enumerate() {
            let count = (times.len() - i) as u64;
            let allowed = rate + rate * (now - t) / 1000;
            assert!(
                count <= allowed,
                "{count} replies in {} ms to {ip}, rate {rate}",
                now - t
            );
        }
    }
}

fuzz_target!(|input: Input| {
    check::<8>(&input, true);
    check::<2>(&input, false);
});
