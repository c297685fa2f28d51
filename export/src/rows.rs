//! Building table rows from the profiler's in-memory results.
//!
//! The profiler knows nothing of serialization; this is the one place where a
//! [`Measurement`] becomes a [`LatencyRow`] and an [`OpStat`] an [`OpRow`].

use frontier_profiler::fingerprint::{Fingerprint, LoadReport};
use frontier_profiler::harness::{Measurement, OpStat};

use frontier_table::{LatencyRow, OpRow, SCHEMA_VERSION};

/// Facts shared by every row of one profiling session and backend.
#[derive(Debug, Clone)]
pub struct SessionFacts<'a> {
    pub fingerprint: &'a Fingerprint,
    pub load: &'a LoadReport,
    pub backend: &'a str,
    pub backend_version: &'a str,
    pub threads: u32,
    /// ONNX Runtime's inter-op threads; `None` for backends without them.
    pub inter_threads: Option<u32>,
    /// Graph optimization level; `None` for tract (always fully optimized).
    pub graph_opt: Option<&'a str>,
    pub execution_provider: &'a str,
    pub seed: u64,
    pub overhead_ns: Option<f64>,
    pub probe_ref_ms: Option<f64>,
    pub probe_session_ms: Option<f64>,
    pub probe_session_beta: Option<f64>,
    pub probe_beta: Option<f64>,
    /// Which probe (`cpu` or `net-...`); `None` when the probe was off.
    pub probe: Option<&'a str>,
    pub measured_at: &'a str,
}

/// Facts about one profiled model.
#[derive(Debug, Clone)]
pub struct ModelFacts<'a> {
    pub path: &'a str,
    pub name: &'a str,
    pub sha256: &'a str,
    /// Canonical inputs text (`frontier_profiler::inputs::inputs_key`).
    pub inputs: &'a str,
    /// Compact JSON of the architecture config, when known.
    pub arch: Option<&'a str>,
    /// The search space of `arch`, when known.
    pub space: Option<&'a str>,
    pub peak_rss_mb: Option<f64>,
}

