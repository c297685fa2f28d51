//! A scripted backend and probe on a scripted clock, for testing the harness.
//!
//! A [`FakeMachine`] owns a [`FakeClock`]. A fake model's `run` advances that
//! clock by whatever its script says the run took (the script sees the run's
//! index and the current fake time, so it can model drift, noise or a
//! slowdown in the middle of a measurement); [`FakeProbe`] does the same for
//! the calibration probe. The harness then measures exactly the scripted
//! durations, which makes the stop rule, drift correction, the interval and budgets
//! testable without a real clock. Also used by the conformance tests of
//! backend-independent code in other crates.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{
    Availability, Backend, ModelInfo, ModelState, NodeTime, OutputTensor, PrepareOptions,
    PreparedModel,
};
use crate::clock::Clock;
use crate::inputs::{DType, DeclaredInput, Dim, InputTensor, ResolvedInput};
use crate::probe::Probe;
use crate::ProfileError;

/// A clock that only moves when told to.
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    nanos: Arc<AtomicU64>,
}

impl FakeClock {
    pub fn advance_ms(&self, ms: f64) {
        self.nanos
            .fetch_add((ms * 1e6).round().max(0.0) as u64, Ordering::SeqCst);
    }

    pub fn seconds(&self) -> f64 {
        self.nanos.load(Ordering::SeqCst) as f64 / 1e9
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// Duration in ms of run `index` of a model started at fake time `now_s`.
pub type RunScript = Arc<dyn Fn(u64, f64) -> f64 + Send + Sync>;

/// The machine's slowdown factor at fake time `now_s` (1.0 = reference speed).
pub type SpeedScript = Arc<dyn Fn(f64) -> f64 + Send + Sync>;

/// A scripted device: a clock and a speed curve shared by models and probe.
#[derive(Clone)]
pub struct FakeMachine {
    pub clock: FakeClock,
    pub speed: SpeedScript,
}

impl FakeMachine {
    /// A machine that always runs at reference speed.
    pub fn steady() -> Self {
        Self::with_speed(Arc::new(|_| 1.0))
    }

    pub fn with_speed(speed: SpeedScript) -> Self {
        FakeMachine {
            clock: FakeClock::default(),
            speed,
        }
    }

    /// A model whose run `i` takes `base_ms * speed(now) * jitter(i)`, with
    /// deterministic jitter of relative amplitude `jitter` (uniform in ±jitter).
    pub fn model(&self, base_ms: f64, jitter: f64) -> RunScript {
        let speed = self.speed.clone();
        Arc::new(move |i, now| {
            let mut r = crate::inputs::SplitMix64::new(i.wrapping_mul(0x2545_F491_4F6C_DD1D));
            let u = r.next_f64() * 2.0 - 1.0;
            base_ms * speed(now) * (1.0 + jitter * u)
        })
    }

    /// A probe whose run takes `base_ms * speed(now)`.
    pub fn probe(&self, base_ms: f64) -> FakeProbe {
        self.probe_instances(base_ms, &[1.0])
    }

    /// A probe of several copies: copy `i` runs `bias[i]` times slower.
    pub fn probe_instances(&self, base_ms: f64, bias: &[f64]) -> FakeProbe {
        FakeProbe {
            clock: self.clock.clone(),
            speed: self.speed.clone(),
            base_ms,
            bias: bias.to_vec(),
        }
    }
}

/// The calibration probe of a [`FakeMachine`].
pub struct FakeProbe {
    clock: FakeClock,
    speed: SpeedScript,
    base_ms: f64,
    bias: Vec<f64>,
}

impl Probe for FakeProbe {
    fn instances(&self) -> usize {
        self.bias.len()
    }

    fn run(&mut self, instance: usize) {
        let now = self.clock.seconds();
        let bias = self.bias[instance % self.bias.len()];
        self.clock
            .advance_ms(self.base_ms * bias * (self.speed)(now));
    }
}

/// What a fake model file is.
#[derive(Clone)]
pub enum FakeModel {
    /// A model that runs with the given script and declares these inputs.
    Runs {
        inputs: Vec<DeclaredInput>,
        script: RunScript,
    },
    /// A model whose preparation fails with this error message.
    FailsToPrepare(String),
    /// A model that fails at run number `n` (0-based).
    FailsAtRun { script: RunScript, n: u64 },
}

/// A backend serving scripted models by path.
#[derive(Clone)]
pub struct FakeBackend {
    clock: FakeClock,
    models: HashMap<PathBuf, FakeModel>,
}

impl FakeBackend {
    pub fn new(clock: FakeClock) -> Self {
        FakeBackend {
            clock,
            models: HashMap::new(),
        }
    }

    pub fn add(&mut self, path: impl Into<PathBuf>, model: FakeModel) -> &mut Self {
        self.models.insert(path.into(), model);
        self
    }

    /// The one-input declaration most tests use: `x: f32[1, 4]`.
    pub fn simple_inputs() -> Vec<DeclaredInput> {
        vec![DeclaredInput {
            name: "x".into(),
            dtype: Some(DType::F32),
            dims: Some(vec![Dim::Fixed(1), Dim::Fixed(4)]),
            index_bound: None,
        }]
    }
}

impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn version(&self) -> String {
        "0".into()
    }

    fn availability(&self) -> Availability {
        Availability::Available
    }

    fn inspect(&self, model: &Path) -> Result<ModelInfo, ProfileError> {
        match self.models.get(model) {
            None => Err(ProfileError::NotFound {
                path: model.to_path_buf(),
            }),
            Some(FakeModel::Runs { inputs, .. }) => Ok(ModelInfo {
                path: model.to_path_buf(),
                inputs: inputs.clone(),
            }),
            Some(_) => Ok(ModelInfo {
                path: model.to_path_buf(),
                inputs: Self::simple_inputs(),
            }),
        }
    }

    fn prepare(
        &self,
        model: &Path,
        inputs: &[ResolvedInput],
        _options: &PrepareOptions,
    ) -> Result<Box<dyn PreparedModel>, ProfileError> {
        let (script, fail_at) = match self.models.get(model) {
            None => {
                return Err(ProfileError::NotFound {
                    path: model.to_path_buf(),
                })
            }
            Some(FakeModel::FailsToPrepare(msg)) => {
                return Err(ProfileError::Prepare {
                    path: model.to_path_buf(),
                    backend: "fake",
                    detail: msg.clone(),
                })
            }
            Some(FakeModel::Runs { script, .. }) => (script.clone(), None),
            Some(FakeModel::FailsAtRun { script, n }) => (script.clone(), Some(*n)),
        };
        Ok(Box::new(FakePrepared {
            path: model.to_path_buf(),
            inputs: inputs.to_vec(),
            clock: self.clock.clone(),
            script,
            fail_at,
            runs: Arc::new(AtomicU64::new(0)),
        }))
    }
}

struct FakePrepared {
    path: PathBuf,
    inputs: Vec<ResolvedInput>,
    clock: FakeClock,
    script: RunScript,
    fail_at: Option<u64>,
    runs: Arc<AtomicU64>,
}

impl PreparedModel for FakePrepared {
    fn inputs(&self) -> &[ResolvedInput] {
        &self.inputs
    }

