//! HdrHistogram's file forms: the interval log (`--hlog`, what `HistogramLogWriter`
//! writes: version 1.3, one V2-deflate histogram in base64 per second, values in
//! microseconds), its reading back for `echokit bench merge`, and the `.hgrm` percentile
//! distribution (`--hgrm`, what `outputPercentileDistribution` prints, in milliseconds).

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use super::stats::Second;
use super::summary::{Latency, Report};

/// The legend line Java's writer puts after the headers.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n";

/// The comment that carries the run's summary, for `merge` (other readers skip comments).
const SUMMARY: &str = "#[echokit bench:";

/// Largest latency in the files: an hour in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// A histogram in microseconds, for the files.
fn us_histogram() -> Histogram<u64> {
    // NOTE(expect): constant bounds that hdrhistogram accepts.
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid histogram bounds")
}

/// `h` (nanoseconds) in microseconds, each value rounded to the nearest.
fn to_us(h: &Histogram<u64>) -> Histogram<u64> {
    let mut us = us_histogram();
    for v in h.iter_recorded() {
        let value = (v.value_iterated_to() + 500) / 1000;
        us.saturating_record_n(value.min(MAX_US), v.count_since_last_iteration());
    }
    us
}

/// An interval log being built in memory (written whole at the end: no partial file).
pub struct HlogWriter {
    buf: Vec<u8>,
    serializer: V2DeflateSerializer,
    connect: bool,
}

impl HlogWriter {
    /// Starts a log whose seconds count from `start` (wall clock); `connect`: connect mode,
    /// whose connect latencies go in too (tagged `connect`).
    pub fn new(start: SystemTime, connect: bool) -> HlogWriter {
        let mut buf = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        // NOTE(ok): writing to a Vec cannot fail.
        let _ = IntervalLogWriterBuilder::new()
            .add_comment("[Logged with echokit bench]")
            .add_comment("[Histogram log format version 1.3]")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut buf, &mut serializer);
        buf.extend_from_slice(LEGEND.as_bytes());
        HlogWriter {
            buf,
            serializer,
            connect,
        }
    }

    /// Adds one second: its latencies untagged (what HdrHistogram's tools read by
    /// default), those timed from the send tagged `uncorrected`.
    pub fn second(&mut self, second: &Second) -> Result<(), String> {
        let start = Duration::from_secs(second.index);
        let length = Duration::from_secs_f64((second.end - second.index as f64).max(0.0));
        let mut writer = IntervalLogWriterBuilder::new()
            .begin_log_with(&mut self.buf, &mut self.serializer)
            .map_err(|e| e.to_string())?;
        let l = &second.latencies;
        let mut parts = vec![(&l.latency, None), (l.from_sent(), Tag::new("uncorrected"))];
        if self.connect {
            parts.push((&l.connect, Tag::new("connect")));
        }
        for (h, tag) in parts {
            writer
                .write_histogram(&to_us(h), start, length, tag)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The whole log, ended by the run's summary as a comment.
    pub fn finish(mut self, report: &Report) -> Vec<u8> {
        let field = |x: Option<String>| x.unwrap_or_else(|| "-".into());
        let line = format!(
            "{SUMMARY} mode={} proto={} conns={} size={} threads={} secs={:.3} round_trips={} \
             mb_per_s={} held={} failed={} connect_per_s={} errors={} mismatches={} lost={}]\n",
            field(report.mode.clone()),
            field(report.proto.clone()),
            field(report.conns.map(|x| x.to_string())),
            field(report.size.map(|x| x.to_string())),
            field(report.threads.map(|x| x.to_string())),
            report.secs,
            field(report.round_trips.map(|x| x.to_string())),
            field(report.mb_per_s.map(|x| format!("{x:.6}"))),
            field(report.held.map(|x| x.to_string())),
            field(report.failed.map(|x| x.to_string())),
            field(report.connect_per_s.map(|x| format!("{x:.3}"))),
            field(report.errors.map(|x| x.to_string())),
            field(report.mismatches.map(|x| x.to_string())),
            field(report.lost.map(|x| x.to_string())),
        );
        self.buf.extend_from_slice(line.as_bytes());
        self.buf
    }
}

/// The `.hgrm` text of `h` (nanoseconds), values in milliseconds, as HdrHistogram's
/// `outputPercentileDistribution(out, 5, 1e6)` prints it.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let ms = |ns: f64| ns / 1e6;
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if !h.is_empty() {
        for v in h.iter_quantiles(5) {
            let q = v.quantile_iterated_to();
            let value = ms(v.value_iterated_to() as f64);
            let count = h.count_between(0, v.value_iterated_to());
            if q < 1.0 {
                let _ = writeln!(
                    out,
                    "{value:12.3} {q:2.12} {count:10} {:14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(out, "{value:12.3} {q:2.12} {count:10}");
            }
        }
    }
    let sub_buckets = (2 * 10u64.pow(u32::from(h.sigfig()))).next_power_of_two();
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        ms(h.mean()),
        ms(h.stdev())
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        ms(h.max() as f64),
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_buckets
    );
    out
}

