//! Logical records in a chunk of log text, detected per line.
//!
//! A line is one of:
//! - a legacy record start (`legacy::is_record_start`): it and every following line that is
//!   not itself a record start form one logical legacy record (the seed logged raw chunks
//!   that could hold newlines);
//! - otherwise, outside a legacy record, a JSON Lines record (a blank line there is skipped);
//! - inside a legacy record, a line starting with `{` that parses as a JSON record starts
//!   that record (a log the new server appended to an old one); any other line continues
//!   the legacy message.
//!
//! [`is_start`] does not depend on what came before, so a reader may cut the log before any
//! line for which it holds, and each piece reads the same as it would in the whole file.

use echo_core::record::{Record, legacy};

/// Whether `line` starts a record whatever came before it.
///
/// `scratch` must be at least as long as `line` (it is only used for lines starting `{`).
pub fn is_start(line: &[u8], scratch: &mut [u8]) -> bool {
    match line.first() {
        Some(b'{') => Record::parse(line, scratch).is_ok(),
        Some(b'0'..=b'9') => legacy::is_record_start(line),
        _ => false,
    }
}

/// How a logical record is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One JSON Lines record (or a malformed line).
    Json,
    /// A legacy line and its continuation lines.
    Legacy,
}

/// One logical record: contiguous text of one or more lines.
#[derive(Debug, Clone, Copy)]
pub struct Logical<'a> {
    /// The text, with its final `\n` if it has one.
    pub text: &'a [u8],
    pub kind: Kind,
    /// Index of its first line in the chunk (0-based).
    pub line: u64,
    /// Whether the text ends with `\n` (only the last record of a log may not).
    pub terminated: bool,
}

/// Splits a chunk into logical records. Blank lines outside legacy records are skipped.
pub struct Splitter<'a> {
    chunk: &'a [u8],
    pos: usize,
    /// Index of the line starting at `pos`.
    line: u64,
    /// A line (start, end) already found to start a record (by the look-ahead that ends a
    /// legacy record), so it is not searched for and checked twice.
    known_start: Option<(usize, usize)>,
}

impl<'a> Splitter<'a> {
    pub fn new(chunk: &'a [u8]) -> Self {
        Splitter {
            chunk,
            pos: 0,
            line: 0,
            known_start: None,
        }
    }

    /// Lines consumed so far (all of them once `next_record` returned `None`).
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// The end (after its `\n`, or the chunk's end) of the line starting at `from`.
    fn line_end(&self, from: usize) -> usize {
        memchr::memchr(b'\n', &self.chunk[from..]).map_or(self.chunk.len(), |i| from + i + 1)
    }

    /// The next logical record. `scratch` must be at least as long as the chunk's longest
    /// line (it is used to test continuation lines starting with `{`).
    pub fn next_record(&mut self, scratch: &mut [u8]) -> Option<Logical<'a>> {
        loop {
            let start = self.pos;
            if start >= self.chunk.len() {
                return None;
            }
            let known = self.known_start.take().filter(|&(at, _)| at == start);
            let end = known.map_or_else(|| self.line_end(start), |(_, end)| end);
            let line = &self.chunk[start..end];
            let first = self.line;
            self.pos = end;
            self.line += 1;
            let kind = if line.first().is_some_and(u8::is_ascii_digit)
                && (known.is_some() || legacy::is_record_start(line))
            {
                Kind::Legacy
            } else if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            } else {
                Kind::Json
            };
            if kind == Kind::Legacy {
                // Take the continuation lines.
                while self.pos < self.chunk.len() {
                    let next_end = self.line_end(self.pos);
                    if is_start(&self.chunk[self.pos..next_end], scratch) {
                        self.known_start = Some((self.pos, next_end));
                        break;
                    }
                    self.pos = next_end;
                    self.line += 1;
                }
            }
            let text = &self.chunk[start..self.pos];
            return Some(Logical {
                text,
                kind,
                line: first,
                terminated: text.last() == Some(&b'\n'),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str =
        r#"{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","msg":"hi"}"#;
    const LEGACY: &str = "2023-05-01T12:00:00.123::INFO::root::Client[('127.0.0.1', 5555)] Echo: a";

    fn split(text: &str) -> Vec<(String, Kind, u64, bool)> {
        let mut scratch = vec![0; text.len()];
        let mut s = Splitter::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(r) = s.next_record(&mut scratch) {
            let text = String::from_utf8(r.text.to_vec()).unwrap();
            out.push((text, r.kind, r.line, r.terminated));
        }
        out
    }

    #[test]
    fn legacy_continuations_join_until_the_next_start() {
        let text = format!("{LEGACY}\nmore\n\n{LEGACY}\n{JSON}\n{{not json\n");
        let r = split(&text);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], (format!("{LEGACY}\nmore\n\n"), Kind::Legacy, 0, true));
        assert_eq!(r[1].2, 3);
        assert_eq!(r[2], (format!("{JSON}\n"), Kind::Json, 4, true));
        assert_eq!(r[3], ("{not json\n".to_string(), Kind::Json, 5, true));
    }

    #[test]
    fn inside_a_legacy_record_a_bad_json_line_continues_it() {
        let text = format!("{LEGACY}\n{{not json\n");
        let r = split(&text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1, Kind::Legacy);
    }

    #[test]
    fn blank_lines_between_json_records_are_skipped() {
        let text = format!("\n{JSON}\n  \r\n{JSON}");
        let r = split(&text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].2, 1);
        assert_eq!(r[1].2, 3);
        assert!(!r[1].3, "the last line has no newline");
    }

    #[test]
    fn starts() {
        let mut scratch = [0u8; 256];
        assert!(is_start(JSON.as_bytes(), &mut scratch));
        assert!(is_start(LEGACY.as_bytes(), &mut scratch));
        assert!(!is_start(b"{\"ts\":1}", &mut scratch));
        assert!(!is_start(b"more text", &mut scratch));
        assert!(!is_start(b"", &mut scratch));
    }
}
