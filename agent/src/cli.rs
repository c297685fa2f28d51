//! Command-line definitions.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "frontier",
    version,
    about = "On-device latency profiling for hardware-aware NAS"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Profile ONNX models on this device and write a latency table.
    Profile(Box<ProfileArgs>),
    /// Write subnets of a search space as ONNX models with a manifest.
    Export(ExportArgs),
    /// Print a model's inputs, parameters, MACs and op histogram.
    Inspect(InspectArgs),
    /// Describe this device and say which backends work here, and if not, why.
    Doctor(DoctorArgs),
    /// Send spooled rows (and the tables given) to a collector.
    Upload(UploadArgs),
    /// Train a latency predictor from latency tables.
    Train(TrainArgs),
    /// Predict latencies of architectures with a trained predictor.
    Predict(PredictArgs),
    /// Search the Pareto frontier (accuracy vs each device's predicted
    /// latency) and write it as a frontier manifest with its models.
    Search(SearchArgs),
    /// Serve a frontier's models over HTTP, switching among them as this
    /// device's load changes so latency stays within the SLO.
    Serve(ServeArgs),
    /// Be a board of a fleet: enrol at a collector, take its profiling
    /// jobs, upload their rows.
    Agent(Box<AgentArgs>),
}

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// The collector (else FRONTIER_COLLECTOR or the config file).
    #[arg(long, value_name = "URL")]
    pub collector: Option<String>,

    /// A file with the device token that enrols this board (else
    /// FRONTIER_TOKEN or the config file), readable by its owner only;
    /// needed until the board has its own credential
    /// ($FRONTIER_STATE_DIR/board.json).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// A name for people, shown by the collector (default: the hostname).
    #[arg(long)]
    pub device_name: Option<String>,

    /// How long one long poll for a job waits.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub poll: Duration,

    /// Stop after this many jobs (default: until the process is stopped).
    #[arg(long)]
    pub max_jobs: Option<u64>,

    /// Inference backend of jobs that name none.
    #[arg(long, value_enum, default_value_t = BackendChoice::Tract)]
    pub backend: BackendChoice,

    /// Take a job only while other processes use at most this share of
    /// the CPUs (percent, over 2 s), so that jobs never measure through
    /// the board's own work; 100 takes jobs whatever the load.
    #[arg(long, default_value_t = 10.0, value_parser = parse_percent)]
    pub idle_others: f64,

    /// ...and while CPU pressure (`/proc/pressure/cpu` some avg10, where
    /// the kernel has it) is at most this (percent).
    #[arg(long, default_value_t = 10.0, value_parser = parse_percent)]
    pub idle_pressure: f64,

    #[command(flatten)]
    pub ort: OrtLibArgs,

    #[command(flatten)]
    pub measure: MeasureArgs,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("{s}: a percentage from 0 to 100")),
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The frontier manifest (`frontier search --out DIR` writes
    /// DIR/frontier.json), or collector:URL/NAME: the version of NAME the
    /// collector assigns this board, followed as new versions are rolled
    /// out, with field latency reported back.
    #[arg(long, value_name = "FILE|collector:URL/NAME")]
    pub frontier: String,

    /// With collector:...: a file with the device token that enrols this
    /// board when it has no credential yet (else FRONTIER_TOKEN or the
    /// config file).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// With collector:...: a name for people, when the board enrols.
    #[arg(long)]
    pub device_name: Option<String>,

    /// With collector:...: the length of a field-latency window (one row
    /// per model served in it).
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub field_every: Duration,

    /// The latency target per request, ms (p95).
    #[arg(long, value_name = "MS")]
    pub slo_ms: f64,

    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,

    #[arg(long, value_enum, default_value_t = BackendChoice::Tract)]
    pub backend: BackendChoice,

    /// The manifest's device to take latencies from (device id or
    /// device/backend/tN); default: the first with this backend.
    #[arg(long)]
    pub device: Option<String>,

    /// Thread counts to switch among (comma-separated); default: those the
    /// manifest has for the device, else 1.
    #[arg(long, value_delimiter = ',')]
    pub threads: Vec<u32>,

    /// Load models while their files fit in this many MB (the fastest always loads).
    #[arg(long, value_name = "MB")]
    pub memory_budget: Option<u64>,

    /// Tables of `frontier profile --contention` rows for these models:
    /// latency per load level.
    #[arg(long, value_name = "TABLE")]
    pub contention_table: Vec<PathBuf>,

    /// Log as JSON lines on stderr.
    #[arg(long)]
    pub json: bool,

    /// Build the models from this supernet (safetensors) instead of their
    /// files; without it, models whose files are absent are built from the
    /// manifest's own supernet, found beside the manifest.
    #[arg(long, value_name = "SUPERNET")]
    pub weights: Option<PathBuf>,

    /// How the model is chosen: frontier (load-aware), or a baseline for
    /// comparison: most-accurate, fastest (never switch), mean-step
    /// (Dynamic-OFA: one step after each 20 requests' mean misses the SLO).
    #[arg(long, value_enum, default_value_t = SwitchPolicyChoice::Frontier)]
    pub switch_policy: SwitchPolicyChoice,

    /// Swap between the two fastest variants every N ms whatever the load
    /// (swap-cost benchmark; with --threads 1,1 they are copies of one model).
    #[arg(long, value_name = "MS", hide = true)]
    pub force_swap_every_ms: Option<u64>,

    #[command(flatten)]
    pub ort: OrtLibArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SwitchPolicyChoice {
    Frontier,
    MostAccurate,
    Fastest,
    MeanStep,
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// The search space: ofa-mbv3 or gpt2.
    #[arg(long)]
    pub space: String,

    /// A predictor per device: a file (`frontier train --out`), or the
    /// newest fresh one a collector trained,
    /// collector:URL?device=NAME[&backend=B][&threads=T] (or ?id=PID; reader
    /// token in FRONTIER_TOKEN); repeat for several.
    #[arg(long, required = true, value_name = "FILE|collector:URL?device=NAME")]
    pub predictor: Vec<String>,

    /// Where accuracy comes from: onnx:FILE (a model from the space's
    /// encoding [batch, N] to accuracy), table:FILE.jsonl ({"arch",
    /// "accuracy"} lines; the search stays within them), or the proxies
    /// macs / params.
    #[arg(long, value_name = "SRC")]
    pub accuracy: String,

    /// Latency limit on the predicted latency, ms; X@DEVICE for one device
    /// (its id or device/backend/tN). Repeatable.
    #[arg(long, value_name = "X[@DEVICE]")]
    pub max_latency_ms: Vec<String>,

    /// Parameter limit.
    #[arg(long, value_name = "N")]
    pub max_params: Option<u64>,

    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(4..=100_000).map(|v| v as usize))]
    pub population: usize,

    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=100_000).map(|v| v as usize))]
    pub generations: usize,

    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Models per device's frontier, spread evenly over its latency range.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1000).map(|v| v as usize))]
    pub models: usize,

    /// Output directory: frontier.json, models/*.onnx, search.json, frontier.svg.
    #[arg(long)]
    pub out: PathBuf,

    /// Publish the frontier to a collector as a new version of --name
    /// (collector:URL; operator token in FRONTIER_TOKEN): its models (or,
    /// with --weights, the supernet) as blobs, rolled out to the boards
    /// that serve the name in stages.
    #[arg(long, value_name = "collector:URL", requires = "name")]
    pub publish: Option<String>,

    /// The frontier's name at the collector (boards serve
    /// collector:URL/NAME).
    #[arg(long)]
    pub name: Option<String>,

    /// With --publish: the share of serving boards that get the version
    /// first, percent.
    #[arg(long, default_value_t = 20.0)]
    pub canary_percent: f64,

    /// With --publish: these boards first instead (device ids or names,
    /// comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub canary_boards: Vec<String>,

    /// With --publish: how far a canary board's field p90 may exceed the
    /// predicted interval's upper end (0.25: 25%).
    #[arg(long, default_value_t = 0.25)]
    pub tolerance: f64,

    /// With --publish: how long every canary board serves the version
    /// inside that bound before it goes to all.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub hold: Duration,

    /// With --publish: requests a model needs on a board before its field
    /// p90 counts.
    #[arg(long, default_value_t = 50)]
    pub min_requests: u64,

    /// Write the frontier's models with real weights from this supernet
    /// (safetensors) and record it in the manifest, so that `serve` can
    /// build any of its models from it.
    #[arg(long, value_name = "SUPERNET")]
    pub weights: Option<PathBuf>,

    /// Profile the frontier's models on this device (the predictor of this
    /// device says backend and threads) and record measured_ms.
    #[arg(long)]
    pub verify: bool,

    /// With --verify: measurement policy of a device class (as profile's --policy).
    #[arg(long, requires = "verify")]
    pub policy: Option<String>,

    #[command(flatten)]
    pub ort: OrtLibArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ContentionKindChoice {
    /// Busy loops, one core each.
    Cpu,
    /// Streaming copies over 64 MiB per thread (memory bandwidth, caches).
    Memory,
}

