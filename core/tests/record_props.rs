//! Properties of the JSON Lines records: `parse(format(r)) == r` for any record, one record
//! per line whatever its message, agreement with a reference JSON implementation (serde_json)
//! in both directions, and any valid JSON spelling of a record reads back the same. Records
//! carry arbitrary unknown fields (a newer writer's), which come back as they were written.

use std::fmt::Write as _;

use echo_core::record::{Event, Extra, Level, Proto, Reason, Record, TotalFields, Totals};
use echo_core::time::{Timestamp, Zone};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// A record's owned data, so that strategies can generate it.
#[derive(Debug, Clone)]
struct Owned {
    ts: Timestamp,
    level: Level,
    event: Event,
    conn: Option<u64>,
    peer: Option<String>,
    proto: Option<Proto>,
    addr: Option<String>,
    msg: Option<Vec<u8>>,
    partial: Option<bool>,
    reason: Option<Reason>,
    bytes_in: Option<u64>,
    bytes_out: Option<u64>,
    totals: TotalFields,
    /// The unknown fields as a JSON object's text (`{}` for none).
    extra: String,
}

impl Owned {
    fn record(&self) -> Record<'_> {
        Record {
            ts: self.ts,
            level: self.level,
            event: self.event,
            conn: self.conn,
            peer: self.peer.as_deref(),
            proto: self.proto,
            addr: self.addr.as_deref(),
            msg: self.msg.as_deref(),
            partial: self.partial,
            reason: self.reason,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            totals: self.totals,
            extra: Extra::from_object(&self.extra).expect("generated extra fields are JSON"),
        }
    }
}

/// The keys the log format defines.
const DEFINED: [&str; 20] = [
    "ts",
    "level",
    "event",
    "conn",
    "peer",
    "proto",
    "addr",
    "msg",
    "msg_hex",
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
];

fn unknown_key() -> impl Strategy<Value = String> {
    prop_oneof![2 => "x_[a-z0-9_]{0,8}", 1 => nasty_string()]
        .prop_filter("a defined key", |k| !DEFINED.contains(&k.as_str()))
}

/// Any JSON value, nested a little.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        // Floats serde_json reads back exactly (it does not round-trip every f64).
        (any::<i32>(), 0i32..4).prop_map(|(m, e)| json!(f64::from(m) / 10f64.powi(e))),
        nasty_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((unknown_key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Unknown fields as an object's text: distinct keys, values as serde_json writes them.
fn extra_object() -> impl Strategy<Value = String> {
    prop::collection::vec((unknown_key(), json_value()), 0..4).prop_map(|kv| {
        let mut seen = std::collections::HashSet::new();
        let members: Vec<String> = kv
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, v)| format!("{}:{}", Value::String(k), v))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

fn total_fields() -> impl Strategy<Value = TotalFields> {
    any::<[Option<u64>; 7]>().prop_map(|t| TotalFields {
        conns: t[0],
        rejected: t[1],
        echoes: t[2],
        refused_port: t[3],
        refused_rate: t[4],
        refused_busy: t[5],
        console_dropped: t[6],
    })
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        0u16..=9999,
        1u8..=12,
        1u8..=31,
        0u8..24,
        0u8..60,
        0u8..60,
        0u16..1000,
        any::<bool>(),
    )
        .prop_filter_map("day out of range", |(y, mo, d, h, mi, s, ms, utc)| {
            let zone = if utc { Zone::Utc } else { Zone::Unspecified };
            Timestamp::new(y, mo, d, h, mi, s, ms, zone).ok()
        })
}

/// Pieces that have broken hand-written JSON before: quotes, escapes, line breaks, control
/// characters, a forged field, non-ASCII, separators JavaScript treats as line ends.
const NASTY: &[&str] = &[
    "\"",
    "\\",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\u{0}",
    "\u{1f}",
    "\u{7f}",
    "\u{8}\u{c}",
    "::",
    "]",
    "Echo:",
    "\",\"level\":\"ERROR\"",
    "}\n{",
    "é",
    "日本",
    "\u{2028}\u{2029}",
    "😀",
    "/",
    "\\u0041",
    " ",
];

fn nasty_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(NASTY).prop_map(str::to_owned),
            1 => any::<String>(),
            1 => "[a-z]{0,8}",
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => nasty_string().prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..64),
        1 => any::<String>().prop_map(String::into_bytes),
        // At and just over the default `--max-line` (4096), text and binary.
        1 => (4090usize..4100, prop::sample::select(NASTY))
            .prop_map(|(n, s)| { let mut v = vec![b'a'; n]; v.extend_from_slice(s.as_bytes()); v }),
        1 => prop::collection::vec(any::<u8>(), 4095..4098),
    ]
}

