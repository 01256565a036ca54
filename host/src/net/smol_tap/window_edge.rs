//! Keeps a connection from stalling when smoltcp's receive window closes a few bytes short
//! of the edge it advertised before.
//!
//! smoltcp advertises `free space >> window shift`, rounded down, so the right edge of its
//! window may move back by up to `2^shift - 1` bytes (31 with the 1 MiB buffers). The kernel
//! has then already sent up to the older edge; smoltcp keeps the bytes that fit, and its
//! `RCV.NXT` ends below the kernel's `SND.NXT`. Linux allows for this: its ACKs keep
//! `SND.NXT` as their sequence number. smoltcp only takes an empty segment whose sequence
//! number is inside its window (or exactly `RCV.NXT` when the window is zero) and drops the
//! rest without reading their ACK and window fields (RFC 9293 3.10.7.4 says to process
//! them). If the kernel had closed its own window too (a client that reads slower than it
//! writes), smoltcp misses it reopening: its send buffer stays full, the echo stops reading,
//! its window closes, and both sides probe each other with no end (bulk echo: 3 runs in 50
//! stuck; tcpdump in the namespace showed the kernel's updates 16 bytes past the edge).
//!
//! So an incoming plain ACK (no data, no SYN/FIN/RST) at or a little past the edge smoltcp
//! last advertised on its flow is moved back inside the window: to the edge itself when the
//! window is zero or the kernel's data has reached the edge (smoltcp's `RCV.NXT` is there,
//! though its ACK saying so may not be out yet), else one byte before it. smoltcp then takes its ACK
//! and window; nothing else about the segment changes. smoltcp does not verify TCP checksums
//! on this device (see `device`), so the field is left as it came.

use std::collections::HashMap;

use super::offload::{FLAG_ACK, Segment, parse};

/// SYN, FIN and RST: segments that are not plain ACKs.
const CONTROL: u8 = 0b0000_0111;
const FLAG_SYN: u8 = 0x02;
const FLAG_RST: u8 = 0x04;
/// The largest window shift is 14, so the edge moves back by less than this.
const MAX_ROUNDING: u32 = 1 << 14;
/// Flows remembered at once; a new one beyond forgets an arbitrary one.
const MAX_FLOWS: usize = 65_536;

/// Addresses and ports of a flow, as smoltcp sends on it: version, local and remote
/// address, local and remote port.
type Key = [u8; 37];

/// What smoltcp last advertised on a flow: its window ends at `ack + window << shift`, the
/// same sum smoltcp does to decide what it accepts. Every frame smoltcp emits is noted
/// (even one the TAP then drops), so both agree.
#[derive(Debug, Clone, Copy)]
struct Flow {
    /// Window shift from its SYN-ACK (0 without the option).
    shift: u8,
    ack: u32,
    window: u16,
    /// The end of the kernel's data seen so far (its `SND.NXT`, as far as it reached us).
    sent: Option<u32>,
}

/// smoltcp's receive windows as its segments advertised them, per flow.
#[derive(Debug, Default)]
pub struct Edges {
    flows: HashMap<Key, Flow>,
}

impl Edges {
    /// Notes a frame smoltcp sends.
    pub fn sent(&mut self, frame: &[u8]) {
        let Some(seg) = parse(frame) else {
            return;
        };
        let h = &frame[seg.tcp..seg.payload];
        let k = key(frame, &seg, false);
        if seg.flags & FLAG_RST != 0 {
            self.flows.remove(&k);
            return;
        }
        if seg.flags & FLAG_ACK == 0 {
            return;
        }
        let ack = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let window = u16::from_be_bytes([h[14], h[15]]);
        if seg.flags & FLAG_SYN != 0 {
            // The SYN-ACK: a new connection on this flow.
            if self.flows.len() >= MAX_FLOWS
                && let Some(old) = self.flows.keys().next().copied()
            {
                self.flows.remove(&old);
            }
            // smoltcp computes its edge from this window field with the shift too, as it
            // does from every later one; the same sum here keeps both in step.
            let shift = window_shift(&h[20..]);
            self.flows.insert(
                k,
                Flow {
                    shift,
                    ack,
                    window,
                    sent: None,
                },
            );
            return;
        }
        if let Some(flow) = self.flows.get_mut(&k) {
            flow.ack = ack;
            flow.window = window;
        }
    }

    /// Moves a plain ACK that arrives at or just past smoltcp's edge back inside its window
    /// (see the module's docs). Returns whether it did.
    pub fn received(&mut self, frame: &mut [u8]) -> bool {
        let Some(seg) = parse(frame) else {
            return false;
        };
        let k = key(frame, &seg, true);
        let Some(flow) = self.flows.get_mut(&k) else {
            return false;
        };
        let data = data_len(frame, &seg);
        if data > 0 {
            let end = seg.seq.wrapping_add(data);
            if flow.sent.is_none_or(|sent| after(end, sent)) {
                flow.sent = Some(end);
            }
            return false;
        }
        if seg.flags & FLAG_ACK == 0 || seg.flags & CONTROL != 0 {
            return false;
        }
        let width = u32::from(flow.window) << flow.shift;
        let edge = flow.ack.wrapping_add(width);
        if seg.seq.wrapping_sub(edge) >= MAX_ROUNDING {
            // Inside the window, or too far off to be rounding.
            return false;
        }
        // Where smoltcp's RCV.NXT is: at the edge if its window is zero, or if the kernel's
        // data reached the edge since (smoltcp has not said so yet); else before it.
        let full = width == 0 || flow.sent.is_some_and(|sent| !after(edge, sent));
        let inside = if full { edge } else { edge.wrapping_sub(1) };
        if inside == seg.seq {
            return false;
        }
        frame[seg.tcp + 4..seg.tcp + 8].copy_from_slice(&inside.to_be_bytes());
        true
    }
}

