//! Cutting a byte stream into lines for the log (PRODUCT.md "Log records").
//!
//! A line ends at `\n`; the `\n`, and a `\r` right before it, are not part of the message.
//! A line longer than `max_line` is logged in pieces of `max_line` bytes, all but the last
//! `partial`. A line still open at close is logged as `partial`. Whole lines inside one
//! input chunk are passed to the callback straight from the input (no copy); only an
//! unterminated tail is copied into the line buffer.

use crate::buffer::Buffer;

/// One message for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Line<'a> {
    /// The message, without its line ending.
    pub bytes: &'a [u8],
    /// Not a whole line: a piece of a long line, or a line cut off by the close.
    pub partial: bool,
}

/// Feeds `data` to the framer. `line` holds the unterminated line so far; it must have room
/// for `max_line + 2` bytes.
pub(super) fn push<B: Buffer>(
    line: &mut B,
    max_line: usize,
    mut data: &[u8],
    on_line: &mut impl FnMut(Line<'_>),
) {
    while let Some(nl) = memchr::memchr(b'\n', data) {
        let segment = &data[..nl];
        data = &data[nl + 1..];
        if line.is_empty() {
            emit_complete(segment, max_line, on_line);
        } else {
            append(line, max_line, segment, on_line);
            emit_complete(line.as_slice(), max_line, on_line);
            line.clear();
        }
    }
    append(line, max_line, data, on_line);
}

/// Logs what is left at close: every piece partial, a lone trailing `\r` included.
pub(super) fn finish<B: Buffer>(line: &mut B, max_line: usize, on_line: &mut impl FnMut(Line<'_>)) {
    for piece in line.as_slice().chunks(max_line) {
        on_line(Line {
            bytes: piece,
            partial: true,
        });
    }
    line.clear();
}

/// Logs one terminated line (without its `\n`): strips a final `\r`, then cuts pieces.
fn emit_complete(mut content: &[u8], max_line: usize, on_line: &mut impl FnMut(Line<'_>)) {
    content = content.strip_suffix(b"\r").unwrap_or(content);
    while content.len() > max_line {
        on_line(Line {
            bytes: &content[..max_line],
            partial: true,
        });
        content = &content[max_line..];
    }
    on_line(Line {
        bytes: content,
        partial: false,
    });
}

/// Bytes of `content` known to be message, not a possible `\r` of a coming `\r\n`.
fn definite(content: &[u8]) -> usize {
    content.len() - usize::from(content.ends_with(b"\r"))
}

/// Appends unterminated bytes to the line, logging each `max_line` piece as soon as it is
/// known not to be the line's last.
fn append<B: Buffer>(
    line: &mut B,
    max_line: usize,
    mut data: &[u8],
    on_line: &mut impl FnMut(Line<'_>),
) {
    if line.is_empty() {
        // Whole pieces straight from the input.
        while definite(data) > max_line {
            on_line(Line {
                bytes: &data[..max_line],
                partial: true,
            });
            data = &data[max_line..];
        }
    }
    while !data.is_empty() {
        let n = line.extend_up_to(data);
        data = &data[n..];
        while definite(line.as_slice()) > max_line {
            on_line(Line {
                bytes: &line.as_slice()[..max_line],
                partial: true,
            });
            line.consume(max_line);
        }
        if n == 0 && !data.is_empty() {
            // The buffer is smaller than `max_line + 2` allows; never spin.
            break;
        }
    }
}
