//! `frontier serve`: flags to a `ServeConfig`, then the switcher library
//! behind its HTTP layer (`frontier_switcher::http`).
//!
//! Routes: `POST /v1/infer` (JSON `{"shape", "data", "dtype"?}` or
//! `application/octet-stream`: the canonical input's f32 little-endian
//! bytes), `GET /v1/status`, `GET /metrics` (Prometheus), `GET /healthz`.
//! Each response names the model that served it (`model` and the
//! `x-frontier-model` header). Errors are JSON `{"error": ...}` with 400
//! (bad input), 413 (body too large) or 503 (every model failed); the
//! server keeps serving. SIGHUP reloads the manifest (new models warmed
//! before they serve); SIGTERM and Ctrl-C drain in-flight requests, then exit.
//!
//! `--frontier collector:URL/NAME` ([`pull`]): the manifest is the version
//! the collector assigns this board (its credential, enrolled when it has
//! none). A thread follows the assignment (long poll); a new version is
//! downloaded into the state directory, loaded as a new generation and
//! reported; a failed download or load keeps the old generation serving
//! and is reported with its reason. Each `--field-every` window becomes
//! field rows (per model: requests, inference and end-to-end p50/p90/p99,
//! SLO misses, switches, load) in a spool of their own, sent to the
//! collector exactly once like latency rows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use frontier_profiler::backend::Backend;
use frontier_switcher::http::{self, log};
use frontier_switcher::{ServeConfig, SwitchMode, Switcher};

use crate::cli::{ServeArgs, SwitchPolicyChoice};

#[cfg(feature = "upload")]
mod pull;

pub fn run(args: ServeArgs) -> anyhow::Result<i32> {
    if !(args.slo_ms.is_finite() && args.slo_ms > 0.0) {
        anyhow::bail!(
            "--slo-ms {}: not a positive number of milliseconds; fix: e.g. --slo-ms 30",
            args.slo_ms
        );
    }
    if args.threads.contains(&0) {
        anyhow::bail!("--threads: 0 is not a thread count; fix: e.g. --threads 1,2");
    }
    let backends = crate::backends::selected(args.backend, &args.ort, None)?;
    let backend: Arc<dyn Backend> = Arc::from(
        backends
            .into_iter()
            .next()
            .context("no backend; fix: --backend tract")?,
    );
    #[cfg(feature = "upload")]
    let mut pulled = None;
    let manifest = match args.frontier.strip_prefix("collector:") {
        #[cfg(feature = "upload")]
        Some(target) => {
            let p = pull::start(&args, target, backend.name())?;
            let path = p.manifest.clone();
            pulled = Some(p);
            path
        }
        #[cfg(not(feature = "upload"))]
        Some(_) => anyhow::bail!("--frontier collector:...: this frontier was built without the `upload` feature; fix: use a build with it"),
        None => std::path::PathBuf::from(&args.frontier),
    };
    let mut config = ServeConfig::new(manifest, args.slo_ms, backend);
    config.device = args.device.clone();
    #[cfg(feature = "upload")]
    if let Some(p) = &pulled {
        config.device = Some(p.assignment.device_key.clone());
    }
    config.threads = args.threads.clone();
    config.memory_budget_mb = args.memory_budget;
    config.weights = args.weights.clone();
    config.mode = match args.switch_policy {
        SwitchPolicyChoice::Frontier => SwitchMode::Frontier,
        SwitchPolicyChoice::MostAccurate => SwitchMode::MostAccurate,
        SwitchPolicyChoice::Fastest => SwitchMode::Fastest,
        SwitchPolicyChoice::MeanStep => SwitchMode::MeanStep,
    };
    for t in &args.contention_table {
        config
            .contention_rows
            .extend(frontier_table::read::<frontier_table::LatencyRow>(t)?);
    }
    let (switcher, warnings) = Switcher::start(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &warnings {
        log(args.json, "warning", serde_json::json!({"message": w}));
    }
    let st = switcher.status();
    if st.slo_unreachable {
        log(
            args.json,
            "warning",
            serde_json::json!({"message": format!("no model's predicted p95 fits the SLO of {} ms; the fastest serves", args.slo_ms)}),
        );
    }
    if let Some(note) = &st.load_note {
        log(args.json, "warning", serde_json::json!({"message": note}));
    }
    if let Some(every) = args.force_swap_every_ms {
        switcher.alternate_fastest(Duration::from_millis(every));
    }
    let listen: SocketAddr = args.listen.parse().with_context(|| {
        format!(
            "--listen {}: not an address such as 127.0.0.1:8080",
            args.listen
        )
    })?;
    #[cfg(feature = "upload")]
    let follower = match pulled {
        Some(p) => Some(p.follow(switcher.clone(), &args)?),
        None => None,
    };
    http::serve(switcher, listen, args.json).with_context(|| format!("--listen {listen}"))?;
    #[cfg(feature = "upload")]
    if let Some(f) = follower {
        f.finish();
    }
    Ok(0)
}
