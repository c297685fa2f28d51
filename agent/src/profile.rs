//! `frontier profile`: measure models on this device and write a latency table.
//!
//! Order of work: expand paths; fingerprint the device and calibrate the
//! harness overhead; prepare every (model, backend) pair, recording the peak
//! memory that preparing and a first run added; measure all of them
//! interleaved; optionally profile per operator; write rows. A model that
//! fails at any step is reported on stderr and gets no row; the others go on.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use frontier_export::rows::{self, ModelFacts, SessionFacts};
use frontier_export::table::{self, Format, LatencyRow, OpRow};
use frontier_profiler::backend::{Backend, GraphOpt, ModelState, PrepareOptions};
use frontier_profiler::clock::MonotonicClock;
use frontier_profiler::fingerprint::{Fingerprint, LoadMonitor};
use frontier_profiler::harness::{
    self, Harness, HarnessConfig, OpStat, ProbeConfig, Progress, WarmupConfig,
};
use frontier_profiler::inputs::{self, FillOptions, InputSpec};
use frontier_profiler::memory::{self, PeakTracker};
use frontier_profiler::probe::{CpuProbe, ModelProbe, Probe};
use frontier_profiler::ProfileError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backends;
use crate::cli::{ProbeKind, ProfileArgs, SessionBeta};
use crate::discover;
use crate::probe_ref;
use crate::summary;

/// How the probe reference is chosen (`--probe-ref`).
#[derive(Debug, Clone, PartialEq)]
enum ProbeRef {
    Auto,
    Session,
    Off,
    Fixed(f64),
}

fn parse_probe_ref(s: &str) -> anyhow::Result<ProbeRef> {
    Ok(match s.trim() {
        "auto" => ProbeRef::Auto,
        "session" => ProbeRef::Session,
        "off" => ProbeRef::Off,
        other => {
            let v: f64 = other.trim_end_matches("ms").parse().ok().filter(|v: &f64| *v > 0.0).with_context(|| {
                format!("--probe-ref '{s}': expected auto, session, off or a positive duration in ms")
            })?;
            ProbeRef::Fixed(v)
        }
    })
}

/// A prepared (model, backend) pair, ready to measure.
struct Subject {
    backend: usize,
    path: PathBuf,
    sha256: String,
    arch: Option<discover::ManifestArch>,
    inputs_key: String,
    peak_rss_mb: Option<f64>,
}

/// What preparing one (model, backend) pair gives.
/// Dirty page cache above which `profile` writes it back before measuring.
const DIRTY_FLUSH_THRESHOLD: u64 = 32 << 20;

struct Ready {
    inputs_key: String,
    peak_rss_mb: Option<f64>,
    /// Independently prepared instances, the first one measured for memory.
    states: Vec<Box<dyn ModelState>>,
}

fn prepare_one(
    backend: &dyn Backend,
    path: &Path,
    specs: &[InputSpec],
    fill: FillOptions,
    options: &PrepareOptions,
    instances: u32,
    seen_inputs: &mut Vec<String>,
) -> Result<Ready, ProfileError> {
    let info = backend.inspect(path)?;
    seen_inputs.extend(info.inputs.iter().map(|i| i.name.clone()));
    let resolved = inputs::resolve(path, &info.inputs, specs)?;
    let tracker = PeakTracker::start();
    let prepared = backend.prepare(path, &resolved, options)?;
    let data = inputs::generate(&resolved, fill);
    let mut state = prepared.state(&data)?;
    // One run before measuring: errors surface here, and the peak includes a run.
    state.run()?;
    let peak_rss_mb = tracker.added_mb();
    let mut states = vec![state];
    let wanted = instances.max(1) as usize;
    let fits = match peak_rss_mb {
        // Extra copies may use half of what is available, so that measuring
        // never pushes the device into swap.
        Some(mb) if mb > 0.0 => {
            let avail_mb = memory::available_memory() as f64 / (1 << 20) as f64;
            1 + ((avail_mb / 2.0) / mb).floor() as usize
        }
        _ => wanted,
    };
    drop(prepared); // states own what they run, as below
    while states.len() < wanted.min(fits) {
        let extra = backend.prepare(path, &resolved, options).and_then(|p| {
            let mut s = p.state(&data)?;
            s.run()?;
            Ok(s)
        });
        match extra {
            Ok(s) => states.push(s),
            Err(e) => {
                eprintln!(
                    "warning: {}: instance {} of {wanted} failed ({e}); measuring {}",
                    path.display(),
                    states.len() + 1,
                    states.len()
                );
                break;
            }
        }
    }
    if fits < wanted {
        eprintln!(
            "warning: {}: {} of {wanted} instances (each adds {:.0} MB; half the available memory holds {fits}); fix: --instances {fits}, or free memory",
            path.display(),
            states.len(),
            peak_rss_mb.unwrap_or(0.0),
        );
    }
    Ok(Ready {
        inputs_key: inputs::inputs_key(&resolved),
        peak_rss_mb,
        states,
    })
}

