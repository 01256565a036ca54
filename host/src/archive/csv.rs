//! CSV rows (RFC 4180 through the `csv` crate): one row per record, a header first.
//!
//! Columns: `ts,level,event,peer,msg,msg_hex` (PRODUCT.md fixes these first), then every
//! other field of a record, so that a CSV archive loses nothing the log held: `conn`,
//! `proto`, `addr`, `partial`, `reason`, `bytes_in`, `bytes_out` and the `shutdown` totals.
//! A text message goes in `msg`; a binary one leaves `msg` empty and goes in `msg_hex`
//! (lowercase hex, as in the log). Absent fields are empty; `partial` is `true` or empty.

use std::io;

use echo_core::record::Record;
use echo_core::time::Timestamp;

/// The header row; equal to the field names of [`Row`] (a test checks it).
pub const HEADER: [&str; 19] = [
    "ts",
    "level",
    "event",
    "peer",
    "msg",
    "msg_hex",
    "conn",
    "proto",
    "addr",
    "partial",
    "reason",
    "bytes_in",
    "bytes_out",
    "conns",
    "rejected",
    "echoes",
    "refused_port",
    "refused_rate",
    "refused_busy",
];

/// Writes rows into an in-memory buffer that the caller takes after each chunk.
///
/// Rows are built as a reused `ByteRecord` and written with `write_byte_record`, the `csv`
/// crate's fast path (one quoting check and one copy per field). A `#[derive(Serialize)]`
/// row through `Writer::serialize` made the whole archiver about 1.5x slower: serde's
/// per-field calls (19 fields, most of them empty) cost more than parsing the line.
pub struct Encoder {
    writer: csv::Writer<Vec<u8>>,
    row: csv::ByteRecord,
    hex: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            writer: writer(Vec::new()),
            row: csv::ByteRecord::with_capacity(256, HEADER.len()),
            hex: Vec::new(),
        }
    }
}

fn writer(out: Vec<u8>) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .buffer_capacity(64 * 1024)
        .from_writer(out)
}

/// The header line, as bytes.
pub fn header() -> io::Result<Vec<u8>> {
    let mut w = writer(Vec::new());
    w.write_record(HEADER)?;
    w.into_inner().map_err(|e| e.into_error())
}

impl Encoder {
    /// Appends one row.
    pub fn record(&mut self, r: &Record<'_>) -> io::Result<()> {
        let row = &mut self.row;
        row.clear();
        let mut ts = [0u8; Timestamp::MAX_LEN];
        row.push_field(r.ts.format(&mut ts).as_bytes());
        row.push_field(r.level.as_str().as_bytes());
        row.push_field(r.event.as_str().as_bytes());
        row.push_field(r.peer.unwrap_or_default().as_bytes());
        match r.msg {
            None => {
                row.push_field(b"");
                row.push_field(b"");
            }
            Some(m) if std::str::from_utf8(m).is_ok() => {
                row.push_field(m);
                row.push_field(b"");
            }
            Some(m) => {
                hex_into(m, &mut self.hex);
                row.push_field(b"");
                row.push_field(&self.hex);
            }
        }
        push_number(row, r.conn);
        row.push_field(r.proto.map_or("", |p| p.as_str()).as_bytes());
        row.push_field(r.addr.unwrap_or_default().as_bytes());
        row.push_field(if r.partial { b"true" } else { b"" });
        row.push_field(r.reason.map_or("", |p| p.as_str()).as_bytes());
        push_number(row, r.bytes_in);
        push_number(row, r.bytes_out);
        let t = r.totals;
        push_number(row, t.map(|t| t.conns));
        push_number(row, t.map(|t| t.rejected));
        push_number(row, t.map(|t| t.echoes));
        push_number(row, t.map(|t| t.refused_port));
        push_number(row, t.map(|t| t.refused_rate));
        push_number(row, t.map(|t| t.refused_busy));
        self.writer.write_byte_record(row).map_err(csv_error)
    }

    /// Takes the rows written so far, leaving `spare` (emptied) to write into next.
    pub fn take(&mut self, mut spare: Vec<u8>) -> io::Result<Vec<u8>> {
        spare.clear();
        let full = std::mem::replace(&mut self.writer, writer(spare));
        full.into_inner().map_err(|e| e.into_error())
    }
}

/// Pushes a decimal number, or an empty field for `None`.
fn push_number(row: &mut csv::ByteRecord, n: Option<u64>) {
    let Some(mut n) = n else {
        row.push_field(b"");
        return;
    };
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
    row.push_field(&digits[i..]);
}

/// Lowercase hex of `bytes` into `out` (replacing its contents).
fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.clear();
    for &b in bytes {
        out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
    }
}

fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use echo_core::record::{Event, Level};

    #[test]
    fn header_line() {
        let text = String::from_utf8(header().unwrap()).unwrap();
        assert!(text.starts_with("ts,level,event,peer,msg,msg_hex,conn,"));
        assert_eq!(text.trim_end().split(',').count(), HEADER.len());
    }

    #[test]
    fn binary_message_goes_to_msg_hex() {
        let ts = Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap();
        let mut e = Encoder::default();
        e.record(&Record {
            msg: Some(b"a\xff,\n"),
            peer: Some("127.0.0.1:1"),
            ..Record::event(ts, Event::Echo)
        })
        .unwrap();
        e.record(&Record {
            msg: Some(b"say \"hi\", ok"),
            ..Record::new(ts, Level::Info, Event::Echo)
        })
        .unwrap();
        let out = String::from_utf8(e.take(Vec::new()).unwrap()).unwrap();
        assert_eq!(
            out,
            "2026-11-23T10:15:02.123Z,INFO,echo,127.0.0.1:1,,61ff2c0a,,,,,,,,,,,,,\n\
             2026-11-23T10:15:02.123Z,INFO,echo,,\"say \"\"hi\"\", ok\",,,,,,,,,,,,,,\n"
        );
    }
}
