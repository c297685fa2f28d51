//! Plots as SVG text (the caller writes or embeds them), with no tract:
//! the learning curve (share of held-out predictions within ±10% and ±5%,
//! and Kendall's τ, against the rows trained on), `frontier search`'s
//! frontier, and [`chart_svg`], the general chart the collector's web view
//! draws every plot with (points, lines, vertical markers). Every text
//! drawn is escaped: labels may carry a board's name.

use std::fmt::Write;

use crate::CurvePoint;

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;

/// A plotted metric: legend, colour, value.
type Series = (&'static str, &'static str, fn(&CurvePoint) -> f64);

/// An SVG line chart of `points` (rows on a log₂ axis, metrics 0-1).
pub fn learning_curve_svg(points: &[CurvePoint], title: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>
"##,
        (LEFT + W - RIGHT) / 2.0,
        escape(title)
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let xs: Vec<f64> = points.iter().map(|p| (p.rows as f64).log2()).collect();
    let (x0, x1) = match (xs.first(), xs.last()) {
        (Some(a), Some(b)) if b > a => (*a, *b),
        (Some(a), _) => (*a - 1.0, *a + 1.0),
        _ => (0.0, 1.0),
    };
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| TOP + (1.0 - y.clamp(0.0, 1.0)) * ph;
    // Axes, grid and ticks.
    for i in 0..=5 {
        let y = i as f64 / 5.0;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{4:.1}</text>"##,
            py(y),
            LEFT + pw,
            LEFT - 6.0,
            py(y) + 4.0,
            y
        );
    }
    for p in points {
        let x = px((p.rows as f64).log2());
        let _ = writeln!(
            s,
            r##"<line x1="{x}" y1="{0}" x2="{x}" y2="{1}" stroke="#999"/><text x="{x}" y="{2}" text-anchor="middle">{3}</text>"##,
            TOP + ph,
            TOP + ph + 5.0,
            TOP + ph + 18.0,
            p.rows
        );
    }
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>
<text x="{}" y="{}" text-anchor="middle">profiled rows trained on (held-out rows scored)</text>"##,
        LEFT + pw / 2.0,
        H - 12.0
    );
    let series: [Series; 3] = [
        ("within ±10%", "#1f77b4", |p| p.metrics.within_10pct),
        ("within ±5%", "#2ca02c", |p| p.metrics.within_5pct),
        ("Kendall τ", "#d62728", |p| p.metrics.kendall_tau),
    ];
    for (k, (name, color, get)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|p| format!("{:.1},{:.1}", px((p.rows as f64).log2()), py(get(p))))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"##,
            path.join(" ")
        );
        for pt in &path {
            let (x, y) = pt.split_once(',').expect("x,y");
            let _ = writeln!(s, r##"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"##);
        }
        let ly = TOP + 16.0 + 20.0 * k as f64;
        let _ = writeln!(
            s,
            r##"<line x1="{0}" y1="{ly}" x2="{1}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{2}" y="{3}">{name}</text>"##,
            LEFT + pw + 12.0,
            LEFT + pw + 32.0,
            LEFT + pw + 38.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
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
        assert_eq!(svg.matches("<circle").count(), 9);
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        // 40 rows at the right edge of the plot, ±10% share 0.8 at 20% from the top.
        assert!(svg.contains(&format!(
            "{:.1},{:.1}",
            LEFT + (W - LEFT - RIGHT),
            TOP + 0.2 * (H - TOP - BOTTOM)
        )));
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

const PALETTE: [plotters::style::RGBColor; 6] = [
    plotters::style::RGBColor(31, 119, 180),
    plotters::style::RGBColor(214, 39, 40),
    plotters::style::RGBColor(44, 160, 44),
    plotters::style::RGBColor(148, 103, 189),
    plotters::style::RGBColor(255, 127, 14),
    plotters::style::RGBColor(23, 190, 207),
];

/// Accuracy against latency for each device: every candidate faint, the
/// frontier highlighted, measured points as crosses. Returns SVG text.
pub fn frontier_svg(series: &[FrontierSeries], title: &str, accuracy_label: &str) -> String {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 520)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let all = || {
            series
                .iter()
                .flat_map(|s| s.evaluated.iter().chain(&s.frontier).chain(&s.measured))
                .filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        let (mut x0, mut x1, mut y0, mut y1) = all().fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), (x, y)| (a.min(*x), b.max(*x), c.min(*y), d.max(*y)),
        );
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad = |lo: f64, hi: f64| {
            let p = ((hi - lo) * 0.05).max(hi.abs() * 1e-3).max(1e-9);
            (lo - p, hi + p)
        };
        let ((x0, x1), (y0, y1)) = (pad(x0.max(0.0), x1), pad(y0, y1));
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1);
        let Ok(mut chart) = chart else {
            return svg_fallback(title);
        };
        let _ = chart
            .configure_mesh()
            .x_desc("latency (ms): predicted (points), measured (crosses)")
            .y_desc(accuracy_label)
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw();
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let faint = color.mix(0.18);
            let _ = chart.draw_series(
                s.evaluated
                    .iter()
                    .map(|p| Circle::new(*p, 2, faint.filled())),
            );
            let _ = chart
                .draw_series(LineSeries::new(
                    s.frontier.iter().copied(),
                    color.stroke_width(2),
                ))
                .map(|legend| {
                    legend
                        .label(format!("{} frontier", s.label))
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                        })
                });
            let _ = chart.draw_series(
                s.frontier
                    .iter()
                    .map(|p| Circle::new(*p, 4, color.filled())),
            );
            if !s.measured.is_empty() {
                let _ = chart
                    .draw_series(
                        s.measured
                            .iter()
                            .map(|p| Cross::new(*p, 5, color.stroke_width(2))),
                    )
                    .map(|legend| {
                        legend
                            .label(format!("{} measured", s.label))
                            .legend(move |(x, y)| Cross::new((x + 9, y), 5, color.stroke_width(2)))
                    });
            }
        }
        let _ = chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw();
        let _ = root.present();
    }
    svg
}

fn svg_fallback(title: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="800" height="80"><text x="10" y="40">{}: nothing to plot</text></svg>"#,
        escape(title)
    )
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
}

/// One series of [`Chart`].
#[derive(Debug, Clone)]
pub struct ChartSeries {
    pub label: String,
    pub mark: Mark,
    pub points: Vec<(f64, f64)>,
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
    pub width: f64,
    pub height: f64,
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
    let (left, right, top, bottom) = (64.0, 170.0, 36.0, 48.0);
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
    let xs = pts.iter().map(|p| p.0).chain(c.markers.iter().map(|m| m.0));
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
    (y0, y1) = pad(y0, y1);
    let px = |x: f64| left + (x - x0) / (x1 - x0) * pw;
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
    for t in ticks(x0, x1) {
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
            px(x0),
            py(x0),
            px(x1),
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
    for (k, series) in c.series.iter().enumerate() {
        let color = CHART_COLORS[k % CHART_COLORS.len()];
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
        let ly = top + 12.0 + 18.0 * k as f64;
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
            Mark::Dots => format!(
                r##"<circle cx="{:.1}" cy="{ly}" r="3" fill="{color}"/>"##,
                lx + 9.0
            ),
        };
        let label: String = series.label.chars().take(24).collect();
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
                },
                ChartSeries {
                    label: "lab".into(),
                    mark: Mark::Crosses,
                    points: vec![(1.0, 1.5)],
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
    }
}
