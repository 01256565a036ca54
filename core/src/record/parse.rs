//! The JSON Lines reader: one line back into a [`Record`].
//!
//! Strict where it matters (valid JSON, UTF-8 strings, known level/event/reason names, no
//! duplicate keys, nothing after the object) and tolerant where a newer writer may differ
//! (unknown keys are skipped, `null` means absent). No recursion: nested values of unknown
//! keys are skipped with a depth counter.

use core::fmt;

use super::{Event, Level, Proto, Reason, Record, Totals};
use crate::time::Timestamp;

/// Why a line is not a record, and where (byte offset into the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ParseError {
    /// What is wrong.
    pub kind: ParseErrorKind,
    /// Byte offset in the line where it was found.
    pub offset: usize,
}

/// What is wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The line is empty or blank.
    Empty,
    /// The line does not hold a JSON object.
    NotAnObject,
    /// The line ends inside the object (a torn write).
    Truncated,
    /// A character that JSON does not allow here.
    Syntax,
    /// A bad `\` escape in a string.
    BadEscape,
    /// A string is not valid UTF-8.
    BadUtf8,
    /// A raw control character inside a string.
    ControlCharacter,
    /// A number is not a non-negative integer that fits 64 bits.
    BadNumber,
    /// A key appears twice.
    DuplicateKey(&'static str),
    /// A field has the wrong JSON type.
    WrongType(&'static str),
    /// A required field is missing.
    MissingField(&'static str),
    /// `ts` is not an RFC 3339 millisecond timestamp.
    BadTimestamp,
    /// `level` is not a known level.
    UnknownLevel,
    /// `event` is not a known event.
    UnknownEvent,
    /// `proto` is not `tcp` or `udp`.
    UnknownProto,
    /// `reason` is not a known reason.
    UnknownReason,
    /// `msg_hex` is not an even number of hex digits.
    BadHex,
    /// Both `msg` and `msg_hex` are present.
    MsgAndMsgHex,
    /// Something other than white space follows the object.
    TrailingCharacters,
    /// Nesting deeper than the parser follows (in an unknown key's value).
    TooDeep,
    /// The scratch buffer is smaller than the line (a caller error).
    ScratchTooSmall,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.kind, self.offset + 1)
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ParseErrorKind::*;
        match self {
            Empty => f.write_str("empty line"),
            NotAnObject => f.write_str("not a JSON object"),
            Truncated => f.write_str("line ends inside the record (torn write?)"),
            Syntax => f.write_str("invalid JSON"),
            BadEscape => f.write_str("invalid escape in a string"),
            BadUtf8 => f.write_str("string is not valid UTF-8"),
            ControlCharacter => f.write_str("raw control character in a string"),
            BadNumber => f.write_str("number is not an unsigned 64-bit integer"),
            DuplicateKey(k) => write!(f, "duplicate field `{k}`"),
            WrongType(k) => write!(f, "field `{k}` has the wrong type"),
            MissingField(k) => write!(f, "missing field `{k}`"),
            BadTimestamp => f.write_str("`ts` is not an RFC 3339 millisecond timestamp"),
            UnknownLevel => f.write_str("unknown `level`"),
            UnknownEvent => f.write_str("unknown `event`"),
            UnknownProto => f.write_str("unknown `proto`"),
            UnknownReason => f.write_str("unknown `reason`"),
            BadHex => f.write_str("`msg_hex` is not lowercase hex pairs"),
            MsgAndMsgHex => f.write_str("both `msg` and `msg_hex`"),
            TrailingCharacters => f.write_str("characters after the record"),
            TooDeep => f.write_str("nesting too deep"),
            ScratchTooSmall => f.write_str("scratch buffer smaller than the line"),
        }
    }
}

impl core::error::Error for ParseError {}

/// How deep the skipper follows nested arrays/objects of unknown keys.
const MAX_DEPTH: u32 = 64;

