//! Latency table format v1 (see `docs/TABLE_FORMAT.md`): the rows the agent
//! writes, the collector's wire format, and the predictor's input.
//!
//! One [`LatencyRow`] per (device, backend, model, input shapes, threads);
//! one [`OpRow`] per node of a per-operator profile, keyed by `model_sha256`.
//! Rows are flat records of strings, numbers and booleans, so that JSON Lines
//! and CSV carry exactly the same columns and `pandas.read_json(lines=True)`
//! and `pandas.read_csv` give the same frame. Structured values (`inputs`,
//! `arch`, `cpu_features`) are strings with a documented syntax.
//!
//! Writers return bytes; the caller decides where they go. Readers reject a
//! table whose major schema version they do not know, naming the file, the
//! line and the version.
//!
//! Every row has a `row_id` (1.3): a hash of its content ([`content_row_id`]),
//! so the same measurement keeps the same id in every file and every retry of
//! an upload, and the collector stores it once.

pub mod frontier;
pub mod jobs;
pub mod rollout;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The version written by this build. Minor versions only add optional columns.
pub const SCHEMA_VERSION: &str = "1.7";
/// The major version this build reads.
pub const SCHEMA_MAJOR: u32 = 1;

/// One row of a latency table. Field order is the CSV column order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    // Required columns (the contract other tools rely on), in the documented order.
    pub schema_version: String,
    pub device_id: String,
    pub backend: String,
    pub backend_version: String,
    pub model_path: String,
    pub model_sha256: String,
    /// `name=d0,d1,...:dtype` per input, joined by `;` (the `--input` syntax).
    pub inputs: String,
    pub threads: u32,
    pub n_runs: u64,
    pub mean_ms: f64,
    pub median_ms: f64,
    pub p10_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// Empty when `n_runs < 2`.
    pub std_ms: Option<f64>,
    pub cv: Option<f64>,
    pub probe_ratio: f64,
    pub median_ms_corrected: f64,
    pub unstable: bool,
    pub peak_rss_mb: Option<f64>,
    /// RFC 3339, UTC, when the measurement ended.
    pub measured_at: String,
    pub frontier_version: String,
    /// Compact JSON of the architecture config, when the model came with a manifest.
    #[serde(default)]
    pub arch: Option<String>,

    // Optional columns (v1.0).
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub p95_ms: Option<f64>,
    #[serde(default)]
    pub mad_ms: Option<f64>,
    #[serde(default)]
    pub outliers: Option<u64>,
    #[serde(default)]
    pub ci95_rel: Option<f64>,
    /// Half-width of the 95% CI by batch means over the rounds (1.2).
    #[serde(default)]
    pub round_ci95_rel: Option<f64>,
    #[serde(default)]
    pub p10_ms_corrected: Option<f64>,
    #[serde(default)]
    pub p90_ms_corrected: Option<f64>,
    #[serde(default)]
    pub mean_ms_corrected: Option<f64>,
    /// Spread of the round medians, raw or drift-corrected, whichever is smaller.
    #[serde(default)]
    pub round_spread: Option<f64>,
    #[serde(default)]
    pub round_spread_raw: Option<f64>,
    #[serde(default)]
    pub probe_drift: Option<f64>,
    /// Independently prepared instances of the model the median is over (1.2).
    #[serde(default)]
    pub instances: Option<u32>,
    /// Spread of the instances' corrected medians: how much where the model
    /// landed in memory moved its latency (1.2; empty with one instance).
    #[serde(default)]
    pub instance_spread: Option<f64>,
    #[serde(default)]
    pub probe_ref_ms: Option<f64>,
    /// This session's median probe (1.2).
    #[serde(default)]
    pub probe_session_ms: Option<f64>,
    /// Elasticity applied to the session's shift from `probe_ref_ms` (1.2).
    #[serde(default)]
    pub probe_session_beta: Option<f64>,
    /// Which calibration probe: `cpu`, or `net-<backend>-<version>-t<threads>`
    /// (the smallest OFA subnet run by that backend).
    #[serde(default)]
    pub probe: Option<String>,
    /// Elasticity of the models to the probe used for the corrected figures.
    #[serde(default)]
    pub probe_beta: Option<f64>,
    #[serde(default)]
    pub unstable_reason: Option<String>,
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub rounds: Option<u32>,
    #[serde(default)]
    pub attempts: Option<u32>,
    #[serde(default)]
    pub warmup_runs: Option<u32>,
    #[serde(default)]
    pub overhead_ns: Option<f64>,
    #[serde(default)]
    pub seed: Option<u64>,
    /// ONNX Runtime's inter-op threads (empty for tract).
    #[serde(default)]
    pub inter_threads: Option<u32>,
    /// Graph optimization level (ONNX Runtime's name; empty for tract, which always optimizes fully).
    #[serde(default)]
    pub graph_opt: Option<String>,
    /// Execution provider (`cpu`, ...).
    #[serde(default)]
    pub execution_provider: Option<String>,
    /// Whether this backend had the lowest corrected median for this model among those profiled.
    #[serde(default)]
    pub fastest: Option<bool>,
    #[serde(default)]
    pub device_class_id: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub cpu_model: Option<String>,
    #[serde(default)]
    pub cpu_arch: Option<String>,
    #[serde(default)]
    pub target_triple: Option<String>,
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub kernel: Option<String>,
    #[serde(default)]
    pub logical_cores: Option<u32>,
    #[serde(default)]
    pub physical_cores: Option<u32>,
    #[serde(default)]
    pub cpu_freq_mhz: Option<u64>,
    #[serde(default)]
    pub cpu_max_freq_mhz: Option<u64>,
    #[serde(default)]
    pub governor: Option<String>,
    #[serde(default)]
    pub mem_total_mb: Option<u64>,
    /// Space-separated SIMD features.
    #[serde(default)]
    pub cpu_features: Option<String>,
    #[serde(default)]
    pub temperature_c: Option<f64>,
    #[serde(default)]
    pub cpu_util_pct: Option<f64>,
    #[serde(default)]
    pub other_util_pct: Option<f64>,
    #[serde(default)]
    pub steal_pct: Option<f64>,
    #[serde(default)]
    pub cpu_pressure_avg10: Option<f64>,
    #[serde(default)]
    pub load_avg_1m: Option<f64>,
    /// The search space the model was generated from, from its manifest (1.3).
    #[serde(default)]
    pub space: Option<String>,
    /// Stable identity of this row: [`content_row_id`] of the row when it was
    /// made (1.3). The collector's idempotency key.
    #[serde(default)]
    pub row_id: Option<String>,
    /// Background load the profiler itself ran while measuring
    /// (`profile --contention`): busy threads (1.4).
    #[serde(default)]
    pub contention: Option<f64>,
    /// What the background load was: `cpu` (busy loops) or `memory`
    /// (streaming copies over a buffer larger than the caches) (1.4).
    #[serde(default)]
    pub contention_kind: Option<String>,
    /// Relative half-width of the 95% interval of `median_ms_corrected` for
    /// a repeat invocation on this device: drift over the rounds, placement
    /// over the instances and the session's own error (1.5). `unstable`
    /// rows are those whose interval is wider than the profiler's `--max-ci`
    /// (or has fewer than three rounds).
    #[serde(default)]
    pub median_ci95_rel: Option<f64>,
    /// The device's highest temperature when the session started, °C
    /// (`temperature_c` is the one when this row's measurement ended) (1.6).
    #[serde(default)]
    pub temperature_start_c: Option<f64>,
    /// Whether external power (a mains or USB supply) was on; empty where
    /// the device has none to ask (1.6).
    #[serde(default)]
    pub power_online: Option<bool>,
    /// The profiling invocation that measured the row: one id per
    /// `frontier profile` run, shared by all its rows (1.7). Rows of one
    /// invocation share its machine state; tables of two invocations are put
    /// on one scale by their reference rows.
    #[serde(default)]
    pub invocation: Option<String>,
    /// Whether the row is one of the invocation's reference subnets (the
    /// space's fixed set measured beside its models, to align invocations),
    /// not a model the user asked for (1.7).
    #[serde(default)]
    pub reference: Option<bool>,
}

