//! The window workaround, frames in and properties out: only a plain ACK of a known flow
//! at or just past smoltcp's edge changes, and only its sequence number; nothing panics.

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;
use smoltcp::phy::{self, Device, DeviceCapabilities, RxToken as _, TxToken as _};
use smoltcp::time::Instant;

use super::*;
use crate::smoltcp::segment::FLAG_ACK;

fn edges() -> Edges<'static> {
    Edges::new(vec![FlowSlot::EMPTY; 64])
}

/// What the device wrapper does to a received frame: the change, applied in place.
fn apply(z: &mut Edges<'_>, frame: &mut [u8]) -> bool {
    match z.received(frame) {
        Some((at, seq)) => {
            frame[at..at + 4].copy_from_slice(&seq.to_be_bytes());
            true
        }
        None => false,
    }
}

const SMOL: [u8; 4] = [192, 168, 69, 1];
const KERNEL: [u8; 4] = [192, 168, 69, 100];
const ACK: u8 = FLAG_ACK;

/// An Ethernet + IPv4 + TCP frame with `options` and `data` zero bytes of payload.
fn frame(from_smol: bool, seq: u32, ack: u32, flags: u8, win: u16, data: usize) -> Vec<u8> {
    with_options(from_smol, seq, ack, flags, win, &[], data)
}

