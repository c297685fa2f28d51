//! The ONNX Runtime backend (`ort` 2.0.0-rc.15, library loaded at run time).
//!
//! The library is found and checked by [`library`] before `ort` is handed
//! its path, so a missing, foreign, wrong-architecture or too old library is
//! a clear [`Availability::Unavailable`] and never a panic; tract stays usable
//! either way. ONNX Runtime allows one library and one environment per
//! process, so the first [`OrtBackend`] to load decides which library this
//! process uses; a later request for another one is reported, not obeyed.
//!
//! Sessions are configured from [`PrepareOptions`]: intra-op threads,
//! inter-op threads (more than one turns on parallel execution), graph
//! optimization level and execution provider (`cpu`; the providers the
//! library reports are listed by [`Backend::execution_providers`]). Logging
//! is at error level so ORT's warnings do not interleave with ours.
//!
//! Per-operator profiles use ORT's own profiler on a second session of the
//! same model and options, read by [`trace`].

pub mod library;
pub mod trace;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{DynValue, Tensor, TensorElementType, ValueType};

use crate::backend::{
    Availability, Backend, GraphOpt, ModelInfo, ModelState, NodeTime, OutputTensor, PrepareOptions,
    PreparedModel,
};
use crate::inputs::{DType, DeclaredInput, Dim, InputTensor, ResolvedInput, TensorData};
use crate::memory::available_memory;
use crate::ProfileError;

pub use library::{LibraryError, LibraryInfo};

/// The ONNX Runtime backend.
#[derive(Debug, Clone, Default)]
pub struct OrtBackend {
    /// `--ort-lib`: takes precedence over `ORT_DYLIB_PATH` and the search.
    pub library: Option<PathBuf>,
    /// Memory budget for the inputs, in bytes; `None`: available memory.
    pub memory_budget: Option<u64>,
}

struct Runtime {
    env: ort::environment::Environment,
    info: LibraryInfo,
    providers: Vec<String>,
}

/// The process's one ONNX Runtime once loaded. A failed load stores
/// nothing, so a later attempt with another library can still succeed.
static RUNTIME: Mutex<Option<&'static Runtime>> = Mutex::new(None);

fn load(path: &Path, source: library::Source) -> Result<Runtime, LibraryError> {
    let info = library::check(path, source)?;
    let load_err = |detail: String| LibraryError::Load {
        path: path.to_path_buf(),
        detail,
    };
    let env = ort::init_from(path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("frontier")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    Ok(Runtime {
        env,
        providers: available_providers(),
        info,
    })
}

/// Execution providers the loaded library was built with, as `cpu`, `cuda`...
fn available_providers() -> Vec<String> {
    let api = ort::api();
    let mut list: *mut *mut std::os::raw::c_char = std::ptr::null_mut();
    let mut n: std::os::raw::c_int = 0;
    // SAFETY: the C API fills `list` with `n` NUL-terminated strings that
    // stay valid until ReleaseAvailableProviders.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut list, &mut n);
        if !status.0.is_null() {
            (api.ReleaseStatus)(status.0);
            return vec!["cpu".into()];
        }
        let names = (0..n as isize)
            .filter_map(|i| {
                let p = *list.offset(i);
                (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned())
            })
            .map(|s| s.trim_end_matches("ExecutionProvider").to_ascii_lowercase())
            .collect();
        let _ = (api.ReleaseAvailableProviders)(list, n);
        names
    }
}

impl OrtBackend {
    pub fn new(library: Option<PathBuf>) -> Self {
        OrtBackend {
            library,
            memory_budget: None,
        }
    }

