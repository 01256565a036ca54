//! A one-pass reader for the records echokit itself writes, in front of serde-json-core.
//!
//! The archiver reads millions of records, and serde-json-core reads each string byte by
//! byte and checks every key and value for UTF-8 again (about a third of the archive's
//! CPU). This reader takes only the shape the formatter writes: one object, no white
//! space, defined keys without escapes, each once, strings whose escapes are the short ones
//! (`\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t`, and only in `msg`), plain unsigned integers,
//! `true`/`false`, known names, `ts`, `level` and `event` present, no `msg_hex`. For
//! anything else it answers `None` and [`super::Record::parse`] asks serde-json-core, so
//! every error, every unknown field and every unusual spelling is still read there; what
//! this reader accepts, serde-json-core reads as the same record (property test
//! `fast_path_agrees_with_serde_json_core`, and the `record_parse` fuzz target).

use super::key::Key;
use super::{Event, Extra, Level, Proto, Reason, Record, TotalFields};
use crate::time::Timestamp;

/// A string value: where its text (between the quotes) is, and whether it holds escapes.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    escaped: bool,
}

/// A record read but for its message, which is decoded once the whole line is accepted.
pub(super) struct Scanned<'a> {
    ts: Timestamp,
    level: Level,
    event: Event,
    conn: Option<u64>,
    peer: Option<&'a str>,
    proto: Option<Proto>,
    addr: Option<&'a str>,
    msg: Option<Span>,
    partial: Option<bool>,
    reason: Option<Reason>,
    bytes_in: Option<u64>,
    bytes_out: Option<u64>,
    totals: TotalFields,
}

/// Reads `object` (a trimmed line) if it has the formatter's shape; `None` sends it to
/// serde-json-core.
pub(super) fn scan(object: &[u8]) -> Option<Scanned<'_>> {
    let b = object;
    if !printable_ascii(b) && (has_control(b) || core::str::from_utf8(b).is_err()) {
        return None;
    }
    let mut c = Cursor { b, pos: 0 };
    c.eat(b'{')?;
    let (mut ts, mut level, mut event) = (None, None, None);
    let mut r = Scanned {
        ts: Timestamp::from_unix_millis(0),
        level: Level::Info,
        event: Event::Log,
        conn: None,
        peer: None,
        proto: None,
        addr: None,
        msg: None,
        partial: None,
        reason: None,
        bytes_in: None,
        bytes_out: None,
        totals: TotalFields::NONE,
    };
    let mut seen = 0u32;
    loop {
        let key = Key::from_name(c.plain_string()?)?;
        if seen & key.bit() != 0 {
            return None;
        }
        seen |= key.bit();
        c.eat(b':')?;
        match key {
            Key::Ts => ts = Some(Timestamp::parse(c.plain_string()?).ok()?),
            Key::Level => level = Some(Level::from_record_name(c.plain_string()?)?),
            Key::Event => event = Some(Event::from_name(c.plain_string()?)?),
            Key::Proto => r.proto = Some(Proto::from_name(c.plain_string()?)?),
            Key::Reason => r.reason = Some(Reason::from_name(c.plain_string()?)?),
            Key::Peer => r.peer = Some(core::str::from_utf8(c.plain_string()?).ok()?),
            Key::Addr => r.addr = Some(core::str::from_utf8(c.plain_string()?).ok()?),
            Key::Msg => r.msg = Some(c.string()?),
            Key::MsgHex => return None,
            Key::Partial => r.partial = Some(c.boolean()?),
            Key::Conn => r.conn = Some(c.number()?),
            Key::BytesIn => r.bytes_in = Some(c.number()?),
            Key::BytesOut => r.bytes_out = Some(c.number()?),
            Key::Total(i) => *r.totals.get_mut(usize::from(i))? = Some(c.number()?),
        }
        match c.next()? {
            b',' => {}
            b'}' if c.pos == b.len() => break,
            _ => return None,
        }
    }
    r.ts = ts?;
    r.level = level?;
    r.event = event?;
    Some(r)
}

/// The record `scan` read from `object`, its message decoded into `scratch` when it holds
/// escapes (`scratch` at least as long as `object`).
pub(super) fn build<'a>(object: &'a [u8], s: &Scanned<'a>, scratch: &'a mut [u8]) -> Record<'a> {
    let msg = s.msg.map(|m| {
        let raw = object.get(m.start..m.end).unwrap_or_default();
        if m.escaped {
            let n = unescape(raw, scratch);
            &scratch[..n]
        } else {
            raw
        }
    });
    Record {
        ts: s.ts,
        level: s.level,
        event: s.event,
        conn: s.conn,
        peer: s.peer,
        proto: s.proto,
        addr: s.addr,
        msg,
        partial: s.partial,
        reason: s.reason,
        bytes_in: s.bytes_in,
        bytes_out: s.bytes_out,
        totals: s.totals,
        extra: Extra::NONE,
    }
}

/// Decodes the short escapes `scan` let through; `out` at least as long as `raw`.
fn unescape(raw: &[u8], out: &mut [u8]) -> usize {
    let mut n = 0;
    let mut rest = raw;
    while let Some(i) = memchr::memchr(b'\\', rest) {
        out[n..n + i].copy_from_slice(&rest[..i]);
        n += i;
        out[n] = match rest.get(i + 1) {
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            // `"`, `\` and `/` stand for themselves.
            Some(&c) => c,
            None => return n,
        };
        n += 1;
        rest = rest.get(i + 2..).unwrap_or_default();
    }
    out[n..n + rest.len()].copy_from_slice(rest);
    n + rest.len()
}

