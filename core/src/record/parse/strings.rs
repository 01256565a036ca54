//! JSON strings: the plain fast path, unescaping into scratch, and `msg_hex`.

use super::{ParseError, ParseErrorKind, Parser, Str};

impl<'a> Parser<'a> {
    /// Reads a JSON string starting at `"`; returns its decoded bytes (valid UTF-8).
    ///
    /// Inlined for its fastest path (keys and most values are short printable ASCII).
    #[inline(always)]
    pub(super) fn string(&mut self) -> Result<Str<'a>, ParseError> {
        let body = &self.line[self.pos + 1..];
        // Fastest path: printable ASCII up to the closing quote is valid as it stands.
        let plain = plain_ascii_len(body);
        if body.get(plain) == Some(&b'"') {
            self.pos += plain + 2;
            return Ok(&body[..plain]);
        }
        self.string_slow()
    }

    /// [`Self::string`] for strings holding escapes, non-ASCII text or errors.
    #[inline(never)]
    pub(super) fn string_slow(&mut self) -> Result<Str<'a>, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let body = &self.line[self.pos..];
        // Fast path: no escape before the closing quote, so borrow from the line.
        let stop = memchr::memchr2(b'"', b'\\', body);
        let Some(stop) = stop else {
            self.pos = self.line.len();
            return self.err(ParseErrorKind::Truncated);
        };
        if body[stop] == b'"' {
            let s = &body[..stop];
            self.check_text(s, self.pos)?;
            self.pos += stop + 1;
            return Ok(s);
        }
        self.pos = open;
        self.unescape().map(|s| &*s)
    }

    /// Checks that a raw string run is UTF-8 and holds no control character.
    pub(super) fn check_text(&self, s: &[u8], at: usize) -> Result<(), ParseError> {
        if let Some(i) = s.iter().position(|&b| b < 0x20) {
            return Err(ParseError {
                kind: ParseErrorKind::ControlCharacter,
                offset: at + i,
            });
        }
        // `is_ascii` first: far cheaper than a UTF-8 check (runs between escapes pass it).
        if s.is_ascii() {
            return Ok(());
        }
        if let Err(e) = core::str::from_utf8(s) {
            return Err(ParseError {
                kind: ParseErrorKind::BadUtf8,
                offset: at + e.valid_up_to(),
            });
        }
        Ok(())
    }

    /// Decodes a string with escapes into scratch. `self.pos` is at the opening quote.
    pub(super) fn unescape(&mut self) -> Result<&'a mut [u8], ParseError> {
        self.pos += 1;
        let scratch = core::mem::take(&mut self.scratch);
        let mut n = 0;
        loop {
            let body = &self.line[self.pos..];
            let Some(stop) = memchr::memchr2(b'"', b'\\', body) else {
                self.pos = self.line.len();
                return self.err(ParseErrorKind::Truncated);
            };
            let run = &body[..stop];
            self.check_text(run, self.pos)?;
            // Decoded text is never longer than its escaped form and scratch >= line, but a
            // hex-decoded `msg_hex` also takes scratch, so check rather than trust that.
            let Some(dst) = scratch.get_mut(n..n + run.len()) else {
                return self.err(ParseErrorKind::ScratchTooSmall);
            };
            dst.copy_from_slice(run);
            n += run.len();
            self.pos += stop;
            if body[stop] == b'"' {
                self.pos += 1;
                break;
            }
            // A backslash escape.
            let esc_at = self.pos;
            let bad = ParseError {
                kind: ParseErrorKind::BadEscape,
                offset: esc_at,
            };
            let Some(&e) = self.line.get(self.pos + 1) else {
                return self.err(ParseErrorKind::Truncated);
            };
            self.pos += 2;
            let byte = match e {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let c = self.unicode_escape().map_err(|k| ParseError {
                        kind: k,
                        offset: esc_at,
                    })?;
                    let Some(dst) = scratch.get_mut(n..n + c.len_utf8()) else {
                        return self.err(ParseErrorKind::ScratchTooSmall);
                    };
                    c.encode_utf8(dst);
                    n += c.len_utf8();
                    continue;
                }
                _ => return Err(bad),
            };
            let Some(dst) = scratch.get_mut(n) else {
                return self.err(ParseErrorKind::ScratchTooSmall);
            };
            *dst = byte;
            n += 1;
        }
        let (decoded, rest) = scratch.split_at_mut(n);
        self.scratch = rest;
        Ok(decoded)
    }

    /// Reads the hex digits after `\u` (and a low surrogate's `\uXXXX` after a high one).
    pub(super) fn unicode_escape(&mut self) -> Result<char, ParseErrorKind> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if self.line.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(ParseErrorKind::BadEscape);
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(ParseErrorKind::BadEscape);
                }
                0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(ParseErrorKind::BadEscape),
            c => c,
        };
        char::from_u32(code).ok_or(ParseErrorKind::BadEscape)
    }

    pub(super) fn hex4(&mut self) -> Result<u32, ParseErrorKind> {
        let digits = self
            .line
            .get(self.pos..self.pos + 4)
            .ok_or(ParseErrorKind::Truncated)?;
        let mut v = 0;
        for &d in digits {
            v = v * 16 + u32::from(hex_value(d).ok_or(ParseErrorKind::BadEscape)?);
        }
        self.pos += 4;
        Ok(v)
    }

    /// Reads `msg_hex` (a string or `null`) and decodes it. A string holding escapes is
    /// unescaped into scratch and decoded there in place, so that scratch as long as the line
    /// is always enough (unescaping then decoding apart could need half as much again).
    pub(super) fn hex_string(&mut self, at: usize) -> Result<Option<&'a [u8]>, ParseError> {
        let escaped = self.peek() == Some(b'"')
            && memchr::memchr2(b'"', b'\\', &self.line[self.pos + 1..])
                .is_some_and(|i| self.line[self.pos + 1 + i] == b'\\');
        if !escaped {
            return match self.optional_string("msg_hex")? {
                None => Ok(None),
                Some(hex) => self.decode_hex(hex, at).map(Some),
            };
        }
        let buf = self.unescape()?;
        if buf.len() % 2 != 0 {
            return Err(ParseError {
                kind: ParseErrorKind::BadHex,
                offset: at,
            });
        }
        let n = buf.len() / 2;
        for i in 0..n {
            match (hex_value(buf[2 * i]), hex_value(buf[2 * i + 1])) {
                (Some(h), Some(l)) => buf[i] = h << 4 | l,
                _ => {
                    return Err(ParseError {
                        kind: ParseErrorKind::BadHex,
                        offset: at,
                    });
                }
            }
        }
        Ok(Some(&buf[..n]))
    }

    /// Decodes `msg_hex` (lowercase or uppercase pairs) into scratch.
    pub(super) fn decode_hex(&mut self, hex: &[u8], at: usize) -> Result<&'a [u8], ParseError> {
        let bad = ParseError {
            kind: ParseErrorKind::BadHex,
            offset: at,
        };
        if hex.len() % 2 != 0 {
            return Err(bad);
        }
        let scratch = core::mem::take(&mut self.scratch);
        let n = hex.len() / 2;
        if scratch.len() < n {
            self.scratch = scratch;
            return Err(ParseError {
                kind: ParseErrorKind::ScratchTooSmall,
                offset: at,
            });
        }
        let (out, rest) = scratch.split_at_mut(n);
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            match (hex_value(pair[0]), hex_value(pair[1])) {
                (Some(h), Some(l)) => *o = h << 4 | l,
                _ => {
                    self.scratch = rest;
                    return Err(bad);
                }
            }
        }
        self.scratch = rest;
        Ok(out)
    }
}