/// What one `--hlog` file holds.
#[derive(Debug)]
pub struct Log {
    /// Untagged (latency), `uncorrected` and `connect` histograms, in microseconds.
    pub latency: Histogram<u64>,
    pub uncorrected: Histogram<u64>,
    pub connect: Histogram<u64>,
    /// Seconds from the first interval's start to the last one's end.
    pub secs: f64,
    /// The run's summary comment, if an echokit bench wrote it: key, value pairs.
    pub summary: Vec<(String, String)>,
}

impl Log {
    /// A value of the summary comment (`None` when absent or `-`).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.summary
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| *v != "-")
    }
}

/// Reads an interval log; the error is one line (without the file's name).
pub fn read(bytes: &[u8]) -> Result<Log, String> {
    let mut log = Log {
        latency: us_histogram(),
        uncorrected: us_histogram(),
        connect: us_histogram(),
        secs: 0.0,
        summary: Vec::new(),
    };
    let mut deserializer = Deserializer::new();
    let (mut first, mut last) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut intervals = 0usize;
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| match e {
            hdrhistogram::serialization::interval_log::LogIteratorError::ParseError { offset } => {
                format!("not an HdrHistogram interval log (at byte {offset})")
            }
        })?;
        let LogEntry::Interval(interval) = entry else {
            continue;
        };
        let encoded = base64::engine::general_purpose::STANDARD
            .decode(interval.encoded_histogram())
            .map_err(|e| format!("interval {}: bad base64 ({e})", intervals + 1))?;
        let h: Histogram<u64> = deserializer
            .deserialize(&mut encoded.as_slice())
            .map_err(|e| format!("interval {}: bad histogram ({e})", intervals + 1))?;
        let into = match interval.tag().map(|t| t.as_str()) {
            None => &mut log.latency,
            Some("uncorrected") => &mut log.uncorrected,
            Some("connect") => &mut log.connect,
            Some(_) => continue,
        };
        into.add(&h).map_err(|e| {
            format!(
                "interval {}: a value beyond {MAX_US} us ({e})",
                intervals + 1
            )
        })?;
        let start = interval.start_timestamp().as_secs_f64();
        first = first.min(start);
        last = last.max(start + interval.duration().as_secs_f64());
        intervals += 1;
    }
    if intervals == 0 {
        return Err("no interval histogram in it".into());
    }
    log.secs = (last - first).max(0.0);
    // The summary comment, if any (the last one counts).
    let text = String::from_utf8_lossy(bytes);
    if let Some(line) = text.lines().rev().find(|l| l.starts_with(SUMMARY)) {
        let body = line[SUMMARY.len()..].trim_end_matches(']');
        log.summary = body
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }
    Ok(log)
}

