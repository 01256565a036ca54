//! The echo service's logic, once, for every transport.
//!
//! `echo-core` is `#![no_std]` and never allocates, never reads a clock and never touches a
//! socket: the runner (std sockets on a PC, smoltcp on a device or a TAP) owns the I/O and the
//! time, and lends buffers. What lives here:
//!
//! - [`echo::Machine`]: the per-connection echo state machine (sans-IO, in the style of
//!   quinn-proto): byte-exact echo under any chunking, bounded memory (it takes only what it
//!   can hold, so a runner stops reading and TCP backpressure does the rest), line framing
//!   for the log, and an idle deadline.
//! - [`record`]: the log record model, its JSON Lines formatter and parser, and the parser for
//!   the legacy Python tools' lines ([`record::legacy`]).
//! - [`udp::Policy`]: which UDP datagrams get an answer (no privileged source ports, a token
//!   bucket per source address in a fixed table).
//! - [`time`]: a monotonic [`time::Instant`] in milliseconds and the wall-clock
//!   [`time::Timestamp`] of records.
//! - [`service`]: what a server decides, once for every runner (numbering, `--max-conns`,
//!   every record, idle deadlines, UDP verdicts, totals, the pump loop), over storage, time
//!   and a log sink the runner provides.
//! - `smoltcp` (feature `smoltcp`): the smoltcp runner shared by `echokit server --tap` and
//!   the firmware: socket pool, UDP socket, the loop feeding them to [`service`], and the
//!   receive-window workaround as a `phy::Device` wrapper.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

// Tests use std; the prelude stays core's, so any std use is explicit.
#[cfg(test)]
extern crate std;

pub mod buffer;
pub mod echo;
pub mod record;
pub mod service;
#[cfg(feature = "smoltcp")]
pub mod smoltcp;
pub mod time;
pub mod udp;

pub use buffer::Buffer;