fn socket_addr() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<std::net::SocketAddrV4>().prop_map(|a| a.to_string()),
        any::<std::net::SocketAddrV6>().prop_map(|a| a.to_string()),
    ]
}

fn peer_string() -> impl Strategy<Value = String> {
    prop_oneof![3 => socket_addr(), 1 => nasty_string()]
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        (
            timestamp(),
            prop::sample::select(&Level::ALL[..]),
            prop::sample::select(&Event::ALL[..]),
            any::<Option<u64>>(),
            prop::option::of(peer_string()),
            prop::option::of(prop_oneof![Just(Proto::Tcp), Just(Proto::Udp)]),
            prop::option::of(peer_string()),
        ),
        (
            prop::option::weighted(0.8, message()),
            any::<Option<bool>>(),
            prop::option::of(prop::sample::select(&Reason::ALL[..])),
            any::<Option<u64>>(),
            any::<Option<u64>>(),
            total_fields(),
            prop_oneof![1 => Just("{}".to_string()), 1 => extra_object()],
        ),
    )
        .prop_map(
            |(
                (ts, level, event, conn, peer, proto, addr),
                (msg, partial, reason, bytes_in, bytes_out, totals, extra),
            )| Owned {
                ts,
                level,
                event,
                conn,
                peer,
                proto,
                addr,
                msg,
                partial,
                reason,
                bytes_in,
                bytes_out,
                totals,
                extra,
            },
        )
}

fn format(r: &Record<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; r.max_formatted_len()];
    let n = r.format(&mut buf).expect("max_formatted_len is enough");
    buf.truncate(n);
    buf
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The record as a JSON object, built field by field from PRODUCT.md "Log records".
fn expected_json(r: &Record<'_>) -> Value {
    let mut m = Map::new();
    m.insert("ts".into(), json!(r.ts.to_string()));
    m.insert("level".into(), json!(r.level.as_str()));
    m.insert("event".into(), json!(r.event.as_str()));
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put("conn", r.conn.map(|v| json!(v)));
    put("peer", r.peer.map(|v| json!(v)));
    put("proto", r.proto.map(|v| json!(v.as_str())));
    put("addr", r.addr.map(|v| json!(v)));
    if let Some(msg) = r.msg {
        match std::str::from_utf8(msg) {
            Ok(s) => put("msg", Some(json!(s))),
            Err(_) => put("msg_hex", Some(json!(hex(msg)))),
        }
    }
    put("partial", r.partial.map(Value::Bool));
    put("reason", r.reason.map(|v| json!(v.as_str())));
    put("bytes_in", r.bytes_in.map(|v| json!(v)));
    put("bytes_out", r.bytes_out.map(|v| json!(v)));
    for (name, value) in TotalFields::NAMES.into_iter().zip(r.totals.values()) {
        put(name, value.map(|v| json!(v)));
    }
    for (k, v) in r.extra.members() {
        let key: String = serde_json::from_str(&format!("\"{k}\"")).expect("a JSON key");
        let value: Value = serde_json::from_str(v).expect("a JSON value");
        m.insert(key, value);
    }
    Value::Object(m)
}

