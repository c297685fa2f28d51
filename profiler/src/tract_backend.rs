//! The tract backend: pure Rust, the embedded default.
//!
//! Models are always typed for concrete input shapes, decluttered and
//! optimized before they run (unoptimized tract graphs are ~100x slower and
//! their latency says nothing about deployment). Before optimizing, every
//! intermediate tensor's size is checked against the memory budget so an
//! absurd shape is refused instead of exhausting the machine.
//!
//! Per-operator profiles time each node of the optimized plan through
//! `SimpleState::run_plan_with_eval`. Node and op names are those of tract's
//! optimized graph (fused ops such as `OptMatMul`), which is what runs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use prost::Message;
use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::plan::eval as tract_eval;
use tract_onnx::tract_core::tract_linalg::multithread::Executor;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid, InferenceFact};

use crate::backend::{
    Availability, Backend, GraphOpt, ModelInfo, ModelState, NodeTime, OutputTensor, PrepareOptions,
    PreparedModel,
};
use crate::inputs::{DType, DeclaredInput, Dim, InputTensor, ResolvedInput, TensorData};
use crate::memory::available_memory;
use crate::ProfileError;

/// Version of the tract crates this binary was built with (read from Cargo.lock).
pub const TRACT_VERSION: &str = env!("FRONTIER_TRACT_VERSION");

/// The tract backend. Stateless; cheap to construct.
#[derive(Debug, Clone, Default)]
pub struct TractBackend {
    /// Memory budget for any single tensor and for the inputs together, in bytes.
    /// `None`: the machine's available memory at preparation time.
    pub memory_budget: Option<u64>,
}

fn to_datum(d: DType) -> DatumType {
    match d {
        DType::F32 => DatumType::F32,
        DType::F16 => DatumType::F16,
        DType::F64 => DatumType::F64,
        DType::I64 => DatumType::I64,
        DType::I32 => DatumType::I32,
        DType::I16 => DatumType::I16,
        DType::I8 => DatumType::I8,
        DType::U8 => DatumType::U8,
        DType::Bool => DatumType::Bool,
    }
}

fn from_datum(d: DatumType) -> Option<DType> {
    Some(match d {
        DatumType::F32 => DType::F32,
        DatumType::F16 => DType::F16,
        DatumType::F64 => DType::F64,
        DatumType::I64 => DType::I64,
        DatumType::I32 => DType::I32,
        DatumType::I16 => DType::I16,
        DatumType::I8 => DType::I8,
        DatumType::U8 => DType::U8,
        DatumType::Bool => DType::Bool,
        _ => return None,
    })
}

