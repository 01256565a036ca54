//! CSV rows (RFC 4180): one row per record, a header first.
//!
//! Columns: `ts,level,event,peer,msg` (PRODUCT.md fixes these first), then every other
//! field the log format defines: `msg_hex,conn,proto,addr,partial,reason,bytes_in,
//! bytes_out` and the `shutdown` totals `conns,rejected,echoes,refused_port,refused_rate,
//! refused_busy,console_dropped`, then `extra`: the fields the format does not define, as
//! one JSON object in the order read (empty when there are none).
//! A text message goes in `msg`; a binary one leaves `msg` empty and goes in `msg_hex`
//! (lowercase hex, as in the log). A cell is filled only from the record's own field: an
//! absent field is an empty cell, a string present but empty is `""` (so the two differ,
//! as in PostgreSQL's CSV), `partial` is `true`, `false` or empty.
//!
//! Rows are appended straight to the chunk's output. A field holding a comma, quote, CR or
//! LF is written by csv-core's `Writer` (the `csv` crate's engine: quotes around it, inner
//! quotes doubled); any other field is copied as it stands, which is exactly what
//! `csv::Writer` with its default `QuoteStyle::Necessary` writes for it. Handing every field
//! to `csv::Writer` cost about 30 % of the archiver's CPU (a per-byte table scan, a
//! state machine and a buffer copy per field); the property tests below check the rows are
//! byte for byte what `csv::Writer` writes, and that `csv::Reader` reads them back.

use std::io;

use echo_core::record::{Record, TotalFields};
use echo_core::time::Timestamp;

/// The header row.
pub const HEADER: [&str; 21] = [
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
    "console_dropped",
    "extra",
];

/// The header line, as bytes.
pub fn header() -> io::Result<Vec<u8>> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.write_record(HEADER)?;
    w.into_inner().map_err(|e| e.into_error())
}

/// Appends rows to a buffer that the caller takes after each chunk.
pub struct Encoder {
    out: Vec<u8>,
    /// Writes the fields that need quotes, into `quoted`.
    quoter: csv_core::Writer,
    quoted: Vec<u8>,
    hex: Vec<u8>,
    extra: Vec<u8>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            out: Vec::new(),
            quoter: csv_core::Writer::new(),
            quoted: Vec::new(),
            hex: Vec::new(),
            extra: Vec::new(),
        }
    }
}

impl Encoder {
    /// Appends one row.
    pub fn record(&mut self, r: &Record<'_>) {
        let mut ts = [0u8; Timestamp::MAX_LEN];
        // Digits, separators and names: never quoted.
        self.plain(r.ts.format(&mut ts).as_bytes());
        self.plain(r.level.as_str().as_bytes());
        self.plain(r.event.as_str().as_bytes());
        self.string(r.peer.map(str::as_bytes));
        match r.msg {
            None => self.out.extend_from_slice(b",,"),
            Some(m) if m.is_ascii() || std::str::from_utf8(m).is_ok() => {
                self.string(Some(m));
                self.out.push(b',');
            }
            Some(m) => {
                hex_into(m, &mut self.hex);
                self.out.push(b',');
                self.out.extend_from_slice(&self.hex);
                self.out.push(b',');
            }
        }
        let mut n = [0u8; 20];
        self.plain(number(&mut n, r.conn));
        self.plain(r.proto.map_or("", |p| p.as_str()).as_bytes());
        self.string(r.addr.map(str::as_bytes));
        self.plain(match r.partial {
            Some(true) => b"true",
            Some(false) => b"false",
            None => b"",
        });
        self.plain(r.reason.map_or("", |p| p.as_str()).as_bytes());
        self.plain(number(&mut n, r.bytes_in));
        self.plain(number(&mut n, r.bytes_out));
        if r.totals == TotalFields::NONE {
            // Every row but `shutdown`'s: seven empty cells at once.
            self.out.extend_from_slice(b",,,,,,,");
        } else {
            for value in r.totals.values() {
                self.plain(number(&mut n, value));
            }
        }
        if !r.extra.is_empty() {
            self.extra.clear();
            self.extra.push(b'{');
            for (i, (key, value)) in r.extra.members().enumerate() {
                if i > 0 {
                    self.extra.push(b',');
                }
                for part in ["\"", key, "\":", value] {
                    self.extra.extend_from_slice(part.as_bytes());
                }
            }
            self.extra.push(b'}');
            let extra = std::mem::take(&mut self.extra);
            self.text(&extra);
            self.extra = extra;
            // `text` ends every cell with a comma; the last one ends the row instead.
            self.out.pop();
        }
        self.out.push(b'\n');
    }

    /// Takes the rows written so far, leaving `spare` (emptied) to write into next.
    pub fn take(&mut self, mut spare: Vec<u8>) -> Vec<u8> {
        spare.clear();
        std::mem::replace(&mut self.out, spare)
    }

    /// A field that needs no quotes, and its comma.
    fn plain(&mut self, field: &[u8]) {
        // Most rows leave half their fields empty: skip the copy call for those.
        if !field.is_empty() {
            self.out.extend_from_slice(field);
        }
        self.out.push(b',');
    }

