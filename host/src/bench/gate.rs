//! `--fail-if COND`: thresholds for CI gates (`p99>2ms`, `errors>0`, `rt_per_s<50000`).
//! A condition is parsed and checked against the mode before any load is sent; after the
//! run, each crossed one is a line on stderr and exit status 1.

use super::config::{Config, Mode};
use super::summary::Report;

/// A measured quantity a condition can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    P50,
    P90,
    P99,
    P999,
    Max,
    RtPerS,
    MbPerS,
    ConnectPerS,
    Errors,
    Mismatches,
    Lost,
    Failed,
}

const KEYS: [(&str, Key); 12] = [
    ("p50", Key::P50),
    ("p90", Key::P90),
    ("p99", Key::P99),
    ("p999", Key::P999),
    ("max", Key::Max),
    ("rt_per_s", Key::RtPerS),
    ("mb_per_s", Key::MbPerS),
    ("connect_per_s", Key::ConnectPerS),
    ("errors", Key::Errors),
    ("mismatches", Key::Mismatches),
    ("lost", Key::Lost),
    ("failed", Key::Failed),
];

impl Key {
    fn latency(self) -> bool {
        matches!(self, Key::P50 | Key::P90 | Key::P99 | Key::P999 | Key::Max)
    }

    /// Whether a run configured as `config` measures it.
    fn measured_by(self, config: &Config) -> bool {
        let mode = config.mode;
        match self {
            k if k.latency() => mode != Mode::Stream,
            Key::RtPerS => matches!(mode, Mode::Pingpong | Mode::Connect),
            Key::MbPerS => mode == Mode::Stream,
            Key::ConnectPerS => matches!(mode, Mode::Hold | Mode::Connect),
            Key::Lost => config.udp,
            Key::Failed => mode == Mode::Hold,
            _ => true,
        }
    }

    /// Its value in a report (latencies in microseconds).
    fn value(self, report: &Report) -> Option<f64> {
        let l = report.latency;
        match self {
            Key::P50 => l.map(|l| l.p50),
            Key::P90 => l.map(|l| l.p90),
            Key::P99 => l.map(|l| l.p99),
            Key::P999 => l.map(|l| l.p999),
            Key::Max => l.map(|l| l.max),
            Key::RtPerS => report.rt_per_s,
            Key::MbPerS => report.mb_per_s,
            Key::ConnectPerS => report.connect_per_s,
            Key::Errors => report.errors.map(|x| x as f64),
            Key::Mismatches => report.mismatches.map(|x| x as f64),
            Key::Lost => report.lost.map(|x| x as f64),
            Key::Failed => report.failed.map(|x| x as f64),
        }
    }
}

/// One threshold: `key > limit` or `key < limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// As written (named in the failure line).
    name: &'static str,
    key: Key,
    above: bool,
    /// Latencies: microseconds.
    limit: f64,
    /// The unit it was written in, and microseconds per that unit (latencies).
    unit: &'static str,
    per_unit: f64,
}

impl Condition {
    /// Parses `p99>2ms`, `errors>0`, `rt_per_s<50000`; the error is one line.
    pub fn parse(text: &str) -> Result<Condition, String> {
        // (clap names the flag and the value before this)
        let bad = |why: &str| why.to_string();
        let at = text
            .find(['<', '>'])
            .ok_or_else(|| bad("expected KEY>VALUE or KEY<VALUE, e.g. p99>2ms"))?;
        let (key_text, rest) = text.split_at(at);
        let above = rest.starts_with('>');
        let value_text = rest[1..].trim();
        let key_text = key_text.trim();
        let (name, key) = KEYS
            .iter()
            .find(|(name, _)| *name == key_text)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
                bad(&format!(
                    "unknown key `{key_text}` (one of {})",
                    names.join(", ")
                ))
            })?;
        let (number, unit, per_unit) = if key.latency() {
            [("us", 1.0), ("ms", 1e3), ("s", 1e6)]
                .iter()
                .find_map(|&(unit, per)| {
                    value_text
                        .strip_suffix(unit)
                        .filter(|n| !n.ends_with(['m', 'u']))
                        .map(|n| (n, unit, per))
                })
                .ok_or_else(|| bad("a latency needs a unit: us, ms or s"))?
        } else {
            (value_text, "", 1.0)
        };
        let limit: f64 = number
            .trim()
            .parse()
            .ok()
            .filter(|x: &f64| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| bad(&format!("`{number}` is not a number")))?;
        Ok(Condition {
            name,
            key,
            above,
            limit: limit * per_unit,
            unit,
            per_unit,
        })
    }

    /// Refuses a condition on something the run does not measure (one line).
    pub fn check(&self, config: &Config) -> Result<(), String> {
        if self.key.measured_by(config) {
            return Ok(());
        }
        Err(format!(
            "--fail-if {}: {} is not measured by --mode {}{}",
            self.name,
            self.name,
            config.mode.name(),
            if config.udp { " --udp" } else { "" }
        ))
    }

    /// The line for stderr when `report` crosses it (`p99 3.10 ms > 2 ms`), or `None`.
    pub fn crossed(&self, report: &Report) -> Option<String> {
        let value = self.key.value(report)?;
        let crossed = if self.above {
            value > self.limit
        } else {
            value < self.limit
        };
        crossed.then(|| {
            let op = if self.above { '>' } else { '<' };
            let show = |x: f64| {
                let x = x / self.per_unit;
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.2}")
                }
            };
            let unit = if self.unit.is_empty() {
                String::new()
            } else {
                format!(" {}", self.unit)
            };
            format!(
                "{} {}{unit} {op} {}{unit}",
                self.name,
                show(value),
                show(self.limit)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_units() {
        let c = Condition::parse("p99>2ms").unwrap();
        assert_eq!((c.key, c.above, c.limit), (Key::P99, true, 2000.0));
        assert_eq!(Condition::parse("max>50us").unwrap().limit, 50.0);
        assert_eq!(Condition::parse("p999>1s").unwrap().limit, 1e6);
        let c = Condition::parse("rt_per_s<50000").unwrap();
        assert_eq!((c.key, c.above, c.limit), (Key::RtPerS, false, 50000.0));
        for bad in [
            "p99",
            "p99>2",
            "p99>2xs",
            "errors>x",
            "speed>1",
            "p99>-1ms",
            "errors>nan",
        ] {
            assert!(Condition::parse(bad).is_err(), "{bad}");
        }
    }
}
