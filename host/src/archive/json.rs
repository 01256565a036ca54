//! JSON outputs: records as JSON Lines (`-j`), and echo messages as JSON values (`-p`).
//!
//! A JSON Lines record is written as read (validated by the parse, then copied): the same
//! fields in the same order with the same values, unknown fields included, which no
//! re-serialization could promise for every spelling. A legacy record goes through
//! echo-core's [`Record::format`], so it reads as the server would write it (and `-p`
//! escapes exactly as the log does).

use echo_core::record::{Event, Record};

/// Appends each record as one JSON line, the log's own format.
#[derive(Default)]
pub struct Encoder {
    out: Vec<u8>,
    line: Vec<u8>,
}

impl Encoder {
    /// A JSON Lines record, as read (without the JSON white space around it).
    pub fn line(&mut self, line: &[u8]) {
        let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        let start = line.iter().position(|b| !space(b)).unwrap_or(line.len());
        let end = line
            .iter()
            .rposition(|b| !space(b))
            .map_or(start, |i| i + 1);
        self.out.extend_from_slice(&line[start..end]);
        self.out.push(b'\n');
    }

    /// A record read from a legacy line.
    pub fn record(&mut self, r: &Record<'_>) {
        let n = format_into(r, &mut self.line);
        self.out.extend_from_slice(&self.line[..n]);
    }

    /// Takes the lines written so far, leaving `spare` (emptied) to write into next.
    pub fn take(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        std::mem::replace(&mut self.out, spare)
    }
}

/// Appends each echo record's message as one JSON value per line: a JSON string for text,
/// `{"msg_hex":"…"}` for binary, `null` for an echo record without a message.
#[derive(Default)]
pub struct MessageEncoder {
    out: Vec<u8>,
    line: Vec<u8>,
}

impl MessageEncoder {
    pub fn record(&mut self, r: &Record<'_>) {
        if r.event != Event::Echo {
            return;
        }
        if r.msg.is_none() {
            self.out.extend_from_slice(b"null\n");
            return;
        }
        // A record holding only the message formats as
        // `{"ts":"…","level":"…","event":"echo","msg":…}\n` (or `"msg_hex":…`): the value
        // after the key is the message exactly as the log escapes it.
        let only_msg = Record {
            msg: r.msg,
            ..Record::new(r.ts, r.level, r.event)
        };
        let n = format_into(&only_msg, &mut self.line);
        let line = &self.line[..n];
        let body = line.strip_suffix(b"}\n").unwrap_or(line);
        // The ts, level and event values hold no `,"msg`, so the first one is the key.
        let Some(at) = memchr::memmem::find(body, b",\"msg") else {
            return;
        };
        let field = &body[at + 1..];
        if let Some(text) = field.strip_prefix(b"\"msg\":") {
            self.out.extend_from_slice(text);
        } else {
            self.out.push(b'{');
            self.out.extend_from_slice(field);
            self.out.push(b'}');
        }
        self.out.push(b'\n');
    }

    /// Takes the lines written so far, leaving `spare` (emptied) to write into next.
    pub fn take(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        std::mem::replace(&mut self.out, spare)
    }
}

/// Formats `r` into `line` (grown to the record's bound); returns the length.
fn format_into(r: &Record<'_>, line: &mut Vec<u8>) -> usize {
    let need = r.max_formatted_len();
    if line.len() < need {
        line.resize(need, 0);
    }
    // NOTE: the buffer holds `max_formatted_len` bytes, which the formatter documents as
    // always enough; 0 would only drop the record's line, never panic.
    r.format(line).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use echo_core::time::Timestamp;

    fn messages(msgs: &[Option<&[u8]>]) -> String {
        let ts = Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap();
        let mut e = MessageEncoder::default();
        for &m in msgs {
            e.record(&Record {
                msg: m,
                peer: Some("127.0.0.1:9"),
                conn: Some(3),
                ..Record::event(ts, Event::Echo)
            });
        }
        e.record(&Record::event(ts, Event::Closed));
        String::from_utf8(e.take(Vec::new())).unwrap()
    }

    #[test]
    fn messages_as_json_values() {
        assert_eq!(
            messages(&[
                Some(b"Hi \"there\",\n"),
                Some(b"\xff\x00"),
                None,
                Some(b"a,\"msg\":x")
            ]),
            "\"Hi \\\"there\\\",\\n\"\n{\"msg_hex\":\"ff00\"}\nnull\n\"a,\\\"msg\\\":x\"\n"
        );
    }
}