/// The record's meaning: its JSON object as serde_json reads it (unknown fields compared by
/// value, not by spelling).
fn meaning(r: Result<Record<'_>, echo_core::record::ParseError>) -> Result<Value, String> {
    r.map(|r| expected_json(&r)).map_err(|e| e.to_string())
}

/// Parses with a scratch buffer exactly as long as the line (the documented minimum).
fn parse_exact(line: &[u8]) -> Result<Record<'_>, echo_core::record::ParseError> {
    let scratch = vec![0u8; line.len()].leak();
    Record::parse(line, scratch)
}

/// [`parse_exact`] by serde-json-core alone, without `Record::parse`'s fast path.
fn parse_general_exact(line: &[u8]) -> Result<Record<'_>, echo_core::record::ParseError> {
    let scratch = vec![0u8; line.len()].leak();
    Record::parse_general(line, scratch)
}

/// A tiny deterministic generator for spelling choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

/// Writes `s` as a JSON string, choosing among the valid spellings of each character:
/// raw, `\uXXXX` (either hex case; a surrogate pair beyond the BMP), `\/`, short escapes.
fn alt_string(out: &mut String, s: &str, rng: &mut Rng, escape_per_mille: u64) {
    out.push('"');
    for c in s.chars() {
        let must = c == '"' || c == '\\' || (c as u32) < 0x20;
        if !must && !rng.chance(escape_per_mille) {
            out.push(c);
            continue;
        }
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            _ => None,
        };
        match short {
            Some(e) if rng.chance(500) => out.push_str(e),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    if rng.chance(500) {
                        let _ = write!(out, "\\u{u:04X}");
                    } else {
                        let _ = write!(out, "\\u{u:04x}");
                    }
                }
            }
        }
    }
    out.push('"');
}

fn ws(out: &mut String, rng: &mut Rng) {
    while rng.chance(150) {
        out.push([' ', '\t', '\r', '\n'][(rng.next() % 4) as usize]);
    }
}

/// An unknown field's value with every kind of JSON value in it.
const X_NEWER: &str = r#"[1,-2.5e+3,{"a":null,"b":[true,false,"\u00e9\"\\"]},[],{}]"#;

