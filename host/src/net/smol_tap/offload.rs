//! Segmentation offload towards the kernel: consecutive TCP segments of one connection, as
//! smoltcp emits them in one poll, leave as one large frame that the kernel takes whole.
//!
//! Through a TAP every frame costs a `write` and a pass through the kernel's TCP receive
//! path, so with a 1500-byte MTU the echo direction is bound by frames, not bytes. A
//! virtio-net guest avoids that with TSO: it hands the host 64 KiB TCP frames plus a
//! `virtio_net_hdr` saying how to cut them. This module does the same after the fact:
//! smoltcp keeps its MSS; segments that follow each other (same flow, next sequence number,
//! plain ACK/PSH, full size but the last) are glued into one frame marked `GSO_TCPV4/6`.
//! TCP checksums are left to the kernel (`NEEDS_CSUM`, pseudo-header sum in the field), as
//! with any NIC offload; other frames keep smoltcp's checksums and are marked valid.

pub(super) use echo_core::smoltcp::segment::{ETHERNET, parse};
use echo_core::smoltcp::segment::{FLAG_ACK, IPV4, Segment, TCP};
use smoltcp::wire::{Ipv4Address, Ipv6Address, checksum};

/// Bytes of `virtio_net_hdr` before each frame.
pub const VNET_HDR: usize = 10;

/// Largest TCP payload glued into one frame (the IPv4 total length must fit 16 bits).
const MAX_PAYLOAD: usize = 32 * 1024;
/// Smallest segment that starts a train (smaller ones are probes or tails).
const MIN_SEGMENT: usize = 536;

const NEEDS_CSUM: u8 = 1;
const DATA_VALID: u8 = 2;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// TCP flags other than ACK and PSH end a train (SYN, FIN, RST, URG, ECE, CWR).
const TRAIN_BREAKERS: u8 = 0b1110_0111;
const FLAG_PSH: u8 = 0x08;

/// Frames on their way out: one train being built per TCP flow (smoltcp interleaves the
/// segments of its sockets), sent at the end of each poll.
#[derive(Debug, Default)]
pub struct Coalescer {
    slots: Vec<Pending>,
    /// `virtio_net_hdr` + a frame that is not TCP.
    plain: Vec<u8>,
}

/// Flows with a train in the making at once; one more sends the oldest.
const MAX_TRAINS: usize = 64;

/// One flow's frame being built.
#[derive(Debug, Default)]
struct Pending {
    /// `virtio_net_hdr` + frame.
    buf: Vec<u8>,
    train: Option<Train>,
}

#[derive(Debug, Clone, Copy)]
struct Train {
    seg: Segment,
    /// Payload bytes of each segment but possibly the last (`gso_size`).
    size: usize,
    count: usize,
    next_seq: u32,
    /// It may not be glued to (not plain data, or too short to be a full segment).
    closed: bool,
}

