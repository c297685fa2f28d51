//! Outside the stop rule: the harness's own overhead, and per-operator
//! profiles.

#[allow(unused_imports)]
use super::*;

/// A state that does nothing: the harness overhead is the time to "run" it.
struct NoopState;

impl ModelState for NoopState {
    #[inline(never)]
    fn run(&mut self) -> Result<(), ProfileError> {
        std::hint::black_box(());
        Ok(())
    }

    fn outputs(&mut self) -> Result<Vec<OutputTensor>, ProfileError> {
        Ok(Vec::new())
    }
}

/// The cost the harness adds to each timed run: two clock reads, a dynamic
/// call and the sample's bookkeeping, measured on an empty state exactly as
/// models are measured. Returns the median per-run cost in nanoseconds.
pub fn calibrate_overhead(clock: &dyn Clock, runs: usize) -> f64 {
    let mut state: Box<dyn ModelState> = Box::new(NoopState);
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t0 = clock.now();
        let _ = std::hint::black_box(state.as_mut()).run();
        let t1 = clock.now();
        samples.push((t1 - t0).as_secs_f64() * 1e9);
    }
    stats::median(&samples).unwrap_or(0.0)
}

/// One operator's time in a per-operator profile.
#[derive(Debug, Clone, PartialEq)]
pub struct OpStat {
    pub node_id: usize,
    pub name: String,
    pub op_type: String,
    pub runs: usize,
    pub median_ms: f64,
    pub mean_ms: f64,
    /// This node's median over the sum of all nodes' medians.
    pub share: f64,
}

/// Profile a state per operator over `runs` runs. `None` when the backend has no
/// per-operator profile. Nodes are returned in descending order of median time.
///
/// Per-node timing adds dispatch overhead, so its sum exceeds the whole-graph
/// latency: use it for shares, and whole-graph rows for latency.
pub fn profile_ops(
    state: &mut dyn ModelState,
    runs: usize,
) -> Option<Result<Vec<OpStat>, ProfileError>> {
    let mut per_node: Vec<(NodeTime, Vec<f64>)> = Vec::new();
    let all = match state.run_per_op(runs.max(1))? {
        Ok(t) => t,
        Err(e) => return Some(Err(e)),
    };
    for times in all {
        for t in times {
            match per_node.iter_mut().find(|(n, _)| n.node_id == t.node_id) {
                Some((_, v)) => v.push(t.seconds * 1e3),
                None => {
                    let s = t.seconds * 1e3;
                    per_node.push((t, vec![s]));
                }
            }
        }
    }
    let medians: Vec<f64> = per_node
        .iter()
        .map(|(_, v)| stats::median(v).unwrap_or(0.0))
        .collect();
    let total: f64 = medians.iter().sum();
    let mut out: Vec<OpStat> = per_node
        .into_iter()
        .zip(medians)
        .map(|((n, v), median_ms)| OpStat {
            node_id: n.node_id,
            name: n.name,
            op_type: n.op_type,
            runs: v.len(),
            mean_ms: v.iter().sum::<f64>() / v.len() as f64,
            median_ms,
            share: if total > 0.0 { median_ms / total } else { 0.0 },
        })
        .collect();
    out.sort_by(|a, b| {
        b.median_ms
            .total_cmp(&a.median_ms)
            .then(a.node_id.cmp(&b.node_id))
    });
    Some(Ok(out))
}