/// Whether sequence number `a` comes after `b`.
fn after(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 1 << 31
}

/// The window scale option's shift among TCP options, or 0.
fn window_shift(mut options: &[u8]) -> u8 {
    while let [kind, rest @ ..] = options {
        match kind {
            0 => break,
            1 => options = rest,
            _ => {
                let Some(&len) = rest.first() else { break };
                let len = usize::from(len);
                if len < 2 || len > options.len() {
                    break;
                }
                if *kind == 3 && len == 3 {
                    return options[2].min(14);
                }
                options = &options[len..];
            }
        }
    }
    0
}

/// Payload bytes of the segment, by the IP length (a frame may be padded).
fn data_len(frame: &[u8], seg: &Segment) -> u32 {
    let ip = seg.ip;
    let end = if seg.v6 {
        ip + 40 + usize::from(u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]))
    } else {
        ip + usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]))
    };
    u32::try_from(end.saturating_sub(seg.payload)).unwrap_or(0)
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
        let mut z = Edges::default();
        z.sent(&syn_ack(1));
        z.sent(&frame(true, 7, 3_966_184_209, ACK, 0, 0));
        let mut update = frame(false, 3_966_184_225, 8, ACK, 465, 0);
        assert!(z.received(&mut update));
        // Only the sequence number changed.
        assert_eq!(update, frame(false, 3_966_184_209, 8, ACK, 465, 0));
        // At the edge already: smoltcp takes it as it is.
        let mut at_edge = frame(false, 3_966_184_209, 8, ACK, 465, 0);
        assert!(!z.received(&mut at_edge));
    }

    #[test]
    fn an_ack_at_or_past_a_shrunk_open_window_goes_just_inside() {
        let mut z = Edges::default();
        z.sent(&syn_ack(1));
        // Window 1929 << 5 = 61728 bytes from 1000: the edge is 62728.
        z.sent(&frame(true, 7, 1000, ACK, 1929, 0));
        for past in [62_728, 62_744] {
            let mut update = frame(false, past, 8, ACK, 465, 0);
            assert!(z.received(&mut update), "{past}");
            assert_eq!(seq(&update), 62_727);
        }
        // Inside the window, or too far past it to be rounding: untouched.
        for s in [1000, 62_727, 62_728 + MAX_ROUNDING] {
            let mut f = frame(false, s, 8, ACK, 465, 0);
            assert!(!z.received(&mut f), "{s}");
            assert_eq!(seq(&f), s);
        }
    }

    #[test]
    fn an_ack_after_data_that_filled_the_window_is_taken_at_the_edge() {
        // Another stuck run: smoltcp advertised 688 << 5 bytes from 571683795 (edge
        // 571705811); the kernel's data reached 571705827, and its window update (sequence
        // number 571705827) came before smoltcp's zero-window ACK. One byte before the edge
        // would be behind smoltcp's RCV.NXT (a keep-alive to it); the edge is RCV.NXT.
        let mut z = Edges::default();
        z.sent(&syn_ack(1));
        z.sent(&frame(true, 7, 571_683_795, ACK, 688, 0));
        let mut data = frame(false, 571_683_795, 8, ACK | 0x08, 0, 22_032);
        assert!(!z.received(&mut data));
        let mut update = frame(false, 571_705_827, 8, ACK, 446, 0);
        assert!(z.received(&mut update));
        assert_eq!(seq(&update), 571_705_811);
    }

    #[test]
    fn only_plain_acks_of_a_known_flow_change() {
        let mut z = Edges::default();
        // No SYN-ACK seen (a connection from before): nothing is known, nothing changes.
        z.sent(&frame(true, 7, 1000, ACK, 0, 0));
        let mut f = frame(false, 1016, 8, ACK, 465, 0);
        assert!(!z.received(&mut f));
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
            assert!(!z.received(&mut g));
            assert_eq!(g, f);
        }
        // Another connection (other port) is not known.
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
        // A reset from smoltcp forgets the flow.
        z.sent(&frame(true, 7, 1000, ACK | FLAG_RST, 0, 0));
        let mut after = frame(false, 1016, 8, ACK, 465, 0);
        assert!(!z.received(&mut after));
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
        let mut z = Edges::default();
        z.sent(&syn_ack(1));
        z.sent(&frame(true, 7, 1000, ACK, 0, 0));
        for len in 0..54 {
            let f = frame(false, 1016, 8, ACK, 465, 0);
            let mut g = f[..len].to_vec();
            assert!(!z.received(&mut g));
            assert_eq!(g, f[..len]);
            z.sent(&syn_ack(1)[..len]);
        }
    }
}