    fn state(&self, data: &[InputTensor]) -> Result<Box<dyn ModelState>, ProfileError> {
        Ok(Box::new(FakeState {
            path: self.path.clone(),
            shapes: data.iter().map(|d| d.shape.clone()).collect(),
            clock: self.clock.clone(),
            script: self.script.clone(),
            fail_at: self.fail_at,
            runs: self.runs.clone(),
        }))
    }
}

struct FakeState {
    path: PathBuf,
    shapes: Vec<Vec<usize>>,
    clock: FakeClock,
    script: RunScript,
    fail_at: Option<u64>,
    runs: Arc<AtomicU64>,
}

impl ModelState for FakeState {
    fn run(&mut self) -> Result<(), ProfileError> {
        let i = self.runs.fetch_add(1, Ordering::SeqCst);
        if self.fail_at == Some(i) {
            return Err(ProfileError::Run {
                path: self.path.clone(),
                backend: "fake",
                detail: format!("scripted failure at run {i}"),
            });
        }
        let ms = (self.script)(i, self.clock.seconds());
        self.clock.advance_ms(ms);
        Ok(())
    }

    fn outputs(&mut self) -> Result<Vec<OutputTensor>, ProfileError> {
        self.run()?;
        // The identity on the first input's shape, filled with zeros.
        let shape = self.shapes.first().cloned().unwrap_or_default();
        let n = shape.iter().product();
        Ok(vec![OutputTensor {
            name: "y".into(),
            dtype: DType::F32,
            shape,
            values: vec![0.0; n],
        }])
    }

    fn run_per_op(&mut self, runs: usize) -> Option<Result<Vec<Vec<NodeTime>>, ProfileError>> {
        Some((0..runs).map(|_| self.one_run_per_op()).collect())
    }
}

impl FakeState {
    fn one_run_per_op(&mut self) -> Result<Vec<NodeTime>, ProfileError> {
        let before = self.clock.seconds();
        self.run()?;
        let total = self.clock.seconds() - before;
        Ok(vec![
            NodeTime {
                node_id: 0,
                name: "conv".into(),
                op_type: "Conv".into(),
                seconds: total * 0.75,
            },
            NodeTime {
                node_id: 1,
                name: "relu".into(),
                op_type: "Relu".into(),
                seconds: total * 0.25,
            },
        ])
    }
}
