//! The log ring against a fake UART that takes a few bytes a call, or stalls.

use std::string::String;
use std::vec::Vec;

use echo_core::record::{Event, Record};
use echo_core::service::Log;
use echo_core::time::{Instant, Timestamp};
use proptest::prelude::*;

use super::{Drained, LogRing};

/// A serial port that takes at most `per_call` bytes per call, none while `stalled`.
struct FakeUart {
    out: Vec<u8>,
    per_call: usize,
    stalled: bool,
}

impl FakeUart {
    fn new(per_call: usize) -> Self {
        FakeUart {
            out: Vec::new(),
            per_call,
            stalled: false,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> usize {
        if self.stalled {
            return 0;
        }
        let n = bytes.len().min(self.per_call);
        self.out.extend_from_slice(&bytes[..n]);
        n
    }

    /// The lines written so far, each parsed as one JSON object.
    fn records(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.out.clone()).expect("UTF-8");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "a cut record: {text:?}"
        );
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }
}

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_unix_millis(ms)
}

/// Writes an `echo` record whose message is `msg`.
fn echo(log: &mut impl Log, ms: u64, msg: &str) {
    let r = Record {
        conn: Some(1),
        msg: Some(msg.as_bytes()),
        ..Record::event(ts(ms), Event::Echo)
    };
    log.write(&r);
}

/// Drains until the ring is empty or the UART refuses.
fn drain_all<const N: usize>(log: &mut LogRing<N>, uart: &mut FakeUart, ms: u64) -> Drained {
    loop {
        let d = log.drain(Instant::from_millis(ms), 64, |b| uart.write(b));
        if !d.more {
            return d;
        }
    }
}

/// The number a drop notice names.
fn notice_count(r: &serde_json::Value) -> Option<u64> {
    let msg = r["msg"].as_str()?;
    let rest = msg.strip_prefix("serial log: ")?;
    let n = rest.strip_suffix(" records dropped: the serial port did not keep up")?;
    n.parse().ok()
}

#[test]
fn records_come_out_whole_and_in_order_through_a_slow_uart() {
    let mut log = LogRing::<1024>::new();
    let mut uart = FakeUart::new(3);
    for i in 0..40 {
        echo(&mut log, i, &std::format!("line {i}"));
        drain_all(&mut log, &mut uart, i);
    }
    let records = uart.records();
    assert_eq!(records.len(), 40);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["msg"], std::format!("line {i}"));
        assert_eq!(r["event"], "echo");
    }
    assert_eq!(log.dropped(), 0);
    assert_eq!(log.queued(), 0);
}

#[test]
fn a_drain_offers_at_most_its_budget_and_says_when_more_is_left() {
    let mut log = LogRing::<1024>::new();
    let mut uart = FakeUart::new(usize::MAX);
    echo(&mut log, 0, "a message longer than ten bytes");
    let d = log.drain(Instant::from_millis(0), 10, |b| uart.write(b));
    assert_eq!(uart.out.len(), 10);
    assert_eq!(
        d,
        Drained {
            more: true,
            refused: false
        }
    );
    drain_all(&mut log, &mut uart, 0);
    assert_eq!(uart.records().len(), 1);
}

#[test]
fn a_stalled_uart_drops_whole_records_counts_them_and_one_notice_follows() {
    let mut log = LogRing::<512>::new();
    let mut uart = FakeUart::new(usize::MAX);
    uart.stalled = true;
    for i in 0..50 {
        echo(&mut log, i, &std::format!("line {i}"));
        let d = log.drain(Instant::from_millis(i), 64, |b| uart.write(b));
        if log.queued() > 0 {
            assert!(d.refused && !d.more, "{d:?}");
        }
    }
    // Never waited for: the writes above returned with the UART stalled.
    assert!(uart.out.is_empty());
    let dropped = log.dropped();
    assert!(dropped > 0 && dropped < 50, "{dropped}");
    // While it stays stalled, records keep being dropped, not queued after the drops.
    echo(&mut log, 60, "while still stalled");
    assert_eq!(log.dropped(), dropped + 1);

    uart.stalled = false;
    drain_all(&mut log, &mut uart, 70);
    echo(&mut log, 80, "after");
    drain_all(&mut log, &mut uart, 80);
    let records = uart.records();
    let notices: Vec<_> = records.iter().filter_map(notice_count).collect();
    assert_eq!(notices, [dropped + 1], "{records:?}");
    let notice = records
        .iter()
        .position(|r| notice_count(r).is_some())
        .expect("the notice");
    assert_eq!(records[notice]["event"], "error");
    assert_eq!(records[notice]["level"], "ERROR");
    assert_eq!(records[notice]["ts"], "1970-01-01T00:00:00.070Z");
    // The records kept are the first ones, in order; the notice comes after them and
    // before anything logged once there was room again.
    let kept = records.len() - 2;
    assert_eq!(kept as u64 + dropped, 50);
    for (i, r) in records[..kept].iter().enumerate() {
        assert_eq!(r["msg"], std::format!("line {i}"));
    }
    assert_eq!(notice, kept);
    assert_eq!(records[kept + 1]["msg"], "after");
    assert_eq!(log.dropped(), dropped + 1, "the total since boot stays");
}

