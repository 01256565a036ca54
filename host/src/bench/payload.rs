//! What is sent: bytes that differ from message to message and from connection to
//! connection, so that a stale, reordered or another connection's echo is caught byte by
//! byte. A message is a short head naming its connection and number (so no two messages of
//! a run are equal), then a slice of one fixed pseudo-random pattern of printable bytes
//! (servers that decode text see text), then `\n`. The slice is one of [`BODIES`] per
//! connection (chosen by a hash of the connection and the slice's number), taken in turn:
//! the previous message's bytes differ from this one's nearly everywhere, and a connection
//! keeps its messages stamped in place ([`Outbox`]), rewriting only the head each time.
//! Sending and checking never allocate.

/// Pattern period: a prime, so offsets of different connections never line up.
const PERIOD: usize = 1_048_573;
/// Largest message or write: the pattern is this much longer than its period, so any slice
/// of up to this many bytes from any offset below the period is contiguous.
pub const MAX_SIZE: usize = 1 << 20;

/// The shared pattern; built once before any clock starts.
#[derive(Debug)]
pub struct Pattern {
    bytes: Vec<u8>,
}

/// Longest head: `{conn:x}.{n:x}.` with a connection number below 2^32 and any message
/// number.
const HEAD: usize = 8 + 1 + 16 + 1;

/// One pingpong message of `size` bytes: a head naming its connection and number
/// (`1f.2a0.`, hex, each ended by `.`), then the pattern from `offset`, then `\n` (so a
/// line-logging server logs one record per message). The head is prefix-free, so two
/// messages of one size whose heads fit (`size` > 26 bytes, or the numbers are small
/// enough) differ inside it: no two messages of a run are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    head: [u8; HEAD],
    /// Head bytes sent (the head cut to `size - 1`).
    head_len: u8,
    /// Where the number's digits begin in `head`, and the whole head's length.
    number_at: u8,
    head_end: u8,
    offset: u32,
    /// The offsets of the connection's bodies, message `n` taking `n % BODIES`'s.
    offsets: [u32; BODIES],
    size: u32,
    conn: u32,
    n: u64,
}

impl Message {
    /// Its number in its connection.
    pub fn number(&self) -> u64 {
        self.n
    }

    /// Becomes the connection's next message (what [`Pattern::message`] makes for
    /// `n + 1`) by counting up the hex digits in place: per message, no formatting.
    #[inline]
    pub fn advance(&mut self) {
        let n = self.n.wrapping_add(1);
        let first = self.number_at as usize;
        // The last digit is before the final `.`.
        let mut i = self.head_end as usize - 2;
        loop {
            match self.head[i] {
                b'f' if i == first => {
                    // One more digit (or the wrap to 0): made anew.
                    *self = Pattern::message(self.conn as usize, n, self.size as usize);
                    return;
                }
                b'f' => {
                    self.head[i] = b'0';
                    i -= 1;
                }
                b'9' => {
                    self.head[i] = b'a';
                    break;
                }
                digit => {
                    self.head[i] = digit + 1;
                    break;
                }
            }
        }
        self.n = n;
        // NOTE(as): below BODIES.
        self.offset = self.offsets[(n % BODIES as u64) as usize];
    }
}

/// How many bytes of `got` differ from `expected` (what was sent at their positions; of
/// the same length): one comparison when none does.
#[inline(always)]
pub fn wrong_bytes(expected: &[u8], got: &[u8]) -> u64 {
    if got == expected {
        0
    } else {
        count_wrong(expected, got)
    }
}

#[cold]
fn count_wrong(expected: &[u8], got: &[u8]) -> u64 {
    got.iter().zip(expected).filter(|(a, b)| a != b).count() as u64
        + got.len().abs_diff(expected.len()) as u64
}

/// A mixing function (splitmix64's finaliser): nearby inputs give unrelated outputs.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The seed of connection (or socket) number `index`.
pub fn seed(index: usize) -> u64 {
    mix(index as u64 ^ 0x5EED_0000_0000_0000)
}

