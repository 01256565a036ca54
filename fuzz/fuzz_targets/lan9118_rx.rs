//! The firmware's LAN9118 receive path over arbitrary FIFO contents: any status words (any
//! length, any error bits), any data, truncated frames and good frames in any order, polled
//! at any point. Asserts: no panic; every call returns after bounded work; no read past the
//! data FIFO; each frame passed up is one that was queued intact, in order; malformed,
//! truncated and oversized frames are counted, not passed up; and once the garbage is
//! drained a good frame is still received intact (the RX path is never wedged).
#![no_main]

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use lan9118::fake::Chip;
use lan9118::{Lan9118, MAX_FRAME, MIN_FRAME};
use libfuzzer_sys::fuzz_target;

const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x01];

#[derive(Arbitrary, Debug)]
enum Op {
    /// A frame from the wire, stored as the controller does (QEMU refuses < 14 or >= 2048).
    Frame { len: u16, seed: u8 },
    /// Any status word with data words: `keep` of the words the status implies make it
    /// (fewer is a truncated frame; the controller never stores more).
    Raw { status: u32, keep: u16, fill: u32 },
    /// The driver polls once.
    Poll,
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    let mut f: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    if f.len() >= 6 {
        f[..6].copy_from_slice(&MAC);
    }
    f
}

/// One receive into a buffer of the largest frame (what the firmware's frame device lends).
fn receive(nic: &mut Lan9118<Chip>) -> Option<Vec<u8>> {
    let mut buf = [0u8; MAX_FRAME];
    let len = nic.receive(&mut buf)?;
    Some(buf[..len].to_vec())
}

/// One poll: checks what the driver passed up against the frames queued intact.
fn check(nic: &mut Lan9118<Chip>, queued: &mut VecDeque<Vec<u8>>, garbage: bool) {
    let resyncs = nic.stats().rx_resyncs;
    let got = receive(nic);
    if nic.stats().rx_resyncs != resyncs {
        // The FIFOs were flushed: whatever was queued is gone.
        queued.clear();
    }
    let Some(got) = got else { return };
    assert!(
        (MIN_FRAME..=MAX_FRAME).contains(&got.len()),
        "length {}",
        got.len()
    );
    if !garbage {
        assert_eq!(
            Some(got),
            queued.pop_front(),
            "a good frame out of order or altered"
        );
    } else if let Some(at) = queued.iter().position(|f| *f == got) {
        // With raw words about, a frame passed up is one queued, or raw data that happens
        // to look like a frame (which no driver can tell apart).
        queued.drain(..=at);
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let Ok(mut nic) = Lan9118::new(Chip::new(), MAC) else {
        panic!("the fake must come up");
    };
    // Frames queued intact since the last resync: what the driver may pass up, in order.
    let mut queued = VecDeque::new();
    let mut garbage = false;
    for op in ops.into_iter().take(256) {
        match op {
            Op::Frame { len, seed } => {
                let len = usize::from(len) % 2100;
                let f = frame(len, seed);
                if nic.registers().push_frame(&f) && len <= MAX_FRAME {
                    queued.push_back(f);
                }
            }
            Op::Raw { status, keep, fill } => {
                let len = ((status >> 16) & 0x3fff) as usize;
                let words = vec![fill; len.div_ceil(4).min(usize::from(keep))];
                if nic.registers().push_raw(status, &words) {
                    garbage = true;
                }
            }
            Op::Poll => check(&mut nic, &mut queued, garbage),
        }
    }
    // Drain: a bounded number of calls empties the FIFOs (each call consumes at least one
    // status word or flushes them all).
    for _ in 0..=lan9118::fake::RX_STATUSES {
        if nic.registers().rx_statuses() == 0 {
            break;
        }
        check(&mut nic, &mut queued, garbage);
    }
    assert_eq!(
        nic.registers().rx_statuses(),
        0,
        "the driver stopped draining"
    );
    assert_eq!(nic.registers().underflows, 0, "read past the data FIFO");
    // Never wedged: a good frame now arrives intact.
    let good = frame(98, 0x5a);
    assert!(nic.registers().push_frame(&good));
    assert_eq!(
        receive(&mut nic),
        Some(good),
        "a good frame after garbage was lost"
    );
    assert_eq!(nic.registers().rx_words(), 0);
});
