//! Time as the core sees it: passed in by the runner, never read from a clock.

use core::fmt;
use core::time::Duration;

/// A point on the runner's monotonic clock, in milliseconds from an arbitrary origin.
///
/// There is deliberately no `now()`: the runner converts its own clock (`std::time::Instant`,
/// `smoltcp::time::Instant`) at the boundary, which keeps the core deterministic and testable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The clock's origin.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant { millis }
    }

    /// Milliseconds since the origin.
    pub const fn millis(self) -> u64 {
        self.millis
    }

    /// The instant a clock ticking `HZ` times a second shows after `ticks` ticks from the
    /// origin, rounded down to the millisecond: how a board reads its timer (SysTick's
    /// 1 kHz count, RISC-V's 10 MHz `mtime`). Every firmware clock converts here.
    #[inline]
    pub const fn from_ticks<const HZ: u64>(ticks: u64) -> Instant {
        const { assert!(HZ > 0, "a clock must tick") };
        let millis = if HZ % 1000 == 0 {
            ticks / (HZ / 1000)
        } else {
            // 128 bits hold `ticks * 1000` exactly; the quotient may not fit 64 bits
            // (a clock slower than 1 kHz), and then saturates.
            let m = ticks as u128 * 1000 / HZ as u128;
            if m > u64::MAX as u128 {
                u64::MAX
            } else {
                // NOTE(as): checked just above.
                m as u64
            }
        };
        Instant { millis }
    }

    /// The first tick of a clock ticking `HZ` times a second at which it reads `self` or
    /// later (saturating): e.g. a timer compare value for a deadline, which then never
    /// fires early. For `HZ` of 1 kHz or more, `from_ticks(at.ticks()) == at`.
    #[inline]
    pub const fn ticks<const HZ: u64>(self) -> u64 {
        const { assert!(HZ > 0, "a clock must tick") };
        if HZ % 1000 == 0 {
            self.millis.saturating_mul(HZ / 1000)
        } else {
            let t = (self.millis as u128 * HZ as u128).div_ceil(1000);
            if t > u64::MAX as u128 {
                u64::MAX
            } else {
                // NOTE(as): checked just above.
                t as u64
            }
        }
    }

    /// `self + duration`, saturating at the far future instead of overflowing.
    pub fn saturating_add(self, duration: Duration) -> Instant {
        let add = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        Instant {
            millis: self.millis.saturating_add(add),
        }
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

/// smoltcp's instant (microseconds, signed) as the core's: the same origin, rounded down
/// to the millisecond; an instant before the origin reads as the origin.
#[cfg(feature = "smoltcp")]
impl From<smoltcp::time::Instant> for Instant {
    #[inline]
    fn from(at: smoltcp::time::Instant) -> Instant {
        Instant::from_millis(u64::try_from(at.total_millis()).unwrap_or(0))
    }
}

/// The core's instant as smoltcp's (same origin), saturating where smoltcp's `i64`
/// microseconds end (some 292,000 years on).
#[cfg(feature = "smoltcp")]
impl From<Instant> for smoltcp::time::Instant {
    #[inline]
    fn from(at: Instant) -> smoltcp::time::Instant {
        const MAX_MILLIS: u64 = i64::MAX as u64 / 1000;
        // NOTE(as): at most `i64::MAX / 1000`.
        smoltcp::time::Instant::from_millis_const(if at.millis > MAX_MILLIS {
            MAX_MILLIS
        } else {
            at.millis
        } as i64)
    }
}

/// A wall-clock time of a record: a civil date and time to the millisecond.
///
/// Records written by echokit are UTC (`2026-11-23T10:15:02.123Z`). The legacy Python tools
/// wrote local time with no zone (`2023-05-01T12:00:00.123`); those are kept as written, so
/// the zone is part of the value: [`Zone::Unspecified`] formats without the `Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    millis: u16,
    zone: Zone,
}

/// Whether a [`Timestamp`] is UTC or carries no zone (legacy lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Zone {
    /// UTC, written with a `Z` suffix.
    Utc,
    /// No zone was given (the legacy tools' local time); written without a suffix.
    Unspecified,
}

/// Why a timestamp could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TimestampError {
    /// Not of the form `YYYY-MM-DDTHH:MM:SS.mmm` (optionally followed by `Z`).
    Syntax,
    /// The fields are out of range (month 13, February 30th, hour 24, ...).
    Range,
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampError::Syntax => "timestamp is not YYYY-MM-DDTHH:MM:SS.mmmZ",
            TimestampError::Range => "timestamp field out of range",
        })
    }
}

