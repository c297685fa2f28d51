//! The switcher behind HTTP (feature `http`: axum and tokio), as `frontier
//! serve` runs it; an application that embeds the switcher without HTTP
//! leaves the feature off.
//!
//! Routes: `POST /v1/infer` (JSON `{"shape", "data", "dtype"?}` or
//! `application/octet-stream`: the canonical input's f32 little-endian
//! bytes), `GET /v1/status`, `GET /metrics` (Prometheus), `GET /healthz`.
//! Each response names the model that served it (`model` and the
//! `x-frontier-model` header). Errors are JSON `{"error": ...}` with 400
//! (bad input), 413 (body too large) or 503 (every model failed); the
//! server keeps serving. SIGHUP reloads the manifest (new models warmed
//! before they serve); SIGTERM and Ctrl-C drain in-flight requests, then
//! [`serve`] returns.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use frontier_profiler::inputs::TensorData;
use serde::Deserialize;

use crate::{InferError, Request, Switcher};

/// A JSON error with its status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({"error": self.1}))).into_response()
    }
}

#[derive(Deserialize)]
struct JsonInput {
    shape: Vec<usize>,
    data: Vec<serde_json::Number>,
    #[serde(default)]
    dtype: Option<String>,
}

struct App {
    switcher: Switcher,
    json_logs: bool,
}

/// One log line on stderr: JSON (`{"ts", "event", ...}`) or `event: fields`.
pub fn log(json: bool, event: &str, fields: serde_json::Value) {
    if json {
        let mut v = serde_json::json!({"ts": frontier_table::now_rfc3339(), "event": event});
        if let (Some(o), serde_json::Value::Object(f)) = (v.as_object_mut(), fields) {
            o.extend(f);
        }
        eprintln!("{v}");
    } else {
        eprintln!("{event}: {fields}");
    }
}

fn parse_request(headers: &HeaderMap, body: &Bytes, shape: &[usize]) -> Result<Request, ApiError> {
    let bad = |m: String| ApiError(StatusCode::BAD_REQUEST, m);
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ctype.starts_with("application/octet-stream") {
        let n: usize = shape.iter().product();
        if body.len() != n * 4 {
            return Err(bad(format!(
                "{} bytes; the input {shape:?} as f32 little-endian is {} bytes",
                body.len(),
                n * 4
            )));
        }
        let data = body
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        return Ok(Request {
            shape: shape.to_vec(),
            data: TensorData::F32(data),
        });
    }
    if !ctype.starts_with("application/json") {
        return Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content-type {ctype}; send application/json or application/octet-stream"),
        ));
    }
    let j: JsonInput = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "not an input ({e}); send {{\"shape\": {shape:?}, \"data\": [...], \"dtype\": \"f32\"}}"
        ))
    })?;
    let data = match j.dtype.as_deref().unwrap_or("f32") {
        "f32" | "float32" => TensorData::F32(
            j.data
                .iter()
                .map(|n| n.as_f64().map(|x| x as f32))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("data: not numbers".into()))?,
        ),
        "i64" | "int64" => TensorData::I64(
            j.data
                .iter()
                .map(|n| n.as_i64())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad("data: i64 inputs take integers".into()))?,
        ),
        other => return Err(bad(format!("dtype {other}; f32 or i64"))),
    };
    Ok(Request {
        shape: j.shape,
        data,
    })
}