/// Writes `v` as JSON with random spellings: shuffled keys, escapes, white space, `null`
/// for absent optional fields, and unknown keys with nested values (a newer writer's).
fn alt_json(v: &Value, rng: &mut Rng, escape_per_mille: u64) -> String {
    let Value::Object(m) = v else { panic!() };
    let mut fields: Vec<(String, String)> = m
        .iter()
        .map(|(k, v)| {
            let mut s = String::new();
            match v {
                Value::String(text) => alt_string(&mut s, text, rng, escape_per_mille),
                other => s.push_str(&other.to_string()),
            }
            (k.clone(), s)
        })
        .collect();
    for k in [
        "conn",
        "peer",
        "proto",
        "addr",
        "reason",
        "bytes_in",
        "bytes_out",
    ] {
        if !m.contains_key(k) && rng.chance(200) {
            fields.push((k.into(), "null".into()));
        }
    }
    if !m.contains_key("msg") && !m.contains_key("msg_hex") && rng.chance(200) {
        fields.push(("msg".into(), "null".into()));
    }
    if !m.contains_key("partial") && rng.chance(200) {
        fields.push(("partial".into(), "null".into()));
    }
    // Fisher-Yates.
    for i in (1..fields.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        fields.swap(i, j);
    }
    let mut out = String::new();
    ws(&mut out, rng);
    out.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        ws(&mut out, rng);
        alt_string(&mut out, k, rng, escape_per_mille);
        ws(&mut out, rng);
        out.push(':');
        ws(&mut out, rng);
        out.push_str(v);
        ws(&mut out, rng);
    }
    out.push('}');
    ws(&mut out, rng);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Formatting then parsing gives the record back; the size bounds hold; a buffer one
    /// byte short is an error, not a panic or a torn line.
    #[test]
    fn parse_of_format_is_identity(o in owned()) {
        let r = o.record();
        let line = format(&r);
        prop_assert!(line.len() <= r.max_formatted_len());
        let addr_like = |s: &Option<String>| {
            s.as_deref().is_none_or(|s| s.parse::<std::net::SocketAddr>().is_ok())
        };
        if addr_like(&o.peer) && addr_like(&o.addr) && r.extra.is_empty() {
            prop_assert!(line.len() <= Record::max_len_for_msg(o.msg.as_ref().map_or(0, Vec::len)));
        }
        let mut short = vec![0u8; line.len() - 1];
        prop_assert!(r.format(&mut short).is_err());
        prop_assert_eq!(parse_exact(&line), Ok(r));
        // Without its newline too.
        prop_assert_eq!(parse_exact(&line[..line.len() - 1]), Ok(r));
    }

    /// One record is one line: UTF-8, no raw control character, one `\n`, at the end.
    #[test]
    fn a_record_is_exactly_one_line(o in owned()) {
        let line = format(&o.record());
        prop_assert!(std::str::from_utf8(&line).is_ok());
        prop_assert_eq!(line.last(), Some(&b'\n'));
        prop_assert!(line[..line.len() - 1].iter().all(|&b| b >= 0x20));
    }

    /// serde_json reads every line as an object holding exactly the record's fields.
    #[test]
    fn serde_json_agrees_with_the_formatter(o in owned()) {
        let r = o.record();
        let line = format(&r);
        let v: Value = serde_json::from_slice(&line).expect("valid JSON");
        prop_assert_eq!(v, expected_json(&r));
    }

    /// The parser reads serde_json's spelling of a record (its key order, its escapes).
    #[test]
    fn parser_reads_serde_json_output(o in owned()) {
        let r = o.record();
        let v = expected_json(&r);
        let compact = serde_json::to_string(&v).unwrap();
        prop_assert_eq!(meaning(parse_exact(compact.as_bytes())), Ok(v.clone()));
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        prop_assert_eq!(meaning(parse_exact(pretty.as_bytes())), Ok(v));
    }

    /// The parser reads any valid spelling: keys in any order, any escapes (`\u00e9`, `\/`,
    /// surrogate pairs, either hex case), white space, nulls and unknown keys.
    #[test]
    fn parser_reads_any_spelling(
        o in owned(),
        seed in any::<u64>(),
        escape_per_mille in prop::sample::select(&[0u64, 2, 50, 500, 1000][..]),
    ) {
        let r = o.record();
        let mut rng = Rng(seed | 1);
        let mut want = expected_json(&r);
        if rng.chance(300) {
            let newer = serde_json::from_str(X_NEWER).unwrap();
            want.as_object_mut().unwrap().insert("x_newer".into(), newer);
        }
        let text = alt_json(&want, &mut rng, escape_per_mille);
        prop_assert_eq!(meaning(parse_exact(text.as_bytes())), Ok(want), "{}", text.chars().take(400).collect::<String>());
    }

    /// `Record::parse`'s fast path reads every line as serde-json-core does, the same
    /// record or the same error: the formatter's lines, other spellings of them, and those
    /// lines with a few bytes changed (JSON's structural bytes, escapes, digits, control
    /// and non-UTF-8 bytes frequent).
    #[test]
    fn fast_path_agrees_with_serde_json_core(
        o in owned(),
        seed in any::<u64>(),
        escape_per_mille in prop::sample::select(&[0u64, 2, 50][..]),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop_oneof![
            3 => prop::sample::select(b"\"{}[],:0123456789-.eE \\/ubfnrtlx\x1f\x7f\xc3\xff".to_vec()),
            1 => any::<u8>(),
        ]), 1..4),
    ) {
        let r = o.record();
        let mut rng = Rng(seed | 1);
        let formatted = format(&r);
        let spelled = alt_json(&expected_json(&r), &mut rng, escape_per_mille).into_bytes();
        for line in [formatted, spelled] {
            prop_assert_eq!(parse_exact(&line), parse_general_exact(&line));
            let mut edited = line.clone();
            for (at, byte) in &edits {
                let at = at.index(edited.len());
                if rng.chance(500) {
                    edited[at] = *byte;
                } else {
                    edited.insert(at, *byte);
                }
            }
            prop_assert_eq!(parse_exact(&edited), parse_general_exact(&edited), "{:?}", String::from_utf8_lossy(&edited));
        }
    }

    /// A log of many records reads back as exactly those records, in order: no message
    /// can split a record or forge another.
    #[test]
    fn concatenated_records_read_back_in_order(os in prop::collection::vec(owned(), 0..20)) {
        let records: Vec<Record<'_>> = os.iter().map(Owned::record).collect();
        let log: Vec<u8> = records.iter().flat_map(format).collect();
        let lines: Vec<&[u8]> = log.split_inclusive(|&b| b == b'\n').collect();
        prop_assert_eq!(lines.len(), records.len());
        for (line, r) in lines.iter().zip(&records) {
            prop_assert_eq!(parse_exact(line), Ok(*r));
        }
    }

    /// Any prefix of a record (a torn write) is an error, never a different record.
    #[test]
    fn torn_records_are_errors(o in owned(), cut in any::<prop::sample::Index>()) {
        let line = format(&o.record());
        // Cutting only the newline leaves a whole record.
        let body = &line[..line.len() - 1];
        let cut = cut.index(body.len());
        prop_assert!(parse_exact(&body[..cut]).is_err());
    }
}

