//! Plots as SVG text (the caller writes or embeds them), with no tract:
//! the learning curve (share of held-out predictions within ±10% and ±5%,
//! and Kendall's τ, against the rows trained on), `frontier search`'s
//! frontier, and [`chart_svg`], the general chart the collector's web view
//! draws every plot with (points, lines, vertical markers). Every text
//! drawn is escaped: labels may carry a board's name.

use std::fmt::Write;

use crate::CurvePoint;

/// An SVG line chart of `points`: the shares within ±10% and ±5% and
/// Kendall's τ against the rows trained on (a log₂ axis: the sizes double).
pub fn learning_curve_svg(points: &[CurvePoint], title: &str) -> String {
    type Get = fn(&CurvePoint) -> f64;
    let metrics: [(&str, Get); 3] = [
        ("within ±10%", |p| p.metrics.within_10pct),
        ("within ±5%", |p| p.metrics.within_5pct),
        ("Kendall τ", |p| p.metrics.kendall_tau),
    ];
    chart_svg(&Chart {
        title: title.to_string(),
        x_label: "profiled rows trained on (held-out rows scored)".into(),
        y_label: "share / τ".into(),
        series: metrics
            .iter()
            .map(|(label, get)| ChartSeries {
                label: label.to_string(),
                mark: Mark::Line,
                points: points
                    .iter()
                    .map(|p| (p.rows as f64, get(p).clamp(0.0, 1.0)))
                    .collect(),
                color: None,
            })
            .collect(),
        x_log2: true,
        y_range: Some((0.0, 1.0)),
        ..Default::default()
    })
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metrics;

    #[test]
    fn one_polyline_per_series_with_a_point_per_size() {
        let pts: Vec<CurvePoint> = [10usize, 20, 40]
            .iter()
            .map(|&rows| CurvePoint {
                rows,
                metrics: Metrics {
                    within_10pct: rows as f64 / 50.0,
                    within_5pct: rows as f64 / 100.0,
                    kendall_tau: 0.9,
                    ..Metrics::default()
                },
            })
            .collect();
        let svg = learning_curve_svg(&pts, "a <b> & c");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 3);
        // Three points per series and a legend mark each.
        assert_eq!(svg.matches("<circle").count(), 9);
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(svg.contains("learning") || svg.contains("rows trained on"));
        // The row counts are the x ticks (a log₂ axis).
        for n in ["10", "20", "40"] {
            assert!(svg.contains(&format!(">{n}</text>")), "{n}");
        }
    }
}

/// One device's points in [`frontier_svg`]: (latency ms, accuracy) pairs.
#[derive(Debug, Clone, Default)]
pub struct FrontierSeries {
    /// `device/backend/tN`.
    pub label: String,
    /// Every evaluated candidate (drawn faint).
    pub evaluated: Vec<(f64, f64)>,
    /// The selected frontier, by latency (drawn as a line with points).
    pub frontier: Vec<(f64, f64)>,
    /// Measured latencies of the frontier models (`--verify`), if any.
    pub measured: Vec<(f64, f64)>,
}

/// Accuracy against latency for each device: every candidate faint, the
/// frontier highlighted, measured points as crosses. Returns SVG text.
pub fn frontier_svg(series: &[FrontierSeries], title: &str, accuracy_label: &str) -> String {
    let mut out = Vec::new();
    for (i, s) in series.iter().enumerate() {
        out.push(ChartSeries {
            label: String::new(),
            mark: Mark::Faint,
            points: s.evaluated.clone(),
            color: Some(i),
        });
        out.push(ChartSeries {
            label: format!("{} frontier", s.label),
            mark: Mark::Line,
            points: s.frontier.clone(),
            color: Some(i),
        });
        if !s.measured.is_empty() {
            out.push(ChartSeries {
                label: format!("{} measured", s.label),
                mark: Mark::Crosses,
                points: s.measured.clone(),
                color: Some(i),
            });
        }
    }
    chart_svg(&Chart {
        title: title.to_string(),
        x_label: "latency (ms): predicted (points), measured (crosses)".into(),
        y_label: accuracy_label.to_string(),
        series: out,
        width: 800.0,
        height: 520.0,
        legend_width: 300.0,
        ..Default::default()
    })
}

/// How a [`ChartSeries`] is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Points joined by a line, in the order given.
    Line,
    /// Dots.
    Dots,
    /// Crosses (measurements beside predictions).
    Crosses,
    /// Hollow rings.
    Rings,
    /// Small pale dots (every candidate a search evaluated).
    Faint,
}

