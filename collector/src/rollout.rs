//! Frontiers out to the boards, field latency back, and the staged
//! rollout between them.
//!
//! A version of a frontier NAME goes out in stages:
//! 1. **Published** (`POST /v1/frontiers/NAME`): the first version of a
//!    name, or one published while no board serves the name, is promoted
//!    at once (there is nothing to compare with or return to). Otherwise it
//!    is a **canary**: the policy's named boards, or its share of the
//!    boards serving NAME (at least one, spread by a hash), get it; the
//!    others keep the current version (the highest promoted one). A canary
//!    version still being judged is superseded by a newer publication.
//! 2. **Judged** by every replica's evaluator ([`run`]) from the canary
//!    boards' field rows: for each model a board served with at least
//!    `min_requests` requests, its field p90 (the request-weighted median
//!    of its windows' inference p90s) against the upper end of the
//!    model's predicted interval for that board's key, times
//!    `1 + tolerance`. Any model over it, or a canary board that could not
//!    load the version, **rolls it back** (those boards return to the
//!    current version; the others never got it). Every canary board
//!    serving it for `hold_s` with enough requests and no model over
//!    **promotes** it to all.
//! 3. Operators promote or roll back by hand at any time
//!    (`POST /v1/frontiers/NAME/promote|rollback`, or
//!    `frontier-collector rollout`).
//!
//! Every decision is stored with its evidence (`GET /v1/frontiers/NAME`).
//! Decisions are conditional updates of the version's state, so each is
//! recorded once however many replicas reach it.
//!
//! A board's manifest key: its own `device/backend/tN` when the manifest
//! has it, else that of the board most like it (same CPU model and
//! architecture, as the trainer's transfer picks), else a refusal that
//! says what to search with.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use frontier_table::frontier::Manifest;
use frontier_table::rollout::{Assignment, BlobRef, FieldRow, RolloutPolicy};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::AppState;
use crate::store::{now_us, BoardRecord, Decision, Staging, Store, StoreError, VersionRecord};

/// The evaluator's settings.
#[derive(Debug, Clone)]
pub struct RolloutConfig {
    /// How often canary versions are judged.
    pub check_every: Duration,
    /// A board counts as serving a name when it asked or reported within
    /// this time.
    pub board_seen: Duration,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            check_every: Duration::from_secs(5),
            board_seen: Duration::from_secs(600),
        }
    }
}

/// How a new version of a name goes out, from the boards serving it.
pub fn stage(
    policy: &RolloutPolicy,
    boards: &[BoardRecord],
    names: &BTreeMap<String, String>,
    any_promoted: bool,
    seen_since_us: i64,
    salt: &str,
) -> Staging {
    if !any_promoted {
        return Staging {
            state: "promoted".into(),
            canary: Vec::new(),
            decision: Some((
                "promoted".into(),
                serde_json::json!({"reason": "no version of this name is promoted yet: nothing to stage against or return to"}).to_string(),
            )),
        };
    }
    let serving: Vec<&BoardRecord> = boards
        .iter()
        .filter(|b| b.seen_at_us >= seen_since_us)
        .collect();
    let canary: Vec<String> = if !policy.canary_boards.is_empty() {
        let wanted: BTreeSet<&str> = policy.canary_boards.iter().map(String::as_str).collect();
        let mut v: Vec<String> = serving
            .iter()
            .filter(|b| {
                wanted.contains(b.device_id.as_str())
                    || names
                        .get(&b.device_id)
                        .is_some_and(|n| wanted.contains(n.as_str()))
            })
            .map(|b| b.device_id.clone())
            .collect();
        // Named boards not serving yet get it when they come.
        for w in &policy.canary_boards {
            let id = names
                .iter()
                .find(|(_, n)| *n == w)
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| w.clone());
            if !v.contains(&id) {
                v.push(id);
            }
        }
        v
    } else {
        let n = ((policy.canary_percent / 100.0) * serving.len() as f64).ceil() as usize;
        let mut ranked: Vec<(String, String)> = serving
            .iter()
            .map(|b| {
                let h = Sha256::digest(format!("{salt}/{}", b.device_id).as_bytes());
                (format!("{h:x}"), b.device_id.clone())
            })
            .collect();
        ranked.sort();
        ranked
            .into_iter()
            .take(n.max(1).min(serving.len()))
            .map(|(_, d)| d)
            .collect()
    };
    if serving.is_empty() && policy.canary_boards.is_empty() {
        return Staging {
            state: "promoted".into(),
            canary: Vec::new(),
            decision: Some((
                "promoted".into(),
                serde_json::json!({"reason": "no board serves this name now: nothing to stage"})
                    .to_string(),
            )),
        };
    }
    Staging {
        state: "canary".into(),
        canary,
        decision: None,
    }
}

