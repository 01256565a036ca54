//! `--report FILE`: one self-contained HTML page (no script, style sheet, font or image
//! from anywhere): the command, the target, the summary table, and SVG charts of latency
//! and throughput over time and of the percentile distribution.

use hdrhistogram::Histogram;

use super::stats::Second;
use super::summary::{Latency, Report};
use super::svg::{self, Series, XAxis, YAxis, escape};

/// What the charts over time need of one second (kept small: a run may last hours).
#[derive(Debug, Clone, Copy)]
pub struct Point {
    /// The second's middle, in seconds since the window began.
    pub t: f64,
    /// Round trips a second (pingpong, connect) or MB/s echoed (stream).
    pub rate: f64,
    pub latency: Option<Latency>,
}

impl Point {
    pub fn of(second: &Second, stream: bool) -> Point {
        let start = second.index as f64;
        let secs = (second.end - start).max(f64::MIN_POSITIVE);
        let c = &second.counts;
        Point {
            t: (start + second.end) / 2.0,
            rate: if stream {
                c.echoed as f64 / secs / 1e6
            } else {
                c.round_trips as f64 / secs
            },
            latency: Latency::of_ns(&second.latencies.latency),
        }
    }
}

/// The page.
pub fn page(command: &str, report: &Report, points: &[Point], latency: &Histogram<u64>) -> String {
    let stream = report.mode.as_deref() == Some("stream");
    let series = |name: &'static str, color: &'static str, f: fn(&Latency) -> f64| Series {
        name,
        color,
        points: points
            .iter()
            .filter_map(|p| p.latency.as_ref().map(|l| (p.t, f(l))))
            .collect(),
    };
    let mut charts = String::new();
    if !stream {
        charts += &svg::chart(
            "Latency over time (log scale)",
            XAxis::Seconds,
            YAxis::Log,
            "microseconds",
            &[
                series("p50", "#1f77b4", |l| l.p50),
                series("p99", "#ff7f0e", |l| l.p99),
                series("max", "#d62728", |l| l.max),
            ],
        );
    }
    let (rate_title, rate_unit) = if stream {
        ("Throughput over time (echoed)", "MB/s")
    } else if report.mode.as_deref() == Some("connect") {
        ("Connections over time", "connections/s")
    } else {
        ("Throughput over time", "round trips/s")
    };
    charts += &svg::chart(
        rate_title,
        XAxis::Seconds,
        YAxis::Linear,
        rate_unit,
        &[Series {
            name: rate_unit,
            color: "#2ca02c",
            points: points.iter().map(|p| (p.t, p.rate)).collect(),
        }],
    );
    if !latency.is_empty() {
        let distribution: Vec<(f64, f64)> = latency
            .iter_quantiles(5)
            .map(|v| {
                (
                    v.quantile_iterated_to(),
                    v.value_iterated_to() as f64 / 1000.0,
                )
            })
            .filter(|(q, _)| *q < 1.0)
            .map(|(q, us)| (1.0 / (1.0 - q), us))
            .collect();
        charts += &svg::chart(
            "Latency by percentile (log scale)",
            XAxis::Percentile,
            YAxis::Log,
            "microseconds",
            &[Series {
                name: "latency",
                color: "#9467bd",
                points: distribution,
            }],
        );
    }
    let title = format!(
        "echokit bench: {} {}",
        report.mode.as_deref().unwrap_or("?"),
        report.proto.as_deref().unwrap_or("?")
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{t}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; max-width: 800px; }}\n\
         table {{ border-collapse: collapse; margin: 1em 0; }}\n\
         td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}\n\
         pre {{ background: #f4f4f4; padding: 0.6em; white-space: pre-wrap; }}\n\
         svg {{ display: block; margin: 1.5em 0; }}\n</style>\n</head>\n<body>\n\
         <h1>{t}</h1>\n<h2>Command</h2>\n<pre id=\"command\">{}</pre>\n\
         <h2>Summary</h2>\n<table id=\"summary\">\n{}</table>\n{charts}</body>\n</html>\n",
        escape(command),
        table(report),
        t = escape(&title)
    )
}

/// The summary as table rows (what the text summary says, a fact a row).
fn table(report: &Report) -> String {
    let mut rows = String::new();
    let mut row = |name: &str, value: String| {
        rows += &format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(name),
            escape(&value)
        );
    };
    let opt = |x: Option<u64>| x.map_or_else(|| "?".into(), |x| x.to_string());
    row("mode", report.mode.clone().unwrap_or_default());
    row("protocol", report.proto.clone().unwrap_or_default());
    row("connections", opt(report.conns));
    row("threads", opt(report.threads));
    row("seconds measured", format!("{:.2}", report.secs));
    row("message or write bytes", opt(report.size));
    if let (Some(n), Some(rate)) = (report.round_trips, report.rt_per_s) {
        row("round trips", format!("{n} ({rate:.0}/s)"));
    }
    if let Some(mb) = report.mb_per_s {
        row("MB/s echoed", format!("{mb:.1}"));
    }
    if let (Some(held), Some(failed)) = (report.held, report.failed) {
        row("held / failed", format!("{held} / {failed}"));
    }
    if let Some(rate) = report.connect_per_s {
        row("connections opened a second", format!("{rate:.0}"));
    }
    let lat = |l: Latency| {
        format!(
            "p50 {:.1}, p90 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1}",
            l.p50, l.p90, l.p99, l.p999, l.max
        )
    };
    if let Some(l) = report.latency {
        row("latency (us)", lat(l));
    }
    if let Some(l) = report.latency_uncorrected {
        row("latency from sent (us)", lat(l));
    }
    if let Some(l) = report.connect_latency {
        row("connect latency (us)", lat(l));
    }
    row("errors", opt(report.errors));
    row("mismatches", opt(report.mismatches));
    if let Some(lost) = report.lost {
        row("lost", lost.to_string());
    }
    rows
}
