//! Arbitrary bytes into `Record::parse`, differentially against serde_json: never panics;
//! whatever it accepts is JSON and formats as one line that parses back the same; and it
//! agrees with an independent reading of serde_json's value (same record, or both refuse),
//! except where it is deliberately stricter (duplicate keys, nesting deeper than 64).
#![no_main]

use echo_core::record::{Event, Level, ParseErrorKind, Proto, Reason, Record, Totals};
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

/// The keys the record schema knows (a duplicate of one is refused, deliberately).
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

/// A record as read from a serde_json value, owning its strings.
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
    partial: bool,
    reason: Option<Reason>,
    bytes_in: Option<u64>,
    bytes_out: Option<u64>,
    totals: Option<Totals>,
}

impl Owned {
    fn of(r: &Record<'_>) -> Owned {
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

/// PRODUCT.md "Log records", read from serde_json's value: `None` when it is not a record.
fn expected(v: &Value) -> Option<Owned> {
    let m = v.as_object()?;
    let text = |k: &str| m.get(k)?.as_str();
    let ts = Timestamp::parse(text("ts")?.as_bytes()).ok()?;
    let level = Level::from_record_name(text("level")?.as_bytes())?;
    let event = Event::from_name(text("event")?.as_bytes())?;
    let u64_ = |v: &Value| v.as_u64();
    let str_ = |v: &Value| v.as_str().map(str::to_owned);
    let msg = opt(m, "msg", |v| v.as_str().map(|s| s.as_bytes().to_vec()))?;
    let msg_hex = opt(m, "msg_hex", |v| hex(v.as_str()?))?;
    let msg = match (msg, msg_hex) {
        (Some(_), Some(_)) => return None,
        (m, None) | (None, m) => m,
    };
    // The totals are the last seven keys of the schema.
    let keys = &KNOWN[KNOWN.len() - 7..];
    let mut t = [None; 7];
    for (slot, &k) in t.iter_mut().zip(keys) {
        *slot = opt(m, k, u64_)?;
    }
    let totals = t.iter().any(Option::is_some).then(|| {
        let v = |i: usize| t[i].unwrap_or(0);
        Totals {
            conns: v(0),
            rejected: v(1),
            echoes: v(2),
            refused_port: v(3),
            refused_rate: v(4),
            refused_busy: v(5),
            console_dropped: v(6),
        }
    });
    Some(Owned {
        ts,
        level,
        event,
        conn: opt(m, "conn", u64_)?,
        peer: opt(m, "peer", str_)?,
        proto: opt(m, "proto", |v| Proto::from_name(v.as_str()?.as_bytes()))?,
        addr: opt(m, "addr", str_)?,
        msg,
        partial: opt(m, "partial", Value::as_bool)?.unwrap_or(false),
        reason: opt(m, "reason", |v| Reason::from_name(v.as_str()?.as_bytes()))?,
        bytes_in: opt(m, "bytes_in", u64_)?,
        bytes_out: opt(m, "bytes_out", u64_)?,
        totals,
    })
}

fuzz_target!(|line: &[u8]| {
    let mut scratch = vec![0u8; line.len()];
    let ours = Record::parse(line, &mut scratch);
    // serde_json's reading: the object (last duplicate wins) and whether a known key repeats.
    let reference = serde_json::from_slice::<Members>(line).map(|Members(members)| {
        let dup = KNOWN
            .iter()
            .any(|k| members.iter().filter(|(m, _)| m == k).count() > 1);
        (
            Value::Object(members.into_iter().collect::<Map<_, _>>()),
            dup,
        )
    });

    match &ours {
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
            if let (false, Ok((v, false))) = (stricter, &reference) {
                assert!(expected(v).is_none(), "refused a valid record: {e}");
            }
            return;
        }
        Ok(record) => {
            // The parser is strict JSON: the reference implementation agrees.
            let (v, dup) = reference.as_ref().expect("accepted invalid JSON");
            assert!(!dup, "accepted a duplicate key");
            assert_eq!(
                expected(v).as_ref(),
                Some(&Owned::of(record)),
                "read differently"
            );
        }
    }
    let Ok(record) = ours else { return };

    let mut out = vec![0u8; record.max_formatted_len()];
    let n = record
        .format(&mut out)
        .expect("max_formatted_len is enough");
    let formatted = &out[..n];
    assert_eq!(formatted.last(), Some(&b'\n'));
    assert!(
        formatted[..n - 1].iter().all(|&b| b >= 0x20),
        "a formatted record is one line without control characters"
    );

    let mut scratch2 = vec![0u8; n];
    let again = Record::parse(formatted, &mut scratch2).expect("a formatted record parses");
    assert_eq!(again, record);

    // Formatting is a fixed point: the canonical line formats to itself.
    let mut out2 = vec![0u8; again.max_formatted_len()];
    let n2 = again
        .format(&mut out2)
        .expect("max_formatted_len is enough");
    assert_eq!(&out2[..n2], formatted);
});