/// The whole error chain on one line: tract's outer contexts ("Translating
/// node ...") carry the node name, the root the actual cause.
fn chain(e: &TractError) -> String {
    e.chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

impl TractBackend {
    fn budget(&self) -> u64 {
        self.memory_budget.unwrap_or_else(available_memory)
    }

    /// Read and parse a model file; the error says whether the file is missing,
    /// not ONNX, or uses operators tract lacks.
    fn load(&self, path: &Path) -> Result<InferenceModel, ProfileError> {
        self.load_with_proto(path).map(|(_, m)| m)
    }

    /// [`load`](Self::load), also returning the decoded protobuf for callers
    /// that read the graph itself (one decode of the file, not two).
    fn load_with_proto(&self, path: &Path) -> Result<(ModelProto, InferenceModel), ProfileError> {
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ProfileError::NotFound {
                path: path.to_path_buf(),
            },
            _ => ProfileError::Unreadable {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
        if !meta.is_file() {
            return Err(ProfileError::NotOnnx {
                path: path.to_path_buf(),
                reason: "not a regular file".into(),
            });
        }
        let proto = decode(path)?;
        // Random bytes can decode as an empty or garbage protobuf message.
        let graph = proto.graph.as_ref().ok_or_else(|| ProfileError::NotOnnx {
            path: path.to_path_buf(),
            reason: "no graph in the file".into(),
        })?;
        if graph.node.is_empty() || graph.output.is_empty() || proto.opset_import.is_empty() {
            return Err(ProfileError::NotOnnx {
                path: path.to_path_buf(),
                reason: "the graph has no nodes, no outputs or no opset".into(),
            });
        }
        let dir = path.parent().and_then(|d| d.to_str());
        let parsed = tract_onnx::onnx()
            .parse(&proto, dir)
            .map_err(|e| self.prepare_error(path, &e))?;
        if !parsed.unresolved_inputs.is_empty() {
            return Err(ProfileError::NotOnnx {
                path: path.to_path_buf(),
                reason: format!(
                    "inputs referenced but never defined: {:?}",
                    parsed.unresolved_inputs
                ),
            });
        }
        let model = parsed.model;
        if let Some(op) = model.nodes().iter().find_map(|n| {
            n.op.name()
                .strip_prefix("Unimplemented(")
                .map(|s| s.trim_end_matches(')').to_string())
        }) {
            return Err(ProfileError::UnsupportedOperator {
                path: path.to_path_buf(),
                backend: "tract",
                op,
            });
        }
        Ok((proto, model))
    }

    /// The model typed for concrete inputs (not yet optimized).
    fn typed(
        &self,
        path: &Path,
        mut model: InferenceModel,
        inputs: &[ResolvedInput],
    ) -> Result<TypedModel, ProfileError> {
        for (ix, i) in inputs.iter().enumerate() {
            let shape: TVec<TDim> = i.shape.iter().map(|d| d.to_dim()).collect();
            let fact = InferenceFact::dt_shape(to_datum(i.dtype), shape);
            model = model
                .with_input_fact(ix, fact)
                .map_err(|e| self.prepare_error(path, &e))?;
        }
        model.into_typed().map_err(|e| self.prepare_error(path, &e))
    }

    fn prepare_error(&self, path: &Path, e: &TractError) -> ProfileError {
        let text = chain(e);
        if text.contains("external data")
            || text.contains(".onnx.data")
            || text.contains("No such file")
        {
            return ProfileError::Prepare {
                path: path.to_path_buf(),
                backend: "tract",
                detail: format!("{text}; fix: keep the external data file next to the model, under the name the model refers to"),
            };
        }
        ProfileError::Prepare {
            path: path.to_path_buf(),
            backend: "tract",
            detail: text,
        }
    }
}

fn decode(path: &Path) -> Result<ModelProto, ProfileError> {
    let bytes = std::fs::read(path).map_err(|e| ProfileError::Unreadable {
        path: path.to_path_buf(),
        source: e,
    })?;
    ModelProto::decode(bytes.as_slice()).map_err(|e| ProfileError::NotOnnx {
        path: path.to_path_buf(),
        reason: format!("protobuf decoding failed: {e}"),
    })
}

/// Statistics computed from a model's graph itself.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphStats {
    /// Elements of all initializers (each stored tensor once): the
    /// parameters of the exported graph, with BatchNorm folded if it was.
    pub initializer_elements: u64,
    /// Multiply-accumulates of Conv (`out_elements * in/groups * kernel`),
    /// Gemm and MatMul (`out_elements * K`) at the given input shapes.
    pub macs: u64,
    /// Elements of the weight input of every Conv and Gemm layer, each
    /// layer counted even where exporters share one stored tensor between
    /// layers. Biases are left out: exporters drop or share all-zero ones
    /// (batch norm with default statistics), so only the weights say the
    /// same thing whatever the exporter.
    pub layer_weight_elements: u64,
    /// Nodes per ONNX op type.
    pub op_counts: std::collections::BTreeMap<String, usize>,
    /// Conv/Gemm/MatMul nodes whose MACs could not be computed (shape unknown).
    pub uncounted: Vec<String>,
}

impl TractBackend {
    /// Parameters, MACs and the op histogram of an ONNX model at concrete
    /// input shapes. Shapes come from tract's type inference, matched to ONNX
    /// values by name; weights from the initializers.
    pub fn graph_stats(
        &self,
        path: &Path,
        inputs: &[ResolvedInput],
    ) -> Result<GraphStats, ProfileError> {
        use std::collections::{BTreeMap, HashMap};
        let (proto, model) = self.load_with_proto(path)?;
        let typed = self.typed(path, model, inputs)?;
        let graph = proto.graph.unwrap_or_default();
        let shape_of = |name: &str| -> Option<Vec<usize>> {
            let o = typed.find_outlet_label(name).or_else(|| {
                typed
                    .nodes()
                    .iter()
                    .find(|n| n.name == name)
                    .map(|n| OutletId::new(n.id, 0))
            })?;
            typed
                .outlet_fact(o)
                .ok()?
                .shape
                .as_concrete()
                .map(|s| s.to_vec())
        };
        // Initializer dims, followed through Identity nodes (exporters share
        // identical tensors that way).
        let mut dims: HashMap<String, Vec<usize>> = graph
            .initializer
            .iter()
            .map(|t| (t.name.clone(), t.dims.iter().map(|d| *d as usize).collect()))
            .collect();
        for n in graph.node.iter().filter(|n| n.op_type == "Identity") {
            if let (Some(i), Some(o)) = (n.input.first(), n.output.first()) {
                if let Some(d) = dims.get(i).cloned() {
                    dims.insert(o.clone(), d);
                }
            }
        }
        let weight = |name: &str| dims.get(name).cloned().or_else(|| shape_of(name));
        let int_attr = |n: &tract_onnx::pb::NodeProto, a: &str, default: i64| {
            n.attribute
                .iter()
                .find(|x| x.name == a)
                .map(|x| x.i)
                .unwrap_or(default)
        };
        let mut stats = GraphStats {
            initializer_elements: graph
                .initializer
                .iter()
                .map(|t| t.dims.iter().map(|d| *d as u64).product::<u64>())
                .sum(),
            macs: 0,
            layer_weight_elements: 0,
            op_counts: BTreeMap::new(),
            uncounted: Vec::new(),
        };
        for n in &graph.node {
            *stats.op_counts.entry(n.op_type.clone()).or_insert(0) += 1;
            if n.op_type == "Conv" || n.op_type == "Gemm" {
                stats.layer_weight_elements += n
                    .input
                    .get(1)
                    .and_then(|w| dims.get(w))
                    .map(|d| d.iter().product::<usize>() as u64)
                    .unwrap_or(0);
            }
            let out = n.output.first().and_then(|o| shape_of(o));
            let per_output: Option<u64> = match n.op_type.as_str() {
                "Conv" => n
                    .input
                    .get(1)
                    .and_then(|w| weight(w))
                    .map(|w| w.iter().skip(1).product::<usize>() as u64),
                "Gemm" => n.input.get(1).and_then(|b| weight(b)).map(|b| {
                    (if int_attr(n, "transB", 0) != 0 {
                        b.get(1)
                    } else {
                        b.first()
                    })
                    .copied()
                    .unwrap_or(0) as u64
                }),
                "MatMul" => n
                    .input
                    .first()
                    .and_then(|a| weight(a))
                    .and_then(|a| a.last().map(|k| *k as u64)),
                _ => continue,
            };
            match (out, per_output) {
                (Some(o), Some(k)) => stats.macs += o.iter().product::<usize>() as u64 * k,
                _ => stats.uncounted.push(format!("{} ({})", n.name, n.op_type)),
            }
        }
        Ok(stats)
    }
}

/// For graph inputs used directly as `Gather` indices into an initializer
/// (token ids into an embedding): the smallest gathered dimension. Random
/// ids beyond it would be out of range, which tract answers with a panic.
pub(crate) fn gather_bounds(proto: &ModelProto) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    let Some(g) = proto.graph.as_ref() else {
        return out;
    };
    let inputs: std::collections::HashSet<&str> = g.input.iter().map(|i| i.name.as_str()).collect();
    for n in g.node.iter().filter(|n| n.op_type == "Gather") {
        let (Some(data), Some(ix)) = (n.input.first(), n.input.get(1)) else {
            continue;
        };
        if !inputs.contains(ix.as_str()) {
            continue;
        }
        let Some(t) = g.initializer.iter().find(|t| &t.name == data) else {
            continue;
        };
        let axis = n
            .attribute
            .iter()
            .find(|a| a.name == "axis")
            .map(|a| a.i)
            .unwrap_or(0);
        let axis = if axis < 0 {
            axis + t.dims.len() as i64
        } else {
            axis
        };
        if let Some(d) = t.dims.get(axis as usize).filter(|d| **d > 0) {
            let e = out.entry(ix.clone()).or_insert(*d as u64);
            *e = (*e).min(*d as u64);
        }
    }
    out
}