    /// Load (once per process) and return the runtime.
    fn runtime(&self) -> Result<&'static Runtime, LibraryError> {
        let (path, source) = library::locate(self.library.as_deref())?;
        let mut slot = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rt) = *slot {
            if source == library::Source::Searched || same_file(&rt.info.path, &path) {
                return Ok(rt);
            }
            // Name what is wrong with the requested library if anything is;
            // otherwise say why it cannot replace the loaded one.
            library::check(&path, source)?;
            return Err(LibraryError::Load {
                path,
                detail: format!(
                    "this process already uses {}, and ONNX Runtime cannot be loaded twice",
                    rt.info.path.display()
                ),
            });
        }
        let rt: &'static Runtime = Box::leak(Box::new(load(&path, source)?));
        *slot = Some(rt);
        Ok(rt)
    }

    /// The library this backend uses, checked and loaded.
    pub fn library_info(&self) -> Result<LibraryInfo, LibraryError> {
        self.runtime().map(|rt| rt.info.clone())
    }

    fn unavailable(e: LibraryError) -> ProfileError {
        ProfileError::BackendUnavailable {
            backend: "ort".into(),
            reason: e.to_string(),
            fix: "see `frontier doctor`".into(),
        }
    }

    fn session(
        &self,
        path: &Path,
        options: &PrepareOptions,
        profile_prefix: Option<&Path>,
    ) -> Result<Session, ProfileError> {
        let rt = self.runtime().map_err(Self::unavailable)?;
        check_file(path)?;
        if options.execution_provider != "cpu" {
            return Err(ProfileError::Prepare {
                path: path.to_path_buf(),
                backend: "ort",
                detail: format!(
                    "execution provider '{}' is not supported by this build (the library offers: {}); fix: use --ep cpu",
                    options.execution_provider,
                    rt.providers.join(", ")
                ),
            });
        }
        let level = match options.graph_opt {
            GraphOpt::Disable => GraphOptimizationLevel::Disable,
            GraphOpt::Basic => GraphOptimizationLevel::Level1,
            GraphOpt::Extended => GraphOptimizationLevel::Level2,
            GraphOpt::Layout => GraphOptimizationLevel::Level3,
            GraphOpt::All => GraphOptimizationLevel::All,
        };
        let setup = |e: String| ProfileError::Prepare {
            path: path.to_path_buf(),
            backend: "ort",
            detail: format!("session options: {e}"),
        };
        let mut b = Session::builder(&rt.env)
            .map_err(|e| setup(e.to_string()))?
            .with_log_level(ort::logging::LogLevel::Error)
            .map_err(|e| setup(e.to_string()))?
            .with_optimization_level(level)
            .map_err(|e| setup(e.to_string()))?
            .with_intra_threads(options.threads)
            .map_err(|e| setup(e.to_string()))?
            .with_inter_threads(options.inter_threads.max(1))
            .map_err(|e| setup(e.to_string()))?
            .with_parallel_execution(options.inter_threads > 1)
            .map_err(|e| setup(e.to_string()))?;
        if let Some(prefix) = profile_prefix {
            b = b.with_profiling(prefix).map_err(|e| setup(e.to_string()))?;
        }
        b.commit_from_file(path)
            .map_err(|e| map_error(path, e.message()))
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn check_file(path: &Path) -> Result<(), ProfileError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ProfileError::NotFound {
            path: path.to_path_buf(),
        },
        _ => ProfileError::Unreadable {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(ProfileError::NotOnnx {
            path: path.to_path_buf(),
            reason: if meta.is_file() {
                "the file is empty".into()
            } else {
                "not a regular file".into()
            },
        });
    }
    Ok(())
}