impl core::error::Error for TimestampError {}

impl Timestamp {
    /// The longest formatted timestamp, in bytes (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub const MAX_LEN: usize = 24;

    /// Builds a timestamp from its fields, checking every range (days per month included).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        millis: u16,
        zone: Zone,
    ) -> Result<Self, TimestampError> {
        let valid = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour < 24
            && minute < 60
            && second < 60
            && millis < 1000;
        if valid {
            Ok(Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                millis,
                zone,
            })
        } else {
            Err(TimestampError::Range)
        }
    }

    /// The UTC time `millis` milliseconds after the Unix epoch (clamped to years 1970..=9999).
    pub fn from_unix_millis(millis: u64) -> Self {
        // 9999-12-31T23:59:59.999Z
        const MAX: u64 = 253_402_300_799_999;
        let millis = millis.min(MAX);
        let days = millis / 86_400_000;
        let in_day = millis % 86_400_000;
        let (year, month, day) = civil_from_days(days);
        // NOTE(as): every value below is bounded by the modulo/division above.
        Timestamp {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: (in_day / 3_600_000) as u8,
            minute: (in_day / 60_000 % 60) as u8,
            second: (in_day / 1000 % 60) as u8,
            millis: (in_day % 1000) as u16,
            zone: Zone::Utc,
        }
    }

    /// Milliseconds since the Unix epoch, reading the fields as UTC whatever the zone
    /// (`None` before 1970).
    pub fn unix_millis(&self) -> Option<u64> {
        let days = days_from_civil(self.year.into(), self.month.into(), self.day.into())?;
        let secs =
            u64::from(self.hour) * 3600 + u64::from(self.minute) * 60 + u64::from(self.second);
        Some(days * 86_400_000 + secs * 1000 + u64::from(self.millis))
    }

    /// The zone: UTC, or none given.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// Reads `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) or `YYYY-MM-DDTHH:MM:SS.mmm` (no zone).
    /// The whole input must be the timestamp.
    pub fn parse(text: &[u8]) -> Result<Self, TimestampError> {
        let zone = match text.len() {
            24 if text[23] == b'Z' => Zone::Utc,
            23 => Zone::Unspecified,
            _ => return Err(TimestampError::Syntax),
        };
        let mut t = [0u8; 23];
        t.copy_from_slice(&text[..23]);
        // Fixed positions, so the checks unroll into straight-line code (the archiver
        // reads one or two timestamps per record).
        let seps = t[4] == b'-'
            && t[7] == b'-'
            && t[10] == b'T'
            && t[13] == b':'
            && t[16] == b':'
            && t[19] == b'.';
        let d = |i: usize| t[i].wrapping_sub(b'0');
        let mut not_digit = false;
        for i in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22] {
            not_digit |= d(i) > 9;
        }
        if !seps || not_digit {
            return Err(TimestampError::Syntax);
        }
        let two = |i: usize| d(i) * 10 + d(i + 1);
        Timestamp::new(
            u16::from(two(0)) * 100 + u16::from(two(2)),
            two(5),
            two(8),
            two(11),
            two(14),
            two(17),
            u16::from(d(20)) * 100 + u16::from(two(21)),
            zone,
        )
    }

    /// Writes the timestamp into `out` and returns it as text (23 or 24 bytes).
    pub fn format<'b>(&self, out: &'b mut [u8; Self::MAX_LEN]) -> &'b str {
        // NOTE(as): every value is below 100 (year < 10_000 and millis < 1000, checked
        // when the timestamp was made), so `v / 10` and `v % 10` are single digits.
        let two = |v: u16| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
        let [y0, y1] = two(self.year / 100 % 100);
        let [y2, y3] = two(self.year % 100);
        let [mo0, mo1] = two(self.month.into());
        let [d0, d1] = two(self.day.into());
        let [h0, h1] = two(self.hour.into());
        let [mi0, mi1] = two(self.minute.into());
        let [s0, s1] = two(self.second.into());
        let [ms1, ms2] = two(self.millis % 100);
        let ms0 = b'0' + (self.millis / 100 % 10) as u8;
        *out = [
            y0, y1, y2, y3, b'-', mo0, mo1, b'-', d0, d1, b'T', h0, h1, b':', mi0, mi1, b':', s0,
            s1, b'.', ms0, ms1, ms2, b'Z',
        ];
        let len = match self.zone {
            Zone::Utc => 24,
            Zone::Unspecified => 23,
        };
        // NOTE(unwrap-free): only ASCII digits and separators were written.
        core::str::from_utf8(&out[..len]).unwrap_or("")
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; Self::MAX_LEN];
        f.write_str(self.format(&mut buf))
    }
}

