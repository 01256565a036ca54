//! Writing a record: `Serialize` by hand (the `msg`/`msg_hex` split, the timestamp, only
//! the fields present), and [`Record::format`], serde-json-core's line plus the unknown
//! fields, which serde cannot write as raw JSON.

use core::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json_core::str::EscapedStr;

use super::Record;
use crate::time::Timestamp;

/// The output buffer was too small for the record; nothing useful was written.
///
/// Size buffers with [`Record::max_formatted_len`] to rule it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct CapacityError;

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too small for the record")
    }
}

impl core::error::Error for CapacityError {}

/// Bound on everything but the escaped strings and unknown fields: keys, punctuation, a
/// timestamp, the longest level/event/reason names, ten u64 numbers, `"partial":false` and
/// the newline (485 bytes, checked by a test).
pub(super) const FIXED_MAX: usize = 488;

/// Fields in a fixed order (`ts`, `level`, `event`, `conn`, `peer`, `proto`, `addr`,
/// `msg`/`msg_hex`, `partial`, `reason`, `bytes_in`, `bytes_out`, then the totals); absent
/// fields are left out. Unknown fields are not part of it: [`Record::format`] adds them.
impl Serialize for Record<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(self, None, s)
    }
}

/// A record whose text message is already escaped (see [`Record::format`]).
struct Escaped<'r, 'a> {
    record: &'r Record<'a>,
    msg: &'r str,
}

impl Serialize for Escaped<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(self.record, Some(self.msg), s)
    }
}

/// The record's fields; `escaped_msg`: its text message, already JSON-escaped.
///
/// The timestamp and the names of levels, events, protocols and reasons never need an
/// escape, so they go as [`EscapedStr`], which serde-json-core copies as they are: its
/// `serialize_str` (and so the derived `Serialize` of the enums) escapes char by char,
/// about 45 instructions a char, which was a quarter of a logged server's user-space CPU
/// per 64-byte echo. A test checks the bytes are the derived ones.
fn serialize<S: Serializer>(
    r: &Record<'_>,
    escaped_msg: Option<&str>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let this = r;
    {
        let mut m = s.serialize_struct("Record", 3)?;
        let mut ts = [0u8; Timestamp::MAX_LEN];
        m.serialize_field("ts", &EscapedStr(this.ts.format(&mut ts)))?;
        m.serialize_field("level", &EscapedStr(this.level.as_str()))?;
        m.serialize_field("event", &EscapedStr(this.event.as_str()))?;
        if let Some(conn) = this.conn {
            m.serialize_field("conn", &conn)?;
        }
        if let Some(peer) = this.peer {
            m.serialize_field("peer", &Text(peer))?;
        }
        if let Some(proto) = this.proto {
            m.serialize_field("proto", &EscapedStr(proto.as_str()))?;
        }
        if let Some(addr) = this.addr {
            m.serialize_field("addr", &Text(addr))?;
        }
        if let Some(msg) = this.msg {
            // Escaped (and so checked for UTF-8) by `format` already, or checked here.
            if let Some(escaped) = escaped_msg {
                m.serialize_field("msg", &EscapedStr(escaped))?;
            } else if let Ok(text) = core::str::from_utf8(msg) {
                m.serialize_field("msg", &Text(text))?;
            } else {
                m.serialize_field("msg_hex", &Hex(msg))?;
            }
        }
        if let Some(partial) = this.partial {
            m.serialize_field("partial", &partial)?;
        }
        if let Some(reason) = this.reason {
            m.serialize_field("reason", &EscapedStr(reason.as_str()))?;
        }
        if let Some(n) = this.bytes_in {
            m.serialize_field("bytes_in", &n)?;
        }
        if let Some(n) = this.bytes_out {
            m.serialize_field("bytes_out", &n)?;
        }
        let names = super::TotalFields::NAMES;
        for (name, value) in names.into_iter().zip(this.totals.values()) {
            if let Some(n) = value {
                m.serialize_field(name, &n)?;
            }
        }
        m.end()
    }
}

