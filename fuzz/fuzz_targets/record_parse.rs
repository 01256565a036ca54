//! Arbitrary bytes into `Record::parse`: never panics; whatever it accepts is valid JSON (as
//! serde_json reads it), formats as exactly one line, and parses back as the same record.
#![no_main]

use echo_core::record::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    let mut scratch = vec![0u8; line.len()];
    let Ok(record) = Record::parse(line, &mut scratch) else {
        return;
    };
    // The parser is strict JSON: a reference implementation agrees the line is JSON.
    assert!(
        serde_json::from_slice::<serde_json::Value>(line).is_ok(),
        "accepted invalid JSON"
    );

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