/// Whether every byte of `b` is printable ASCII (0x20 to 0x7f), eight bytes at a time: then
/// the line is UTF-8 and holds no control character, and neither needs checking again.
fn printable_ascii(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A high bit is set iff some byte is 0x80 or above, or (the lowest such byte borrowing
    // nothing from below it) below 0x20.
    let outside = |w: u64| (w.wrapping_sub(ONES * 0x20) | w) & HIGH != 0;
    let mut words = b.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if outside(u64::from_le_bytes(word)) {
            return false;
        }
    }
    words.remainder().iter().all(|&c| (0x20..0x80).contains(&c))
}

/// Whether any byte of `b` is below 0x20 (JSON allows none, not even in strings), eight
/// bytes at a time.
fn has_control(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Sets a high bit iff some byte of `w` is below 0x20 (exact as a yes/no test).
    let below = |w: u64| w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
    let mut words = b.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if below(u64::from_le_bytes(word)) {
            return true;
        }
    }
    words.remainder().iter().any(|&c| c < 0x20)
}

/// A cursor over the object's bytes.
struct Cursor<'b> {
    b: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.b.get(self.pos)?;
        self.pos += 1;
        Some(c)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// A string at its opening quote whose escapes are all short ones.
    fn string(&mut self) -> Option<Span> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            let i = memchr::memchr2(b'"', b'\\', self.b.get(self.pos..)?)?;
            self.pos += i + 1;
            if self.b[self.pos - 1] == b'"' {
                return Some(Span {
                    start,
                    end: self.pos - 1,
                    escaped,
                });
            }
            match self.next()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => escaped = true,
                _ => return None,
            }
        }
    }

    /// A short string without escapes (a key, a name, a timestamp, an address): a plain
    /// loop finds its end sooner than `memchr2`'s setup.
    fn plain_string(&mut self) -> Option<&'b [u8]> {
        self.eat(b'"')?;
        let start = self.pos;
        loop {
            match self.next()? {
                b'"' => return self.b.get(start..self.pos - 1),
                b'\\' => return None,
                _ => {}
            }
        }
    }

    /// `0` or `[1-9][0-9]*` that fits a `u64`.
    fn number(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&d @ b'0'..=b'9') = self.b.get(self.pos) {
            v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.pos += 1;
        }
        let len = self.pos - start;
        (len == 1 || (len > 1 && self.b[start] != b'0')).then_some(v)
    }

    fn boolean(&mut self) -> Option<bool> {
        let rest = self.b.get(self.pos..)?;
        let (v, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.pos += len;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(line: &str) -> bool {
        scan(line.as_bytes()).is_some()
    }

    #[test]
    fn takes_the_formatters_shape_only() {
        let head = r#"{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo""#;
        assert!(fast(&std::format!(
            r#"{head},"conn":0,"msg":"a\"b\n","partial":true}}"#
        )));
        for tail in [
            r#","conn":01}"#,
            r#","conn":-1}"#,
            r#","conn":1.0}"#,
            r#","conn":18446744073709551616}"#,
            r#","conn":null}"#,
            r#","msg":"\u0041"}"#,
            r#","peer":"\/"}"#,
            r#","x":1}"#,
            r#","conn":1,"conn":1}"#,
            r#", "conn":1}"#,
            r#","msg_hex":"00"}"#,
            r#"} "#,
            r#"}}"#,
            r#","msg":"a	b"}"#,
        ] {
            assert!(!fast(&std::format!("{head}{tail}")), "{tail}");
        }
        assert!(!fast(r#"{"level":"INFO","event":"echo"}"#));
    }

    /// The formatter's lines take the fast path (so the property test comparing the two
    /// paths compares something), and read back as the record.
    #[test]
    fn the_formatters_lines_take_it() {
        let ts = Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap();
        let records = [
            Record {
                conn: Some(17),
                peer: Some("[::1]:5"),
                msg: Some(b"a \"b\" \\ / \x08\x0c\n\r\t \xc3\xa9"),
                partial: Some(false),
                ..Record::event(ts, Event::Echo)
            },
            Record {
                proto: Some(Proto::Udp),
                addr: Some("0.0.0.0:7"),
                reason: Some(Reason::MaxConns),
                bytes_in: Some(0),
                bytes_out: Some(u64::MAX),
                totals: TotalFields {
                    conns: Some(3),
                    console_dropped: Some(10),
                    ..TotalFields::NONE
                },
                ..Record::event(ts, Event::Shutdown)
            },
        ];
        for r in records {
            let mut line = [0u8; 512];
            let n = r.format(&mut line).unwrap();
            let text = line[..n].trim_ascii_end();
            let scanned = scan(text).expect("the fast path takes it");
            let mut scratch = [0u8; 512];
            assert_eq!(build(text, &scanned, &mut scratch), r);
        }
    }

    #[test]
    fn control_bytes_anywhere_are_seen() {
        for at in 0..20 {
            let mut b = [b'a'; 20];
            assert!(!has_control(&b));
            b[at] = 0x1f;
            assert!(has_control(&b));
            assert!(!printable_ascii(&b));
            b[at] = 0x80;
            assert!(!has_control(&b));
            assert!(!printable_ascii(&b));
            b[at] = 0x7f;
            assert!(printable_ascii(&b));
        }
    }
}