impl Coalescer {
    /// Takes one frame from smoltcp; `out` receives finished `virtio_net_hdr` + frame
    /// buffers, in order within each flow.
    pub fn push(&mut self, frame: &[u8], out: &mut impl FnMut(&[u8])) {
        if frame.len() < ETHERNET {
            // Not a frame: the kernel would refuse the write as invalid, which the device
            // takes for a broken TAP. (smoltcp never emits one; the fuzz target does.)
            return;
        }
        let Some(seg) = parse(frame) else {
            // smoltcp computed its checksums (UDP, ICMP, ARP has none).
            self.plain.clear();
            self.plain
                .extend_from_slice(&[DATA_VALID, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            self.plain.extend_from_slice(frame);
            out(&self.plain);
            return;
        };
        let same = self.slots.iter().position(|p| {
            p.train
                .is_some_and(|t| same_flow(&p.buf[VNET_HDR..], frame, &t.seg, &seg))
        });
        if let Some(i) = same {
            if self.slots[i].join(frame, &seg) {
                return;
            }
            self.slots[i].flush(out);
            self.slots[i].start(frame, seg);
            return;
        }
        let i = match self.slots.iter().position(|p| p.train.is_none()) {
            Some(i) => i,
            None if self.slots.len() < MAX_TRAINS => {
                self.slots.push(Pending::default());
                self.slots.len() - 1
            }
            None => {
                self.slots[0].flush(out);
                0
            }
        };
        self.slots[i].start(frame, seg);
    }

    /// Sends every frame being built (at the end of each poll).
    pub fn flush(&mut self, out: &mut impl FnMut(&[u8])) {
        for slot in &mut self.slots {
            slot.flush(out);
        }
    }
}

impl Pending {
    fn start(&mut self, frame: &[u8], seg: Segment) {
        let payload = frame.len() - seg.payload;
        self.buf.clear();
        self.buf.resize(VNET_HDR, 0);
        self.buf.extend_from_slice(frame);
        self.train = Some(Train {
            seg,
            size: payload,
            count: 1,
            next_seq: seg.seq.wrapping_add(payload as u32),
            closed: !joinable(&seg, frame.len()) || payload < MIN_SEGMENT,
        });
    }

    /// Glues `frame` (of this flow) to the train if it continues it.
    fn join(&mut self, frame: &[u8], seg: &Segment) -> bool {
        let Some(train) = &mut self.train else {
            return false;
        };
        let payload = frame.len() - seg.payload;
        // Only full-size segments join: a short one (the tail of a burst, a zero-window
        // probe) goes on its own, so a train never carries bytes the peer's window may
        // refuse while it takes the ones before them.
        let joins = !train.closed
            && joinable(seg, frame.len())
            && payload == train.size
            && seg.seq == train.next_seq
            && self.buf.len() - VNET_HDR - train.seg.payload + payload <= MAX_PAYLOAD;
        if !joins {
            return false;
        }
        // The newest ACK, window and PSH speak for the whole train.
        let (t, s) = (VNET_HDR + train.seg.tcp, seg.tcp);
        self.buf[t + 8..t + 12].copy_from_slice(&frame[s + 8..s + 12]);
        self.buf[t + 13] |= frame[s + 13] & FLAG_PSH;
        self.buf[t + 14..t + 16].copy_from_slice(&frame[s + 14..s + 16]);
        self.buf.extend_from_slice(&frame[seg.payload..]);
        train.count += 1;
        train.next_seq = seg.seq.wrapping_add(payload as u32);
        true
    }

    /// Sends the train, if any: one frame, with the kernel to cut it when it holds more
    /// than one segment and to fill in the TCP checksum either way.
    fn flush(&mut self, out: &mut impl FnMut(&[u8])) {
        let Some(train) = self.train.take() else {
            return;
        };
        let Segment {
            v6,
            ip,
            tcp,
            payload,
            ..
        } = train.seg;
        let (hdr, frame) = self.buf.split_at_mut(VNET_HDR);
        let tcp_len = frame.len() - tcp;
        if v6 {
            let len = u16::try_from(tcp_len).unwrap_or(u16::MAX);
            frame[ip + 4..ip + 6].copy_from_slice(&len.to_be_bytes());
        } else {
            let len = u16::try_from(frame.len() - ip).unwrap_or(u16::MAX);
            frame[ip + 2..ip + 4].copy_from_slice(&len.to_be_bytes());
            frame[ip + 10..ip + 12].fill(0);
            let sum = !checksum::data(&frame[ip..tcp]);
            frame[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
        }
        let pseudo = pseudo_header(frame, &train.seg, tcp_len);
        frame[tcp + 16..tcp + 18].copy_from_slice(&pseudo.to_be_bytes());
        hdr.fill(0);
        hdr[0] = NEEDS_CSUM;
        if train.count > 1 {
            hdr[1] = if v6 { GSO_TCPV6 } else { GSO_TCPV4 };
            let size = u16::try_from(train.size).unwrap_or(u16::MAX);
            hdr[4..6].copy_from_slice(&size.to_le_bytes());
        }
        // hdr_len, csum_start, csum_offset (little-endian, as the kernel reads them here).
        hdr[2..4].copy_from_slice(&(payload as u16).to_le_bytes());
        hdr[6..8].copy_from_slice(&(tcp as u16).to_le_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        out(&self.buf);
    }
}

/// Whether a train may hold `seg`: plain ACK (and PSH), no TCP or IP options, data.
fn joinable(seg: &Segment, frame_len: usize) -> bool {
    let plain_ip = seg.v6 || seg.tcp == seg.ip + IPV4;
    seg.flags & (TRAIN_BREAKERS | FLAG_ACK) == FLAG_ACK
        && plain_ip
        && seg.payload == seg.tcp + TCP
        && frame_len > seg.payload
}

/// Same link, addresses and ports.
fn same_flow(a: &[u8], b: &[u8], sa: &Segment, sb: &Segment) -> bool {
    let addrs = if sa.v6 { 8..40 } else { 12..20 };
    let (ia, ib) = (sa.ip, sb.ip);
    sa.v6 == sb.v6
        && a[..ETHERNET] == b[..ETHERNET]
        && a[ia + addrs.start..ia + addrs.end] == b[ib + addrs.start..ib + addrs.end]
        && a[sa.tcp..sa.tcp + 4] == b[sb.tcp..sb.tcp + 4]
}

/// The TCP pseudo-header sum (not complemented), which `NEEDS_CSUM` wants in the field.
fn pseudo_header(frame: &[u8], seg: &Segment, tcp_len: usize) -> u16 {
    let ip = seg.ip;
    let len = u32::try_from(tcp_len).unwrap_or(u32::MAX);
    if seg.v6 {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&frame[ip + 8..ip + 24]);
        dst.copy_from_slice(&frame[ip + 24..ip + 40]);
        checksum::pseudo_header_v6(
            &Ipv6Address::from(src),
            &Ipv6Address::from(dst),
            smoltcp::wire::IpProtocol::Tcp,
            len,
        )
    } else {
        let src = Ipv4Address::new(
            frame[ip + 12],
            frame[ip + 13],
            frame[ip + 14],
            frame[ip + 15],
        );
        let dst = Ipv4Address::new(
            frame[ip + 16],
            frame[ip + 17],
            frame[ip + 18],
            frame[ip + 19],
        );
        checksum::pseudo_header_v4(&src, &dst, smoltcp::wire::IpProtocol::Tcp, len)
    }
}

#[cfg(test)]
#[path = "offload_tests.rs"]
mod tests;
