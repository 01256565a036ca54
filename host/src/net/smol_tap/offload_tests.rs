//! The segment coalescer on its own: trains glued and marked for the kernel to cut, every
//! other frame passed through, and under arbitrary frames the same segments out as in.

use proptest::prelude::*;

use super::super::offload_check::{Seen, by_flow, check, cut, sent};
use super::*;

/// An Ethernet + IPv4/IPv6 + TCP frame of flow `port` with `payload`.
fn tcp_frame(v6: bool, port: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if v6 {
        f.extend([0x86, 0xdd]);
        f.extend([0x60, 0, 0, 0]);
        f.extend(((TCP + payload.len()) as u16).to_be_bytes());
        f.extend([6, 64]);
        f.extend([0xfd; 16]);
        f.extend([0xfe; 16]);
    } else {
        f.extend([0x08, 0x00]);
        f.extend([0x45, 0]);
        f.extend(((IPV4 + TCP + payload.len()) as u16).to_be_bytes());
        f.extend([
            0, 0, 0x40, 0, 64, 6, 0, 0, 192, 168, 69, 1, 192, 168, 69, 100,
        ]);
        let sum = !checksum::data(&f[ETHERNET..ETHERNET + IPV4]);
        f[ETHERNET + 10..ETHERNET + 12].copy_from_slice(&sum.to_be_bytes());
    }
    f.extend(7777u16.to_be_bytes());
    f.extend(port.to_be_bytes());
    f.extend(seq.to_be_bytes());
    f.extend(1000u32.to_be_bytes());
    f.extend([0x50, flags, 0x10, 0x00, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn run(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut c = Coalescer::default();
    let mut outs = Vec::new();
    for f in frames {
        c.push(f, &mut |b| outs.push(b.to_vec()));
    }
    c.flush(&mut |b| outs.push(b.to_vec()));
    outs
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

#[test]
fn consecutive_full_segments_leave_as_one_gso_frame() {
    for v6 in [false, true] {
        let mss = 1000;
        let frames: Vec<Vec<u8>> = (0..5)
            .map(|i| tcp_frame(v6, 5000, 1 + i * mss as u32, FLAG_ACK, &data(mss, i as u8)))
            .collect();
        let outs = run(&frames);
        assert_eq!(outs.len(), 1, "v6 {v6}");
        let hdr = &outs[0][..VNET_HDR];
        assert_eq!(hdr[0], NEEDS_CSUM);
        assert_eq!(hdr[1], if v6 { GSO_TCPV6 } else { GSO_TCPV4 });
        assert_eq!(u16::from_le_bytes([hdr[4], hdr[5]]), mss as u16);
        let segs = cut(&outs[0]).unwrap().unwrap();
        let want: Vec<Seen> = frames.iter().map(|f| sent(f).unwrap()).collect();
        assert_eq!(segs, want);
    }
}

#[test]
fn a_short_tail_a_gap_or_a_fin_each_end_the_train() {
    let mss = 600;
    let frames = vec![
        tcp_frame(false, 1, 0, FLAG_ACK, &data(mss, 1)),
        tcp_frame(false, 1, 600, FLAG_ACK | FLAG_PSH, &data(mss, 2)),
        // A gap in the sequence.
        tcp_frame(false, 1, 5000, FLAG_ACK, &data(mss, 3)),
        // A short segment.
        tcp_frame(false, 1, 5600, FLAG_ACK, &data(10, 4)),
        tcp_frame(false, 1, 5610, FLAG_ACK, &data(mss, 5)),
        // FIN is never glued.
        tcp_frame(false, 1, 6210, FLAG_ACK | 0x01, &data(mss, 6)),
    ];
    let outs = run(&frames);
    let cuts: Vec<usize> = outs
        .iter()
        .map(|o| cut(o).unwrap().unwrap().len())
        .collect();
    assert_eq!(cuts, [2, 1, 1, 1, 1]);
    check(&frames).unwrap();
}

#[test]
fn interleaved_flows_each_keep_their_own_order() {
    let mss = 700;
    let mut frames = Vec::new();
    for i in 0..6u32 {
        for port in [1u16, 2, 3] {
            frames.push(tcp_frame(
                port == 2,
                port,
                i * mss as u32,
                FLAG_ACK,
                &data(mss, i as u8),
            ));
        }
    }
    let outs = run(&frames);
    assert_eq!(outs.len(), 3, "one train per flow");
    check(&frames).unwrap();
}

#[test]
fn frames_that_are_not_tcp_pass_through_unchanged_and_marked_valid() {
    let arp = [vec![0xff; 12], vec![0x08, 0x06], vec![0; 28]].concat();
    let mut udp = tcp_frame(false, 9, 0, 0, b"hello");
    udp[ETHERNET + 9] = 17;
    let mut fragment = tcp_frame(false, 9, 0, FLAG_ACK, &data(800, 0));
    fragment[ETHERNET + 6] = 0x20; // more fragments
    let mut bad_ihl = tcp_frame(false, 9, 0, FLAG_ACK, &data(800, 0));
    bad_ihl[ETHERNET] = 0x44; // a 16-byte IP header: TCP would overlap it
    for frame in [arp, udp, fragment, bad_ihl, vec![0; ETHERNET]] {
        let outs = run(std::slice::from_ref(&frame));
        assert_eq!(outs.len(), 1);
        assert_eq!(outs[0][0], DATA_VALID);
        assert_eq!(&outs[0][VNET_HDR..], &frame[..]);
    }
    // Shorter than an Ethernet header is no frame: the kernel would refuse it.
    assert!(run(&[vec![1, 2, 3], vec![]]).is_empty());
}

#[test]
fn a_single_segment_gets_its_checksum_left_to_the_kernel_without_gso() {
    let frame = tcp_frame(false, 4, 9, FLAG_ACK, b"x");
    let outs = run(std::slice::from_ref(&frame));
    assert_eq!(outs[0][0], NEEDS_CSUM);
    assert_eq!(outs[0][1], 0, "no GSO for one segment");
    assert_eq!(cut(&outs[0]).unwrap().unwrap(), [sent(&frame).unwrap()]);
}

#[test]
fn more_flows_than_slots_send_the_oldest_train_early() {
    let frames: Vec<Vec<u8>> = (0..(MAX_TRAINS as u16 + 5))
        .flat_map(|port| {
            (0..2u32).map(move |i| tcp_frame(false, port, i * 600, FLAG_ACK, &data(600, 0)))
        })
        .collect();
    check(&frames).unwrap();
}

/// Frames as smoltcp could emit them for a few flows, plus arbitrary bytes and damaged
/// headers (the coalescer must survive anything, and keep every well-formed segment).
fn frames() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let segment = (
        any::<bool>(),
        0u16..4,
        0u32..8,
        prop_oneof![Just(FLAG_ACK), Just(FLAG_ACK | FLAG_PSH), any::<u8>()],
        prop_oneof![Just(536usize), Just(600), 0usize..700],
        any::<u8>(),
    );
    let frame = prop_oneof![
        6 => segment.prop_map(|(v6, port, step, flags, len, seed)| {
            tcp_frame(v6, port, step * 600, flags, &data(len, seed))
        }),
        1 => prop::collection::vec(any::<u8>(), 0..120),
        1 => (segment_bytes(), 0usize..80, any::<u8>()).prop_map(|(mut f, at, b)| {
            let i = at % f.len();
            f[i] = b;
            f
        }),
    ];
    prop::collection::vec(frame, 0..40)
}

fn segment_bytes() -> impl Strategy<Value = Vec<u8>> {
    (any::<bool>(), any::<u32>(), 0usize..200)
        .prop_map(|(v6, seq, len)| tcp_frame(v6, 1, seq, FLAG_ACK, &data(len, 7)))
}

/// Consecutive full segments per flow, so trains actually form.
fn trains() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec((0u16..3, 1usize..6), 1..12).prop_map(|bursts| {
        let mut next = [0u32; 3];
        let mut frames = Vec::new();
        for (port, n) in bursts {
            for _ in 0..n {
                let seq = next[usize::from(port)];
                frames.push(tcp_frame(
                    port == 1,
                    port,
                    seq,
                    FLAG_ACK,
                    &data(600, seq as u8),
                ));
                next[usize::from(port)] = seq.wrapping_add(600);
            }
        }
        frames
    })
}

proptest! {
    #[test]
    fn any_frames_come_out_as_the_same_segments(frames in frames()) {
        prop_assert_eq!(check(&frames), Ok(()));
    }

    #[test]
    fn trains_carry_each_flows_bytes_in_order(frames in trains()) {
        prop_assert_eq!(check(&frames), Ok(()));
        // Every flow's segments are consecutive and full: one frame per flow, unless a
        // train reaches the largest payload.
        let outs = run(&frames);
        let per_frame = MAX_PAYLOAD / 600;
        let flows = by_flow(&frames.iter().filter_map(|f| sent(f)).collect::<Vec<_>>());
        let want: usize = flows.iter().map(|(_, s)| s.len().div_ceil(per_frame)).sum();
        prop_assert_eq!(outs.len(), want);
    }
}
