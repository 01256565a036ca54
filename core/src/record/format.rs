//! The JSON Lines writer: one record, one line, into a caller's buffer.

use core::fmt;

use super::{Record, Totals};

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

/// Bound on everything but the escaped strings: keys, punctuation, a timestamp, the longest
/// level/event/reason names, nine u64 numbers and the newline (445 bytes, checked by a test).
pub(super) const FIXED_MAX: usize = 488;

impl Record<'_> {
    /// Writes the record as one JSON object followed by `\n` into `out`; returns the length.
    ///
    /// Fields appear in a fixed order (`ts`, `level`, `event`, `conn`, `peer`, `proto`,
    /// `addr`, `msg`/`msg_hex`, `partial`, `reason`, `bytes_in`, `bytes_out`, then the
    /// totals); absent fields and `"partial":false` are left out. On error the contents of
    /// `out` are unspecified.
    pub fn format(&self, out: &mut [u8]) -> Result<usize, CapacityError> {
        let mut w = Writer { out, pos: 0 };
        let mut ts = [0u8; crate::time::Timestamp::MAX_LEN];
        w.raw(b"{\"ts\":\"")?;
        w.raw(self.ts.format(&mut ts).as_bytes())?;
        w.raw(b"\",\"level\":\"")?;
        w.raw(self.level.as_str().as_bytes())?;
        w.raw(b"\",\"event\":\"")?;
        w.raw(self.event.as_str().as_bytes())?;
        w.raw(b"\"")?;
        if let Some(conn) = self.conn {
            w.number(b",\"conn\":", conn)?;
        }
        if let Some(peer) = self.peer {
            w.string(b",\"peer\":", peer.as_bytes())?;
        }
        if let Some(proto) = self.proto {
            w.raw(b",\"proto\":\"")?;
            w.raw(proto.as_str().as_bytes())?;
            w.raw(b"\"")?;
        }
        if let Some(addr) = self.addr {
            w.string(b",\"addr\":", addr.as_bytes())?;
        }
        if let Some(msg) = self.msg {
            if core::str::from_utf8(msg).is_ok() {
                w.string(b",\"msg\":", msg)?;
            } else {
                w.hex(b",\"msg_hex\":", msg)?;
            }
        }
        if self.partial {
            w.raw(b",\"partial\":true")?;
        }
        if let Some(reason) = self.reason {
            w.raw(b",\"reason\":\"")?;
            w.raw(reason.as_str().as_bytes())?;
            w.raw(b"\"")?;
        }
        if let Some(n) = self.bytes_in {
            w.number(b",\"bytes_in\":", n)?;
        }
        if let Some(n) = self.bytes_out {
            w.number(b",\"bytes_out\":", n)?;
        }
        if let Some(Totals {
            conns,
            rejected,
            echoes,
            refused_port,
            refused_rate,
            refused_busy,
            console_dropped,
        }) = self.totals
        {
            w.number(b",\"conns\":", conns)?;
            w.number(b",\"rejected\":", rejected)?;
            w.number(b",\"echoes\":", echoes)?;
            w.number(b",\"refused_port\":", refused_port)?;
            w.number(b",\"refused_rate\":", refused_rate)?;
            w.number(b",\"refused_busy\":", refused_busy)?;
            w.number(b",\"console_dropped\":", console_dropped)?;
        }
        w.raw(b"}\n")?;
        Ok(w.pos)
    }
}

