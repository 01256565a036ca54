//! Properties of the legacy line parser on generated seed lines: the Python server's
//! `TS::LEVEL::root::Client[('IP', PORT)] Echo: MSG`, `EchoServer Listening on HOST:PORT`,
//! other messages, and logical records with continuation lines.

use std::net::{Ipv4Addr, Ipv6Addr};

use echo_core::record::{Event, Level, Record, legacy};
use echo_core::time::{Timestamp, Zone};
use proptest::prelude::*;

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (
        0u16..=9999,
        1u8..=12,
        1u8..=28,
        0u8..24,
        0u8..60,
        0u8..60,
        0u16..1000,
    )
        .prop_map(|(y, mo, d, h, mi, s, ms)| {
            Timestamp::new(y, mo, d, h, mi, s, ms, Zone::Unspecified).unwrap()
        })
}

/// A level as the seed (Python `logging`) or a person spells it, and what it means.
fn level() -> impl Strategy<Value = (&'static str, Level)> {
    prop::sample::select(
        &[
            ("INFO", Level::Info),
            ("info", Level::Info),
            ("WARNING", Level::Warn),
            ("Warn", Level::Warn),
            ("ERROR", Level::Error),
            ("CRITICAL", Level::Error),
            ("FATAL", Level::Error),
            ("DEBUG", Level::Debug),
            ("NOTSET", Level::Trace),
            ("trace", Level::Trace),
        ][..],
    )
}

const PIECES: &[&str] = &[
    "::",
    "]",
    "[",
    "Echo:",
    "Echo: ",
    "] Echo: ",
    "'",
    "\"",
    "(",
    ")",
    ",",
    " ",
    "\t",
    "\r",
    "é",
    "日本",
    "😀",
    "\\",
    "{\"level\":\"ERROR\"}",
    "Client[",
    "hello",
];

/// Text of one physical line (no `\n`).
fn line_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(PIECES).prop_map(str::to_owned),
            1 => "[^\n]{0,6}",
        ],
        0..8,
    )
    .prop_map(|v| v.concat())
}

/// Continuation lines: any text that does not itself start a record.
fn continuations() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        line_text().prop_filter("looks like a record start", |l| {
            !legacy::is_record_start(l.as_bytes())
        }),
        0..3,
    )
}

/// A Python address tuple as the seed printed it, and the peer it means.
fn python_peer() -> impl Strategy<Value = (String, String)> {
    let v4 = any::<Ipv4Addr>().prop_map(|ip| (ip.to_string(), false));
    let v6 = any::<Ipv6Addr>().prop_map(|ip| (ip.to_string(), true));
    let scoped = (any::<Ipv6Addr>(), "[a-z0-9_]{1,6}")
        .prop_map(|(ip, scope)| (format!("{ip}%{scope}"), true));
    (
        prop_oneof![3 => v4, 2 => v6, 1 => scoped],
        any::<u16>(),
        prop::sample::select(&["'", "\""][..]),
    )
        .prop_map(|((host, v6), port, q)| {
            if v6 {
                (
                    format!("({q}{host}{q}, {port}, 0, 0)"),
                    format!("[{host}]:{port}"),
                )
            } else {
                (format!("({q}{host}{q}, {port})"), format!("{host}:{port}"))
            }
        })
}

/// What a generated line should parse to.
#[derive(Debug, Clone)]
struct Expect {
    event: Event,
    peer: Option<String>,
    addr: Option<String>,
}

/// A legacy message (first line and continuation lines) and its meaning.
fn message() -> impl Strategy<Value = (String, Expect)> {
    let echo =
        (python_peer(), line_text(), continuations()).prop_map(|((tuple, peer), first, more)| {
            let mut text = first;
            for l in &more {
                text.push('\n');
                text.push_str(l);
            }
            let expect = Expect {
                event: if text.is_empty() {
                    Event::Closed
                } else {
                    Event::Echo
                },
                peer: Some(peer),
                addr: None,
            };
            (format!("Client[{tuple}] Echo: {text}"), expect)
        });
    let listening = prop_oneof![
        "[a-z][a-z0-9.-]{0,12}:[0-9]{1,5}",
        any::<std::net::SocketAddr>().prop_map(|a| a.to_string()),
    ]
    .prop_map(|addr| {
        let expect = Expect {
            event: Event::Listening,
            peer: None,
            addr: Some(addr.clone()),
        };
        (format!("EchoServer Listening on {addr}"), expect)
    });
    let other = (line_text(), continuations())
        .prop_filter("is an echo or listening line", |(first, _)| {
            !first.starts_with("Client[") && !first.starts_with("EchoServer Listening on ")
        })
        .prop_map(|(first, more)| {
            let mut text = first;
            for l in &more {
                text.push('\n');
                text.push_str(l);
            }
            let expect = Expect {
                event: Event::Log,
                peer: None,
                addr: None,
            };
            (text, expect)
        });
    prop_oneof![3 => echo, 1 => listening, 2 => other]
}