/// Writes `x` in lowercase hex then `.` at `out[at..]`; returns the new end.
fn hex_then_dot(out: &mut [u8; HEAD], mut at: usize, x: u64) -> usize {
    let digits = (64 - x.leading_zeros()).div_ceil(4).max(1) as usize;
    for i in (0..digits).rev() {
        // NOTE(as): a nibble.
        out[at] = b"0123456789abcdef"[((x >> (4 * i)) & 0xf) as usize];
        at += 1;
    }
    out[at] = b'.';
    at + 1
}

/// Bodies of a connection's messages, taken in turn: two make consecutive messages differ
/// (a stale echo of the last one, or of a buffer the server did not refill, is caught).
pub const BODIES: usize = 2;

/// Where message `n` of the connection with `seed` takes its body from the pattern.
fn offset(seed: u64, n: u64) -> u32 {
    // NOTE(as): below PERIOD, far below u32::MAX.
    (mix(seed ^ mix(n % BODIES as u64)) % PERIOD as u64) as u32
}

/// A connection's messages, stamped in place: one buffer per body ([`BODIES`]), used in
/// turn; a buffer that held the message [`BODIES`] before keeps its body, so only the head
/// is written anew (no copy of the pattern per message).
#[derive(Debug)]
pub struct Outbox {
    bufs: Box<[u8]>,
    size: usize,
    /// Head length each buffer was stamped with (0: not yet); which one is current.
    heads: [u8; BODIES],
    current: usize,
}

impl Outbox {
    pub fn new(size: usize) -> Outbox {
        Outbox {
            bufs: vec![0; size * BODIES].into_boxed_slice(),
            size,
            heads: [0; BODIES],
            current: 0,
        }
    }

    /// Makes `message` (of this outbox's size) the current one.
    #[inline(always)]
    pub fn stamp(&mut self, pattern: &Pattern, message: &Message) {
        // NOTE(as): below BODIES.
        let k = (message.n % BODIES as u64) as usize;
        self.current = k;
        let buf = &mut self.bufs[k * self.size..(k + 1) * self.size];
        let head = message.head_len as usize;
        if self.size > HEAD && self.heads[k] == message.head_len {
            // The same body after a head of the same length: only the head changes.
            buf[..head].copy_from_slice(&message.head[..head]);
        } else {
            pattern.stamp(message, buf);
            self.heads[k] = message.head_len;
        }
    }

    /// The current message's bytes.
    #[inline(always)]
    pub fn bytes(&self) -> &[u8] {
        &self.bufs[self.current * self.size..(self.current + 1) * self.size]
    }
}

impl Pattern {
    /// Builds the pattern (about 2 MiB, printable ASCII `!`..=`~`, no newline).
    pub fn new() -> Pattern {
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let mut bytes = Vec::with_capacity(PERIOD + MAX_SIZE);
        for _ in 0..PERIOD {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.push(b'!' + (x % 94) as u8);
        }
        // Then the period again, as far as needed (copies, not a modulo per byte).
        while bytes.len() < PERIOD + MAX_SIZE {
            let take = PERIOD.min(PERIOD + MAX_SIZE - bytes.len());
            bytes.extend_from_within(..take);
        }
        Pattern { bytes }
    }

    /// Message number `n` of connection `conn`; `size` is 1..=[`MAX_SIZE`].
    pub fn message(conn: usize, n: u64, size: usize) -> Message {
        let mut head = [0u8; HEAD];
        // NOTE(as): connection numbers are below 10^8 (the `-c` cap).
        let end = hex_then_dot(&mut head, 0, conn as u64 & 0xffff_ffff);
        let number_at = end;
        let end = hex_then_dot(&mut head, end, n);
        // NOTE(as): heads are at most HEAD bytes; sizes at most MAX_SIZE.
        Message {
            head,
            head_len: end.min(size.saturating_sub(1)) as u8,
            number_at: number_at as u8,
            head_end: end as u8,
            offset: offset(seed(conn), n),
            offsets: std::array::from_fn(|k| offset(seed(conn), k as u64)),
            size: size as u32,
            conn: conn as u32,
            n,
        }
    }