    /// A string field and its comma: empty when absent, `""` when present but empty (the
    /// convention of PostgreSQL's CSV and Python's `QUOTE_NOTNULL`), so that a reader can
    /// tell the two apart.
    #[inline]
    fn string(&mut self, field: Option<&[u8]>) {
        match field {
            None => self.out.push(b','),
            Some([]) => self.out.extend_from_slice(b"\"\","),
            Some(text) => self.text(text),
        }
    }

    /// A field of any text, and its comma.
    #[inline]
    fn text(&mut self, field: &[u8]) {
        if needs_quotes(field) {
            self.quoted(field);
        } else {
            self.plain(field);
        }
    }

    /// A field that needs quotes, and its comma.
    fn quoted(&mut self, field: &[u8]) {
        // csv-core needs at most 2 + 2 * len bytes for the field, and 2 for `",`. The
        // buffer only grows, so it is zeroed once rather than for every field.
        let need = 4 + 2 * field.len();
        if self.quoted.len() < need {
            self.quoted.resize(need, 0);
        }
        let (_, _, n) = self.quoter.field(field, &mut self.quoted);
        let (_, end) = self.quoter.delimiter(&mut self.quoted[n..]);
        self.out.extend_from_slice(&self.quoted[..n + end]);
    }
}

/// Whether `field` holds a byte that `csv::Writer` quotes: `,` `"` `\r` `\n` (with the
/// default delimiter, quote and terminator, and no comment character).
#[inline]
fn needs_quotes(field: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Sets the high bit of some byte iff a byte of `w` is `c` (exact as a yes/no test).
    let has = |w: u64, c: u8| {
        let x = w ^ (ONES * u64::from(c));
        x.wrapping_sub(ONES) & !x
    };
    let special = |word: [u8; 8]| {
        let w = u64::from_le_bytes(word);
        (has(w, b',') | has(w, b'"') | has(w, b'\n') | has(w, b'\r')) & HIGH != 0
    };
    let mut words = field.chunks_exact(8);
    for chunk in &mut words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if special(word) {
            return true;
        }
    }
    // The tail, padded with a byte that needs no quotes.
    let rest = words.remainder();
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    special(word)
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

#[cfg(test)]
mod tests {
    use super::*;
    use echo_core::record::{Event, Level, Proto, Reason};
    use proptest::prelude::*;

    fn ts() -> Timestamp {
        Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap()
    }

