use super::strings::plain_ascii_len;
use super::*;

#[test]
fn plain_ascii_len_stops_at_the_first_special_byte() {
    for len in 0..20 {
        for at in 0..=len {
            for b in 0..=255u8 {
                let mut s = [b'a'; 20];
                let s = &mut s[..len];
                if at < len {
                    s[at] = b;
                }
                let special = !(0x20..0x80).contains(&b) || b == b'"' || b == b'\\';
                let expect = if at < len && special { at } else { len };
                assert_eq!(plain_ascii_len(s), expect, "len {len} at {at} byte {b:#x}");
                // A later special byte changes nothing.
                for later in at + 1..len {
                    let keep = s[later];
                    s[later] = 0;
                    let expect = if special { at } else { later };
                    assert_eq!(plain_ascii_len(s), expect, "{at} {b:#x} then {later}");
                    s[later] = keep;
                }
            }
        }
    }
}

/// The one-step read of a leading `"ts":"…Z"` agrees with the general path: on a
/// duplicate, a bad or zone-less stamp, and white space around it.
#[test]
fn leading_ts_reads_as_any_other_field() {
    let parse = |line: &str| {
        let mut scratch = std::vec![0u8; line.len()];
        Record::parse(line.as_bytes(), &mut scratch).map(|r| r.ts)
    };
    let rest = r#","level":"INFO","event":"echo"}"#;
    let utc = Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap();
    for (line, want) in [
        (
            std::format!(r#"{{"ts":"2026-11-23T10:15:02.123Z"{rest}"#),
            Ok(utc),
        ),
        (
            std::format!(r#"{{ "ts" : "2026-11-23T10:15:02.123Z" {rest}"#),
            Ok(utc),
        ),
        (
            std::format!(r#"{{"ts":"2023-05-01T12:00:00.123"{rest}"#),
            Timestamp::parse(b"2023-05-01T12:00:00.123").map_err(|_| unreachable!()),
        ),
        (
            std::format!(
                r#"{{"ts":"2026-11-23T10:15:02.123Z","ts":"2026-11-23T10:15:02.123Z"{rest}"#
            ),
            Err(ParseError {
                kind: ParseErrorKind::DuplicateKey("ts"),
                offset: 33,
            }),
        ),
        (
            std::format!(r#"{{"ts":"2026-13-23T10:15:02.123Z"{rest}"#),
            Err(ParseError {
                kind: ParseErrorKind::BadTimestamp,
                offset: 6,
            }),
        ),
    ] {
        assert_eq!(parse(&line), want, "{line}");
    }
}

/// Found by the property tests: `msg_hex` spelled with a `\u0030` escape and many raw
/// digits needed more scratch than the line's length (unescaped copy plus decoded copy),
/// so a valid record failed with `ScratchTooSmall`.
#[test]
fn escaped_msg_hex_fits_a_scratch_as_long_as_the_line() {
    let mut line = std::string::String::from(
        r#"{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","msg_hex":"\u0030"#,
    );
    line.push_str(&"0".repeat(399));
    line.push_str(r#""}"#);
    let mut scratch = std::vec![0u8; line.len()];
    let r = Record::parse(line.as_bytes(), &mut scratch).unwrap();
    assert_eq!(r.msg, Some(&[0u8; 200][..]));
}

/// Found by fuzzing (`record_parse` cross-checks serde_json): a number with a leading
/// zero in an unknown key's value was accepted, so invalid JSON passed as a record.
#[test]
fn leading_zeros_are_invalid_json_in_skipped_values_too() {
    let line = |v: &str| {
        std::format!(r#"{{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","x":{v}}}"#)
    };
    for bad in ["00", "01", "-01", "[1,02]", "00.5"] {
        let l = line(bad);
        let mut scratch = std::vec![0u8; l.len()];
        assert_eq!(
            Record::parse(l.as_bytes(), &mut scratch).unwrap_err().kind,
            ParseErrorKind::BadNumber,
            "{bad}"
        );
    }
    for good in ["0", "-0", "10", "0.5", "-0e1", "1E+2"] {
        let l = line(good);
        let mut scratch = std::vec![0u8; l.len()];
        assert!(Record::parse(l.as_bytes(), &mut scratch).is_ok(), "{good}");
    }
}

#[test]
fn escaped_msg_hex_is_still_checked() {
    for bad in [r#""\u0030""#, r#""\u00300g""#, r#""\u0030\u00e9""#] {
        let line = std::format!(
            r#"{{"ts":"2026-11-23T10:15:02.123Z","level":"INFO","event":"echo","msg_hex":{bad}}}"#
        );
        let mut scratch = std::vec![0u8; line.len()];
        assert_eq!(
            Record::parse(line.as_bytes(), &mut scratch)
                .unwrap_err()
                .kind,
            ParseErrorKind::BadHex,
            "{bad}"
        );
    }
}