/// One series of [`Chart`].
#[derive(Debug, Clone)]
pub struct ChartSeries {
    /// Shown in the legend (an empty label: not listed).
    pub label: String,
    pub mark: Mark,
    pub points: Vec<(f64, f64)>,
    /// Palette index (series that belong together share one); default:
    /// the series' position.
    pub color: Option<usize>,
}

/// A chart: series over two linear axes, vertical markers, an optional
/// diagonal `y = x` (predicted against measured).
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<ChartSeries>,
    /// Vertical lines at x with a label (drift shifts, rollouts).
    pub markers: Vec<(f64, String)>,
    pub diagonal: bool,
    /// A log₂ x axis with ticks at the points' x values (sizes that double).
    pub x_log2: bool,
    /// A fixed y range instead of the data's.
    pub y_range: Option<(f64, f64)>,
    pub width: f64,
    pub height: f64,
    /// Room for the legend on the right (default 170 px).
    pub legend_width: f64,
}

const CHART_COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// Round tick steps: 1, 2 or 5 times a power of ten, about 5 ticks.
fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-12);
    let raw = span / 5.0;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 12 {
        out.push(t);
        t += step;
    }
    out
}

fn tick_text(v: f64) -> String {
    // A tick a rounding step below zero is zero, not "-0".
    let v = if v.abs() < 1e-9 { 0.0 } else { v };
    if v == 0.0 || (v.abs() >= 0.01 && v.abs() < 1e5) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.2e}")
    }
}