fn declared_inputs(model: &InferenceModel) -> Result<Vec<DeclaredInput>, TractError> {
    model
        .input_outlets()?
        .iter()
        .map(|o| {
            let fact: &InferenceFact = model.outlet_fact(*o)?;
            let dtype = fact.datum_type.concretize().and_then(from_datum);
            let dims = if fact.shape.is_open() {
                None
            } else {
                Some(
                    fact.shape
                        .dims()
                        .map(|d| match d {
                            GenericFactoid::Only(TDim::Val(v)) if *v >= 0 => {
                                Dim::Fixed(*v as usize)
                            }
                            GenericFactoid::Only(other) => Dim::Symbolic(other.to_string()),
                            GenericFactoid::Any => Dim::Unknown,
                        })
                        .collect(),
                )
            };
            Ok(DeclaredInput {
                name: model.node(o.node).name.clone(),
                dtype,
                dims,
                index_bound: None,
            })
        })
        .collect()
}

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn version(&self) -> String {
        TRACT_VERSION.to_string()
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        vec![
            ("linked", "statically (pure Rust)".into()),
            (
                "threads",
                if cfg!(feature = "tract-threads") {
                    "1 or more (--threads)".into()
                } else {
                    "1 (built without the tract-threads feature)".into()
                },
            ),
        ]
    }

    fn availability(&self) -> Availability {
        // Pure Rust, compiled in: it works wherever this binary runs.
        Availability::Available
    }

    fn inspect(&self, model: &Path) -> Result<ModelInfo, ProfileError> {
        let (proto, m) = self.load_with_proto(model)?;
        let mut inputs = declared_inputs(&m).map_err(|e| self.prepare_error(model, &e))?;
        let bounds = gather_bounds(&proto);
        for i in &mut inputs {
            i.index_bound = bounds.get(&i.name).copied();
        }
        Ok(ModelInfo {
            path: model.to_path_buf(),
            inputs,
        })
    }

    fn prepare(
        &self,
        path: &Path,
        inputs: &[ResolvedInput],
        options: &PrepareOptions,
    ) -> Result<Box<dyn PreparedModel>, ProfileError> {
        if options.graph_opt != GraphOpt::All || options.execution_provider != "cpu" {
            return Err(ProfileError::Prepare {
                path: path.to_path_buf(),
                backend: "tract",
                detail: format!(
                    "tract always runs fully optimized on the CPU (asked: graph optimization '{}', execution provider '{}'); fix: drop --graph-opt/--ep or use --backend ort",
                    options.graph_opt.as_str(),
                    options.execution_provider
                ),
            });
        }
        let budget = self.budget();
        crate::inputs::check_size(path, inputs, budget)?;
        let model = self.load(path)?;
        let declared = model
            .input_outlets()
            .map_err(|e| self.prepare_error(path, &e))?
            .len();
        if declared != inputs.len() {
            return Err(ProfileError::Prepare {
                path: path.to_path_buf(),
                backend: "tract",
                detail: format!(
                    "the model has {declared} inputs but {} were resolved",
                    inputs.len()
                ),
            });
        }
        let typed = self.typed(path, model, inputs)?;
        check_intermediates(path, &typed, budget)?;
        let optimized = typed
            .into_optimized()
            .map_err(|e| self.prepare_error(path, &e))?;
        let run_options = RunOptions {
            executor: executor(path, options.threads)?,
            ..RunOptions::default()
        };
        let plan = optimized
            .into_runnable_with_options(&run_options)
            .map_err(|e| self.prepare_error(path, &e))?;
        Ok(Box::new(TractPrepared {
            path: path.to_path_buf(),
            inputs: inputs.to_vec(),
            plan,
        }))
    }
}

