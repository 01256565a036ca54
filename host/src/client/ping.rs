//! Ping mode: timed probes of a fixed size, one line per probe, then statistics like
//! `ping` (sent, received, loss, min/avg/max/p99 round-trip time).

use std::io::{self, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use super::tcp::TcpLink;
use super::udp::UdpLink;
use super::{Config, Error, Failure, Link, Wait, echo_error, stop_on_ctrl_c, stopped};

/// Ping's own options.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many probes to send.
    pub count: u64,
    /// Time from one probe's send to the next (a late echo delays the next probe).
    pub interval: Duration,
    /// Bytes per probe, newline included (at least 1).
    pub size: usize,
    /// Print only the summary.
    pub quiet: bool,
}

/// Sends the probes, prints one line each and the summary; fails if any was lost.
pub fn run(config: &Config, options: &Options) -> Result<(), Error> {
    let (mut conn, peer) = if config.udp {
        UdpLink::check_size(options.size)?;
        let (link, peer) = UdpLink::connect(&config.target)?;
        (Conn::Udp(link), peer)
    } else {
        let (link, peer) = TcpLink::connect(&config.target, config.timeout)?;
        (Conn::Tcp(link), peer)
    };
    if let Err(error) = stop_on_ctrl_c() {
        crate::exit::stderr_line(&format!(
            "echokit client: warning: Ctrl-C will not print the summary: {error}"
        ));
    }
    let mut out = io::stdout().lock();
    let mut stats = Stats::default();
    let mut next_send = Instant::now();
    for seq in 1..=options.count {
        if !pause_until(next_send) {
            break;
        }
        let payload = probe(seq, options.size);
        let start = Instant::now();
        next_send = start + options.interval;
        let result = conn
            .send(&payload)
            .and_then(|()| conn.expect(seq, &payload, Wait::Until(start + config.timeout)));
        let rtt = start.elapsed();
        let line = match &result {
            Ok(()) => format!(
                "{} bytes from {peer}: seq={seq} time={} ms",
                options.size,
                Ms(rtt)
            ),
            Err(Failure::Interrupted) => break,
            // Nothing ever came back and the port is closed: there is no server to ping
            // (exit 2, as over TCP), not a run of lost probes.
            Err(Failure::Refused) if stats.rtts.is_empty() => {
                return Err(echo_error(config, format!("probe {seq}"), Failure::Refused));
            }
            Err(failure @ (Failure::Wrong { .. } | Failure::Long { .. })) => {
                format!("wrong echo from {peer}: seq={seq}: {failure}")
            }
            Err(failure) => format!("no echo from {peer}: seq={seq}: {failure}"),
        };
        stats.record(result.as_ref().ok().map(|()| rtt));
        if !options.quiet {
            writeln!(out, "{line}").map_err(Error::Output)?;
        }
        // A TCP stream that closed or broke carries no more probes.
        if matches!(conn, Conn::Tcp(_))
            && matches!(result, Err(Failure::Closed { .. } | Failure::Io(_)))
        {
            break;
        }
    }
    stats.write_summary(&mut out, peer).map_err(Error::Output)?;
    out.flush().map_err(Error::Output)?;
    match stats.lost() {
        0 => Ok(()),
        lost => Err(Error::Lost {
            lost,
            sent: stats.sent,
        }),
    }
}

/// The probe stream or socket.
enum Conn {
    Tcp(TcpLink),
    Udp(UdpLink),
}

impl Conn {
    fn send(&mut self, payload: &[u8]) -> Result<(), Failure> {
        match self {
            Conn::Tcp(link) => link.send(payload),
            Conn::Udp(link) => link.send(payload),
        }
    }

    /// Waits for probe `seq`'s echo; over UDP, late replies to earlier probes are skipped.
    fn expect(&mut self, seq: u64, payload: &[u8], wait: Wait) -> Result<(), Failure> {
        match self {
            Conn::Tcp(link) => link.expect(payload, wait),
            Conn::Udp(link) => {
                link.expect_skipping(payload, wait, |reply| is_late_reply(reply, seq, payload))
            }
        }
    }
}

/// Sleeps until `when` (in short steps, to notice Ctrl-C); false if Ctrl-C came.
fn pause_until(when: Instant) -> bool {
    const STEP: Duration = Duration::from_millis(20);
    loop {
        if stopped() {
            return false;
        }
        let left = when.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(STEP));
    }
}

/// Probe `seq` of `size` bytes: `SEQ ` then printable filler, then `\n` (no other newline,
/// so a line-based server echoes it as one line). The number lets UDP tell late replies.
pub fn probe(seq: u64, size: usize) -> Vec<u8> {
    const FILLER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut payload = format!("{seq} ").into_bytes();
    payload.extend(
        FILLER
            .iter()
            .cycle()
            .take(size.saturating_sub(payload.len())),
    );
    payload.truncate(size.saturating_sub(1));
    payload.push(b'\n');
    payload
}

/// Whether `reply` is the echo of a probe before `seq` (sent with `payload`), to be skipped.
///
/// A reply equal to `payload` is never late: small probes cut their number short (`--size 2`
/// makes probes 1 and 10 both `1\n`), and such an echo must count for the probe awaited.
fn is_late_reply(reply: &[u8], seq: u64, payload: &[u8]) -> bool {
    reply != payload
        && earlier_seq(reply).is_some_and(|s| s < seq && reply == probe(s, payload.len()))
}