    fn rows(records: &[Record<'_>]) -> String {
        let mut e = Encoder::default();
        for r in records {
            e.record(r);
        }
        String::from_utf8(e.take(Vec::new())).unwrap()
    }

    /// The fields of a row, as `csv::Writer` is given them.
    fn fields(r: &Record<'_>) -> Vec<Vec<u8>> {
        let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default().into_bytes();
        let (msg, hex) = match r.msg {
            None => (Vec::new(), Vec::new()),
            Some(m) if std::str::from_utf8(m).is_ok() => (m.to_vec(), Vec::new()),
            Some(m) => {
                let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
                (Vec::new(), hex.into_bytes())
            }
        };
        vec![
            r.ts.to_string().into_bytes(),
            r.level.as_str().into(),
            r.event.as_str().into(),
            r.peer.unwrap_or_default().into(),
            msg,
            hex,
            num(r.conn),
            r.proto.map_or("", |p| p.as_str()).into(),
            r.addr.unwrap_or_default().into(),
            r.partial.map_or(String::new(), |p| p.to_string()).into(),
            r.reason.map_or("", |p| p.as_str()).into(),
            num(r.bytes_in),
            num(r.bytes_out),
        ]
        .into_iter()
        .chain(r.totals.values().map(num))
        .chain([if r.extra.is_empty() {
            Vec::new()
        } else {
            r.extra.to_string().into_bytes()
        }])
        .collect()
    }

    /// The row `csv::Writer` (default settings, as for the header) writes for `fields`.
    fn csv_writer_row(fields: &[Vec<u8>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        w.write_record(fields).unwrap();
        w.into_inner().unwrap()
    }

    #[test]
    fn header_line() {
        let text = String::from_utf8(header().unwrap()).unwrap();
        assert!(text.starts_with("ts,level,event,peer,msg,msg_hex,conn,"));
        assert_eq!(text.trim_end().split(',').count(), HEADER.len());
    }

    #[test]
    fn binary_message_goes_to_msg_hex() {
        let out = rows(&[
            Record {
                msg: Some(b"a\xff,\n"),
                peer: Some("127.0.0.1:1"),
                ..Record::event(ts(), Event::Echo)
            },
            Record {
                msg: Some(b"say \"hi\", ok"),
                ..Record::new(ts(), Level::Info, Event::Echo)
            },
        ]);
        assert_eq!(
            out,
            "2026-11-23T10:15:02.123Z,INFO,echo,127.0.0.1:1,,61ff2c0a,,,,,,,,,,,,,,,\n\
             2026-11-23T10:15:02.123Z,INFO,echo,,\"say \"\"hi\"\", ok\",,,,,,,,,,,,,,,,\n"
        );
    }

    /// An empty string is `""`, an absent one an empty cell; both read back as empty.
    #[test]
    fn empty_strings_differ_from_absent() {
        let out = rows(&[
            Record {
                peer: Some(""),
                msg: Some(b""),
                addr: None,
                ..Record::event(ts(), Event::Echo)
            },
            Record::event(ts(), Event::Echo),
        ]);
        // 21 columns: 20 commas a row.
        assert_eq!(
            out,
            format!(
                "2026-11-23T10:15:02.123Z,INFO,echo,\"\",\"\"{}\n\
                 2026-11-23T10:15:02.123Z,INFO,echo{}\n",
                ",".repeat(16),
                ",".repeat(18)
            )
        );
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_bytes());
        for row in reader.records() {
            let row = row.unwrap();
            assert_eq!(row.len(), HEADER.len());
            assert!(row.iter().skip(3).all(str::is_empty));
        }
    }

    /// The fields written without a check must be ones the csv crate would not quote.
    #[test]
    fn names_and_numbers_need_no_quotes() {
        let csv = csv_core::Writer::new();
        let mut names: Vec<&str> = vec!["true", "tcp", "udp", "0123456789abcdef"];
        names.extend(Level::ALL.iter().map(|l| l.as_str()));
        names.extend(Event::ALL.iter().map(|e| e.as_str()));
        names.extend(Reason::ALL.iter().map(|r| r.as_str()));
        names.extend([Proto::Tcp.as_str(), Proto::Udp.as_str()]);
        let stamp = Timestamp::parse(b"2023-05-01T12:00:00.123")
            .unwrap()
            .to_string();
        names.extend(["2026-11-23T10:15:02.123Z", &stamp]);
        for name in names {
            assert!(!csv.should_quote(name.as_bytes()), "{name}");
            assert!(!needs_quotes(name.as_bytes()), "{name}");
        }
    }

    /// Bytes with the CSV specials (and their neighbours) frequent.
    fn field() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            3 => prop::sample::select(b",\"\r\n \t#\\'+-a0\x0b\x0c\x2b\x2d\x21\x23".to_vec()),
            1 => any::<u8>(),
        ];
        prop::collection::vec(byte, 0..40)
    }

    fn text() -> impl Strategy<Value = String> {
        field().prop_map(|f| String::from_utf8_lossy(&f).into_owned())
    }

    proptest! {
        #[test]
        fn needs_quotes_is_the_csv_crates_rule(f in field()) {
            prop_assert_eq!(needs_quotes(&f), csv_core::Writer::new().should_quote(&f));
        }

        /// Each row is byte for byte what `csv::Writer` writes for the same fields, and
        /// `csv::Reader` reads those fields back. (Strings present but empty are `""`,
        /// which `csv::Writer` does not write: see `empty_strings_differ_from_absent`.)
        #[test]
        fn rows_are_what_the_csv_crate_writes_and_reads(
            peer in prop::option::of(text().prop_filter("empty", |t| !t.is_empty())),
            addr in prop::option::of(text().prop_filter("empty", |t| !t.is_empty())),
            msg in prop::option::of(field().prop_filter("empty", |t| !t.is_empty())),
            nums in prop::array::uniform3(prop::option::of(any::<u64>())),
            partial: Option<bool>,
            totals: [Option<u64>; 7],
            extra in prop::sample::select(vec!["{}", r#"{"site":"a,\"b\""}"#, r#"{"x":[1, 2],"y":null}"#]),
            millis in 0u64..4_102_444_800_000,
            event in prop::sample::select(Event::ALL.to_vec()),
            reason in prop::option::of(prop::sample::select(Reason::ALL.to_vec())),
            proto in prop::option::of(prop::sample::select(vec![Proto::Tcp, Proto::Udp])),
        ) {
            let r = Record {
                peer: peer.as_deref(),
                addr: addr.as_deref(),
                msg: msg.as_deref(),
                conn: nums[0],
                bytes_in: nums[1],
                bytes_out: nums[2],
                partial,
                reason,
                proto,
                totals: TotalFields {
                    conns: totals[0],
                    rejected: totals[1],
                    echoes: totals[2],
                    refused_port: totals[3],
                    refused_rate: totals[4],
                    refused_busy: totals[5],
                    console_dropped: totals[6],
                },
                extra: echo_core::record::Extra::from_object(extra).unwrap(),
                ..Record::event(Timestamp::from_unix_millis(millis), event)
            };
            let expected = fields(&r);
            let row = rows(std::slice::from_ref(&r));
            prop_assert_eq!(row.as_bytes(), &csv_writer_row(&expected)[..]);
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(row.as_bytes());
            let read: Vec<csv::ByteRecord> = reader.byte_records().collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(read.len(), 1);
            let read: Vec<&[u8]> = read[0].iter().collect();
            let expected: Vec<&[u8]> = expected.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(read, expected);
        }
    }
}
