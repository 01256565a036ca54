//! Where a TCP segment's parts are in an Ethernet frame: for the window workaround here, and
//! for a runner's own frame work (the TAP's segmentation offload).
//!
//! Only the offsets and the fields they need; every read is bounds-checked, so any frame
//! (truncated, garbage, hostile) gives `None` or offsets inside it, never a panic.

/// Ethernet header bytes.
pub const ETHERNET: usize = 14;
/// IPv4 header bytes without options.
pub const IPV4: usize = 20;
/// IPv6 header bytes.
pub const IPV6: usize = 40;
/// TCP header bytes without options.
pub const TCP: usize = 20;

/// TCP flag FIN.
pub const FLAG_FIN: u8 = 0x01;
/// TCP flag SYN.
pub const FLAG_SYN: u8 = 0x02;
/// TCP flag RST.
pub const FLAG_RST: u8 = 0x04;
/// TCP flag ACK.
pub const FLAG_ACK: u8 = 0x10;

/// A TCP segment's layout in its frame.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Offset of the IP header.
    pub ip: usize,
    /// Offset of the TCP header (inside the frame).
    pub tcp: usize,
    /// Offset of the payload (inside the frame).
    pub payload: usize,
    /// The sequence number.
    pub seq: u32,
    /// The TCP flags byte.
    pub flags: u8,
}

/// A TCP segment over IPv4 (not fragmented) or IPv6 (no extension headers); `None` for
/// every other frame.
pub fn parse(frame: &[u8]) -> Option<Segment> {
    let ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let ip = ETHERNET;
    let (v6, tcp) = match ethertype {
        0x0800 => {
            let h = frame.get(ip..ip + IPV4)?;
            let fragmented = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
            let ihl = usize::from(h[0] & 0x0f) * 4;
            if h[0] >> 4 != 4 || h[9] != 6 || fragmented || ihl < IPV4 {
                return None;
            }
            (false, ip + ihl)
        }
        0x86dd => {
            let h = frame.get(ip..ip + IPV6)?;
            if h[0] >> 4 != 6 || h[6] != 6 {
                return None;
            }
            (true, ip + IPV6)
        }
        _ => return None,
    };
    let h = frame.get(tcp..tcp + TCP)?;
    let payload = tcp + usize::from(h[12] >> 4) * 4;
    if payload < tcp + TCP || payload > frame.len() {
        return None;
    }
    Some(Segment {
        v6,
        ip,
        tcp,
        payload,
        seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        flags: h[13],
    })
}

impl Segment {
    /// Payload bytes, by the IP length (a frame may be padded); 0 if the length is short.
    pub fn data_len(&self, frame: &[u8]) -> u32 {
        let ip = self.ip;
        let end = if self.v6 {
            ip + IPV6 + usize::from(u16::from_be_bytes([frame[ip + 4], frame[ip + 5]]))
        } else {
            ip + usize::from(u16::from_be_bytes([frame[ip + 2], frame[ip + 3]]))
        };
        u32::try_from(end.min(frame.len()).saturating_sub(self.payload)).unwrap_or(0)
    }

    /// The TCP header with its options.
    pub fn header<'f>(&self, frame: &'f [u8]) -> &'f [u8] {
        &frame[self.tcp..self.payload]
    }
}
