//! Reference models, written as plainly as possible, shared by core's property tests and
//! the fuzz targets (which include this file by path), so both check against one model.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A logged line: its bytes and whether it is partial.
pub type Logged = (Vec<u8>, bool);

/// The framing rules of PRODUCT.md "Log records", written as plainly as possible: split at
/// `\n`, strip the `\n` and a `\r` before it, cut pieces of `max_line` bytes (all but the
/// last partial); an unterminated tail is logged at close, every piece partial.
pub fn reference_lines(input: &[u8], max_line: usize) -> Vec<Logged> {
    let mut out = Vec::new();
    let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    let tail = parts.pop().unwrap_or(b"");
    for part in parts {
        let content = part.strip_suffix(b"\r").unwrap_or(part);
        let pieces: Vec<&[u8]> = if content.is_empty() {
            vec![content]
        } else {
            content.chunks(max_line).collect()
        };
        let last = pieces.len() - 1;
        for (i, piece) in pieces.into_iter().enumerate() {
            out.push((piece.to_vec(), i < last));
        }
    }
    for piece in tail.chunks(max_line) {
        out.push((piece.to_vec(), true));
    }
    out
}

/// [`reference_lines`] with flushes (`--flush-after`): at each offset in `flushes` the open
/// line is logged as it stands (partial pieces) and the next bytes start a new line, so the
/// log is the reference framing of each stretch between flushes, one after the other.
pub fn reference_lines_flushed(input: &[u8], max_line: usize, flushes: &[usize]) -> Vec<Logged> {
    let mut out = Vec::new();
    let mut start = 0;
    for &at in flushes.iter().chain(Some(&input.len())) {
        out.extend(reference_lines(&input[start..at], max_line));
        start = at;
    }
    out
}

/// Whether a line is open at the end of `taken` since the last flush (`flushed_at`): some
/// byte after the last `\n`. Only then does a flush deadline exist.
pub fn line_open(taken: &[u8], flushed_at: usize) -> bool {
    let since = &taken[flushed_at..];
    since.last().is_some_and(|&b| b != b'\n')
}

/// Distinct UDP sources the models use: eight, so a table of 8 holds them all and one of 2
/// does not.
pub const SOURCES: u8 = 8;

/// Source `n`: eight distinct addresses, plus source 0 again spelled as IPv4-mapped IPv6.
pub fn source_ip(n: u8) -> IpAddr {
    match n % (SOURCES + 1) {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        8 => IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped()),
        k if k % 2 == 1 => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, k.into())),
        k => IpAddr::V4(Ipv4Addr::new(192, 0, 2, k)),
    }
}

/// The address the policy must count together (IPv4 as IPv4-mapped IPv6).
pub fn key(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
