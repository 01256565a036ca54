//! The JSON Lines reader: one line back into a [`Record`].
//!
//! Strict where it matters (valid JSON, UTF-8 strings, known level/event/reason names, no
//! duplicate keys, nothing after the object) and tolerant where a newer writer may differ
//! (unknown keys are skipped, `null` means absent). No recursion: nested values of unknown
//! keys are skipped with a depth counter.
//!
//! [`Parser`] reads the object and its keys here; [`fields`] reads each known field's
//! value, [`strings`] decodes strings and `msg_hex`, [`skip`] validates and skips unknown
//! values.

mod fields;
mod skip;
mod strings;
#[cfg(test)]
mod tests;

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
    totals: [Option<Option<u64>>; 7],
}

const TOTAL_KEYS: [&str; 7] = [
    "conns",
    "rejected",
    "echoes",
    "refused_port",
    "refused_rate",
    "refused_busy",
    "console_dropped",
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
                console_dropped: v(6),
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal {
    True,
    False,
    Null,
    /// Some other value starts here (string, number, array, object).
    Other,
}