/// Why a board gets no assignment.
#[derive(Debug, thiserror::Error)]
pub enum AssignError {
    #[error("no frontier named {0}; fix: publish one (frontier search ... --publish collector:URL --name {0})")]
    Unknown(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The version a board serves: a canary version it is one of the canaries
/// of, else the highest promoted one.
pub fn chosen<'a>(versions: &'a [VersionRecord], device_id: &str) -> Option<&'a VersionRecord> {
    let current = versions.iter().rev().find(|v| v.state == "promoted");
    let canary = versions
        .iter()
        .rev()
        .find(|v| v.state == "canary" && v.canary.iter().any(|d| d == device_id));
    match (canary, current) {
        (Some(c), Some(p)) if c.version > p.version => Some(c),
        (_, p) => p,
    }
}

/// The highest promoted version.
pub fn current(versions: &[VersionRecord]) -> Option<&VersionRecord> {
    versions.iter().rev().find(|v| v.state == "promoted")
}

/// The manifest key this board serves by, and why when it is not its own.
pub async fn board_key(
    store: &Store,
    manifest: &Manifest,
    device_id: &str,
    backend: &str,
) -> Result<Result<(String, Option<String>), String>, StoreError> {
    let of_backend: Vec<&String> = manifest
        .devices
        .iter()
        .filter(|k| k.split('/').nth(1) == Some(backend))
        .collect();
    if let Some(k) = of_backend
        .iter()
        .find(|k| k.split('/').next() == Some(device_id))
    {
        return Ok(Ok(((*k).clone(), None)));
    }
    let fingerprints = store.fingerprints().await?;
    let none = crate::store::Fingerprint::default();
    let here = fingerprints.get(device_id).unwrap_or(&none);
    let mut best: Option<(u32, &String)> = None;
    for k in &of_backend {
        let other = k.split('/').next().unwrap_or("");
        let there = fingerprints.get(other).unwrap_or(&none);
        let same_cpu = here.cpu_model.is_some()
            && here.cpu_model == there.cpu_model
            && here.cpu_arch == there.cpu_arch;
        if !same_cpu {
            continue;
        }
        let score = crate::trainer::similarity(here, there);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, k));
        }
    }
    match best {
        Some((_, k)) => Ok(Ok((
            k.clone(),
            Some(format!(
                "the manifest has no {backend} predictor of this board; it serves by {k}, a board with the same CPU ({})",
                here.cpu_model.clone().unwrap_or_default()
            )),
        ))),
        None => Ok(Err(format!(
            "the manifest has no {backend} predictor of board {device_id} nor of a board with its CPU ({}); it has {}; fix: search with this board's predictor (--predictor collector:URL?device={device_id}) and publish again, or serve with another backend",
            here.cpu_model.clone().unwrap_or_else(|| "unknown".into()),
            if manifest.devices.is_empty() { "none".to_string() } else { manifest.devices.join(", ") }
        ))),
    }
}

