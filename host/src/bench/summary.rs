//! The summary: what was measured, for people (a few lines on stdout) or scripts (`--json`,
//! one object with every key, `null` where a key does not apply to the mode).

use std::io::{self, Write};

use hdrhistogram::Histogram;

use super::stats::{Counts, Latencies, Second};
use super::{Config, Mode, Outcome};

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    /// The percentiles of a histogram in nanoseconds (`None` when it is empty).
    pub fn of_ns(h: &Histogram<u64>) -> Option<Latency> {
        Latency::scaled(h, 1000.0)
    }

    /// The percentiles of a histogram whose values are `per_us` to the microsecond.
    pub fn scaled(h: &Histogram<u64>, per_us: f64) -> Option<Latency> {
        (!h.is_empty()).then(|| {
            let q = |q: f64| h.value_at_quantile(q) as f64 / per_us;
            Latency {
                p50: q(0.5),
                p90: q(0.9),
                p99: q(0.99),
                p999: q(0.999),
                max: h.max() as f64 / per_us,
            }
        })
    }

    fn json(latency: Option<Latency>) -> String {
        latency.map_or_else(
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
        )
    }
}

fn num(x: Option<f64>, places: usize) -> String {
    x.filter(|x| x.is_finite())
        .map_or_else(|| "null".into(), |x| format!("{x:.places$}"))
}

fn int(x: Option<u64>) -> String {
    x.map_or_else(|| "null".into(), |x| x.to_string())
}

fn string(x: Option<&str>) -> String {
    // NOTE: mode and proto names are plain words: nothing to escape.
    x.map_or_else(|| "null".into(), |x| format!("\"{x}\""))
}

/// What a run measured (or, merged from `--hlog` files, what they tell).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub mode: Option<String>,
    pub proto: Option<String>,
    pub conns: Option<u64>,
    /// Seconds measured (held, in hold mode); shorter when stopped early.
    pub secs: f64,
    pub size: Option<u64>,
    pub round_trips: Option<u64>,
    pub rt_per_s: Option<f64>,
    pub mb_per_s: Option<f64>,
    /// Stream: MB/s written (the echo may lag behind).
    pub sent_mb_per_s: Option<f64>,
    pub held: Option<u64>,
    pub failed: Option<u64>,
    pub connect_per_s: Option<f64>,
    pub latency: Option<Latency>,
    pub latency_uncorrected: Option<Latency>,
    pub connect_latency: Option<Latency>,
    pub threads: Option<u64>,
    pub errors: Option<u64>,
    pub mismatches: Option<u64>,
    pub lost: Option<u64>,
    /// The first error or mismatch, for one line on stderr.
    pub first_problem: Option<String>,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
    /// `--json-stream`: the second this report covers (`Some(None)`: the whole run).
    pub interval: Option<Option<(f64, f64)>>,
}

impl Report {
    /// The report of counts and latencies measured over `secs` seconds, with the keys
    /// `config`'s mode measures.
    pub fn build(
        config: &Config,
        counts: &Counts,
        latencies: &Latencies,
        secs: f64,
        threads: usize,
    ) -> Report {
        let per_s = |x: u64| x as f64 / secs.max(f64::MIN_POSITIVE);
        let (pingpong, stream, connect) = (
            config.mode == Mode::Pingpong,
            config.mode == Mode::Stream,
            config.mode == Mode::Connect,
        );
        Report {
            mode: Some(config.mode.name().into()),
            proto: Some(if config.udp { "udp" } else { "tcp" }.into()),
            conns: Some(config.conns as u64),
            secs,
            size: Some(config.size as u64),
            round_trips: (pingpong || connect).then_some(counts.round_trips),
            rt_per_s: (pingpong || connect).then(|| per_s(counts.round_trips)),
            mb_per_s: stream.then(|| per_s(counts.echoed) / 1e6),
            sent_mb_per_s: stream.then(|| per_s(counts.sent) / 1e6),
            held: None,
            failed: None,
            connect_per_s: connect.then(|| per_s(counts.round_trips)),
            latency: (!stream)
                .then(|| Latency::of_ns(&latencies.latency))
                .flatten(),
            latency_uncorrected: (!stream)
                .then(|| Latency::of_ns(latencies.from_sent()))
                .flatten(),
            connect_latency: connect
                .then(|| Latency::of_ns(&latencies.connect))
                .flatten(),
            threads: Some(threads as u64),
            errors: Some(counts.errors),
            mismatches: Some(counts.mismatches),
            lost: config.udp.then_some(counts.lost),
            first_problem: None,
            interrupted: false,
            interval: None,
        }
    }

    /// The summary of a whole run.
    pub fn of(config: &Config, outcome: &Outcome, threads: usize) -> Report {
        let stats = &outcome.stats;
        let mut report = Report::build(
            config,
            &stats.counts,
            &stats.total,
            outcome.measured.as_secs_f64(),
            threads,
        );
        if config.mode == Mode::Hold {
            report.held = outcome.held;
            report.failed = outcome.failed;
            report.connect_per_s = outcome.connect_per_s;
        }
        report.first_problem = stats.first_problem.clone();
        report.interrupted = outcome.interrupted;
        report
    }

    /// One second of a run, for `--json-stream`.
    pub fn second(config: &Config, second: &Second, threads: usize) -> Report {
        let start = second.index as f64;
        let mut report = Report::build(
            config,
            &second.counts,
            &second.latencies,
            second.end - start,
            threads,
        );
        report.interval = Some(Some((start, second.end)));
        report
    }

