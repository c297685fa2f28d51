//! `frontier inspect`: a model's declared inputs, parameters, MACs and op
//! histogram, computed from its graph (tract supplies the shapes).

use crate::cli::InspectArgs;

#[cfg(not(feature = "tract"))]
pub fn run(_args: InspectArgs) -> anyhow::Result<i32> {
    anyhow::bail!("inspect needs tract's shape inference, and this build has no tract; fix: build with --features tract")
}

#[cfg(feature = "tract")]
pub fn run(args: InspectArgs) -> anyhow::Result<i32> {
    use anyhow::Context;
    use frontier_export::inspect::{InputReport, InspectReport};
    use frontier_profiler::backend::Backend;
    use frontier_profiler::inputs::{self, InputSpec};
    use frontier_session::discover;
    let specs = InputSpec::parse_all(&args.inputs)?;
    let b = frontier_profiler::tract_backend::TractBackend::default();
    let path = &args.model;
    let info = b.inspect(path)?;
    discover::check_specs_used(
        &specs,
        &info
            .inputs
            .iter()
            .map(|i| i.name.clone())
            .collect::<Vec<_>>(),
    )?;
    let resolved = inputs::resolve(path, &info.inputs, &specs)?;
    let stats = b.graph_stats(path, &resolved)?;
    let arch = discover::arch_from_manifest(path)?
        .map(|a| serde_json::from_str(&a.arch))
        .transpose()
        .context("manifest arch is not JSON")?;
    let report = InspectReport {
        file: path.display().to_string(),
        sha256: discover::sha256_file(path)?,
        inputs: info
            .inputs
            .iter()
            .zip(&resolved)
            .map(|(d, r)| InputReport {
                name: d.name.clone(),
                declared: match &d.dims {
                    Some(dims) => format!(
                        "[{}]",
                        dims.iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => "unknown rank".into(),
                },
                resolved: r.to_string(),
            })
            .collect(),
        params: stats.initializer_elements,
        macs: stats.macs,
        op_counts: stats.op_counts,
        uncounted: stats.uncounted,
        arch,
    };
    if args.json {
        print!("{}", report.to_json_line());
    } else {
        print!("{}", report.to_text());
    }
    Ok(0)
}
