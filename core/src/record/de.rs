//! Reading a record: serde-json-core deserializes [`Fields`], then [`Record::parse`] decodes
//! its escaped strings into the caller's scratch buffer and, when the line holds fields the
//! format does not define, keeps them as [`Extra`].
//!
//! Strict where it matters (valid JSON, UTF-8 strings, known level/event/reason names, no
//! duplicate defined keys, nothing after the object) and tolerant where a newer writer may
//! differ (unknown keys are kept, `null` means absent).

use core::cell::Cell;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json_core::str::EscapedStr;

use super::error::{ParseError, ParseErrorKind, kind_of};
use super::extra::{self, Extra, MAX_DEPTH};
use super::fast;
use super::key::{Key, KeySeed};
use super::text;
use super::{Event, Level, Proto, Reason, Record, TotalFields};
use crate::time::Timestamp;

/// A record's fields as serde-json-core reads them: defined fields typed, strings still
/// escaped, and whether any field the format does not define was there.
/// [`Record::parse`] turns this into a [`Record`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fields<'a> {
    /// `ts`, escaped.
    pub ts: Option<EscapedStr<'a>>,
    /// `level`.
    pub level: Option<Level>,
    /// `event`.
    pub event: Option<Event>,
    /// `conn`.
    pub conn: Option<u64>,
    /// `peer`, escaped.
    pub peer: Option<EscapedStr<'a>>,
    /// `proto`.
    pub proto: Option<Proto>,
    /// `addr`, escaped.
    pub addr: Option<EscapedStr<'a>>,
    /// `msg`, escaped.
    pub msg: Option<EscapedStr<'a>>,
    /// `msg_hex`, escaped.
    pub msg_hex: Option<EscapedStr<'a>>,
    /// `partial`.
    pub partial: Option<bool>,
    /// `reason`.
    pub reason: Option<Reason>,
    /// `bytes_in`.
    pub bytes_in: Option<u64>,
    /// `bytes_out`.
    pub bytes_out: Option<u64>,
    /// The `shutdown` totals.
    pub totals: TotalFields,
    /// Whether a field the format does not define was read (and skipped).
    pub has_unknown: bool,
}

/// What went wrong inside the visitor, beyond what serde-json-core's error says.
#[derive(Clone, Copy, Default)]
struct Context {
    /// The precise error, when the visitor raised it.
    kind: Option<ParseErrorKind>,
    /// The defined key whose value was being read.
    key: Option<Key>,
}

/// Deserializes [`Fields`] into `out` (not returned: the struct is large and the archiver
/// reads millions), noting in `cx` why it failed.
struct FieldsSeed<'c, 'de> {
    cx: &'c Cell<Context>,
    out: &'c mut Fields<'de>,
}

/// Raises `kind` as the error, noting it in `cx`.
fn fail<E: de::Error>(cx: &Cell<Context>, kind: ParseErrorKind) -> E {
    let mut c = cx.get();
    c.kind = Some(kind);
    cx.set(c);
    E::custom(kind)
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Fields::default();
        FieldsSeed {
            cx: &Cell::new(Context::default()),
            out: &mut out,
        }
        .deserialize(d)?;
        Ok(out)
    }
}

use serde::Deserialize;

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a log record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let FieldsSeed { cx, out: f } = self;
        let mut seen = 0u32;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let Some(key) = key else {
                f.has_unknown = true;
                map.next_value_seed(Skip(0, cx))?;
                continue;
            };
            if seen & key.bit() != 0 {
                return Err(fail(cx, ParseErrorKind::DuplicateKey(key.name())));
            }
            seen |= key.bit();
            cx.set(Context {
                kind: None,
                key: Some(key),
            });
            match key {
                Key::Ts => f.ts = Some(map.next_value()?),
                Key::Level => {
                    let name = map.next_value()?;
                    f.level = Some(lookup_name(
                        cx,
                        name,
                        Level::from_record_name,
                        ParseErrorKind::UnknownLevel,
                    )?);
                }
                Key::Event => {
                    let name = map.next_value()?;
                    f.event = Some(lookup_name(
                        cx,
                        name,
                        Event::from_name,
                        ParseErrorKind::UnknownEvent,
                    )?);
                }
                Key::Conn => f.conn = map.next_value()?,
                Key::Peer => f.peer = map.next_value()?,
                Key::Proto => {
                    let name: Option<EscapedStr<'de>> = map.next_value()?;
                    f.proto = name
                        .map(|n| lookup_name(cx, n, Proto::from_name, ParseErrorKind::UnknownProto))
                        .transpose()?;
                }
                Key::Addr => f.addr = map.next_value()?,
                Key::Msg => f.msg = map.next_value()?,
                Key::MsgHex => f.msg_hex = map.next_value()?,
                Key::Partial => f.partial = map.next_value()?,
                Key::Reason => {
                    let name: Option<EscapedStr<'de>> = map.next_value()?;
                    f.reason = name
                        .map(|n| {
                            lookup_name(cx, n, Reason::from_name, ParseErrorKind::UnknownReason)
                        })
                        .transpose()?;
                }
                Key::BytesIn => f.bytes_in = map.next_value()?,
                Key::BytesOut => f.bytes_out = map.next_value()?,
                Key::Total(i) => {
                    let value = map.next_value()?;
                    if let Some(slot) = f.totals.get_mut(usize::from(i)) {
                        *slot = value;
                    }
                }
            }
            cx.set(Context::default());
        }
        Ok(())
    }
}

