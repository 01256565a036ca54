//! Fields the log format does not define, carried as the raw JSON they were read as.
//!
//! serde-json-core skips unknown fields and keeps its tokenizer private, so the archive's
//! "nothing is lost" needs its own look at an object's top-level members. This is that look:
//! a strict JSON validator (the same grammar serde_json accepts, nesting bounded by
//! [`MAX_DEPTH`], no recursion) and an iterator over members as `(key, value)` slices of
//! the text. It runs only for records that hold an unknown field.

use core::fmt;

use super::ParseErrorKind;
use super::key::Key;

/// How deeply containers may nest inside one unknown field's value.
pub const MAX_DEPTH: u32 = 64;

/// A record's unknown fields: borrowed raw JSON, in the order read (no copy, no allocation).
///
/// It holds an object's text and yields that object's members whose keys the log format
/// does not define; a parsed record's `Extra` is its own line. Two are equal when they yield
/// the same keys and values, written the same way but for white space between tokens.
#[derive(Clone, Copy, Default)]
pub struct Extra<'a> {
    /// A validated JSON object, or empty for none.
    object: &'a str,
}

impl<'a> Extra<'a> {
    /// No unknown fields.
    pub const NONE: Extra<'static> = Extra { object: "" };

    /// The unknown members of `object`, a JSON object's text (`{"site":"lab","rack":[1,2]}`);
    /// members with defined keys are not part of it.
    pub fn from_object(object: &'a str) -> Result<Extra<'a>, ParseErrorKind> {
        let object = object.trim_matches([' ', '\t', '\r', '\n']);
        validate_object(object.as_bytes())?;
        Ok(Extra { object })
    }

    /// `object` already validated as one JSON object.
    pub(super) fn validated(object: &'a str) -> Extra<'a> {
        Extra { object }
    }

    /// The unknown members in order: each key as written between its quotes (escapes kept)
    /// and its value's JSON text.
    pub fn members(&self) -> Members<'a> {
        let b = self.object.as_bytes();
        Members {
            text: self.object,
            pos: usize::from(b.first() == Some(&b'{')),
        }
    }

    /// Whether there is no unknown field.
    pub fn is_empty(&self) -> bool {
        self.members().next().is_none()
    }

    /// Bytes [`Extra::write_members`] writes at most.
    pub fn max_len(&self) -> usize {
        self.object.len()
    }

    /// Writes `,"key":value` for each member into `out`, values without the white space
    /// between their tokens (a value read across lines stays on the record's one line);
    /// returns the length, or `None` when `out` is too small.
    pub fn write_members(&self, out: &mut [u8]) -> Option<usize> {
        let mut n = 0;
        for (key, value) in self.members() {
            for part in [",\"", key, "\":"] {
                out.get_mut(n..n + part.len())?
                    .copy_from_slice(part.as_bytes());
                n += part.len();
            }
            for c in compact(value) {
                *out.get_mut(n)? = c;
                n += 1;
            }
        }
        Some(n)
    }
}

impl PartialEq for Extra<'_> {
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (self.members(), other.members());
        loop {
            match (a.next(), b.next()) {
                (None, None) => return true,
                (Some((ka, va)), Some((kb, vb))) if ka == kb && compact(va).eq(compact(vb)) => {}
                _ => return false,
            }
        }
    }
}

/// The bytes of a JSON value's text but the white space between its tokens.
fn compact(value: &str) -> impl Iterator<Item = u8> + '_ {
    let (mut in_string, mut escaped) = (false, false);
    value.bytes().filter(move |&c| {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            return true;
        }
        in_string = c == b'"';
        !matches!(c, b' ' | b'\t' | b'\n' | b'\r')
    })
}

impl Eq for Extra<'_> {}

impl fmt::Debug for Extra<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.members()).finish()
    }
}

/// Shows the unknown fields as one JSON object (`{}` when there are none).
impl fmt::Display for Extra<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (key, value)) in self.members().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(f, "{comma}\"{key}\":{value}")?;
        }
        f.write_str("}")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Extra<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.object);
    }
}

