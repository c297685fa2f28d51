//! The backend abstraction, in three levels as in tract's `core/src/runtime.rs`:
//!
//! - [`Backend`]: an inference engine on this device (tract, ONNX Runtime, or a
//!   scripted fake in tests). It says what it is, whether it works here, what a
//!   model file declares as inputs, and prepares models.
//! - [`PreparedModel`]: a model loaded, typed for concrete input shapes and
//!   optimized. Expensive to build; built once per profiled model.
//! - [`ModelState`]: a runnable state with its inputs bound. `run` is the only
//!   call the harness times, so everything that is not inference (input
//!   conversion, allocation of the input tensors) happens before it.
//!
//! Backends never time themselves, except for per-operator profiles, which are
//! inherently backend-specific.

use std::path::{Path, PathBuf};

use crate::inputs::{
    self, DType, DeclaredInput, FillOptions, InputSpec, InputTensor, ResolvedInput,
};
use crate::ProfileError;

/// Whether a backend can run on this device, and if not why and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    Unavailable { reason: String, fix: String },
}

impl Availability {
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }
}

/// What a model file declares, read without preparing it.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub inputs: Vec<DeclaredInput>,
}

/// Graph optimization level (ONNX Runtime's names). tract always optimizes
/// fully, so it accepts only [`GraphOpt::All`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GraphOpt {
    Disable,
    Basic,
    Extended,
    Layout,
    #[default]
    All,
}

impl GraphOpt {
    pub const ALL: [GraphOpt; 5] = [
        GraphOpt::Disable,
        GraphOpt::Basic,
        GraphOpt::Extended,
        GraphOpt::Layout,
        GraphOpt::All,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GraphOpt::Disable => "disable",
            GraphOpt::Basic => "basic",
            GraphOpt::Extended => "extended",
            GraphOpt::Layout => "layout",
            GraphOpt::All => "all",
        }
    }

    pub fn parse(s: &str) -> Option<GraphOpt> {
        GraphOpt::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// Options that change how a model is prepared; recorded with every row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareOptions {
    /// Threads the backend may use for one inference (intra-op parallelism).
    pub threads: usize,
    /// Threads running independent branches of the graph at once (inter-op;
    /// ONNX Runtime only, 1 = sequential execution).
    pub inter_threads: usize,
    /// Graph optimization level.
    pub graph_opt: GraphOpt,
    /// Execution provider, lower case without the suffix (`cpu`, `cuda`, ...).
    pub execution_provider: String,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            threads: 1,
            inter_threads: 1,
            graph_opt: GraphOpt::All,
            execution_provider: "cpu".into(),
        }
    }
}

/// Time spent in one node of the graph during one profiled run.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTime {
    /// Stable identifier of the node within the prepared (optimized) graph.
    pub node_id: usize,
    pub name: String,
    pub op_type: String,
    pub seconds: f64,
}

/// An output tensor converted to `f64`, for comparisons between backends and
/// shape checks.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub values: Vec<f64>,
}

/// Level one: an inference engine.
pub trait Backend: Send + Sync {
    /// Short stable name used on the command line and in tables (`tract`, `ort`).
    fn name(&self) -> &'static str;
    /// Version of the engine itself (not of Frontier).
    fn version(&self) -> String;
    /// Whether this backend works on this device.
    fn availability(&self) -> Availability;
    /// Facts for `frontier doctor` beyond name and version (for example the
    /// library a backend loaded and where it was found).
    fn details(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Whether the backend honours [`PrepareOptions::inter_threads`] and
    /// [`PrepareOptions::graph_opt`] (ONNX Runtime does; tract always runs
    /// sequentially and fully optimized). Callers leave those options at
    /// their defaults for a backend without them and do not record them.
    fn has_session_options(&self) -> bool {
        false
    }
    /// Execution providers this backend can use here (`cpu` at least).
    fn execution_providers(&self) -> Vec<String> {
        vec!["cpu".into()]
    }
    /// The inputs a model declares (names, dtypes, possibly symbolic dims).
    fn inspect(&self, model: &Path) -> Result<ModelInfo, ProfileError>;
    /// Load, type for `inputs` and optimize a model.
    fn prepare(
        &self,
        model: &Path,
        inputs: &[ResolvedInput],
        options: &PrepareOptions,
    ) -> Result<Box<dyn PreparedModel>, ProfileError>;
}

/// Level two: a model ready to run for fixed input shapes.
pub trait PreparedModel: Send {
    /// The inputs the model was prepared for, in model order.
    fn inputs(&self) -> &[ResolvedInput];
    /// A running state with `data` bound as inputs (same order as [`inputs`](Self::inputs)).
    fn state(&self, data: &[InputTensor]) -> Result<Box<dyn ModelState>, ProfileError>;
}

/// Level three: a state that runs inference on its bound inputs.
pub trait ModelState: Send {
    /// One inference. The harness times this call and nothing else.
    fn run(&mut self) -> Result<(), ProfileError>;
    /// One inference returning its outputs (not timed).
    fn outputs(&mut self) -> Result<Vec<OutputTensor>, ProfileError>;
    /// `runs` inferences with per-node timing, one list per run. `None` when
    /// the backend has no per-operator profile.
    fn run_per_op(&mut self, runs: usize) -> Option<Result<Vec<Vec<NodeTime>>, ProfileError>> {
        let _ = runs;
        None
    }
}

/// The backends a caller asked for among `all`: `wanted` by name, or
/// (`None`) every one that works here. A named backend that is missing or
/// does not work here is an error with its fix; otherwise the ones that do
/// not work are skipped, each told to `warn` with its fix.
pub fn select(
    all: Vec<Box<dyn Backend>>,
    wanted: Option<&str>,
    warn: &mut dyn FnMut(&str),
) -> Result<Vec<Box<dyn Backend>>, ProfileError> {
    let mut out = Vec::new();
    for b in all {
        if wanted.is_some_and(|w| w != b.name()) {
            continue;
        }
        match b.availability() {
            Availability::Available => out.push(b),
            Availability::Unavailable { reason, fix } => {
                if wanted.is_some() {
                    return Err(ProfileError::BackendUnavailable {
                        backend: b.name().into(),
                        reason,
                        fix,
                    });
                }
                warn(&format!(
                    "skipping backend {}: {reason}; fix: {fix}",
                    b.name()
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(match wanted {
            Some(w) => ProfileError::BackendNotBuilt { backend: w.into() },
            None => ProfileError::NoBackend,
        });
    }
    Ok(out)
}

/// A model made ready to run in one call: inspect its inputs, resolve them
/// against `specs`, prepare it and bind seeded data. For callers that need no
/// step in between (the agent measures memory between preparing and running,
/// so it calls the steps itself).
pub fn ready_state(
    backend: &dyn Backend,
    model: &Path,
    specs: &[InputSpec],
    fill: FillOptions,
    options: &PrepareOptions,
) -> Result<(Vec<ResolvedInput>, Box<dyn ModelState>), ProfileError> {
    let info = backend.inspect(model)?;
    let resolved = inputs::resolve(model, &info.inputs, specs)?;
    let prepared = backend.prepare(model, &resolved, options)?;
    let state = prepared.state(&inputs::generate(&resolved, fill))?;
    Ok((resolved, state))
}
