//! Baseline for the test-retest benchmark: the naive loop the issue measured
//! (5 warm-ups, 30 timed runs, one model after another), with the same tract
//! preparation as `frontier profile`. Prints one JSON line per model:
//! `{"model": ..., "median_ms": ...}`.
//!
//! cargo run --release -p frontier-profiler --example naive_loop -- DIR

use std::time::Instant;

use frontier_profiler::backend::{ready_state, PrepareOptions};
use frontier_profiler::inputs::FillOptions;
use frontier_profiler::tract_backend::TractBackend;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: naive_loop DIR");
    let mut models: Vec<_> = std::fs::read_dir(&dir)
        .expect("readable directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    let b = TractBackend::default();
    for p in models {
        let (_, mut state) = ready_state(
            &b,
            &p,
            &[],
            FillOptions::default(),
            &PrepareOptions::default(),
        )
        .unwrap();
        for _ in 0..5 {
            state.run().unwrap();
        }
        let mut t: Vec<f64> = (0..30)
            .map(|_| {
                let t0 = Instant::now();
                state.run().unwrap();
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        let median = (t[14] + t[15]) / 2.0;
        println!(
            "{{\"model\":\"{}\",\"median_ms\":{median}}}",
            p.file_name().unwrap().to_string_lossy()
        );
    }
}