impl LatencyRow {
    /// The row's latency for training and verification: the corrected
    /// median, else the raw median, if positive.
    pub fn latency_ms(&self) -> Option<f64> {
        [self.median_ms_corrected, self.median_ms]
            .into_iter()
            .find(|v| v.is_finite() && *v > 0.0)
    }

    /// Whether this is a reference subnet's row (a scale for aligning
    /// invocations, never a training sample or a prediction target).
    pub fn is_reference(&self) -> bool {
        self.reference == Some(true)
    }
}

/// Columns added after 1.3, in order: those empty at the end of a row are
/// left out of its content id, so rows made before them keep their ids.
const AFTER_1_3: [&str; 7] = [
    "contention",
    "contention_kind",
    "median_ci95_rel",
    "temperature_start_c",
    "power_online",
    "invocation",
    "reference",
];

/// Hex digits of a row id (128 bits of SHA-256).
pub const ROW_ID_HEX: usize = 32;

/// The id of a row derived from its content: SHA-256 over its JSON without
/// `row_id`, first 128 bits in hex. Re-reading a row from JSON Lines or CSV
/// gives the same id (numbers round-trip exactly in both formats).
pub fn content_row_id(row: &LatencyRow) -> String {
    use sha2::{Digest, Sha256};
    let mut r = row.clone();
    r.row_id = None;
    let mut json = serde_json::to_string(&r).expect("rows are plain data");
    for column in AFTER_1_3.iter().rev() {
        let tail = format!(",\"{column}\":null}}");
        if !json.ends_with(&tail) {
            break;
        }
        json.truncate(json.len() - tail.len());
        json.push('}');
    }
    Sha256::digest(json.as_bytes())
        .iter()
        .take(ROW_ID_HEX / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Give `row` its content id unless it has one.
pub fn ensure_row_id(row: &mut LatencyRow) -> &str {
    if row.row_id.is_none() {
        row.row_id = Some(content_row_id(row));
    }
    row.row_id.as_deref().expect("just set")
}

/// Whether `id` has the form of a row id the collector accepts: 8-128
/// characters of `[0-9A-Za-z_-]` (content ids are 32 hex digits; other tools
/// may use UUIDs).
pub fn valid_row_id(id: &str) -> bool {
    (8..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The required columns, in order; the first columns of every v1 table.
pub const REQUIRED_COLUMNS: [&str; 24] = [
    "schema_version",
    "device_id",
    "backend",
    "backend_version",
    "model_path",
    "model_sha256",
    "inputs",
    "threads",
    "n_runs",
    "mean_ms",
    "median_ms",
    "p10_ms",
    "p90_ms",
    "p99_ms",
    "min_ms",
    "max_ms",
    "std_ms",
    "cv",
    "probe_ratio",
    "median_ms_corrected",
    "unstable",
    "peak_rss_mb",
    "measured_at",
    "frontier_version",
];

/// One node of a per-operator profile.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpRow {
    pub schema_version: String,
    pub device_id: String,
    pub backend: String,
    pub backend_version: String,
    pub model_path: String,
    pub model_sha256: String,
    pub inputs: String,
    pub threads: u32,
    pub node_id: u64,
    pub node_name: String,
    pub op_type: String,
    pub runs: u64,
    pub median_ms: f64,
    pub mean_ms: f64,
    /// This node's share of the sum of all nodes' medians, 0-1.
    pub share: f64,
    pub measured_at: String,
    pub frontier_version: String,
}

/// Errors of reading and writing tables.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}: schema_version {found} is not supported by this frontier (reads {supported}.x); fix: upgrade frontier to read it")]
    UnknownMajor {
        path: PathBuf,
        line: usize,
        found: String,
        supported: u32,
    },
    #[error("{path}, line {line}: {detail}")]
    Parse {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("{path}: its header differs from this frontier's v{version} columns ({detail}); fix: write to a new file")]
    HeaderMismatch {
        path: PathBuf,
        version: &'static str,
        detail: String,
    },
    #[error("{path}: unknown table extension; fix: use .jsonl or .csv")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Table file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    /// From a file name: `.jsonl`/`.ndjson`/`.json` or `.csv`.
    pub fn from_path(path: &Path) -> Result<Format, TableError> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
        {
            Some(e) if e == "jsonl" || e == "ndjson" || e == "json" => Ok(Format::JsonLines),
            Some(e) if e == "csv" => Ok(Format::Csv),
            _ => Err(TableError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Rows as JSON Lines, one object per line.
pub fn to_jsonl<T: Serialize>(rows: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut out, r).expect("rows are plain data");
        out.push(b'\n');
    }
    out
}

/// Rows as CSV; the header line only when `header` (false to append).
pub fn to_csv<T: Serialize>(rows: &[T], header: bool) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(header)
        .from_writer(Vec::new());
    for r in rows {
        w.serialize(r).expect("rows are plain data");
    }
    if header && rows.is_empty() {
        // serde writes the header with the first row; an empty table still gets one.
        return Vec::new();
    }
    w.into_inner().expect("writing to memory cannot fail")
}

/// The CSV header line this build writes for `T`, without the newline.
pub fn csv_header<T: Serialize>(example: &T) -> String {
    let bytes = to_csv(std::slice::from_ref(example), true);
    let text = String::from_utf8(bytes).expect("CSV is UTF-8");
    text.lines().next().unwrap_or_default().to_string()
}

/// Check that a file's existing header can take appended rows of this version.
pub fn check_append_header<T: Serialize>(
    path: &Path,
    existing_first_line: &str,
    example: &T,
) -> Result<(), TableError> {
    let ours = csv_header(example);
    if existing_first_line.trim_end() == ours {
        return Ok(());
    }
    Err(TableError::HeaderMismatch {
        path: path.to_path_buf(),
        version: SCHEMA_VERSION,
        detail: format!(
            "{} columns there, {} here",
            existing_first_line.split(',').count(),
            ours.split(',').count()
        ),
    })
}

fn check_version(path: &Path, line: usize, v: &str) -> Result<(), TableError> {
    if major_known(v) {
        Ok(())
    } else {
        Err(TableError::UnknownMajor {
            path: path.to_path_buf(),
            line,
            found: v.to_string(),
            supported: SCHEMA_MAJOR,
        })
    }
}

/// Why one JSON line is not a row (see [`parse_line`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("no schema_version; fix: is this a frontier table?")]
    NoVersion,
    #[error("schema_version {0} is not supported (reads {SCHEMA_MAJOR}.x); fix: upgrade frontier to read it")]
    UnknownMajor(String),
    #[error("{0}")]
    Fields(String),
}

fn major_known(v: &str) -> bool {
    v.split('.')
        .next()
        .and_then(|m| m.trim().parse::<u32>().ok())
        == Some(SCHEMA_MAJOR)
}

/// Parse one JSON Lines line into a row of type `T`, checking its major
/// version first so that a row of another major fails as such, not as a
/// missing column.
pub fn parse_line<T: for<'de> Deserialize<'de>>(line: &str) -> Result<T, LineError> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| LineError::NotJson(e.to_string()))?;
    let version = v
        .get("schema_version")
        .and_then(|s| s.as_str())
        .ok_or(LineError::NoVersion)?;
    if !major_known(version) {
        return Err(LineError::UnknownMajor(version.to_string()));
    }
    serde_json::from_value(v).map_err(|e| LineError::Fields(e.to_string()))
}

