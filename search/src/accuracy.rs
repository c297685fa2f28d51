//! Where a search's accuracy objective comes from: a proxy (`macs`,
//! `params`), a table of measured accuracies (`table:FILE`, which also
//! restricts the search to its architectures), or an ONNX model of the
//! space's encoding (`onnx:FILE`, run in fixed batches through a profiler
//! backend the caller chooses).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use frontier_profiler::backend::Backend;
use frontier_profiler::inputs::{self, DType, Dim, InputSpec, InputTensor, TensorData};
use frontier_spaces::{Arch, Space};
use frontier_table::frontier::AccuracySource;

/// Accuracy of a batch of architectures (one value each), or why not.
pub type AccuracyEval = Box<dyn FnMut(&[Arch]) -> Result<Vec<f64>, String>>;

/// Architectures an ONNX accuracy model scores per call.
pub const BATCH: usize = 256;

/// A bad accuracy source: the message names the file (and line) and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct AccuracyError(pub String);

/// An accuracy source as `--accuracy` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    Macs,
    Params,
    Table(PathBuf),
    Onnx(PathBuf),
}

impl Spec {
    pub fn parse(spec: &str) -> Result<Spec, AccuracyError> {
        Ok(match spec {
            "macs" => Spec::Macs,
            "params" => Spec::Params,
            _ => {
                if let Some(p) = spec.strip_prefix("table:") {
                    Spec::Table(p.into())
                } else if let Some(p) = spec.strip_prefix("onnx:") {
                    Spec::Onnx(p.into())
                } else {
                    return Err(AccuracyError(format!("--accuracy {spec}: unknown source; fix: onnx:FILE, table:FILE.jsonl, macs or params")));
                }
            }
        })
    }
}

/// An accuracy objective: what the manifest records, the pool a table
/// restricts the search to, and the evaluation.
pub struct Accuracy {
    pub source: AccuracySource,
    pub pool: Option<Vec<Arch>>,
    pub eval: AccuracyEval,
}

fn source(spec: &str, description: &str) -> AccuracySource {
    AccuracySource {
        source: spec.to_string(),
        description: description.to_string(),
    }
}

/// The `macs` or `params` proxy (more is assumed more accurate).
pub fn proxy(spec: &Spec) -> Option<Accuracy> {
    match spec {
        Spec::Macs => Some(Accuracy {
            source: source(
                "macs",
                "proxy: multiply-accumulates in millions (more is assumed more accurate)",
            ),
            pool: None,
            eval: Box::new(|a: &[Arch]| Ok(a.iter().map(|a| a.macs() as f64 / 1e6).collect())),
        }),
        Spec::Params => Some(Accuracy {
            source: source(
                "params",
                "proxy: parameters in millions (more is assumed more accurate)",
            ),
            pool: None,
            eval: Box::new(|a: &[Arch]| Ok(a.iter().map(|a| a.params() as f64 / 1e6).collect())),
        }),
        _ => None,
    }
}

/// A table of `{"arch": ..., "accuracy": x}` lines (`text` read from
/// `path`): the search is restricted to its architectures.
pub fn table(path: &Path, text: &str, space: Space) -> Result<Accuracy, AccuracyError> {
    let mut pool = Vec::new();
    let mut map: HashMap<String, f64> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{}:{}", path.display(), n + 1);
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| AccuracyError(format!("{}: not JSON: {e}", at())))?;
        let arch = match &v["arch"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => {
                return Err(AccuracyError(format!("{}: no `arch` field", at())))
            }
            other => other.to_string(),
        };
        let acc = v["accuracy"]
            .as_f64()
            .filter(|a| a.is_finite())
            .ok_or_else(|| AccuracyError(format!("{}: `accuracy` must be a number", at())))?;
        let arch = Arch::parse(space, &arch)
            .map_err(|e| AccuracyError(format!("{}: {e}", at())))?
            .canonical();
        if map.insert(arch.json(), acc).is_none() {
            pool.push(arch);
        }
    }
    if pool.is_empty() {
        return Err(AccuracyError(format!(
            "{}: the accuracy table is empty; fix: one {{\"arch\": ..., \"accuracy\": x}} per line",
            path.display()
        )));
    }
    Ok(Accuracy {
        source: source(
            &format!("table:{}", path.display()),
            "measured accuracy from a table; the search is restricted to its architectures",
        ),
        pool: Some(pool),
        eval: Box::new(move |a: &[Arch]| {
            a.iter()
                .map(|a| {
                    map.get(&a.json())
                        .copied()
                        .ok_or_else(|| format!("{} is not in the table", a.json()))
                })
                .collect()
        }),
    })
}