    /// The bytes of `message` from position `from` on (< its size), as three slices
    /// (head, body, newline).
    pub fn tail<'m>(&'m self, message: &'m Message, from: usize) -> [&'m [u8]; 3] {
        let head = &message.head[..message.head_len as usize];
        let body_len = message.size as usize - 1 - head.len();
        let start = message.offset as usize;
        let body = &self.bytes[start..start + body_len];
        let skip_head = from.min(head.len());
        let skip_body = (from - skip_head).min(body.len());
        let skip_newline = from - skip_head - skip_body;
        [
            &head[skip_head..],
            &body[skip_body..],
            &b"\n"[skip_newline.min(1)..],
        ]
    }

    /// The bytes of `message` from position `from` on, copied into `buf` (at least the
    /// message's size): one contiguous buffer for a plain `send` (cheaper than a vectored
    /// write of the parts).
    #[inline]
    pub fn bytes_from<'b>(&self, message: &Message, from: usize, buf: &'b mut [u8]) -> &'b [u8] {
        let size = message.size as usize;
        if from == 0 && size > HEAD {
            self.stamp(message, &mut buf[..size]);
            return &buf[..size];
        }
        let mut at = 0;
        for part in self.tail(message, from) {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        &buf[..at]
    }

    /// Writes `message` whole into `buf` (exactly its size): what a connection sends, and
    /// what its echo is checked against (see [`wrong_bytes`]).
    #[inline(always)]
    pub fn stamp(&self, message: &Message, buf: &mut [u8]) {
        let size = message.size as usize;
        if size <= HEAD || buf.len() != size {
            return self.stamp_parts(message, buf);
        }
        // The usual case, a message longer than any head: the head as one fixed-size copy
        // (what it leaves past its length the body overwrites), the body as one more.
        let head = message.head_len as usize;
        let start = message.offset as usize;
        buf[..HEAD].copy_from_slice(&message.head);
        buf[head..size - 1].copy_from_slice(&self.bytes[start..start + size - 1 - head]);
        buf[size - 1] = b'\n';
    }

    #[cold]
    fn stamp_parts(&self, message: &Message, buf: &mut [u8]) {
        let mut at = 0;
        for part in self.tail(message, 0) {
            let take = part.len().min(buf.len() - at);
            buf[at..at + take].copy_from_slice(&part[..take]);
            at += take;
        }
    }

    /// The whole message in `buf` (for a datagram, which must be one buffer).
    pub fn fill<'b>(&self, message: &Message, buf: &'b mut [u8]) -> &'b [u8] {
        self.bytes_from(message, 0, buf)
    }

    /// How many bytes of `got`, the echo of `message` from position `from`, are wrong.
    #[inline]
    pub fn mismatches(&self, message: &Message, from: usize, got: &[u8]) -> u64 {
        let size = message.size as usize;
        if from == 0 && got.len() == size {
            // The usual case, a whole echo at once: right unless a part differs.
            let head = message.head_len as usize;
            let start = message.offset as usize;
            if got[..head] == message.head[..head]
                && got[head..size - 1] == self.bytes[start..start + size - 1 - head]
                && got[size - 1] == b'\n'
            {
                return 0;
            }
        }
        let mut wrong = 0;
        let mut rest = got;
        for part in self.tail(message, from) {
            let (now, later) = rest.split_at(rest.len().min(part.len()));
            if now != &part[..now.len()] {
                wrong += now.iter().zip(part).filter(|(a, b)| a != b).count() as u64;
            }
            rest = later;
        }
        wrong
    }

    /// Stream mode: the `len` bytes (<= [`MAX_SIZE`]) at stream position `pos` of the
    /// connection with `seed`.
    pub fn stream(&self, seed: u64, pos: u64, len: usize) -> &[u8] {
        let start = (seed % PERIOD as u64 + pos % PERIOD as u64) as usize % PERIOD;
        &self.bytes[start..start + len]
    }

    /// How many bytes of `got` differ from the stream at `pos`.
    pub fn stream_mismatches(&self, seed: u64, pos: u64, got: &[u8]) -> u64 {
        let expected = self.stream(seed, pos, got.len());
        if got == expected {
            return 0;
        }
        got.iter().zip(expected).filter(|(a, b)| a != b).count() as u64
    }
}