/// Parse table text (JSON Lines or CSV) into rows of type `T`.
/// `path` is only used in error messages.
pub fn parse<T: for<'de> Deserialize<'de>>(
    path: &Path,
    format: Format,
    text: &str,
) -> Result<Vec<T>, TableError> {
    match format {
        Format::JsonLines => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                let line = i + 1;
                parse_line(l).map_err(|e| match e {
                    LineError::UnknownMajor(found) => TableError::UnknownMajor {
                        path: path.to_path_buf(),
                        line,
                        found,
                        supported: SCHEMA_MAJOR,
                    },
                    e => TableError::Parse {
                        path: path.to_path_buf(),
                        line,
                        detail: e.to_string(),
                    },
                })
            })
            .collect(),
        Format::Csv => {
            let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
            let headers = r
                .headers()
                .map_err(|e| TableError::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    detail: e.to_string(),
                })?
                .clone();
            let vcol = headers
                .iter()
                .position(|h| h == "schema_version")
                .ok_or_else(|| TableError::Parse {
                    path: path.to_path_buf(),
                    line: 1,
                    detail: "no schema_version column; fix: is this a frontier table?".into(),
                })?;
            let mut rows = Vec::new();
            for (i, rec) in r.records().enumerate() {
                let line = i + 2;
                let rec = rec.map_err(|e| TableError::Parse {
                    path: path.to_path_buf(),
                    line,
                    detail: e.to_string(),
                })?;
                check_version(path, line, rec.get(vcol).unwrap_or(""))?;
                rows.push(
                    rec.deserialize(Some(&headers))
                        .map_err(|e| TableError::Parse {
                            path: path.to_path_buf(),
                            line,
                            detail: e.to_string(),
                        })?,
                );
            }
            Ok(rows)
        }
    }
}

