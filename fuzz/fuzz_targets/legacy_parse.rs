//! Arbitrary bytes into `record::legacy::parse`: never panics; whatever it accepts formats
//! as one JSON line that parses back as the same record (what the archiver does with it).
#![no_main]

use echo_core::record::{ParseErrorKind, Record, legacy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &[u8]| {
    // A scratch as long as the text is documented to be always enough.
    let mut scratch = vec![0u8; text.len()];
    let starts = legacy::is_record_start(text);
    let record = match legacy::parse(text, &mut scratch) {
        Ok(record) => record,
        Err(e) => {
            assert_ne!(e.kind, ParseErrorKind::ScratchTooSmall);
            return;
        }
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