/// What `name` assigns to `device_id` serving with `backend` now.
pub async fn assignment(
    store: &Store,
    name: &str,
    device_id: &str,
    backend: &str,
) -> Result<Assignment, AssignError> {
    let versions = store.versions(name).await?;
    if versions.is_empty() {
        return Err(AssignError::Unknown(name.to_string()));
    }
    let Some(v) = chosen(&versions, device_id) else {
        return Err(AssignError::Refused(format!(
            "every version of {name} was rolled back; fix: publish a new version, or promote one by hand (frontier-collector rollout promote {name} VERSION)"
        )));
    };
    let manifest = Manifest::parse(&v.manifest_json).map_err(AssignError::Refused)?;
    let (key, note) = match board_key(store, &manifest, device_id, backend).await? {
        Ok(k) => k,
        Err(why) => {
            return Err(AssignError::Refused(format!(
                "{name} version {}: {why}",
                v.version
            )))
        }
    };
    let blobs: BTreeMap<String, String> = serde_json::from_str(&v.blobs_json).unwrap_or_default();
    let mut wanted: Vec<(String, String)> = Vec::new();
    let mut need_supernet = false;
    for m in manifest.models_for(&key) {
        match blobs.get(&m.file) {
            Some(sha) => wanted.push((m.file.clone(), sha.clone())),
            None => need_supernet = true,
        }
    }
    if need_supernet {
        if let Some(s) = &manifest.supernet {
            if let Some(sha) = blobs.get(&s.file) {
                wanted.push((s.file.clone(), sha.clone()));
            }
        }
    }
    let sizes = store
        .blob_sizes(&wanted.iter().map(|w| w.1.clone()).collect::<Vec<_>>())
        .await?;
    let blobs = wanted
        .into_iter()
        .map(|(file, sha256)| BlobRef {
            size: sizes.get(&sha256).copied().unwrap_or(0),
            file,
            sha256,
        })
        .collect();
    Ok(Assignment {
        name: name.to_string(),
        version: v.version,
        stage: if v.state == "canary" { "canary" } else { "all" }.into(),
        device_key: key,
        key_note: note,
        manifest,
        blobs,
    })
}

/// A model's field latency over windows: counts summed, percentiles the
/// request-weighted median of the windows'.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FieldSummary {
    pub windows: u64,
    pub requests: u64,
    pub failed: u64,
    pub slo_misses: u64,
    pub switches_in: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
    pub e2e_p90_ms: Option<f64>,
    pub e2e_p99_ms: Option<f64>,
    /// Others' busy cores while it served (request-weighted mean), and the
    /// most seen.
    pub load_mean: Option<f64>,
    pub load_max: Option<f64>,
    pub first_window: Option<String>,
    pub last_window: Option<String>,
}

fn weighted_median(mut v: Vec<(f64, u64)>) -> Option<f64> {
    v.retain(|(x, w)| x.is_finite() && *w > 0);
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = v.iter().map(|x| x.1).sum();
    let mut acc = 0;
    for (x, w) in &v {
        acc += w;
        if acc * 2 >= total {
            return Some(*x);
        }
    }
    v.last().map(|x| x.0)
}

/// Summaries per (model, threads) of field rows.
pub fn summarize(rows: &[FieldRow]) -> BTreeMap<(String, u32), FieldSummary> {
    let mut groups: BTreeMap<(String, u32), Vec<&FieldRow>> = BTreeMap::new();
    for r in rows {
        groups
            .entry((r.model.clone(), r.threads))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let pick = |f: fn(&FieldRow) -> Option<f64>| {
                weighted_median(
                    rs.iter()
                        .filter_map(|r| Some((f(r)?, r.requests)))
                        .collect(),
                )
            };
            let requests: u64 = rs.iter().map(|r| r.requests).sum();
            let load_w: Vec<(f64, u64)> = rs
                .iter()
                .filter_map(|r| Some((r.load_mean?, r.requests)))
                .collect();
            let load_n: u64 = load_w.iter().map(|x| x.1).sum();
            let s = FieldSummary {
                windows: rs.len() as u64,
                requests,
                failed: rs.iter().map(|r| r.failed).sum(),
                slo_misses: rs.iter().map(|r| r.slo_misses).sum(),
                switches_in: rs.iter().map(|r| r.switches_in).sum(),
                p50_ms: pick(|r| r.inference_p50_ms),
                p90_ms: pick(|r| r.inference_p90_ms),
                p99_ms: pick(|r| r.inference_p99_ms),
                e2e_p50_ms: pick(|r| r.e2e_p50_ms),
                e2e_p90_ms: pick(|r| r.e2e_p90_ms),
                e2e_p99_ms: pick(|r| r.e2e_p99_ms),
                load_mean: (load_n > 0).then(|| {
                    load_w.iter().map(|(x, w)| x * *w as f64).sum::<f64>() / load_n as f64
                }),
                load_max: rs.iter().filter_map(|r| r.load_max).reduce(f64::max),
                first_window: rs.first().map(|r| r.window_start.clone()),
                last_window: rs.last().map(|r| r.window_start.clone()),
            };
            (k, s)
        })
        .collect()
}

