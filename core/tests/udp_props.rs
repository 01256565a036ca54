//! Properties of the UDP echo policy over random datagram sequences: no reply to a source
//! port below 1024 or an oversized datagram, and per source IP address never more replies
//! in any interval than the burst plus the rate allows (`fuzz/` runs the same longer).

mod common;

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};

use common::{key, source_ip};
use echo_core::record::Reason;
use echo_core::time::Instant;
use echo_core::udp::{MAX_DATAGRAM, Policy, Verdict};
use proptest::prelude::*;

type Datagram = (u16, u8, u16, usize);

fn datagrams() -> impl Strategy<Value = Vec<Datagram>> {
    prop::collection::vec(
        (
            prop_oneof![3 => 0u16..20, 1 => 0u16..3000],
            any::<u8>(),
            prop_oneof![9 => 1024u16.., 1 => 0u16..1024],
            prop_oneof![9 => 0usize..=MAX_DATAGRAM, 1 => MAX_DATAGRAM..70_000],
        ),
        0..300,
    )
}

fn check<const N: usize>(
    rate: u32,
    datagrams: &[Datagram],
    roomy: bool,
) -> Result<(), TestCaseError> {
    let mut policy = Policy::<N>::new(rate);
    let rate = u64::from(rate);
    let mut now = 0u64;
    let mut replies: HashMap<Ipv6Addr, Vec<u64>> = HashMap::new();
    for &(advance, source, port, size) in datagrams {
        now += u64::from(advance);
        let ip = source_ip(source);
        let verdict = policy.check(Instant::from_millis(now), SocketAddr::new(ip, port), size);
        if size > MAX_DATAGRAM {
            prop_assert_eq!(verdict, Verdict::Refuse(Reason::Size));
        } else if port < 1024 {
            prop_assert_eq!(verdict, Verdict::Refuse(Reason::Port));
        } else if rate == 0 {
            prop_assert_eq!(verdict, Verdict::Reply);
        } else if verdict == Verdict::Reply {
            let times = replies.entry(key(ip)).or_default();
            times.push(now);
            for (i, &t) in times.iter().enumerate() {
                let count = (times.len() - i) as u64;
                prop_assert!(
                    count <= rate + rate * (now - t) / 1000,
                    "{count} in {} ms",
                    now - t
                );
            }
        } else if roomy {
            prop_assert_eq!(verdict, Verdict::Refuse(Reason::Rate));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn replies_never_exceed_burst_plus_rate(rate in prop_oneof![Just(0u32), 1u32..50], ds in datagrams()) {
        check::<8>(rate, &ds, true)?;
        check::<2>(rate, &ds, false)?;
    }

    /// A source that keeps within its rate always gets its answers.
    #[test]
    fn a_source_within_its_rate_is_always_answered(rate in 1u32..100, n in 1usize..200) {
        let mut policy = Policy::<4>::new(rate);
        let gap = 1000_u64.div_ceil(u64::from(rate));
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        for i in 0..n as u64 {
            prop_assert_eq!(policy.check(Instant::from_millis(i * gap), src, 64), Verdict::Reply);
        }
    }
}
