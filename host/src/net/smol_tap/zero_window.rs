//! Keeps a connection from stalling when smoltcp's receive window closes a few bytes short
//! of the edge it advertised before.
//!
//! smoltcp advertises `free space >> window shift`, rounded down, so its window's right edge
//! may move back by up to `2^shift - 1` bytes (31 with the 1 MiB buffers). The kernel has
//! then already sent up to the older edge; smoltcp keeps the bytes that fit and advertises a
//! zero window at a sequence number (its `RCV.NXT`) below the kernel's `SND.NXT`. Linux
//! allows for this: its ACKs then carry `SND.NXT` as their sequence number. smoltcp, though,
//! only takes an empty segment into a zero window when its sequence number is exactly
//! `RCV.NXT`, and drops the rest without reading their ACK and window fields (RFC 9293
//! 3.10.7.4 says to process them). If the kernel had closed its own window too (a client
//! that reads slower than it writes), smoltcp never sees it reopen: its send buffer stays
//! full, the echo stops reading, its window stays zero, and both sides probe each other
//! forever (seen with bulk echo: 3 runs in 50 stuck, tcpdump in the namespace).
//!
//! So: while smoltcp's last word on a flow was a zero window at `A`, an incoming plain ACK
//! (no data, no SYN/FIN/RST) a little beyond `A` is given sequence number `A`. smoltcp then
//! accepts it and takes its window; nothing else about the segment changes. smoltcp does not
//! verify TCP checksums on this device (see `device`), so the field is left as it came.

use super::offload::{FLAG_ACK, Segment, parse};

/// SYN, FIN and RST: segments that are not plain ACKs.
const CONTROL: u8 = 0b0000_0111;
/// The largest window shift is 14, so the edge moves back by less than this.
const MAX_ROUNDING: u32 = 1 << 14;
/// Flows remembered at once (those at a zero window right now; more forgets the oldest).
const MAX_FLOWS: usize = 256;

/// Addresses and ports of a flow, as smoltcp sends on it: version, local and remote
/// address, local and remote port.
type Key = [u8; 37];

/// The flows whose last segment from smoltcp advertised a zero window, with its ACK number.
#[derive(Debug, Default)]
pub struct ZeroWindows {
    flows: Vec<(Key, u32)>,
}

impl ZeroWindows {
    /// Notes a frame smoltcp sends.
    pub fn sent(&mut self, frame: &[u8]) {
        let Some(seg) = parse(frame) else {
            return;
        };
        let Some(h) = frame.get(seg.tcp..seg.tcp + 20) else {
            return;
        };
        if seg.flags & FLAG_ACK == 0 {
            return;
        }
        let k = key(frame, &seg, false);
        let at = self.flows.iter().position(|(f, _)| *f == k);
        let zero = u16::from_be_bytes([h[14], h[15]]) == 0 && seg.flags & CONTROL == 0;
        match (zero, at) {
            (true, Some(i)) => self.flows[i].1 = u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            (true, None) => {
                if self.flows.len() == MAX_FLOWS {
                    self.flows.remove(0);
                }
                let ack = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
                self.flows.push((k, ack));
            }
            (false, Some(i)) => {
                self.flows.swap_remove(i);
            }
            (false, None) => {}
        }
    }

    /// Fixes the sequence number of a plain ACK arriving into a zero window (see the
    /// module's docs). Returns whether it did.
    pub fn received(&mut self, frame: &mut [u8]) -> bool {
        if self.flows.is_empty() {
            return false;
        }
        let Some(seg) = parse(frame) else {
            return false;
        };
        let plain_ack = seg.flags & FLAG_ACK != 0 && seg.flags & CONTROL == 0;
        if !plain_ack || has_data(frame, &seg) {
            return false;
        }
        let k = key(frame, &seg, true);
        let Some(&(_, ack)) = self.flows.iter().find(|(f, _)| *f == k) else {
            return false;
        };
        let ahead = seg.seq.wrapping_sub(ack);
        if ahead == 0 || ahead >= MAX_ROUNDING {
            return false;
        }
        frame[seg.tcp + 4..seg.tcp + 8].copy_from_slice(&ack.to_be_bytes());
        true
    }
}

/// Whether the segment carries data, by the IP length (a frame may be padded).
fn has_data(frame: &[u8], seg: &Segment) -> bool {
    let ip = seg.ip;
    let end = if seg.v6 {
        ip + 40 + usize::from(u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]))
    } else {
        ip + usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]))
    };
    end != seg.payload
}

