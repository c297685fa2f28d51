//! `frontier profile --check`: every available backend runs each model once
//! on the same seeded inputs; the outputs of each are compared with the
//! first backend's (tract when present). Nothing is timed. Exit code 1 when
//! a model differs by more than the tolerance or could not be compared.

use std::io::Write;

use frontier_export::check::CheckLine;
use frontier_profiler::backend::{ready_state, Backend, OutputTensor};
use frontier_profiler::check;
use frontier_profiler::inputs::{self, InputSpec};

use crate::backends;
use crate::cli::{BackendChoice, ProfileArgs};
use frontier_session::discover;

pub fn run(args: &ProfileArgs) -> anyhow::Result<i32> {
    let specs = InputSpec::parse_all(&args.inputs)?;
    let config = crate::settings::resolve(&args.measure, args.seed, specs, false)?.config;
    let specs = &config.specs;
    let all = backends::selected(BackendChoice::Auto, &args.ort, None)?;
    if all.len() < 2 {
        anyhow::bail!(
            "--check compares backends, but only {} works here; `frontier doctor` says why the others do not",
            all[0].name()
        );
    }
    let (base, fill) = (&config.options, config.fill);
    let (paths, errors) = discover::models(&args.paths);
    let mut failed = !errors.is_empty();
    for e in &errors {
        eprintln!("error: {}", e.message);
    }
    if !args.json {
        println!(
            "{:<40} {:<14} {:>11} {:>11}  result (tolerance {:.0e} of the output scale)",
            "model", "backends", "max abs", "max rel", args.check_tolerance
        );
    }
    for path in &paths {
        let run = |b: &dyn Backend| -> Result<(String, Vec<OutputTensor>), String> {
            let options = backends::options_for(b, base);
            let (resolved, mut state) =
                ready_state(b, path, specs, fill, &options).map_err(|e| e.to_string())?;
            let out = state.outputs().map_err(|e| e.to_string())?;
            Ok((inputs::inputs_key(&resolved), out))
        };
        let reference = run(all[0].as_ref());
        for other in &all[1..] {
            let mut line = CheckLine {
                model_path: path.display().to_string(),
                inputs: String::new(),
                seed: args.seed,
                reference: all[0].name().into(),
                backend: other.name().into(),
                max_abs: None,
                max_rel: None,
                elements: 0,
                tolerance: args.check_tolerance,
                ok: false,
                error: None,
            };
            match (&reference, run(other.as_ref())) {
                (Ok((key, r)), Ok((_, o))) => {
                    let c = check::compare(&o, r);
                    line.inputs = key.clone();
                    line.max_abs = Some(c.max_abs);
                    line.max_rel = Some(c.max_rel);
                    line.elements = c.elements;
                    line.ok = c.within(args.check_tolerance);
                    line.error = c.mismatch.clone();
                }
                (Err(e), _) => line.error = Some(e.clone()),
                (_, Err(e)) => line.error = Some(e),
            }
            failed |= !line.ok;
            if args.json {
                std::io::stdout().write_all(&line.to_json_line())?;
            } else {
                let name = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let num = |v: Option<f64>| v.map(|x| format!("{x:.3e}")).unwrap_or("-".into());
                println!(
                    "{:<40} {:<14} {:>11} {:>11}  {}",
                    name,
                    format!("{} vs {}", line.backend, line.reference),
                    num(line.max_abs),
                    num(line.max_rel),
                    match (&line.error, line.ok) {
                        (Some(e), _) => format!("FAILED: {e}"),
                        (None, true) => "ok".into(),
                        (None, false) => "DIFFERS".into(),
                    }
                );
            }
        }
    }
    if paths.is_empty() {
        eprintln!("error: no models to check");
        return Ok(1);
    }
    Ok(if failed { 1 } else { 0 })
}