fn with_options(
    from_smol: bool,
    seq: u32,
    ack: u32,
    flags: u8,
    win: u16,
    options: &[u8],
    data: usize,
) -> Vec<u8> {
    let (src, dst, sport, dport) = if from_smol {
        (SMOL, KERNEL, 7777u16, 40000u16)
    } else {
        (KERNEL, SMOL, 40000, 7777)
    };
    let tcp_len = 20 + options.len();
    let mut f = vec![0u8; 14 + 20 + tcp_len + data];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((20 + tcp_len + data) as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let tcp = &mut f[34..34 + tcp_len];
    tcp[0..2].copy_from_slice(&sport.to_be_bytes());
    tcp[2..4].copy_from_slice(&dport.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&ack.to_be_bytes());
    tcp[12] = ((tcp_len / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&win.to_be_bytes());
    tcp[20..].copy_from_slice(options);
    f
}

/// smoltcp's SYN-ACK with window shift 5 (MSS, NOP, window scale, NOP).
fn syn_ack(ack: u32) -> Vec<u8> {
    let options = [2, 4, 5, 0xb4, 1, 3, 3, 5, 1, 1, 1, 0];
    with_options(true, 6, ack, ACK | FLAG_SYN, 65535, &options, 0)
}

fn seq(frame: &[u8]) -> u32 {
    u32::from_be_bytes([frame[38], frame[39], frame[40], frame[41]])
}

#[test]
fn an_ack_just_past_a_zero_window_is_taken_at_its_edge() {
    // The trace of a stuck run: smoltcp acked 3966184209 with window 0; the kernel's
    // window updates came with sequence number 3966184225 (16 bytes past).
    let mut z = edges();
    z.sent(&syn_ack(1));
    z.sent(&frame(true, 7, 3_966_184_209, ACK, 0, 0));
    let mut update = frame(false, 3_966_184_225, 8, ACK, 465, 0);
    assert!(apply(&mut z, &mut update));
    // Only the sequence number changed.
    assert_eq!(update, frame(false, 3_966_184_209, 8, ACK, 465, 0));
    // At the edge already: smoltcp takes it as it is.
    let mut at_edge = frame(false, 3_966_184_209, 8, ACK, 465, 0);
    assert!(!apply(&mut z, &mut at_edge));
}

#[test]
fn an_ack_at_or_past_a_shrunk_open_window_goes_just_inside() {
    let mut z = edges();
    z.sent(&syn_ack(1));
    // Window 1929 << 5 = 61728 bytes from 1000: the edge is 62728.
    z.sent(&frame(true, 7, 1000, ACK, 1929, 0));
    for past in [62_728, 62_744] {
        let mut update = frame(false, past, 8, ACK, 465, 0);
        assert!(apply(&mut z, &mut update), "{past}");
        assert_eq!(seq(&update), 62_727);
    }
    // Inside the window, or too far past it to be rounding: untouched.
    for s in [1000, 62_727, 62_728 + MAX_ROUNDING] {
        let mut f = frame(false, s, 8, ACK, 465, 0);
        assert!(!apply(&mut z, &mut f), "{s}");
        assert_eq!(seq(&f), s);
    }
}

#[test]
fn an_ack_after_data_that_filled_the_window_is_taken_at_the_edge() {
    // Another stuck run: smoltcp advertised 688 << 5 bytes from 571683795 (edge
    // 571705811); the kernel's data reached 571705827, and its window update (sequence
    // number 571705827) came before smoltcp's zero-window ACK. One byte before the edge
    // would be behind smoltcp's RCV.NXT (a keep-alive to it); the edge is RCV.NXT.
    let mut z = edges();
    z.sent(&syn_ack(1));
    z.sent(&frame(true, 7, 571_683_795, ACK, 688, 0));
    let mut data = frame(false, 571_683_795, 8, ACK | 0x08, 0, 22_032);
    assert!(!apply(&mut z, &mut data));
    let mut update = frame(false, 571_705_827, 8, ACK, 446, 0);
    assert!(apply(&mut z, &mut update));
    assert_eq!(seq(&update), 571_705_811);
}

#[test]
fn only_plain_acks_of_a_known_flow_change() {
    let mut z = edges();
    // No SYN-ACK seen (a connection from before): nothing is known, nothing changes.
    z.sent(&frame(true, 7, 1000, ACK, 0, 0));
    let mut f = frame(false, 1016, 8, ACK, 465, 0);
    assert!(!apply(&mut z, &mut f));
    z.sent(&syn_ack(1));
    z.sent(&frame(true, 7, 1000, ACK | 0x08, 0, 10));
    let untouched = [
        // Data: smoltcp answers it with an ACK as it should.
        frame(false, 1016, 8, ACK, 465, 16),
        // FIN, RST, SYN, and no ACK at all.
        frame(false, 1016, 8, ACK | 0x01, 465, 0),
        frame(false, 1016, 8, ACK | FLAG_RST, 465, 0),
        frame(false, 1016, 8, ACK | FLAG_SYN, 465, 0),
        frame(false, 1016, 8, FLAG_RST, 465, 0),
        // smoltcp's own frames.
        frame(true, 1016, 8, ACK, 465, 0),
    ];
    for f in untouched {
        let mut g = f.clone();
        assert!(!apply(&mut z, &mut g));
        assert_eq!(g, f);
    }
    // Another connection (other port) is not known.
    let mut other = frame(false, 1016, 8, ACK, 465, 0);
    other[34..36].copy_from_slice(&40001u16.to_be_bytes());
    assert!(!apply(&mut z, &mut other));
    // Ethernet padding is not data.
    let mut padded = frame(false, 1016, 8, ACK, 465, 0);
    padded.extend_from_slice(&[0; 6]);
    assert!(apply(&mut z, &mut padded));
    assert_eq!(seq(&padded), 1000);
    // Sequence numbers wrap.
    z.sent(&frame(true, 7, u32::MAX - 5, ACK, 0, 0));
    let mut wrapped = frame(false, 10, 8, ACK, 465, 0);
    assert!(apply(&mut z, &mut wrapped));
    assert_eq!(seq(&wrapped), u32::MAX - 5);
    // A reset from smoltcp forgets the flow.
    z.sent(&frame(true, 7, 1000, ACK | FLAG_RST, 0, 0));
    let mut after = frame(false, 1016, 8, ACK, 465, 0);
    assert!(!apply(&mut z, &mut after));
}

#[test]
fn window_scale_is_read_from_any_options() {
    assert_eq!(window_shift(&[1, 1, 3, 3, 7]), 7);
    assert_eq!(window_shift(&[2, 4, 5, 0xb4, 3, 3, 14]), 14);
    assert_eq!(window_shift(&[3, 3, 20]), 14);
    for none in [
        &[][..],
        &[0, 3, 3, 5],
        &[2],
        &[2, 0],
        &[2, 9, 1],
        &[3, 2, 5],
        &[4, 2],
    ] {
        assert_eq!(window_shift(none), 0, "{none:?}");
    }
}

#[test]
fn garbage_and_short_frames_pass_untouched() {
    let mut z = edges();
    z.sent(&syn_ack(1));
    z.sent(&frame(true, 7, 1000, ACK, 0, 0));
    for len in 0..54 {
        let f = frame(false, 1016, 8, ACK, 465, 0);
        let mut g = f[..len].to_vec();
        assert!(!apply(&mut z, &mut g));
        assert_eq!(g, f[..len]);
        z.sent(&syn_ack(1)[..len]);
    }
}

/// A device that hands out queued frames and keeps what is sent.
#[derive(Default)]
struct Fake {
    incoming: Vec<Vec<u8>>,
    sent: Vec<Vec<u8>>,
}

struct FakeRx(Vec<u8>);
struct FakeTx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for FakeRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for FakeTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for Fake {
    type RxToken<'a> = FakeRx;
    type TxToken<'a> = FakeTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(FakeRx, FakeTx<'_>)> {
        if self.incoming.is_empty() {
            return None;
        }
        let frame = self.incoming.remove(0);
        Some((FakeRx(frame), FakeTx(&mut self.sent)))
    }

    fn transmit(&mut self, _: Instant) -> Option<FakeTx<'_>> {
        Some(FakeTx(&mut self.sent))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        DeviceCapabilities::default()
    }
}