/// tract's executor for `threads`: its own thread pool above one thread.
#[cfg(feature = "tract-threads")]
fn executor(_: &Path, threads: usize) -> Result<Option<Executor>, ProfileError> {
    Ok((threads > 1).then(|| Executor::multithread(threads)))
}

/// Without `tract-threads` tract has one thread: more is refused, never
/// silently measured on one (the row would claim `threads` it did not use).
#[cfg(not(feature = "tract-threads"))]
fn executor(path: &Path, threads: usize) -> Result<Option<Executor>, ProfileError> {
    if threads > 1 {
        return Err(ProfileError::Prepare {
            path: path.to_path_buf(),
            backend: "tract",
            detail: format!(
                "--threads {threads}: this build's tract runs on one thread (built without the `tract-threads` feature, to keep board binaries small); fix: --threads 1, --backend ort, or an agent built with `--features tract-threads`"
            ),
        });
    }
    Ok(None)
}

/// Refuse a model whose intermediate tensors could not fit in memory.
fn check_intermediates(path: &Path, model: &TypedModel, budget: u64) -> Result<(), ProfileError> {
    for node in model.nodes() {
        for (slot, out) in node.outputs.iter().enumerate() {
            let Some(shape) = out.fact.shape.as_concrete() else {
                continue;
            };
            let elems = shape.iter().try_fold(1u64, |a, d| a.checked_mul(*d as u64));
            let bytes = elems
                .and_then(|e| e.checked_mul(out.fact.datum_type.size_of() as u64))
                .unwrap_or(u64::MAX);
            if bytes > budget {
                return Err(ProfileError::TooLarge {
                    path: path.to_path_buf(),
                    what: format!("output {slot} of node '{}' (shape {shape:?})", node.name),
                    bytes,
                    budget,
                });
            }
        }
    }
    Ok(())
}

