//! Line charts as SVG text, written by hand (no plotting crate: its default features pull
//! font libraries, and three charts need only lines, axes and labels).

use std::fmt::Write as _;

/// One line of a chart.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// How the x axis runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAxis {
    /// Seconds of the run.
    Seconds,
    /// Percentiles on HdrHistogram's `1/(1-p)` axis (log scale, x given as `1/(1-p)`).
    Percentile,
}

const W: f64 = 760.0;
const H: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 45.0;

/// Escapes text for SVG or HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// About five round steps from 0 to at least `max`.
fn ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    (0..)
        .map(|i| i as f64 * step)
        .take_while(|t| *t <= max + step * 0.999)
        .collect()
}

/// A number as a short label.
fn label(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.0}k", x / 1e3)
    } else if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        // 0.25, 1.5: as many decimals as the step needs (up to 3).
        let text = format!("{x:.3}");
        text.trim_end_matches('0').to_string()
    }
}

/// Where a value falls on an axis, from 0 to 1.
type Scale = Box<dyn Fn(f64) -> f64>;

/// How the y axis runs: from 0, or by decades (latencies span several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YAxis {
    Linear,
    Log,
}

/// A chart of `series` with a title and axis labels.
pub fn chart(
    title: &str,
    x_axis: XAxis,
    y_axis: YAxis,
    y_label: &str,
    series: &[Series],
) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let y_max = points.clone().map(|p| p.1).fold(0.0, f64::max);
    let x_max = points.map(|p| p.0).fold(0.0, f64::max);
    let (y_ticks, y_of): (Vec<f64>, Scale) = match y_axis {
        YAxis::Linear => {
            let t = ticks(y_max);
            let top = t.last().copied().unwrap_or(1.0);
            (t, Box::new(move |y| y / top))
        }
        YAxis::Log => {
            // Decades from 1 (a microsecond) to above the largest value.
            let top = y_max.max(10.0).log10().ceil();
            let t = (0..=top as i32).map(|d| 10f64.powi(d)).collect();
            (t, Box::new(move |y: f64| y.max(1.0).log10() / top))
        }
    };
    let (x_ticks, x_of): (Vec<(f64, String)>, Scale) = match x_axis {
        XAxis::Seconds => {
            let t = ticks(x_max);
            let top = t.last().copied().unwrap_or(1.0).max(f64::MIN_POSITIVE);
            let labels = t.iter().map(|x| (*x, label(*x))).collect();
            (labels, Box::new(move |x| x / top))
        }
        XAxis::Percentile => {
            // Decades: 0 %, 90 %, 99 %, 99.9 % ... up to the data.
            let decades = x_max.max(10.0).log10().ceil().max(1.0);
            let labels = (0..=decades as u32)
                .map(|d| {
                    let x = 10f64.powi(d as i32);
                    let p = 100.0 * (1.0 - 1.0 / x);
                    let text = match d {
                        0 => "0%".to_string(),
                        1 | 2 => format!("{p:.0}%"),
                        _ => format!("{p:.*}%", d as usize - 2),
                    };
                    (x, text)
                })
                .collect();
            (labels, Box::new(move |x: f64| x.max(1.0).log10() / decades))
        }
    };
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let px = |x: f64| LEFT + x_of(x) * plot_w;
    let py = |y: f64| TOP + plot_h - y_of(y) * plot_h;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" \
         height=\"{H}\" role=\"img\" aria-label=\"{t}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>{t}</title>\n<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{t}</text>\n",
        t = escape(title)
    );
    for tick in &y_ticks {
        let y = py(*tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            label(*tick)
        );
    }
    for (x, text) in &x_ticks {
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{1:.1}\" stroke=\"#eee\"/>\
             <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{3}</text>",
            px(*x),
            TOP + plot_h,
            TOP + plot_h + 16.0,
            escape(text)
        );
    }
    let x_label = match x_axis {
        XAxis::Seconds => "seconds",
        XAxis::Percentile => "percentile",
    };
    let _ = writeln!(
        svg,
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_w}\" height=\"{plot_h}\" fill=\"none\" stroke=\"#888\"/>\n\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{x_label}</text>\n\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        H - 8.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    for (i, s) in series.iter().enumerate() {
        if s.points.is_empty() {
            continue;
        }
        let path: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{c}\" stroke-width=\"2\" points=\"{}\"/>\n\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"3\" fill=\"{c}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            path.join(" "),
            W - RIGHT - 240.0 + 80.0 * i as f64,
            TOP - 14.0,
            W - RIGHT - 224.0 + 80.0 * i as f64,
            TOP - 9.0,
            escape(s.name),
            c = s.color
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(9.0), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(0.0), [0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
        assert!(*ticks(123_456.0).last().unwrap() >= 123_456.0);
        let labels: Vec<String> = ticks(1.25).into_iter().map(label).collect();
        assert_eq!(labels, ["0", "0.25", "0.5", "0.75", "1", "1.25"]);
    }

    #[test]
    fn labels_and_names_are_escaped() {
        let svg = chart(
            "a<b",
            XAxis::Percentile,
            YAxis::Log,
            "us",
            &[Series {
                name: "p&q",
                color: "#000",
                points: vec![(1.0, 5.0), (1000.0, 9.0)],
            }],
        );
        assert!(svg.contains("a&lt;b") && svg.contains("p&amp;q") && svg.contains("99.9%"));
    }
}