/// The flow's key; `incoming` frames have source and destination swapped.
fn key(frame: &[u8], seg: &Segment, incoming: bool) -> Key {
    let (ip, tcp) = (seg.ip, seg.tcp);
    let (src, dst) = if seg.v6 {
        (&frame[ip + 8..ip + 24], &frame[ip + 24..ip + 40])
    } else {
        (&frame[ip + 12..ip + 16], &frame[ip + 16..ip + 20])
    };
    let (sport, dport) = (&frame[tcp..tcp + 2], &frame[tcp + 2..tcp + 4]);
    let (local, remote, lport, rport) = if incoming {
        (dst, src, dport, sport)
    } else {
        (src, dst, sport, dport)
    };
    let mut k = [0u8; 37];
    k[0] = u8::from(seg.v6);
    k[1..1 + local.len()].copy_from_slice(local);
    k[17..17 + remote.len()].copy_from_slice(remote);
    k[33..35].copy_from_slice(lport);
    k[35..37].copy_from_slice(rport);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOL: [u8; 4] = [192, 168, 69, 1];
    const KERNEL: [u8; 4] = [192, 168, 69, 100];

    /// An Ethernet + IPv4 + TCP frame.
    fn frame(from_smol: bool, seq: u32, ack: u32, flags: u8, win: u16, data: usize) -> Vec<u8> {
        let (src, dst, sport, dport) = if from_smol {
            (SMOL, KERNEL, 7777u16, 40000u16)
        } else {
            (KERNEL, SMOL, 40000, 7777)
        };
        let mut f = vec![0u8; 14 + 20 + 20 + data];
        f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((40 + data) as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let tcp = &mut f[34..54];
        tcp[0..2].copy_from_slice(&sport.to_be_bytes());
        tcp[2..4].copy_from_slice(&dport.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = flags;
        tcp[14..16].copy_from_slice(&win.to_be_bytes());
        f
    }

    fn seq(frame: &[u8]) -> u32 {
        u32::from_be_bytes([frame[38], frame[39], frame[40], frame[41]])
    }

    const ACK: u8 = FLAG_ACK;

    #[test]
    fn an_ack_just_beyond_a_zero_window_is_taken_at_its_edge() {
        // The trace of a stuck run: smoltcp acked 3966184209 with window 0; the kernel's
        // window updates came with sequence number 3966184225 (16 bytes beyond).
        let mut z = ZeroWindows::default();
        z.sent(&frame(true, 7, 3_966_184_209, ACK, 0, 0));
        let mut update = frame(false, 3_966_184_225, 8, ACK, 465, 0);
        assert!(z.received(&mut update));
        assert_eq!(seq(&update), 3_966_184_209);
        // Everything else about it is as the kernel sent it.
        let mut expected = frame(false, 3_966_184_209, 8, ACK, 465, 0);
        assert_eq!(update, expected);
        // Once smoltcp advertises a window again, ACKs pass untouched.
        z.sent(&frame(true, 7, 3_966_184_209, ACK, 100, 0));
        expected = frame(false, 3_966_184_225, 8, ACK, 465, 0);
        let mut later = expected.clone();
        assert!(!z.received(&mut later));
        assert_eq!(later, expected);
    }

    #[test]
    fn only_plain_acks_of_that_flow_near_the_edge_change() {
        let mut z = ZeroWindows::default();
        z.sent(&frame(true, 7, 1000, ACK | 0x08, 0, 10));
        let untouched = [
            // Data: smoltcp answers it with an ACK as it should.
            frame(false, 1016, 8, ACK, 465, 16),
            // At the edge already, behind it, or too far ahead to be rounding.
            frame(false, 1000, 8, ACK, 465, 0),
            frame(false, 990, 8, ACK, 465, 0),
            frame(false, 1000 + MAX_ROUNDING, 8, ACK, 465, 0),
            // FIN, RST, SYN, and no ACK at all.
            frame(false, 1016, 8, ACK | 0x01, 465, 0),
            frame(false, 1016, 8, ACK | 0x04, 465, 0),
            frame(false, 1016, 8, ACK | 0x02, 465, 0),
            frame(false, 1016, 8, 0x04, 465, 0),
            // smoltcp's own frames.
            frame(true, 1016, 8, ACK, 465, 0),
        ];
        for f in untouched {
            let mut g = f.clone();
            assert!(!z.received(&mut g));
            assert_eq!(g, f);
        }
        // Another connection (other port) is not at a zero window.
        let mut other = frame(false, 1016, 8, ACK, 465, 0);
        other[34..36].copy_from_slice(&40001u16.to_be_bytes());
        assert!(!z.received(&mut other));
        // Ethernet padding is not data.
        let mut padded = frame(false, 1016, 8, ACK, 465, 0);
        padded.extend_from_slice(&[0; 6]);
        assert!(z.received(&mut padded));
        assert_eq!(seq(&padded), 1000);
        // Sequence numbers wrap.
        z.sent(&frame(true, 7, u32::MAX - 5, ACK, 0, 0));
        let mut wrapped = frame(false, 10, 8, ACK, 465, 0);
        assert!(z.received(&mut wrapped));
        assert_eq!(seq(&wrapped), u32::MAX - 5);
    }

    #[test]
    fn garbage_and_short_frames_pass_untouched() {
        let mut z = ZeroWindows::default();
        z.sent(&frame(true, 7, 1000, ACK, 0, 0));
        for len in 0..54 {
            let f = frame(false, 1016, 8, ACK, 465, 0);
            let mut g = f[..len].to_vec();
            assert!(!z.received(&mut g));
            assert_eq!(g, f[..len]);
            z.sent(&f[..len]);
        }
    }
}