/// A string. One that needs no escape is handed over as serde-json-core's [`EscapedStr`]
/// (already JSON), which it copies byte for byte; any other string goes through
/// `serialize_str`, which escapes it character by character (a logged server formats one
/// record per line, lines of up to `--max-line` bytes).
struct Text<'s>(&'s str);

impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if needs_escape(self.0.as_bytes()) {
            s.serialize_str(self.0)
        } else {
            EscapedStr(self.0).serialize(s)
        }
    }
}

/// Whether `text` holds a byte JSON must escape: `"`, `\` or a control character.
fn needs_escape(text: &[u8]) -> bool {
    plain_len(text) < text.len()
}

impl Record<'_> {
    /// serde-json-core's line for a record whose message needs escapes, faster: the message
    /// is escaped into the end of `out` (byte runs copied, as serde-json-core does it char
    /// by char) and handed over as [`EscapedStr`]. Falls back to plain serialization when
    /// `out` has no room for both. The output is the same either way (a property test).
    fn format_escaped(&self, msg: &str, out: &mut [u8]) -> Result<usize, CapacityError> {
        let len = escaped_len(msg.as_bytes());
        if let Some(split) = out.len().checked_sub(len) {
            let (head, tail) = out.split_at_mut(split);
            escape_into(msg.as_bytes(), tail);
            if let Ok(escaped) = core::str::from_utf8(tail) {
                let line = Escaped {
                    record: self,
                    msg: escaped,
                };
                if let Ok(n) = serde_json_core::to_slice(&line, head) {
                    return Ok(n);
                }
            }
        }
        serde_json_core::to_slice(self, out).map_err(|_| CapacityError)
    }
}

/// The escape serde-json-core writes for byte `b` of a string, if any: `\"`, `\\`, the
/// short forms of BS, HT, LF, FF, CR, and `\u00XX` (upper-case hex) for other controls.
fn escape_of(b: u8, buf: &mut [u8; 6]) -> Option<&[u8]> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0a => b'n',
        0x0c => b'f',
        0x0d => b'r',
        0..0x20 => {
            *buf = [
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ];
            return Some(&buf[..]);
        }
        _ => return None,
    };
    buf[0] = b'\\';
    buf[1] = short;
    Some(&buf[..2])
}

/// The length of `text` escaped.
fn escaped_len(text: &[u8]) -> usize {
    let mut buf = [0u8; 6];
    let mut n = 0;
    let mut rest = text;
    loop {
        let run = plain_len(rest);
        n += run;
        let Some(&b) = rest.get(run) else { return n };
        n += escape_of(b, &mut buf).map_or(1, <[u8]>::len);
        rest = &rest[run + 1..];
    }
}