/// Turn ONNX Runtime's message into the error a user can act on.
fn map_error(path: &Path, msg: &str) -> ProfileError {
    let p = path.to_path_buf();
    if msg.contains("Protobuf parsing failed")
        || msg.contains("INVALID_PROTOBUF")
        || msg.contains("Failed to load model")
        || msg.contains("No graph was found")
        || msg.contains("model_data must be non-empty")
    {
        return ProfileError::NotOnnx {
            path: p,
            reason: format!("ONNX Runtime: {msg}"),
        };
    }
    if let Some(ix) = msg.find(" is not a registered function/op") {
        let op = msg[..ix].rsplit([' ', '\n']).next().unwrap_or(msg);
        return ProfileError::UnsupportedOperator {
            path: p,
            backend: "ort",
            op: op.to_string(),
        };
    }
    if let Some(ix) = msg.find("Could not find an implementation for ") {
        let op = msg[ix + "Could not find an implementation for ".len()..]
            .split_whitespace()
            .next()
            .unwrap_or("?");
        return ProfileError::UnsupportedOperator {
            path: p,
            backend: "ort",
            op: op.to_string(),
        };
    }
    if msg.contains("external data") || msg.contains(".onnx.data") {
        return ProfileError::Prepare {
            path: p,
            backend: "ort",
            detail: format!("{msg}; fix: keep the external data file next to the model, under the name the model refers to"),
        };
    }
    ProfileError::Prepare {
        path: p,
        backend: "ort",
        detail: msg.to_string(),
    }
}

fn from_element(t: TensorElementType) -> Option<DType> {
    Some(match t {
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float16 => DType::F16,
        TensorElementType::Float64 => DType::F64,
        TensorElementType::Int64 => DType::I64,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Int16 => DType::I16,
        TensorElementType::Int8 => DType::I8,
        TensorElementType::Uint8 => DType::U8,
        TensorElementType::Bool => DType::Bool,
        _ => return None,
    })
}

fn declared(session: &Session) -> Vec<DeclaredInput> {
    session
        .inputs()
        .iter()
        .map(|o| match o.dtype() {
            ValueType::Tensor {
                ty,
                shape,
                dimension_symbols,
            } => DeclaredInput {
                name: o.name().to_string(),
                index_bound: None,
                dtype: from_element(*ty),
                dims: Some(
                    shape
                        .iter()
                        .enumerate()
                        .map(|(i, d)| match (*d, dimension_symbols.get(i)) {
                            (d, _) if d >= 0 => Dim::Fixed(d as usize),
                            (_, Some(s)) if !s.is_empty() => Dim::Symbolic(s.clone()),
                            _ => Dim::Unknown,
                        })
                        .collect(),
                ),
            },
            _ => DeclaredInput {
                name: o.name().to_string(),
                dtype: None,
                dims: None,
                index_bound: None,
            },
        })
        .collect()
}