impl<'a> Record<'a> {
    /// Reads one JSON Lines record. `line` may end with `\n` or `\r\n`.
    ///
    /// Strings holding escapes, and `msg_hex`, are decoded into `scratch`, which must be at
    /// least as long as `line`; strings without escapes borrow from `line` (no copy).
    pub fn parse(line: &'a [u8], scratch: &'a mut [u8]) -> Result<Record<'a>, ParseError> {
        if scratch.len() < line.len() {
            return Err(ParseError {
                kind: ParseErrorKind::ScratchTooSmall,
                offset: 0,
            });
        }
        Parser {
            line,
            pos: 0,
            scratch,
        }
        .record()
    }
}

/// A decoded JSON string: borrowed from the line, or unescaped into scratch.
type Str<'a> = &'a [u8];

struct Parser<'a> {
    line: &'a [u8],
    pos: usize,
    /// The unused tail of the caller's scratch buffer.
    scratch: &'a mut [u8],
}

#[derive(Default)]
struct Fields<'a> {
    ts: Option<Timestamp>,
    level: Option<Level>,
    event: Option<Event>,
    conn: Option<Option<u64>>,
    peer: Option<Option<&'a str>>,
    proto: Option<Option<Proto>>,
    addr: Option<Option<&'a str>>,
    msg: Option<Option<&'a [u8]>>,
    msg_hex: Option<Option<&'a [u8]>>,
    partial: Option<bool>,
    reason: Option<Option<Reason>>,
    bytes_in: Option<Option<u64>>,
    bytes_out: Option<Option<u64>>,
    totals: [Option<Option<u64>>; 6],
}

const TOTAL_KEYS: [&str; 6] = [
    "conns",
    "rejected",
    "echoes",
    "refused_port",
    "refused_rate",
    "refused_busy",
];

/// Stores `value` in `slot`, refusing a second value for the same key.
fn set<T>(slot: &mut Option<T>, value: T, key: &'static str, at: usize) -> Result<(), ParseError> {
    if slot.is_some() {
        return Err(ParseError {
            kind: ParseErrorKind::DuplicateKey(key),
            offset: at,
        });
    }
    *slot = Some(value);
    Ok(())
}

impl<'a> Parser<'a> {
    fn err<T>(&self, kind: ParseErrorKind) -> Result<T, ParseError> {
        Err(ParseError {
            kind,
            offset: self.pos,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after white space), or fails with `Syntax` / `Truncated`.
    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(b) if b == c => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => self.err(ParseErrorKind::Syntax),
            None => self.err(ParseErrorKind::Truncated),
        }
    }

