//! The zero-copy input path (`Machine::handle_input_sent`, used by the host's driver): sending
//! straight from the input whenever nothing is pending gives the same echo, the same log lines
//! and the same stats as queueing everything, under any chunking and send capacity.

mod common;

use common::{Logged, reference_lines};
use echo_core::echo::{Config, Machine};
use echo_core::time::Instant;
use proptest::prelude::*;

type Buf = heapless::Vec<u8, 64>;

/// Runs `input` through a machine the way a driver does: read a chunk of at most the window;
/// when nothing is pending, offer it to the "socket" (`room` bytes this round) first and pass
/// what it took as `sent`; then flush what is pending with the same room.
fn drive(
    input: &[u8],
    chunks: &[usize],
    rooms: &[usize],
    max_line: usize,
) -> (Vec<u8>, Vec<Logged>) {
    let config = Config {
        max_line,
        idle_timeout: None,
        frame_lines: true,
        flush_after: None,
    };
    let mut m: Machine<Buf> = Machine::new(Instant::ZERO, &config, Buf::new(), Buf::new());
    let (mut echoed, mut lines) = (Vec::new(), Vec::new());
    let (mut fed, mut round) = (0, 0);
    while fed < input.len() || !m.poll_transmit().is_empty() {
        assert!(round < 100_000, "no progress");
        let mut room = rooms[round % rooms.len()].max(usize::from(round % 7 == 6));
        let want = chunks[round % chunks.len()].max(1).min(input.len() - fed);
        let chunk = &input[fed..fed + want.min(m.receive_window())];
        let sent = if m.poll_transmit().is_empty() {
            let n = room.min(chunk.len());
            echoed.extend_from_slice(&chunk[..n]);
            room -= n;
            n
        } else {
            0
        };
        let taken = m.handle_input_sent(Instant::ZERO, chunk, sent, |l| {
            lines.push((l.bytes.to_vec(), l.partial))
        });
        assert_eq!(
            taken,
            chunk.len(),
            "a chunk within the window is taken whole"
        );
        fed += taken;
        let out = m.poll_transmit();
        let n = room.min(out.len());
        echoed.extend_from_slice(&out[..n]);
        m.handle_sent(Instant::ZERO, n);
        round += 1;
    }
    let stats = m.handle_close(|l| lines.push((l.bytes.to_vec(), l.partial)));
    assert_eq!(stats.bytes_in, input.len() as u64);
    assert_eq!(stats.bytes_out, input.len() as u64);
    (echoed, lines)
}

fn stream_byte() -> impl Strategy<Value = u8> {
    prop_oneof![3 => b'a'..=b'd', 2 => Just(b'\n'), 1 => Just(b'\r'), 1 => any::<u8>()]
}

proptest! {
    #[test]
    fn zero_copy_echo_and_log_equal_the_plain_path(
        input in prop::collection::vec(stream_byte(), 0..600),
        chunks in prop::collection::vec(0usize..90, 1..8),
        rooms in prop::collection::vec(0usize..90, 1..8),
        max_line in 1usize..40,
    ) {
        let (echoed, lines) = drive(&input, &chunks, &rooms, max_line);
        prop_assert_eq!(&echoed, &input);
        prop_assert_eq!(lines, reference_lines(&input, max_line.min(62)));
    }
}