/// A name (level, event, proto, reason) decoded and looked up.
fn lookup_name<T, E: de::Error>(
    cx: &Cell<Context>,
    name: EscapedStr<'_>,
    lookup: fn(&[u8]) -> Option<T>,
    unknown: ParseErrorKind,
) -> Result<T, E> {
    let mut buf = [0u8; 16];
    match text::short(name, &mut buf) {
        Ok(Some(name)) => lookup(name).ok_or_else(|| fail(cx, unknown)),
        Ok(None) => Err(fail(cx, unknown)),
        Err(kind) => Err(fail(cx, kind)),
    }
}

/// Skips any value, following at most about twice [`MAX_DEPTH`] levels of nesting (the
/// stack stays bounded whatever the line; the scan of unknown fields enforces the limit).
struct Skip<'c>(u32, &'c Cell<Context>);

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.0 > 2 * MAX_DEPTH {
            self.1.set(Context {
                kind: Some(ParseErrorKind::TooDeep),
                key: None,
            });
            return Err(de::Error::custom(ParseErrorKind::TooDeep));
        }
        d.deserialize_ignored_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip(self.0 + 1, self.1))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(Skip(self.0 + 1, self.1))?.is_some() {
            map.next_value_seed(Skip(self.0 + 1, self.1))?;
        }
        Ok(())
    }
}

impl<'a> Record<'a> {
    /// Reads one JSON Lines record. `line` may end with `\n` or `\r\n`.
    ///
    /// Strings holding escapes, and `msg_hex`, are decoded into `scratch`, which must be at
    /// least as long as `line`; strings without escapes borrow from `line` (no copy).
    pub fn parse(line: &'a [u8], scratch: &'a mut [u8]) -> Result<Record<'a>, ParseError> {
        if scratch.len() < line.len() {
            return Err(ParseError::new(ParseErrorKind::ScratchTooSmall));
        }
        let object = trim_json_space(line);
        if let Some(scanned) = fast::scan(object) {
            return Ok(fast::build(object, &scanned, scratch));
        }
        Record::parse_general(line, scratch)
    }

    /// [`Record::parse`] without its fast path: serde-json-core reads every line. The two
    /// give the same result for every line (property test and fuzz target); this one is
    /// public so that they can check it.
    pub fn parse_general(line: &'a [u8], scratch: &'a mut [u8]) -> Result<Record<'a>, ParseError> {
        if scratch.len() < line.len() {
            return Err(ParseError::new(ParseErrorKind::ScratchTooSmall));
        }
        let object = trim_json_space(line);
        if object.is_empty() {
            return Err(ParseError::new(ParseErrorKind::Empty));
        }
        let cx = Cell::new(Context::default());
        let mut fields = Fields::default();
        let mut de = serde_json_core::de::Deserializer::new(object, None);
        let read = FieldsSeed {
            cx: &cx,
            out: &mut fields,
        }
        .deserialize(&mut de);
        if let Err(e) = read.and_then(|()| de.end()) {
            let cx = cx.get();
            return Err(ParseError::new(
                cx.kind.unwrap_or_else(|| kind_of(e, cx.key)),
            ));
        }
        let extra = if fields.has_unknown {
            extra::validate_object(object).map_err(ParseError::new)?;
            // Validated: JSON text outside strings is ASCII, and strings were checked.
            let text = core::str::from_utf8(object)
                .map_err(|_| ParseError::new(ParseErrorKind::BadUtf8))?;
            Extra::validated(text)
        } else {
            Extra::NONE
        };
        fields.finish(scratch, extra).map_err(ParseError::new)
    }
}

