//! What the kernel makes of the coalescer's output, written from the wire formats (RFC 791,
//! RFC 8200, RFC 9293, `virtio_net_hdr`), for the unit tests and the `tap_offload` fuzz
//! target: each `virtio_net_hdr` + frame is checked and cut into the TCP segments the
//! kernel would see, so a test can compare them with the segments smoltcp sent.

use smoltcp::wire::checksum;

use super::offload::{ETHERNET, VNET_HDR, parse};

/// One TCP segment as the peer sees it: its flow (link header, addresses, ports), its
/// sequence number and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub flow: Vec<u8>,
    pub seq: u32,
    pub payload: Vec<u8>,
}

/// The flow key of a TCP frame: Ethernet header, IP addresses, TCP ports.
pub fn flow_of(frame: &[u8], v6: bool, ip: usize, tcp: usize) -> Vec<u8> {
    let addrs = if v6 {
        ip + 8..ip + 40
    } else {
        ip + 12..ip + 20
    };
    [&frame[..14], &frame[addrs], &frame[tcp..tcp + 4]].concat()
}

/// The segments smoltcp sent in `frame`, if it is one the coalescer treats as TCP.
pub fn sent(frame: &[u8]) -> Option<Seen> {
    let seg = parse(frame)?;
    Some(Seen {
        flow: flow_of(frame, seg.v6, seg.ip, seg.tcp),
        seq: seg.seq,
        payload: frame[seg.payload..].to_vec(),
    })
}

/// Checks one output buffer (`virtio_net_hdr` + frame) and cuts it as the kernel would:
/// `Ok(None)` for a frame passed through (not TCP, checksums valid), `Ok(Some(segments))`
/// for TCP, `Err` with what is wrong.
pub fn cut(out: &[u8]) -> Result<Option<Vec<Seen>>, String> {
    if out.len() <= VNET_HDR {
        return Err(format!("{} bytes: no frame after the header", out.len()));
    }
    let (hdr, frame) = out.split_at(VNET_HDR);
    let le = |i: usize| usize::from(u16::from_le_bytes([hdr[i], hdr[i + 1]]));
    let (flags, gso_type, hdr_len, gso_size, csum_start, csum_offset) =
        (hdr[0], hdr[1], le(2), le(4), le(6), le(8));
    if flags == 2 {
        // DATA_VALID: a frame smoltcp finished itself.
        if hdr[1..].iter().any(|&b| b != 0) || parse(frame).is_some() {
            return Err("pass-through header on a TCP frame, or with fields set".into());
        }
        return Ok(None);
    }
    if flags != 1 {
        return Err(format!("flags {flags}: neither NEEDS_CSUM nor DATA_VALID"));
    }
    let seg = parse(frame).ok_or("NEEDS_CSUM on a frame that is not TCP")?;
    if csum_start != seg.tcp || csum_offset != 16 || hdr_len != seg.payload {
        return Err(format!(
            "csum_start {csum_start}, csum_offset {csum_offset}, hdr_len {hdr_len} for a \
             segment with TCP at {} and payload at {}",
            seg.tcp, seg.payload
        ));
    }
    let be = |i: usize| usize::from(u16::from_be_bytes([frame[i], frame[i + 1]]));
    if seg.v6 {
        if be(seg.ip + 4) != frame.len() - seg.tcp {
            return Err("IPv6 payload length does not match the frame".into());
        }
    } else {
        if be(seg.ip + 2) != frame.len() - seg.ip {
            return Err("IPv4 total length does not match the frame".into());
        }
        if checksum::data(&frame[seg.ip..seg.tcp]) != 0xffff {
            return Err("IPv4 header checksum is wrong".into());
        }
    }
    let payload = &frame[seg.payload..];
    let flow = flow_of(frame, seg.v6, seg.ip, seg.tcp);
    let pieces: Vec<&[u8]> = match gso_type {
        0 => {
            if gso_size != 0 {
                return Err("gso_size without a GSO type".into());
            }
            vec![payload]
        }
        1 | 4 => {
            if (gso_type == 4) != seg.v6 {
                return Err(format!("GSO type {gso_type} for the wrong IP version"));
            }
            if gso_size == 0 || payload.len() <= gso_size {
                return Err(format!(
                    "GSO frame of {} payload bytes with gso_size {gso_size}: not several segments",
                    payload.len()
                ));
            }
            if payload.len() > 65_535 - 40 - 60 {
                return Err("GSO frame larger than an IP packet".into());
            }
            payload.chunks(gso_size).collect()
        }
        other => return Err(format!("unknown GSO type {other}")),
    };
    let mut seq = seg.seq;
    let mut seen = Vec::with_capacity(pieces.len());
    for piece in pieces {
        seen.push(Seen {
            flow: flow.clone(),
            seq,
            payload: piece.to_vec(),
        });
        seq = seq.wrapping_add(piece.len() as u32);
    }
    Ok(Some(seen))
}

/// One flow's key and its segments (sequence number, payload) in order.
pub type Flow = (Vec<u8>, Vec<(u32, Vec<u8>)>);

/// The per-flow sequence of segments in `list`, flows sorted by key.
pub fn by_flow(list: &[Seen]) -> Vec<Flow> {
    let mut flows: Vec<Flow> = Vec::new();
    for s in list {
        let i = match flows.iter().position(|(f, _)| *f == s.flow) {
            Some(i) => i,
            None => {
                flows.push((s.flow.clone(), Vec::new()));
                flows.len() - 1
            }
        };
        flows[i].1.push((s.seq, s.payload.clone()));
    }
    flows.sort();
    flows
}

/// Pushes `frames` through a coalescer (flushing at the end, as each poll does) and checks
/// the output: every buffer valid, non-TCP frames passed through unchanged and in order,
/// and per flow the very segments that went in, in order. `Err` says what broke.
pub fn check(frames: &[Vec<u8>]) -> Result<(), String> {
    let mut c = super::offload::Coalescer::default();
    let mut outs: Vec<Vec<u8>> = Vec::new();
    for f in frames {
        c.push(f, &mut |b| outs.push(b.to_vec()));
    }
    c.flush(&mut |b| outs.push(b.to_vec()));
    let mut got = Vec::new();
    let mut plain = Vec::new();
    for out in &outs {
        match cut(out)? {
            Some(segs) => got.extend(segs),
            None => plain.push(out[VNET_HDR..].to_vec()),
        }
    }
    let sent_segs: Vec<Seen> = frames.iter().filter_map(|f| sent(f)).collect();
    // Shorter than an Ethernet header: not a frame, dropped.
    let sent_plain: Vec<Vec<u8>> = frames
        .iter()
        .filter(|f| f.len() >= ETHERNET && sent(f).is_none())
        .cloned()
        .collect();
    if plain != sent_plain {
        return Err("frames that are not TCP changed or were reordered".into());
    }
    if by_flow(&got) != by_flow(&sent_segs) {
        return Err("a flow's segments changed: bytes lost, added or reordered".into());
    }
    Ok(())
}
