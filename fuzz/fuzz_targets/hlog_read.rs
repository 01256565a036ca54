//! Arbitrary bytes into `hlog::read` (what `echokit bench merge` does with each `--hlog`
//! file, untrusted input): never panics; a refusal is one line; whatever it reads, written
//! again as an interval log (its three histograms, tagged as `echokit bench` tags them, and
//! its summary comment), reads back to the same histograms, summary and span; and merging
//! it (the next step of `merge`) does not panic.
#![no_main]

use std::time::Duration;

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use host::bench::hlog;
use libfuzzer_sys::fuzz_target;

/// `log` written again: one interval per histogram that holds anything, spanning its
/// seconds (when a `Duration` can hold them), then the summary comment.
fn rewrite(log: &hlog::Log) -> Vec<u8> {
    let span = Duration::try_from_secs_f64(log.secs).unwrap_or(Duration::ZERO);
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .begin_log_with(&mut out, &mut serializer)
        .expect("writing to a Vec");
    for (h, tag) in [
        (&log.latency, None),
        (&log.uncorrected, Tag::new("uncorrected")),
        (&log.connect, Tag::new("connect")),
    ] {
        writer
            .write_histogram(h, Duration::ZERO, span, tag)
            .expect("a histogram that was read serialises");
    }
    let pairs: Vec<String> = log.summary.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.extend_from_slice(format!("#[echokit bench: {}]\n", pairs.join(" ")).as_bytes());
    out
}

fuzz_target!(|bytes: &[u8]| {
    let log = match hlog::read(bytes) {
        Ok(log) => log,
        Err(e) => {
            assert!(!e.is_empty() && !e.contains('\n'), "not one line: {e:?}");
            return;
        }
    };
    assert!(log.secs.is_finite() && log.secs >= 0.0, "{}", log.secs);
    let again = hlog::read(&rewrite(&log)).expect("a rewritten log reads");
    assert!(again.latency == log.latency, "latency histogram differs");
    assert!(again.uncorrected == log.uncorrected, "uncorrected histogram differs");
    assert!(again.connect == log.connect, "connect histogram differs");
    assert_eq!(again.summary, log.summary);
    // Interval times are written with millisecond steps.
    if log.secs < 1e9 {
        assert!((again.secs - log.secs).abs() <= 0.002, "{} {}", again.secs, log.secs);
    }
    let _ = hlog::merge(&[log, again]);
});
