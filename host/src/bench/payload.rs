//! What is sent: bytes that differ from message to message and from connection to
//! connection, so that a stale, reordered or another connection's echo is caught byte by
//! byte. Every message is a slice of one fixed pseudo-random pattern of printable bytes
//! (servers that decode text see text), chosen by a hash of the connection's seed and the
//! message number, so sending and checking never allocate or generate anything.

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

/// One pingpong message: `size` bytes, the pattern from `offset` and then `\n` (so a
/// line-logging server logs one record per message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    offset: u32,
    size: u32,
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
        for i in 0..MAX_SIZE {
            bytes.push(bytes[i % PERIOD]);
        }
        Pattern { bytes }
    }

    /// Message number `n` of the connection with `seed`; `size` is 1..=[`MAX_SIZE`].
    pub fn message(seed: u64, n: u64, size: usize) -> Message {
        let offset = mix(seed ^ mix(n)) % PERIOD as u64;
        Message {
            // NOTE(as): below PERIOD and MAX_SIZE, both far below u32::MAX.
            offset: offset as u32,
            size: size as u32,
        }
    }

    /// The bytes of `message` from position `from` on, as two slices (body, newline) ready
    /// for a vectored write; `from` < the message's size.
    pub fn tail(&self, message: Message, from: usize) -> [&[u8]; 2] {
        let body = message.size as usize - 1;
        let start = message.offset as usize;
        if from < body {
            [&self.bytes[start + from..start + body], b"\n"]
        } else {
            [b"\n", &[]]
        }
    }

    /// The bytes of `message` from position `from` on, copied into `buf` (at least the
    /// message's size): one contiguous buffer for a plain `send` (cheaper than a vectored
    /// write of the two parts).
    pub fn bytes_from<'b>(&self, message: Message, from: usize, buf: &'b mut [u8]) -> &'b [u8] {
        let [body, newline] = self.tail(message, from);
        buf[..body.len()].copy_from_slice(body);
        buf[body.len()..body.len() + newline.len()].copy_from_slice(newline);
        &buf[..body.len() + newline.len()]
    }

    /// The whole message in `buf` (for a datagram, which must be one buffer).
    pub fn fill<'b>(&self, message: Message, buf: &'b mut [u8]) -> &'b [u8] {
        let size = message.size as usize;
        let start = message.offset as usize;
        buf[..size - 1].copy_from_slice(&self.bytes[start..start + size - 1]);
        buf[size - 1] = b'\n';
        &buf[..size]
    }

    /// How many bytes of `got`, the echo of `message` from position `from`, are wrong.
    pub fn mismatches(&self, message: Message, from: usize, got: &[u8]) -> u64 {
        let [body, newline] = self.tail(message, from);
        let (got_body, got_rest) = got.split_at(got.len().min(body.len()));
        if got_body == &body[..got_body.len()] && got_rest == &newline[..got_rest.len()] {
            return 0;
        }
        let expected = body.iter().chain(newline);
        got.iter().zip(expected).filter(|(a, b)| a != b).count() as u64
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

    #[test]
    fn messages_end_in_a_newline_and_differ() {
        let pattern = Pattern::new();
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        let first = pattern
            .fill(Pattern::message(seed(0), 0, 64), &mut a)
            .to_vec();
        assert_eq!(first.last(), Some(&b'\n'));
        assert!(!first[..63].contains(&b'\n'));
        let next = pattern
            .fill(Pattern::message(seed(0), 1, 64), &mut b)
            .to_vec();
        let other = pattern
            .fill(Pattern::message(seed(1), 0, 64), &mut b)
            .to_vec();
        assert_ne!(first, next);
        assert_ne!(first, other);
    }

    #[test]
    fn mismatches_count_wrong_bytes_from_any_position() {
        let pattern = Pattern::new();
        let message = Pattern::message(seed(3), 7, 10);
        let mut buf = [0u8; 10];
        let mut bytes = pattern.fill(message, &mut buf).to_vec();
        assert_eq!(pattern.mismatches(message, 0, &bytes), 0);
        assert_eq!(pattern.mismatches(message, 4, &bytes[4..]), 0);
        assert_eq!(pattern.mismatches(message, 9, b"\n"), 0);
        bytes[2] ^= 1;
        bytes[9] = b'x';
        assert_eq!(pattern.mismatches(message, 0, &bytes), 2);
        let [body, newline] = pattern.tail(message, 3);
        assert_eq!(
            [body, newline].concat(),
            pattern.fill(message, &mut buf)[3..]
        );
    }

    #[test]
    fn a_one_byte_message_is_a_newline() {
        let pattern = Pattern::new();
        let message = Pattern::message(seed(0), 0, 1);
        assert_eq!(pattern.tail(message, 0), [b"\n" as &[u8], &[]]);
        assert_eq!(pattern.mismatches(message, 0, b"\n"), 0);
        assert_eq!(pattern.mismatches(message, 0, b"x"), 1);
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
