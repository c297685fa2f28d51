//! A model file a user exported themselves may stand in for a generated
//! one (a manifest entry's `file`): it must be the architecture it claims.
//! Checked from the graph (tract's shape inference, feature `tract`): the
//! input shape, the MACs (each Conv and Gemm at its output size) and, for
//! OFA, the layers' weight elements (each Conv's and Gemm's weight input,
//! counted per layer), both exactly as the space counts them
//! (`ofa_mbv3::layer_weights`, `macs_exact`; GPT-2: Hugging Face's MACs).
//! Biases are not counted: exporters share or drop all-zero ones (of
//! PyTorch's exports of reference subnet 3, TorchScript's keeps 4,557,896
//! stored elements, dynamo's 4,553,528, for the same network), while the
//! weights and MACs agree whatever the exporter.

use std::path::Path;

use frontier_spaces::Arch;

/// Why `path` is not the architecture `arch` (or could not be read),
/// naming the model, both counts and the fix.
pub fn check(name: &str, path: &Path, arch: &Arch) -> Result<(), String> {
    let want_input: Vec<usize> = match arch {
        Arch::Ofa(a) => vec![1, 3, a.r as usize, a.r as usize],
        Arch::Gpt2(a) => vec![1, a.seq_len as usize],
    };
    let (input, macs, weights) = graph_counts(path, &want_input)?;
    let fix = "fix: export the architecture the manifest gives it, or remove the file so that Frontier generates it";
    if input != want_input {
        return Err(format!(
            "{name}: {} takes input {input:?}, the architecture {want_input:?}; {fix}",
            path.display()
        ));
    }
    if macs != arch.macs() {
        return Err(format!(
            "{name}: {} has {macs} MACs, the architecture {}; {fix}",
            path.display(),
            arch.macs()
        ));
    }
    if let Arch::Ofa(a) = arch {
        let want = frontier_spaces::ofa_mbv3::layer_weights(a);
        if weights != want {
            return Err(format!(
                "{name}: {} has {weights} weight elements in its layers, the architecture {want}; {fix}",
                path.display()
            ));
        }
    }
    Ok(())
}

#[cfg(feature = "tract")]
fn graph_counts(path: &Path, input: &[usize]) -> Result<(Vec<usize>, u64, u64), String> {
    use frontier_profiler::backend::Backend;
    use frontier_profiler::inputs::{self, InputSpec};
    let tract = frontier_profiler::tract_backend::TractBackend::default();
    let info = tract.inspect(path).map_err(|e| e.to_string())?;
    // Symbolic dimensions take the claimed shape; fixed ones stay and are compared.
    let spec = InputSpec {
        name: None,
        shape: input.to_vec(),
        dtype: None,
    };
    // Declared shapes first; the claimed shape only for symbolic ones.
    let resolved = inputs::resolve(path, &info.inputs, &[])
        .or_else(|_| inputs::resolve(path, &info.inputs, &[spec]))
        .map_err(|e| e.to_string())?;
    let shape = resolved
        .first()
        .map(|r| r.shape.clone())
        .unwrap_or_default();
    let stats = tract
        .graph_stats(path, &resolved)
        .map_err(|e| e.to_string())?;
    Ok((shape, stats.macs, stats.layer_weight_elements))
}

#[cfg(not(feature = "tract"))]
fn graph_counts(path: &Path, _input: &[usize]) -> Result<(Vec<usize>, u64, u64), String> {
    Err(format!(
        "{}: checking a model file's architecture needs tract's shape inference, and this build has no tract; fix: build with --features tract, or remove the file so that Frontier generates it",
        path.display()
    ))
}

/// Check every model file of `manifest` (relative to `dir`) that exists and
/// is not the file Frontier generates for its entry (the supernet's
/// weights when the manifest names one and `supernet` is given, else
/// seeded weights of seed `search.seed + position`): a user's own export
/// standing in must be its entry's architecture.
pub fn check_manifest(
    manifest: &frontier_table::frontier::Manifest,
    dir: &Path,
    supernet: Option<&frontier_spaces::supernet::Supernet>,
) -> Result<(), String> {
    let Some(space) = frontier_spaces::Space::parse(&manifest.space) else {
        return Ok(());
    };
    for (n, m) in manifest.models.iter().enumerate() {
        let path = dir.join(&m.file);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let arch = Arch::parse(space, &m.arch.to_string())
            .map_err(|e| format!("{}: {e}", m.name))?
            .canonical();
        let net = supernet.filter(|_| manifest.supernet.is_some());
        let seed = manifest.search.seed.wrapping_add(n as u64);
        let ours = arch.generate_from(net, seed).ok().map(|g| g.onnx);
        if ours.as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        check(&m.name, &path, &arch)?;
    }
    Ok(())
}