pub use frontier_train::KindChoice;

/// `--kind`: the kinds `frontier-train` fits.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = KindChoice> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        KindChoice::ALL.map(|k| PossibleValue::new(k.name()).help(k.describe())),
    )
    .map(|s| KindChoice::parse(&s).expect("a listed kind"))
}

#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Latency tables (.jsonl, .csv), or collector:URL (reader token from
    /// --token, FRONTIER_TOKEN or the config file).
    #[arg(required = true, value_name = "TABLE")]
    pub tables: Vec<String>,

    /// The search space of the rows' architectures: ofa-mbv3 or gpt2.
    #[arg(long)]
    pub space: String,

    /// Only rows of this device (needed when the tables hold several).
    #[arg(long)]
    pub device: Option<String>,

    /// Only rows of this backend.
    #[arg(long)]
    pub backend: Option<String>,

    /// Only rows measured with this many threads.
    #[arg(long)]
    pub threads: Option<u32>,

    #[arg(long, value_parser = kind_parser(), default_value = "auto")]
    pub kind: KindChoice,

    /// The predictor file to write (versioned JSON).
    #[arg(long)]
    pub out: PathBuf,

    /// Also write the predictor as ONNX: input `encoding` [batch, N] (the
    /// space's encode(), see examples/predict.py), outputs `latency_ms`,
    /// `interval_ms` and `features`; the same predictions as --out.
    #[arg(long, value_name = "FILE")]
    pub onnx: Option<PathBuf>,

    /// Also write a report: cross-validated metrics of every kind tried,
    /// the learning curve, the sum-of-parts ratio (and the learning curve
    /// as an SVG plot beside it, R.svg).
    #[arg(long)]
    pub report: Option<PathBuf>,

    /// A reader token for collector:URL tables.
    #[arg(long)]
    pub token: Option<String>,

    /// Seed of the folds and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Few-shot transfer: adapt this predictor of another device (backend,
    /// thread count) with the rows given, instead of training from scratch.
    /// A file, or collector:URL?device=NAME (as `search --predictor`).
    #[arg(long, value_name = "PREDICTOR")]
    pub from: Option<String>,

    /// Use only N of the rows (a seeded choice) and report accuracy on the
    /// others: how well N rows of a new device do.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(3..))]
    pub shots: Option<u64>,
}

