//! The smoltcp receive-window workaround over arbitrary frame sequences, both ways: never a
//! panic; a change is only ever asked for a plain ACK from the peer (no data, no SYN, FIN or
//! RST) of a flow smoltcp opened, only to its sequence number field, and only back by less
//! than the largest window-scale rounding.
#![no_main]

use arbitrary::Arbitrary;
use echo_core::smoltcp::{Edges, FlowSlot};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Frame {
    /// Any bytes at all.
    Raw(Vec<u8>),
    /// An Ethernet + IPv4 + TCP frame built from fields, so that flows form and ACKs land
    /// near the edges.
    Tcp {
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        options: Vec<u8>,
        data: u8,
        /// Which of a few client ports (flows repeat).
        port: u8,
        /// Cut the frame to this length (if shorter).
        cut: Option<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Step {
    /// Sent by smoltcp (true) or received from the peer.
    out: bool,
    frame: Frame,
}

fn build(out: bool, frame: &Frame) -> Vec<u8> {
    let Frame::Tcp {
        seq,
        ack,
        flags,
        window,
        options,
        data,
        port,
        cut,
    } = frame
    else {
        let Frame::Raw(bytes) = frame else {
            unreachable!()
        };
        return bytes.clone();
    };
    let opts = &options[..options.len().min(40) / 4 * 4];
    let (smol, peer) = ([192, 168, 69, 1], [192, 168, 69, 100]);
    let peer_port = 40_000 + u16::from(port % 4);
    let (src, dst, sport, dport) = if out {
        (smol, peer, 7777, peer_port)
    } else {
        (peer, smol, peer_port, 7777)
    };
    let tcp_len = 20 + opts.len();
    let data = usize::from(*data % 8);
    let mut f = vec![0u8; 14 + 20 + tcp_len + data];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14] = 0x45;
    f[16..18].copy_from_slice(&((20 + tcp_len + data) as u16).to_be_bytes());
    f[22] = 64;
    f[23] = 6;
    f[26..30].copy_from_slice(&src);
    f[30..34].copy_from_slice(&dst);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[38..42].copy_from_slice(&seq.to_be_bytes());
    f[42..46].copy_from_slice(&ack.to_be_bytes());
    f[46] = ((tcp_len / 4) as u8) << 4;
    f[47] = *flags;
    f[48..50].copy_from_slice(&window.to_be_bytes());
    f[54..54 + opts.len()].copy_from_slice(opts);
    if let Some(cut) = cut {
        f.truncate(usize::from(*cut));
    }
    f
}

fuzz_target!(|steps: Vec<Step>| {
    let mut flows = [FlowSlot::EMPTY; 8];
    let mut edges = Edges::new(&mut flows[..]);
    for step in &steps {
        let frame = build(step.out, &step.frame);
        if step.out {
            edges.sent(&frame);
            continue;
        }
        let Some((at, seq)) = edges.received(&frame) else {
            continue;
        };
        assert!(at + 4 <= frame.len(), "change outside the frame");
        // Only IPv4 and IPv6 TCP headers: the field is the TCP sequence number.
        let v6 = frame[12..14] == [0x86, 0xdd];
        let tcp = at - 4;
        assert!(tcp >= 14 + if v6 { 40 } else { 20 });
        let flags = frame[tcp + 13];
        assert_eq!(flags & 0x07, 0, "only plain ACKs change (no SYN, FIN, RST)");
        assert_ne!(flags & 0x10, 0, "only ACKs change");
        let old = u32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
        assert_ne!(old, seq, "a change that changes nothing");
        assert!(
            old.wrapping_sub(seq) <= 1 << 14,
            "moved back by {}",
            old.wrapping_sub(seq)
        );
    }
});
