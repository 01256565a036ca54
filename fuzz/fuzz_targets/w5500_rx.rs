//! The W5500-EVB-Pico's receive path (`nic_adapters::w5500::Macraw` under its frame device)
//! over arbitrary receive-buffer contents: good frames, any bytes (a confused chip, a
//! glitched SPI read: impossible length headers, headers cut short), failed SPI transfers,
//! polled at any point. Asserts: no panic; every call returns; the driver never reads past
//! what the chip received (its read pointer stays behind the write pointer); every frame passed up has an
//! Ethernet length; frames queued with nothing odd before them come out intact and in
//! order (a failed transfer may lose one, never alter one); and once the garbage is
//! dropped a good frame is still received intact.
#![no_main]

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nic_adapters::fake::{Shared, W5500};
use nic_adapters::{MAX_FRAME, w5500};
use smoltcp::phy::{Device, RxToken};
use smoltcp::time::Instant;

const MAC: [u8; 6] = [0x02, 0x00, 0x00, 0xec, 0x40, 0x55];

#[derive(Arbitrary, Debug)]
enum Op {
    /// A frame from the wire, stored with its length header as the chip does.
    Frame { len: u16, seed: u8 },
    /// Bytes stored as they are.
    Raw(Vec<u8>),
    /// The next SPI transfer fails.
    Fault,
    /// The driver polls once.
    Poll,
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// What the test knows of the receive buffer.
#[derive(Default)]
struct Expect {
    /// Frames stored intact, oldest first: what may come up.
    queued: VecDeque<Vec<u8>>,
    /// Raw bytes are in the buffer: anything of an Ethernet length may come up.
    garbage: bool,
    /// A transfer failed: a frame may be lost (never altered).
    lossy: bool,
}

/// One poll: what came up must be a queued frame (the next one, unless garbage is about).
fn poll(nic: &mut w5500::Nic<Shared>, expect: &mut Expect, chip: &Shared) {
    let got = nic
        .receive(Instant::ZERO)
        .map(|(rx, _)| rx.consume(<[u8]>::to_vec));
    let waiting = usize::from(chip.with(|c| c.rx_waiting()));
    assert!(
        waiting <= 16 * 1024,
        "the read pointer passed the write pointer"
    );
    let empty = waiting == 0;
    if let Some(got) = got {
        assert!(
            (14..=MAX_FRAME).contains(&got.len()),
            "length {}",
            got.len()
        );
        if let Some(at) = expect.queued.iter().position(|f| *f == got) {
            assert!(
                at == 0 || expect.garbage || expect.lossy,
                "a good frame skipped or out of order"
            );
            expect.queued.drain(..=at);
        } else {
            assert!(expect.garbage, "a frame passed up that was never queued");
        }
    }
    if empty {
        // Everything waiting was read or dropped: nothing odd is left in the buffer.
        expect.queued.clear();
        expect.garbage = false;
        expect.lossy = false;
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let chip = Shared::new(W5500::default());
    let Ok(mut nic) = w5500::init(chip.clone(), MAC) else {
        panic!("the fake must come up");
    };
    let mut expect = Expect::default();
    for op in ops.into_iter().take(256) {
        match op {
            Op::Frame { len, seed } => {
                let f = frame(usize::from(len) % (MAX_FRAME + 1 - 14) + 14, seed);
                let before = chip.with(|c| c.overruns);
                chip.with(|c| c.inject(&f));
                if chip.with(|c| c.overruns) == before {
                    expect.queued.push_back(f);
                }
            }
            Op::Raw(bytes) => {
                let before = chip.with(|c| c.overruns);
                chip.with(|c| c.inject_raw(&bytes));
                expect.garbage |= !bytes.is_empty() && chip.with(|c| c.overruns) == before;
            }
            Op::Fault => {
                chip.with(|c| c.fail_next(1));
                expect.lossy = true;
            }
            Op::Poll => poll(&mut nic, &mut expect, &chip),
        }
    }
    // Drain: at most one call per waiting byte, then a good frame comes through intact.
    chip.with(|c| c.fail_next(0));
    let waiting = usize::from(chip.with(|c| c.rx_waiting()));
    for _ in 0..=waiting {
        if chip.with(|c| c.rx_waiting()) == 0 {
            break;
        }
        poll(&mut nic, &mut expect, &chip);
    }
    assert_eq!(
        chip.with(|c| c.rx_waiting()),
        0,
        "the receive buffer never drained"
    );
    let f = frame(60, 7);
    chip.with(|c| c.inject(&f));
    let got = nic
        .receive(Instant::ZERO)
        .map(|(rx, _)| rx.consume(<[u8]>::to_vec));
    assert_eq!(got, Some(f), "the receive path is wedged");
});