#[derive(Debug, Clone, Args)]
pub struct PredictArgs {
    /// A predictor written by `frontier train`, or
    /// collector:URL?device=NAME[&backend=B][&threads=T] (the newest fresh one
    /// the collector trained; reader token in FRONTIER_TOKEN).
    #[arg(long, value_name = "FILE|collector:URL?device=NAME")]
    pub predictor: String,

    /// One architecture as JSON.
    #[arg(long, conflicts_with = "archs")]
    pub arch: Option<String>,

    /// A file with one {"arch": ...} (or a manifest line) per line.
    #[arg(long)]
    pub archs: Option<PathBuf>,

    /// One JSON line per architecture: {"arch", "predicted_ms", "interval_ms"}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct UploadArgs {
    /// The collector's URL (http[s]://HOST:PORT; else FRONTIER_COLLECTOR or
    /// the config file) and table files (.jsonl, .csv) to spool first. Rows
    /// without a row_id get one from their content, so a file uploaded twice
    /// is stored once.
    #[arg(value_name = "URL|TABLE")]
    pub args: Vec<String>,

    /// A device token (else FRONTIER_TOKEN or the config file's token/token_file).
    #[arg(long)]
    pub token: Option<String>,

    /// Show what waits in the spool and the last error; send nothing.
    #[arg(long)]
    pub status: bool,