fn harness_config(
    a: &ProfileArgs,
    probe: &ProbeRef,
    stored: Option<f64>,
) -> anyhow::Result<HarnessConfig> {
    let config = HarnessConfig {
        warmup: WarmupConfig {
            min_runs: a.warmup,
            min_time: a.warmup_time,
            ..WarmupConfig::default()
        },
        min_runs: a.min_runs,
        min_time: a.min_time,
        max_time: a.max_time,
        rounds: a.rounds,
        target_ci: a.target_ci,
        target_round_ci: a.target_round_ci,
        max_spread: a.max_spread,
        retries: a.retries,
        probe: ProbeConfig {
            enabled: *probe != ProbeRef::Off,
            reference_ms: match probe {
                ProbeRef::Fixed(v) => Some(*v),
                ProbeRef::Auto => stored,
                _ => None,
            },
            session_elasticity: match a.probe_session_beta {
                SessionBeta::Auto => None,
                SessionBeta::Fixed(b) => Some(b),
            },
            ..ProbeConfig::default()
        },
    };
    config.validate().map_err(anyhow::Error::msg)?;
    Ok(config)
}

fn ops_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("table");
    let ext = out.extension().and_then(|s| s.to_str()).unwrap_or("jsonl");
    out.with_file_name(format!("{stem}.ops.{ext}"))
}

/// Whether rows of type `T` can be appended to `path`: a known extension, and
/// for an existing CSV file the same header.
fn check_appendable<T: serde::Serialize + Default>(path: &Path) -> anyhow::Result<()> {
    if Format::from_path(path)? == Format::Csv {
        if let Some(first) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.lines().next().map(String::from))
            .filter(|l| !l.trim().is_empty())
        {
            table::check_append_header(path, &first, &T::default())?;
        }
    }
    Ok(())
}

