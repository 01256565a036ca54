//! Decoding the strings serde-json-core hands over still escaped ([`EscapedStr`]).
//!
//! serde-json-core checks that a string is UTF-8 and finds where it ends, but leaves escapes
//! in place (decoding needs a buffer) and lets raw control characters through; its own
//! [`EscapedStr::fragments`] refuses the surrogate pairs JSON writes for characters beyond
//! U+FFFF and reads `\u+041` as `A`. This module finishes the job on the escaped text:
//! escapes decoded (pairs joined), raw control characters refused, so a string reads as JSON
//! (and serde_json) says. It loops over the escapes with `memchr` rather than `fragments`:
//! the archiver decodes millions of strings.

use serde_json_core::str::EscapedStr;

use super::ParseErrorKind;

/// Decodes `s` into `out`; returns the decoded length. `out` as long as `s` is always
/// enough (an escape is never shorter than what it stands for).
pub(super) fn unescape(s: EscapedStr<'_>, out: &mut [u8]) -> Result<usize, ParseErrorKind> {
    let mut rest = s.0.as_bytes();
    let mut n = 0;
    let mut put = |bytes: &[u8]| -> Result<(), ParseErrorKind> {
        let dst = out
            .get_mut(n..n + bytes.len())
            .ok_or(ParseErrorKind::ScratchTooSmall)?;
        dst.copy_from_slice(bytes);
        n += bytes.len();
        Ok(())
    };
    loop {
        let run = memchr::memchr(b'\\', rest).unwrap_or(rest.len());
        check_controls(&rest[..run])?;
        put(&rest[..run])?;
        let Some(escape) = rest.get(run + 1..) else {
            return Ok(n);
        };
        let (c, used) = match escape.first() {
            Some(b'"') => ('"', 1),
            Some(b'\\') => ('\\', 1),
            Some(b'/') => ('/', 1),
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'n') => ('\n', 1),
            Some(b'r') => ('\r', 1),
            Some(b't') => ('\t', 1),
            Some(b'u') => unicode(escape)?,
            _ => return Err(ParseErrorKind::BadEscape),
        };
        put(c.encode_utf8(&mut [0; 4]).as_bytes())?;
        rest = &escape[used..];
    }
}

/// The character of `u` + 4 hex digits at the start of `e` (and of the low surrogate's
/// `\uXXXX` after a high one), and how many bytes it took.
fn unicode(e: &[u8]) -> Result<(char, usize), ParseErrorKind> {
    let first = e
        .get(1..5)
        .and_then(hex4)
        .ok_or(ParseErrorKind::BadEscape)?;
    let (code, used) = match first {
        0xd800..=0xdbff => {
            let low = e
                .get(5..11)
                .filter(|p| p.starts_with(b"\\u"))
                .and_then(|p| hex4(&p[2..]))
                .filter(|l| (0xdc00..=0xdfff).contains(l))
                .ok_or(ParseErrorKind::BadEscape)?;
            (0x10000 + ((first - 0xd800) << 10) + (low - 0xdc00), 11)
        }
        c => (c, 5),
    };
    // A lone low surrogate is no character.
    char::from_u32(code)
        .map(|c| (c, used))
        .ok_or(ParseErrorKind::BadEscape)
}

/// `s` itself when it holds no escape (checked for control characters), else `s` decoded
/// into the front of `scratch`, which is then moved past it.
pub(super) fn decode<'a>(
    s: EscapedStr<'a>,
    scratch: &mut &'a mut [u8],
) -> Result<&'a str, ParseErrorKind> {
    if !s.0.as_bytes().contains(&b'\\') {
        check_controls(s.0.as_bytes())?;
        return Ok(s.0);
    }
    let n = unescape(s, scratch)?;
    let (text, rest) = core::mem::take(scratch).split_at_mut(n);
    *scratch = rest;
    // Decoding joins valid UTF-8 pieces and whole characters.
    core::str::from_utf8(text).map_err(|_| ParseErrorKind::BadUtf8)
}

