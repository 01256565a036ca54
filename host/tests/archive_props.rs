//! `echokit archive` loses nothing and invents nothing (PRODUCT.md "archive"), as a property:
//! for any log of records (any defined fields, any unknown fields, any spelling of strings),
//! JSON output is each record as read, and each CSV row rebuilds exactly the record its
//! line parses to.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use echo_core::record::{Event, Extra, Level, Proto, Reason, Record, TotalFields};
use echo_core::time::Timestamp;
use proptest::prelude::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_echokit");

/// Runs `echokit archive -i - -o - -a false ARGS` on `input`.
fn archive(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(["archive", "-i", "-", "-o", "-", "-a", "false"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn echokit");
    let mut stdin = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait echokit");
    feeder.join().expect("feeder");
    out
}

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

/// Text with what breaks CSV and JSON (commas, quotes, line breaks, controls, non-ASCII).
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(&[",", "\"", "\n", "\r\n", "\t", "\u{1}", "é", "😀", "{", "\\", " "][..])
                .prop_map(str::to_owned),
            2 => "[a-z0-9:.]{0,6}",
            1 => any::<String>(),
        ],
        0..6,
    )
    .prop_map(|v| v.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        (any::<i32>(), 0i32..4).prop_map(|(m, e)| json!(f64::from(m) / 10f64.powi(e))),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((text(), inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// One record as a JSON object: every defined field maybe, unknown fields maybe, in a
/// shuffled order (as some other writer might).
fn record_line() -> impl Strategy<Value = String> {
    let defined = (
        0u64..4_102_444_800_000,
        prop::sample::select(&Level::ALL[..]),
        prop::sample::select(&Event::ALL[..]),
        prop::option::of(any::<u64>()),
        prop::option::of(text()),
        prop::option::of(prop::sample::select(vec![Proto::Tcp, Proto::Udp])),
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            text().prop_map(|t| ("msg", json!(t))),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(|b| {
                (
                    "msg_hex",
                    json!(b.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                )
            }),
        ]),
        prop::option::of(any::<bool>()),
        prop::option::of(prop::sample::select(&Reason::ALL[..])),
        prop::array::uniform9(prop::option::of(any::<u64>())),
    );
    let unknown = prop::collection::vec(
        (
            text().prop_filter("defined", |k| !DEFINED.contains(&k.as_str())),
            json_value(),
        ),
        0..3,
    );
    (defined, unknown, any::<u64>()).prop_map(
        |(
            (ms, level, event, conn, peer, proto, addr, msg, partial, reason, nums),
            unknown,
            seed,
        )| {
            let mut fields: Vec<(String, Value)> = vec![
                (
                    "ts".into(),
                    json!(Timestamp::from_unix_millis(ms).to_string()),
                ),
                ("level".into(), json!(level.as_str())),
                ("event".into(), json!(event.as_str())),
            ];
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    fields.push((k.into(), v));
                }
            };
            put("conn", conn.map(|v| json!(v)));
            put("peer", peer.map(|v| json!(v)));
            put("proto", proto.map(|v| json!(v.as_str())));
            put("addr", addr.map(|v| json!(v)));
            if let Some((k, v)) = msg {
                put(k, Some(v));
            }
            put("partial", partial.map(Value::Bool));
            put("reason", reason.map(|v| json!(v.as_str())));
            let numeric = ["bytes_in", "bytes_out"]
                .into_iter()
                .chain(TotalFields::NAMES);
            for (k, v) in numeric.zip(nums) {
                put(k, v.map(|v| json!(v)));
            }
            let mut seen: Vec<String> = Vec::new();
            for (k, v) in unknown {
                if !seen.contains(&k) {
                    seen.push(k.clone());
                    fields.push((k, v));
                }
            }
            // A cheap shuffle, so that field order is not the formatter's.
            let mut s = seed | 1;
            for i in (1..fields.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                fields.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let members: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
                .collect();
            format!("{{{}}}", members.join(","))
        },
    )
}

/// CSV rows whose cells are `None` when empty and unquoted (absent), `Some` otherwise (an
/// empty string is `""`): the distinction PostgreSQL's CSV and Python's `QUOTE_NOTNULL`
/// make, which the csv crate's reader does not expose.
fn cells(data: &str) -> Vec<Vec<Option<String>>> {
    let (mut rows, mut row, mut cell) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut in_quotes) = (false, false);
    let mut chars = data.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => in_quotes = false,
                c => cell.push(c),
            }
            continue;
        }
        match c {
            '"' => (in_quotes, quoted) = (true, true),
            ',' | '\n' => {
                let text = std::mem::take(&mut cell);
                row.push((quoted || !text.is_empty()).then_some(text));
                quoted = false;
                if c == '\n' {
                    rows.push(std::mem::take(&mut row));
                }
            }
            c => cell.push(c),
        }
    }
    rows
}