/// The largest record the formatter can write besides its strings: every field present,
/// the longest names and numbers, empty strings. `max_formatted_len` must still cover it.
#[test]
fn max_formatted_len_covers_every_field_at_its_longest() {
    let ts = Timestamp::parse(b"9999-12-31T23:59:59.999Z").unwrap();
    let t = Totals {
        conns: u64::MAX,
        rejected: u64::MAX,
        echoes: u64::MAX,
        refused_port: u64::MAX,
        refused_rate: u64::MAX,
        refused_busy: u64::MAX,
        console_dropped: u64::MAX,
    };
    for msg in [&b""[..], b"\xff"] {
        let r = Record {
            conn: Some(u64::MAX),
            peer: Some(""),
            proto: Some(Proto::Tcp),
            addr: Some(""),
            msg: Some(msg),
            partial: Some(false),
            reason: Some(Reason::MaxConns),
            bytes_in: Some(u64::MAX),
            bytes_out: Some(u64::MAX),
            totals: t.into(),
            ..Record::new(ts, Level::Error, Event::Listening)
        };
        let mut buf = vec![0u8; 4096];
        let n = r.format(&mut buf).unwrap();
        assert!(
            n <= r.max_formatted_len(),
            "{n} > {}",
            r.max_formatted_len()
        );
        let peer = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";
        let r = Record {
            peer: Some(peer),
            addr: Some(peer),
            ..r
        };
        let n = r.format(&mut buf).unwrap();
        assert!(n <= Record::max_len_for_msg(msg.len()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The console form is one line too: no message, peer or address can put a control
    /// character (a newline, an ANSI escape) on the console.
    #[test]
    fn human_form_is_one_line_without_control_characters(o in owned()) {
        let text = o.record().human().to_string();
        prop_assert!(!text.chars().any(char::is_control), "{:?}", text);
    }

    /// Timestamps: the text form reads back as the same timestamp, and UTC ones round-trip
    /// through Unix milliseconds.
    #[test]
    fn timestamps_round_trip(ts in timestamp(), millis in 0u64..253_402_300_800_000) {
        let text = ts.to_string();
        prop_assert_eq!(Timestamp::parse(text.as_bytes()), Ok(ts));
        let t = Timestamp::from_unix_millis(millis);
        prop_assert_eq!(t.unix_millis(), Some(millis));
        prop_assert_eq!(Timestamp::parse(t.to_string().as_bytes()), Ok(t));
    }
}
