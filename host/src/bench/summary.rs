//! The summary: what was measured, for people (a few lines on stdout) or scripts (`--json`,
//! one object with every key, `null` where a key does not apply to the mode).

use std::io::{self, Write};
use std::time::Duration;

use super::Config;
use super::stats::Stats;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub mode: &'static str,
    pub proto: &'static str,
    pub conns: usize,
    /// Seconds measured (held, in hold mode); shorter when stopped early.
    pub secs: f64,
    pub size: usize,
    pub round_trips: Option<u64>,
    pub rt_per_s: Option<f64>,
    pub mb_per_s: Option<f64>,
    /// Stream: MB/s written (the echo may lag behind).
    pub sent_mb_per_s: Option<f64>,
    pub held: Option<u64>,
    pub failed: Option<u64>,
    pub connect_per_s: Option<f64>,
    pub latency: Option<Latency>,
    pub errors: u64,
    pub mismatches: u64,
    pub lost: Option<u64>,
    /// The first error or mismatch, for one line on stderr.
    pub first_problem: Option<String>,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
}

impl Report {
    /// The report of a pingpong run (TCP or UDP) that measured `measured` and stopped early
    /// if `interrupted`: the common fields and the round trips a second.
    pub fn round_trips(
        config: &Config,
        stats: &Stats,
        measured: Duration,
        interrupted: bool,
    ) -> Report {
        let mut report = Report::new(config, stats, measured.as_secs_f64());
        let secs = report.secs.max(f64::MIN_POSITIVE);
        report.round_trips = Some(stats.round_trips);
        report.rt_per_s = Some(stats.round_trips as f64 / secs);
        report.interrupted = interrupted;
        report
    }

    /// A report with the common fields from `config` and `stats`; modes fill in the rest.
    pub fn new(config: &Config, stats: &Stats, secs: f64) -> Report {
        let latency = (!stats.latency.is_empty()).then(|| {
            let q = |q: f64| stats.latency.value_at_quantile(q) as f64 / 1000.0;
            Latency {
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p999: q(0.999),
                max: stats.latency.max() as f64 / 1000.0,
            }
        });
        Report {
            mode: config.mode.name(),
            proto: if config.udp { "udp" } else { "tcp" },
            conns: config.conns,
            secs,
            size: config.size,
            round_trips: None,
            rt_per_s: None,
            mb_per_s: None,
            sent_mb_per_s: None,
            held: None,
            failed: None,
            connect_per_s: None,
            latency,
            errors: stats.errors,
            mismatches: stats.mismatches,
            lost: config.udp.then_some(stats.lost),
            first_problem: stats.first_problem.clone(),
            interrupted: false,
        }
    }

    /// Whether the run saw no error and no mismatch (exit status 0).
    pub fn ok(&self) -> bool {
        self.errors == 0 && self.mismatches == 0
    }

    /// The `--json` object, its keys in the documented order.
    pub fn json(&self) -> String {
        fn num(x: Option<f64>, places: usize) -> String {
            x.filter(|x| x.is_finite())
                .map_or_else(|| "null".into(), |x| format!("{x:.places$}"))
        }
        fn int(x: Option<u64>) -> String {
            x.map_or_else(|| "null".into(), |x| x.to_string())
        }
        let latency = self.latency.map_or_else(
            || "null".to_string(),
            |l| {
                format!(
                    "{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{}}}",
                    num(Some(l.p50), 1),
                    num(Some(l.p90), 1),
                    num(Some(l.p99), 1),
                    num(Some(l.p999), 1),
                    num(Some(l.max), 1)
                )
            },
        );
        format!(
            "{{\"mode\":\"{}\",\"proto\":\"{}\",\"conns\":{},\"secs\":{},\"size\":{},\
             \"round_trips\":{},\"rt_per_s\":{},\"mb_per_s\":{},\"held\":{},\"failed\":{},\
             \"connect_per_s\":{},\"latency_us\":{latency},\"errors\":{},\"mismatches\":{},\
             \"lost\":{}}}",
            self.mode,
            self.proto,
            self.conns,
            num(Some(self.secs), 3),
            self.size,
            int(self.round_trips),
            num(self.rt_per_s, 1),
            num(self.mb_per_s, 3),
            int(self.held),
            int(self.failed),
            num(self.connect_per_s, 1),
            self.errors,
            self.mismatches,
            int(self.lost),
        )
    }

    /// The summary for people, one fact a line.
    pub fn text(&self) -> String {
        let mut out = format!(
            "mode {}, {}, {} connection{}, {:.2} s measured{}\n",
            self.mode,
            self.proto,
            self.conns,
            if self.conns == 1 { "" } else { "s" },
            self.secs,
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        if let (Some(n), Some(rate)) = (self.round_trips, self.rt_per_s) {
            out += &format!("round trips: {n} ({rate:.0}/s, {} B each)\n", self.size);
        }
        if let Some(mb) = self.mb_per_s {
            let sent = self.sent_mb_per_s.unwrap_or(mb);
            out += &format!(
                "MB/s each way: {mb:.1} echoed, {sent:.1} sent ({} B writes)\n",
                self.size
            );
        }
        if let (Some(held), Some(failed)) = (self.held, self.failed) {
            out += &format!("held: {held}, failed: {failed}\n");
        }
        if let Some(rate) = self.connect_per_s {
            out += &format!("connections opened: {rate:.0}/s\n");
        }
        match self.latency {
            Some(l) => {
                out += &format!(
                    "latency us: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}\n",
                    l.p50, l.p90, l.p99, l.p999, l.max
                )
            }
            None if self.mode != "stream" => out += "latency us: none measured\n",
            None => {}
        }
        out += &format!("errors: {}, mismatches: {}", self.errors, self.mismatches);
        if let Some(lost) = self.lost {
            out += &format!(", lost: {lost}");
        }
        out.push('\n');
        out
    }

    /// Writes the summary (text or JSON) to stdout.
    pub fn print(&self, json: bool) -> io::Result<()> {
        let mut stdout = io::stdout().lock();
        if json {
            writeln!(stdout, "{}", self.json())?;
        } else {
            stdout.write_all(self.text().as_bytes())?;
        }
        stdout.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keys_in_order_with_nulls() {
        let report = Report {
            mode: "hold",
            proto: "tcp",
            conns: 3,
            secs: 1.5,
            size: 64,
            round_trips: None,
            rt_per_s: None,
            mb_per_s: None,
            sent_mb_per_s: None,
            held: Some(3),
            failed: Some(0),
            connect_per_s: Some(1234.56),
            latency: Some(Latency {
                p50: 10.0,
                p90: 11.0,
                p99: 12.5,
                p999: 13.0,
                max: 14.0,
            }),
            errors: 0,
            mismatches: 0,
            lost: None,
            first_problem: None,
            interrupted: false,
        };
        assert_eq!(
            report.json(),
            "{\"mode\":\"hold\",\"proto\":\"tcp\",\"conns\":3,\"secs\":1.500,\"size\":64,\
             \"round_trips\":null,\"rt_per_s\":null,\"mb_per_s\":null,\"held\":3,\"failed\":0,\
             \"connect_per_s\":1234.6,\"latency_us\":{\"p50\":10.0,\"p90\":11.0,\"p99\":12.5,\
             \"p999\":13.0,\"max\":14.0},\"errors\":0,\"mismatches\":0,\"lost\":null}"
        );
    }
}