fn ts_text(ts: &Timestamp) -> String {
    let s = ts.to_string();
    assert_eq!(s.len(), 23);
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every generated seed record reads as PRODUCT.md "archive" says, whatever its message
    /// holds, with or without the line's trailing newline (`\n` or `\r\n`).
    #[test]
    fn seed_lines_read_as_documented(
        ts in timestamp(),
        (level_text, level) in level(),
        logger in "[a-zA-Z_.]{1,8}",
        (message, expect) in message(),
        ending in prop::sample::select(&["", "\n", "\r\n"][..]),
    ) {
        let text = format!("{}::{level_text}::{logger}::{message}{ending}", ts_text(&ts));
        let mut lines = text.lines();
        prop_assert!(legacy::is_record_start(lines.next().unwrap_or("").as_bytes()));
        for l in lines {
            prop_assert!(!legacy::is_record_start(l.as_bytes()));
        }
        let mut scratch = [0u8; 128];
        let r = legacy::parse(text.as_bytes(), &mut scratch);
        let r = r.map_err(|e| TestCaseError::fail(format!("{e} in {text:?}")))?;
        // The model: one trailing `\n` or `\r\n` of the logical record is its line ending
        // (so a message's own last `\r` or empty last line is not told apart from it).
        let full = format!("{message}{ending}");
        let kept = full
            .strip_suffix("\r\n")
            .or_else(|| full.strip_suffix('\n'))
            .unwrap_or(&full);
        prop_assert_eq!(r.ts, ts);
        prop_assert_eq!(r.level, level);
        match expect.event {
            Event::Echo | Event::Closed => {
                let text = &kept[kept.find("] Echo: ").unwrap() + 8..];
                let event = if text.is_empty() { Event::Closed } else { Event::Echo };
                prop_assert_eq!(r.event, event);
                prop_assert_eq!(r.msg, (!text.is_empty()).then_some(text.as_bytes()));
            }
            Event::Log => {
                prop_assert_eq!(r.event, Event::Log);
                prop_assert_eq!(r.msg, Some(kept.as_bytes()));
            }
            _ => {
                prop_assert_eq!(r.event, expect.event);
                prop_assert_eq!(r.msg, None);
            }
        }
        prop_assert_eq!(r.peer, expect.peer.as_deref());
        prop_assert_eq!(r.addr, expect.addr.as_deref());
        prop_assert_eq!(r.proto, None);

        // The archive writes it as a JSON record, which reads back the same.
        let mut buf = vec![0u8; r.max_formatted_len()];
        let n = r.format(&mut buf).unwrap();
        let mut scratch2 = vec![0u8; n];
        prop_assert_eq!(Record::parse(&buf[..n], &mut scratch2), Ok(r));
    }

    /// Arbitrary bytes never panic the legacy parser, and what it accepts formats and parses
    /// back as the same record.
    #[test]
    fn arbitrary_text_never_panics(prefix in prop::option::of(timestamp()), rest in prop::collection::vec(any::<u8>(), 0..80)) {
        let mut text = Vec::new();
        if let Some(ts) = prefix {
            text.extend_from_slice(ts_text(&ts).as_bytes());
            text.extend_from_slice(b"::");
        }
        text.extend_from_slice(&rest);
        let mut scratch = [0u8; 128];
        if let Ok(r) = legacy::parse(&text, &mut scratch) {
            let mut buf = vec![0u8; r.max_formatted_len()];
            let n = r.format(&mut buf).unwrap();
            let mut scratch2 = vec![0u8; n];
            prop_assert_eq!(Record::parse(&buf[..n], &mut scratch2), Ok(r));
        }
    }
}
