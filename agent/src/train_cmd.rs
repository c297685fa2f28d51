//! `frontier train` and `frontier predict`: latency predictors from latency
//! tables (local files, or `collector:URL`), and predictions from them.
//!
//! Reading rows and writing files; the training itself (row selection,
//! weighting, few-shot split, provenance) is `frontier-train`.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use frontier_predictor::{self as predictor, Predictor, PredictorFile, Space};
use frontier_table::{self as table, LatencyRow};
use frontier_train::{Filters, Request};

use crate::cli::{PredictArgs, TrainArgs};

fn read_rows(source: &str, token: Option<&str>) -> anyhow::Result<Vec<LatencyRow>> {
    if let Some(url) = source.strip_prefix("collector:") {
        return crate::upload_cmd::fetch(url, token)
            .with_context(|| format!("{source}: cannot read rows"));
    }
    Ok(table::read::<LatencyRow>(Path::new(source))?)
}

/// A predictor from a file, or the one a collector keeps fresh
/// (`collector:URL?device=NAME[&backend=B][&threads=T]`, or `?id=PID`);
/// with a line that says where it came from.
pub fn read_predictor(source: &str) -> anyhow::Result<(PredictorFile, String)> {
    let (text, origin) = match source.strip_prefix("collector:") {
        Some(rest) => crate::upload_cmd::fetch_predictor(rest)
            .with_context(|| format!("{source}: cannot fetch the predictor"))?,
        None => (
            std::fs::read_to_string(source)
                .with_context(|| format!("{source}: cannot read the predictor"))?,
            source.to_string(),
        ),
    };
    let file = PredictorFile::from_json(&text).with_context(|| origin.clone())?;
    Ok((file, origin))
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))
}

pub fn train(args: TrainArgs) -> anyhow::Result<i32> {
    let space = Space::parse(&args.space)
        .with_context(|| format!("--space {}: unknown; fix: use ofa-mbv3 or gpt2", args.space))?;
    let mut all = Vec::new();
    for t in &args.tables {
        all.extend(read_rows(t, args.token.as_deref())?);
    }
    let (source, source_origin) = match &args.from {
        Some(from) => {
            let (file, origin) = read_predictor(from)?;
            (Some(file), origin)
        }
        None => (None, String::new()),
    };
    let req = Request {
        space: Some(space),
        filters: Filters {
            device: args.device.clone(),
            backend: args.backend.clone(),
            threads: args.threads,
        },
        kind: args.kind,
        source,
        source_origin,
        shots: args.shots,
        seed: args.seed,
        origin: args.tables.join(", "),
    };
    let t = frontier_train::train(&all, &req, &mut |w| eprintln!("warning: {w}"))?;
    let (file, trained) = (&t.file, &t.trained);
    write(&args.out, file.to_json())?;
    if let Some(path) = &args.onnx {
        let meta = t.onnx_metadata();
        let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (*k, v.as_str())).collect();
        write(path, predictor::onnx::to_onnx(&file.fitted, &meta)?)?;
    }
    if let Some(report) = &args.report {
        let from = args.from.clone();
        write(
            report,
            serde_json::to_vec_pretty(&t.report(from, args.shots))?,
        )?;
        write(
            &report.with_extension("svg"),
            predictor::plot::learning_curve_svg(&trained.learning_curve, &t.curve_title()),
        )?;
    }
    print!("{}", t.render());
    eprintln!("wrote {}", args.out.display());
    Ok(0)
}

/// What an `--archs` file names: table rows, `{"arch": ...}` or manifest lines.
fn targets_of(path: &Path, p: &PredictorFile) -> anyhow::Result<frontier_train::Targets> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(frontier_train::targets_of_lines(
        &text,
        &path.display().to_string(),
        p.references.as_ref(),
    )?)
}

pub fn predict(args: PredictArgs) -> anyhow::Result<i32> {
    let (p, origin) = read_predictor(&args.predictor)?;
    if args.predictor.starts_with("collector:") {
        eprintln!("using {origin}");
    }
    let targets = match (&args.arch, &args.archs) {
        (Some(a), None) => frontier_train::Targets {
            archs: vec![(a.clone(), None)],
            ..Default::default()
        },
        (None, Some(f)) => targets_of(f, &p)?,
        _ => bail!("give --arch JSON or --archs FILE.jsonl"),
    };
    for (inv, o) in &targets.offsets {
        eprintln!(
            "invocation {inv}: {} from the predictor's scale; its predictions are scaled to it",
            o.describe()
        );
    }
    if !targets.unaligned.is_empty() {
        eprintln!(
            "note: {} invocation(s) of the table measured reference subnets, but {}; their predictions are on the predictor's scale (a few percent apart); fix: retrain with this version",
            targets.unaligned.len(),
            if p.references.is_none() {
                "the predictor has none (trained before predictor file 1.1 or from rows without references)"
            } else {
                "fewer than two are the predictor's"
            }
        );
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for (i, (a, inv)) in targets.archs.iter().enumerate() {
        let on = inv
            .as_deref()
            .and_then(|i| targets.factor(Some(i)).map(|o| (i, o)));
        match p.predict(a) {
            Ok(mut pr) => {
                if let Some((_, o)) = on {
                    pr.ms *= o.factor;
                    pr.interval = (pr.interval.0 * o.factor, pr.interval.1 * o.factor);
                }
                writeln!(
                    out,
                    "{}",
                    frontier_train::prediction_line_on(a, &pr, on, args.json)
                )?
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: architecture {}: {e}", i + 1);
            }
        }
    }
    out.flush()?;
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_weigh_fully_at_the_profilers_default_target() {
        assert_eq!(
            frontier_train::rows::REFERENCE_CI,
            frontier_profiler::harness::DEFAULT_TARGET_CI
        );
    }
}