#[test]
fn a_drain_queues_the_notice_once_there_is_room_without_another_record() {
    let mut log = LogRing::<512>::new();
    let mut uart = FakeUart::new(usize::MAX);
    uart.stalled = true;
    while log.dropped() == 0 {
        echo(&mut log, 1, "filling");
    }
    uart.stalled = false;
    drain_all(&mut log, &mut uart, 2);
    // The drain queued the notice (room came back as it wrote): no record had to follow.
    let records = uart.records();
    assert_eq!(
        records.iter().filter_map(notice_count).collect::<Vec<_>>(),
        [1]
    );
}

#[test]
fn a_record_bigger_than_the_ring_is_dropped_and_counted() {
    let mut log = LogRing::<64>::new();
    let mut uart = FakeUart::new(usize::MAX);
    echo(
        &mut log,
        0,
        "this record is longer than sixty-four bytes once formatted",
    );
    assert_eq!(log.dropped(), 1);
    assert_eq!(log.queued(), 0);
    // The notice itself does not fit either: it waits, and nothing is cut.
    drain_all(&mut log, &mut uart, 1);
    assert!(uart.out.is_empty());
}

#[test]
fn only_info_and_above_are_written() {
    use echo_core::record::Level;
    let log = LogRing::<64>::new();
    assert!(log.enabled(Level::Info) && log.enabled(Level::Error));
    assert!(!log.enabled(Level::Debug));
}

proptest! {
    /// Any mix of records and drains through a UART that stalls at random: every record
    /// is either written whole, in order, or counted in a notice that follows it; no line
    /// is ever cut; the count since boot matches.
    #[test]
    fn every_record_is_written_whole_or_counted(
        steps in proptest::collection::vec((0usize..300, 0usize..80, any::<bool>()), 1..200)
    ) {
        let mut log = LogRing::<700>::new();
        let mut uart = FakeUart::new(7);
        for (i, (len, budget, stalled)) in steps.iter().enumerate() {
            let msg: String = std::format!("{i}:{}", "x".repeat(*len));
            echo(&mut log, i as u64, &msg);
            uart.stalled = *stalled;
            let before = uart.out.len();
            log.drain(Instant::from_millis(i as u64), *budget, |b| uart.write(b));
            prop_assert!(uart.out.len() - before <= *budget);
        }
        uart.stalled = false;
        for _ in 0..4 {
            drain_all(&mut log, &mut uart, 10_000);
        }
        let records = uart.records();
        let mut seen = 0u64;
        let mut counted = 0u64;
        let mut last = None;
        for r in &records {
            if let Some(n) = notice_count(r) {
                counted += n;
                continue;
            }
            let msg = r["msg"].as_str().unwrap_or_default();
            let i: usize = msg.split(':').next().unwrap_or_default().parse().unwrap_or(usize::MAX);
            prop_assert!(last.is_none_or(|l| i > l), "out of order: {i} after {last:?}");
            prop_assert_eq!(msg.len(), std::format!("{i}:").len() + steps[i].0);
            last = Some(i);
            seen += 1;
        }
        prop_assert_eq!(seen + counted, steps.len() as u64);
        prop_assert_eq!(counted, log.dropped());
    }
}