/// `line` without the white space JSON allows around a value (space, tab, LF, CR: not the
/// form feed or vertical tab that `trim_ascii` also takes).
fn trim_json_space(line: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = line.iter().position(|b| !space(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}

impl<'a> Fields<'a> {
    /// The record these fields make: required fields checked, strings decoded into
    /// `scratch`.
    pub fn finish(
        &self,
        mut scratch: &'a mut [u8],
        extra: Extra<'a>,
    ) -> Result<Record<'a>, ParseErrorKind> {
        let ts = self.ts.ok_or(ParseErrorKind::MissingField("ts"))?;
        let level = self.level.ok_or(ParseErrorKind::MissingField("level"))?;
        let event = self.event.ok_or(ParseErrorKind::MissingField("event"))?;
        let mut buf = [0u8; 32];
        let ts = text::short(ts, &mut buf)?.ok_or(ParseErrorKind::BadTimestamp)?;
        let ts = Timestamp::parse(ts).map_err(|_| ParseErrorKind::BadTimestamp)?;
        let msg = match (self.msg, self.msg_hex) {
            (Some(_), Some(_)) => return Err(ParseErrorKind::MsgAndMsgHex),
            (Some(m), None) => Some(text::decode(m, &mut scratch)?.as_bytes()),
            (None, Some(h)) => Some(text::hex(h, &mut scratch)?),
            (None, None) => None,
        };
        let peer = self
            .peer
            .map(|p| text::decode(p, &mut scratch))
            .transpose()?;
        let addr = self
            .addr
            .map(|a| text::decode(a, &mut scratch))
            .transpose()?;
        Ok(Record {
            ts,
            level,
            event,
            conn: self.conn,
            peer,
            proto: self.proto,
            addr,
            msg,
            partial: self.partial,
            reason: self.reason,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            totals: self.totals,
            extra,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<std::string::String, ParseErrorKind> {
        let mut scratch = std::vec![0u8; line.len()];
        Record::parse(line.as_bytes(), &mut scratch)
            .map(|r| std::format!("{r:?}"))
            .map_err(|e| e.kind)
    }

    const HEAD: &str = r#""ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo""#;

    #[test]
    fn reads_fields_as_given() {
        let mut scratch = [0u8; 256];
        let line = std::format!(
            r#"{{{HEAD},"msg":"a\"b\u00e9\ud83d\ude00","partial":false,"echoes":0,"x":[1,{{"y":null}}],"peer":null}}"#
        );
        let r = Record::parse(line.as_bytes(), &mut scratch).unwrap();
        assert_eq!(r.msg, Some("a\"b\u{e9}\u{1f600}".as_bytes()));
        assert_eq!(r.partial, Some(false));
        assert_eq!(r.totals.echoes, Some(0));
        assert_eq!(r.totals.conns, None);
        assert_eq!(r.peer, None);
        let extra: std::vec::Vec<_> = r.extra.members().collect();
        assert_eq!(extra, [("x", r#"[1,{"y":null}]"#)]);
    }

    #[test]
    fn escaped_keys_and_names_read_as_decoded() {
        let line = r#"{"t\u0073":"2026-11-23T10:15:02.123Z","level":"IN\u0046O","event":"echo"}"#;
        assert!(parse(line).is_ok());
    }

    #[test]
    fn refuses_with_a_reason() {
        for (tail, kind) in [
            (r#","conn":-1}"#, ParseErrorKind::BadNumber),
            (
                r#","conn":18446744073709551616}"#,
                ParseErrorKind::BadNumber,
            ),
            (r#","conn":"1"}"#, ParseErrorKind::WrongType("conn")),
            (r#","msg":"\q"}"#, ParseErrorKind::BadEscape),
            (r#","msg":"a	b"}"#, ParseErrorKind::ControlCharacter),
            (
                r#","msg":"a","msg_hex":"00"}"#,
                ParseErrorKind::MsgAndMsgHex,
            ),
            (r#","msg_hex":"0"}"#, ParseErrorKind::BadHex),
            (
                r#","conn":1,"conn":2}"#,
                ParseErrorKind::DuplicateKey("conn"),
            ),
            (r#","reason":"nope"}"#, ParseErrorKind::UnknownReason),
            (r#","x":tru}"#, ParseErrorKind::Syntax),
            (r#","x":"\x"}"#, ParseErrorKind::BadEscape),
            (r#","conn":1"#, ParseErrorKind::Truncated),
            (r#"} x"#, ParseErrorKind::TrailingCharacters),
        ] {
            let line = std::format!("{{{HEAD}{tail}");
            assert_eq!(parse(&line), Err(kind), "{line}");
        }
        assert_eq!(parse("  "), Err(ParseErrorKind::Empty));
        // Found by fuzzing: a form feed is not JSON white space.
        let ff = std::format!("\x0c{{{HEAD}}}");
        assert_eq!(parse(&ff), Err(ParseErrorKind::NotAnObject));
        assert_eq!(parse("[1]"), Err(ParseErrorKind::NotAnObject));
        assert_eq!(
            parse(r#"{"level":"INFO","event":"echo"}"#),
            Err(ParseErrorKind::MissingField("ts"))
        );
        let deep = std::format!(
            "{{{HEAD},\"x\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(parse(&deep), Err(ParseErrorKind::TooDeep));
    }

    #[test]
    fn invalid_utf8_is_refused() {
        let mut line = std::format!("{{{HEAD},\"msg\":\"ab\"}}").into_bytes();
        let at = line.len() - 3;
        line[at] = 0xff;
        let mut scratch = std::vec![0u8; line.len()];
        assert_eq!(
            Record::parse(&line, &mut scratch).map_err(|e| e.kind),
            Err(ParseErrorKind::BadUtf8)
        );
    }
}
