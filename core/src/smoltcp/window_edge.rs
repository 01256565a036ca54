//! Keeps a connection from stalling when smoltcp's receive window closes a few bytes short
//! of the edge it advertised before: [`WindowEdge`] wraps any `phy::Device`.
//!
//! smoltcp advertises `free space >> window shift`, rounded down, so the right edge of its
//! window may move back by up to `2^shift - 1` bytes (31 with 1 MiB buffers). The peer has
//! then already sent up to the older edge; smoltcp keeps the bytes that fit, and its
//! `RCV.NXT` ends below the peer's `SND.NXT`. Linux allows for this: its ACKs keep
//! `SND.NXT` as their sequence number. smoltcp only takes an empty segment whose sequence
//! number is inside its window (or exactly `RCV.NXT` when the window is zero) and drops the
//! rest without reading their ACK and window fields (RFC 9293 3.10.7.4 says to process
//! them). If the peer had closed its own window too (a client that reads slower than it
//! writes), smoltcp misses it reopening: its send buffer stays full, the echo stops reading,
//! its window closes, and both sides probe each other with no end (bulk echo through a TAP:
//! 3 runs in 50 stuck; tcpdump showed the kernel's updates 16 bytes past the edge).
//!
//! So an incoming plain ACK (no data, no SYN/FIN/RST) at or a little past the edge smoltcp
//! last advertised on its flow is moved back inside the window: to the edge itself when the
//! window is zero or the peer's data has reached the edge (smoltcp's `RCV.NXT` is there,
//! though its ACK saying so may not be out yet), else one byte before it. smoltcp then takes
//! its ACK and window; nothing else about the segment changes. The TCP checksum is not
//! updated: use the wrapper on a device whose TCP checksums smoltcp does not verify (a TAP,
//! whose frames come from the local kernel), or leave it out.

use core::cell::RefCell;

use managed::ManagedSlice;
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;

use super::segment::{FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, Segment, parse};

/// SYN, FIN and RST: segments that are not plain ACKs.
const CONTROL: u8 = FLAG_SYN | FLAG_FIN | FLAG_RST;
/// The largest window shift is 14, so the edge moves back by less than this.
const MAX_ROUNDING: u32 = 1 << 14;
/// Longest frame a plain ACK takes (headers with options, and padding); longer ones pass.
const MAX_ACK_FRAME: usize = 256;
/// Table slots looked at for one flow (open addressing, no tombstones).
const PROBE: usize = 8;

/// Addresses and ports of a flow, as smoltcp sends on it: version, local and remote
/// address, local and remote port.
type Key = [u8; 37];

/// One entry of the flow table the runner lends ([`FlowSlot::EMPTY`] to start).
#[derive(Debug, Clone, Copy)]
pub struct FlowSlot(Option<(Key, Flow)>);

impl FlowSlot {
    /// An unused slot.
    pub const EMPTY: FlowSlot = FlowSlot(None);
}

/// What smoltcp last advertised on a flow: its window ends at `ack + window << shift`, the
/// same sum smoltcp does to decide what it accepts. Every frame smoltcp emits is noted
/// (even one the device then drops), so both agree.
#[derive(Debug, Clone, Copy)]
struct Flow {
    /// Window shift from its SYN-ACK (0 without the option).
    shift: u8,
    ack: u32,
    window: u16,
    /// The end of the peer's data seen so far (its `SND.NXT`, as far as it reached us).
    sent: Option<u32>,
}

/// smoltcp's receive windows as its segments advertised them, per flow, in a fixed table
/// (a flow beyond it replaces one in its probe window; give it a few slots per socket).
#[derive(Debug)]
pub struct Edges<'a> {
    flows: ManagedSlice<'a, FlowSlot>,
}

impl<'a> Edges<'a> {
    /// Edges tracked in `flows`.
    pub fn new(flows: impl Into<ManagedSlice<'a, FlowSlot>>) -> Self {
        Edges {
            flows: flows.into(),
        }
    }

    /// Notes a frame smoltcp sends.
    pub fn sent(&mut self, frame: &[u8]) {
        let Some(seg) = parse(frame) else {
            return;
        };
        let h = seg.header(frame);
        let k = key(frame, &seg, false);
        if seg.flags & FLAG_RST != 0 {
            if let Some(i) = self.find(&k) {
                self.flows[i] = FlowSlot::EMPTY;
            }
            return;
        }
        if seg.flags & FLAG_ACK == 0 {
            return;
        }
        let ack = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let window = u16::from_be_bytes([h[14], h[15]]);
        if seg.flags & FLAG_SYN != 0 {
            // The SYN-ACK: a new connection on this flow. smoltcp computes its edge from
            // this window field with the shift too, as it does from every later one.
            let flow = Flow {
                shift: window_shift(&h[20..]),
                ack,
                window,
                sent: None,
            };
            self.insert(k, flow);
            return;
        }
        if let Some(i) = self.find(&k)
            && let FlowSlot(Some((_, flow))) = &mut self.flows[i]
        {
            flow.ack = ack;
            flow.window = window;
        }
    }