impl Backend for OrtBackend {
    fn name(&self) -> &'static str {
        "ort"
    }

    fn version(&self) -> String {
        self.runtime()
            .map(|rt| rt.info.version.clone())
            .unwrap_or_else(|_| "-".into())
    }

    fn availability(&self) -> Availability {
        match self.runtime() {
            Ok(_) => Availability::Available,
            Err(e) => {
                let text = e.to_string();
                let (reason, fix) = match text.split_once("; fix: ") {
                    Some((r, f)) => (r.to_string(), f.to_string()),
                    None => (text, "see the README section on --ort-lib".to_string()),
                };
                Availability::Unavailable { reason, fix }
            }
        }
    }

    fn has_session_options(&self) -> bool {
        true
    }

    fn details(&self) -> Vec<(&'static str, String)> {
        match self.runtime() {
            Ok(rt) => vec![
                ("library", rt.info.path.display().to_string()),
                ("found_by", rt.info.source.as_str().to_string()),
                ("required", format!(">= 1.{}", library::REQUIRED_MINOR)),
            ],
            Err(_) => {
                let searched = match library::locate(self.library.as_deref()) {
                    Ok((p, s)) => format!("{} ({})", p.display(), s.as_str()),
                    Err(_) => library::search_dirs()
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                vec![
                    ("looked_at", searched),
                    ("required", format!(">= 1.{}", library::REQUIRED_MINOR)),
                ]
            }
        }
    }

    fn execution_providers(&self) -> Vec<String> {
        self.runtime()
            .map(|rt| rt.providers.clone())
            .unwrap_or_default()
    }

    fn inspect(&self, model: &Path) -> Result<ModelInfo, ProfileError> {
        let options = PrepareOptions {
            graph_opt: GraphOpt::Disable,
            ..PrepareOptions::default()
        };
        let session = self.session(model, &options, None)?;
        #[allow(unused_mut)]
        let mut inputs = declared(&session);
        // ONNX Runtime reports out-of-range indices as an error rather than a
        // panic, but the table's ids should be valid either way.
        #[cfg(feature = "tract")]
        if let Ok(bytes) = std::fs::read(model) {
            use prost::Message;
            if let Ok(proto) = tract_onnx::pb::ModelProto::decode(bytes.as_slice()) {
                let bounds = crate::tract_backend::gather_bounds(&proto);
                for i in &mut inputs {
                    i.index_bound = bounds.get(&i.name).copied();
                }
            }
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
        check_file(path)?;
        let budget = self.memory_budget.unwrap_or_else(available_memory);
        crate::inputs::check_size(path, inputs, budget)?;
        let session = self.session(path, options, None)?;
        if session.inputs().len() != inputs.len() {
            return Err(ProfileError::Prepare {
                path: path.to_path_buf(),
                backend: "ort",
                detail: format!(
                    "the model has {} inputs but {} were resolved",
                    session.inputs().len(),
                    inputs.len()
                ),
            });
        }
        Ok(Box::new(OrtPrepared {
            backend: self.clone(),
            path: path.to_path_buf(),
            inputs: inputs.to_vec(),
            options: options.clone(),
            session: std::sync::Arc::new(Mutex::new(session)),
        }))
    }
}

struct OrtPrepared {
    backend: OrtBackend,
    path: PathBuf,
    inputs: Vec<ResolvedInput>,
    options: PrepareOptions,
    session: std::sync::Arc<Mutex<Session>>,
}

fn to_value(t: &InputTensor) -> ort::Result<DynValue> {
    let shape: Vec<i64> = t.shape.iter().map(|d| *d as i64).collect();
    Ok(match &t.data {
        TensorData::F32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        TensorData::F16(v) => {
            let h: Vec<half::f16> = v.iter().map(|b| half::f16::from_bits(*b)).collect();
            Tensor::from_array((shape, h))?.into_dyn()
        }
        TensorData::F64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        TensorData::I64(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        TensorData::I32(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        TensorData::I16(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        TensorData::I8(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        TensorData::U8(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
        TensorData::Bool(v) => Tensor::from_array((shape, v.clone()))?.into_dyn(),
    })
}

impl PreparedModel for OrtPrepared {
    fn inputs(&self) -> &[ResolvedInput] {
        &self.inputs
    }

    fn state(&self, data: &[InputTensor]) -> Result<Box<dyn ModelState>, ProfileError> {
        let values = data
            .iter()
            .map(to_value)
            .collect::<ort::Result<Vec<_>>>()
            .map_err(|e| ProfileError::Run {
                path: self.path.clone(),
                backend: "ort",
                detail: e.to_string(),
            })?;
        Ok(Box::new(OrtState {
            backend: self.backend.clone(),
            path: self.path.clone(),
            options: self.options.clone(),
            session: self.session.clone(),
            values,
        }))
    }
}

struct OrtState {
    backend: OrtBackend,
    path: PathBuf,
    options: PrepareOptions,
    session: std::sync::Arc<Mutex<Session>>,
    values: Vec<DynValue>,
}

impl OrtState {
    fn err(&self, e: impl std::fmt::Display) -> ProfileError {
        ProfileError::Run {
            path: self.path.clone(),
            backend: "ort",
            detail: e.to_string(),
        }
    }

    fn run_on(session: &mut Session, values: &[DynValue]) -> ort::Result<Vec<OutputTensor>> {
        let inputs: Vec<SessionInputValue<'_>> =
            values.iter().map(SessionInputValue::from).collect();
        let outs = session.run(inputs.as_slice())?;
        let mut result = Vec::new();
        for (name, v) in outs.iter() {
            let (dtype, shape, values) = extract(&v)?;
            result.push(OutputTensor {
                name: name.to_string(),
                dtype,
                shape,
                values,
            });
        }
        Ok(result)
    }
}

fn extract(v: &ort::value::DynValueRef<'_>) -> ort::Result<(DType, Vec<usize>, Vec<f64>)> {
    macro_rules! as_f64 {
        ($t:ty, $d:expr) => {{
            let (shape, data) = v.try_extract_tensor::<$t>()?;
            (
                $d,
                shape.iter().map(|d| *d as usize).collect(),
                data.iter().map(|x| *x as f64).collect(),
            )
        }};
    }
    let ty = match v.dtype() {
        ValueType::Tensor { ty, .. } => *ty,
        other => {
            return Err(ort::Error::new(format!(
                "output is not a tensor: {other:?}"
            )))
        }
    };
    Ok(match ty {
        TensorElementType::Float32 => as_f64!(f32, DType::F32),
        TensorElementType::Float64 => as_f64!(f64, DType::F64),
        TensorElementType::Int64 => as_f64!(i64, DType::I64),
        TensorElementType::Int32 => as_f64!(i32, DType::I32),
        TensorElementType::Int16 => as_f64!(i16, DType::I16),
        TensorElementType::Int8 => as_f64!(i8, DType::I8),
        TensorElementType::Uint8 => as_f64!(u8, DType::U8),
        TensorElementType::Float16 => {
            let (shape, data) = v.try_extract_tensor::<half::f16>()?;
            (
                DType::F16,
                shape.iter().map(|d| *d as usize).collect(),
                data.iter().map(|x| x.to_f64()).collect(),
            )
        }
        TensorElementType::Bool => {
            let (shape, data) = v.try_extract_tensor::<bool>()?;
            (
                DType::Bool,
                shape.iter().map(|d| *d as usize).collect(),
                data.iter().map(|x| f64::from(u8::from(*x))).collect(),
            )
        }
        other => {
            return Err(ort::Error::new(format!(
                "unsupported output type {other:?}"
            )))
        }
    })
}

impl ModelState for OrtState {
    #[inline]
    fn run(&mut self) -> Result<(), ProfileError> {
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let inputs: Vec<SessionInputValue<'_>> =
            self.values.iter().map(SessionInputValue::from).collect();
        let result = session
            .run(inputs.as_slice())
            .map(drop)
            .map_err(|e| e.to_string());
        drop(session);
        result.map_err(|e| self.err(e))
    }

    fn outputs(&mut self) -> Result<Vec<OutputTensor>, ProfileError> {
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let r = Self::run_on(&mut session, &self.values);
        drop(session);
        r.map_err(|e| self.err(e))
    }

    fn run_per_op(&mut self, runs: usize) -> Option<Result<Vec<Vec<NodeTime>>, ProfileError>> {
        Some(self.profiled_runs(runs))
    }
}

impl OrtState {
    /// `runs` runs of a profiling session (after one unprofiled warm-up run
    /// whose kernels include one-time work such as weight pre-packing).
    fn profiled_runs(&mut self, runs: usize) -> Result<Vec<Vec<NodeTime>>, ProfileError> {
        static PROFILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = PROFILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("frontier-ort-profile-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| self.err(e))?;
        let result = (|| {
            let mut session =
                self.backend
                    .session(&self.path, &self.options, Some(&dir.join("ort")))?;
            let inputs: Vec<SessionInputValue<'_>> =
                self.values.iter().map(SessionInputValue::from).collect();
            for _ in 0..runs.max(1) + 1 {
                session.run(inputs.as_slice()).map_err(|e| self.err(e))?;
            }
            let file = session.end_profiling().map_err(|e| self.err(e))?;
            let text =
                std::fs::read_to_string(&file).map_err(|e| self.err(format!("{file}: {e}")))?;
            let mut all = trace::node_times(&text).map_err(|e| self.err(e))?;
            // Drop the warm-up run.
            if all.len() > 1 {
                all.remove(0);
            }
            Ok(all)
        })();
        let _ = std::fs::remove_dir_all(&dir);
        result
    }
}