    /// With --status: one JSON object.
    #[arg(long, requires = "status")]
    pub json: bool,

    /// How long to keep retrying before leaving the rest for the next run.
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub wait: Duration,

    /// Rows per request.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub batch_rows: u64,
}

/// Where the ONNX Runtime library comes from (shared by every command that
/// may load it).
#[derive(Debug, Clone, Args, Default)]
pub struct OrtLibArgs {
    /// ONNX Runtime library (libonnxruntime.so.*); otherwise ORT_DYLIB_PATH,
    /// then next to the binary, ~/.local/lib/frontier and system library dirs.
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub ort: OrtLibArgs,

    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// The ONNX model.
    pub model: PathBuf,

    /// Fix an input's shape for the MAC count: NAME=1,3,224,224[:f32]; repeatable.
    #[arg(long = "input", value_name = "SPEC")]
    pub inputs: Vec<String>,

    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

pub use frontier_spaces::sampler::Strategy as SamplerChoice;
pub use frontier_spaces::Space;

/// `--space`: the spaces of `frontier-spaces`, with their descriptions.
fn space_parser() -> impl clap::builder::TypedValueParser<Value = Space> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        Space::ALL.map(|s| PossibleValue::new(s.name()).help(s.description())),
    )
    .map(|s| Space::parse(&s).expect("a listed space"))
}

/// `--sampler`: uniform or stratified by one dimension.
fn sampler_parser() -> impl clap::builder::TypedValueParser<Value = SamplerChoice> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        SamplerChoice::NAMES.map(|n| PossibleValue::new(n).help(SamplerChoice::describe(n))),
    )
    .map(|s| SamplerChoice::parse(&s).expect("a listed sampler"))
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The search space.
    #[arg(long, value_parser = space_parser())]
    pub space: Space,

    /// Sample this many architectures (writes DIR/*.onnx and DIR/manifest.jsonl).
    #[arg(long, conflicts_with_all = ["arch", "blocks"], value_parser = clap::value_parser!(u32).range(1..))]
    pub samples: Option<u32>,

    /// How --samples draws architectures.
    #[arg(long, value_parser = sampler_parser(), default_value = "uniform")]
    pub sampler: SamplerChoice,

    /// Write every distinct block configuration of the space (stem, blocks,
    /// head) as its own model, for a per-block latency lookup table (ofa-mbv3).
    #[arg(long, conflicts_with = "arch")]
    pub blocks: bool,

    /// With --blocks: only these input resolutions (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub resolutions: Vec<u32>,

    /// GPT-2 sampling: sequence length of the models' input.
    #[arg(long, default_value_t = 128)]
    pub seq_len: u32,
    /// GPT-2 sampling: vocabulary size (GPT-2's is 50257).
    #[arg(long, default_value_t = 50257)]
    pub vocab_size: u32,
    /// GPT-2 sampling: context length, rows of the position embedding.
    #[arg(long, default_value_t = 1024)]
    pub n_positions: u32,

    /// One architecture as JSON, e.g. '{"ks":[...20],"e":[...20],"d":[...5],"r":160}'
    /// or '{"n_layer":4,"d_model":256,"n_head":4,"d_inner":1024,"vocab_size":50257,"n_positions":1024,"seq_len":128}'.
    #[arg(long)]
    pub arch: Option<String>,

    /// Seed of the sampler and of the random weights.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Directory (with --samples) or .onnx file (with --arch).
    #[arg(long)]
    pub out: PathBuf,

    /// Also print the manifest lines on stdout.
    #[arg(long)]
    pub json: bool,

    /// Real weights: an OFAMobileNetV3 supernet (safetensors, its
    /// `state_dict()`; examples/convert_supernet.py) to take each subnet's
    /// weights from, as `get_active_subnet(preserve_weight=True)` does.
    /// Without it, weights are seeded (latency twins).
    #[arg(long, value_name = "SUPERNET", conflicts_with = "blocks")]
    pub weights: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProbeKind {
    Network,
    Cpu,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// tract: pure Rust, always available.
    Tract,
    /// ONNX Runtime, loaded from libonnxruntime.so (see --ort-lib).
    Ort,
    /// Every backend that works here; the fastest per model is marked.
    Auto,
}