/// The record a CSV row stands for (`hex`: room for a decoded `msg_hex`).
fn rebuild<'a>(header: &[String], row: &'a [Option<String>], hex: &'a mut Vec<u8>) -> Record<'a> {
    let at = |name: &str| header.iter().position(|h| h == name).expect("a column");
    let opt = |name: &str| row[at(name)].as_deref();
    let cell = |name: &str| opt(name).unwrap_or("");
    let num = |name: &str| opt(name).map(|c| c.parse::<u64>().expect("a number"));
    let mut r = Record::new(
        Timestamp::parse(cell("ts").as_bytes()).expect("ts"),
        Level::from_record_name(cell("level").as_bytes()).expect("level"),
        Event::from_name(cell("event").as_bytes()).expect("event"),
    );
    r.conn = num("conn");
    r.peer = opt("peer");
    r.proto = opt("proto").map(|p| Proto::from_name(p.as_bytes()).expect("proto"));
    r.addr = opt("addr");
    if let Some(h) = opt("msg_hex") {
        *hex = (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        r.msg = Some(hex.as_slice());
    } else {
        r.msg = opt("msg").map(str::as_bytes);
    }
    r.partial = opt("partial").map(|p| p.parse().expect("a bool"));
    r.reason = opt("reason").map(|p| Reason::from_name(p.as_bytes()).expect("reason"));
    r.bytes_in = num("bytes_in");
    r.bytes_out = num("bytes_out");
    for (i, name) in TotalFields::NAMES.into_iter().enumerate() {
        *r.totals.get_mut(i).expect("a total") = num(name);
    }
    r.extra = opt("extra").map_or(Extra::NONE, |e| {
        Extra::from_object(e).expect("extra is JSON")
    });
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn json_is_as_read_and_csv_rebuilds_each_record(lines in prop::collection::vec(record_line(), 0..40)) {
        let log: String = lines.iter().map(|l| format!("{l}\n")).collect();

        let out = archive(&["-j"], log.as_bytes());
        prop_assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        prop_assert_eq!(String::from_utf8(out.stdout).unwrap(), log.clone());

        let out = archive(&[], log.as_bytes());
        prop_assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        let mut rows = cells(&text);
        // The csv crate reads the same cells (with absent and empty alike as "").
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let by_crate: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let header: Vec<String> = rows.remove(0).into_iter().map(Option::unwrap_or_default).collect();
        prop_assert_eq!(rows.len(), lines.len());
        for (ours, theirs) in rows.iter().zip(&by_crate) {
            let ours: Vec<&str> = ours.iter().map(|c| c.as_deref().unwrap_or("")).collect();
            prop_assert_eq!(ours, theirs.iter().collect::<Vec<_>>());
        }
        for (line, row) in lines.iter().zip(&rows) {
            let mut scratch = vec![0u8; line.len()];
            let want = Record::parse(line.as_bytes(), &mut scratch).expect("a record");
            let mut hex = Vec::new();
            prop_assert_eq!(rebuild(&header, row, &mut hex), want, "{}", line);
        }
    }
}