impl Default for Pattern {
    fn default() -> Self {
        Pattern::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn bytes(pattern: &Pattern, message: &Message) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_SIZE];
        pattern.fill(message, &mut buf).to_vec()
    }

    #[test]
    fn messages_name_their_connection_and_number_and_end_in_a_newline() {
        let pattern = Pattern::new();
        let first = bytes(&pattern, &Pattern::message(0x1f, 0x2a0, 64));
        assert!(first.starts_with(b"1f.2a0."));
        assert_eq!(first.len(), 64);
        assert_eq!(first.last(), Some(&b'\n'));
        assert!(!first[..63].contains(&b'\n'));
    }

    #[test]
    fn no_two_messages_of_a_run_are_equal() {
        // The birthday case of the old hashed offsets: many connections, many messages.
        let pattern = Pattern::new();
        let mut seen = HashSet::new();
        for conn in 0..200 {
            for n in 0..500 {
                assert!(seen.insert(bytes(&pattern, &Pattern::message(conn, n, 32))));
            }
        }
        // Prefix-free heads: "1.23." and "12.3." differ, as do "1.2." and "1.23.".
        let a = bytes(&pattern, &Pattern::message(1, 0x23, 27));
        let b = bytes(&pattern, &Pattern::message(0x12, 3, 27));
        assert_ne!(a, b);
    }

    #[test]
    fn heads_are_the_hex_of_connection_and_number() {
        let pattern = Pattern::new();
        let mut values = vec![0, 1, 9, 10, 15, 16, 0xff, 0x100, u64::MAX, u64::MAX - 1];
        values.extend((0..64).map(|bit| 1u64 << bit));
        values.extend((0..64).map(|bit| (1u64 << bit) - 1));
        values.extend((0..2000).map(mix));
        for &n in &values {
            let conn = (mix(n ^ 1) & 0xffff_ffff) as usize;
            let expected = format!("{conn:x}.{n:x}.");
            let got = bytes(&pattern, &Pattern::message(conn, n, 64));
            assert_eq!(
                &got[..expected.len()],
                expected.as_bytes(),
                "{conn:x} {n:x}"
            );
        }
    }

    #[test]
    fn advancing_a_message_makes_the_next_one() {
        let mut starts = vec![0, 1, 8, 9, 10, 14, 15, 0xfe, 0xff, 0xfff, 0x1234_5fff];
        starts.extend([u64::MAX - 2, (1u64 << 60) - 2]);
        for conn in [0, 1, 0xf, 0x10, 0xabc, 0xffff_ffff] {
            for size in [1, 2, 5, 12, 27, 64] {
                for &start in &starts {
                    let mut message = Pattern::message(conn, start, size);
                    for n in start.wrapping_add(1)..=start.saturating_add(3) {
                        message.advance();
                        assert_eq!(message, Pattern::message(conn, n, size), "{conn} {n}");
                    }
                }
            }
        }
        let mut last = Pattern::message(7, u64::MAX, 64);
        last.advance();
        assert_eq!(last, Pattern::message(7, 0, 64));
    }

    #[test]
    fn mismatches_count_wrong_bytes_from_any_position() {
        let pattern = Pattern::new();
        let message = Pattern::message(3, 7, 10);
        let mut bytes = bytes(&pattern, &message);
        assert_eq!(pattern.mismatches(&message, 0, &bytes), 0);
        for from in 0..10 {
            assert_eq!(pattern.mismatches(&message, from, &bytes[from..]), 0);
            assert_eq!(pattern.tail(&message, from).concat(), bytes[from..]);
        }
        bytes[2] ^= 1;
        bytes[9] = b'x';
        assert_eq!(pattern.mismatches(&message, 0, &bytes), 2);
        // Another connection's message of the same size differs.
        assert!(pattern.mismatches(&Pattern::message(4, 7, 10), 0, &bytes) > 0);
    }

    #[test]
    fn whole_messages_and_echoes_of_any_size_match_their_parts() {
        let pattern = Pattern::new();
        for size in [1, 2, 25, 26, 27, 28, 64, 1000] {
            let message = Pattern::message(0x3a, 0x1234_5678_9abc, size);
            let whole = bytes(&pattern, &message);
            assert_eq!(whole, pattern.tail(&message, 0).concat(), "{size}");
            assert_eq!(pattern.mismatches(&message, 0, &whole), 0);
            // One wrong byte anywhere (head, body, newline) counts as one.
            for at in 0..size {
                let mut echo = whole.clone();
                echo[at] ^= 0x20;
                assert_eq!(pattern.mismatches(&message, 0, &echo), 1, "{size} {at}");
            }
        }
    }

    #[test]
    fn a_stamped_message_is_the_message_and_its_echo_is_checked_against_it() {
        let pattern = Pattern::new();
        for size in [1, 2, 25, 26, 27, 28, 64, 4096] {
            let mut message = Pattern::message(0x3a, 0xfffe, size);
            let mut buf = vec![0xffu8; size];
            for _ in 0..3 {
                pattern.stamp(&message, &mut buf);
                assert_eq!(buf, pattern.tail(&message, 0).concat(), "{size}");
                assert_eq!(wrong_bytes(&buf, &buf.clone()), 0);
                // Checked piece by piece, from any position, as the reads come.
                for at in 0..size {
                    let mut echo = buf.clone();
                    echo[at] ^= 0x20;
                    assert_eq!(wrong_bytes(&buf[at..], &echo[at..]), 1, "{size} {at}");
                    assert_eq!(wrong_bytes(&buf[..at], &echo[..at]), 0, "{size} {at}");
                }
                // The next message, stamped over this one, differs from it (where its head
                // fits: a 1-byte message is a newline).
                message.advance();
                let before = buf.clone();
                pattern.stamp(&message, &mut buf);
                assert_eq!(wrong_bytes(&before, &buf) > 0, size > 10, "{size}");
            }
        }
    }

    #[test]
    fn an_outbox_holds_each_message_as_stamped_anew_would_be() {
        let pattern = Pattern::new();
        for size in [1, 5, 27, 40, 300] {
            for start in [0, 0xd, 0xfd, u64::MAX - 3] {
                let mut outbox = Outbox::new(size);
                let mut message = Pattern::message(0x7, start, size);
                let mut previous: Option<Vec<u8>> = None;
                for _ in 0..6 {
                    outbox.stamp(&pattern, &message);
                    let fresh = Pattern::message(0x7, message.number(), size);
                    assert_eq!(
                        outbox.bytes(),
                        bytes(&pattern, &fresh),
                        "{size} {message:?}"
                    );
                    if let (Some(before), true) = (&previous, size > 30) {
                        // The body alternates: most bytes differ from the last message's.
                        assert!(wrong_bytes(before, outbox.bytes()) as usize > size / 2);
                    }
                    previous = Some(outbox.bytes().to_vec());
                    message.advance();
                }
            }
        }
    }

    #[test]
    fn the_pattern_repeats_its_period() {
        let pattern = Pattern::new();
        assert_eq!(pattern.bytes.len(), PERIOD + MAX_SIZE);
        for i in (0..MAX_SIZE).step_by(997).chain(MAX_SIZE - 4..MAX_SIZE) {
            assert_eq!(pattern.bytes[PERIOD + i], pattern.bytes[i % PERIOD], "{i}");
        }
    }

    #[test]
    fn short_messages_cut_the_head() {
        let pattern = Pattern::new();
        let message = Pattern::message(0, 0, 1);
        assert_eq!(pattern.tail(&message, 0).concat(), b"\n");
        assert_eq!(pattern.mismatches(&message, 0, b"\n"), 0);
        assert_eq!(pattern.mismatches(&message, 0, b"x"), 1);
        assert_eq!(bytes(&pattern, &Pattern::message(0xabc, 5, 4)), b"abc\n");
    }

    #[test]
    fn streams_of_two_connections_differ() {
        let pattern = Pattern::new();
        let a = pattern.stream(seed(0), 1000, 256);
        assert_ne!(a, pattern.stream(seed(1), 1000, 256));
        assert_eq!(pattern.stream_mismatches(seed(0), 1000, a), 0);
        // Shifted by one byte (a lost or duplicated byte): nearly every byte is wrong.
        assert!(pattern.stream_mismatches(seed(0), 1001, a) > 200);
    }
}
