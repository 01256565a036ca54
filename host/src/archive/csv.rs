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
use serde::Serialize;

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

/// One CSV row, borrowing from the record.
#[derive(Debug, Serialize)]
struct Row<'a> {
    ts: &'a str,
    level: &'static str,
    event: &'static str,
    peer: Option<&'a str>,
    msg: Option<&'a str>,
    msg_hex: Option<&'a str>,
    conn: Option<u64>,
    proto: Option<&'static str>,
    addr: Option<&'a str>,
    partial: Option<bool>,
    reason: Option<&'static str>,
    bytes_in: Option<u64>,
    bytes_out: Option<u64>,
    conns: Option<u64>,
    rejected: Option<u64>,
    echoes: Option<u64>,
    refused_port: Option<u64>,
    refused_rate: Option<u64>,
    refused_busy: Option<u64>,
}

/// Writes rows into an in-memory buffer that the caller takes after each chunk.
pub struct Encoder {
    writer: csv::Writer<Vec<u8>>,
    hex: String,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            writer: writer(Vec::new()),
            hex: String::new(),
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
        let mut ts = [0u8; Timestamp::MAX_LEN];
        let (msg, msg_hex) = match r.msg {
            None => (None, None),
            Some(m) => match std::str::from_utf8(m) {
                Ok(text) => (Some(text), None),
                Err(_) => {
                    hex_into(m, &mut self.hex);
                    (None, Some(self.hex.as_str()))
                }
            },
        };
        let totals = r.totals;
        let row = Row {
            ts: r.ts.format(&mut ts),
            level: r.level.as_str(),
            event: r.event.as_str(),
            peer: r.peer,
            msg,
            msg_hex,
            conn: r.conn,
            proto: r.proto.map(|p| p.as_str()),
            addr: r.addr,
            partial: r.partial.then_some(true),
            reason: r.reason.map(|p| p.as_str()),
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
            conns: totals.map(|t| t.conns),
            rejected: totals.map(|t| t.rejected),
            echoes: totals.map(|t| t.echoes),
            refused_port: totals.map(|t| t.refused_port),
            refused_rate: totals.map(|t| t.refused_rate),
            refused_busy: totals.map(|t| t.refused_busy),
        };
        self.writer.serialize(row).map_err(csv_error)
    }

    /// Takes the rows written so far, leaving `spare` (emptied) to write into next.
    pub fn take(&mut self, mut spare: Vec<u8>) -> io::Result<Vec<u8>> {
        spare.clear();
        let full = std::mem::replace(&mut self.writer, writer(spare));
        full.into_inner().map_err(|e| e.into_error())
    }
}

/// Lowercase hex of `bytes` into `out` (replacing its contents).
fn hex_into(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.clear();
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
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
    fn header_matches_the_row_fields() {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(Row {
            ts: "",
            level: "",
            event: "",
            peer: None,
            msg: None,
            msg_hex: None,
            conn: None,
            proto: None,
            addr: None,
            partial: None,
            reason: None,
            bytes_in: None,
            bytes_out: None,
            conns: None,
            rejected: None,
            echoes: None,
            refused_port: None,
            refused_rate: None,
            refused_busy: None,
        })
        .unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let derived = text.lines().next().unwrap();
        let ours = String::from_utf8(header().unwrap()).unwrap();
        assert_eq!(ours.trim_end(), derived);
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