/// Read a table file, choosing the format by extension.
pub fn read<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, TableError> {
    let format = Format::from_path(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| TableError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse(path, format, &text)
}

/// Whether rows of type `T` can be appended to `path`: a known extension,
/// and for an existing CSV file the same header. Checked before measuring,
/// so no measurement is lost to an unwritable output.
pub fn check_appendable<T: Serialize + Default>(path: &Path) -> Result<(), TableError> {
    if Format::from_path(path)? == Format::Csv {
        if let Some(first) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.lines().next().map(String::from))
            .filter(|l| !l.trim().is_empty())
        {
            check_append_header(path, &first, &T::default())?;
        }
    }
    Ok(())
}

/// Append rows to a table file (creating it and its directory), writing
/// the CSV header only to a new file and refusing to append to a CSV file
/// with other columns.
pub fn append<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), TableError> {
    use std::io::Write;
    if rows.is_empty() {
        return Ok(());
    }
    let format = Format::from_path(path)?;
    let existing = std::fs::read_to_string(path)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let bytes = match format {
        Format::JsonLines => to_jsonl(rows),
        Format::Csv => match &existing {
            Some(text) => {
                check_append_header(path, text.lines().next().unwrap_or(""), &rows[0])?;
                to_csv(rows, false)
            }
            None => to_csv(rows, true),
        },
    };
    let write_error = |e| TableError::Write {
        path: path.to_path_buf(),
        source: e,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(write_error)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(write_error)?;
    if existing.as_ref().is_some_and(|t| !t.ends_with('\n')) {
        f.write_all(b"\n").map_err(write_error)?;
    }
    f.write_all(&bytes).map_err(write_error)
}

/// RFC 3339 UTC text of a time since the Unix epoch, to the millisecond.
pub fn rfc3339(since_epoch: std::time::Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let ms = since_epoch.subsec_millis();
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-compatible
    // low-level date algorithms", days_from_civil inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Now, as [`rfc3339`].
pub fn now_rfc3339() -> String {
    rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Parse RFC 3339 text (`2026-11-28T04:29:52.686Z`, or with an offset such
/// as `+02:00`; a date alone is midnight UTC) into the time since the Unix
/// epoch. `None` if it is not such a time or before 1970.
pub fn parse_rfc3339(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, rest) = t.split_at(t.len().min(10));
    let mut parts = date.split('-');
    let (y, m, d) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if date.len() != 10 || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Days since 1970-01-01 (H. Hinnant's days_from_civil).
    let (yy, mm) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut secs = days * 86_400;
    let mut nanos: u32 = 0;
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' '])?;
        if rest.len() < 8 || &rest[2..3] != ":" || &rest[5..6] != ":" {
            return None;
        }
        let (h, mi, s) = (num(&rest[0..2])?, num(&rest[3..5])?, num(&rest[6..8])?);
        if h > 23 || mi > 59 || s > 60 {
            return None;
        }
        secs += h * 3600 + mi * 60 + s;
        let mut tail = &rest[8..];
        if let Some(frac) = tail.strip_prefix('.') {
            let n = frac.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 {
                return None;
            }
            let digits = &frac[..n.min(9)];
            nanos = (num(digits)? * 10_i64.pow(9 - digits.len() as u32)) as u32;
            tail = &frac[n..];
        }
        match tail {
            "Z" | "z" => {}
            off if off.len() == 6 && (off.starts_with('+') || off.starts_with('-')) => {
                let (oh, om) = (num(&off[1..3])?, num(&off[4..6])?);
                let o = oh * 3600 + om * 60;
                secs -= if off.starts_with('+') { o } else { -o };
            }
            _ => return None,
        }
    }
    (secs >= 0).then(|| std::time::Duration::new(secs as u64, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_round_trips() {
        for ms in [0u64, 951_782_400_123, 1_795_838_400_000, 1_796_000_000_999] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_rfc3339(&rfc3339(d)), Some(d), "{}", rfc3339(d));
        }
        assert_eq!(
            parse_rfc3339("2026-11-28T06:00:00+02:00"),
            parse_rfc3339("2026-11-28T04:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-11-28"),
            parse_rfc3339("2026-11-28T00:00:00Z")
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-28T25:00:00Z",
            "2026-11-28T04:00:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn row_ids() {
        assert!(valid_row_id("0123456789abcdef0123456789abcdef"));
        assert!(valid_row_id("550e8400-e29b-41d4-a716-446655440000"));
        assert!(!valid_row_id("short"));
        assert!(!valid_row_id("has space in it"));
        assert!(!valid_row_id(&"a".repeat(129)));
    }
}
