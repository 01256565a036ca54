//! Arbitrary bytes into `record::legacy::parse`: never panics; whatever it accepts formats
//! as one JSON line that parses back as the same record (what the archiver does with it).
#![no_main]

use echo_core::record::{Record, legacy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    // The documented minimum scratch for the peer.
    let mut scratch = [0u8; 64];
    let starts = legacy::is_record_start(text);
    let Ok(record) = legacy::parse(text, &mut scratch) else {
        return;
    };
    assert!(starts, "parsed a record that does not start like one");

    let mut out = vec![0u8; record.max_formatted_len()];
    let n = record
        .format(&mut out)
        .expect("max_formatted_len is enough");
    let formatted = &out[..n];
    assert_eq!(formatted.iter().filter(|&&b| b == b'\n').count(), 1);
    assert_eq!(formatted.last(), Some(&b'\n'));

    let mut scratch2 = vec![0u8; n];
    let again = Record::parse(formatted, &mut scratch2).expect("a formatted record parses");
    assert_eq!(again, record);
});