    /// Whether the run saw no error and no mismatch (exit status 0).
    pub fn ok(&self) -> bool {
        self.errors.unwrap_or(0) == 0 && self.mismatches.unwrap_or(0) == 0
    }

    /// The `--json` object, its keys in the documented order (`--json-stream` puts
    /// `interval` first).
    pub fn json(&self) -> String {
        let interval = match self.interval {
            None => String::new(),
            Some(None) => "\"interval\":null,".into(),
            Some(Some((a, b))) => format!("\"interval\":[{a:.3},{b:.3}],"),
        };
        format!(
            "{{{interval}\"mode\":{},\"proto\":{},\"conns\":{},\"secs\":{},\"size\":{},\
             \"round_trips\":{},\"rt_per_s\":{},\"mb_per_s\":{},\"held\":{},\"failed\":{},\
             \"connect_per_s\":{},\"latency_us\":{},\"latency_uncorrected_us\":{},\
             \"connect_latency_us\":{},\"threads\":{},\"errors\":{},\"mismatches\":{},\
             \"lost\":{}}}",
            string(self.mode.as_deref()),
            string(self.proto.as_deref()),
            int(self.conns),
            num(Some(self.secs), 3),
            int(self.size),
            int(self.round_trips),
            num(self.rt_per_s, 1),
            num(self.mb_per_s, 3),
            int(self.held),
            int(self.failed),
            num(self.connect_per_s, 1),
            Latency::json(self.latency),
            Latency::json(self.latency_uncorrected),
            Latency::json(self.connect_latency),
            int(self.threads),
            int(self.errors),
            int(self.mismatches),
            int(self.lost),
        )
    }

    /// The summary for people, one fact a line.
    pub fn text(&self) -> String {
        let or_unknown = |x: Option<&str>| x.unwrap_or("?").to_string();
        let conns = self.conns.map_or_else(|| "?".into(), |c| c.to_string());
        let size = self.size.map_or_else(|| "?".into(), |c| c.to_string());
        let mut out = format!(
            "mode {}, {}, {conns} connection{}, {:.2} s measured{}{}\n",
            or_unknown(self.mode.as_deref()),
            or_unknown(self.proto.as_deref()),
            if self.conns == Some(1) { "" } else { "s" },
            self.secs,
            match self.threads {
                Some(t) if t > 1 => format!(", {t} threads"),
                _ => String::new(),
            },
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        );
        if let (Some(n), Some(rate)) = (self.round_trips, self.rt_per_s) {
            out += &format!("round trips: {n} ({rate:.0}/s, {size} B each)\n");
        }
        if let Some(mb) = self.mb_per_s {
            let sent = self.sent_mb_per_s.unwrap_or(mb);
            out += &format!("MB/s each way: {mb:.1} echoed, {sent:.1} sent ({size} B writes)\n");
        }
        if let (Some(held), Some(failed)) = (self.held, self.failed) {
            out += &format!("held: {held}, failed: {failed}\n");
        }
        if let Some(rate) = self.connect_per_s {
            out += &format!("connections opened: {rate:.0}/s\n");
        }
        let line = |name: &str, l: Latency| {
            format!(
                "{name}: p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}\n",
                l.p50, l.p90, l.p99, l.p999, l.max
            )
        };
        match self.latency {
            Some(l) => out += &line("latency us", l),
            None if self.mode.as_deref() != Some("stream") => out += "latency us: none measured\n",
            None => {}
        }
        if let Some(u) = self
            .latency_uncorrected
            .filter(|u| Some(*u) != self.latency)
        {
            out += &line("  from sent", u);
        }
        if let Some(c) = self.connect_latency {
            out += &line("connect us", c);
        }
        let count = |x: Option<u64>| x.map_or_else(|| "?".into(), |x| x.to_string());
        out += &format!(
            "errors: {}, mismatches: {}",
            count(self.errors),
            count(self.mismatches)
        );
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
        let latency = Latency {
            p50: 10.0,
            p90: 11.0,
            p99: 12.5,
            p999: 13.0,
            max: 14.0,
        };
        let report = Report {
            mode: Some("hold".into()),
            proto: Some("tcp".into()),
            conns: Some(3),
            secs: 1.5,
            size: Some(64),
            round_trips: None,
            rt_per_s: None,
            mb_per_s: None,
            sent_mb_per_s: None,
            held: Some(3),
            failed: Some(0),
            connect_per_s: Some(1234.56),
            latency: Some(latency),
            latency_uncorrected: Some(latency),
            connect_latency: None,
            threads: Some(1),
            errors: Some(0),
            mismatches: Some(0),
            lost: None,
            first_problem: None,
            interrupted: false,
            interval: None,
        };
        let l = "{\"p50\":10.0,\"p90\":11.0,\"p99\":12.5,\"p999\":13.0,\"max\":14.0}";
        assert_eq!(
            report.json(),
            format!(
                "{{\"mode\":\"hold\",\"proto\":\"tcp\",\"conns\":3,\"secs\":1.500,\"size\":64,\
                 \"round_trips\":null,\"rt_per_s\":null,\"mb_per_s\":null,\"held\":3,\"failed\":0,\
                 \"connect_per_s\":1234.6,\"latency_us\":{l},\"latency_uncorrected_us\":{l},\
                 \"connect_latency_us\":null,\"threads\":1,\"errors\":0,\"mismatches\":0,\
                 \"lost\":null}}"
            )
        );
        let streamed = Report {
            interval: Some(Some((2.0, 3.0))),
            ..report
        };
        assert!(
            streamed
                .json()
                .starts_with("{\"interval\":[2.000,3.000],\"mode\"")
        );
    }
}
