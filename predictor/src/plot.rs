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
