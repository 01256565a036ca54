//! echo-core's hot paths: formatting and parsing an echo record (one per logged line, and
//! millions per archive run), and the echo machine moving bytes with line framing on and off.
//!
//! `cargo bench -p echo-core` (divan; `-- --help` for options).

use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};
use echo_core::echo::{Config, Machine};
use echo_core::record::{Event, Record};
use echo_core::time::{Instant, Timestamp};

fn main() {
    divan::main();
}

/// The record the server writes for one typical line.
fn echo_record(msg: &[u8]) -> Record<'_> {
    Record {
        conn: Some(17),
        peer: Some("127.0.0.1:50512"),
        msg: Some(msg),
        ..Record::event(Timestamp::from_unix_millis(1_795_428_902_123), Event::Echo)
    }
}

/// A typical text line, one that needs escapes (quotes, a tab, non-ASCII), and a line at the
/// default `--max-line` (4096 bytes).
const MESSAGES: [&str; 3] = [
    "Hi There, this is a line of text sent to the echo server",
    "say \"hi\"\tto caf\u{e9} \\ back\r",
    LONG,
];

/// 64 repeats of 64 bytes.
macro_rules! x64 {
    ($s:expr) => {
        concat!($s, $s, $s, $s, $s, $s, $s, $s)
    };
}
const LONG: &str = x64!(x64!(
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do."
));

#[divan::bench(args = MESSAGES)]
fn format_echo_record(bencher: Bencher, msg: &str) {
    let r = echo_record(msg.as_bytes());
    let mut buf = vec![0u8; r.max_formatted_len()];
    let len = r.format(&mut buf).unwrap();
    bencher
        .counter(ItemsCount::new(1usize))
        .counter(BytesCount::new(len))
        .bench_local(|| black_box(&r).format(black_box(&mut buf)));
}

#[divan::bench(args = MESSAGES)]
fn parse_echo_record(bencher: Bencher, msg: &str) {
    let r = echo_record(msg.as_bytes());
    let mut line = vec![0u8; r.max_formatted_len()];
    let len = r.format(&mut line).unwrap();
    line.truncate(len);
    let mut scratch = vec![0u8; len];
    bencher
        .counter(ItemsCount::new(1usize))
        .counter(BytesCount::new(len))
        .bench_local(|| {
            Record::parse(black_box(&line), &mut scratch)
                .map(|r| r.msg.map_or(0, <[u8]>::len))
                .unwrap_or(0)
        });
}

/// Bytes pushed through one machine per iteration.
const STREAM: usize = 256 * 1024;

type Buf = heapless::Vec<u8, 8192>;

/// The machine echoing `STREAM` bytes of `size`-byte lines, each read and sent whole.
#[divan::bench(args = [64, 4096], consts = [true, false])]
fn echo_machine<const FRAME_LINES: bool>(bencher: Bencher, size: usize) {
    let mut message = vec![b'x'; size];
    message[size - 1] = b'\n';
    let config = Config {
        max_line: 4096,
        idle_timeout: None,
        frame_lines: FRAME_LINES,
        flush_after: None,
    };
    let mut m = Machine::new(Instant::ZERO, &config, Buf::new(), Buf::new());
    bencher
        .counter(BytesCount::new(STREAM))
        .bench_local(move || {
            let mut logged = 0usize;
            for _ in 0..STREAM / size {
                let taken = m.handle_input(Instant::ZERO, black_box(&message), |l| {
                    logged += l.bytes.len()
                });
                let out = m.poll_transmit();
                black_box(out);
                let n = out.len();
                m.handle_sent(Instant::ZERO, n);
                debug_assert_eq!(taken, size);
            }
            logged
        });
}
