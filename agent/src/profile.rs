//! `frontier profile`: measure models on this device and write a latency table.
//!
//! Thin wiring: the flags become a [`SessionConfig`], the paths (or, with
//! `--space`, subnets generated in memory) become [`Model`]s, the session
//! (`frontier-session`) measures them, and this module writes the rows
//! (`--out`, `--json`, the summary) and uploads them (`--upload`). A model
//! that fails at any step is reported on stderr and gets no row; the others
//! go on.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use frontier_profiler::harness::Progress;
use frontier_profiler::inputs::InputSpec;
use frontier_session::{self as session, Milestones, Model, Observer, Outcome};
use frontier_spaces::SampleSpec;
use frontier_table::{self as table, LatencyRow, OpRow};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::backends;
use crate::cli::{ContentionKindChoice, ProfileArgs, Space};
use crate::settings::{self, Settings};
use frontier_export::summary;

fn ops_path(out: &Path) -> PathBuf {
    let stem = out.file_stem().and_then(|s| s.to_str()).unwrap_or("table");
    let ext = out.extension().and_then(|s| s.to_str()).unwrap_or("jsonl");
    out.with_file_name(format!("{stem}.ops.{ext}"))
}

/// Progress bar, warnings and start-up milestones of `frontier profile`.
struct Cli {
    bar: ProgressBar,
    names: Vec<String>,
    milestones: Milestones,
    quiet: bool,
}

impl Observer for Cli {
    fn milestone(&mut self, what: &'static str) {
        self.milestones.mark(what);
    }

    fn measuring(&mut self, names: &[String], rounds: u32) {
        self.names = names.to_vec();
        self.bar
            .set_length(names.len() as u64 * (2 + rounds as u64));
        self.milestones.mark("models prepared (first measurement)");
        self.milestones.print();
    }

    fn progress(&mut self, p: &Progress) {
        match p {
            Progress::WarmedUp { subject } => {
                self.bar
                    .set_message(format!("warm-up {}", self.names[*subject]));
                self.bar.inc(1);
            }
            Progress::SliceDone { subject, round, .. } => {
                if self.bar.position() + 1 >= self.bar.length().unwrap_or(0) {
                    self.bar.inc_length(self.names.len() as u64);
                }
                self.bar
                    .set_message(format!("round {} {}", round + 1, self.names[*subject]));
                self.bar.inc(1);
            }
            Progress::Stopped { .. } => {}
        }
    }

    fn warn(&mut self, message: &str) {
        // "wrote back ... page cache" is information, the rest are warnings.
        if message.starts_with("wrote back") {
            if !self.quiet {
                self.bar.suspend(|| eprintln!("{message}"));
            }
        } else {
            self.bar.suspend(|| eprintln!("warning: {message}"));
        }
    }

    fn error(&mut self, message: &str) {
        self.bar.suspend(|| eprintln!("error: {message}"));
    }

    fn note(&mut self, message: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("{message}"));
        }
    }
}

/// The models of a command line: files and directories, or with `--space`
/// subnets generated in memory. Problems with paths are returned as failures.
fn sample_spec(args: &ProfileArgs, space: Space) -> SampleSpec {
    SampleSpec {
        strategy: args.sampler,
        seq_len: args.seq_len,
        ..SampleSpec::new(space, args.seed)
    }
}

fn models(args: &ProfileArgs) -> anyhow::Result<(Vec<Model>, Vec<String>)> {
    if let Some(space) = args.space {
        if args.budget.is_some() {
            // Chosen batch by batch (active.rs).
            return Ok((Vec::new(), Vec::new()));
        }
        let samples = args.samples.context(
            "--space needs --samples N (how many subnets) or --budget DURATION (active profiling)",
        )?;
        let spec = sample_spec(args, space);
        return Ok((Model::sampled(&spec, samples as usize)?, Vec::new()));
    }
    Ok(Model::files(&args.paths))
}