/// The bound a model's field p90 is held to on a board: the predicted
/// interval's upper end (else the prediction) times `1 + tolerance`.
pub fn bound(manifest: &Manifest, model: &str, key: &str, tolerance: f64) -> Option<(f64, f64)> {
    let m = manifest.models.iter().find(|m| m.name == model)?;
    let l = m.latency.get(key)?;
    let upper = l.interval_ms.map(|i| i.1).or(l.predicted_ms)?;
    Some((upper, upper * (1.0 + tolerance)))
}

/// The latency key of `key`'s device and backend at `threads`.
fn key_at(key: &str, threads: u32) -> String {
    let mut parts: Vec<&str> = key.split('/').collect();
    let t = format!("t{threads}");
    if parts.len() == 3 {
        parts[2] = &t;
    }
    parts.join("/")
}

/// One canary board's evidence for a version.
#[derive(Debug, Clone, Serialize)]
pub struct BoardEvidence {
    pub device_id: String,
    pub device_key: Option<String>,
    pub serving_since: Option<String>,
    pub served_s: f64,
    pub requests: u64,
    pub failed: Option<String>,
    pub models: Vec<ModelEvidence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelEvidence {
    pub model: String,
    pub threads: u32,
    pub requests: u64,
    pub windows: u64,
    pub field_p90_ms: Option<f64>,
    pub predicted_upper_ms: Option<f64>,
    pub bound_ms: Option<f64>,
    pub load_mean: Option<f64>,
    /// Over the bound with enough requests.
    pub over: bool,
}

/// What the evaluator concluded about a canary version.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Promote,
    RollBack(String),
    Wait(String),
}