type Plan = Arc<TypedRunnableModel>;

struct TractPrepared {
    path: PathBuf,
    inputs: Vec<ResolvedInput>,
    plan: Plan,
}

fn to_tensor(t: &InputTensor) -> TractResult<Tensor> {
    let s = &t.shape;
    Ok(match &t.data {
        TensorData::F32(v) => Tensor::from_shape(s, v)?,
        TensorData::F16(v) => {
            let h: Vec<f16> = v.iter().map(|b| f16::from_bits(*b)).collect();
            Tensor::from_shape(s, &h)?
        }
        TensorData::F64(v) => Tensor::from_shape(s, v)?,
        TensorData::I64(v) => Tensor::from_shape(s, v)?,
        TensorData::I32(v) => Tensor::from_shape(s, v)?,
        TensorData::I16(v) => Tensor::from_shape(s, v)?,
        TensorData::I8(v) => Tensor::from_shape(s, v)?,
        TensorData::U8(v) => Tensor::from_shape(s, v)?,
        TensorData::Bool(v) => Tensor::from_shape(s, v)?,
    })
}

impl PreparedModel for TractPrepared {
    fn inputs(&self) -> &[ResolvedInput] {
        &self.inputs
    }

    fn state(&self, data: &[InputTensor]) -> Result<Box<dyn ModelState>, ProfileError> {
        let err = |e: TractError| ProfileError::Run {
            path: self.path.clone(),
            backend: "tract",
            detail: chain(&e),
        };
        let inputs = data
            .iter()
            .map(|t| to_tensor(t).map(TValue::from))
            .collect::<TractResult<TVec<TValue>>>()
            .map_err(err)?;
        let state = self.plan.spawn().map_err(err)?;
        Ok(Box::new(TractState {
            path: self.path.clone(),
            plan: self.plan.clone(),
            inputs,
            state,
        }))
    }
}