/// A short string (a name, a timestamp): itself without escapes, else decoded into `out`;
/// `None` when longer than `N` decoded.
pub(super) fn short<'b, const N: usize>(
    s: EscapedStr<'b>,
    out: &'b mut [u8; N],
) -> Result<Option<&'b [u8]>, ParseErrorKind> {
    if !s.0.as_bytes().contains(&b'\\') {
        check_controls(s.0.as_bytes())?;
        return Ok(Some(s.0.as_bytes()));
    }
    match unescape(s, out) {
        Ok(n) => Ok(out.get(..n)),
        Err(ParseErrorKind::ScratchTooSmall) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `msg_hex`: decoded, then read as pairs of hex digits into the front of `scratch`.
pub(super) fn hex<'a>(
    s: EscapedStr<'a>,
    scratch: &mut &'a mut [u8],
) -> Result<&'a [u8], ParseErrorKind> {
    let buf = core::mem::take(scratch);
    // The digits: `s` itself, or `s` unescaped into the front of `buf`.
    let digits = if s.0.as_bytes().contains(&b'\\') {
        None
    } else {
        check_controls(s.0.as_bytes())?;
        Some(s.0.as_bytes())
    };
    let len = match digits {
        Some(d) => d.len(),
        None => unescape(s, buf)?,
    };
    if len % 2 != 0 {
        return Err(ParseErrorKind::BadHex);
    }
    let n = len / 2;
    if buf.len() < n {
        return Err(ParseErrorKind::ScratchTooSmall);
    }
    for i in 0..n {
        // Reads pair `i` before writing byte `i` (in place when unescaped into `buf`).
        let (h, l) = match digits {
            Some(d) => (d[2 * i], d[2 * i + 1]),
            None => (buf[2 * i], buf[2 * i + 1]),
        };
        match (hex_value(h), hex_value(l)) {
            (Some(h), Some(l)) => buf[i] = h << 4 | l,
            _ => return Err(ParseErrorKind::BadHex),
        }
    }
    let (bytes, rest) = buf.split_at_mut(n);
    *scratch = rest;
    Ok(bytes)
}

/// JSON forbids raw control characters in strings; serde-json-core lets them through.
pub(super) fn check_controls(s: &[u8]) -> Result<(), ParseErrorKind> {
    if s.iter().any(|&b| b < 0x20) {
        return Err(ParseErrorKind::ControlCharacter);
    }
    Ok(())
}

fn hex4(digits: &[u8]) -> Option<u32> {
    digits
        .iter()
        .try_fold(0u32, |v, &d| hex_value(d).map(|d| v * 16 + u32::from(d)))
}

pub(super) fn hex_value(d: u8) -> Option<u8> {
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

    fn text(s: &str) -> Result<std::string::String, ParseErrorKind> {
        let mut buf = std::vec![0u8; s.len()];
        let n = unescape(EscapedStr(s), &mut buf)?;
        Ok(std::string::String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn decodes_as_json_does() {
        assert_eq!(
            text(r#"a\"b\\c\/\n\t\u00e9"#).unwrap(),
            "a\"b\\c/\n\t\u{e9}"
        );
        assert_eq!(text(r"\ud83d\ude00!").unwrap(), "\u{1f600}!");
        assert_eq!(text(r"x\ud83d"), Err(ParseErrorKind::BadEscape));
        assert_eq!(text(r"\ude00"), Err(ParseErrorKind::BadEscape));
        assert_eq!(text(r"\q"), Err(ParseErrorKind::BadEscape));
        assert_eq!(text("a\tb"), Err(ParseErrorKind::ControlCharacter));
    }

    #[test]
    fn msg_hex_with_and_without_escapes() {
        let mut buf = [0u8; 16];
        let mut s: &mut [u8] = &mut buf;
        assert_eq!(hex(EscapedStr("ff00"), &mut s).unwrap(), &[0xff, 0]);
        assert_eq!(hex(EscapedStr(r"\u0041b"), &mut s).unwrap(), &[0xab]);
        assert_eq!(hex(EscapedStr("abc"), &mut s), Err(ParseErrorKind::BadHex));
    }
}
