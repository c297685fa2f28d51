//! The web view's pages: the fleet, a board, the frontiers, the jobs, and
//! the operator's actions (queue a job, promote, roll back). Each handler
//! checks the session first, reads what its page shows with a few
//! queries, and renders a template.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use frontier_predictor::plot::{chart_svg, learning_curve_svg, Chart, ChartSeries, Mark};
use frontier_table::frontier::Manifest;
use frontier_table::rollout::FieldRow;
use frontier_table::LatencyRow;
use serde::Deserialize;

use super::session::{require, Session};
use super::{render, unavailable, Page, SessionView};
use crate::api::{rfc3339_us, AppState};
use crate::store::{now_us, BoardRowFilter, PredictorFilter};

macro_rules! session_or_page {
    ($state:expr, $headers:expr) => {
        match require(&$state, &$headers).await {
            Ok(s) => s,
            Err(p) => return p,
        }
    };
}

macro_rules! db {
    ($state:expr, $e:expr) => {
        match $e.await {
            Ok(v) => v,
            Err(e) => return unavailable(&$state, e),
        }
    };
}

/// What people call each board: its enrolled name, else its hostname,
/// else its id.
fn names_of(devices: &[crate::store::Device]) -> BTreeMap<String, String> {
    devices
        .iter()
        .map(|d| (d.device_id.clone(), board_name(d)))
        .collect()
}

fn board_name(d: &crate::store::Device) -> String {
    d.name
        .clone()
        .or(d.fingerprint.hostname.clone())
        .unwrap_or_else(|| d.device_id.clone())
}

