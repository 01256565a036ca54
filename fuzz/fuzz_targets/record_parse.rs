//! Arbitrary bytes into `Record::parse`, differentially against serde_json: never panics;
//! whatever it accepts is JSON, read as serde_json reads it (defined fields and unknown
//! fields alike, the unknown ones in order), and formats as one line that parses back the
//! same; whatever serde_json reads as a record it accepts too, except where it is
//! deliberately stricter (a defined key twice, nesting deeper than `MAX_DEPTH`); and
//! `Record::parse`'s fast path gives what serde-json-core alone (`parse_general`) gives.
#![no_main]

use echo_core::record::{Event, Level, ParseErrorKind, Proto, Reason, Record, TotalFields};
use echo_core::time::Timestamp;
use libfuzzer_sys::fuzz_target;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON object's members in order, duplicates kept (a `Value` keeps only the last).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = a.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

/// The keys the record schema defines (a duplicate of one is refused, deliberately).
const KNOWN: [&str; 20] = [
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

/// A record as read, owning its strings; unknown fields decoded by serde_json.
#[derive(Debug, PartialEq)]
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
    extra: Vec<(String, Value)>,
}

impl Owned {
    fn of(r: &Record<'_>) -> Owned {
        let extra = r
            .extra
            .members()
            .map(|(k, v)| {
                let key: String = serde_json::from_str(&format!("\"{k}\"")).expect("a JSON key");
                let value: Value = serde_json::from_str(v).expect("a JSON value");
                (key, value)
            })
            .collect();
        Owned {
            ts: r.ts,
            level: r.level,
            event: r.event,
            conn: r.conn,
            peer: r.peer.map(str::to_owned),
            proto: r.proto,
            addr: r.addr.map(str::to_owned),
            msg: r.msg.map(<[u8]>::to_vec),
            partial: r.partial,
            reason: r.reason,
            bytes_in: r.bytes_in,
            bytes_out: r.bytes_out,
            totals: r.totals,
            extra,
        }
    }
}

/// `Some(Some(x))` present, `Some(None)` absent or null, `None` wrong type.
fn opt<'v, T>(
    m: &'v Map<String, Value>,
    k: &str,
    f: impl Fn(&'v Value) -> Option<T>,
) -> Option<Option<T>> {
    match m.get(k) {
        None | Some(Value::Null) => Some(None),
        Some(v) => f(v).map(Some),
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// PRODUCT.md "Log records", read from serde_json's members: `None` when not a record.
fn expected(members: &[(String, Value)]) -> Option<Owned> {
    let m: Map<String, Value> = members.iter().cloned().collect();
    let text = |k: &str| m.get(k)?.as_str();
    let ts = Timestamp::parse(text("ts")?.as_bytes()).ok()?;
    let level = Level::from_record_name(text("level")?.as_bytes())?;
    let event = Event::from_name(text("event")?.as_bytes())?;
    let u64_ = |v: &Value| v.as_u64();
    let str_ = |v: &Value| v.as_str().map(str::to_owned);
    let msg = opt(&m, "msg", |v| v.as_str().map(|s| s.as_bytes().to_vec()))?;
    let msg_hex = opt(&m, "msg_hex", |v| hex(v.as_str()?))?;
    let msg = match (msg, msg_hex) {
        (Some(_), Some(_)) => return None,
        (m, None) | (None, m) => m,
    };
    let mut t = [None; 7];
    for (slot, k) in t.iter_mut().zip(TotalFields::NAMES) {
        *slot = opt(&m, k, u64_)?;
    }
    Some(Owned {
        ts,
        level,
        event,
        conn: opt(&m, "conn", u64_)?,
        peer: opt(&m, "peer", str_)?,
        proto: opt(&m, "proto", |v| Proto::from_name(v.as_str()?.as_bytes()))?,
        addr: opt(&m, "addr", str_)?,
        msg,
        partial: opt(&m, "partial", Value::as_bool)?,
        reason: opt(&m, "reason", |v| Reason::from_name(v.as_str()?.as_bytes()))?,
        bytes_in: opt(&m, "bytes_in", u64_)?,
        bytes_out: opt(&m, "bytes_out", u64_)?,
        totals: TotalFields {
            conns: t[0],
            rejected: t[1],
            echoes: t[2],
            refused_port: t[3],
            refused_rate: t[4],
            refused_busy: t[5],
            console_dropped: t[6],
        },
        extra: members
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .cloned()
            .collect(),
    })
}

fuzz_target!(|line: &[u8]| {
    let mut scratch = vec![0u8; line.len()];
    let ours = Record::parse(line, &mut scratch);
    // Its fast path reads the line as serde-json-core alone does.
    let mut scratch_general = vec![0u8; line.len()];
    assert_eq!(
        ours,
        Record::parse_general(line, &mut scratch_general),
        "the fast path and serde-json-core disagree"
    );
    // serde_json's reading: the members in order, and whether a defined key repeats.
    let reference = serde_json::from_slice::<Members>(line).map(|Members(members)| {
        let dup = KNOWN
            .iter()
            .any(|k| members.iter().filter(|(m, _)| m == k).count() > 1);
        (members, dup)
    });

    let record = match ours {
        Err(e) => {
            assert_ne!(
                e.kind,
                ParseErrorKind::ScratchTooSmall,
                "scratch = line is enough"
            );
            let stricter = matches!(
                e.kind,
                ParseErrorKind::DuplicateKey(_) | ParseErrorKind::TooDeep
            );
            if let (false, Ok((members, false))) = (stricter, &reference) {
                assert!(expected(members).is_none(), "refused a valid record: {e}");
            }
            return;
        }
        Ok(record) => record,
    };
    // The parser is strict JSON: the reference implementation agrees, field for field.
    let (members, dup) = reference.as_ref().expect("accepted invalid JSON");
    assert!(!dup, "accepted a duplicate key");
    let owned = Owned::of(&record);
    assert_eq!(expected(members).as_ref(), Some(&owned), "read differently");

    let mut out = vec![0u8; record.max_formatted_len()];
    let n = record
        .format(&mut out)
        .expect("max_formatted_len is enough");
    let formatted = &out[..n];
    assert_eq!(formatted.last(), Some(&b'\n'));
    assert!(
        !formatted[..n - 1].contains(&b'\n'),
        "a formatted record is one line"
    );

    let mut scratch2 = vec![0u8; n];
    let again = Record::parse(formatted, &mut scratch2).expect("a formatted record parses");
    assert_eq!(again, record);
    let (members2, _) = serde_json::from_slice::<Members>(formatted)
        .map(|Members(m)| (m, ()))
        .expect("a formatted record is JSON");
    assert_eq!(
        expected(&members2).as_ref(),
        Some(&owned),
        "formatted differently"
    );

    // Formatting is a fixed point: the formatted line formats to itself.
    let mut out2 = vec![0u8; again.max_formatted_len()];
    let n2 = again
        .format(&mut out2)
        .expect("max_formatted_len is enough");
    assert_eq!(&out2[..n2], formatted);
});