    /// Where and to what a received frame's sequence number must change, if it is a plain
    /// ACK at or just past smoltcp's edge (see the module's docs); notes the peer's data.
    /// Returns the offset of the 4-byte field and its new value.
    pub fn received(&mut self, frame: &[u8]) -> Option<(usize, u32)> {
        let seg = parse(frame)?;
        let k = key(frame, &seg, true);
        let i = self.find(&k)?;
        let FlowSlot(Some((_, flow))) = &mut self.flows[i] else {
            return None;
        };
        let data = seg.data_len(frame);
        if data > 0 {
            let end = seg.seq.wrapping_add(data);
            if flow.sent.is_none_or(|sent| after(end, sent)) {
                flow.sent = Some(end);
            }
            return None;
        }
        if seg.flags & FLAG_ACK == 0 || seg.flags & CONTROL != 0 {
            return None;
        }
        let width = u32::from(flow.window) << flow.shift;
        let edge = flow.ack.wrapping_add(width);
        if seg.seq.wrapping_sub(edge) >= MAX_ROUNDING {
            // Inside the window, or too far off to be rounding.
            return None;
        }
        // Where smoltcp's RCV.NXT is: at the edge if its window is zero, or if the peer's
        // data reached the edge since (smoltcp has not said so yet); else before it.
        let full = width == 0 || flow.sent.is_some_and(|sent| !after(edge, sent));
        let inside = if full { edge } else { edge.wrapping_sub(1) };
        (inside != seg.seq).then_some((seg.tcp + 4, inside))
    }

    /// The slot holding flow `k`.
    fn find(&self, k: &Key) -> Option<usize> {
        self.probe(k)
            .find(|&i| matches!(&self.flows[i], FlowSlot(Some((key, _))) if key == k))
    }

    /// Stores `flow` for `k`: in its own slot, else a free one, else over the first one
    /// probed (an arbitrary older flow is forgotten).
    fn insert(&mut self, k: Key, flow: Flow) {
        let at = self
            .find(&k)
            .or_else(|| self.probe(&k).find(|&i| self.flows[i].0.is_none()))
            .or_else(|| self.probe(&k).next());
        if let Some(i) = at {
            self.flows[i] = FlowSlot(Some((k, flow)));
        }
    }

    /// The slots flow `k` may be in.
    fn probe(&self, k: &Key) -> impl Iterator<Item = usize> + use<> {
        let len = self.flows.len();
        let start = if len == 0 { 0 } else { hash(k) % len };
        (0..PROBE.min(len)).map(move |step| {
            let i = start + step;
            if i >= len { i - len } else { i }
        })
    }
}

/// A flow key's hash, a word at a time (every frame in and out is looked up: a byte-wise
/// hash of the 37-byte key was the runner's most expensive function after smoltcp's own).
fn hash(k: &Key) -> usize {
    let h = k.chunks(8).fold(0u64, |h, chunk| {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        (h.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x517c_c1b7_2722_0a95)
    });
    // Only used modulo the table length: fold the well-mixed high half into the low.
    (h ^ (h >> 32)) as usize
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

/// A `phy::Device` with the window workaround: every frame out is noted, and a plain ACK
/// in that smoltcp would drop is handed over with its sequence number inside the window.
#[derive(Debug)]
pub struct WindowEdge<'a, D> {
    inner: D,
    edges: RefCell<Edges<'a>>,
}

impl<'a, D: Device> WindowEdge<'a, D> {
    /// `inner` with its flows tracked in `flows` (e.g. two slots per TCP socket).
    pub fn new(inner: D, flows: impl Into<ManagedSlice<'a, FlowSlot>>) -> Self {
        WindowEdge {
            inner,
            edges: RefCell::new(Edges::new(flows)),
        }
    }

    /// The wrapped device.
    pub fn get_ref(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, e.g. to flush it after a poll.
    pub fn get_mut(&mut self) -> &mut D {
        &mut self.inner
    }
}

impl<'a, D: Device> Device for WindowEdge<'a, D> {
    type RxToken<'t>
        = RxToken<'t, 'a, D::RxToken<'t>>
    where
        Self: 't;
    type TxToken<'t>
        = TxToken<'t, 'a, D::TxToken<'t>>
    where
        Self: 't;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(now)?;
        let edges = &self.edges;
        Some((RxToken { inner: rx, edges }, TxToken { inner: tx, edges }))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(now)?;
        Some(TxToken {
            inner: tx,
            edges: &self.edges,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// A received frame, fixed up on its way to smoltcp.
pub struct RxToken<'t, 'a, T> {
    inner: T,
    edges: &'t RefCell<Edges<'a>>,
}

impl<T: phy::RxToken> phy::RxToken for RxToken<'_, '_, T> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let edges = self.edges;
        self.inner.consume(|frame| {
            // The borrow ends before `f`, which may send (and note) a reply.
            let change = edges
                .try_borrow_mut()
                .ok()
                .and_then(|mut e| e.received(frame));
            match change {
                Some((at, seq)) if frame.len() <= MAX_ACK_FRAME => {
                    let mut copy = [0u8; MAX_ACK_FRAME];
                    let copy = &mut copy[..frame.len()];
                    copy.copy_from_slice(frame);
                    copy[at..at + 4].copy_from_slice(&seq.to_be_bytes());
                    f(copy)
                }
                _ => f(frame),
            }
        })
    }

    fn meta(&self) -> phy::PacketMeta {
        self.inner.meta()
    }
}

/// Room for a frame to send, noted once smoltcp has written it.
pub struct TxToken<'t, 'a, T> {
    inner: T,
    edges: &'t RefCell<Edges<'a>>,
}

impl<T: phy::TxToken> phy::TxToken for TxToken<'_, '_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let edges = self.edges;
        self.inner.consume(len, |buf| {
            let result = f(buf);
            if let Ok(mut e) = edges.try_borrow_mut() {
                e.sent(buf);
            }
            result
        })
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.inner.set_meta(meta);
    }
}

#[cfg(test)]
mod tests;