/// The chart as an SVG document; an empty chart says "no data".
pub fn chart_svg(c: &Chart) -> String {
    let (w, h) = (
        if c.width > 0.0 { c.width } else { 640.0 },
        if c.height > 0.0 { c.height } else { 360.0 },
    );
    let right = if c.legend_width > 0.0 {
        c.legend_width
    } else {
        170.0
    };
    let (left, top, bottom) = (64.0, 36.0, 48.0);
    let fx = |x: f64| if c.x_log2 { x.max(1e-9).log2() } else { x };
    let (pw, ph) = (w - left - right, h - top - bottom);
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12" role="img">
<title>{t}</title><rect width="100%" height="100%" fill="white"/>
<text x="{tx}" y="22" text-anchor="middle" font-size="14">{t}</text>
"##,
        t = escape(&c.title),
        tx = left + pw / 2.0
    );
    let pts: Vec<(f64, f64)> = c
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (fx(x), y))
        .collect();
    if pts.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#777">no data yet</text></svg>"##,
            left + pw / 2.0,
            top + ph / 2.0
        );
        return s;
    }
    let xs = pts
        .iter()
        .map(|p| p.0)
        .chain(c.markers.iter().map(|m| fx(m.0)));
    let (mut x0, mut x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (mut y0, mut y1) = pts
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    if c.diagonal {
        let (lo, hi) = (x0.min(y0), x1.max(y1));
        (x0, x1, y0, y1) = (lo, hi, lo, hi);
    }
    let pad = |a: f64, b: f64| {
        let d = if b > a {
            (b - a) * 0.05
        } else {
            a.abs().max(1.0) * 0.1
        };
        (a - d, b + d)
    };
    (x0, x1) = pad(x0, x1);
    (y0, y1) = match c.y_range {
        Some((a, b)) if b > a => (a - (b - a) * 0.02, b + (b - a) * 0.02),
        _ => pad(y0, y1),
    };
    // `pt`: an already transformed x; `px`: a data x.
    let pt = |x: f64| left + (x - x0) / (x1 - x0) * pw;
    let px = |x: f64| pt(fx(x));
    let py = |y: f64| top + (1.0 - (y - y0) / (y1 - y0)) * ph;
    for t in ticks(y0, y1) {
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{x2:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="end">{v}</text>"##,
            y = py(t),
            x2 = left + pw,
            tx = left - 6.0,
            ty = py(t) + 4.0,
            v = tick_text(t)
        );
    }
    // On a log₂ axis the ticks are the points' own x values.
    let x_ticks: Vec<f64> = if c.x_log2 {
        let mut v: Vec<f64> = c
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v.into_iter().take(16).collect()
    } else {
        ticks(x0, x1).into_iter().collect()
    };
    for t in x_ticks {
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{y2:.1}" stroke="#f0f0f0"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle">{v}</text>"##,
            x = px(t),
            y2 = top + ph,
            ty = top + ph + 16.0,
            v = tick_text(t)
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(16 {}) rotate(-90)" text-anchor="middle">{}</text>"##,
        left + pw / 2.0,
        h - 10.0,
        escape(&c.x_label),
        top + ph / 2.0,
        escape(&c.y_label)
    );
    if c.diagonal {
        let _ = writeln!(
            s,
            r##"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#999" stroke-dasharray="4 3"/>"##,
            pt(x0),
            py(x0),
            pt(x1),
            py(x1)
        );
    }
    for (x, label) in &c.markers {
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{y2:.1}" stroke="#b00" stroke-dasharray="5 3"/><text x="{tx:.1}" y="{ty:.1}" fill="#b00" font-size="11">{l}</text>"##,
            x = px(*x),
            y2 = top + ph,
            tx = px(*x) + 3.0,
            ty = top + 12.0,
            l = escape(label)
        );
    }
    let mut legend_row = 0;
    for (k, series) in c.series.iter().enumerate() {
        let color = CHART_COLORS[series.color.unwrap_or(k) % CHART_COLORS.len()];
        let p: Vec<(f64, f64)> = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| (px(*x), py(*y)))
            .collect();
        match series.mark {
            Mark::Line => {
                let path: Vec<String> = p.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = writeln!(
                    s,
                    r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
                    path.join(" ")
                );
                for (x, y) in &p {
                    let _ = writeln!(
                        s,
                        r##"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{color}"/>"##
                    );
                }
            }
            Mark::Dots => {
                for (x, y) in &p {
                    let _ = writeln!(
                        s,
                        r##"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}" fill-opacity="0.75"/>"##
                    );
                }
            }
            Mark::Rings => {
                for (x, y) in &p {
                    let _ = writeln!(
                        s,
                        r##"<circle cx="{x:.1}" cy="{y:.1}" r="4.5" fill="none" stroke="{color}" stroke-width="1.5"/>"##
                    );
                }
            }
            Mark::Faint => {
                for (x, y) in &p {
                    let _ = writeln!(
                        s,
                        r##"<circle cx="{x:.1}" cy="{y:.1}" r="2" fill="{color}" fill-opacity="0.18"/>"##
                    );
                }
            }
            Mark::Crosses => {
                for (x, y) in &p {
                    let _ = writeln!(
                        s,
                        r##"<path d="M{:.1} {:.1}l8 8m0 -8l-8 8" stroke="{color}" stroke-width="2"/>"##,
                        x - 4.0,
                        y - 4.0
                    );
                }
            }
        }
        if series.label.is_empty() {
            continue;
        }
        let ly = top + 12.0 + 18.0 * legend_row as f64;
        legend_row += 1;
        let lx = left + pw + 12.0;
        let sample = match series.mark {
            Mark::Line => format!(
                r##"<line x1="{lx}" y1="{ly}" x2="{:.1}" y2="{ly}" stroke="{color}" stroke-width="2"/>"##,
                lx + 18.0
            ),
            Mark::Crosses => format!(
                r##"<path d="M{:.1} {:.1}l8 8m0 -8l-8 8" stroke="{color}" stroke-width="2"/>"##,
                lx + 5.0,
                ly - 4.0
            ),
            Mark::Rings => format!(
                r##"<circle cx="{:.1}" cy="{ly}" r="4.5" fill="none" stroke="{color}" stroke-width="1.5"/>"##,
                lx + 9.0
            ),
            Mark::Dots | Mark::Faint => format!(
                r##"<circle cx="{:.1}" cy="{ly}" r="3" fill="{color}"/>"##,
                lx + 9.0
            ),
        };
        let fit = ((right - 30.0) / 7.0) as usize;
        let label: String = series.label.chars().take(fit.max(8)).collect();
        let _ = writeln!(
            s,
            r##"{sample}<text x="{:.1}" y="{:.1}">{}</text>"##,
            lx + 24.0,
            ly + 4.0,
            escape(&label)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod chart_tests {
    use super::*;

    #[test]
    fn a_chart_escapes_and_draws_each_mark() {
        let c = Chart {
            title: "board <script>alert(1)</script> & co".into(),
            x_label: "minutes".into(),
            y_label: "p90 ms".into(),
            series: vec![
                ChartSeries {
                    label: "m<0>".into(),
                    mark: Mark::Line,
                    points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN)],
                    color: None,
                },
                ChartSeries {
                    label: "lab".into(),
                    mark: Mark::Crosses,
                    points: vec![(1.0, 1.5)],
                    color: None,
                },
            ],
            markers: vec![(1.5, "shift x1.2".into())],
            ..Default::default()
        };
        let svg = chart_svg(&c);
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        assert!(svg.contains("m&lt;0&gt;") && svg.contains("shift x1.2"));
        assert_eq!(svg.matches("<polyline").count(), 1);
        assert!(svg.trim_end().ends_with("</svg>"));
        let empty = chart_svg(&Chart::default());
        assert!(empty.contains("no data yet"));
        assert_eq!(ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(tick_text(-0.0), "0");
        assert_eq!(tick_text(-1e-17), "0");
        assert_eq!(tick_text(2.5), "2.5");
    }
}
