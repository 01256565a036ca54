//! The TAP runner's segment coalescer (`host/src/net/smol_tap/offload.rs`) under arbitrary
//! frames: no panic; every output is a valid `virtio_net_hdr` + frame; frames that are not
//! TCP pass through unchanged and in order; cutting each output as the kernel does gives,
//! per flow, exactly the segments that went in, in order (no payload byte lost, added or
//! reordered; every split segment valid).
#![no_main]

use arbitrary::Arbitrary;
use host::net::smol_tap::offload_check::check;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Frame {
    /// Any bytes at all.
    Raw(Vec<u8>),
    /// A TCP segment of one of a few flows, mostly well-formed, so trains form.
    Segment {
        v6: bool,
        flow: u8,
        /// Sequence number in steps of 600 bytes.
        step: u8,
        /// 0: ACK, 1: ACK+PSH, else these flags.
        flags: u8,
        len: u16,
        seed: u8,
        /// One byte of the headers overwritten (offset, value).
        damage: Option<(u8, u8)>,
    },
}

fn tcp_frame(v6: bool, port: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if v6 {
        f.extend([0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend(((20 + payload.len()) as u16).to_be_bytes());
        f.extend([6, 64]);
        f.extend([0xfd; 16]);
        f.extend([0xfe; 16]);
    } else {
        f.extend([0x08, 0x00, 0x45, 0]);
        f.extend(((40 + payload.len()) as u16).to_be_bytes());
        f.extend([
            0, 0, 0x40, 0, 64, 6, 0, 0, 192, 168, 69, 1, 192, 168, 69, 100,
        ]);
    }
    f.extend(7777u16.to_be_bytes());
    f.extend(port.to_be_bytes());
    f.extend(seq.to_be_bytes());
    f.extend(1000u32.to_be_bytes());
    f.extend([0x50, flags, 0x10, 0x00, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fuzz_target!(|input: Vec<Frame>| {
    let frames: Vec<Vec<u8>> = input
        .into_iter()
        .map(|f| match f {
            Frame::Raw(bytes) => bytes,
            Frame::Segment {
                v6,
                flow,
                step,
                flags,
                len,
                seed,
                damage,
            } => {
                let flags = match flags {
                    0 => 0x10,
                    1 => 0x18,
                    other => other,
                };
                let len = usize::from(len % 1400);
                let payload: Vec<u8> = (0..len).map(|i| (i as u8) ^ seed).collect();
                let seq = u32::from(step) * 600;
                let mut frame = tcp_frame(v6, u16::from(flow % 4), seq, flags, &payload);
                if let Some((at, value)) = damage {
                    let at = usize::from(at) % frame.len().min(74);
                    frame[at] = value;
                }
                frame
            }
        })
        .collect();
    if let Err(e) = check(&frames) {
        panic!("{e}");
    }
});