/// Judge a canary version from its boards' reports and field rows.
pub async fn judge(
    store: &Store,
    v: &VersionRecord,
    now: i64,
) -> Result<(Verdict, serde_json::Value), StoreError> {
    let policy: RolloutPolicy = serde_json::from_str(&v.policy_json).unwrap_or_default();
    let manifest = match Manifest::parse(&v.manifest_json) {
        Ok(m) => m,
        Err(e) => return Ok((Verdict::RollBack(e), serde_json::json!({}))),
    };
    let boards: BTreeMap<String, BoardRecord> = store
        .frontier_boards(&v.name)
        .await?
        .into_iter()
        .map(|b| (b.device_id.clone(), b))
        .collect();
    let mut evidence = Vec::new();
    let mut over = Vec::new();
    let mut waiting = Vec::new();
    for d in &v.canary {
        let b = boards.get(d);
        let mut e = BoardEvidence {
            device_id: d.clone(),
            device_key: b.and_then(|b| b.device_key.clone()),
            serving_since: None,
            served_s: 0.0,
            requests: 0,
            failed: None,
            models: Vec::new(),
        };
        let Some(b) = b else {
            waiting.push(format!("{d} has not asked for it"));
            evidence.push(e);
            continue;
        };
        if b.failed_version == Some(v.version) {
            let why = b.failed_error.clone().unwrap_or_default();
            e.failed = Some(why.clone());
            over.push(format!("{d} could not serve it: {why}"));
            evidence.push(e);
            continue;
        }
        if b.serving != Some(v.version) {
            waiting.push(format!("{d} does not serve it yet"));
            evidence.push(e);
            continue;
        }
        let since = b.serving_since_us.unwrap_or(now);
        e.serving_since = Some(crate::api::rfc3339_us(since));
        e.served_s = (now - since).max(0) as f64 / 1e6;
        let rows: Vec<FieldRow> = store
            .field_rows(&v.name, Some(v.version), Some(d))
            .await?
            .iter()
            .filter_map(|j| serde_json::from_str(j).ok())
            .collect();
        let key = b.device_key.clone().unwrap_or_default();
        for ((model, threads), s) in summarize(&rows) {
            let b = bound(&manifest, &model, &key_at(&key, threads), policy.tolerance);
            let is_over = s.requests >= policy.min_requests
                && matches!((s.p90_ms, b), (Some(p), Some((_, lim))) if p > lim);
            if is_over {
                over.push(format!(
                    "{model} (threads {threads}) on {d}: field p90 {:.2} ms over {:.2} ms (the predicted interval's upper end {:.2} ms + {:.0}%) in {} requests",
                    s.p90_ms.unwrap_or(0.0),
                    b.map(|x| x.1).unwrap_or(0.0),
                    b.map(|x| x.0).unwrap_or(0.0),
                    policy.tolerance * 100.0,
                    s.requests
                ));
            }
            e.requests += s.requests;
            e.models.push(ModelEvidence {
                model,
                threads,
                requests: s.requests,
                windows: s.windows,
                field_p90_ms: s.p90_ms,
                predicted_upper_ms: b.map(|x| x.0),
                bound_ms: b.map(|x| x.1),
                load_mean: s.load_mean,
                over: is_over,
            });
        }
        if e.served_s < policy.hold_s {
            waiting.push(format!(
                "{d} has served it {:.0} s of {:.0} s",
                e.served_s, policy.hold_s
            ));
        } else if e.requests < policy.min_requests {
            waiting.push(format!(
                "{d} has served {} requests of {}",
                e.requests, policy.min_requests
            ));
        }
        evidence.push(e);
    }
    let body = serde_json::json!({
        "policy": policy,
        "boards": evidence,
    });
    let verdict = if !over.is_empty() {
        Verdict::RollBack(over.join("; "))
    } else if v.canary.is_empty() {
        Verdict::Wait("no canary boards".into())
    } else if waiting.is_empty() {
        Verdict::Promote
    } else {
        Verdict::Wait(waiting.join("; "))
    };
    Ok((verdict, body))
}