/// A cursor over the caller's buffer.
struct Writer<'b> {
    out: &'b mut [u8],
    pos: usize,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether a byte must be escaped inside a JSON string: `"`, `\` and control characters.
/// Escaping all of them is what keeps a message inside its string and its record on one line.
#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

impl Writer<'_> {
    #[inline]
    fn raw(&mut self, bytes: &[u8]) -> Result<(), CapacityError> {
        let end = self.pos.checked_add(bytes.len()).ok_or(CapacityError)?;
        let dst = self.out.get_mut(self.pos..end).ok_or(CapacityError)?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    fn number(&mut self, key: &[u8], mut n: u64) -> Result<(), CapacityError> {
        self.raw(key)?;
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            // NOTE(as): a single decimal digit.
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.raw(&digits[i..])
    }

    /// Writes `key` then `bytes` (UTF-8) as a JSON string, escaping what must be escaped.
    fn string(&mut self, key: &[u8], bytes: &[u8]) -> Result<(), CapacityError> {
        self.raw(key)?;
        self.raw(b"\"")?;
        let mut rest = bytes;
        while !rest.is_empty() {
            let run = rest
                .iter()
                .position(|&b| needs_escape(b))
                .unwrap_or(rest.len());
            self.raw(&rest[..run])?;
            let Some(&b) = rest.get(run) else { break };
            match b {
                b'"' => self.raw(b"\\\"")?,
                b'\\' => self.raw(b"\\\\")?,
                b'\n' => self.raw(b"\\n")?,
                b'\r' => self.raw(b"\\r")?,
                b'\t' => self.raw(b"\\t")?,
                0x08 => self.raw(b"\\b")?,
                0x0c => self.raw(b"\\f")?,
                _ => self.raw(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ])?,
            }
            rest = &rest[run + 1..];
        }
        self.raw(b"\"")
    }

    /// Writes `key` then `bytes` as a JSON string of lowercase hex digits.
    fn hex(&mut self, key: &[u8], bytes: &[u8]) -> Result<(), CapacityError> {
        self.raw(key)?;
        self.raw(b"\"")?;
        let end = self.pos.checked_add(bytes.len() * 2).ok_or(CapacityError)?;
        let dst = self.out.get_mut(self.pos..end).ok_or(CapacityError)?;
        for (pair, &b) in dst.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 0xf)];
        }
        self.pos = end;
        self.raw(b"\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Event, Level, Proto, Reason};
    use crate::time::Timestamp;

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
        assert!(line.ends_with(
            "\"msg\":\"a\\\"b\\\\c\\nd\\r\\u0001\\t\\b\\f\\\",\\\"level\\\":\\\"ERROR\"}\n"
        ));
        assert_eq!(line.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "INFO");
    }

    #[test]
    fn binary_goes_to_msg_hex() {
        let r = Record {
            msg: Some(&[0xff, 0x00, 0x41]),
            partial: true,
            ..Record::event(ts(), Event::Echo)
        };
        assert!(text(&r).ends_with(",\"msg_hex\":\"ff0041\",\"partial\":true}\n"));
    }

    #[test]
    fn formats_every_field() {
        let r = Record {
            conn: Some(u64::MAX),
            peer: Some("[::1]:5"),
            proto: Some(Proto::Udp),
            addr: Some("0.0.0.0:7"),
            reason: Some(Reason::MaxConns),
            bytes_in: Some(1),
            bytes_out: Some(0),
            totals: Some(Totals {
                conns: 1,
                rejected: 2,
                echoes: 3,
                refused_port: 4,
                refused_rate: 5,
                refused_busy: 6,
                console_dropped: 7,
            }),
            ..Record::new(ts(), Level::Trace, Event::Shutdown)
        };
        let line = text(&r);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["conn"], u64::MAX);
        assert_eq!(v["reason"], "max_conns");
        assert_eq!(v["refused_busy"], 6);
        assert_eq!(v["console_dropped"], 7);
        assert_eq!(v["level"], "TRACE");
    }

    /// Found by the property tests: `FIXED_MAX` was 400, but every field at its longest
    /// takes 445 bytes besides the strings, so a buffer sized by `max_formatted_len` could
    /// be too small for a `shutdown` record with large totals (484 with `console_dropped`).
    #[test]
    fn fixed_max_covers_every_field_at_its_longest() {
        let r = Record {
            ts: Timestamp::parse(b"9999-12-31T23:59:59.999Z").unwrap(),
            conn: Some(u64::MAX),
            peer: Some(""),
            proto: Some(Proto::Tcp),
            addr: Some(""),
            // One byte of `msg_hex` (2 digits) for the longest key of a message.
            msg: Some(b"\xff"),
            partial: true,
            reason: Some(Reason::MaxConns),
            bytes_in: Some(u64::MAX),
            bytes_out: Some(u64::MAX),
            totals: Some(Totals {
                conns: u64::MAX,
                rejected: u64::MAX,
                echoes: u64::MAX,
                refused_port: u64::MAX,
                refused_rate: u64::MAX,
                refused_busy: u64::MAX,
                console_dropped: u64::MAX,
            }),
            ..Record::new(ts(), Level::Error, Event::Listening)
        };
        let mut buf = [0u8; 1024];
        let n = r.format(&mut buf).unwrap();
        assert_eq!(n - 2, 484);
        assert!(n - 2 <= FIXED_MAX);
        assert!(n <= r.max_formatted_len());
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