/// Length of the run at the start of `s` that is printable ASCII other than `"` and `\`
/// (bytes a JSON string holds as they are, and that are UTF-8 by themselves).
///
/// Most log strings are such runs (keys, levels, addresses, typical messages); checking eight
/// bytes at a time saves the separate UTF-8 and control-character passes over them.
#[inline]
pub(super) fn plain_ascii_len(s: &[u8]) -> usize {
    let mut i = 0;
    while let Some(bytes) = s.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(bytes);
        if let Some(at) = first_special(word) {
            return i + at;
        }
        i += 8;
    }
    // The tail, padded with quotes (which stop the run where `s` ends).
    let rest = &s[i..];
    let mut word = [b'"'; 8];
    word[..rest.len()].copy_from_slice(rest);
    i + first_special(word).unwrap_or(rest.len())
}

/// The index of the first byte in `word` that is below 0x20, from 0x80, `"` or `\\`.
#[inline]
pub(super) fn first_special(word: [u8; 8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let w = u64::from_le_bytes(word);
    // Each test sets the high bit of matching bytes. A borrow can also mark a byte above a
    // true match, never below one, so the lowest mark is exact (Hacker's Delight 6-1).
    let below = |n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let marks = (below(0x20)
        | zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | w)
        & HIGH;
    // NOTE(as): trailing_zeros of a nonzero u64 is below 64.
    (marks != 0).then(|| (marks.trailing_zeros() / 8) as usize)
}

pub(super) fn hex_value(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}