struct TractState {
    path: PathBuf,
    plan: Plan,
    inputs: TVec<TValue>,
    state: TypedSimpleState,
}

impl TractState {
    fn panicked(&self, payload: Box<dyn std::any::Any + Send>) -> ProfileError {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        ProfileError::Run {
            path: self.path.clone(),
            backend: "tract",
            detail: format!("tract panicked: {msg}; fix: check the input values (--int-max for ids) or try --backend ort"),
        }
    }

    fn err(&self, e: TractError) -> ProfileError {
        ProfileError::Run {
            path: self.path.clone(),
            backend: "tract",
            detail: chain(&e),
        }
    }
}

impl ModelState for TractState {
    #[inline]
    fn run(&mut self) -> Result<(), ProfileError> {
        // Cloning a TValue clones an Arc: no tensor copy in the timed region.
        // A panic inside tract (some kernels assert on their inputs) becomes
        // this model's error; unwinding costs nothing when nothing panics.
        let (state, inputs) = (&mut self.state, &self.inputs);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            state.run(inputs.clone()).map(drop)
        })) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.err(e)),
            Err(p) => Err(self.panicked(p)),
        }
    }

    fn outputs(&mut self) -> Result<Vec<OutputTensor>, ProfileError> {
        let (state, inputs) = (&mut self.state, &self.inputs);
        let outs = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            state.run(inputs.clone())
        })) {
            Ok(r) => r.map_err(|e| self.err(e))?,
            Err(p) => return Err(self.panicked(p)),
        };
        let model = self.plan.model();
        outs.iter()
            .enumerate()
            .map(|(ix, t)| {
                let name = model
                    .outputs
                    .get(ix)
                    .and_then(|o| model.outlet_label(*o).map(|s| s.to_string()))
                    .unwrap_or_else(|| format!("output_{ix}"));
                let dtype = from_datum(t.datum_type()).unwrap_or(DType::F64);
                let as_f64 = t.cast_to::<f64>().map_err(|e| self.err(e))?;
                let values = as_f64
                    .to_plain_array_view::<f64>()
                    .map_err(|e| self.err(e))?
                    .iter()
                    .copied()
                    .collect();
                Ok(OutputTensor {
                    name,
                    dtype,
                    shape: t.shape().to_vec(),
                    values,
                })
            })
            .collect()
    }

    fn run_per_op(&mut self, runs: usize) -> Option<Result<Vec<Vec<NodeTime>>, ProfileError>> {
        Some((0..runs).map(|_| self.run_once_per_op()).collect())
    }
}

impl TractState {
    fn run_once_per_op(&mut self) -> Result<Vec<NodeTime>, ProfileError> {
        let mut times: Vec<NodeTime> = Vec::new();
        let result =
            self.state
                .run_plan_with_eval(self.inputs.clone(), |ctx, op_state, node, input| {
                    let t0 = Instant::now();
                    let r = tract_eval(ctx, op_state, node, input);
                    times.push(NodeTime {
                        node_id: node.id,
                        name: node.name.clone(),
                        op_type: node.op.name().to_string(),
                        seconds: t0.elapsed().as_secs_f64(),
                    });
                    r
                });
        match result {
            Ok(_) => Ok(times),
            Err(e) => Err(self.err(e)),
        }
    }
}