fn is_leap(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01, `None` before 1970; Hinnant's `days_from_civil`.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_epoch_and_known_dates() {
        let mut b = [0; 24];
        assert_eq!(
            Timestamp::from_unix_millis(0).format(&mut b),
            "1970-01-01T00:00:00.000Z"
        );
        // 2026-11-23T10:15:02.123Z
        let t = Timestamp::from_unix_millis(1_795_428_902_123);
        assert_eq!(t.format(&mut b), "2026-11-23T10:15:02.123Z");
        assert_eq!(t.unix_millis(), Some(1_795_428_902_123));
        let leap = Timestamp::parse(b"2024-02-29T23:59:59.999Z").unwrap();
        assert_eq!(
            Timestamp::from_unix_millis(leap.unix_millis().unwrap()),
            leap
        );
    }

    #[test]
    fn parses_both_zones() {
        let utc = Timestamp::parse(b"2026-11-23T10:15:02.123Z").unwrap();
        assert_eq!(utc.zone(), Zone::Utc);
        let naive = Timestamp::parse(b"2023-05-01T12:00:00.123").unwrap();
        assert_eq!(naive.zone(), Zone::Unspecified);
        let mut b = [0; 24];
        assert_eq!(naive.format(&mut b), "2023-05-01T12:00:00.123");
    }

    #[test]
    fn rejects_bad_timestamps() {
        for bad in [
            &b"2026-11-23T10:15:02.123"[..22],
            b"2026-11-23 10:15:02.123Z",
            b"2026-13-23T10:15:02.123Z",
            b"2023-02-29T10:15:02.123Z",
            b"2026-11-23T24:00:00.000Z",
            b"2026-11-23T10:60:00.000Z",
            b"2026-11-23T10:15:02.123X",
            b"2026-11-23T10:15:02,123Z",
            b"+026-11-23T10:15:02.123Z",
            b"",
        ] {
            assert!(
                Timestamp::parse(bad).is_err(),
                "{:?}",
                core::str::from_utf8(bad)
            );
        }
    }

    /// The straightforward reader `parse` replaced (kept to check the fast one against).
    fn parse_reference(text: &[u8]) -> Result<Timestamp, TimestampError> {
        let zone = match text.len() {
            24 if text[23] == b'Z' => Zone::Utc,
            23 => Zone::Unspecified,
            _ => return Err(TimestampError::Syntax),
        };
        let t = &text[..23];
        for (i, c) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ] {
            if t[i] != c {
                return Err(TimestampError::Syntax);
            }
        }
        let num = |from: usize, to: usize| -> Result<u16, TimestampError> {
            t[from..to].iter().try_fold(0u16, |acc, &b| {
                if b.is_ascii_digit() {
                    Ok(acc * 10 + u16::from(b - b'0'))
                } else {
                    Err(TimestampError::Syntax)
                }
            })
        };
        let small = |v: u16| u8::try_from(v).map_err(|_| TimestampError::Range);
        Timestamp::new(
            num(0, 4)?,
            small(num(5, 7)?)?,
            small(num(8, 10)?)?,
            small(num(11, 13)?)?,
            small(num(14, 16)?)?,
            small(num(17, 19)?)?,
            num(20, 23)?,
            zone,
        )
    }

    /// Every single-byte change of valid timestamps (both zones, edge values) reads the
    /// same as with the reference reader, and every valid one formats back to its text.
    #[test]
    fn parse_matches_the_reference_on_every_one_byte_change() {
        let mut out = [0u8; 24];
        for base in [
            &b"2024-02-29T23:59:59.999Z"[..],
            b"2023-05-01T12:00:00.123",
            b"0000-01-01T00:00:00.000Z",
            b"9999-12-31T23:59:59.999",
        ] {
            for at in 0..base.len() {
                for b in 0..=255u8 {
                    let mut text = [0u8; 24];
                    let text = &mut text[..base.len()];
                    text.copy_from_slice(base);
                    text[at] = b;
                    let got = Timestamp::parse(text);
                    assert_eq!(got, parse_reference(text), "{text:?}");
                    if let Ok(t) = got {
                        assert_eq!(t.format(&mut out).as_bytes(), &text[..]);
                    }
                }
            }
        }
    }

    #[test]
    fn format_round_trips_across_the_range() {
        let mut out = [0u8; 24];
        let mut millis = 0u64;
        while millis < 253_402_300_799_999 {
            let t = Timestamp::from_unix_millis(millis);
            assert_eq!(Timestamp::parse(t.format(&mut out).as_bytes()), Ok(t));
            millis = millis * 3 / 2 + 7_777_777;
        }
    }

    #[test]
    fn ticks_of_a_1_khz_clock_are_milliseconds() {
        for t in [0, 1, 999, 1_000, u64::MAX] {
            assert_eq!(Instant::from_ticks::<1000>(t).millis(), t);
            assert_eq!(Instant::from_millis(t).ticks::<1000>(), t);
        }
    }

    #[test]
    fn ticks_of_mtime_at_10_mhz() {
        assert_eq!(Instant::from_ticks::<10_000_000>(9_999).millis(), 0);
        assert_eq!(Instant::from_ticks::<10_000_000>(10_000).millis(), 1);
        assert_eq!(Instant::from_millis(3).ticks::<10_000_000>(), 30_000);
        assert_eq!(
            Instant::from_millis(u64::MAX).ticks::<10_000_000>(),
            u64::MAX
        );
    }

    /// Any rate: a deadline's tick reads back as the deadline (at 1 kHz or faster) and is
    /// never before it; a tick count reads as the millisecond it falls in.
    #[test]
    fn ticks_round_trip_at_any_rate() {
        fn check<const HZ: u64>() {
            let mut ms = 0u64;
            while ms < u64::MAX / 3 {
                let at = Instant::from_millis(ms);
                let tick = at.ticks::<HZ>();
                let back = Instant::from_ticks::<HZ>(tick);
                assert!(back >= at || tick == u64::MAX, "{HZ} Hz, {ms} ms");
                if HZ >= 1000 && tick < u64::MAX {
                    assert_eq!(back, at, "{HZ} Hz, {ms} ms");
                }
                let t = ms;
                let m = u128::from(Instant::from_ticks::<HZ>(t).millis());
                assert!(
                    m * u128::from(HZ) <= u128::from(t) * 1000,
                    "{HZ} Hz, {t} ticks"
                );
                let saturated = m == u128::from(u64::MAX);
                assert!(
                    saturated || (m + 1) * u128::from(HZ) > u128::from(t) * 1000,
                    "{HZ} Hz, {t} ticks"
                );
                ms = ms * 3 / 2 + 7;
            }
        }
        check::<1>();
        check::<999>();
        check::<1000>();
        check::<32_768>();
        check::<10_000_000>();
        check::<48_000_000_001>();
    }

    #[test]
    fn a_slow_clock_saturates() {
        assert_eq!(Instant::from_ticks::<1>(u64::MAX).millis(), u64::MAX);
        assert_eq!(Instant::from_millis(u64::MAX).ticks::<32_768>(), u64::MAX);
    }

    #[cfg(feature = "smoltcp")]
    #[test]
    fn smoltcp_instants_convert_both_ways() {
        use smoltcp::time::Instant as Smol;
        for ms in [0, 1, 1_500, 86_400_000_000] {
            let at = Instant::from_millis(ms);
            assert_eq!(Instant::from(Smol::from(at)), at);
            assert_eq!(Smol::from(at).total_millis(), i64::try_from(ms).unwrap());
        }
        // Rounded down; before the origin is the origin; the far future saturates.
        assert_eq!(
            Instant::from(Smol::from_micros(2_999)),
            Instant::from_millis(2)
        );
        assert_eq!(Instant::from(Smol::from_micros(-5_000)), Instant::ZERO);
        let far = Smol::from(Instant::from_millis(u64::MAX));
        assert_eq!(far.total_millis(), i64::MAX / 1000);
    }

    #[test]
    fn clamps_far_future() {
        let mut b = [0; 24];
        assert_eq!(
            Timestamp::from_unix_millis(u64::MAX).format(&mut b),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