/// "3 min ago".
fn ago(us: i64, now: i64) -> String {
    let s = ((now - us).max(0) / 1_000_000) as u64;
    match s {
        0..=59 => format!("{s} s ago"),
        60..=3599 => format!("{} min ago", s / 60),
        3600..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn num(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

#[derive(Debug, Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// Known notices only: a query string never puts text on a page.
fn notice(q: &NoticeQuery) -> Option<String> {
    match q.notice.as_deref()? {
        "job" => Some("The job was queued.".into()),
        "promoted" => Some("The version was promoted.".into()),
        "rolled_back" => Some("The version was rolled back.".into()),
        _ => None,
    }
}

pub struct Summary {
    pub boards: usize,
    pub online: usize,
    pub busy: usize,
    pub fresh: usize,
    pub stale: usize,
    pub rows: u64,
    pub jobs_queued: i64,
    pub jobs_leased: i64,
    pub frontiers: usize,
}

pub struct CohortCell {
    pub text: String,
    pub class: &'static str,
}

pub struct BoardRow {
    pub id: String,
    pub name: String,
    pub class: String,
    pub cpu: String,
    pub runtimes: String,
    pub last_seen: String,
    pub state: String,
    pub state_class: &'static str,
    pub spool: String,
    pub cohorts: Vec<CohortCell>,
    pub frontiers: Vec<String>,
}

#[derive(Template)]
#[template(path = "fleet.html")]
struct FleetPage<'a> {
    session: Option<SessionView>,
    nav: &'a str,
    notice: Option<String>,
    summary: Summary,
    attention: Vec<String>,
    boards: Vec<BoardRow>,
}

/// Below this cross-validated share within ±10% a predictor is shown as
/// weak (the field's usual goal is 95%).
const WEAK_WITHIN_10: f64 = 0.9;

/// A board is online when its last heartbeat (every minute) or upload is
/// this recent.
const ONLINE_US: i64 = 3 * 60 * 1_000_000;

/// `GET /ui`: the fleet.
pub async fn fleet(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Page {
    let s = session_or_page!(state, headers);
    let store = &state.store;
    let now = now_us();
    let devices = db!(state, store.devices());
    let predictors = db!(state, store.predictors(&PredictorFilter::default(), 5000));
    let shifts = db!(state, store.shifts(None));
    let cohorts = db!(state, store.cohorts(None));
    let job_counts = db!(state, store.job_counts());
    let names = db!(state, store.frontier_names());
    let mut serving: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut attention = Vec::new();
    let name_of = names_of(&devices);
    for n in &names {
        let boards = db!(state, store.frontier_boards(n));
        let versions = db!(state, store.versions(n));
        for v in versions.iter().filter(|v| v.state == "canary") {
            attention.push(format!(
                "{n} version {} is in its canary stage on {}",
                v.version,
                v.canary
                    .iter()
                    .map(|d| name_of.get(d).cloned().unwrap_or_else(|| d.clone()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for b in boards {
            let mut text = match b.serving {
                Some(v) => format!("{n} v{v}"),
                None => format!("{n}: not serving yet"),
            };
            if let Some(d) = b.downloading {
                text.push_str(&format!(" (downloading v{d})"));
            }
            if let (Some(f), Some(e)) = (b.failed_version, &b.failed_error) {
                if b.serving.is_none_or(|s| s < f) {
                    attention.push(format!(
                        "{} could not serve {n} version {f}: {e}",
                        name_of.get(&b.device_id).unwrap_or(&b.device_id)
                    ));
                }
            }
            serving.entry(b.device_id).or_default().push(text);
        }
    }
    // The newest predictor of each cohort.
    let mut newest: BTreeMap<String, &crate::store::PredictorRecord> = BTreeMap::new();
    for p in &predictors {
        newest.entry(p.cohort.id.clone()).or_insert(p);
    }
    let (mut fresh, mut stale) = (0, 0);
    let mut cells: BTreeMap<String, Vec<CohortCell>> = BTreeMap::new();
    for p in newest.values() {
        let reason = crate::trainer::stale_reason(p, &shifts, &cohorts);
        let m: serde_json::Value = serde_json::from_str(&p.metrics_json).unwrap_or_default();
        let m = &m["metrics"];
        let k = &p.cohort.key;
        let text = format!(
            "{} {} t{}: {} ±10%, τ {}{}",
            k.space,
            k.backend,
            k.threads,
            pct(m["within_10pct"].as_f64()),
            num(m["kendall_tau"].as_f64(), 2),
            if reason.is_some() { " (stale)" } else { "" }
        );
        let w10 = m["within_10pct"].as_f64();
        let weak = w10.is_some_and(|w| w < WEAK_WITHIN_10);
        if weak && reason.is_none() {
            attention.push(format!(
                "predictor of {} ({} {} t{}) is {} within ±10% (cross-validated, {} rows): profile more",
                name_of.get(&k.device_id).unwrap_or(&k.device_id),
                k.space,
                k.backend,
                k.threads,
                pct(w10),
                p.rows_used
            ));
        }
        if let Some(r) = &reason {
            stale += 1;
            attention.push(format!(
                "predictor of {} ({} {}) is stale: {r}",
                name_of.get(&k.device_id).unwrap_or(&k.device_id),
                k.space,
                k.backend
            ));
        } else {
            fresh += 1;
        }
        cells
            .entry(k.device_id.clone())
            .or_default()
            .push(CohortCell {
                text,
                class: if reason.is_some() { "warn" } else { "ok" },
            });
    }
    let mut boards = Vec::new();
    let (mut online, mut busy, mut rows) = (0, 0, 0u64);
    for d in &devices {
        rows += d.rows.iter().map(|r| r.1).sum::<u64>();
        let hb: serde_json::Value = d
            .heartbeat_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let agent: serde_json::Value = d
            .agent_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        let seen = d.heartbeat_us.unwrap_or(0).max(d.last_seen_us);
        let is_online = now - seen <= ONLINE_US;
        let (state_text, class) = if !is_online {
            ("offline".to_string(), "bad")
        } else if hb["job_id"].is_string() {
            (
                format!("running job {}", hb["job_id"].as_str().unwrap_or("")),
                "warn",
            )
        } else if hb["idle"] == false {
            (
                format!(
                    "busy: {}",
                    hb["busy_reason"].as_str().unwrap_or("other processes")
                ),
                "warn",
            )
        } else if hb["idle"] == true {
            ("idle".to_string(), "ok")
        } else {
            ("no agent heartbeat yet".to_string(), "muted")
        };
        if is_online {
            online += 1;
            if class == "warn" {
                busy += 1;
            }
        } else if d.heartbeat_us.is_some() {
            attention.push(format!(
                "{} is offline (last heard {})",
                name_of.get(&d.device_id).unwrap_or(&d.device_id),
                ago(seen, now)
            ));
        }
        let runtimes = agent["runtimes"]
            .as_object()
            .or(hb["runtimes"].as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let fp = &d.fingerprint;
        boards.push(BoardRow {
            id: d.device_id.clone(),
            name: name_of.get(&d.device_id).cloned().unwrap_or_default(),
            class: fp.device_class_id.clone().unwrap_or_else(|| "-".into()),
            cpu: format!(
                "{} {} {}",
                fp.cpu_model.clone().unwrap_or_default(),
                fp.cpu_arch.clone().unwrap_or_default(),
                fp.logical_cores
                    .map(|c| format!("×{c}"))
                    .unwrap_or_default()
            ),
            runtimes,
            last_seen: ago(seen, now),
            state: state_text,
            state_class: class,
            spool: hb["spool_pending"]
                .as_u64()
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            cohorts: cells.remove(&d.device_id).unwrap_or_default(),
            frontiers: serving.remove(&d.device_id).unwrap_or_default(),
        });
    }
    let count = |st: &str| {
        job_counts
            .iter()
            .find(|(s, _)| s == st)
            .map(|c| c.1)
            .unwrap_or(0)
    };
    let page = FleetPage {
        session: s.view(),
        nav: "fleet",
        notice: notice(&q),
        summary: Summary {
            boards: devices.len(),
            online,
            busy,
            fresh,
            stale,
            rows,
            jobs_queued: count("queued"),
            jobs_leased: count("leased"),
            frontiers: names.len(),
        },
        attention,
        boards,
    };
    render(&page)
}

/// The board page's filters as given (echoed into the form) and parsed.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct RowQuery {
    #[serde(default)]
    space: String,
    #[serde(default)]
    backend: String,
    #[serde(default)]
    threads: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    before: Option<String>,
}

fn parse_day(field: &str, v: &str) -> Result<Option<i64>, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let text = if v.len() == 10 {
        format!("{v}T00:00:00Z")
    } else {
        v.to_string()
    };
    frontier_table::parse_rfc3339(&text)
        .map(|d| Some(d.as_micros() as i64))
        .ok_or_else(|| format!("{field}={v:?}: not a date; fix: YYYY-MM-DD"))
}

impl RowQuery {
    fn filter(&self) -> Result<(BoardRowFilter, Option<i64>), String> {
        let opt = |s: &str| {
            let s = s.trim();
            (!s.is_empty()).then(|| s.to_string())
        };
        if let Some(sp) = opt(&self.space) {
            if frontier_spaces::Space::parse(&sp).is_none() {
                return Err(format!(
                    "space={sp:?}: not a search space; fix: ofa-mbv3 or gpt2"
                ));
            }
        }
        let threads = match opt(&self.threads) {
            None => None,
            Some(t) => Some(
                t.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=1024).contains(n))
                    .ok_or_else(|| {
                        format!("threads={t:?}: not a thread count; fix: a whole number from 1")
                    })?,
            ),
        };
        let since_us = parse_day("from", &self.since)?;
        let until_us = parse_day("to", &self.until)?;
        if let (Some(a), Some(b)) = (since_us, until_us) {
            if a >= b {
                return Err("from is not before to; fix: swap them".into());
            }
        }
        let before = match self
            .before
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        {
            None => None,
            Some(b) => Some(b.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("before={b:?}: not a page cursor; fix: follow the page's own link")
            })?),
        };
        Ok((
            BoardRowFilter {
                space: opt(&self.space),
                backend: opt(&self.backend),
                threads,
                since_us,
                until_us,
            },
            before,
        ))
    }

    fn query_string(&self) -> String {
        let enc = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        format!(
            "space={}&backend={}&threads={}&since={}&until={}",
            enc(self.space.trim()),
            enc(self.backend.trim()),
            enc(self.threads.trim()),
            enc(self.since.trim()),
            enc(self.until.trim())
        )
    }
}

pub struct RowView {
    measured: String,
    space: String,
    backend: String,
    threads: u32,
    model: String,
    median: String,
    ci: String,
    p90: String,
    unstable: &'static str,
}

pub struct PredictorView {
    created: String,
    cohort: String,
    rows: i64,
    kind: String,
    w10: String,
    w5: String,
    tau: String,
    coverage: String,
    state: String,
    class: &'static str,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage<'a> {
    session: Option<SessionView>,
    nav: &'a str,
    notice: Option<String>,
    id: String,
    name: String,
    facts: Vec<(String, String)>,
    predictors: Vec<PredictorView>,
    learning_curve: String,
    scatter: String,
    canary_plots: Vec<String>,
    field_plot: String,
    switches: Vec<(String, String, String, u64, u64, String)>,
    filter: RowQuery,
    filter_query: String,
    rows: Vec<RowView>,
    next: Option<i64>,
}

/// Rows per page of the board page.
const PAGE_ROWS: i64 = 50;

/// `GET /ui/boards/{id}`.
pub async fn board(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<RowQuery>,
) -> Page {
    let s = session_or_page!(state, headers);
    let store = &state.store;
    let devices = db!(state, store.devices());
    let Some(d) = devices.iter().find(|d| d.device_id == id) else {
        return Page::Error(
            StatusCode::NOT_FOUND,
            format!("no board {id:?}; fix: pick one on the fleet page"),
            s.view(),
        );
    };
    let (filter, before) = match q.filter() {
        Ok(f) => f,
        Err(e) => return Page::Error(StatusCode::BAD_REQUEST, e, s.view()),
    };
    let name = board_name(d);
    let page_rows = db!(state, store.board_rows(&id, &filter, before, PAGE_ROWS + 1));
    let next = (page_rows.len() as i64 > PAGE_ROWS).then(|| page_rows[PAGE_ROWS as usize - 1].0);
    let parsed: Vec<LatencyRow> = page_rows
        .iter()
        .take(PAGE_ROWS as usize)
        .filter_map(|(_, j)| serde_json::from_str(j).ok())
        .collect();
    // Fingerprint and the newest row's run context.
    let fp = serde_json::to_value(&d.fingerprint).unwrap_or_default();
    let mut facts: Vec<(String, String)> = fp
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(r) = parsed.first() {
        let ctx = serde_json::to_value(r).unwrap_or_default();
        for k in [
            "measured_at",
            "governor",
            "temperature_start_c",
            "temperature_c",
            "power_online",
            "cpu_util_pct",
            "other_util_pct",
            "steal_pct",
            "cpu_pressure_avg10",
            "backend_version",
            "frontier_version",
        ] {
            if !ctx[k].is_null() {
                facts.push((
                    format!("newest row: {k}"),
                    ctx[k].to_string().trim_matches('"').to_string(),
                ));
            }
        }
    }
    facts.insert(0, ("first seen".into(), rfc3339_us(d.first_seen_us)));
    facts.insert(
        1,
        (
            "rows".into(),
            d.rows
                .iter()
                .map(|(b, n)| format!("{b}: {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    );
    // Predictors: every version, and the newest one's curve and scatter.
    let preds = db!(
        state,
        store.predictors(
            &PredictorFilter {
                device_id: Some(id.clone()),
                ..Default::default()
            },
            100
        )
    );
    let shifts = db!(state, store.shifts(Some(&id)));
    let cohorts = db!(state, store.cohorts(Some(&id)));
    let predictors: Vec<PredictorView> = preds
        .iter()
        .map(|p| {
            let m: serde_json::Value = serde_json::from_str(&p.metrics_json).unwrap_or_default();
            let mm = &m["metrics"];
            let reason = crate::trainer::stale_reason(p, &shifts, &cohorts);
            let k = &p.cohort.key;
            PredictorView {
                created: rfc3339_us(p.created_at_us),
                cohort: format!(
                    "{} {} {} t{} (agent {})",
                    k.space, k.backend, k.backend_version, k.threads, k.agent_version
                ),
                rows: p.rows_used,
                kind: p.kind.clone(),
                w10: pct(mm["within_10pct"].as_f64()),
                w5: pct(mm["within_5pct"].as_f64()),
                tau: num(mm["kendall_tau"].as_f64(), 3),
                coverage: pct(mm["interval_coverage"].as_f64()),
                class: if reason.is_some() { "warn" } else { "ok" },
                state: reason
                    .map(|r| format!("stale: {r}"))
                    .unwrap_or_else(|| "fresh".into()),
            }
        })
        .collect();
    let (mut learning_curve, mut scatter) = (String::new(), String::new());
    if let Some(p) = preds.first() {
        let m: serde_json::Value = serde_json::from_str(&p.metrics_json).unwrap_or_default();
        if let Ok(curve) = serde_json::from_value::<Vec<frontier_predictor::CurvePoint>>(
            m["learning_curve"].clone(),
        ) {
            if !curve.is_empty() {
                learning_curve = learning_curve_svg(
                    &curve,
                    &format!("learning curve: {name}, {}", p.cohort.key.backend),
                );
            }
        }
        scatter = predicted_vs_measured(&state, p, &name).await;
    }
    // Canary history per cohort with shifts as markers.
    let mut canary_plots = Vec::new();
    let archs: Vec<String> = frontier_spaces::canary_archs(frontier_spaces::Space::OfaMbv3)
        .iter()
        .map(|a| a.row_json())
        .collect();
    let mut seen = BTreeSet::new();
    for c in &cohorts {
        let k = &c.key;
        let key = (
            k.device_id.clone(),
            k.space.clone(),
            k.backend.clone(),
            k.threads,
        );
        if !seen.insert(key.clone()) {
            continue;
        }
        let runs = db!(state, store.canary_rows(&key, &archs));
        if runs.is_empty() {
            continue;
        }
        let t0 = runs.iter().map(|r| r.measured_at_us).min().unwrap_or(0);
        let hours = |us: i64| (us - t0) as f64 / 3.6e9;
        let mut by_arch: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
        for r in &runs {
            let i = archs.iter().position(|a| *a == r.arch).unwrap_or(0);
            let v: serde_json::Value = serde_json::from_str(&r.row_json).unwrap_or_default();
            if let Some(ms) = v["median_ms_corrected"].as_f64() {
                by_arch
                    .entry(i)
                    .or_default()
                    .push((hours(r.measured_at_us), ms));
            }
        }
        let markers = shifts
            .iter()
            .filter(|sh| sh.space == k.space && sh.backend == k.backend && sh.threads == k.threads)
            .map(|sh| (hours(sh.at_us), format!("shift ×{:.2}", sh.ratio)))
            .collect();
        canary_plots.push(chart_svg(&Chart {
            title: format!("canaries: {name}, {} {} t{}", k.space, k.backend, k.threads),
            x_label: format!("hours since {}", rfc3339_us(t0)),
            y_label: "median (corrected) ms".into(),
            series: by_arch
                .into_iter()
                .map(|(i, points)| ChartSeries {
                    label: format!("canary {i}"),
                    mark: Mark::Line,
                    points,
                    color: None,
                })
                .collect(),
            markers,
            ..Default::default()
        }));
    }
    // Field latency: inference p90 per model over time; recent switches.
    let field: Vec<FieldRow> = db!(state, store.device_field_rows(&id, 2000))
        .iter()
        .filter_map(|j| serde_json::from_str(j).ok())
        .collect();
    let field_start = |r: &FieldRow| {
        frontier_table::parse_rfc3339(&r.window_start)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0)
    };
    let t0 = field.iter().map(field_start).min().unwrap_or(0);
    let mut by_model: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &field {
        if let Some(p) = r.inference_p90_ms {
            by_model
                .entry(format!("{} v{} {}", r.frontier, r.version, r.model))
                .or_default()
                .push(((field_start(r) - t0) as f64 / 6e7, p));
        }
    }
    let field_plot = chart_svg(&Chart {
        title: format!("field: inference p90 per window, {name}"),
        x_label: format!(
            "minutes since {}",
            if t0 > 0 { rfc3339_us(t0) } else { "-".into() }
        ),
        y_label: "ms".into(),
        series: by_model
            .into_iter()
            .map(|(label, points)| ChartSeries {
                label,
                mark: Mark::Line,
                points,
                color: None,
            })
            .collect(),
        ..Default::default()
    });
    let switches = field
        .iter()
        .rev()
        .filter(|r| r.switches_in > 0)
        .take(20)
        .map(|r| {
            (
                r.window_start.clone(),
                format!("{} v{}", r.frontier, r.version),
                r.model.clone(),
                r.switches_in,
                r.requests,
                num(r.load_mean, 2),
            )
        })
        .collect();
    let rows = parsed
        .iter()
        .map(|r| RowView {
            measured: r.measured_at.clone(),
            space: r.space.clone().unwrap_or_default(),
            backend: format!("{} {}", r.backend, r.backend_version),
            threads: r.threads,
            model: r.model_name.clone().unwrap_or_else(|| r.model_path.clone()),
            median: format!("{:.3}", r.median_ms_corrected),
            ci: r
                .median_ci95_rel
                .map(|c| format!("±{:.1}%", c * 100.0))
                .unwrap_or_else(|| "-".into()),
            p90: format!("{:.3}", r.p90_ms),
            unstable: if r.unstable { "unstable" } else { "" },
        })
        .collect();
    render(&BoardPage {
        session: s.view(),
        nav: "fleet",
        notice: None,
        filter_query: q.query_string(),
        filter: q,
        id,
        name,
        facts,
        predictors,
        learning_curve,
        scatter,
        canary_plots,
        field_plot,
        switches,
        rows,
        next,
    })
}

/// The newest predictor against its cohort's rows: rows it was trained on
/// (dots) and rows measured after it (rings: what a user gets next).
async fn predicted_vs_measured(
    state: &AppState,
    p: &crate::store::PredictorRecord,
    name: &str,
) -> String {
    use frontier_predictor::Predictor;
    let Ok(Some((_, file_json))) = state.store.predictor(&p.id).await else {
        return String::new();
    };
    let Ok(file) = serde_json::from_str::<frontier_predictor::PredictorFile>(&file_json) else {
        return String::new();
    };
    let Ok(rows) = state
        .store
        .cohort_rows(&p.cohort.key, "", p.rows_from_us)
        .await
    else {
        return String::new();
    };
    let (mut trained, mut later) = (Vec::new(), Vec::new());
    for j in rows.iter().rev().take(2000) {
        let Ok(r) = serde_json::from_str::<LatencyRow>(j) else {
            continue;
        };
        let Some(arch) = &r.arch else { continue };
        let Ok(pred) = file.predict(arch) else {
            continue;
        };
        let measured_us = frontier_table::parse_rfc3339(&r.measured_at)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let point = (r.median_ms_corrected, pred.ms);
        if p.newest_row_us.is_some_and(|n| measured_us > n) {
            later.push(point);
        } else {
            trained.push(point);
        }
    }
    chart_svg(&Chart {
        title: format!("predicted vs measured: {name}, {}", p.cohort.key.backend),
        x_label: "measured ms (corrected median)".into(),
        y_label: "predicted ms".into(),
        series: vec![
            ChartSeries {
                label: format!("trained on ({})", trained.len()),
                mark: Mark::Dots,
                points: trained,
                color: None,
            },
            ChartSeries {
                label: format!("measured after ({})", later.len()),
                mark: Mark::Rings,
                points: later,
                color: None,
            },
        ],
        diagonal: true,
        ..Default::default()
    })
}

/// The filtered rows of a board, every page, as one download.
async fn download(state: &AppState, id: &str, q: &RowQuery) -> Result<Vec<LatencyRow>, Page> {
    let (filter, _) = q
        .filter()
        .map_err(|e| Page::Error(StatusCode::BAD_REQUEST, e, None))?;
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = state
            .store
            .board_rows(id, &filter, before, 1000)
            .await
            .map_err(|e| unavailable(state, e))?;
        let n = page.len();
        before = page.last().map(|r| r.0);
        out.extend(
            page.iter()
                .filter_map(|(_, j)| serde_json::from_str::<LatencyRow>(j).ok()),
        );
        if n < 1000 || out.len() >= 1_000_000 {
            break;
        }
    }
    out.reverse();
    Ok(out)
}

fn attachment(name: &str, ctype: &'static str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        body,
    )
        .into_response()
}

fn file_stem(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect()
}

/// `GET /ui/boards/{id}/rows.csv`.
pub async fn rows_csv(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<RowQuery>,
) -> Response {
    if let Err(p) = require(&state, &headers).await {
        return p.into_response();
    }
    match download(&state, &id, &q).await {
        Ok(rows) => attachment(
            &format!("{}.csv", file_stem(&id)),
            "text/csv",
            frontier_table::to_csv(&rows, true),
        ),
        Err(p) => p.into_response(),
    }
}

/// `GET /ui/boards/{id}/rows.jsonl`.
pub async fn rows_jsonl(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<RowQuery>,
) -> Response {
    if let Err(p) = require(&state, &headers).await {
        return p.into_response();
    }
    match download(&state, &id, &q).await {
        Ok(rows) => attachment(
            &format!("{}.jsonl", file_stem(&id)),
            "application/x-ndjson",
            frontier_table::to_jsonl(&rows),
        ),
        Err(p) => p.into_response(),
    }
}

pub struct VersionRow {
    version: u32,
    state: String,
    class: &'static str,
    canary: String,
    models: usize,
    published: String,
    decided: String,
    can_promote: bool,
    can_roll_back: bool,
}

pub struct FrontierView {
    name: String,
    current: String,
    versions: Vec<VersionRow>,
    boards: Vec<(String, String, String, String, String, String, String)>,
    plots: Vec<String>,
    decisions: Vec<(String, u32, String, String, String)>,
}

#[derive(Template)]
#[template(path = "frontiers.html")]
struct FrontiersPage<'a> {
    session: Option<SessionView>,
    nav: &'a str,
    notice: Option<String>,
    operator: bool,
    csrf: String,
    frontiers: Vec<FrontierView>,
}

/// `GET /ui/frontiers`.
pub async fn frontiers(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Page {
    let s = session_or_page!(state, headers);
    let store = &state.store;
    let now = now_us();
    let devices = db!(state, store.devices());
    let name_of = names_of(&devices);
    let label = |d: &str| name_of.get(d).cloned().unwrap_or_else(|| d.to_string());
    let mut out = Vec::new();
    for name in db!(state, store.frontier_names()) {
        let versions = db!(state, store.versions(&name));
        let boards = db!(state, store.frontier_boards(&name));
        let decisions = db!(state, store.decisions(&name));
        let current = crate::rollout::current(&versions).map(|v| v.version);
        let mut plots = Vec::new();
        // The current version and any canary: accuracy against latency,
        // predicted per key, lab (verify) and field per board.
        for v in versions
            .iter()
            .rev()
            .filter(|v| Some(v.version) == current || v.state == "canary")
            .take(2)
        {
            let Ok(m) = Manifest::parse(&v.manifest_json) else {
                continue;
            };
            let field: Vec<FieldRow> = db!(state, store.field_rows(&name, Some(v.version), None))
                .iter()
                .filter_map(|j| serde_json::from_str(j).ok())
                .collect();
            plots.push(frontier_plot(&name, v.version, &m, &field, &label));
        }
        out.push(FrontierView {
            current: current
                .map(|c| format!("version {c}"))
                .unwrap_or_else(|| "none".into()),
            versions: versions
                .iter()
                .rev()
                .map(|v| VersionRow {
                    version: v.version,
                    class: match v.state.as_str() {
                        "promoted" if Some(v.version) == current => "ok",
                        "canary" => "warn",
                        "rolled_back" => "bad",
                        _ => "muted",
                    },
                    state: if Some(v.version) == current {
                        "promoted (current)".into()
                    } else {
                        v.state.replace('_', " ")
                    },
                    canary: v
                        .canary
                        .iter()
                        .map(|d| label(d))
                        .collect::<Vec<_>>()
                        .join(", "),
                    models: Manifest::parse(&v.manifest_json)
                        .map(|m| m.models.len())
                        .unwrap_or(0),
                    published: format!("{} by {}", rfc3339_us(v.published_at_us), v.published_by),
                    decided: v.decided_at_us.map(rfc3339_us).unwrap_or_default(),
                    can_promote: matches!(
                        v.state.as_str(),
                        "canary" | "rolled_back" | "superseded"
                    ),
                    can_roll_back: matches!(v.state.as_str(), "canary" | "promoted"),
                })
                .collect(),
            boards: boards
                .iter()
                .map(|b| {
                    (
                        label(&b.device_id),
                        b.device_key.clone().unwrap_or_default(),
                        b.serving
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        b.serving_since_us.map(rfc3339_us).unwrap_or_default(),
                        b.downloading.map(|v| format!("v{v}")).unwrap_or_default(),
                        match (b.failed_version, &b.failed_error) {
                            (Some(v), Some(e)) => format!("v{v}: {e}"),
                            _ => String::new(),
                        },
                        ago(b.seen_at_us, now),
                    )
                })
                .collect(),
            plots,
            decisions: decisions
                .iter()
                .rev()
                .take(30)
                .map(|d| {
                    let e: serde_json::Value =
                        serde_json::from_str(&d.evidence_json).unwrap_or_default();
                    let why = e["reason"].as_str().map(String::from).unwrap_or_else(|| {
                        if d.action == "published" {
                            format!("state {}", e["state"].as_str().unwrap_or(""))
                        } else {
                            String::new()
                        }
                    });
                    (
                        rfc3339_us(d.at_us),
                        d.version,
                        d.action.replace('_', " "),
                        d.decided_by.clone(),
                        why,
                    )
                })
                .collect(),
            name,
        });
    }
    render(&FrontiersPage {
        session: s.view(),
        nav: "frontiers",
        notice: notice(&q),
        operator: s.is_operator(),
        csrf: s.csrf.clone(),
        frontiers: out,
    })
}

/// Accuracy against latency: the manifest's predictions per key (lines),
/// its `--verify` measurements (crosses), and each board's field p50 of
/// each model (rings).
fn frontier_plot(
    name: &str,
    version: u32,
    m: &Manifest,
    field: &[FieldRow],
    label: &dyn Fn(&str) -> String,
) -> String {
    let mut series = Vec::new();
    for key in &m.devices {
        let mut pts: Vec<(f64, f64)> = m
            .models
            .iter()
            .filter_map(|x| Some((x.latency.get(key)?.predicted_ms?, x.accuracy)))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let short: String = key.chars().take(10).collect();
        series.push(ChartSeries {
            label: format!("predicted {short}…"),
            mark: Mark::Line,
            points: pts,
            color: None,
        });
        let lab: Vec<(f64, f64)> = m
            .models
            .iter()
            .filter_map(|x| Some((x.latency.get(key)?.measured_ms?, x.accuracy)))
            .collect();
        if !lab.is_empty() {
            series.push(ChartSeries {
                label: format!("lab {short}…"),
                mark: Mark::Crosses,
                points: lab,
                color: None,
            });
        }
    }
    let mut per_board: BTreeMap<String, Vec<FieldRow>> = BTreeMap::new();
    for r in field {
        per_board
            .entry(r.device_id.clone())
            .or_default()
            .push(r.clone());
    }
    for (board, rows) in per_board.iter().take(6) {
        let pts: Vec<(f64, f64)> = crate::rollout::summarize(rows)
            .into_iter()
            .filter_map(|((model, _), s)| {
                let acc = m.models.iter().find(|x| x.name == model)?.accuracy;
                Some((s.p50_ms?, acc))
            })
            .collect();
        series.push(ChartSeries {
            label: format!("field {}", label(board)),
            mark: Mark::Rings,
            points: pts,
            color: None,
        });
    }
    chart_svg(&Chart {
        title: format!("{name} version {version}: accuracy against latency"),
        x_label: "latency ms (predicted; lab; field p50)".into(),
        y_label: m.accuracy.source.clone(),
        series,
        width: 720.0,
        ..Default::default()
    })
}

#[derive(Deserialize)]
pub struct DecideForm {
    csrf: Option<String>,
    version: Option<u32>,
}

async fn decide(
    state: Arc<AppState>,
    name: String,
    headers: HeaderMap,
    form: DecideForm,
    promote: bool,
) -> Page {
    let s: Session = session_or_page!(state, headers);
    if let Err(p) = s.check_action(&headers, form.csrf.as_deref()) {
        return p;
    }
    let by = format!("operator:{} (web)", s.token_id);
    match crate::rollout::by_hand(
        &state.store,
        &name,
        form.version,
        promote,
        &by,
        Some("from the web view".into()),
    )
    .await
    {
        Ok(d) => {
            state.frontiers_changed.notify_waiters();
            Page::Redirect(format!("/ui/frontiers?notice={}", d.action))
        }
        Err(crate::rollout::HandError::Store(e)) => unavailable(&state, e),
        Err(e) => Page::Error(StatusCode::CONFLICT, e.to_string(), s.view()),
    }
}

/// `POST /ui/frontiers/{name}/promote`.
pub async fn promote(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<DecideForm>,
) -> Page {
    decide(state, name, headers, form, true).await
}

/// `POST /ui/frontiers/{name}/rollback`.
pub async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(form): Form<DecideForm>,
) -> Page {
    decide(state, name, headers, form, false).await
}

pub struct JobRow {
    id: String,
    board: String,
    kind: String,
    state: String,
    class: &'static str,
    created: String,
    attempts: u32,
    lease: String,
    outcome: String,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage<'a> {
    session: Option<SessionView>,
    nav: &'a str,
    notice: Option<String>,
    operator: bool,
    csrf: String,
    devices: Vec<(String, String)>,
    counts: Vec<(String, i64)>,
    jobs: Vec<JobRow>,
}

/// `GET /ui/jobs`: the newest 200 jobs and the counts by state.
pub async fn jobs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Page {
    let s = session_or_page!(state, headers);
    let store = &state.store;
    let now = now_us();
    let devices = db!(state, store.devices());
    let name_of = names_of(&devices);
    let list = db!(state, store.jobs(None, None, 200));
    let counts = db!(state, store.job_counts());
    use frontier_table::jobs::JobState;
    let jobs = list
        .iter()
        .map(|j| JobRow {
            id: j.id.clone(),
            board: name_of
                .get(&j.device_id)
                .cloned()
                .unwrap_or_else(|| j.device_id.clone()),
            kind: match (&j.spec.samples, &j.spec.active) {
                (Some(n), _) => format!("{:?} {} ×{n}", j.spec.kind, j.spec.space).to_lowercase(),
                (_, Some(_)) => format!("{:?} {} active", j.spec.kind, j.spec.space).to_lowercase(),
                _ => format!("{:?} {}", j.spec.kind, j.spec.space).to_lowercase(),
            },
            class: match j.state {
                JobState::Done => "ok",
                JobState::Failed => "bad",
                JobState::Leased => "warn",
                JobState::Queued => "muted",
            },
            state: format!("{:?}", j.state).to_lowercase(),
            created: ago(j.created_at_us, now),
            attempts: j.attempts,
            lease: match (j.state, &j.leased_to, j.lease_expires_us) {
                (JobState::Leased, Some(to), Some(exp)) => {
                    format!("{to}, expires in {} s", ((exp - now) / 1_000_000).max(0))
                }
                _ => String::new(),
            },
            outcome: j
                .outcome
                .as_ref()
                .map(|o| {
                    format!(
                        "{} rows{}",
                        o.rows,
                        o.message
                            .as_deref()
                            .map(|m| format!(": {m}"))
                            .unwrap_or_default()
                    )
                })
                .unwrap_or_default(),
        })
        .collect();
    render(&JobsPage {
        session: s.view(),
        nav: "jobs",
        notice: notice(&q),
        operator: s.is_operator(),
        csrf: s.csrf.clone(),
        devices: devices
            .iter()
            .map(|d| {
                (
                    d.device_id.clone(),
                    name_of.get(&d.device_id).cloned().unwrap_or_default(),
                )
            })
            .collect(),
        counts,
        jobs,
    })
}

#[derive(Deserialize)]
pub struct JobForm {
    csrf: Option<String>,
    device: String,
    kind: String,
    space: Option<String>,
    samples: Option<String>,
    backend: Option<String>,
}

/// `POST /ui/jobs`: queue a job (operator).
pub async fn create_job(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<JobForm>,
) -> Page {
    let s = session_or_page!(state, headers);
    if let Err(p) = s.check_action(&headers, form.csrf.as_deref()) {
        return p;
    }
    let samples = match form
        .samples
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        None => None,
        Some(n) => match n.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Page::Error(
                    StatusCode::BAD_REQUEST,
                    format!("samples={n:?}: not a number; fix: e.g. 20"),
                    s.view(),
                )
            }
        },
    };
    let req = crate::jobs::JobRequest {
        device: form.device.clone(),
        kind: form.kind.clone(),
        space: form.space.clone().filter(|x| !x.is_empty()),
        samples: if form.kind == "canary" { None } else { samples },
        archs: None,
        active: None,
        backend: form.backend.clone().filter(|x| !x.is_empty()),
        threads: None,
    };
    let spec = match req.spec() {
        Ok(s) => s,
        Err(e) => return Page::Error(StatusCode::BAD_REQUEST, e.to_string(), s.view()),
    };
    let device = match state.store.find_device(&req.device).await {
        Ok(crate::store::DeviceMatch::One(d)) => d,
        Ok(_) => {
            return Page::Error(
                StatusCode::BAD_REQUEST,
                format!(
                    "board {:?} is not one board; fix: pick one from the list",
                    req.device
                ),
                s.view(),
            )
        }
        Err(e) => return unavailable(&state, e),
    };
    match state
        .store
        .create_job(&crate::auth::random_hex(8), &device, &spec, &s.token_id)
        .await
    {
        Ok(_) => {
            state.jobs_queued.notify_waiters();
            Page::Redirect("/ui/jobs?notice=job".into())
        }
        Err(e) => unavailable(&state, e),
    }
}