/// Sends `out` through the wrapper as smoltcp would, then receives `frame`: what smoltcp
/// is handed.
fn through(device: &mut WindowEdge<'_, Fake>, out: &[Vec<u8>], frame: Vec<u8>) -> Vec<u8> {
    for f in out {
        let tx = device.transmit(Instant::ZERO).expect("tx");
        tx.consume(f.len(), |buf| buf.copy_from_slice(f));
    }
    device.get_mut().incoming.push(frame);
    let (rx, _tx) = device.receive(Instant::ZERO).expect("rx");
    rx.consume(|f| f.to_vec())
}

#[test]
fn the_device_wrapper_moves_the_ack_and_passes_everything_else() {
    let mut device = WindowEdge::new(Fake::default(), vec![FlowSlot::EMPTY; 4]);
    let out = [syn_ack(1), frame(true, 7, 3_966_184_209, ACK, 0, 0)];
    let got = through(
        &mut device,
        &out,
        frame(false, 3_966_184_225, 8, ACK, 465, 0),
    );
    assert_eq!(got, frame(false, 3_966_184_209, 8, ACK, 465, 0));
    assert_eq!(
        device.get_ref().sent,
        out,
        "frames out leave as smoltcp wrote them"
    );
    let data = frame(false, 3_966_184_225, 8, ACK, 465, 100);
    assert_eq!(through(&mut device, &[], data.clone()), data);
}

#[test]
fn a_table_of_no_slots_tracks_nothing_and_panics_on_nothing() {
    let mut device = WindowEdge::new(Fake::default(), Vec::new());
    let update = frame(false, 3_966_184_225, 8, ACK, 465, 0);
    let out = [syn_ack(1), frame(true, 7, 3_966_184_209, ACK, 0, 0)];
    assert_eq!(through(&mut device, &out, update.clone()), update);
}

#[test]
fn more_flows_than_slots_forget_some_but_keep_working() {
    let mut z = Edges::new(vec![FlowSlot::EMPTY; 2]);
    for port in 40_000..40_100u16 {
        let mut syn = syn_ack(1);
        syn[36..38].copy_from_slice(&port.to_be_bytes());
        z.sent(&syn);
    }
    // The last flow is known: its zero-window edge is 1 (the SYN-ACK's ack) + 65535 << 5.
    let mut update = frame(false, 1 + (65_535 << 5) + 3, 8, ACK, 465, 0);
    update[34..36].copy_from_slice(&40_099u16.to_be_bytes());
    assert!(apply(&mut z, &mut update));
}

proptest! {
    /// Any bytes, any flow state: no panic, and a frame changes only in its sequence number.
    #[test]
    fn arbitrary_frames_change_at_most_the_sequence_number(
        out in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 0..4),
        incoming in proptest::collection::vec(any::<u8>(), 0..200),
        seq in any::<u32>(),
        known in any::<bool>(),
    ) {
        let mut device = WindowEdge::new(Fake::default(), vec![FlowSlot::EMPTY; 8]);
        let mut sent: Vec<Vec<u8>> = out;
        if known {
            sent.insert(0, syn_ack(1));
        }
        let got = through(&mut device, &sent, incoming.clone());
        prop_assert_eq!(got.len(), incoming.len());
        for (i, (a, b)) in got.iter().zip(&incoming).enumerate() {
            if a != b {
                prop_assert!((38..42).contains(&i), "byte {} changed", i);
            }
        }
        // A plain ACK from the peer, truncated anywhere: never a panic.
        let ack = frame(false, seq, 8, ACK, 465, 0);
        for len in 0..=ack.len() {
            through(&mut device, &[], ack[..len].to_vec());
        }
    }
}