impl BackendChoice {
    /// The choice a table's `backend` column names (`tract`, `ort`).
    pub fn from_name(name: &str) -> Option<BackendChoice> {
        <BackendChoice as ValueEnum>::from_str(name, false).ok()
    }
}

/// Graph optimization level (`--graph-opt`), ONNX Runtime's levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphOptChoice {
    Disable,
    Basic,
    Extended,
    Layout,
    All,
}

/// Durations: `1.5` (seconds), `500ms`, `2s`, `15m` (the syntax of the
/// class files of `targets/`).
use frontier_targets::parse_duration;

/// `--probe-session-beta`: estimated, or given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SessionBeta {
    Auto,
    Fixed(f64),
}

fn parse_session_beta(s: &str) -> Result<SessionBeta, String> {
    if s.trim() == "auto" {
        return Ok(SessionBeta::Auto);
    }
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=2.0).contains(&v) => Ok(SessionBeta::Fixed(v)),
        _ => Err(format!("'{s}': expected auto or a number in [0, 2]")),
    }
}

/// A fraction in [0, 1): 0 allowed (`--session-error 0` for a machine
/// whose invocations do not move together).
fn parse_fraction_or_zero(s: &str) -> Result<f64, String> {
    if s.trim().trim_end_matches('%').parse::<f64>() == Ok(0.0) {
        return Ok(0.0);
    }
    parse_fraction(s)
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    let v = if s.trim().ends_with('%') {
        v / 100.0
    } else {
        v
    };
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!(
            "'{s}' must be a fraction between 0 and 1 (0.01) or a percentage (1%)"
        ))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// ONNX files, or directories searched recursively for *.onnx.
    #[arg(required_unless_present = "space", conflicts_with = "space")]
    pub paths: Vec<PathBuf>,

    /// Measure each model once per level while the profiler runs that many
    /// background load threads (e.g. 0,1,2); rows record `contention`.
    /// The latency tables `frontier serve --contention-table` switches by.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "LEVELS",
        conflicts_with = "budget"
    )]
    pub contention: Vec<u32>,

    /// What the background threads of --contention do.
    #[arg(long, value_enum, default_value_t = ContentionKindChoice::Cpu, requires = "contention")]
    pub contention_kind: ContentionKindChoice,

    /// Profile subnets of a search space generated in memory (no files),
    /// with --samples; rows record each one's `arch` and `space`.
    #[arg(long, value_parser = space_parser())]
    pub space: Option<Space>,

    /// With --space: how many subnets (model i uses seed --seed + i, as
    /// `frontier export --samples` does).
    #[arg(long, requires = "space", conflicts_with = "budget", value_parser = clap::value_parser!(u32).range(1..))]
    pub samples: Option<u32>,

    /// Wall time for the whole invocation (e.g. 15m). For models given as
    /// files: warm-up and rounds are planned to fit it, models that reach
    /// their target or stop narrowing hand their time to the others, and
    /// rows that did not reach --target-ci are named at the end. With
    /// --space: active profiling, a first batch stratified by MACs, then
    /// batches where the predictor is least certain, until the budget is
    /// spent or accuracy stops improving.
    #[arg(long, value_parser = parse_duration)]
    pub budget: Option<Duration>,

    /// With --budget: write the final predictor here (as `frontier train --out`).
    #[arg(long, requires = "budget")]
    pub predictor_out: Option<PathBuf>,

    /// With --space: how subnets are drawn.
    #[arg(long, value_parser = sampler_parser(), default_value = "uniform")]
    pub sampler: SamplerChoice,

    /// Reference subnets measured beside the models (rows `reference:
    /// true`): a space's fixed set (the fleet's canaries), so that tables of
    /// different invocations can be put on one scale by `train` and
    /// `predict`. `auto`: the space's set with --space, none for files;
    /// `none`; or a space name (e.g. `ofa-mbv3` for files of that space).
    #[arg(long, default_value = "auto", value_name = "auto|none|SPACE")]
    pub references: String,

    /// With --space gpt2: sequence length of the models' input.
    #[arg(long, default_value_t = 128)]
    pub seq_len: u32,

    /// Inference backend.
    #[arg(long, value_enum, default_value_t = BackendChoice::Tract)]
    pub backend: BackendChoice,

    #[command(flatten)]
    pub ort: OrtLibArgs,

    #[command(flatten)]
    pub measure: MeasureArgs,

    /// Do not measure: run every available backend once on the same seeded
    /// inputs and report how far their outputs differ.
    #[arg(long)]
    pub check: bool,

    /// Largest difference `--check` accepts, relative to the output's scale.
    #[arg(long, default_value_t = frontier_profiler::check::DEFAULT_TOLERANCE)]
    pub check_tolerance: f64,

    /// Fix an input's shape and dtype: NAME=1,3,224,224[:f32]; repeatable. Without
    /// NAME= it applies to each model's first input.
    #[arg(long = "input", value_name = "SPEC")]
    pub inputs: Vec<String>,

    /// Seed of the random input data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Removed in 0.1 (table 1.5): rounds are judged by the interval
    /// (--target-ci). Accepted and ignored, with a warning.
    #[arg(long, hide = true, value_parser = parse_fraction)]
    pub target_round_ci: Option<f64>,

    /// Removed (table 1.5): the round spread grows with the number of
    /// rounds, so it no longer decides anything; see --max-ci.
    #[arg(long, hide = true, value_parser = parse_fraction)]
    pub max_spread: Option<f64>,

    /// Removed (table 1.5): no row is re-measured and no attempt chosen
    /// over another (that favoured quiet phases); see --target-ci.
    #[arg(long, hide = true)]
    pub retries: Option<u32>,

    /// Also write a per-operator profile.
    #[arg(long)]
    pub per_op: bool,

    /// Append rows to this table (.jsonl or .csv).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Where per-operator rows go (default: next to --out as NAME.ops.EXT).
    #[arg(long)]
    pub ops_out: Option<PathBuf>,

    /// Rows as JSON Lines on stdout; the summary goes to stderr.
    #[arg(long)]
    pub json: bool,

    /// Also upload the rows to a collector: spooled durably first, then sent
    /// (URL optional: else FRONTIER_COLLECTOR or the config file).
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub upload: Option<String>,

    /// With --upload: a device token (else FRONTIER_TOKEN or the config file).
    #[arg(long, requires = "upload")]
    pub token: Option<String>,

    /// With --upload: how long to try sending after profiling; rows not sent
    /// by then stay spooled for `frontier upload`.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub upload_wait: Duration,

    /// No progress bar and no summary.
    #[arg(long, short)]
    pub quiet: bool,

    /// Exit non-zero if any model failed (default: only if none could be profiled).
    #[arg(long)]
    pub strict: bool,
}