    fn record(mut self) -> Result<Record<'a>, ParseError> {
        self.skip_ws();
        match self.peek() {
            None => return self.err(ParseErrorKind::Empty),
            Some(b'{') => self.pos += 1,
            Some(_) => return self.err(ParseErrorKind::NotAnObject),
        }
        let mut f = Fields::default();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                let key_at = self.pos;
                // The usual first field, in one step; any other field (or form) below.
                let fast_ts =
                    f.ts.is_none() && self.utc_ts_field().map(|t| f.ts = Some(t)).is_some();
                if !fast_ts {
                    if self.peek() != Some(b'"') {
                        return self.err(if self.peek().is_none() {
                            ParseErrorKind::Truncated
                        } else {
                            ParseErrorKind::Syntax
                        });
                    }
                    let key = self.string()?;
                    self.expect(b':')?;
                    self.skip_ws();
                    self.field(&mut f, key, key_at)?;
                }
                self.skip_ws();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => return self.err(ParseErrorKind::Syntax),
                    None => return self.err(ParseErrorKind::Truncated),
                }
            }
        }
        self.skip_ws();
        if self.pos != self.line.len() {
            return self.err(ParseErrorKind::TrailingCharacters);
        }
        self.finish(f)
    }

    /// `"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ"` exactly as echokit writes it, read in one step
    /// (moving past it), or `None` with nothing consumed. The general path reads these bytes
    /// the same way: a plain key, then a plain string that [`Timestamp::parse`] accepts.
    #[inline(always)]
    fn utc_ts_field(&mut self) -> Option<Timestamp> {
        let field = self.line.get(self.pos..self.pos + 31)?;
        if !field.starts_with(b"\"ts\":\"") || field[30] != b'"' {
            return None;
        }
        let ts = Timestamp::parse(&field[6..30]).ok()?;
        self.pos += 31;
        Some(ts)
    }

    fn finish(&self, f: Fields<'a>) -> Result<Record<'a>, ParseError> {
        let missing = |k| ParseError {
            kind: ParseErrorKind::MissingField(k),
            offset: self.pos,
        };
        let msg = match (f.msg.flatten(), f.msg_hex.flatten()) {
            (Some(_), Some(_)) => return self.err(ParseErrorKind::MsgAndMsgHex),
            (m, None) | (None, m) => m,
        };
        let totals = if f.totals.iter().any(|t| t.flatten().is_some()) {
            let v = |i: usize| f.totals[i].flatten().unwrap_or(0);
            Some(Totals {
                conns: v(0),
                rejected: v(1),
                echoes: v(2),
                refused_port: v(3),
                refused_rate: v(4),
                refused_busy: v(5),
            })
        } else {
            None
        };
        Ok(Record {
            ts: f.ts.ok_or_else(|| missing("ts"))?,
            level: f.level.ok_or_else(|| missing("level"))?,
            event: f.event.ok_or_else(|| missing("event"))?,
            conn: f.conn.flatten(),
            peer: f.peer.flatten(),
            proto: f.proto.flatten(),
            addr: f.addr.flatten(),
            msg,
            partial: f.partial.unwrap_or(false),
            reason: f.reason.flatten(),
            bytes_in: f.bytes_in.flatten(),
            bytes_out: f.bytes_out.flatten(),
            totals,
        })
    }

    /// Reads the value of `key` into `f`.
    fn field(&mut self, f: &mut Fields<'a>, key: Str<'a>, at: usize) -> Result<(), ParseError> {
        let value_at = self.pos;
        let bad = |kind| {
            Err(ParseError {
                kind,
                offset: value_at,
            })
        };
        match key {
            b"ts" => {
                let s = self.required_string("ts")?;
                match Timestamp::parse(s) {
                    Ok(t) => set(&mut f.ts, t, "ts", at),
                    Err(_) => bad(ParseErrorKind::BadTimestamp),
                }
            }
            b"level" => {
                let s = self.required_string("level")?;
                match Level::from_record_name(s) {
                    Some(l) => set(&mut f.level, l, "level", at),
                    None => bad(ParseErrorKind::UnknownLevel),
                }
            }
            b"event" => {
                let s = self.required_string("event")?;
                match Event::from_name(s) {
                    Some(e) => set(&mut f.event, e, "event", at),
                    None => bad(ParseErrorKind::UnknownEvent),
                }
            }
            b"conn" => {
                let v = self.optional_number("conn")?;
                set(&mut f.conn, v, "conn", at)
            }
            b"peer" => {
                let v = self.optional_text("peer")?;
                set(&mut f.peer, v, "peer", at)
            }
            b"proto" => {
                let v = match self.optional_string("proto")? {
                    None => None,
                    Some(s) => match Proto::from_name(s) {
                        Some(p) => Some(p),
                        None => return bad(ParseErrorKind::UnknownProto),
                    },
                };
                set(&mut f.proto, v, "proto", at)
            }
            b"addr" => {
                let v = self.optional_text("addr")?;
                set(&mut f.addr, v, "addr", at)
            }
            b"msg" => {
                let v = self.optional_string("msg")?;
                set(&mut f.msg, v, "msg", at)
            }
            b"msg_hex" => {
                let v = self.hex_string(value_at)?;
                set(&mut f.msg_hex, v, "msg_hex", at)
            }
            b"partial" => {
                let v = match self.literal()? {
                    Literal::True => true,
                    Literal::False | Literal::Null => false,
                    Literal::Other => return bad(ParseErrorKind::WrongType("partial")),
                };
                set(&mut f.partial, v, "partial", at)
            }
            b"reason" => {
                let v = match self.optional_string("reason")? {
                    None => None,
                    Some(s) => match Reason::from_name(s) {
                        Some(r) => Some(r),
                        None => return bad(ParseErrorKind::UnknownReason),
                    },
                };
                set(&mut f.reason, v, "reason", at)
            }
            b"bytes_in" => {
                let v = self.optional_number("bytes_in")?;
                set(&mut f.bytes_in, v, "bytes_in", at)
            }
            b"bytes_out" => {
                let v = self.optional_number("bytes_out")?;
                set(&mut f.bytes_out, v, "bytes_out", at)
            }
            other => {
                if let Some(i) = TOTAL_KEYS.iter().position(|k| k.as_bytes() == other) {
                    let v = self.optional_number(TOTAL_KEYS[i])?;
                    set(&mut f.totals[i], v, TOTAL_KEYS[i], at)
                } else {
                    self.skip_value()
                }
            }
        }
    }

    fn required_string(&mut self, key: &'static str) -> Result<Str<'a>, ParseError> {
        match self.peek() {
            Some(b'"') => self.string(),
            None => self.err(ParseErrorKind::Truncated),
            Some(_) => self.err(ParseErrorKind::WrongType(key)),
        }
    }

    fn optional_string(&mut self, key: &'static str) -> Result<Option<Str<'a>>, ParseError> {
        match self.peek() {
            Some(b'n') => match self.literal()? {
                Literal::Null => Ok(None),
                _ => self.err(ParseErrorKind::WrongType(key)),
            },
            _ => self.required_string(key).map(Some),
        }
    }

    fn optional_text(&mut self, key: &'static str) -> Result<Option<&'a str>, ParseError> {
        let at = self.pos;
        match self.optional_string(key)? {
            None => Ok(None),
            // Strings were checked to be UTF-8 when read.
            Some(s) => core::str::from_utf8(s).map(Some).map_err(|_| ParseError {
                kind: ParseErrorKind::BadUtf8,
                offset: at,
            }),
        }
    }

    fn optional_number(&mut self, key: &'static str) -> Result<Option<u64>, ParseError> {
        match self.peek() {
            Some(b'0'..=b'9') => self.number().map(Some),
            Some(b'n') => match self.literal()? {
                Literal::Null => Ok(None),
                _ => self.err(ParseErrorKind::WrongType(key)),
            },
            Some(b'-') => self.err(ParseErrorKind::BadNumber),
            None => self.err(ParseErrorKind::Truncated),
            Some(_) => self.err(ParseErrorKind::WrongType(key)),
        }
    }

    /// An unsigned integer without sign, fraction or exponent.
    fn number(&mut self) -> Result<u64, ParseError> {
        let start = self.pos;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(ParseError {
                    kind: ParseErrorKind::BadNumber,
                    offset: start,
                })?;
            self.pos += 1;
        }
        let leading_zero = self.line[start] == b'0' && self.pos - start > 1;
        if leading_zero || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return Err(ParseError {
                kind: ParseErrorKind::BadNumber,
                offset: start,
            });
        }
        Ok(n)
    }

    fn literal(&mut self) -> Result<Literal, ParseError> {
        let rest = &self.line[self.pos..];
        for (text, lit) in [
            (&b"true"[..], Literal::True),
            (b"false", Literal::False),
            (b"null", Literal::Null),
        ] {
            if rest.starts_with(text) {
                self.pos += text.len();
                return Ok(lit);
            }
            if text.starts_with(rest) && !rest.is_empty() {
                return self.err(ParseErrorKind::Truncated);
            }
        }
        match rest.first() {
            None => self.err(ParseErrorKind::Truncated),
            Some(b'"' | b'-' | b'0'..=b'9' | b'[' | b'{') => Ok(Literal::Other),
            Some(_) => self.err(ParseErrorKind::Syntax),
        }
    }

    /// Reads a JSON string starting at `"`; returns its decoded bytes (valid UTF-8).
    ///
    /// Inlined for its fastest path (keys and most values are short printable ASCII).
    #[inline(always)]
    fn string(&mut self) -> Result<Str<'a>, ParseError> {
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
    fn string_slow(&mut self) -> Result<Str<'a>, ParseError> {
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
    fn check_text(&self, s: &[u8], at: usize) -> Result<(), ParseError> {
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
    fn unescape(&mut self) -> Result<&'a mut [u8], ParseError> {
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
    fn unicode_escape(&mut self) -> Result<char, ParseErrorKind> {
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

    fn hex4(&mut self) -> Result<u32, ParseErrorKind> {
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
    fn hex_string(&mut self, at: usize) -> Result<Option<&'a [u8]>, ParseError> {
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
    fn decode_hex(&mut self, hex: &[u8], at: usize) -> Result<&'a [u8], ParseError> {
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

    /// Skips any JSON value (of a key this parser does not know), validating it.
    fn skip_value(&mut self) -> Result<(), ParseError> {
        // Bit `i` of `objects` is set when the container at depth `i + 1` is an object.
        let mut objects: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            // A value starts here.
            self.skip_ws();
            match self.peek() {
                None => return self.err(ParseErrorKind::Truncated),
                Some(b'"') => {
                    self.string()?;
                }
                Some(open @ (b'{' | b'[')) => {
                    if depth == MAX_DEPTH {
                        return self.err(ParseErrorKind::TooDeep);
                    }
                    self.pos += 1;
                    let is_object = open == b'{';
                    if is_object {
                        objects |= 1 << depth;
                    } else {
                        objects &= !(1 << depth);
                    }
                    depth += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        if is_object {
                            self.object_key()?;
                        }
                        continue;
                    }
                }
                Some(b'-' | b'0'..=b'9') => self.skip_number()?,
                Some(_) => {
                    if self.literal()? == Literal::Other {
                        return self.err(ParseErrorKind::Syntax);
                    }
                }
            }
            // A value ended: close containers until one has a next element.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let is_object = objects >> (depth - 1) & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if is_object {
                            self.object_key()?;
                        }
                        break;
                    }
                    Some(b'}') if is_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !is_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    None => return self.err(ParseErrorKind::Truncated),
                    Some(_) => return self.err(ParseErrorKind::Syntax),
                }
            }
        }
    }

    /// Skips `"key":` inside a skipped object.
    fn object_key(&mut self) -> Result<(), ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => self.string()?,
            None => return self.err(ParseErrorKind::Truncated),
            Some(_) => return self.err(ParseErrorKind::Syntax),
        };
        self.expect(b':')
    }

    fn skip_number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.pos;
            while let Some(b'0'..=b'9') = p.peek() {
                p.pos += 1;
            }
            p.pos - s
        };
        let int_start = self.pos;
        let int_digits = digits(self);
        // JSON allows no leading zero (`01`), in skipped values too.
        if int_digits == 0 || (int_digits > 1 && self.line[int_start] == b'0') {
            return Err(ParseError {
                kind: ParseErrorKind::BadNumber,
                offset: start,
            });
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if digits(self) == 0 {
                return Err(ParseError {
                    kind: ParseErrorKind::BadNumber,
                    offset: start,
                });
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return Err(ParseError {
                    kind: ParseErrorKind::BadNumber,
                    offset: start,
                });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal {
    True,
    False,
    Null,
    /// Some other value starts here (string, number, array, object).
    Other,
}

/// Length of the run at the start of `s` that is printable ASCII other than `"` and `\`
/// (bytes a JSON string holds as they are, and that are UTF-8 by themselves).
///
/// Most log strings are such runs (keys, levels, addresses, typical messages); checking eight
/// bytes at a time saves the separate UTF-8 and control-character passes over them.
#[inline]
fn plain_ascii_len(s: &[u8]) -> usize {
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
fn first_special(word: [u8; 8]) -> Option<usize> {
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

fn hex_value(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ascii_len_stops_at_the_first_special_byte() {
        for len in 0..20 {
            for at in 0..=len {
                for b in 0..=255u8 {
                    let mut s = [b'a'; 20];
                    let s = &mut s[..len];
                    if at < len {
                        s[at] = b;
                    }
                    let special = !(0x20..0x80).contains(&b) || b == b'"' || b == b'\\';
                    let expect = if at < len && special { at } else { len };
                    assert_eq!(plain_ascii_len(s), expect, "len {len} at {at} byte {b:#x}");
                    // A later special byte changes nothing.
                    for later in at + 1..len {
                        let keep = s[later];
                        s[later] = 0;
                        let expect = if special { at } else { later };
                        assert_eq!(plain_ascii_len(s), expect, "{at} {b:#x} then {later}");
                        s[later] = keep;
                    }
                }
            }
        }
    }

    /// The one-step read of a leading `"ts":"…Z"` agrees with the general path: on a
    /// duplicate, a bad or zone-less stamp, and white space around it.
    #[test]
    fn leading_ts_reads_as_any_other_field() {
        let parse = |line: &str| {
            let mut scratch = std::vec![0u8; line.len()];
            Record::parse(line.as_bytes(), &mut scratch).map(|r| r.ts)
        };
        let rest = r#","level":"INFO","event":"echo"}"#;
        let utc = Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap();
        for (line, want) in [
            (
                std::format!(r#"{{"ts":"2026-11-23T10:15:02.123Z"{rest}"#),
                Ok(utc),
            ),
            (
                std::format!(r#"{{ "ts" : "2026-11-23T10:15:02.123Z" {rest}"#),
                Ok(utc),
            ),
            (
                std::format!(r#"{{"ts":"2023-05-01T12:00:00.123"{rest}"#),
                Timestamp::parse(b"2023-05-01T12:00:00.123").map_err(|_| unreachable!()),
            ),
            (
                std::format!(
                    r#"{{"ts":"2026-11-23T10:15:02.123Z","ts":"2026-11-23T10:15:02.123Z"{rest}"#
                ),
                Err(ParseError {
                    kind: ParseErrorKind::DuplicateKey("ts"),
                    offset: 33,
                }),
            ),
            (
                std::format!(r#"{{"ts":"2026-13-23T10:15:02.123Z"{rest}"#),
                Err(ParseError {
                    kind: ParseErrorKind::BadTimestamp,
                    offset: 6,
                }),
            ),
        ] {
            assert_eq!(parse(&line), want, "{line}");
        }
    }

    /// Found by the property tests: `msg_hex` spelled with a `\u0030` escape and many raw
    /// digits needed more scratch than the line's length (unescaped copy plus decoded copy),
    /// so a valid record failed with `ScratchTooSmall`.
    #[test]
    fn escaped_msg_hex_fits_a_scratch_as_long_as_the_line() {
        let mut line = std::string::String::from(
            r#"{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","msg_hex":"\u0030"#,
        );
        line.push_str(&"0".repeat(399));
        line.push_str(r#""}"#);
        let mut scratch = std::vec![0u8; line.len()];
        let r = Record::parse(line.as_bytes(), &mut scratch).unwrap();
        assert_eq!(r.msg, Some(&[0u8; 200][..]));
    }

    /// Found by fuzzing (`record_parse` cross-checks serde_json): a number with a leading
    /// zero in an unknown key's value was accepted, so invalid JSON passed as a record.
    #[test]
    fn leading_zeros_are_invalid_json_in_skipped_values_too() {
        let line = |v: &str| {
            std::format!(
                r#"{{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","x":{v}}}"#
            )
        };
        for bad in ["00", "01", "-01", "[1,02]", "00.5"] {
            let l = line(bad);
            let mut scratch = std::vec![0u8; l.len()];
            assert_eq!(
                Record::parse(l.as_bytes(), &mut scratch).unwrap_err().kind,
                ParseErrorKind::BadNumber,
                "{bad}"
            );
        }
        for good in ["0", "-0", "10", "0.5", "-0e1", "1E+2"] {
            let l = line(good);
            let mut scratch = std::vec![0u8; l.len()];
            assert!(Record::parse(l.as_bytes(), &mut scratch).is_ok(), "{good}");
        }
    }

    #[test]
    fn escaped_msg_hex_is_still_checked() {
        for bad in [r#""\u0030""#, r#""\u00300g""#, r#""\u0030\u00e9""#] {
            let line = std::format!(
                r#"{{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","msg_hex":{bad}}}"#
            );
            let mut scratch = std::vec![0u8; line.len()];
            assert_eq!(
                Record::parse(line.as_bytes(), &mut scratch)
                    .unwrap_err()
                    .kind,
                ParseErrorKind::BadHex,
                "{bad}"
            );
        }
    }
}
