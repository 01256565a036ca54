//! CSV rows (RFC 4180 through the `csv` crate): one row per record, a header first.
//!
//! Columns: `ts,level,event,peer,msg,msg_hex` (PRODUCT.md fixes these first), then the
//! per-connection fields `conn,proto,addr,partial,reason,bytes_in,bytes_out`. The
//! `shutdown` record's six totals are left out of CSV (six more columns, empty on every
//! other row, cost 14 % of the archiver's CPU); `-j` keeps every field.
//! A text message goes in `msg`; a binary one leaves `msg` empty and goes in `msg_hex`
//! (lowercase hex, as in the log). Absent fields are empty; `partial` is `true` or empty.

use std::io;

use echo_core::record::Record;
use echo_core::time::Timestamp;

/// The header row.
pub const HEADER: [&str; 13] = [
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
];

/// Writes rows into an in-memory buffer that the caller takes after each chunk.
///
/// Fields go straight to `Writer::write_field` (the crate quotes what needs it). A
/// `#[derive(Serialize)]` row through `Writer::serialize` cost the whole archiver 5-7 % more
/// CPU (serde's per-field calls, on rows of mostly short or empty fields).
pub struct Encoder {
    writer: csv::Writer<Vec<u8>>,
    hex: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            writer: writer(Vec::new()),
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
        let w = &mut self.writer;
        let mut ts = [0u8; Timestamp::MAX_LEN];
        w.write_field(r.ts.format(&mut ts).as_bytes())
            .map_err(csv_error)?;
        w.write_field(r.level.as_str().as_bytes())
            .map_err(csv_error)?;
        w.write_field(r.event.as_str().as_bytes())
            .map_err(csv_error)?;
        w.write_field(r.peer.unwrap_or_default().as_bytes())
            .map_err(csv_error)?;
        match r.msg {
            None => {
                w.write_field(b"").map_err(csv_error)?;
                w.write_field(b"").map_err(csv_error)?;
            }
            Some(m) if m.is_ascii() || std::str::from_utf8(m).is_ok() => {
                w.write_field(m).map_err(csv_error)?;
                w.write_field(b"").map_err(csv_error)?;
            }
            Some(m) => {
                hex_into(m, &mut self.hex);
                w.write_field(b"").map_err(csv_error)?;
                w.write_field(&self.hex).map_err(csv_error)?;
            }
        }
        let mut n = [0u8; 20];
        w.write_field(number(&mut n, r.conn)).map_err(csv_error)?;
        w.write_field(r.proto.map_or("", |p| p.as_str()))
            .map_err(csv_error)?;
        w.write_field(r.addr.unwrap_or_default())
            .map_err(csv_error)?;
        w.write_field(if r.partial { "true" } else { "" })
            .map_err(csv_error)?;
        w.write_field(r.reason.map_or("", |p| p.as_str()))
            .map_err(csv_error)?;
        w.write_field(number(&mut n, r.bytes_in))
            .map_err(csv_error)?;
        w.write_field(number(&mut n, r.bytes_out))
            .map_err(csv_error)?;
        w.write_record(None::<&[u8]>).map_err(csv_error)
    }

    /// Takes the rows written so far, leaving `spare` (emptied) to write into next.
    pub fn take(&mut self, mut spare: Vec<u8>) -> io::Result<Vec<u8>> {
        spare.clear();
        let full = std::mem::replace(&mut self.writer, writer(spare));
        full.into_inner().map_err(|e| e.into_error())
    }
}

/// A decimal number in `buf`, or an empty field for `None`.
fn number(buf: &mut [u8; 20], n: Option<u64>) -> &[u8] {
    let Some(mut n) = n else {
        return b"";
    };
    let mut i = buf.len();
    loop {
        i -= 1;
        // NOTE(as): a single decimal digit.
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
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
            "2026-11-23T10:15:02.123Z,INFO,echo,127.0.0.1:1,,61ff2c0a,,,,,,,\n\
             2026-11-23T10:15:02.123Z,INFO,echo,,\"say \"\"hi\"\", ok\",,,,,,,,\n"
        );
    }
}
