//! Reading the value of each known field.

use super::{Fields, Literal, ParseError, ParseErrorKind, Parser, Str, TOTAL_KEYS, set};
use crate::record::{Event, Level, Proto, Reason};
use crate::time::Timestamp;

impl<'a> Parser<'a> {
    /// Reads the value of `key` into `f`.
    pub(super) fn field(
        &mut self,
        f: &mut Fields<'a>,
        key: Str<'a>,
        at: usize,
    ) -> Result<(), ParseError> {
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

    pub(super) fn required_string(&mut self, key: &'static str) -> Result<Str<'a>, ParseError> {
        match self.peek() {
            Some(b'"') => self.string(),
            None => self.err(ParseErrorKind::Truncated),
            Some(_) => self.err(ParseErrorKind::WrongType(key)),
        }
    }

    pub(super) fn optional_string(
        &mut self,
        key: &'static str,
    ) -> Result<Option<Str<'a>>, ParseError> {
        match self.peek() {
            Some(b'n') => match self.literal()? {
                Literal::Null => Ok(None),
                _ => self.err(ParseErrorKind::WrongType(key)),
            },
            _ => self.required_string(key).map(Some),
        }
    }

    pub(super) fn optional_text(
        &mut self,
        key: &'static str,
    ) -> Result<Option<&'a str>, ParseError> {
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

    pub(super) fn optional_number(&mut self, key: &'static str) -> Result<Option<u64>, ParseError> {
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
    pub(super) fn number(&mut self) -> Result<u64, ParseError> {
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

    pub(super) fn literal(&mut self) -> Result<Literal, ParseError> {
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
}