/// Append rows to a table file, writing the CSV header only to a new file and
/// refusing to append to a CSV file with other columns.
fn append<T: serde::Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let format = Format::from_path(path)?;
    let existing = std::fs::read_to_string(path)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let bytes = match format {
        Format::JsonLines => table::to_jsonl(rows),
        Format::Csv => match &existing {
            Some(text) => {
                table::check_append_header(path, text.lines().next().unwrap_or(""), &rows[0])?;
                table::to_csv(rows, false)
            }
            None => table::to_csv(rows, true),
        },
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open for appending", path.display()))?;
    if existing.as_ref().is_some_and(|t| !t.ends_with('\n')) {
        f.write_all(b"\n")?;
    }
    f.write_all(&bytes)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// The calibration probe and the key of its stored reference. The network
/// probe is the smallest Once-for-All subnet (kernel 3, expand 3, depth 2,
/// resolution 128), generated in memory and prepared by `backend` with the
/// run's threads; if that fails, the CPU probe stands in, with a warning.
fn make_probe(
    args: &ProfileArgs,
    backend: &dyn Backend,
    base: &PrepareOptions,
) -> (Box<dyn Probe>, String) {
    if args.probe == ProbeKind::Network {
        let options = backends::options_for(backend, base);
        match network_probe(backend, &options, args.instances) {
            Ok(p) => {
                // The copy count is in the key: a reference averaged over
                // several copies and one copy's level differ by its luck.
                let copies = p.instances();
                return (
                    Box::new(p),
                    format!(
                        "net-{}-{}-t{}-i{copies}",
                        backend.name(),
                        backend.version(),
                        args.threads
                    ),
                );
            }
            Err(e) => eprintln!("warning: network probe unavailable ({e:#}); using --probe cpu"),
        }
    }
    (Box::new(CpuProbe::new()), "cpu".into())
}

fn network_probe(
    backend: &dyn Backend,
    options: &PrepareOptions,
    copies: u32,
) -> anyhow::Result<ModelProbe> {
    use frontier_export::ofa_mbv3;
    let arch = ofa_mbv3::Arch {
        ks: vec![3; 20],
        e: vec![3; 20],
        d: vec![2; 5],
        r: 128,
    };
    let g = ofa_mbv3::generate(&arch, 0)?;
    let path = std::env::temp_dir().join(format!("frontier-probe-{}.onnx", std::process::id()));
    std::fs::write(&path, &g.onnx).with_context(|| format!("{}: cannot write", path.display()))?;
    let fill = FillOptions {
        seed: 0,
        int_max: 1,
    };
    let result = (0..copies.max(1))
        .map(|_| {
            let (_, mut state) =
                frontier_profiler::backend::ready_state(backend, &path, &[], fill, options)?;
            state.run()?;
            Ok(state)
        })
        .collect::<Result<Vec<_>, ProfileError>>();
    let _ = std::fs::remove_file(&path);
    Ok(ModelProbe::new(result?))
}

/// Session options from the command line, before per-backend adjustment.
pub fn base_options(args: &ProfileArgs) -> PrepareOptions {
    PrepareOptions {
        threads: args.threads as usize,
        inter_threads: args.inter_threads as usize,
        graph_opt: backends::graph_opt(args.graph_opt),
        execution_provider: args.ep.trim().to_ascii_lowercase(),
    }
}

/// Fill the flags not given on the command line from `--policy CLASS`, and
/// turn `--threads 0` into the number of logical cores.
fn apply_policy(args: &mut ProfileArgs) -> anyhow::Result<Option<u64>> {
    let mut budget_mb = args.memory_budget;
    if let Some(class) = &args.policy {
        let p = frontier_targets::policy(class)?;
        let given = |id: &str| args.explicit.iter().any(|e| e == id);
        if !given("warmup") {
            args.warmup = p.warmup;
        }
        if !given("warmup_time") {
            args.warmup_time = p.warmup_time;
        }
        if !given("min_runs") {
            args.min_runs = p.min_runs;
        }
        if !given("min_time") {
            args.min_time = p.min_time;
        }
        if !given("max_time") {
            args.max_time = p.max_time;
        }
        if !given("rounds") {
            args.rounds = p.rounds;
        }
        if !given("instances") {
            args.instances = p.instances;
        }
        if !given("threads") {
            args.threads = p.threads;
        }
        if budget_mb.is_none() {
            budget_mb = frontier_targets::all()?
                .into_iter()
                .find(|c| &c.class == class)
                .map(|c| c.memory_budget_mb);
        }
    }
    if args.threads == 0 {
        args.threads = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
    }
    Ok(budget_mb.map(|mb| mb << 20))
}

/// Start-up milestones, printed on stderr when `FRONTIER_TIMINGS` is set (for
/// the start-up benchmark of docs/BENCHMARKS.md).
struct Milestones {
    start: std::time::Instant,
    on: bool,
    marks: Vec<(&'static str, f64)>,
}

impl Milestones {
    fn new() -> Self {
        Milestones {
            start: std::time::Instant::now(),
            on: std::env::var_os("FRONTIER_TIMINGS").is_some(),
            marks: Vec::new(),
        }
    }

    fn mark(&mut self, what: &'static str) {
        if self.on {
            self.marks
                .push((what, self.start.elapsed().as_secs_f64() * 1e3));
        }
    }

    fn print(&self) {
        if self.on {
            let parts: Vec<String> = self
                .marks
                .iter()
                .map(|(w, t)| format!("{w} {t:.1} ms"))
                .collect();
            eprintln!("timings since start: {}", parts.join(", "));
        }
    }
}

pub fn run(mut args: ProfileArgs) -> anyhow::Result<i32> {
    let mut milestones = Milestones::new();
    let memory_budget = apply_policy(&mut args)?;
    let specs = InputSpec::parse_all(&args.inputs)?;
    let probe_mode = parse_probe_ref(&args.probe_ref)?;
    // Refuse an output we could not append to before spending time measuring.
    if let Some(out) = &args.out {
        check_appendable::<LatencyRow>(out)?;
        if args.per_op {
            check_appendable::<OpRow>(&args.ops_out.clone().unwrap_or_else(|| ops_path(out)))?;
        }
    } else if let (Some(ops_out), true) = (&args.ops_out, args.per_op) {
        check_appendable::<OpRow>(ops_out)?;
    }
    if args.check {
        return crate::check_cmd::run(&args, &specs);
    }
    // Where rows will be uploaded, and the spool, before any measuring.
    let upload = match &args.upload {
        Some(url) => {
            let target = crate::upload_cmd::target(
                Some(url.as_str()).filter(|u| !u.is_empty()),
                args.token.as_deref(),
            )?;
            let spool = frontier_uplink::Spool::open(&crate::upload_cmd::spool_dir()?)?;
            Some((target, spool))
        }
        None => None,
    };
    let backends = backends::selected(args.backend, &args.ort, memory_budget)?;
    let base_options = base_options(&args);
    if backends.iter().all(|b| !b.has_session_options())
        && (args.inter_threads != 1 || base_options.graph_opt != GraphOpt::All)
    {
        eprintln!("warning: --inter-threads and --graph-opt apply to ONNX Runtime only; tract always optimizes fully");
    }
    milestones.mark("backends ready");
    let fingerprint = Fingerprint::collect();
    milestones.mark("fingerprint");
    // No probe with --probe-ref off: preparing the network probe costs a
    // model optimization (seconds under emulation) for nothing.
    let (mut probe, probe_kind) = if probe_mode == ProbeRef::Off {
        (None, String::new())
    } else {
        let (p, kind) = make_probe(&args, backends[0].as_ref(), &base_options);
        (Some(p), kind)
    };
    milestones.mark("probe prepared");
    let stored_ref = match probe_mode {
        ProbeRef::Auto => probe_ref::load(&fingerprint.device_id, &probe_kind),
        _ => None,
    };
    let config = harness_config(&args, &probe_mode, stored_ref)?;

    let (paths, discover_errors) = discover::models(&args.paths);
    let mut failures: Vec<String> = discover_errors.into_iter().map(|e| e.message).collect();
    for f in &failures {
        eprintln!("error: {f}");
    }

    let clock = MonotonicClock::new();
    let overhead_ns = harness::calibrate_overhead(&clock, 20_000);
    milestones.mark("overhead calibrated");
    let load = LoadMonitor::start();
    let fill = FillOptions {
        seed: args.seed,
        int_max: args.int_max,
    };
    let mut subjects: Vec<Subject> = Vec::new();
    let mut states: Vec<Vec<Box<dyn ModelState>>> = Vec::new();
    let mut seen_inputs = Vec::new();
    let mut inspected_all = true;
    for path in &paths {
        let (sha256, arch) = match (
            discover::sha256_file(path),
            discover::arch_from_manifest(path),
        ) {
            (Ok(s), Ok(a)) => (s, a),
            (Err(e), _) | (_, Err(e)) => {
                // Its inputs are unknown, so unmatched --input names prove nothing.
                inspected_all = false;
                let msg = format!("{e:#}");
                eprintln!("error: {msg}");
                failures.push(msg);
                continue;
            }
        };
        for (bix, backend) in backends.iter().enumerate() {
            match prepare_one(
                backend.as_ref(),
                path,
                &specs,
                fill,
                &backends::options_for(backend.as_ref(), &base_options),
                args.instances,
                &mut seen_inputs,
            ) {
                Ok(Ready {
                    inputs_key,
                    peak_rss_mb,
                    states: instances,
                }) => {
                    subjects.push(Subject {
                        backend: bix,
                        path: path.clone(),
                        sha256: sha256.clone(),
                        arch: arch.clone(),
                        inputs_key,
                        peak_rss_mb,
                    });
                    states.push(instances);
                }
                Err(e) => {
                    if matches!(
                        e,
                        ProfileError::NotOnnx { .. }
                            | ProfileError::NotFound { .. }
                            | ProfileError::Unreadable { .. }
                    ) {
                        inspected_all = false;
                    }
                    eprintln!("error: {e}");
                    failures.push(e.to_string());
                }
            }
        }
    }
    if inspected_all {
        discover::check_specs_used(&specs, &seen_inputs)?;
    }
    if subjects.is_empty() {
        eprintln!(
            "error: nothing could be profiled ({} problem(s) above)",
            failures.len()
        );
        return Ok(1);
    }

    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        Some(subjects.len() as u64 * (2 + args.rounds as u64)),
        if show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("static template"),
    );
    let names: Vec<String> = subjects
        .iter()
        .map(|s| {
            s.path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    milestones.mark("models prepared (first measurement)");
    milestones.print();
    let probe: Option<&mut dyn Probe> = match probe.as_mut() {
        Some(p) => Some(p.as_mut()),
        None => None,
    };
    // Models just exported would otherwise be written back during the first
    // minute of measurement (profiler/src/memory.rs).
    if let Some(bytes) = memory::flush_dirty(DIRTY_FLUSH_THRESHOLD) {
        if !args.quiet {
            eprintln!(
                "wrote back {:.0} MB of dirty page cache before measuring",
                bytes as f64 / (1 << 20) as f64
            );
        }
    }
    let mut h = Harness::new(config, &clock, probe);
    let report = h.run(&mut states, &mut |p: &Progress| match p {
        Progress::WarmedUp { subject } => {
            bar.set_message(format!("warm-up {}", names[*subject]));
            bar.inc(1);
        }
        Progress::SliceDone { subject, round, .. } => {
            if bar.position() + 1 >= bar.length().unwrap_or(0) {
                bar.inc_length(names.len() as u64);
            }
            bar.set_message(format!("round {} {}", round + 1, names[*subject]));
            bar.inc(1);
        }
        Progress::Remeasuring { subjects } => {
            bar.println(format!("re-measuring {} unstable model(s)", subjects.len()));
        }
    });
    let load_report = load.finish();
    bar.finish_and_clear();

    if let (Some(stored), Some(session)) = (
        stored_ref,
        frontier_profiler::stats::median(&report.probe_ms),
    ) {
        let ratio = session / stored;
        if !(0.5..=2.0).contains(&ratio) {
            eprintln!(
                "warning: the probe ran {ratio:.2}x its stored reference for this device ({stored:.3} ms); \
                 if the hardware or its settings changed, remove {} so a new reference is stored",
                probe_ref::state_dir().map(|d| d.display().to_string()).unwrap_or_default()
            );
        }
    }
    if probe_mode == ProbeRef::Auto && stored_ref.is_none() {
        if let Some(r) = report.probe_reference_ms {
            if let Err(w) = probe_ref::store(&fingerprint.device_id, &probe_kind, r) {
                eprintln!("warning: cannot store the probe reference ({w}); corrected medians of later runs use their own session median");
            }
        }
    }

    let measured_at = table::now_rfc3339();
    let mut rows_out: Vec<LatencyRow> = Vec::new();
    let mut op_rows: Vec<OpRow> = Vec::new();
    let mut op_stats: Vec<(String, String, Vec<OpStat>)> = Vec::new();
    for ((subject, state), result) in subjects.iter().zip(states.iter_mut()).zip(report.results) {
        let backend = &backends[subject.backend];
        let options = backends::options_for(backend.as_ref(), &base_options);
        let session_options = backend.has_session_options();
        let m = match result {
            Ok(m) => m,
            Err(e) => {
                eprintln!("error: {e}");
                failures.push(e.to_string());
                continue;
            }
        };
        let session = SessionFacts {
            fingerprint: &fingerprint,
            load: &load_report,
            backend: backend.name(),
            backend_version: &backend.version(),
            threads: args.threads,
            inter_threads: session_options.then_some(options.inter_threads as u32),
            graph_opt: session_options.then_some(options.graph_opt.as_str()),
            execution_provider: &options.execution_provider,
            seed: args.seed,
            overhead_ns: Some(overhead_ns),
            probe_ref_ms: report.probe_reference_ms,
            probe_session_ms: report.probe_session_ms,
            probe_session_beta: report.probe_session_beta,
            probe_beta: report.probe_beta,
            probe: (probe_mode != ProbeRef::Off).then_some(probe_kind.as_str()),
            measured_at: &measured_at,
        };
        let path_text = subject.path.display().to_string();
        let name = subject
            .path
            .file_stem()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let facts = ModelFacts {
            path: &path_text,
            name: &name,
            sha256: &subject.sha256,
            inputs: &subject.inputs_key,
            arch: subject.arch.as_ref().map(|a| a.arch.as_str()),
            space: subject.arch.as_ref().and_then(|a| a.space.as_deref()),
            peak_rss_mb: subject.peak_rss_mb,
        };
        if m.unstable {
            eprintln!(
                "warning: {}: unstable on {}: {}",
                path_text,
                backend.name(),
                m.unstable_reason.as_deref().unwrap_or("")
            );
        }
        rows_out.push(rows::latency_row(&session, &facts, &m));
        if args.per_op {
            match harness::profile_ops(state[0].as_mut(), args.per_op_runs as usize) {
                Some(Ok(ops)) => {
                    op_rows.extend(rows::op_rows(&session, &facts, &ops));
                    op_stats.push((name.clone(), backend.name().to_string(), ops));
                }
                Some(Err(e)) => {
                    eprintln!("warning: per-operator profile failed: {e}");
                }
                None => eprintln!("warning: {} has no per-operator profile", backend.name()),
            }
        }
    }
    if backends.len() > 1 {
        rows::mark_fastest(&mut rows_out);
    }
    // Ids last: a row's id is the hash of its final content.
    for row in &mut rows_out {
        table::ensure_row_id(row);
    }

    if let Some(out) = &args.out {
        append(out, &rows_out)?;
        if args.per_op {
            let ops_out = args.ops_out.clone().unwrap_or_else(|| ops_path(out));
            append(&ops_out, &op_rows)?;
        }
    } else if let Some(ops_out) = &args.ops_out {
        append(ops_out, &op_rows)?;
    }
    if args.json {
        std::io::stdout().write_all(&table::to_jsonl(&rows_out))?;
    }
    if !args.quiet {
        let text = summary::render(
            &rows_out,
            &op_stats,
            &fingerprint,
            &load_report,
            overhead_ns,
            report.elapsed,
        );
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if let Some((target, mut spool)) = upload {
        // Spooled means kept through crashes; sending may fail and retry later.
        if let Err(e) = crate::upload_cmd::spool_rows(&mut spool, &mut rows_out) {
            eprintln!("error: {e:#}; the rows above were measured but not queued for upload");
            return Ok(1);
        }
        if let Err(e) = crate::upload_cmd::send(&spool, &target, args.upload_wait, 500) {
            eprintln!("error: upload: {e:#}; the rows stay spooled for `frontier upload`");
        }
    }
    Ok(
        if rows_out.is_empty() || (args.strict && !failures.is_empty()) {
            1
        } else {
            0
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_ref_values() {
        assert_eq!(parse_probe_ref("auto").unwrap(), ProbeRef::Auto);
        assert_eq!(parse_probe_ref("0.5").unwrap(), ProbeRef::Fixed(0.5));
        assert_eq!(parse_probe_ref("2ms").unwrap(), ProbeRef::Fixed(2.0));
        assert!(parse_probe_ref("-1").is_err());
        assert!(parse_probe_ref("fast").is_err());
    }

    #[test]
    fn ops_file_beside_table() {
        assert_eq!(
            ops_path(Path::new("out/t.csv")),
            PathBuf::from("out/t.ops.csv")
        );
        assert_eq!(ops_path(Path::new("t.jsonl")), PathBuf::from("t.ops.jsonl"));
    }
}