/// Why a promotion or rollback by hand was refused.
#[derive(Debug, thiserror::Error)]
pub enum HandError {
    #[error("no frontier named {0}; fix: GET /v1/frontiers lists them")]
    Unknown(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Promote (a canary, rolled-back or superseded version; default: the
/// newest canary) or roll back (a canary or promoted version; default:
/// the newest canary, else the current) by an operator's hand.
pub async fn by_hand(
    store: &Store,
    name: &str,
    version: Option<u32>,
    promote: bool,
    by: &str,
    reason: Option<String>,
) -> Result<Decision, HandError> {
    let versions = store.versions(name).await?;
    if versions.is_empty() {
        return Err(HandError::Unknown(name.to_string()));
    }
    let newest_canary = versions.iter().rev().find(|x| x.state == "canary");
    let target = match version {
        Some(v) => versions.iter().find(|x| x.version == v),
        None if promote => newest_canary,
        None => newest_canary.or_else(|| current(&versions)),
    };
    let Some(target) = target else {
        return Err(HandError::Refused(match version {
            Some(v) => format!("{name} has no version {v}"),
            None if promote => format!(
                "{name}: no version is in its canary stage; fix: name the version to promote"
            ),
            None => format!("{name}: no version to roll back"),
        }));
    };
    let (from, to, action): (&[&str], &str, &str) = if promote {
        (
            &["canary", "rolled_back", "superseded"],
            "promoted",
            "promoted",
        )
    } else {
        (&["canary", "promoted"], "rolled_back", "rolled_back")
    };
    let d = Decision {
        name: name.to_string(),
        version: target.version,
        at_us: now_us(),
        action: action.into(),
        decided_by: by.to_string(),
        evidence_json: serde_json::json!({
            "reason": reason.unwrap_or_else(|| "by hand".into()),
            "state_before": target.state,
        })
        .to_string(),
    };
    if !store.decide(from, to, &d).await? {
        return Err(HandError::Refused(format!(
            "{name} version {} is {}; it cannot be {action}",
            target.version, target.state
        )));
    }
    Ok(d)
}

/// Judge every canary version once; returns the decisions recorded.
pub async fn step(store: &Store) -> Result<Vec<Decision>, StoreError> {
    let mut out = Vec::new();
    for v in store.canary_versions().await? {
        let now = now_us();
        let (verdict, evidence) = judge(store, &v, now).await?;
        let (to, action, reason) = match verdict {
            Verdict::Promote => (
                "promoted",
                "promoted",
                "every canary board served it inside the bound for the hold time".to_string(),
            ),
            Verdict::RollBack(why) => ("rolled_back", "rolled_back", why),
            Verdict::Wait(_) => continue,
        };
        let mut evidence = evidence;
        evidence["reason"] = serde_json::Value::String(reason);
        let d = Decision {
            name: v.name.clone(),
            version: v.version,
            at_us: now,
            action: action.into(),
            decided_by: "collector".into(),
            evidence_json: evidence.to_string(),
        };
        if store.decide(&["canary"], to, &d).await? {
            out.push(d);
        }
    }
    Ok(out)
}

/// The evaluator: [`step`] every `check_every` until `stop`.
pub async fn run(
    state: Arc<AppState>,
    cfg: RolloutConfig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        match step(&state.store).await {
            Ok(ds) => {
                for d in &ds {
                    eprintln!(
                        "frontier-collector: rollout: {} version {}: {} ({})",
                        d.name, d.version, d.action, d.evidence_json
                    );
                }
                if !ds.is_empty() {
                    state.frontiers_changed.notify_waiters();
                }
            }
            Err(e) => {
                crate::metrics::Metrics::add(&state.metrics.db_errors, 1);
                eprintln!("frontier-collector: rollout: {e}; trying again");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.check_every) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(id: &str, seen: i64) -> BoardRecord {
        BoardRecord {
            name: "n".into(),
            device_id: id.into(),
            device_key: None,
            assigned: None,
            serving: Some(1),
            serving_since_us: None,
            downloading: None,
            failed_version: None,
            failed_error: None,
            seen_at_us: seen,
        }
    }

    #[test]
    fn staging_rules() {
        let p = RolloutPolicy::default();
        let names = BTreeMap::new();
        let five: Vec<BoardRecord> = (0..5).map(|i| board(&format!("b{i}"), 100)).collect();
        // First version: promoted at once.
        assert_eq!(stage(&p, &five, &names, false, 0, "s").state, "promoted");
        // 20% of five serving boards: one canary.
        let s = stage(&p, &five, &names, true, 0, "s");
        assert_eq!((s.state.as_str(), s.canary.len()), ("canary", 1));
        // Boards not seen lately do not count; none left: promoted.
        assert_eq!(stage(&p, &five, &names, true, 200, "s").state, "promoted");
        // Named boards, by id or name.
        let names: BTreeMap<String, String> = [("b3".to_string(), "kitchen".to_string())].into();
        let p = RolloutPolicy {
            canary_boards: vec!["kitchen".into(), "b1".into()],
            ..Default::default()
        };
        let mut c = stage(&p, &five, &names, true, 0, "s").canary;
        c.sort();
        assert_eq!(c, vec!["b1", "b3"]);
    }

    #[test]
    fn weighted_medians() {
        assert_eq!(weighted_median(vec![]), None);
        assert_eq!(
            weighted_median(vec![(1.0, 1), (5.0, 10), (9.0, 1)]),
            Some(5.0)
        );
        assert_eq!(weighted_median(vec![(1.0, 10), (5.0, 1)]), Some(1.0));
        assert_eq!(key_at("d/tract/t1", 2), "d/tract/t2");
    }
}