/// The measurement settings of a profiling session. Unset flags take the
/// `--policy` class's value, else `SessionConfig::default()`
/// (`settings.rs` resolves them; no default lives in a clap attribute).
#[derive(Debug, Clone, Default, Args)]
pub struct MeasureArgs {
    /// Threads per inference (intra-op); 0 = every logical core. tract
    /// above 1 needs a build with the `tract-threads` feature (`frontier
    /// doctor` says whether this one has it). [default: 1]
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1024))]
    pub threads: Option<u32>,

    /// Threads running independent graph branches at once (ONNX Runtime;
    /// more than 1 enables parallel execution). [default: 1]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub inter_threads: Option<u32>,

    /// Graph optimization level (ONNX Runtime; tract always optimizes fully). [default: all]
    #[arg(long, value_enum)]
    pub graph_opt: Option<GraphOptChoice>,

    /// Execution provider (ONNX Runtime): `cpu`; `frontier doctor` lists what
    /// the library offers. [default: cpu]
    #[arg(long)]
    pub ep: Option<String>,

    /// Integer inputs (token ids) are drawn from [0, int-max). [default: 1000]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub int_max: Option<u64>,

    /// Minimum warm-up runs (warm-up then continues until it is stable). [default: 5]
    #[arg(long)]
    pub warmup: Option<u32>,

    /// Minimum warm-up time. [default: 200ms]
    #[arg(long, value_parser = parse_duration)]
    pub warmup_time: Option<Duration>,

    /// Minimum measured runs per model. [default: 10]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_runs: Option<u32>,

    /// Minimum measured time per model. [default: 1s]
    #[arg(long, value_parser = parse_duration)]
    pub min_time: Option<Duration>,

    /// Maximum measured time per model; wins over --min-runs. [default: 10s]
    #[arg(long, value_parser = parse_duration)]
    pub max_time: Option<Duration>,

    /// Interleaved rounds over all models before the stop rule applies. [default: 5]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: Option<u32>,

    /// Independently prepared copies of each model, measured in turn. Where
    /// a model's weights land in memory moves its latency by a few percent
    /// for the life of a process, so one copy's median does not repeat in
    /// the next invocation; the median over copies does. 1 uses the least
    /// memory and preparation time. Copies that would not fit in half the
    /// available memory are left out, with a warning. [default: 3]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub instances: Option<u32>,

    /// Stop a model once its own 95% uncertainty (drift over rounds and
    /// placement over instances: the part of its interval that is its own)
    /// is within this fraction (0.02 = ±2%), or once more rounds cannot get
    /// it there. [default: 0.02]
    #[arg(long, value_parser = parse_fraction)]
    pub target_ci: Option<f64>,

    /// Flag rows `unstable` ("do not trust") whose own uncertainty is wider
    /// than this fraction. [default: 0.035]
    #[arg(long, value_parser = parse_fraction)]
    pub max_ci: Option<f64>,

    /// The error common to a whole invocation, as a 95% half-width, which
    /// one invocation cannot see in itself (calibrated on a shared VM, see
    /// docs/BENCHMARKS.md): added to every row's interval (median_ci95_rel),
    /// which is then the interval for a repeat invocation. [default: 0.033]
    #[arg(long, value_parser = parse_fraction_or_zero)]
    pub session_error: Option<f64>,

    /// Probe reference: `auto` (this device's stored reference, created on
    /// first use), `session` (this run's median probe), `off` (no probe), or a
    /// duration in ms. [default: auto]
    #[arg(long)]
    pub probe_ref: Option<String>,

    /// Elasticity applied to this run's shift of the median probe from the
    /// stored reference: `auto` (the one estimated within the session, as
    /// for the variation within it) or a number in [0, 2] (1: the models
    /// move one for one with the probe between invocations). [default: auto]
    #[arg(long, value_parser = parse_session_beta)]
    pub probe_session_beta: Option<SessionBeta>,

    /// Calibration probe: `network` (the smallest Once-for-All subnet run by
    /// the first backend: it slows down as the models do) or `cpu` (a fixed
    /// matrix product and memory stream). [default: network]
    #[arg(long, value_enum)]
    pub probe: Option<ProbeKind>,

    /// Runs averaged in the per-operator profile. [default: 20]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_op_runs: Option<u32>,

    /// A device class's defaults (iot, edge, laptop, server; see targets/):
    /// warm-up, time budgets, rounds, threads and memory budget, for every
    /// flag not given explicitly.
    #[arg(long, value_name = "CLASS")]
    pub policy: Option<String>,

    /// Largest input or intermediate tensor set a model may allocate, in MB
    /// (default: the memory available, or the --policy class's budget).
    #[arg(long, value_name = "MB")]
    pub memory_budget: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("0.01").unwrap(), 0.01);
        assert!((parse_fraction("5%").unwrap() - 0.05).abs() < 1e-12);
        assert!(parse_fraction("2").is_err());
        assert!(parse_fraction("0").is_err());
    }
}