async fn infer(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let t0 = std::time::Instant::now();
    let shape = app.switcher.input_shape();
    let req = parse_request(&headers, &body, &shape)?;
    let sw = app.switcher.clone();
    let r = tokio::task::spawn_blocking(move || sw.infer(&req))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match r {
        Ok(resp) => {
            let outputs: Vec<serde_json::Value> = resp
                .outputs
                .iter()
                .map(|o| serde_json::json!({"name": o.name, "shape": o.shape, "data": o.values}))
                .collect();
            let body = serde_json::json!({
                "model": resp.model,
                "threads": resp.threads,
                "latency_ms": resp.latency_ms,
                "outputs": outputs,
            });
            let mut res = Json(body).into_response();
            let server_ms = t0.elapsed().as_secs_f64() * 1e3;
            app.switcher
                .record_transport((server_ms - resp.latency_ms).max(0.0));
            app.switcher
                .record_end_to_end(&resp.model, resp.threads, server_ms);
            if let Ok(v) = HeaderValue::from_str(&format!("{server_ms:.3}")) {
                res.headers_mut().insert("x-frontier-server-ms", v);
            }
            if let Ok(v) = HeaderValue::from_str(&resp.model) {
                res.headers_mut().insert("x-frontier-model", v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", resp.latency_ms)) {
                res.headers_mut().insert("x-frontier-latency-ms", v);
            }
            Ok(res)
        }
        Err(InferError::BadInput(m)) => Err(ApiError(StatusCode::BAD_REQUEST, m)),
        Err(e @ InferError::AllFailed(_)) => {
            Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
        }
    }
}

async fn status(State(app): State<Arc<App>>) -> Json<crate::Status> {
    Json(app.switcher.status())
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.switcher.metrics(),
    )
}

/// The canonical input's body limit: JSON text of its values with room
/// for long numbers, and at least 1 MiB.
fn body_limit(shape: &[usize]) -> usize {
    (shape.iter().product::<usize>() * 32 + (64 << 10)).max(1 << 20)
}

/// Serve `switcher` on `listen` until SIGTERM or Ctrl-C, logging switches
/// and reloading the manifest on SIGHUP; then drain, stop the switcher and
/// log the totals.
pub fn serve(switcher: Switcher, listen: SocketAddr, json_logs: bool) -> std::io::Result<()> {
    let st = switcher.status();
    let shape = switcher.input_shape();
    let app = Arc::new(App {
        switcher: switcher.clone(),
        json_logs,
    });
    let router = Router::new()
        .route("/v1/infer", post(infer))
        .route("/v1/status", get(status))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(DefaultBodyLimit::max(body_limit(&shape)))
        .with_state(app.clone());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        log(
            app.json_logs,
            "listening",
            serde_json::json!({"addr": local.to_string(), "model": st.current_model, "threads": st.current_threads, "models": st.variants.len(), "input": shape}),
        );
        // Switch events to the log, and SIGHUP reloads.
        let watcher = {
            let app = app.clone();
            tokio::spawn(async move {
                let mut seen = 0u64;
                let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
                loop {
                    let reload = match hup.as_mut() {
                        Some(h) => tokio::select! {
                            _ = h.recv() => true,
                            _ = tokio::time::sleep(Duration::from_millis(200)) => false,
                        },
                        None => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            false
                        }
                    };
                    if reload {
                        let sw = app.switcher.clone();
                        match tokio::task::spawn_blocking(move || sw.reload()).await {
                            Ok(Ok(w)) => log(app.json_logs, "reloaded", serde_json::json!({"warnings": w})),
                            Ok(Err(e)) => log(app.json_logs, "reload failed", serde_json::json!({"error": e.to_string(), "note": "the previous models keep serving"})),
                            Err(e) => log(app.json_logs, "reload failed", serde_json::json!({"error": e.to_string()})),
                        }
                    }
                    let st = app.switcher.status();
                    if st.switches > seen {
                        let new = (st.switches - seen).min(st.recent_switches.len() as u64) as usize;
                        for e in &st.recent_switches[st.recent_switches.len() - new..] {
                            log(app.json_logs, "switch", serde_json::to_value(e).unwrap_or_default());
                        }
                        seen = st.switches;
                    }
                }
            })
        };
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let term = async {
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                        Ok(mut s) => {
                            s.recv().await;
                        }
                        Err(_) => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term => {},
                }
            })
            .await?;
        watcher.abort();
        app.switcher.shutdown();
        let st = app.switcher.status();
        log(
            app.json_logs,
            "stopped",
            serde_json::json!({"requests": st.requests, "failed": st.failed, "slo_misses": st.slo_misses, "switches": st.switches}),
        );
        std::io::Result::Ok(())
    })
}