/// Round to 6 significant decimals of a millisecond (a nanosecond): the clock
/// cannot resolve more, and shorter numbers keep tables readable.
fn r(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

pub fn latency_row(s: &SessionFacts, m: &ModelFacts, x: &Measurement) -> LatencyRow {
    let fp = s.fingerprint;
    let load = s.load;
    LatencyRow {
        schema_version: SCHEMA_VERSION.into(),
        device_id: fp.device_id.clone(),
        backend: s.backend.into(),
        backend_version: s.backend_version.into(),
        model_path: m.path.into(),
        model_sha256: m.sha256.into(),
        inputs: m.inputs.into(),
        threads: s.threads,
        n_runs: x.raw.n as u64,
        mean_ms: r(x.raw.mean),
        median_ms: r(x.raw.median),
        p10_ms: r(x.raw.p10),
        p90_ms: r(x.raw.p90),
        p99_ms: r(x.raw.p99),
        min_ms: r(x.raw.min),
        max_ms: r(x.raw.max),
        std_ms: x.raw.std.map(r),
        cv: x.raw.cv.map(r),
        probe_ratio: r(x.probe_ratio),
        median_ms_corrected: r(x.corrected.median),
        unstable: x.unstable,
        peak_rss_mb: m.peak_rss_mb.map(|v| (v * 100.0).round() / 100.0),
        measured_at: s.measured_at.into(),
        frontier_version: frontier_profiler::FRONTIER_VERSION.into(),
        arch: m.arch.map(String::from),
        model_name: Some(m.name.into()),
        p95_ms: Some(r(x.raw.p95)),
        mad_ms: Some(r(x.raw.mad)),
        outliers: Some(x.raw.outliers as u64),
        ci95_rel: x.ci95_rel.map(r),
        round_ci95_rel: x.round_ci95_rel.map(r),
        p10_ms_corrected: Some(r(x.corrected.p10)),
        p90_ms_corrected: Some(r(x.corrected.p90)),
        mean_ms_corrected: Some(r(x.corrected.mean)),
        round_spread: Some(r(x.round_spread)),
        round_spread_raw: Some(r(x.round_spread_raw)),
        probe_drift: Some(r(x.probe_drift)),
        instances: Some(x.instances),
        instance_spread: x.instance_spread.map(r),
        probe_ref_ms: s.probe_ref_ms.map(r),
        probe_session_ms: s.probe_session_ms.map(r),
        probe_session_beta: s.probe_session_beta.map(|b| (b * 1000.0).round() / 1000.0),
        probe_beta: s.probe_beta.map(|b| (b * 1000.0).round() / 1000.0),
        probe: s.probe.map(String::from),
        unstable_reason: x.unstable_reason.clone(),
        stop_reason: Some(x.stop.name().into()),
        rounds: Some(x.rounds),
        // No re-measurement since 1.5: nothing to count.
        attempts: None,
        warmup_runs: Some(x.warmup_runs),
        overhead_ns: s.overhead_ns.map(|v| v.round()),
        seed: Some(s.seed),
        inter_threads: s.inter_threads,
        graph_opt: s.graph_opt.map(String::from),
        execution_provider: Some(s.execution_provider.into()),
        fastest: None,
        device_class_id: Some(fp.device_class_id.clone()),
        hostname: fp.hostname.clone(),
        cpu_model: Some(fp.cpu_model.clone()),
        cpu_arch: Some(fp.cpu_arch.clone()),
        target_triple: Some(fp.target_triple.clone()),
        os: Some(fp.os.clone()),
        kernel: Some(fp.kernel.clone()),
        logical_cores: Some(fp.logical_cores as u32),
        physical_cores: fp.physical_cores.map(|c| c as u32),
        cpu_freq_mhz: fp.cpu_freq_mhz,
        cpu_max_freq_mhz: fp.cpu_max_freq_mhz,
        governor: fp.governor.clone(),
        mem_total_mb: Some(fp.mem_total_mb),
        cpu_features: Some(fp.cpu_features.join(" ")),
        temperature_c: load
            .temperature_c
            .or(fp.temperature_c)
            .map(|t| (t as f64 * 10.0).round() / 10.0),
        cpu_util_pct: load.cpu_util_pct.map(|v| (v * 10.0).round() / 10.0),
        other_util_pct: load.other_util_pct.map(|v| (v * 10.0).round() / 10.0),
        steal_pct: load.steal_pct.map(|v| (v * 10.0).round() / 10.0),
        cpu_pressure_avg10: load.cpu_pressure_avg10,
        load_avg_1m: Some(load.load_avg_1m),
        space: m.space.map(String::from),
        row_id: None,
        contention: None,
        contention_kind: None,
        median_ci95_rel: x.interval.map(|i| r(i.half_width)),
        temperature_start_c: fp.temperature_c.map(|t| (t as f64 * 10.0).round() / 10.0),
        power_online: fp.power_online,
        invocation: None,
        reference: None,
    }
}

pub fn op_rows(s: &SessionFacts, m: &ModelFacts, ops: &[OpStat]) -> Vec<OpRow> {
    ops.iter()
        .map(|o| OpRow {
            schema_version: SCHEMA_VERSION.into(),
            device_id: s.fingerprint.device_id.clone(),
            backend: s.backend.into(),
            backend_version: s.backend_version.into(),
            model_path: m.path.into(),
            model_sha256: m.sha256.into(),
            inputs: m.inputs.into(),
            threads: s.threads,
            node_id: o.node_id as u64,
            node_name: o.name.clone(),
            op_type: o.op_type.clone(),
            runs: o.runs as u64,
            median_ms: r(o.median_ms),
            mean_ms: r(o.mean_ms),
            share: r(o.share),
            measured_at: s.measured_at.into(),
            frontier_version: frontier_profiler::FRONTIER_VERSION.into(),
        })
        .collect()
}

/// Mark, per (model, inputs, threads), the row with the lowest corrected
/// median as `fastest`; rows with a single backend are marked too.
/// Unstable rows take part but a stable row wins over an unstable one.
pub fn mark_fastest(rows: &mut [LatencyRow]) {
    use std::collections::HashMap;
    let mut best: HashMap<(String, String, u32), usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let key = (row.model_sha256.clone(), row.inputs.clone(), row.threads);
        let better = match best.get(&key) {
            None => true,
            Some(&j) => {
                let b = &rows[j];
                (row.unstable, row.median_ms_corrected) < (b.unstable, b.median_ms_corrected)
            }
        };
        if better {
            best.insert(key, i);
        }
    }
    for row in rows.iter_mut() {
        row.fastest = Some(false);
    }
    for (_, i) in best {
        rows[i].fastest = Some(true);
    }
}