/// The length of the run at the start of `s` that needs no escape, eight bytes at a time.
fn plain_len(s: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = s.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // High bit set in each byte below 0x20, `"` or `\` (a borrow can also mark a byte
        // above a true match, never below one: the lowest mark is exact).
        let zero = |x: u64| x.wrapping_sub(ONES) & !x;
        let marks = (w.wrapping_sub(ONES * 0x20) & !w
            | zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\'))))
            & HIGH;
        if marks != 0 {
            // NOTE(as): trailing_zeros of a nonzero u64 is below 64.
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = words.remainder();
    at + rest
        .iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .unwrap_or(rest.len())
}

/// `text` escaped into `out`, which is [`escaped_len`] long.
fn escape_into(text: &[u8], out: &mut [u8]) {
    let mut buf = [0u8; 6];
    let mut at = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let run = plain_len(rest);
        if let Some(dst) = out.get_mut(at..at + run) {
            dst.copy_from_slice(&rest[..run]);
        }
        at += run;
        let Some(&b) = rest.get(run) else { break };
        if let Some(e) = escape_of(b, &mut buf) {
            if let Some(dst) = out.get_mut(at..at + e.len()) {
                dst.copy_from_slice(e);
            }
            at += e.len();
        }
        rest = &rest[run + 1..];
    }
}

/// Bytes as a string of lowercase hex digits.
struct Hex<'b>(&'b [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut chunk = [0u8; 64];
        for bytes in self.0.chunks(chunk.len() / 2) {
            for (pair, &b) in chunk.chunks_exact_mut(2).zip(bytes) {
                pair[0] = HEX[usize::from(b >> 4)];
                pair[1] = HEX[usize::from(b & 0xf)];
            }
            // Hex digits are ASCII.
            f.write_str(core::str::from_utf8(&chunk[..2 * bytes.len()]).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl Record<'_> {
    /// Writes the record as one JSON object followed by `\n` into `out`; returns the length.
    ///
    /// The defined fields are serde-json-core's serialization of the record; the unknown
    /// fields follow them as read. On error the contents of `out` are unspecified.
    pub fn format(&self, out: &mut [u8]) -> Result<usize, CapacityError> {
        // The text message is checked once here (UTF-8, escapes), not again by `serialize`.
        let n = match self.msg_str() {
            Some(msg) if needs_escape(msg.as_bytes()) => self.format_escaped(msg, out)?,
            // A plain message is its own escaped form.
            Some(msg) => serde_json_core::to_slice(&Escaped { record: self, msg }, out)
                .map_err(|_| CapacityError)?,
            None => serde_json_core::to_slice(self, out).map_err(|_| CapacityError)?,
        };
        // The object's closing brace: the unknown fields go before it.
        let close = n.checked_sub(1).ok_or(CapacityError)?;
        let rest = out.get_mut(close..).ok_or(CapacityError)?;
        let m = self.extra.write_members(rest).ok_or(CapacityError)?;
        let end = out.get_mut(close + m..close + m + 2).ok_or(CapacityError)?;
        end.copy_from_slice(b"}\n");
        Ok(close + m + 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, Extra, Level, Proto, Reason, TotalFields, Totals};

    fn ts() -> Timestamp {
        Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap()
    }

    fn text(r: &Record<'_>) -> std::string::String {
        let mut buf = std::vec![0u8; r.max_formatted_len()];
        let n = r.format(&mut buf).unwrap();
        std::string::String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn formats_the_product_example() {
        let r = Record {
            conn: Some(17),
            peer: Some("127.0.0.1:50512"),
            msg: Some(b"Hi There"),
            ..Record::event(ts(), Event::Echo)
        };
        assert_eq!(
            text(&r),
            "{\"ts\":\"2026-11-23T10:15:02.123Z\",\"level\":\"INFO\",\"event\":\"echo\",\"conn\":17,\"peer\":\"127.0.0.1:50512\",\"msg\":\"Hi There\"}\n"
        );
    }

    #[test]
    fn escapes_what_could_forge_a_record() {
        let r = Record {
            msg: Some(b"a\"b\\c\nd\r\x01\t\x08\x0c\",\"level\":\"ERROR"),
            ..Record::event(ts(), Event::Echo)
        };
        let line = text(&r);
        assert_eq!(line.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["msg"], "a\"b\\c\nd\r\x01\t\x08\x0c\",\"level\":\"ERROR");
    }

    #[test]
    fn binary_goes_to_msg_hex_and_unknown_fields_last() {
        let r = Record {
            msg: Some(&[0xff, 0x00, 0x41]),
            partial: Some(true),
            extra: Extra::from_object(r#"{"site":"lab","n":[1, 2]}"#).unwrap(),
            ..Record::event(ts(), Event::Echo)
        };
        assert!(
            text(&r).ends_with(
                ",\"msg_hex\":\"ff0041\",\"partial\":true,\"site\":\"lab\",\"n\":[1,2]}\n"
            )
        );
    }

    #[test]
    fn only_the_totals_given() {
        let r = Record {
            totals: TotalFields {
                conns: Some(3),
                ..TotalFields::NONE
            },
            ..Record::event(ts(), Event::Shutdown)
        };
        assert!(text(&r).ends_with("\"event\":\"shutdown\",\"conns\":3}\n"));
    }

    /// Every field at its longest besides the strings fits `FIXED_MAX`.
    #[test]
    fn fixed_max_covers_every_field_at_its_longest() {
        let all = Totals {
            conns: u64::MAX,
            rejected: u64::MAX,
            echoes: u64::MAX,
            refused_port: u64::MAX,
            refused_rate: u64::MAX,
            refused_busy: u64::MAX,
            console_dropped: u64::MAX,
        };
        let r = Record {
            ts: Timestamp::parse(b"9999-12-31T23:59:59.999Z").unwrap(),
            conn: Some(u64::MAX),
            peer: Some(""),
            proto: Some(Proto::Tcp),
            addr: Some(""),
            // One byte of `msg_hex` (2 digits) for the longest key of a message.
            msg: Some(b"\xff"),
            partial: Some(false),
            reason: Some(Reason::MaxConns),
            bytes_in: Some(u64::MAX),
            bytes_out: Some(u64::MAX),
            totals: all.into(),
            ..Record::new(ts(), Level::Error, Event::Listening)
        };
        let mut buf = [0u8; 1024];
        let n = r.format(&mut buf).unwrap();
        assert_eq!(n - 2, 485);
        assert!(n - 2 <= FIXED_MAX);
        assert!(n <= r.max_formatted_len());
    }

    proptest::proptest! {
        /// The fast path for messages with escapes writes exactly serde-json-core's line,
        /// and so does the fallback when the buffer is too small for the fast path.
        #[test]
        fn escaped_messages_format_as_serde_json_core_writes_them(
            msg in "(\\PC|[\"\\\\\u{0}-\u{1f}\u{7f}])*",
            slack in 0usize..64,
        ) {
            let r = Record {
                peer: Some("127.0.0.1:9"),
                msg: Some(msg.as_bytes()),
                partial: Some(true),
                ..Record::event(ts(), Event::Echo)
            };
            let mut want = std::vec![0u8; r.max_formatted_len()];
            let n = serde_json_core::to_slice(&r, &mut want).unwrap();
            want.truncate(n);
            want.push(b'\n');
            let mut buf = std::vec![0u8; r.max_formatted_len()];
            let n = r.format(&mut buf).unwrap();
            proptest::prop_assert_eq!(&buf[..n], &want[..]);
            // Just big enough for the line, too small for the line plus the escaped copy.
            let mut tight = std::vec![0u8; want.len() + slack];
            let n = r.format(&mut tight).unwrap();
            proptest::prop_assert_eq!(&tight[..n], &want[..]);
        }

        /// The word-at-a-time scan stops where a byte-at-a-time one does.
        #[test]
        fn plain_len_stops_at_the_first_byte_to_escape(s in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let want = s.iter().position(|&b| b < 0x20 || b == b'"' || b == b'\\').unwrap_or(s.len());
            proptest::prop_assert_eq!(plain_len(&s), want);
            let mut buf = [0u8; 6];
            let len: usize = s.iter().map(|&b| escape_of(b, &mut buf).map_or(1, <[u8]>::len)).sum();
            proptest::prop_assert_eq!(escaped_len(&s), len);
        }
    }

    /// The names handed over as [`EscapedStr`] are exactly what the derived `Serialize`
    /// writes, and need no escape.
    #[test]
    fn names_are_written_as_the_derived_serialize_writes_them() {
        fn check<T: Serialize>(value: T, name: &str) {
            let mut buf = [0u8; 32];
            let n = serde_json_core::to_slice(&value, &mut buf).unwrap();
            assert_eq!(&buf[..n], std::format!("\"{name}\"").as_bytes());
            assert!(!needs_escape(name.as_bytes()));
        }
        for level in Level::ALL {
            check(level, level.as_str());
        }
        for event in Event::ALL {
            check(event, event.as_str());
        }
        for proto in [Proto::Tcp, Proto::Udp] {
            check(proto, proto.as_str());
        }
        for reason in Reason::ALL {
            check(reason, reason.as_str());
        }
        let mut ts_buf = [0u8; Timestamp::MAX_LEN];
        check(
            ts().format(&mut ts_buf),
            ts().format(&mut [0u8; Timestamp::MAX_LEN]),
        );
    }

    #[test]
    fn too_small_buffer_is_an_error() {
        let r = Record {
            msg: Some(b"hello"),
            ..Record::event(ts(), Event::Echo)
        };
        let mut buf = [0u8; 40];
        assert_eq!(r.format(&mut buf), Err(CapacityError));
    }
}
