//! The documented defaults (PRODUCT.md "server"), once: `echokit server` over sockets and
//! over a TAP, and the firmware, start from these.

use core::time::Duration;

/// Longest message kept in one log record (`--max-line`).
pub const MAX_LINE: usize = 4096;
/// A connection idle this long is closed (`--idle-timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// An unterminated line idle this long is logged as it stands (`--flush-after`).
pub const FLUSH_AFTER: Duration = Duration::from_millis(500);
/// UDP datagrams answered a second per source address (`--udp-rate`).
pub const UDP_RATE: u32 = 100;
/// Concurrent TCP connections over the OS's sockets (`--max-conns`).
pub const MAX_CONNS: usize = 10_000;
/// Concurrent TCP connections over smoltcp on a TAP (`--max-conns` with `--tap`): one
/// socket with its buffers each.
pub const MAX_CONNS_TAP: usize = 16;
