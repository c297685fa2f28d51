//! ONNX Runtime's profiler output, read into per-node times.
//!
//! With profiling enabled, ONNX Runtime writes a Chrome trace: a JSON array
//! of complete events (`"ph": "X"`, `ts` and `dur` in microseconds). Each
//! run is one `model_run` event in category `Session`; each kernel executed
//! in it is a `Node` event named `<node name>_kernel_time` with the op type
//! in `args.op_name` (the `_fence_before`/`_fence_after` events around it
//! are synchronisation, not compute, and are ignored). Node events are
//! assigned to the run whose interval contains them; node ids number the
//! distinct node names in order of first execution, as tract's ids number
//! its plan. Times are those of ORT's optimized graph (fused nodes such as
//! `FusedConv`), which is what runs, as with tract.

use crate::backend::NodeTime;

/// Per-run node times from a trace; runs in the order they happened.
pub fn node_times(json: &str) -> Result<Vec<Vec<NodeTime>>, String> {
    let events: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| format!("ONNX Runtime profile is not JSON: {e}"))?;
    let num = |e: &serde_json::Value, k: &str| e.get(k).and_then(|v| v.as_f64());
    let mut runs: Vec<(f64, f64)> = events
        .iter()
        .filter(|e| e["cat"] == "Session" && e["name"] == "model_run")
        .filter_map(|e| Some((num(e, "ts")?, num(e, "dur")?)))
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut ids: Vec<String> = Vec::new();
    let mut out: Vec<Vec<NodeTime>> = vec![Vec::new(); runs.len()];
    for e in events.iter().filter(|e| e["cat"] == "Node") {
        let Some(name) = e["name"]
            .as_str()
            .and_then(|n| n.strip_suffix("_kernel_time"))
        else {
            continue;
        };
        let (Some(ts), Some(dur)) = (num(e, "ts"), num(e, "dur")) else {
            continue;
        };
        let Some(run) = runs
            .iter()
            .position(|(start, d)| ts >= *start && ts <= start + d)
        else {
            continue;
        };
        let node_id = match ids.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                ids.push(name.to_string());
                ids.len() - 1
            }
        };
        out[run].push(NodeTime {
            node_id,
            name: name.to_string(),
            op_type: e["args"]["op_name"].as_str().unwrap_or("?").to_string(),
            seconds: dur * 1e-6,
        });
    }
    if out.iter().all(|r| r.is_empty()) {
        return Err("ONNX Runtime profile has no kernel events".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shape of a real ORT 1.32 trace, trimmed: two runs of a two-node graph.
    const TRACE: &str = r#"[
      {"cat":"Session","pid":1,"tid":1,"dur":900,"ts":10,"ph":"X","name":"session_initialization","args":{}},
      {"cat":"Node","pid":1,"tid":1,"dur":1,"ts":1000,"ph":"X","name":"conv_fence_before","args":{"op_name":"Conv"}},
      {"cat":"Node","pid":1,"tid":1,"dur":300,"ts":1001,"ph":"X","name":"conv_kernel_time","args":{"op_name":"Conv","provider":"CPUExecutionProvider"}},
      {"cat":"Node","pid":1,"tid":1,"dur":100,"ts":1302,"ph":"X","name":"relu_kernel_time","args":{"op_name":"Relu"}},
      {"cat":"Session","pid":1,"tid":1,"dur":450,"ts":995,"ph":"X","name":"model_run","args":{}},
      {"cat":"Node","pid":1,"tid":1,"dur":250,"ts":2001,"ph":"X","name":"conv_kernel_time","args":{"op_name":"Conv"}},
      {"cat":"Node","pid":1,"tid":1,"dur":50,"ts":2252,"ph":"X","name":"relu_kernel_time","args":{"op_name":"Relu"}},
      {"cat":"Session","pid":1,"tid":1,"dur":400,"ts":1990,"ph":"X","name":"model_run","args":{}}
    ]"#;

    #[test]
    fn kernels_grouped_by_run() {
        let runs = node_times(TRACE).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].len(), 2, "fence events are not kernels");
        assert_eq!(runs[0][0].name, "conv");
        assert_eq!(runs[0][0].op_type, "Conv");
        assert!((runs[0][0].seconds - 300e-6).abs() < 1e-12);
        assert_eq!(runs[1][1].node_id, 1);
        assert!((runs[1][1].seconds - 50e-6).abs() < 1e-12);
    }

    #[test]
    fn empty_or_broken_traces() {
        assert!(node_times("[]").is_err());
        assert!(node_times("{").is_err());
    }
}