/// The summary of runs that went on at the same time: counts and rates summed, latencies
/// from the merged histograms; what not every log tells is `None`.
pub fn merge(logs: &[Log]) -> Report {
    fn all<T>(logs: &[Log], f: impl Fn(&Log) -> Option<T>) -> Option<Vec<T>> {
        logs.iter().map(f).collect()
    }
    let sum_u = |key: &str| all(logs, |l| l.get(key)?.parse::<u64>().ok()).map(|v| v.iter().sum());
    let sum_f =
        |key: &str| all(logs, |l| l.get(key)?.parse::<f64>().ok()).map(|v| v.iter().sum::<f64>());
    let same = |key: &str| {
        let values = all(logs, |l| l.get(key).map(str::to_string))?;
        let first = values.first()?.clone();
        values.iter().all(|v| *v == first).then_some(first)
    };
    let mut latency = us_histogram();
    let mut uncorrected = us_histogram();
    let mut connect = us_histogram();
    for log in logs {
        // NOTE(ok): same bounds everywhere.
        let _ = latency.add(&log.latency);
        let _ = uncorrected.add(&log.uncorrected);
        let _ = connect.add(&log.connect);
    }
    let mode = same("mode");
    let stream = mode.as_deref() == Some("stream");
    // Round trips: the summaries', or each log's latency count (one per round trip).
    let round_trips = sum_u("round_trips")
        .or_else(|| (!stream).then(|| logs.iter().map(|l| l.latency.len()).sum()));
    let rt_per_s = round_trips.map(|_| {
        logs.iter()
            .map(|l| {
                let n = l
                    .get("round_trips")
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(l.latency.len());
                let secs = l
                    .get("secs")
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(l.secs);
                n as f64 / secs.max(f64::MIN_POSITIVE)
            })
            .sum()
    });
    let secs = logs.iter().map(|l| l.secs).fold(0.0, f64::max);
    Report {
        mode: mode.clone(),
        proto: same("proto"),
        conns: sum_u("conns"),
        secs,
        size: same("size").and_then(|s| s.parse().ok()),
        round_trips: if stream { None } else { round_trips },
        rt_per_s: if stream { None } else { rt_per_s },
        mb_per_s: sum_f("mb_per_s"),
        sent_mb_per_s: None,
        held: sum_u("held"),
        failed: sum_u("failed"),
        connect_per_s: sum_f("connect_per_s"),
        latency: Latency::scaled(&latency, 1.0),
        latency_uncorrected: Latency::scaled(&uncorrected, 1.0),
        connect_latency: Latency::scaled(&connect, 1.0),
        threads: sum_u("threads"),
        errors: sum_u("errors"),
        mismatches: sum_u("mismatches"),
        lost: sum_u("lost"),
        first_problem: None,
        interrupted: false,
        interval: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::stats::{Counts, Latencies};
    use proptest::prelude::*;

    fn second(index: u64, latencies_ns: &[u64]) -> Second {
        let mut l = Latencies::new();
        for ns in latencies_ns {
            l.latency.saturating_record(*ns);
            l.uncorrected.saturating_record(*ns / 2 + 1);
        }
        Second {
            index,
            end: index as f64 + 1.0,
            counts: Counts::default(),
            latencies: l,
        }
    }

    proptest! {
        #[test]
        fn a_written_log_reads_back(seconds in prop::collection::vec(
            prop::collection::vec(1_000u64..10_000_000_000, 0..50), 1..5)
        ) {
            let mut writer = HlogWriter::new(SystemTime::now(), false);
            for (i, values) in seconds.iter().enumerate() {
                writer.second(&second(i as u64, values)).unwrap();
            }
            let report = merge(&[]);
            let log = read(&writer.finish(&report)).unwrap();
            let count: usize = seconds.iter().map(Vec::len).sum();
            prop_assert_eq!(log.latency.len(), count as u64);
            prop_assert_eq!(log.uncorrected.len(), count as u64);
            prop_assert!((log.secs - seconds.len() as f64).abs() < 1e-6);
            if let Some(max) = seconds.iter().flatten().max() {
                let us = (*max as f64 / 1000.0).round();
                // Two 3-digit histograms (nanoseconds, then microseconds): 0.1 % each.
                prop_assert!((log.latency.max() as f64 - us).abs() <= us * 0.002 + 1.0);
            }
        }

        #[test]
        fn any_bytes_are_read_or_refused_without_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = read(&bytes);
        }

        #[test]
        fn a_damaged_log_is_refused_or_read_without_a_panic(cut in 0usize..2000, flip in 0usize..2000) {
            let mut writer = HlogWriter::new(SystemTime::now(), true);
            writer.second(&second(0, &[5_000, 70_000, 900_000])).unwrap();
            let mut bytes = writer.finish(&merge(&[]));
            if !bytes.is_empty() {
                let at = flip % bytes.len();
                bytes[at] ^= 0x41;
            }
            bytes.truncate(cut.min(bytes.len()));
            let _ = read(&bytes);
        }
    }

    #[test]
    fn the_summary_comment_comes_back_for_merge() {
        let mut writer = HlogWriter::new(SystemTime::now(), false);
        writer.second(&second(0, &[10_000, 20_000])).unwrap();
        let mut report = merge(&[]);
        report.mode = Some("pingpong".into());
        report.round_trips = Some(2);
        report.errors = Some(0);
        report.conns = Some(5);
        report.lost = None;
        let log = read(&writer.finish(&report)).unwrap();
        assert_eq!(log.get("mode"), Some("pingpong"));
        assert_eq!(log.get("lost"), None);
        let merged = merge(&[log]);
        assert_eq!(
            (merged.round_trips, merged.conns, merged.errors),
            (Some(2), Some(5), Some(0))
        );
        assert_eq!(merged.latency.map(|l| l.max), Some(20.0));
    }

    #[test]
    fn hgrm_rows_end_at_the_maximum() {
        let mut h = crate::bench::stats::histogram();
        for ns in [1_000_000u64, 2_000_000, 3_000_000] {
            h.record(ns).unwrap();
        }
        let text = hgrm(&h);
        let last_row = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap();
        assert!(last_row.trim_start().starts_with("3.00"), "{text}");
        assert!(last_row.contains("1.000000000000"), "{text}");
        assert!(
            text.contains("#[Max     =        3.002, Total count    =            3]")
                || text.contains("Total count    =            3]"),
            "{text}"
        );
    }
}