/// An ONNX model taking `[batch, encoding]` and returning `[batch]` or
/// `[batch, 1]`, prepared once on `backend` for batches of [`BATCH`].
pub fn onnx(path: &Path, space: Space, backend: &dyn Backend) -> Result<Accuracy, AccuracyError> {
    let len = space.encoding_len();
    let info = backend
        .inspect(path)
        .map_err(|e| AccuracyError(format!("--accuracy onnx:{}: {e}", path.display())))?;
    let fix = format!("fix: an accuracy model takes one input [batch, {len}] (the {space} encoding) and returns [batch] or [batch, 1]");
    let [input] = &info.inputs[..] else {
        return Err(AccuracyError(format!(
            "{}: the accuracy model has {} inputs; {fix}",
            path.display(),
            info.inputs.len()
        )));
    };
    if let Some(dims) = &input.dims {
        let width_ok = matches!(dims.get(1), Some(Dim::Fixed(w)) if *w == len)
            || matches!(dims.get(1), Some(Dim::Symbolic(_) | Dim::Unknown));
        if dims.len() != 2 || !width_ok {
            let shown: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
            return Err(AccuracyError(format!(
                "{}: input `{}` is [{}], not [batch, {len}]; {fix}",
                path.display(),
                input.name,
                shown.join(", ")
            )));
        }
    }
    let spec = InputSpec {
        name: None,
        shape: vec![BATCH, len],
        dtype: Some(DType::F32),
    };
    let load_error = |e: &dyn std::fmt::Display| {
        AccuracyError(format!(
            "{}: cannot load the accuracy model: {e}; {fix}",
            path.display()
        ))
    };
    let resolved = inputs::resolve(path, &info.inputs, &[spec]).map_err(|e| load_error(&e))?;
    let prepared = backend
        .prepare(path, &resolved, &Default::default())
        .map_err(|e| load_error(&e))?;
    let name = path.display().to_string();
    let input_name = resolved[0].name.clone();
    Ok(Accuracy {
        source: source(
            &format!("onnx:{}", path.display()),
            "an ONNX model's output for the space's encoding",
        ),
        pool: None,
        eval: Box::new(move |archs: &[Arch]| {
            let mut out = Vec::with_capacity(archs.len());
            for chunk in archs.chunks(BATCH) {
                let mut flat = vec![0f32; BATCH * len];
                for (i, a) in chunk.iter().enumerate() {
                    flat[i * len..(i + 1) * len].copy_from_slice(&a.encode());
                }
                let x = InputTensor {
                    name: input_name.clone(),
                    shape: vec![BATCH, len],
                    data: TensorData::F32(flat),
                };
                let y = prepared
                    .state(&[x])
                    .and_then(|mut s| s.outputs())
                    .map_err(|e| format!("{name}: {e}"))?;
                let y = y
                    .into_iter()
                    .next()
                    .ok_or_else(|| format!("{name}: no output"))?;
                if !(y.shape == [BATCH] || y.shape == [BATCH, 1]) {
                    return Err(format!(
                        "{name}: output shape {:?} for a batch of {BATCH}; an accuracy model returns [batch] or [batch, 1]",
                        y.shape
                    ));
                }
                out.extend_from_slice(&y.values[..chunk.len()]);
            }
            Ok(out)
        }),
    })
}
