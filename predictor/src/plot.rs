//! The learning curve as an SVG document (returned as text; the caller
//! writes it): share of held-out predictions within ±10% and ±5%, and
//! Kendall's τ, against the number of profiled rows trained on.

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