/// The sequence number a probe starts with, if it starts with one.
fn earlier_seq(reply: &[u8]) -> Option<u64> {
    let digits = reply.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&reply[..digits]).ok()?.parse().ok()
}

/// Counts and round-trip times.
#[derive(Debug, Default)]
pub struct Stats {
    sent: u64,
    rtts: Vec<Duration>,
}

impl Stats {
    /// One more probe sent; `rtt` if its echo came back right.
    pub fn record(&mut self, rtt: Option<Duration>) {
        self.sent += 1;
        self.rtts.extend(rtt);
    }

    /// Probes without a right echo.
    pub fn lost(&self) -> u64 {
        self.sent - self.rtts.len() as u64
    }

    /// The `--- HOST:PORT echo statistics ---` block.
    pub fn write_summary(&self, out: &mut impl Write, peer: SocketAddr) -> io::Result<()> {
        let received = self.rtts.len();
        writeln!(out, "--- {peer} echo statistics ---")?;
        writeln!(
            out,
            "{} probes sent, {received} received, {} loss",
            self.sent,
            Percent(self.lost(), self.sent)
        )?;
        if received > 0 {
            let mut sorted = self.rtts.clone();
            sorted.sort_unstable();
            let total: Duration = sorted.iter().sum();
            let avg = total / u32::try_from(received).unwrap_or(u32::MAX);
            // Nearest rank: the smallest time at or above 99 % of the samples.
            let p99 = sorted[(received * 99).div_ceil(100) - 1];
            writeln!(
                out,
                "rtt min/avg/max/p99 = {}/{}/{}/{} ms",
                Ms(sorted[0]),
                Ms(avg),
                Ms(sorted[received - 1]),
                Ms(p99)
            )?;
        }
        Ok(())
    }
}

/// Milliseconds with microsecond resolution: `0.123`.
struct Ms(Duration);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let micros = self.0.as_micros();
        write!(f, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

/// `part` of `whole` as a percentage: whole numbers plain, others with one decimal, and
/// never rounded to `0%` or `100%` when it is not exactly that.
struct Percent(u64, u64);

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Percent(part, whole) = *self;
        if whole == 0 || (part * 100) % whole == 0 {
            return write!(f, "{}%", (part * 100).checked_div(whole).unwrap_or(0));
        }
        let percent = part as f64 * 100.0 / whole as f64;
        match percent {
            p if p < 0.1 => write!(f, "<0.1%"),
            p if p > 99.9 => write!(f, ">99.9%"),
            p => write!(f, "{p:.1}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(rtts_micros: &[u64], sent: u64) -> String {
        let mut stats = Stats::default();
        for &micros in rtts_micros {
            stats.record(Some(Duration::from_micros(micros)));
        }
        for _ in rtts_micros.len() as u64..sent {
            stats.record(None);
        }
        let mut out = Vec::new();
        let peer: SocketAddr = "127.0.0.1:7777".parse().unwrap();
        stats.write_summary(&mut out, peer).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn summary_gives_min_avg_max_p99() {
        assert_eq!(
            summary(&[140, 81, 102, 85], 4),
            "--- 127.0.0.1:7777 echo statistics ---\n\
             4 probes sent, 4 received, 0% loss\n\
             rtt min/avg/max/p99 = 0.081/0.102/0.140/0.140 ms\n"
        );
    }

    #[test]
    fn p99_is_nearest_rank() {
        // 1..=200 µs: the 198th smallest is the p99 (ceil(0.99 * 200) = 198).
        let rtts: Vec<u64> = (1..=200).rev().collect();
        assert!(summary(&rtts, 200).ends_with("= 0.001/0.100/0.200/0.198 ms\n"));
    }

    #[test]
    fn loss_is_counted_and_never_rounded_away() {
        assert!(summary(&[100], 3).contains("3 probes sent, 1 received, 66.7% loss\n"));
        assert!(summary(&[], 2).contains("2 probes sent, 0 received, 100% loss\n"));
        assert!(!summary(&[], 2).contains("rtt"));
        let many = vec![50; 1999];
        assert!(summary(&many, 2000).contains("2000 probes sent, 1999 received, <0.1% loss"));
    }

    #[test]
    fn probes_have_the_size_asked_and_one_newline() {
        for size in [1, 2, 3, 10, 64, 1000] {
            let payload = probe(123, size);
            assert_eq!(payload.len(), size);
            assert_eq!(payload.iter().filter(|&&b| b == b'\n').count(), 1);
            assert_eq!(payload.last(), Some(&b'\n'));
        }
        assert_eq!(probe(7, 8), b"7 abcde\n");
        assert_eq!(earlier_seq(&probe(42, 64)), Some(42));
        assert_eq!(earlier_seq(b"\n"), None);
    }

    #[test]
    fn only_echoes_of_earlier_probes_are_late() {
        assert!(is_late_reply(&probe(3, 64), 5, &probe(5, 64)));
        assert!(!is_late_reply(&probe(5, 64), 5, &probe(5, 64)));
        assert!(!is_late_reply(&probe(6, 64), 5, &probe(5, 64)));
        assert!(!is_late_reply(b"3 garbage\n", 5, &probe(5, 64)));
        // Probes 1 and 10 of 2 bytes are both `1\n`: the echo of probe 10 is on time.
        assert_eq!(probe(10, 2), probe(1, 2));
        assert!(!is_late_reply(&probe(10, 2), 10, &probe(10, 2)));
    }
}
