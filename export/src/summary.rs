//! The human summary printed at the end of `frontier profile`. Presentation
//! only: it reads finished rows and never measures.

use std::fmt::Write;
use std::time::Duration;

use frontier_profiler::fingerprint::{Fingerprint, LoadReport};
use frontier_profiler::harness::OpStat;
use frontier_table::LatencyRow;

fn ms(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Render rows as an aligned table with the device, load and per-op figures.
pub fn render(
    rows: &[LatencyRow],
    ops: &[(String, String, Vec<OpStat>)],
    fp: &Fingerprint,
    load: &LoadReport,
    overhead_ns: f64,
    elapsed: Duration,
) -> String {
    let header = [
        "model",
        "backend",
        "thr",
        "runs",
        "median ms",
        "corrected",
        "±95%",
        "p10-p90 ms",
        "cv",
        "spread",
        "probe",
        "peak MB",
        "flags",
    ];
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        let mut flags = Vec::new();
        if r.unstable {
            flags.push("UNSTABLE");
        }
        if r.fastest == Some(true) {
            flags.push("fastest");
        }
        // Stopped short of the interval's target: say why.
        if let Some(reason @ ("plateau" | "max_time" | "budget")) = r.stop_reason.as_deref() {
            flags.push(reason);
        }
        table.push(vec![
            r.model_name.clone().unwrap_or_else(|| r.model_path.clone()),
            r.backend.clone(),
            r.threads.to_string(),
            r.n_runs.to_string(),
            ms(r.median_ms),
            ms(r.median_ms_corrected),
            pct(r.median_ci95_rel),
            format!("{}-{}", ms(r.p10_ms), ms(r.p90_ms)),
            pct(r.cv),
            pct(r.round_spread),
            format!("{:.2}", r.probe_ratio),
            r.peak_rss_mb
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "-".into()),
            flags.join(","),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in table.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                if c < 2 || c == header.len() - 1 {
                    format!("{cell:<w$}", w = widths[c])
                } else {
                    format!("{cell:>w$}", w = widths[c])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if i == 0 {
            let _ = writeln!(
                out,
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
            );
        }
    }
    let short: Vec<String> = rows
        .iter()
        .filter(|r| {
            matches!(
                r.stop_reason.as_deref(),
                Some("plateau" | "max_time" | "budget")
            )
        })
        .map(|r| {
            format!(
                "{} ({})",
                r.model_name.as_deref().unwrap_or(&r.model_path),
                r.stop_reason.as_deref().unwrap_or("")
            )
        })
        .collect();
    if !short.is_empty() {
        let unstable = rows.iter().filter(|r| r.unstable).count();
        let _ = writeln!(
            out,
            "
{} of {} rows stopped short of --target-ci: {}; {} row(s) flagged UNSTABLE (interval wider than --max-ci)",
            short.len(),
            rows.len(),
            short.join(", "),
            unstable
        );
    }
    for (model, backend, stats) in ops {
        let _ = writeln!(
            out,
            "\ntop operators of {model} on {backend} (share of summed node medians):"
        );
        for s in stats.iter().take(5) {
            let _ = writeln!(
                out,
                "  {:>5.1}%  {:>9} ms  {:<24} {}",
                s.share * 100.0,
                ms(s.median_ms),
                s.op_type,
                s.name
            );
        }
    }
    let _ = writeln!(
        out,
        "\ndevice {} ({}, {} logical cores, {}), {} MiB",
        fp.device_id, fp.cpu_model, fp.logical_cores, fp.target_triple, fp.mem_total_mb
    );
    let opt = |v: Option<f64>| v.map(|x| format!("{x:.0}%")).unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "load during measurement: cpu {} (others {}, steal {}), load avg {:.2}; harness overhead {:.0} ns/run; {:.1} s",
        opt(load.cpu_util_pct),
        opt(load.other_util_pct),
        opt(load.steal_pct),
        load.load_avg_1m,
        overhead_ns,
        elapsed.as_secs_f64()
    );
    out
}