/// The space whose reference subnets this invocation measures (`--references`).
fn references_space(args: &ProfileArgs) -> anyhow::Result<Option<Space>> {
    match args.references.as_str() {
        "none" => Ok(None),
        // Files may be of any size and shape (a GPT-2 export of another
        // sequence length than the references'): references by name only.
        "auto" => Ok(args.space),
        name => Space::parse(name).map(Some).with_context(|| {
            format!(
                "--references {name}: not auto, none or a space ({}); fix: name one of them",
                Space::names()
            )
        }),
    }
}

pub fn run(args: ProfileArgs) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let mut milestones = Milestones::new();
    for (flag, given) in [
        ("--target-round-ci", args.target_round_ci.is_some()),
        ("--max-spread", args.max_spread.is_some()),
        ("--retries", args.retries.is_some()),
    ] {
        if given {
            eprintln!("warning: {flag} is ignored since table 1.5: a model stops on its interval (--target-ci), is flagged on it (--max-ci), and is never re-measured");
        }
    }
    if args.budget.is_some_and(|b| b.is_zero()) {
        anyhow::bail!("--budget must be longer than 0 (e.g. 15m)");
    }
    let specs = InputSpec::parse_all(&args.inputs)?;
    let Settings {
        mut config,
        memory_budget,
    } = settings::resolve(&args.measure, args.seed, specs, args.per_op)?;
    // Refuse an output we could not append to before spending time measuring.
    if let Some(out) = &args.out {
        table::check_appendable::<LatencyRow>(out)?;
        if args.per_op {
            table::check_appendable::<OpRow>(
                &args.ops_out.clone().unwrap_or_else(|| ops_path(out)),
            )?;
        }
    } else if let (Some(ops_out), true) = (&args.ops_out, args.per_op) {
        table::check_appendable::<OpRow>(ops_out)?;
    }
    // Where rows will be uploaded, and the spool, before any measuring.
    let upload = match &args.upload {
        Some(url) => Some(crate::upload_cmd::Upload::prepare(
            Some(url.as_str()).filter(|u| !u.is_empty()),
            args.token.as_deref(),
        )?),
        None => None,
    };
    let backends = backends::selected(args.backend, &args.ort, memory_budget)?;
    milestones.mark("backends ready");

    let (mut models, mut failures) = models(&args)?;
    // One id for every row of this invocation, references measured beside
    // its models (in the first batch when profiling actively).
    config.invocation = Some(session::new_invocation_id());
    let references = match references_space(&args)? {
        Some(space) if args.contention.is_empty() && !args.check => Model::references(space)?,
        _ => Vec::new(),
    };
    if args.budget.is_none() || args.space.is_none() {
        models = session::interleave(models, references.clone());
    }
    for f in &failures {
        eprintln!("error: {f}");
    }
    settings::warn_unused_options(&args.measure, &backends);
    if args.space.is_none() {
        config.deadline = args.budget.map(|b| started + b);
    }
    // A path that failed before the session had its inputs unread, so an
    // unmatched --input name proves nothing.
    config.check_unused_inputs = failures.is_empty();
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let bar = ProgressBar::with_draw_target(
        None,
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
    let mut cli = Cli {
        bar,
        names: Vec::new(),
        milestones,
        quiet: args.quiet,
    };
    // Rows are written as soon as a session ends: with --budget, batch by batch.
    let mut write = |o: &Outcome| -> anyhow::Result<()> {
        if let Some(out) = &args.out {
            table::append(out, &o.rows)?;
            if args.per_op {
                let ops_out = args.ops_out.clone().unwrap_or_else(|| ops_path(out));
                table::append(&ops_out, &o.op_rows)?;
            }
        } else if let Some(ops_out) = &args.ops_out {
            table::append(ops_out, &o.op_rows)?;
        }
        Ok(())
    };
    let outcome = match (args.budget, args.space) {
        (Some(budget), Some(space)) => {
            let spec = sample_spec(&args, space);
            let r = crate::active::run(
                spec, budget, references, &config, &backends, &mut cli, &mut write,
            )?;
            if let Some(path) = &args.predictor_out {
                match frontier_train::planner::predictor_file(r.trained.as_ref(), &r.training_rows) {
                    Some(file) => {
                        std::fs::write(path, file.to_json())
                            .with_context(|| format!("{}: cannot write", path.display()))?;
                        eprintln!("wrote {} ({})", path.display(), file.reason);
                    }
                    None => eprintln!(
                        "warning: {} not written: {} rows are too few for a predictor ({} needed); fix: a longer --budget",
                        path.display(),
                        r.training_rows.len(),
                        frontier_predictor::Kind::Learned.min_rows()
                    ),
                }
            }
            r.outcome
        }
        _ if !args.contention.is_empty() => {
            let kind = match args.contention_kind {
                ContentionKindChoice::Cpu => session::ContentionKind::Cpu,
                ContentionKindChoice::Memory => session::ContentionKind::Memory,
            };
            session::run_contention(
                &config,
                &args.contention,
                kind,
                &backends,
                &models,
                &mut cli,
                &mut write,
            )?
        }
        _ => {
            let o = session::run(config, &backends, &models, &mut cli)?;
            write(&o)?;
            o
        }
    };
    cli.bar.finish_and_clear();
    failures.extend(outcome.failures.iter().cloned());
    let mut rows_out = outcome.rows;
    if rows_out.is_empty() {
        eprintln!(
            "error: nothing could be profiled ({} problem(s) above)",
            failures.len()
        );
        return Ok(1);
    }

    if args.json {
        std::io::stdout().write_all(&table::to_jsonl(&rows_out))?;
    }
    if !args.quiet {
        let text = summary::render(
            &rows_out,
            &outcome.op_stats,
            &outcome.fingerprint,
            &outcome.load,
            outcome.overhead_ns,
            outcome.elapsed,
        );
        if args.json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if !args.quiet {
        report_reference_scale(&rows_out);
    }
    if let Some(upload) = upload {
        // Spooled means kept through crashes; sending may fail and retry later.
        if let Err(e) = upload.finish(&mut rows_out, args.upload_wait) {
            eprintln!("error: {e:#}; the rows above were measured but not queued for upload");
            return Ok(1);
        }
    }
    Ok(if args.strict && !failures.is_empty() {
        1
    } else {
        0
    })
}

/// The summary's line on the invocation's reference subnets: its offset
/// from this device's first invocation that measured them (per backend and
/// thread count), or that they became that scale.
fn report_reference_scale(rows: &[LatencyRow]) {
    use frontier_session::reference_scale;
    use frontier_train::align;
    let mut settings: std::collections::BTreeMap<(String, u32), Vec<&LatencyRow>> =
        std::collections::BTreeMap::new();
    for r in rows.iter().filter(|r| r.is_reference()) {
        settings
            .entry((r.backend.clone(), r.threads))
            .or_default()
            .push(r);
    }
    for ((backend, threads), refs) in settings {
        let Some(measured) = align::references_by_invocation(refs.iter().copied())
            .into_values()
            .next()
        else {
            continue;
        };
        let setting = format!("{backend}, {threads} thread(s)");
        match reference_scale::load(refs[0]) {
            Some(scale) => match align::offset(&measured, &scale) {
                Some(o) => eprintln!(
                    "reference subnets ({setting}): this invocation is {} from this device's first that measured them",
                    o.describe()
                ),
                None => eprintln!(
                    "reference subnets ({setting}): fewer than two in common with this device's stored scale"
                ),
            },
            None => match reference_scale::store(refs[0], &measured) {
                Ok(path) => eprintln!(
                    "reference subnets ({setting}): {} measured; later invocations on this device state their offset from them ({})",
                    measured.len(),
                    path.display()
                ),
                Err(e) => eprintln!("warning: reference subnets not kept: {e}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_file_beside_table() {
        assert_eq!(
            ops_path(Path::new("out/t.csv")),
            PathBuf::from("out/t.ops.csv")
        );
        assert_eq!(ops_path(Path::new("t.jsonl")), PathBuf::from("t.ops.jsonl"));
    }
}