/// The unknown members of an [`Extra`].
pub struct Members<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut s = Scan {
                b: self.text.as_bytes(),
                pos: self.pos,
            };
            s.ws();
            if s.peek()? != b'"' {
                return None;
            }
            let key = s.string().ok()?;
            s.ws();
            s.eat(b':').ok()?;
            s.ws();
            let value_at = s.pos;
            s.value().ok()?;
            let value = self.text.get(value_at..s.pos)?;
            let key = self.text.get(key.0..key.1)?;
            s.ws();
            // Past the comma, or at the closing brace (where the next call stops).
            if s.peek() == Some(b',') {
                s.pos += 1;
            }
            self.pos = s.pos;
            if Key::of_raw(key).is_none() {
                return Some((key, value));
            }
        }
    }
}

/// Checks that `b` is exactly one JSON object, as serde_json would read it.
pub(super) fn validate_object(b: &[u8]) -> Result<(), ParseErrorKind> {
    let mut s = Scan { b, pos: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(ParseErrorKind::NotAnObject);
    }
    s.value()?;
    s.ws();
    if s.pos != b.len() {
        return Err(ParseErrorKind::TrailingCharacters);
    }
    Ok(())
}

/// A cursor over JSON text.
struct Scan<'t> {
    b: &'t [u8],
    pos: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), ParseErrorKind> {
        match self.peek() {
            Some(b) if b == c => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(ParseErrorKind::Syntax),
            None => Err(ParseErrorKind::Truncated),
        }
    }

    /// A string at its opening quote; returns the range between the quotes.
    fn string(&mut self) -> Result<(usize, usize), ParseErrorKind> {
        self.eat(b'"')?;
        let start = self.pos;
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseErrorKind::Truncated);
            };
            self.pos += 1;
            match c {
                b'"' => break,
                0..0x20 => return Err(ParseErrorKind::ControlCharacter),
                b'\\' => self.escape()?,
                _ => {}
            }
        }
        let end = self.pos - 1;
        core::str::from_utf8(&self.b[start..end]).map_err(|_| ParseErrorKind::BadUtf8)?;
        Ok((start, end))
    }

    /// The rest of an escape, after its backslash.
    fn escape(&mut self) -> Result<(), ParseErrorKind> {
        let Some(c) = self.peek() else {
            return Err(ParseErrorKind::Truncated);
        };
        self.pos += 1;
        match c {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Ok(()),
            b'u' => {
                let code = self.hex4()?;
                if (0xdc00..0xe000).contains(&code) {
                    return Err(ParseErrorKind::BadEscape);
                }
                if (0xd800..0xdc00).contains(&code) {
                    if self.b.get(self.pos..self.pos + 2) != Some(b"\\u") {
                        return Err(ParseErrorKind::BadEscape);
                    }
                    self.pos += 2;
                    if !(0xdc00..0xe000).contains(&self.hex4()?) {
                        return Err(ParseErrorKind::BadEscape);
                    }
                }
                Ok(())
            }
            _ => Err(ParseErrorKind::BadEscape),
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseErrorKind> {
        let digits = self
            .b
            .get(self.pos..self.pos + 4)
            .ok_or(ParseErrorKind::Truncated)?;
        let mut v = 0;
        for &d in digits {
            v = v * 16 + u32::from(super::text::hex_value(d).ok_or(ParseErrorKind::BadEscape)?);
        }
        self.pos += 4;
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), ParseErrorKind> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_at = self.pos;
        let int = self.digits();
        if int == 0 || (int > 1 && self.b[int_at] == b'0') {
            return Err(ParseErrorKind::BadNumber);
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(ParseErrorKind::BadNumber);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(ParseErrorKind::BadNumber);
            }
        }
        Ok(())
    }

    /// Any JSON value; nested containers are followed with a bit stack, not recursion.
    fn value(&mut self) -> Result<(), ParseErrorKind> {
        // Bit `i` is set when the container at depth `i + 1` is an object.
        let mut objects: u128 = 0;
        let mut depth: u32 = 0;
        loop {
            self.ws();
            match self.peek() {
                None => return Err(ParseErrorKind::Truncated),
                Some(b'"') => {
                    self.string()?;
                }
                Some(open @ (b'{' | b'[')) => {
                    // The record object itself is depth 1; its values may nest MAX_DEPTH.
                    if depth > MAX_DEPTH {
                        return Err(ParseErrorKind::TooDeep);
                    }
                    self.pos += 1;
                    let object = open == b'{';
                    if object {
                        objects |= 1 << depth;
                    } else {
                        objects &= !(1 << depth);
                    }
                    depth += 1;
                    self.ws();
                    if self.peek() == Some(if object { b'}' } else { b']' }) {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        if object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => {
                    let rest = &self.b[self.pos..];
                    let lit = [&b"true"[..], b"false", b"null"]
                        .into_iter()
                        .find(|l| rest.starts_with(l))
                        .ok_or(ParseErrorKind::Syntax)?;
                    self.pos += lit.len();
                }
            }
            // A value ended: close containers until one has a next element.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.ws();
                let object = objects >> (depth - 1) & 1 == 1;
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if object {
                            self.member_key()?;
                        }
                        break;
                    }
                    Some(b'}') if object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    None => return Err(ParseErrorKind::Truncated),
                    Some(_) => return Err(ParseErrorKind::Syntax),
                }
            }
        }
    }

    /// `"key":` inside an object.
    fn member_key(&mut self) -> Result<(), ParseErrorKind> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(if self.peek().is_none() {
                ParseErrorKind::Truncated
            } else {
                ParseErrorKind::Syntax
            });
        }
        self.string()?;
        self.ws();
        self.eat(b':')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yields_unknown_members_in_order() {
        let e = Extra::from_object(r#" {"b":1, "ts":"x","a" : [1, {"c":null}],"b":"2"} "#).unwrap();
        let m: std::vec::Vec<_> = e.members().collect();
        assert_eq!(m, [("b", "1"), ("a", r#"[1, {"c":null}]"#), ("b", "\"2\"")]);
        assert_eq!(
            std::format!("{e}"),
            r#"{"b":1,"a":[1, {"c":null}],"b":"2"}"#
        );
        assert!(Extra::from_object("{}").unwrap().is_empty());
        // Found by the record_parse fuzz target: a value read across lines is written on
        // one, and equals what it was read as.
        let e = Extra::from_object("{\"x\":[1 \r\n, \"a \\\" b\" ]}").unwrap();
        let mut out = [0u8; 64];
        let n = e.write_members(&mut out).unwrap();
        assert_eq!(&out[..n], b",\"x\":[1,\"a \\\" b\"]");
        assert_eq!(e, Extra::from_object("{\"x\":[1,\"a \\\" b\"]}").unwrap());
        assert_ne!(e, Extra::from_object("{\"x\":[1,\"a \\\"b\"]}").unwrap());
        assert!(Extra::NONE.is_empty());
    }

    #[test]
    fn refuses_what_json_refuses() {
        for bad in [
            "{",
            "{\"a\":}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":tru}",
            "{\"a\":[1,]}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\ud800\"}",
            "{\"a\":1} x",
            "[1]",
            "{\"a\":\"\t\"}",
            "{\"a\" 1}",
            "{1:1}",
            "{\"a\":1,}",
        ] {
            assert!(validate_object(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = std::format!("{{\"a\":{}{}}}", "[".repeat(65), "]".repeat(65));
        assert_eq!(
            validate_object(deep.as_bytes()),
            Err(ParseErrorKind::TooDeep)
        );
        let ok = std::format!("{{\"a\":{}{}}}", "[".repeat(64), "]".repeat(64));
        assert_eq!(validate_object(ok.as_bytes()), Ok(()));
    }
}
